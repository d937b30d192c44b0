"""Whose rights a file access uses: the caller's in a broker worker, root's only where ds01 says so.

A ds01d worker runs as root (so its caller cannot signal or trace it) but acts for an unprivileged
caller. Right after it learns who that is, it sets its filesystem identity (fsuid, fsgid and the
supplementary groups) to the caller's: from then on every open, stat, mkdir and realpath is
checked by the kernel as if the caller made it, so a symlink to /etc/shadow or a directory
the caller cannot enter yields what it would yield the caller: nothing. Code that must use
root's rights says so with `root_files()`: the Docker socket, the state dir, the event log,
and the root-owned configuration. A forgotten site fails closed (EACCES), never open.

Outside a worker (root or a docker-group user running a command in-process) nothing changes.
"""

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .identity import User

_libc: Any = None
# The account whose file rights this process uses (a worker, after act_for): the process's own state, which
# root_files, files_as and caller_process restore or drop to. Whether a command is served is not asked here:
# it is runtime.Served, handed to the Runtime.
_caller: "User | None" = None


def _call(name: str, value: int) -> int:
    global _libc
    if _libc is None:
        import ctypes  # lazy: ctypes, 1 ms (only a worker needs it)

        _libc = ctypes.CDLL(None, use_errno=True)
    result: int = getattr(_libc, name)(value)
    return result


def _set_fs(uid: int, gid: int) -> None:
    """setfsgid, then setfsuid; checked by reading back (the calls report no errors)."""
    _call("setfsgid", gid)
    _call("setfsuid", uid)
    if _call("setfsuid", -1) != uid or _call("setfsgid", -1) != gid:
        raise OSError(0, f"could not set the filesystem identity to {uid}:{gid}")


def filesystem_uid() -> int:
    """The filesystem uid this thread uses now (setfsuid(-1) changes nothing and answers it)."""
    return _call("setfsuid", -1)


def act_for(user: "User", groups: list[int]) -> None:
    """Use `user`'s rights (uid, gid, `groups`) for every file access of this process from now on."""
    global _caller
    os.setgroups(groups)
    _set_fs(user.uid, user.gid)
    _caller = user


@contextlib.contextmanager
def root_files() -> Iterator[None]:
    """Root's rights for file access inside the block (a no-op outside a worker).

    Only the filesystem identity changes: with fsuid 0 the kernel gives back the file
    capabilities, so the caller's supplementary groups (left in place) do not matter.
    Per thread, like fsuid itself.
    """
    if _caller is None:
        yield
        return
    _set_fs(0, 0)
    try:
        yield
    finally:
        _set_fs(_caller.uid, _caller.gid)


@contextlib.contextmanager
def files_of(user: "User") -> Iterator[None]:
    """`user`'s rights (uid, gid and their groups) for file access inside the block, where this process can
    take them (a worker, or root in-process); elsewhere a process has only its own. ds01 opens a container's
    mount sources with its owner's rights, whoever starts it."""
    # _caller: the rights it already uses. geteuid(): whether it may change them at all (root): this
    # process's own rights, not whether it is served.
    if os.geteuid() != 0 or (_caller is not None and _caller.uid == user.uid):
        yield
        return
    try:
        groups = os.getgrouplist(user.login, user.gid)
    except (KeyError, OSError):  # no account of that name: its primary group only
        groups = [user.gid]
    with files_as(user.uid, user.gid, groups):
        yield


@contextlib.contextmanager
def files_as(uid: int, gid: int, groups: list[int]) -> Iterator[None]:
    """Exactly `uid`, `gid` and `groups` for file access inside the block, in this process (which must be
    root). The process stays root by uid, so the owner of those rights can neither signal nor trace it
    while it works on their files: root code never waits on a process its subject controls."""
    saved = os.getgroups()
    os.setgroups(groups)
    _set_fs(uid, gid)
    try:
        yield
    finally:
        _set_fs(*((_caller.uid, _caller.gid) if _caller is not None else (0, os.getegid())))
        os.setgroups(saved)


def caller_process(passed: dict[str, str] | None = None) -> dict[str, Any]:
    """subprocess arguments that run a program as the caller (an exec resets fsuid to root's, so a
    program that touches the caller's files must drop for real), with a plain environment plus
    `passed` (the caller's terminal variables): {} outside a worker."""
    if _caller is None:
        return {}
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": _caller.home, "USER": _caller.login,
           "LOGNAME": _caller.login, **(passed or {})}
    return {"user": _caller.uid, "group": _caller.gid, "extra_groups": os.getgroups(), "env": env}
