"""User mounts: which directories a user may mount into a container, checked at create (`check_mount`) and again,
with the owner's rights, at every start (`recheck_mounts`)."""

import errno
import os

from . import mount_pins
from .errors import NotFound, PermissionDenied, UsageError
from .privilege import files_of
from .statedir import StateDir

FORBIDDEN_MOUNTS = ("/var/run/docker.sock", "/run/docker.sock")


def _under(path, root):
    root = os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_mount(path, user, admin, mount_roots, what, must_exist=True):
    """The absolute real path of a directory the user may mount; UsageError / PermissionDenied otherwise."""
    if "\n" in path or "\0" in path or "," in path:
        raise UsageError(f"{what} path {path!r} contains characters Docker cannot mount")
    try:
        real = os.path.realpath(os.path.expanduser(path))
    except OSError as exc:  # a symlink on the way changed as it was followed
        raise PermissionDenied(f"{what} {path!r} is changing as it is looked at ({exc.strerror})",
                               hint="mount a directory that stays where it is") from None
    _check_allowed(real, path, user, admin, mount_roots, what)
    if must_exist and not os.path.isdir(real):
        raise UsageError(f"{what} {path!r} is not an existing directory")
    if not admin and os.path.lexists(real):
        os.close(_open_usable(real, user, what, path))
    return real


def _check_allowed(real, path, user, admin, mount_roots, what):
    """PermissionDenied unless the policy lets `user` mount the directory at `real` (a real path)."""
    if any(_under(real, f) for f in FORBIDDEN_MOUNTS):
        raise PermissionDenied(f"{what} {path!r} may not be mounted into a container")
    if not admin and not _under(real, user.home) and not any(_under(real, r) for r in mount_roots):
        allowed = ", ".join([user.home, *mount_roots])
        raise PermissionDenied(f"{what} {path!r} is outside what you may mount", hint=f"allowed: under {allowed}")


def _open_source(real, what, path):
    """An fd on the directory at `real`, reached without a symlink (mount_pins.open_directory), with this
    process's file rights; PermissionDenied (or NotFound) saying what is in the way otherwise."""
    try:
        return mount_pins.open_directory(real)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            try:
                leads = f"now leads to {os.path.realpath(real)}"
            except OSError:  # changing as we look
                leads = "is no longer the directory it was"
            raise PermissionDenied(f"the {what} {path} {leads}: not mounted",
                                   hint="something replaced it (or a directory above it) with a symlink; put the "
                                        "directory back, or container-recreate with the path you mean") from None
        if exc.errno == errno.ENOENT:
            raise NotFound(f"the {what} {path} no longer exists", hint="create the directory again, or "
                           "container-recreate with another path") from None
        raise PermissionDenied(f"{what} {path!r}: you cannot open it yourself ({exc.strerror})",
                               hint="only directories you can read and write may be mounted") from None


def _open_usable(real, user, what, path, writable=True):
    """An fd on the directory (as `_open_source`), and PermissionDenied unless the caller, with their own rights,
    can open it and write it: a directory under a mount root that its owner keeps private (0700) is not the
    caller's to mount.

    In a ds01d worker the open is checked by the kernel as the caller (privilege.act_for); write access is
    read from the owner, group and mode bits (ACLs are not consulted).
    """
    fd = _open_source(real, what, path)
    try:
        info = os.fstat(fd)
        if writable:
            groups = set(os.getgrouplist(user.login, user.gid)) if user.login else {user.gid}
            bit = 0o200 if info.st_uid == user.uid else 0o020 if info.st_gid in groups else 0o002
            if not info.st_mode & bit:
                raise PermissionDenied(f"{what} {path!r}: you cannot write it", hint="ask its owner for write "
                                       "access, or mount a directory of your own")
    except BaseException:
        os.close(fd)
        raise
    return fd


MOUNTED = {"/workspace": "workspace", "/data": "data directory", "/models": "models directory"}


def recheck_mounts(rt, rec, info):
    """At every start, with the owner's rights whoever starts it: each user mount's source must still be the
    directory recorded at create, reached without a symlink, still allowed, and still the owner's to read and
    write. Returns {destination: fd} of the directories to pin on the container's bind points for the start
    (mount_pins); {} for a container that binds its paths (made by a process that could not mount)."""
    from .identity import User, is_admin_account, lookup  # lazy: ds01.identity, 0.6 ms

    labels = (info.get("Config") or {}).get("Labels") or {}
    owner = lookup(rec["uid"]) if rec.get("uid") is not None else None
    if owner is None:
        owner = rt.caller if rec.get("uid") in (None, rt.caller.uid) else User(str(rec["uid"]), rec["uid"],
                                                                                 rec["uid"], "/")
    admin = is_admin_account(owner, rt.policy)
    roots = rt.policy.section("access_control").get("mount_roots") or []
    pins = mount_pins.pins_of(info, StateDir.of(rt))
    opened = {}
    try:
        with files_of(owner):
            for mount in info.get("Mounts") or []:
                destination = mount.get("Destination")
                what = MOUNTED.get(destination)
                if what is None or mount.get("Type") != "bind":
                    continue
                source = mount.get("Source") or ""
                if pins and source == mount_pins.point(pins, destination):
                    opened[destination] = _recheck_pinned(labels, destination, owner, admin, roots, what)
                else:
                    _recheck_path(source, owner, admin, roots, what)
    except BaseException:
        for fd in opened.values():
            os.close(fd)
        raise
    if opened and not mount_pins.available():
        for fd in opened.values():
            os.close(fd)
        raise PermissionDenied("this container's mounts are put in place by ds01d at every start: start it "
                               "through ds01d", hint="run the command as an ordinary user, or as root")
    return opened


def _recheck_pinned(labels, destination, owner, admin, roots, what):
    """The fd of the directory recorded at create (its label, which ds01 wrote) for a pinned mount."""
    recorded = labels.get(mount_pins.RECORDED[destination]) or ""
    if not os.path.isabs(recorded) or os.path.normpath(recorded) != recorded:
        raise PermissionDenied(f"the {what} of this container has no recorded directory: not started",
                               hint="container-recreate it")
    _check_allowed(recorded, recorded, owner, admin, roots, what)
    if admin:
        return _open_source(recorded, what, recorded)
    return _open_usable(recorded, owner, what, recorded)


def _recheck_path(source, owner, admin, roots, what):
    """A container that binds a path (Docker resolves it again as it starts): it must still be a real path."""
    try:
        real = os.path.realpath(source)
    except OSError:
        real = "somewhere else"
    if real != source:
        raise PermissionDenied(f"the {what} {source} of this container now leads to {real}: not started",
                               hint="something replaced it with a symlink; put the directory back, or "
                                    "container-recreate with the path you mean")
    check_mount(source, owner, admin, roots, what)

