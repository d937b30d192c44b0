"""Private ds01d brokers for the tests: one per distinct set of settings, reused for the session.

The test users cannot reach the private dockerd (its socket is root's, 0660 root:root); they
reach it only through one of these, as users of a real host reach Docker only through the
system's ds01d. Each broker runs as root with its settings in its own environment, exactly as
systemd starts ds01d, and says READY=1 on a notify socket when it listens (no polling). Each lives
in a temp dir this run marks as its own (services.owned_dir), so another run's reaper leaves it alone.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.support.services import claim_abandoned, owned_dir, start_notified

BIN = Path(sys.executable).parent
PREFIX = "ds01-broker-"
READY_TIMEOUT = 60.0


class Broker:
    def __init__(self, settings, socket=None):
        """`socket`: where it listens (default: in its own temp dir)."""
        self.settings = dict(settings)
        root, self.owner_lock = owned_dir(PREFIX)
        self.root = Path(root)
        os.chmod(self.root, 0o755)
        self.socket = socket or str(self.root / "run" / "ds01.sock")
        self.log_path = self.root / "ds01d.log"
        self.process = None

    def launch(self):
        """Start ds01d; whether it said READY=1 (a ds01d that refuses to start exits without it)."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "HOME": "/root", **self.settings}
        self.process, ready = start_notified([str(BIN / "ds01d"), "--socket", self.socket], env, str(self.root),
                                             self.log_path, READY_TIMEOUT, new_session=True)
        return ready

    def start(self):
        if not self.launch():
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

    def terminate(self):
        """Stop ds01d as systemd does (SIGTERM; SIGKILL to its group after 30 s); its dir stays."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def stop(self):
        self.terminate()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.owner_lock is not None:
            os.close(self.owner_lock)  # after the dir is gone: no reaper sees it unmarked
            self.owner_lock = None


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


def reap_stale(parent=None):
    """The ds01d processes and dirs (`parent`/ds01-broker-*, default the temp dir) that a dead run left: those
    whose owner lock no live run holds. A live run's, this one's or another suite's beside it, are left alone."""
    parent = str(parent or tempfile.gettempdir())
    claimed = {}
    try:
        for root in Path(parent).glob(PREFIX + "*"):
            lock = claim_abandoned(root)
            if lock is not None:
                claimed[str(root)] = lock
        marker = os.path.join(parent, PREFIX).encode()
        for pid, argv in _ds01d_processes():
            paths = [a.decode(errors="replace") for a in argv if a.startswith(marker)]
            roots = {os.path.join(parent, p[len(parent) + 1:].split("/", 1)[0]) for p in paths}
            if roots and all(r in claimed or not os.path.exists(r) for r in roots):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for root in claimed:
            shutil.rmtree(root, ignore_errors=True)
    finally:
        for lock in claimed.values():
            os.close(lock)


def _ds01d_processes():
    """(pid, argv) of every ds01d on the host (`python3 -IS …/ds01d …`)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"/ds01d") for a in argv[:3]):
            yield int(pid), argv


def children(pid):
    """The pids whose parent is `pid` (a ds01d's workers), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def worker_exits(broker, before):
    """Block until every worker ds01d forked since `before` (a set of pids) has exited (pidfd, no polling)."""
    import select

    for pid in set(children(broker.process.pid)) - before:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            assert select.select([fd], [], [], 120)[0], f"worker {pid} still running"
        finally:
            os.close(fd)
