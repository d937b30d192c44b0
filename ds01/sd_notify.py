"""sd_notify(READY=1): how a daemon of ds01's (ds01d, ds01-exporter) tells systemd (Type=notify), or a test,
that it is listening."""

from __future__ import annotations

import socket
from collections.abc import Callable


def notify_ready(address: str | None, warn: Callable[[str], object]) -> None:
    """Send READY=1 to `address` (NOTIFY_SOCKET; `@` for the abstract namespace); a failure is only a warning:
    the daemon serves either way."""
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as notify:
        try:
            notify.sendto(b"READY=1\nSTATUS=serving\n", address)
        except OSError as exc:
            warn(f"warning: cannot tell {address} that it is ready: {exc.strerror}")
