"""Starting a real service for a test the way systemd does (Type=notify): no polling for a port or a file."""

import os
import socket
import subprocess


def start_notified(argv, env, directory, log_path, timeout=60.0, new_session=False):
    """Start `argv` with NOTIFY_SOCKET set and wait for its READY=1; (process, ready). Its output goes to
    `log_path`. A process that is not ready is the caller's to stop and report."""
    notify_path = os.path.join(directory, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        notify.settimeout(timeout)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(argv, env={**env, "NOTIFY_SOCKET": notify_path}, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=log, start_new_session=new_session)
        try:
            message = notify.recv(4096)
        except TimeoutError:
            message = b""
    os.unlink(notify_path)
    return process, b"READY=1" in message
