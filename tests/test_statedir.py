"""The state dir has one owner (ds01/statedir.py) and one lock helper (statedir.held): no other module builds a
path inside it, and the lock refuses what is not a regular file, waits a bounded time, and is shared or
exclusive as asked, between real processes."""

import multiprocessing
import os
import pwd
import re
import stat
from pathlib import Path

import pytest

from ds01.errors import Ds01Error
from ds01.statedir import LockBusy, StateDir, held

ROOT = Path(__file__).resolve().parents[1]
OWNER = ROOT / "ds01" / "statedir.py"
# Where the setting's name may appear: where it is declared (settings, the policy's schema) and the doctor,
# which checks the directory itself (owner, mode), not a path inside it.
DECLARES_THE_SETTING = {"ds01/settings.py", "ds01/policy.py", "ds01/doctor.py"}
# The broker's own single-instance lock (beside its socket, not in the state dir).
OTHER_LOCKS = {"ds01/broker.py"}
STATE_NAMES = r"""["'](jobs|mounts|cluster|gpu\.lock|\.lock)["']"""


def _modules():
    for path in sorted((ROOT / "ds01").rglob("*.py")):
        if path != OWNER:
            yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def test_no_module_but_the_owner_builds_a_path_inside_the_state_dir():
    found = []
    for name, text in _modules():
        for number, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"""["']state_dir["']|DS01_STATE_DIR""", code) and name not in DECLARES_THE_SETTING:
                found.append(f"{name}:{number}: reads the state dir's setting: {line.strip()}")
            if ("os.path.join(" in code and re.search(STATE_NAMES, code)) or "image-etc-" in code:
                found.append(f"{name}:{number}: names a path of the state dir: {line.strip()}")
    assert found == [], "ask ds01.statedir.StateDir for it:\n" + "\n".join(found)


def test_there_is_one_lock_helper():
    found = [f"{name}:{number}: {line.strip()}" for name, text in _modules() if name not in OTHER_LOCKS
             for number, line in enumerate(text.splitlines(), 1)
             if re.search(r"fcntl\.(flock|lockf)|portalocker\.|LOCK_EX|LOCK_SH", line.split("#", 1)[0])]
    assert found == [], "lock with ds01.statedir.held:\n" + "\n".join(found)


def test_the_grep_sees_a_module_that_joins_onto_the_state_dir():
    line = 'path = os.path.join(rt.settings.get("state_dir"), "jobs", "x.json")'
    assert re.search(r"""["']state_dir["']""", line) and re.search(STATE_NAMES, line)


def test_every_path_is_inside_the_state_dir(tmp_path):
    state = StateDir(str(tmp_path))
    paths = [state.allocator_lock, state.file("gpu-claims.json"), state.jobs, state.job_lock("ds01-idle-check"),
             state.job_memory("ds01-idle-check"), state.mounts, state.pins("box._.1000"), state.cluster_records(),
             state.cluster_records(1000)]
    assert all(os.path.commonpath([p, str(tmp_path)]) == str(tmp_path) for p in paths)
    for bad in ("../x", "a/b", "", ".", ".."):
        with pytest.raises(ValueError):
            state.file(bad)


# ---------------------------------------------------------------- the lock helper

def test_a_symlink_a_fifo_or_a_directory_is_never_locked(tmp_path):
    target = tmp_path / "roots-file"
    target.write_text("root's\n")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "directory").mkdir()
    for name in ("link", "fifo", "directory"):
        for access in (os.O_RDWR, os.O_WRONLY | os.O_APPEND, os.O_RDONLY):
            with pytest.raises(Ds01Error, match="cannot open") as refused, held(str(tmp_path / name), access=access):
                pass
            assert "must be a regular file" in refused.value.hint
    assert target.read_text() == "root's\n"


def test_a_new_lock_file_is_private_and_an_old_open_one_is_made_so(tmp_path):
    path = tmp_path / "job.lock"
    with held(str(path)):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)  # as a job's lock once was: anyone could open it, and so hold it
    with held(str(path)):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _hold(path, shared, ready, release):
    with held(path, shared=shared, timeout=5):
        ready.send("held")
        release.recv()


class Holder:
    """Another process holding `path` (shared or exclusive) until the block ends."""

    def __init__(self, path, shared):
        context = multiprocessing.get_context("fork")
        self.ready, child_ready = context.Pipe()
        child_release, self.release = context.Pipe()
        self.process = context.Process(target=_hold, args=(path, shared, child_ready, child_release))

    def __enter__(self):
        self.process.start()
        assert self.ready.poll(10) and self.ready.recv() == "held"
        return self

    def __exit__(self, *exc):
        self.release.send("go")
        self.process.join(10)
        assert self.process.exitcode == 0


def test_an_exclusive_holder_keeps_everyone_out_for_a_bounded_wait(tmp_path):
    path = str(tmp_path / "gpu.lock")
    with Holder(path, shared=False):
        for shared in (False, True):
            with pytest.raises(LockBusy, match="busy") as refused, held(path, shared=shared, timeout=0.2):
                pass
            assert isinstance(refused.value, Ds01Error) and refused.value.hint
    with held(path, timeout=0):  # free again once the holder lets go
        pass


def test_shared_holders_share_and_keep_an_exclusive_one_out(tmp_path):
    path = str(tmp_path / "pins.lock")
    with Holder(path, shared=True):
        with held(path, shared=True, timeout=0) as handle:
            assert handle.fileno() >= 0
        with pytest.raises(LockBusy), held(path, timeout=0):
            pass


def test_a_wait_ends_when_the_holder_lets_go(tmp_path):
    path = str(tmp_path / "gpu.lock")
    holder = Holder(path, shared=False).__enter__()
    holder.release.send("go")  # from here the wait below ends when the holder's block does
    with held(path, timeout=30):
        pass
    holder.process.join(10)
    assert holder.process.exitcode == 0


def test_the_lock_is_let_go_when_the_block_fails(tmp_path):
    path = str(tmp_path / "gpu.lock")
    with pytest.raises(RuntimeError), held(path):
        raise RuntimeError("the block failed")
    with Holder(path, shared=False):  # another process takes it at once
        pass


def test_an_append_handle_writes_at_the_end(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"first\n")
    with held(str(path), access=os.O_WRONLY | os.O_APPEND, mode=0o640) as handle:
        assert handle.write(b"second\n") == 7
    assert path.read_bytes() == b"first\nsecond\n"


# ---------------------------------------------------------------- the attack, through the real commands

def test_a_user_cannot_hold_a_lifecycle_jobs_lock(sh, users, state_dir):
    """A job's lock a user may open, they may lock: every run of that job would say another one is active."""
    root = pwd.getpwnam("root")
    lock = state_dir / "jobs" / "ds01-release-stale.lock"
    for before in (None, 0o644):  # a new lock file, and one an earlier ds01 left readable by everyone
        if before is not None:
            os.chmod(lock, before)
        ran = sh.run(root, "ds01-release-stale", "--json")
        assert ran.returncode == 0 and "another run is active" not in ran.stderr, ran.stderr
        for attack in (["flock", "-n", str(lock), "true"], ["flock", "-s", "-n", str(lock), "true"]):
            tried = sh.run(users["alice"], *attack)
            assert tried.returncode != 0 and "denied" in tried.stderr, attack
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
