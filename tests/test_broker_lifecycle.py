"""One ds01d per socket, and each test run's daemons its own, written as what goes wrong without them.

A second ds01d started by mistake must not take the socket over (stopping either one then left students
with "ds01d is not running" while one ran), a ds01d never removes a socket it did not bind, and a ds01d
killed outright leaves nothing that stops the next. Two suites on one machine each reap only what a dead
run left: the other's engine and brokers are live and stay.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import brokers, sandbox
from tests.support.harness import REPO

IMAGE = sandbox.BASE_IMAGE


def _identity(path):
    info = os.lstat(path)
    return info.st_dev, info.st_ino


def _served(sh, user, socket_path):
    return sh.run(user, "container-list", user_env={"DS01_SOCKET": socket_path})


@pytest.fixture
def first(sh):
    broker = brokers.Broker(sh.settings()).start()
    yield broker
    broker.stop()


def test_a_second_ds01d_on_the_same_socket_refuses_and_the_first_goes_on_serving(sh, users, first):
    bound = _identity(first.socket)
    second = brokers.Broker(sh.settings(), socket=first.socket)
    try:
        assert not second.launch()
        assert second.process.wait(timeout=60) == 1
        said = second.log_path.read_text()
    finally:
        second.stop()
    assert f"ds01d: error: another ds01d (pid {first.process.pid}) serves {first.socket}\n" in said
    assert "  hint: systemctl status ds01d" in said
    assert _identity(first.socket) == bound  # the first's socket, untouched
    served = _served(sh, users["alice"], first.socket)
    assert served.returncode == 0, served.stderr
    first.terminate()  # the refused one stopping removed nothing; the first stops and removes its own
    assert not os.path.exists(first.socket)


def test_stopping_ds01d_leaves_a_socket_it_did_not_bind(sh, users, first):
    """Another server (an older ds01d, an admin's replacement) answers on the path now: it keeps serving."""
    other = brokers.Broker(sh.settings()).start()
    try:
        os.rename(other.socket, first.socket)
        replaced = _identity(first.socket)
        first.terminate()
        assert os.path.exists(first.socket) and _identity(first.socket) == replaced
        served = _served(sh, users["alice"], first.socket)
        assert served.returncode == 0, served.stderr
    finally:
        other.stop()


def test_a_killed_ds01d_leaves_nothing_that_stops_the_next(sh, users, first):
    """Killed outright (SIGKILL, OOM) while a worker of it still serves alice: the next ds01d starts at once."""
    alice = users["alice"]
    assert sh.run(alice, "container-create", "held", IMAGE, "--cpu-only").returncode == 0
    waiting = sh.spawn(alice, "container-start", extra_env={"DS01_SOCKET": first.socket})
    try:
        waiting.expect(r"1\) held")  # its worker is asking alice which container: it outlives ds01d
        first.process.kill()
        first.process.wait()
        assert os.path.exists(first.socket)  # a dead ds01d's socket: the next one replaces it
        following = brokers.Broker(sh.settings(), socket=first.socket)
        try:
            assert following.launch(), following.log_tail()
            served = _served(sh, alice, first.socket)
            assert served.returncode == 0, served.stderr
        finally:
            following.stop()
    finally:
        waiting.close(force=True)


def test_a_student_cannot_hold_the_lock_that_keeps_a_second_ds01d_out(sh, users, first):
    """alice holding ds01d's lock (even a shared one) would keep any ds01d from starting after a restart."""
    lock = first.socket + ".lock"
    held = sh.run(users["alice"], "python3", "-c",
                  "import fcntl, sys; fcntl.flock(open(sys.argv[1]), fcntl.LOCK_SH)", lock)
    assert held.returncode != 0 and "PermissionError" in held.stderr, held.stderr


# The reapers: pure process and file logic in a private parent dir, no root, no engine.

HOLDER = """
import sys
from tests.support.services import owned_dir
root, _ = owned_dir(sys.argv[1], sys.argv[2])
print(root, flush=True)
sys.stdin.read()
"""

STAND_IN = "import sys\nprint('up', flush=True)\nsys.stdin.read()\n"  # a daemon that runs until it is stopped


def _live_run(prefix, parent):
    """Another suite's pytest process beside this one, owning one daemon dir for as long as it lives."""
    run = subprocess.Popen([sys.executable, "-c", HOLDER, prefix, str(parent)], cwd=REPO, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    return run, run.stdout.readline().strip()


def _daemon(parent, name, *args):
    """A stand-in daemon whose command line is `python3 PARENT/NAME ARGS…`, in a session of its own; returned
    once it runs (the kernel shows an exec's new command line only a moment after the exec returned)."""
    script = Path(parent) / name
    script.write_text(STAND_IN)
    daemon = subprocess.Popen([sys.executable, str(script), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              start_new_session=True)
    assert daemon.stdout.readline() == b"up\n"
    return daemon


def _kill(process):
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_live_runs_broker_is_left_alone_and_a_dead_runs_is_reaped(tmp_path):
    run, root = _live_run(brokers.PREFIX, tmp_path)
    daemon = _daemon(tmp_path, "ds01d", "--socket", f"{root}/run/ds01.sock")
    try:
        brokers.reap_stale(tmp_path)
        assert daemon.poll() is None and os.path.isdir(root)  # the other suite's ds01d serves on
        _kill(run)  # that suite was killed: its ds01d is now stale
        brokers.reap_stale(tmp_path)
        assert daemon.wait(timeout=60) == -signal.SIGKILL and not os.path.exists(root)
    finally:
        _kill(run)
        _kill(daemon)


def test_a_live_runs_dockerd_is_left_alone_and_a_dead_runs_is_reaped(tmp_path):
    run, root = _live_run(sandbox.STALE_PREFIX, tmp_path)
    daemon = _daemon(tmp_path, "dockerd", "--data-root", f"{root}/data")
    Path(root, "dockerd.pid").write_text(f"{daemon.pid}\n")
    try:
        sandbox.reap_stale(tmp_path)
        assert daemon.poll() is None and os.path.isdir(root)  # the other suite's engine runs on
        _kill(run)
        sandbox.reap_stale(tmp_path)
        assert daemon.wait(timeout=60) == -signal.SIGTERM and not os.path.exists(root)
    finally:
        _kill(run)
        _kill(daemon)


def test_a_dir_left_before_runs_marked_theirs_is_reaped(tmp_path):
    """A leftover with no owner lock at all (an older suite's) is no live run's."""
    root = tmp_path / (brokers.PREFIX + "old")
    (root / "run").mkdir(parents=True)
    daemon = _daemon(tmp_path, "ds01d", "--socket", f"{root}/run/ds01.sock")
    try:
        brokers.reap_stale(tmp_path)
        assert daemon.wait(timeout=60) == -signal.SIGKILL and not root.exists()
    finally:
        _kill(daemon)
