"""Starting a real service for a test the way systemd does (Type=notify): no polling for a port or a file.

And marking what a test run starts as that run's own: a daemon's temp dir holds a lock file its run's
pytest process holds (flock) for its life, so a reaper stops only what a dead run left, never a live
run's daemons (two suites on one machine).
"""

import os
import select
import socket
import subprocess
import tempfile

from ds01.broker import hold_lock

OWNER_LOCK = "owner.lock"


def start_notified(argv, env, directory, log_path, timeout=60.0, new_session=False):
    """Start `argv` with NOTIFY_SOCKET set and wait for its READY=1 (or its exit); (process, ready). Its
    output goes to `log_path`. A process that is not ready is the caller's to stop and report."""
    notify_path = os.path.join(directory, "notify")
    ready = False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(argv, env={**env, "NOTIFY_SOCKET": notify_path}, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=log, start_new_session=new_session)
        exited = os.pidfd_open(process.pid)  # readable once the process ends: one that refuses is not waited for
        try:
            while not ready:
                readable = select.select([notify, exited], [], [], timeout)[0]
                if notify in readable:
                    ready = b"READY=1" in notify.recv(4096)
                elif readable:  # exited and said nothing more
                    break
                else:
                    break  # timed out
        finally:
            os.close(exited)
    os.unlink(notify_path)
    return process, ready


def owned_dir(prefix, parent=None):
    """A new temp dir `parent/prefix…` and the fd of the lock that marks it as this process's own.

    The lock is taken in a staging dir (`.prefix…`, which no reaper looks at) and the dir gets its
    final name only then, so no reaper ever sees it unmarked. Keep the fd open while the daemon in
    it lives (closing it, or this process dying, hands the dir to the next run's reaper)."""
    parent = parent or tempfile.gettempdir()
    staging = tempfile.mkdtemp(prefix="." + prefix, dir=parent)
    lock = hold_lock(os.path.join(staging, OWNER_LOCK))
    assert lock is not None  # a dir just made: no one else can hold its lock
    final = os.path.join(parent, os.path.basename(staging)[1:])
    os.rename(staging, final)
    return final, lock


def claim_abandoned(root):
    """The lock of `root` (an owned_dir) when its run is dead, else None: a live run holds it, or it is not
    ours to take (another account's). The caller reaps the dir while holding it, then closes it."""
    try:
        return hold_lock(os.path.join(root, OWNER_LOCK))
    except OSError:
        return None
