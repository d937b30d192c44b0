"""ds01-exporter's server: prometheus_client's WSGI app over ds01.metrics' collector, behind HTTP basic auth,
until SIGTERM.

The metrics name every user's GPUs, memory, CPU and containers, which only admins may read
(`ds01-report`, `container-stats --all-users`); a loopback port is open to every local account. So
each request must carry the password of a root-owned file that only root and the `prometheus` group
can read (Prometheus's `basic_auth: password_file`). Without a usable file the exporter does not
start: it fails closed rather than serve anyone.
"""

import base64
import binascii
import hmac
import os
import signal
import socket
import stat
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .errors import Ds01Error, NotFound, UsageError
from .metrics import Collector
from .runtime import Runtime
from .sd_notify import notify_ready
from .settings import Settings

if TYPE_CHECKING:
    from .live_view import Followed

AUTH_FILE = "/etc/ds01/exporter.auth"
USERNAME = "ds01"  # the scrape job's basic_auth username (etc/prometheus/ds01-scrape.yml)
MIN_SECRET = 16
MAKE_FILE = ("make install makes it; or: (umask 077; head -c 32 /dev/urandom | base64 > {path}) && "
             "chgrp prometheus {path} && chmod 0640 {path} && systemctl restart ds01-exporter")


def parse_listen(text: str) -> tuple[str, int]:
    """("127.0.0.1", 9101) from "127.0.0.1:9101", "[::1]:9101" or ":9101" (all addresses)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT", hint="for example 127.0.0.1:9101")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":9101" asks for every address


def read_secret(path: str) -> bytes:
    """The scrape password from `path`: a regular file of root's that no one else may write and only root's
    group may read, with at least MIN_SECRET characters (surrounding whitespace dropped, as Prometheus
    drops it from a password_file). Anything else is refused: a readable or replaceable password
    protects nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"no credentials file {path}: the exporter serves no one without it",
                       hint=MAKE_FILE.format(path=path)) from None
    except PermissionError:
        raise Ds01Error(f"cannot read the credentials file {path}: permission denied",
                        hint="it is for root and Prometheus only: run this as root (sudo)") from None
    except OSError as exc:
        raise Ds01Error(f"cannot read the credentials file {path}: {exc.strerror}",
                        hint="a regular file of root's, not a link: " + MAKE_FILE.format(path=path)) from None
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode) or found.st_uid != 0 or found.st_mode & 0o026:
            raise Ds01Error(f"the credentials file {path} is not root's alone (mode "
                            f"{stat.filemode(found.st_mode)}, owner uid {found.st_uid}): every local user "
                            "could read or replace the password",
                            hint=f"chown root:prometheus {path}; chmod 0640 {path}")
        secret = handle.read(4096).strip()
    if len(secret) < MIN_SECRET:
        raise Ds01Error(f"the credentials file {path} holds no usable password (at least {MIN_SECRET} "
                        "characters)", hint=MAKE_FILE.format(path=path))
    return secret


def authorization(secret: bytes, username: str = USERNAME) -> str:
    """The Authorization header value a scraper sends (ds01-doctor, tests)."""
    return "Basic " + base64.b64encode(username.encode() + b":" + secret).decode("ascii")


def require_password(app: Callable[..., Iterable[bytes]], secret: bytes,
                     username: str = USERNAME) -> Callable[..., Iterable[bytes]]:
    """`app` for requests with basic auth `username`:`secret`, compared in constant time; a 401 that says
    nothing else for every other request, whatever its path or method."""
    expected = username.encode() + b":" + secret

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scheme, _, encoded = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            given = b""
        if scheme.lower() == "basic" and hmac.compare_digest(given, expected):
            return app(environ, start_response)
        start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="ds01-exporter"'),
                                            ("Content-Type", "text/plain; charset=utf-8")])
        return [b"ds01-exporter: credentials required (docs/monitoring.md)\n"]

    return guarded


def registry(config: str | None, ttl: float, followed: "Followed | None" = None) -> Any:
    from prometheus_client import CollectorRegistry  # lazy: prometheus_client, 22 ms

    found = CollectorRegistry(auto_describe=False)
    found.register(Collector(lambda: Runtime(config), ttl, followed))
    return found


def follow(config: str | None) -> "Followed | None":
    """The exporter's live view of the engine the settings name (off with DS01_LIVE_VIEW=off, as in ds01d)."""
    from . import live_view  # lazy: ds01.live_view, 1 ms

    settings = Runtime(config).settings
    if settings.get("live_view") == "off":
        return None
    def log(message: str) -> None:
        sys.stderr.write(f"ds01-exporter: {message}\n")

    return live_view.follow(settings.get("docker_host"), log)


def start(address: tuple[str, int], app: Callable[..., Iterable[bytes]]) -> tuple[Any, threading.Thread]:
    """prometheus_client's threading WSGI server on `address`, serving `app` in a daemon thread (as its
    start_http_server does, which takes no app of ours)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server  # lazy: wsgiref, 14 ms

    from prometheus_client.exposition import ThreadingWSGIServer  # lazy: prometheus_client, 22 ms

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            """No line per scrape in the journal."""

    family = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = type("Server", (ThreadingWSGIServer,), {"address_family": family})
    server: Any = make_server(address[0], address[1], app, server_class, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def serve(address: tuple[str, int], config: str | None, ttl: float, auth_file: str = AUTH_FILE) -> None:
    from prometheus_client import make_wsgi_app  # lazy: prometheus_client, 22 ms

    secret = read_secret(auth_file)  # before the port opens: no file, no server
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    followed = follow(config)
    server, thread = start(address, require_password(make_wsgi_app(registry(config, ttl, followed)), secret))
    sys.stderr.write(f"ds01-exporter: serving http://{address[0]}:{address[1]}/metrics "
                     f"(basic auth, user {USERNAME}, password from {auth_file})\n")
    sys.stderr.flush()
    notify_ready(Settings().get("notify_socket"), lambda message: sys.stderr.write(f"ds01-exporter: {message}\n"))
    stop.wait()
    server.shutdown()
    thread.join(5)
    if followed is not None:
        followed.stop()
