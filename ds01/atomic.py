"""Replacing a file ds01 owns in one step: a reader sees the old content or the new, never half of it.

The new content goes to a temporary name in the same directory (created exclusively, never through a
symlink someone planted), is synced, and is renamed over the file; the directory is synced after.
"""

import contextlib
import os


def replace_file(path: str, data: bytes, mode: int = 0o644, owner: int | None = None) -> None:
    """Write `data` as `path` (mode `mode`, owned by uid `owner` when given). OSError when it cannot be;
    then the old file is as it was and no temporary is left."""
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    if os.path.lexists(temporary):  # one a killed writer of this pid left
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # not the umask's
            if owner is not None:
                os.fchown(fd, owner, -1)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    handle = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
