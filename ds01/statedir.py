"""The state dir's one owner: every path ds01 keeps in it, their modes, and the one lock helper.

The state dir ($DS01_STATE_DIR, else the policy's `paths.state_dir`, else /var/lib/ds01) belongs to
root and only root writes it; ds01d's workers reach it with root's file rights (privilege.root_files).
No other module joins a path onto it: each asks this one (tests/test_statedir.py greps for that).

    <state dir>/                      0755  made on first use (`ensure`); refused if others may write it
      gpu.lock                        0600  the allocator's lock (claims, releases, queue, protections)
      gpu-claims.json, gpu-released.json, gpu-queue.json, protected.json
                                      0644  written under gpu.lock (gpu/state.py, protection.py)
      image-etc-<digest>.json         0600  an image's accounts, a cache keyed by content
      image-etc-<digest>.groups.json  0600  only its group files (images that have the account already)
      jobs/                           0755  the lifecycle jobs
        <job>.lock                    0600  one run at a time
        <job>.json                    0644  the job's memory (idle streaks, warnings sent)
      mounts/                         0700  bind points (mount_pins.py)
        <container>/                  0700
          .lock                       0600  one start at a time, and no look while one runs
          workspace, data, models     0700  empty between starts
      cluster/<uid>/<name>.json       0700 / 0600  the head's records of cluster containers

`held` is the lock every writer takes, here and in the event log: it opens the file itself (O_NOFOLLOW,
O_NONBLOCK, a regular file only, as root's file), locks the open handle with portalocker, and waits a
bounded time, so neither a planted FIFO or symlink nor a lock someone holds forever hangs a command.
"""

import contextlib
import errno
import json
import os
import stat
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import portalocker

from .errors import Ds01Error
from .privilege import root_files

if TYPE_CHECKING:
    from .runtime import Runtime

ALLOCATOR_LOCK = "gpu.lock"
JOBS, MOUNTS, CLUSTER = "jobs", "mounts", "cluster"
PINS_LOCK = ".lock"
ACCOUNT_CACHE = ("image-etc-", ".json")
_POLL_S = 0.02


class LockBusy(Ds01Error):
    """Someone else held the lock for the whole wait."""


def directory_problem(info: os.stat_result) -> str | None:
    """Why a state dir cannot be trusted: anyone but its owner (root, or this account) may write it."""
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    # this process's own rights: a dir it owns (root, or the account running it) is one it trusts
    if info.st_uid not in (0, os.geteuid()):
        return f"belongs to uid {info.st_uid}"
    if info.st_mode & 0o022:
        return f"is writable by others (mode {info.st_mode & 0o7777:04o})"
    return None


def account_cache_name(digest: str, kind: str = "") -> str:
    """The state file that caches the accounts of the image with `digest` (sha256, hex); `kind` "groups": only its
    group files (a create from an image that has the caller's account already reads no more)."""
    prefix, suffix = ACCOUNT_CACHE
    return f"{prefix}{digest}{'.' + kind if kind else ''}{suffix}"


class StateDir:
    """The paths inside one state dir."""

    def __init__(self, root: str) -> None:
        self.root = root

    @classmethod
    def of(cls, rt: "Runtime") -> "StateDir":
        """The state dir of a command's settings."""
        return cls(rt.settings.get("state_dir"))

    def file(self, name: str) -> str:
        """A file directly in the state dir (a plain name, never a path)."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a state file name: {name!r}")
        return os.path.join(self.root, name)

    def ensure(self) -> None:
        """Create the state dir (0755) when missing; refuse one that others may write. Call with root's files."""
        try:
            info = os.lstat(self.root)
        except FileNotFoundError:
            try:
                os.makedirs(self.root, mode=0o755, exist_ok=True)
                info = os.lstat(self.root)
            except OSError as exc:
                raise Ds01Error(f"the state dir {self.root} is missing and cannot be created: {exc.strerror}",
                                hint=f"an admin creates it once: install -d -m 0755 -o root {self.root}"
                                ) from None
        problem = directory_problem(info)
        if problem:
            raise Ds01Error(f"refusing the state dir {self.root}: it {problem}",
                            hint=f"only root may write it: chown root:root {self.root} && chmod 0755 {self.root}")

    # -- the allocator

    @property
    def allocator_lock(self) -> str:
        return self.file(ALLOCATOR_LOCK)

    def account_caches(self) -> list[tuple[str, str]]:
        """(image digest, path) of every cached image account file (for ds01-release-stale), as root's files."""
        with root_files():
            try:
                names = sorted(os.listdir(self.root))
            except OSError:
                return []
        prefix, suffix = ACCOUNT_CACHE
        return [(n[len(prefix):-len(suffix)].split(".", 1)[0], self.file(n)) for n in names
                if n.startswith(prefix) and n.endswith(suffix) and len(n) > len(prefix) + len(suffix)]

    # -- the lifecycle jobs

    @property
    def jobs(self) -> str:
        return os.path.join(self.root, JOBS)

    def job_lock(self, job: str) -> str:
        return os.path.join(self.jobs, f"{job}.lock")

    def job_memory(self, job: str) -> str:
        return os.path.join(self.jobs, f"{job}.json")

    def read_job_memory(self, job: str) -> dict[str, Any]:
        """The memory `job` kept at its last run, as root's file: {} when there is none or it is not a JSON
        object (the jobs write it; the exporter reads the idle check's)."""
        try:
            with root_files(), open(self.job_memory(job), encoding="utf-8") as handle:
                value = json.load(handle)
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def ensure_jobs(self) -> str:
        """The jobs' directory (0755, this account's); Ds01Error when it cannot be made or others may write it."""
        directory = self.jobs
        try:
            os.makedirs(self.root, mode=0o755, exist_ok=True)
            os.makedirs(directory, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise Ds01Error(f"cannot create {directory}: {exc.strerror}", hint="the jobs run as root (cron)") from None
        info = os.lstat(directory)
        # this process's own rights: a dir of its own account, writable by no one else
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise Ds01Error(f"{directory} is not owned by this account or is writable by others; refusing to use it",
                            hint=f"an admin removes it: rm -r {directory} (the jobs recreate it)")
        return directory

    # -- bind points

    @property
    def mounts(self) -> str:
        return os.path.join(self.root, MOUNTS)

    def pins(self, container: str) -> str:
        """The directory of `container`'s bind points."""
        return os.path.join(self.mounts, container)

    # -- the head's cluster records

    def cluster_records(self, uid: int | None = None) -> str:
        base = os.path.join(self.root, CLUSTER)
        return base if uid is None else os.path.join(base, str(int(uid)))


def is_pins_shape(pins: str) -> bool:
    """Whether `pins` has the shape of a bind-point directory (`<some state dir>/mounts/<name>`)."""
    return os.path.basename(os.path.dirname(pins)) == MOUNTS


def pins_lock(pins: str) -> str:
    """The lock of the bind points in `pins` (a directory `StateDir.pins` named)."""
    return os.path.join(pins, PINS_LOCK)


def make_pins(pins: str) -> None:
    """`pins` and the mounts directory above it, root's and 0700 (the state dir 0755 above them); OSError when
    anything else is in their place. Call with root's files."""
    top = os.path.dirname(pins)
    os.makedirs(os.path.dirname(top), mode=0o755, exist_ok=True)
    for directory in (top, pins):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
            raise OSError(errno.EPERM, f"{directory} must be a directory only root may use")


def open_regular(path: str, flags: int, mode: int = 0o600) -> int:
    """An fd on the regular file `path` (O_NOFOLLOW, O_NONBLOCK, O_CLOEXEC added), as this thread's files;
    OSError for anything else: ELOOP for a symlink, ENXIO/EINVAL for a FIFO, EINVAL for any other kind."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


@contextlib.contextmanager
def held(path: str, *, shared: bool = False, timeout: float = 30.0, access: int = os.O_RDWR,
         mode: int = 0o600) -> Iterator[BinaryIO]:
    """`path` opened (created with `mode` if missing) as root's file and locked, shared or exclusive, for the
    block; the open handle is yielded (unbuffered). A symlink, FIFO or anything but a regular file:
    Ds01Error. Still locked by someone else after `timeout` seconds (0: one try): LockBusy."""
    try:
        with root_files():
            fd = open_regular(path, access | os.O_CREAT, mode)
            _tighten(fd, mode)
    except OSError as exc:
        raise Ds01Error(f"cannot open {path}: {exc.strerror or exc}",
                        hint=f"it must be a regular file only root may open (rm {path})") from None
    handle = cast(BinaryIO, os.fdopen(fd, _fdopen_mode(access), buffering=0))
    with handle:
        flags = (portalocker.LockFlags.SHARED if shared else portalocker.LockFlags.EXCLUSIVE) \
            | portalocker.LockFlags.NON_BLOCKING
        deadline = time.monotonic() + timeout
        while True:
            try:
                portalocker.lock(handle, flags)
                break
            except portalocker.AlreadyLocked:
                if time.monotonic() >= deadline:
                    raise LockBusy(f"{path} is busy: another process held it for {timeout:g}s",
                                   hint="try again in a moment") from None
                time.sleep(_POLL_S)
        try:
            yield handle
        finally:
            portalocker.unlock(handle)  # also for a copy of the fd a fork took


def _tighten(fd: int, mode: int) -> None:
    """Take back what `mode` does not give others on a lock file made before (a lock file others may open, they
    may lock: a job's once was 0644)."""
    current = stat.S_IMODE(os.fstat(fd).st_mode)
    extra = current & 0o077 & ~mode
    if extra:
        try:
            os.fchmod(fd, current & ~extra)
        except OSError:
            os.close(fd)
            raise


def _fdopen_mode(access: int) -> str:
    if access & os.O_APPEND:
        return "ab"
    if access & os.O_ACCMODE == os.O_RDWR:
        return "r+b"
    return "wb" if access & os.O_ACCMODE == os.O_WRONLY else "rb"
