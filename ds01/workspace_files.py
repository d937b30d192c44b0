"""Files in a container's /workspace, read and written without running anything inside the container;
and the workspace directory itself, made as its owner's (make_workspace).

Why: a `docker exec` is work the container itself does (about 20 ms of its CPU), so a notice
delivered that way made the idle check count ds01's own notice as the container's activity.
Two paths, neither of which runs a process in the container:
- /workspace is a bind mount: the host side, in this process with the owner's filesystem identity
  (uid and gid, no supplementary groups) before it touches the path, opening the file with
  O_NOFOLLOW | O_NONBLOCK. The kernel checks the owner's rights, never root's, so a symlink or a
  path the owner could not reach gets nothing; and since the process stays root by uid, the owner
  cannot stop it (an earlier child that setuid to the owner could be SIGSTOPped, and the root job
  waited on it forever). A FUSE mount of the owner's refuses a process whose real uid is root.
- otherwise: the engine's archive API (HEAD to stat, GET and PUT to append), which resolves
  the path inside the container's own filesystem.
"""

import base64
import io
import json
import os
import pwd
import stat as S
import tarfile
import time
from typing import Any

from .errors import Ds01Error, NotFound
from .privilege import files_as

WORKSPACE = "/workspace"
MAX_KEPT = 256 * 1024  # an appended-to file larger than this keeps only its last MAX_KEPT bytes (archive path)
# Go's os.ModeType bits in the archive API's stat (dir, symlink, device, pipe, socket, char device, irregular).
GO_MODE_TYPE = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)


def bind_source(info):
    """The host directory bind-mounted at /workspace (from the mount table; for a bind point, the directory
    ds01 recorded for it at create), or None."""
    from .mount_pins import sources  # lazy: ds01.mount_pins, 8 ms

    return sources(info).get(WORKSPACE)


def owner_ids(uid):
    """(uid, gid) to act as: the owner's primary group from passwd, else a group of the same number."""
    try:
        return uid, pwd.getpwuid(uid).pw_gid
    except KeyError:
        return uid, uid


def _as_owner(uid, fn):
    """fn() with the owner's file rights (uid and gid, no supplementary groups), in this process: it stays
    root by uid, so the owner cannot stop or trace it and a root job never waits on the owner's process."""
    uid, gid = owner_ids(uid)
    # this process's own rights: already the owner's, or root, which can take theirs
    if os.geteuid() == uid:
        return fn()

    with files_as(uid, gid, []):
        return fn()


def _can_act_as(uid):
    # this process's own rights: root can take the owner's, or it is the owner
    return uid is not None and (os.geteuid() == 0 or os.geteuid() == uid)


def stat_mtime(api, info, uid, name):
    """The mtime of /workspace/`name` when it is a regular file, else None (missing, a symlink, unreadable)."""
    source = bind_source(info)
    if source and _can_act_as(uid):
        path = os.path.join(source, name)

        def look():
            found = os.lstat(path)
            return found.st_mtime if S.S_ISREG(found.st_mode) else None

        try:
            return _as_owner(uid, look)
        except OSError:
            return None
    try:
        found = api.path_stat(info["Id"], f"{WORKSPACE}/{name}")
    except (NotFound, Ds01Error):
        return None
    if found is None or found.get("linkTarget") or int(found.get("mode") or 0) & GO_MODE_TYPE:
        return None  # a symlink, a directory, a pipe: not a regular file
    return _rfc3339(found.get("mtime"))


def append(engine, info, uid, name, text):
    """Append `text` to /workspace/`name`, as the owner; raises OSError or Ds01Error when it cannot."""
    data = text.encode()
    source = bind_source(info)
    if source and _can_act_as(uid):
        path = os.path.join(source, name)

        def write():
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                         | os.O_NONBLOCK, 0o644)
            try:
                if not S.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(0, "not a regular file")
                os.write(fd, data)
            finally:
                os.close(fd)
            return True

        return _as_owner(uid, write)
    return _append_by_archive(engine, info, uid, name, data)


def _append_by_archive(engine, info, uid, name, data):
    """The archive API's way: read the file (if any), add `data`, put it back with the owner as its owner."""
    api = engine.api
    path = f"{WORKSPACE}/{name}"
    old, mode = b"", 0o644
    try:
        stream, found = api.get_archive(info["Id"], path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r:") as tar:
            member = tar.next()
            if member is not None:
                if not member.isfile():
                    raise Ds01Error(f"{path} is not a regular file; nothing written")
                extracted = tar.extractfile(member)  # a regular file: never None
                old = extracted.read() if extracted is not None else b""
                mode = member.mode & 0o777
    except engine.errors.NotFound:
        pass
    except engine.errors.APIError as exc:
        raise Ds01Error(f"{path}: {exc.explanation or exc}") from None
    content = (old + data)[-MAX_KEPT:]
    owner, group = owner_ids(uid) if uid is not None else (0, 0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as tar:
        member = tarfile.TarInfo(name)
        member.size, member.mode, member.mtime = len(content), mode, int(time.time())
        member.uid, member.gid = owner, group
        tar.addfile(member, io.BytesIO(content))
    try:
        if not api.put_archive(info["Id"], WORKSPACE, buffer.getvalue()):
            raise Ds01Error(f"{path}: the engine refused the write")
    except engine.errors.NotFound:
        raise Ds01Error(f"the container has no {WORKSPACE}") from None
    except engine.errors.APIError as exc:
        raise Ds01Error(f"{path}: {exc.explanation or exc}") from None
    return True


def _rfc3339(text):
    if not text:
        return None
    from .clock import parse_docker  # lazy: ds01.clock, 0.6 ms

    try:
        moment = parse_docker(text)
    except ValueError:
        return None
    return moment.timestamp() if moment else None


def decode_path_stat(header: str) -> dict[str, Any]:
    """The engine's X-Docker-Container-Path-Stat header (base64 JSON) as a dict."""
    return json.loads(base64.b64decode(header))


def make_workspace(path, user):
    """Create the workspace (and missing parents under the home) owned by the user; returns created dirs."""
    made = []
    current = path
    while not os.path.exists(current):
        made.append(current)
        current = os.path.dirname(current)
    for directory in reversed(made):
        os.mkdir(directory, 0o755)
        # this process's own rights: only root can give the directory to its user
        if os.geteuid() == 0:
            os.chown(directory, user.uid, user.gid)
    return made
