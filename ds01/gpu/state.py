"""The little state ds01 writes: short-lived claims, early releases and the wait queue, under one lock.

Everything else is read from Docker. The files live in the state dir (ds01.statedir names every path
in it), which belongs to root and only root writes (0755, files
0644, the lock 0600): users reach it only through ds01d, whose workers use root's rights here
and nowhere else (privilege.root_files). So no user can hold the lock, forge a claim or a
queue entry, or plant a file. Even so, every file is treated as data, not authority:
- every open uses O_NOFOLLOW and refuses what is not a regular file (a FIFO cannot hang a reader);
- every write is atomic (a temporary file, fsync, rename, fsync of the directory): a full disk
  leaves the old content, never half a file;
- a malformed file or record is skipped with one warning, never a traceback.
"""

import contextlib
import json
import os
import sys
import syslog
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..atomic import replace_file
from ..errors import Ds01Error, NoCapacity
from ..privilege import root_files
from ..statedir import LockBusy, StateDir, held, open_regular

if TYPE_CHECKING:
    from ..runtime import Runtime

DEFAULT_LOCK_TIMEOUT = 30.0
CLAIMS = "gpu-claims.json"
RELEASED = "gpu-released.json"
QUEUE = "gpu-queue.json"
_warned: set[str] = set()


def warn(message: str) -> None:
    """One warning per problem and process: on stderr (the caller's terminal, or the job's log) and in the
    system log for the admin (journald), since a damaged state file is the host's problem, not the caller's."""
    if message not in _warned:
        _warned.add(message)
        sys.stderr.write(f"ds01: warning: {message}\n")

        syslog.syslog(syslog.LOG_WARNING, f"ds01 state: {message}")


class State:
    def __init__(self, directory: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.directory = directory
        self.dir = StateDir(directory)
        self.lock_timeout = lock_timeout
        self.locked = False

    @classmethod
    def of(cls, rt: "Runtime", lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> "State":
        """The state of a command's state dir (statedir.StateDir.of)."""
        return cls(StateDir.of(rt).root, lock_timeout)

    def path(self, name: str) -> str:
        return self.dir.file(name)

    def _open(self, name: str, flags: int, mode: int = 0o644) -> int:
        """An fd on a regular state file (O_NOFOLLOW, O_NONBLOCK); OSError(ELOOP/EINVAL) for anything else."""
        return open_regular(self.path(name), flags, mode)

    @contextlib.contextmanager
    def lock(self) -> Iterator["State"]:
        """The allocator lock. Fails closed: on timeout the caller gets NoCapacity, never an unlocked run."""
        with root_files():
            self.dir.ensure()
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(held(self.dir.allocator_lock, timeout=self.lock_timeout))
            except LockBusy:
                raise NoCapacity(f"allocator busy: could not take {self.dir.allocator_lock} within "
                                 f"{self.lock_timeout:g}s",
                                 hint="try again; gpu_allocation.lock_timeout_s sets how long to wait") from None
            self.locked = True
            try:
                yield self
            finally:
                self.locked = False

    def read(self, name: str, default: Any) -> Any:
        """A state file's content; missing, not a regular file, or damaged: `default` (with a warning)."""
        try:
            with root_files():
                fd = self._open(name, os.O_RDONLY)
        except FileNotFoundError:
            return default
        except OSError as exc:
            warn(f"ignoring {self.path(name)}: {exc.strerror or exc}")
            return default
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        try:
            value = json.loads(data) if data.strip() else default
        except ValueError:
            warn(f"ignoring {self.path(name)}: not JSON")
            return default
        if not isinstance(value, type(default)):
            warn(f"ignoring {self.path(name)}: not a JSON {type(default).__name__}")
            return default
        return value

    def write(self, name: str, value: Any) -> None:
        """Replace a state file atomically, under the lock."""
        if not self.locked:
            raise RuntimeError("state files are written under the lock")
        self._replace(name, json.dumps(value, indent=1, sort_keys=True).encode(), 0o644)

    def store(self, name: str, value: Any, mode: int = 0o600) -> None:
        """Write a file no one else changes (a cache keyed by content): atomically, without the lock."""
        with root_files():
            self.dir.ensure()
        self._replace(name, json.dumps(value, sort_keys=True).encode(), mode)

    def _replace(self, name: str, data: bytes, mode: int) -> None:
        with root_files():
            try:
                replace_file(self.path(name), data, mode)
            except OSError as exc:
                raise Ds01Error(f"cannot write {self.path(name)}: {exc.strerror or exc}; nothing was changed",
                                hint="is the disk full? the old content is kept") from None

    # -- claims: {claim id: record}

    def claims(self, now: float | None = None) -> dict[str, Any]:
        """Live claims (expired ones are dropped from the file on the next write)."""
        now = now or time.time()
        return {cid: c for cid, c in self.read(CLAIMS, {}).items() if _good_claim(self.path(CLAIMS), cid, c)
                and c["expires_at"] > now}

    def save_claims(self, claims: dict[str, Any]) -> None:
        self.write(CLAIMS, claims)


def _good_claim(path: str, cid: Any, claim: Any) -> bool:
    good = (isinstance(claim, dict) and isinstance(claim.get("user"), str)
            and isinstance(claim.get("expires_at"), (int, float))
            and isinstance(claim.get("slots"), list) and all(isinstance(s, str) for s in claim["slots"]))
    if not good:
        warn(f"{path}: skipping the malformed claim {str(cid)[:40]!r}")
    return good
