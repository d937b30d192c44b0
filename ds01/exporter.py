"""ds01-exporter's server: prometheus_client's HTTP server over ds01.metrics' collector, until SIGTERM."""

import signal
import sys
import threading
from typing import Any

from .errors import UsageError


def parse_listen(text: str) -> tuple[str, int]:
    """("127.0.0.1", 9101) from "127.0.0.1:9101", "[::1]:9101" or ":9101" (all addresses)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT", hint="for example 127.0.0.1:9101")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":9101" asks for every address


def registry(config: str | None, ttl: float) -> Any:
    from prometheus_client import CollectorRegistry

    from .metrics import Collector
    from .runtime import Runtime

    found = CollectorRegistry(auto_describe=False)
    found.register(Collector(lambda: Runtime(config), ttl))
    return found


def serve(address: tuple[str, int], config: str | None, ttl: float) -> None:
    from prometheus_client import start_http_server

    from .broker import notify_ready
    from .settings import Settings

    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    server, thread = start_http_server(address[1], addr=address[0], registry=registry(config, ttl))
    sys.stderr.write(f"ds01-exporter: serving http://{address[0]}:{address[1]}/metrics\n")
    sys.stderr.flush()
    notify_ready(Settings().get("notify_socket"))
    stop.wait()
    server.shutdown()
    thread.join(5)
