"""What to back up (docs/admin.md "What to back up") as one archive: the policy's directory, the state
directory and the event log with its rotations. Users' workspaces are theirs to back up (ds01 never deletes
them) and images are rebuilt from their Dockerfiles, so neither is in it.

Only regular files and directories go in: a symbolic link, wherever it is, is listed as skipped and never
followed, and each file is opened with O_NOFOLLOW and archived from what that descriptor holds, so a link or
a swap planted between the walk and the read cannot bring another file in."""

import os
import stat
import tarfile

from .errors import Ds01Error, UsageError
from .statedir import StateDir


def sources(rt):
    """(name in the archive, host path) of each part, in order."""
    policy = os.path.abspath(rt.settings.get("config"))
    return [("policy", os.path.dirname(policy)), ("state", StateDir.of(rt).root),
            ("log", rt.settings.get("log_dir"))]


def _wanted(part, relative):
    """The log directory gives the event log and its rotations only (other logs are not ds01's record)."""
    return part != "log" or os.path.basename(relative).startswith("events.jsonl")


def default_name(moment):
    return f"ds01-backup-{moment.strftime('%Y%m%d-%H%M%S')}.tar.gz"


def write(rt, output):
    """Write the archive to `output` (a new file, mode 0600); returns the record."""
    if os.path.lexists(output):
        raise UsageError(f"{output} exists", hint="name a new file: ds01-backup -o PATH")
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise Ds01Error(f"cannot create {output}: {exc.strerror}", hint="ds01-backup -o PATH in a directory root "
                                                                        "can write") from None
    record = {"archive": os.path.abspath(output), "files": 0, "bytes": 0, "skipped": [], "parts": {}}
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for part, root in sources(rt):
            record["parts"][part] = root
            if not os.path.isdir(root) or os.path.islink(root):
                record["skipped"].append(f"{root} (not a directory)")
                continue
            for directory, dirs, files in os.walk(root, followlinks=False):
                for name in sorted(dirs):
                    if os.path.islink(os.path.join(directory, name)):
                        record["skipped"].append(f"{os.path.join(directory, name)} (a symbolic link)")
                for name in sorted(files):
                    path = os.path.join(directory, name)
                    relative = os.path.relpath(path, root)
                    if path == record["archive"] or not _wanted(part, relative):
                        continue
                    size = _add(tar, path, f"{part}/{relative}", record["skipped"])
                    if size is not None:
                        record["files"] += 1
                        record["bytes"] += size
    return record


def _add(tar, path, arcname, skipped):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        skipped.append(f"{path} ({'a symbolic link' if os.path.islink(path) else exc.strerror})")
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            skipped.append(f"{path} (not a regular file)")
            return None
        member = tarfile.TarInfo(arcname)
        member.size, member.mode, member.mtime = info.st_size, info.st_mode & 0o7777, int(info.st_mtime)
        member.uid, member.gid = info.st_uid, info.st_gid
        tar.addfile(member, handle)
        return info.st_size

