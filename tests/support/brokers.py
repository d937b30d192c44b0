"""Private ds01d brokers for the tests: one per distinct set of settings, reused for the session.

The test users cannot reach the private dockerd (its socket is root's, 0660 root:root); they
reach it only through one of these, as users of a real host reach Docker only through the
system's ds01d. Each broker runs as root with its settings in its own environment, exactly as
systemd starts ds01d, and says READY=1 on a notify socket when it listens (no polling).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.support.services import start_notified

BIN = Path(sys.executable).parent
PREFIX = "ds01-broker-"
READY_TIMEOUT = 60.0


class Broker:
    def __init__(self, settings):
        self.settings = dict(settings)
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        os.chmod(self.root, 0o755)
        self.socket = str(self.root / "run" / "ds01.sock")
        self.log_path = self.root / "ds01d.log"
        self.process = None

    def start(self):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "HOME": "/root", **self.settings}
        self.process, ready = start_notified([str(BIN / "ds01d"), "--socket", self.socket], env, str(self.root),
                                             self.log_path, READY_TIMEOUT, new_session=True)
        if not ready:
            self.stop()
            raise RuntimeError(f"ds01d did not become ready:\n{self.log_tail()}")
        return self

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


_running = {}  # settings -> Broker, least recently used first
_lock = threading.Lock()  # tests run commands from threads (forty racing users): one broker per settings
KEPT = 4  # most tests use one or two sets of settings; older brokers are stopped


def for_settings(settings):
    """The broker serving these settings (started on first use; the least recently used beyond KEPT stop)."""
    key = tuple(sorted(settings.items()))
    with _lock:
        broker = _running.pop(key, None)
        if broker is not None and not broker.alive():
            raise AssertionError(f"a test ds01d died:\n{broker.log_tail()}")
        if broker is None:
            broker = Broker(settings).start()
        _running[key] = broker
        while len(_running) > KEPT:
            _running.pop(next(iter(_running))).stop()
        return broker


def stop_all():
    with _lock:
        while _running:
            _, broker = _running.popitem()
            broker.stop()


def reap_stale():
    """ds01d processes an interrupted earlier run left (their sockets live under /tmp/ds01-broker-*)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"/ds01d") for a in argv[:3]) and any(PREFIX.encode() in a for a in argv):  # python3 -IS
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    for stale in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
