"""Mount sources pinned for the moment a container starts, so no path a user can change reaches Docker.

Docker takes a bind mount's source as a path and resolves it itself, inside `docker start`. Whatever a
check of that path found an instant before, a user who may rename their own directories can put a
symlink there in between. So ds01 never gives Docker a user's path. A container's user mounts name
bind points of its own, `<state_dir>/mounts/<container>/<workspace|data|models>`, in a directory only
root may enter. At every start ds01:
- opens each recorded source one component at a time with O_NOFOLLOW, with its owner's rights (a symlink
  anywhere on the way is refused, as is a directory the owner may no longer read);
- bind-mounts the directory it opened (`/proc/self/fd/N`) on the bind point;
- lets Docker start the container (its mount is the container's own copy);
- unmounts the bind point again.

Between starts a bind point is an empty directory only root may use: a start that bypasses ds01
(`docker start` by root, AIME's `mlc open`/`mlc start`, a restart policy after a reboot) gets that, never a
user's directory, and `docker cp` on a stopped container still works. The next ds01 action on such a
container finds its bind points empty in it (`unfilled`) and restarts it through ds01 (ds01.sessions.refill),
with every check of a start. Keeping the mounts in place between starts would let an outside start skip those
checks (a directory the owner may no longer use, a mount root the policy dropped) and would not survive a
reboot anyway; ds01 keeps no state of its own about it, so a restart of ds01d changes nothing.

ds01d must share dockerd's mount namespace for this, so its unit has no ProtectSystem= or other mount
namespacing. A process that is not root (a docker-group user running a command in-process) cannot mount: its
containers bind the paths as before.
"""

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from typing import Any

from .labels import DATA_MOUNT, MODELS_MOUNT, MOUNT_PINS, WORK_MOUNT
from .privilege import root_files
from .statedir import StateDir, held, is_pins_shape, make_pins, pins_lock

MS_BIND, MS_REC, MNT_DETACH, UMOUNT_NOFOLLOW = 4096, 16384, 2, 8
POINTS = {"/workspace": "workspace", "/data": "data", "/models": "models"}
RECORDED = {"/workspace": WORK_MOUNT, "/data": DATA_MOUNT, "/models": MODELS_MOUNT}  # the labels of the sources
PINS_WAIT_S = 300.0  # a start holds its container's bind points while Docker starts it
_libc: Any = None


def available() -> bool:
    """Only root can mount: ds01d's workers, and root running a command in-process."""
    # this process's own rights (mount(2) needs root), not whether it is served
    return os.geteuid() == 0


def point(pins: str, destination: str) -> str:
    return os.path.join(pins, POINTS[destination])


def pins_of(info: dict[str, Any], state: StateDir | None = None) -> str:
    """The container's bind-point directory from its label (ds01 writes it at create; an image's is never
    kept), only where it has the shape ds01 gives it (`<state_dir>/mounts/<the container's name>`); else ""."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    pins = labels.get(MOUNT_PINS) or ""
    name = (info.get("Name") or "").lstrip("/")
    if not pins or not name or os.path.normpath(pins) != pins or not os.path.isabs(pins):
        return ""
    if os.path.basename(pins) != name or not is_pins_shape(pins):
        return ""
    if state is not None and pins != state.pins(name):
        return ""
    return pins


def sources(info: dict[str, Any]) -> dict[str, str]:
    """{destination: host directory} of the container's bind mounts as a user knows them: for a bind point,
    the directory recorded at create (the point itself is filled only while a start runs)."""
    pins = pins_of(info)
    labels = (info.get("Config") or {}).get("Labels") or {}
    found = {}
    for mount in info.get("Mounts") or []:
        destination, source = mount.get("Destination"), mount.get("Source")
        if mount.get("Type", "bind") != "bind" or not destination:
            continue
        if pins and destination in POINTS and source == point(pins, destination):
            source = labels.get(RECORDED[destination]) or source
        found[destination] = source
    return found


def unfilled(info: dict[str, Any], state: StateDir | None) -> list[str]:
    """The destinations whose bind point the running container holds empty: it was started past ds01, which
    fills them only while it starts a container. [] for a container that binds paths, or when not root."""
    pins = pins_of(info, state)
    pid = (info.get("State") or {}).get("Pid")
    if not pins or not pid or not available():
        return []
    found = []
    with root_files():
        try:
            if not stat.S_ISDIR(os.lstat(pins).st_mode):
                return []
        except OSError:
            return []
    with held(pins_lock(pins), shared=True, timeout=PINS_WAIT_S), root_files():  # not while a start fills them
        for mount in info.get("Mounts") or []:
            destination = mount.get("Destination")
            if destination not in POINTS or mount.get("Source") != point(pins, destination):
                continue
            try:
                seen = os.lstat(f"/proc/{pid}/root{destination}")
                empty = os.lstat(point(pins, destination))
            except OSError:
                continue
            if (seen.st_dev, seen.st_ino) == (empty.st_dev, empty.st_ino):
                found.append(destination)
    return found


def open_directory(path: str) -> int:
    """An O_RDONLY fd on the directory at `path` (absolute and normalised), reached one component at a time
    without following a symlink, with this thread's file rights. OSError otherwise: ELOOP or ENOTDIR where a
    symlink is, EACCES where the rights end."""
    if not os.path.isabs(path) or os.path.normpath(path) != path or path.startswith("//"):
        raise OSError(errno.EINVAL, "not an absolute, normalised path")
    parts = [p for p in path.split("/") if p]
    fd = os.open("/", (os.O_RDONLY if not parts else os.O_PATH) | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = (os.O_RDONLY if last else os.O_PATH) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            inner = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_points(pins: str, destinations: list[str]) -> None:
    """The container's bind points, empty (Docker wants a bind source to exist at create)."""
    with root_files():
        make_pins(pins)
        for destination in destinations:
            _empty(point(pins, destination))


@contextlib.contextmanager
def pinned(pins: str, opened: dict[str, int]) -> Iterator[None]:
    """Each directory of `opened` (a destination and an fd from `open_directory`, which this closes) mounted on
    its bind point for the block; unmounted again after it, whatever happens. One start of a container
    at a time (a lock on its bind-point directory). Nothing to pin: nothing done."""
    if not opened:
        yield
        return
    try:
        with root_files():
            make_pins(pins)
        with held(pins_lock(pins), timeout=PINS_WAIT_S):
            try:
                with root_files():
                    for destination, fd in opened.items():
                        _mount(fd, point(pins, destination))
                yield
            finally:
                with root_files():
                    for destination in opened:
                        _empty(point(pins, destination))
    finally:
        for fd in opened.values():
            os.close(fd)


def discard(pins: str) -> None:
    """Remove a container's bind points and their directory (the container is gone)."""
    with root_files():
        try:
            info = os.lstat(os.path.dirname(pins))
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
            return  # not a directory of ds01's
        for name in POINTS.values():
            _clear(os.path.join(pins, name))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pins_lock(pins))
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(pins)


def leftovers(state: StateDir, containers: set[str]) -> list[str]:
    """Bind-point directories of containers not in `containers` (names), for ds01-release-stale."""
    with root_files():
        try:
            found = os.listdir(state.mounts)
        except FileNotFoundError:
            return []
    return [state.pins(name) for name in sorted(found) if name not in containers]


def _call(name: str, *args: Any) -> None:
    import ctypes  # lazy: ctypes, 2 ms

    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    if getattr(_libc, name)(*args) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _mount(fd: int, target: str) -> None:
    """Bind-mount the directory open as `fd` on `target` (emptied first), and check it is that one."""
    _empty(target)
    _call("mount", f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND | MS_REC, None)
    mounted, opened = os.stat(target), os.fstat(fd)
    if (mounted.st_dev, mounted.st_ino) != (opened.st_dev, opened.st_ino):
        raise OSError(errno.EIO, f"{target} is not the directory that was opened")


def _unmount(target: str) -> None:
    """No mount on `target`: detach every mount stacked there."""
    while True:
        try:
            _call("umount2", target.encode(), MNT_DETACH | UMOUNT_NOFOLLOW)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise


def _empty(target: str) -> None:
    """`target` as an empty directory only root may use, with nothing mounted on it."""
    _unmount(target)
    with contextlib.suppress(FileExistsError):
        os.mkdir(target, 0o700)
    info = os.lstat(target)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077 or os.listdir(target):
        raise OSError(errno.EPERM, f"{target} must be an empty directory only root may use")


def _clear(target: str) -> None:
    """No mount on `target` and no `target` (an empty directory is removed; anything else stays)."""
    _unmount(target)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(target)
