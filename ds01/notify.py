"""Telling a container's owner what a lifecycle job is about to do: on their terminals and in the container.

Terminals come from utmp (the login records `who` reads): every USER_PROCESS entry of the
owner names a line such as `pts/3`, written to under the terminal directory (/dev), but only
when that device belongs to the owner. The same text is appended to `/workspace/.ds01-alerts`
inside a running container, by a process running as the container's own user, so a symlink
planted there cannot make ds01 write anywhere the user could not. $DS01_UTMP and
$DS01_TTY_DIR point both at test files.
"""

import os
import re
import stat
import struct
from typing import Any

from .privilege import root_files
from .visible import visible

UTMP = "/var/run/utmp"
TTY_DIR = "/dev"
ALERTS_NAME = ".ds01-alerts"
ALERTS_FILE = "/workspace/" + ALERTS_NAME
USER_PROCESS = 7
# struct utmp on Linux (glibc, 64-bit and 32-bit alike): 384 bytes.
UTMP_FORMAT = "<h2xi32s4s32s256shhi2i4i20s"
UTMP_SIZE = struct.calcsize(UTMP_FORMAT)
_LINE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$")


def sessions(utmp=None):
    """(login, line) of every logged-in user process in utmp."""
    path = utmp or UTMP
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return []
    found = []
    for offset in range(0, len(data) - UTMP_SIZE + 1, UTMP_SIZE):
        fields = struct.unpack_from(UTMP_FORMAT, data, offset)
        if fields[0] != USER_PROCESS:
            continue
        line = fields[2].split(b"\0", 1)[0].decode(errors="replace")
        login = fields[4].split(b"\0", 1)[0].decode(errors="replace")
        if login and line:
            found.append((login, line))
    return found


def terminals(login, uid, utmp=None, tty_dir=None):
    """Paths of the terminals `login` is logged in on that belong to `uid`."""
    directory = tty_dir or TTY_DIR
    real = directory == TTY_DIR
    result = []
    for who, line in sessions(utmp):
        if who != login or not _LINE_RE.match(line) or ".." in line.split("/"):
            continue
        path = os.path.join(directory, line)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if info.st_uid != uid or (real and not stat.S_ISCHR(info.st_mode)) or stat.S_ISLNK(info.st_mode):
            continue
        if path not in result:
            result.append(path)
    return result


def write_terminal(path, text):
    """Write `text` to one terminal without blocking on it or making it our controlling terminal."""
    data = ("\r\n" + text.rstrip("\n").replace("\n", "\r\n") + "\r\n").encode()

    with root_files():  # ds01-notify through ds01d: an admin's notice reaches other users' terminals
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def places(rt):
    """The utmp file and terminal directory from the settings (DS01_UTMP, DS01_TTY_DIR in tests)."""
    return {"utmp": rt.settings.get("utmp"), "tty_dir": rt.settings.get("tty_dir")}


def deliver(login, uid, text, container=None, engine=None, utmp=None, tty_dir=None):
    """Send `text` to every terminal of `login` and, given a container (its inspect), into its alerts file.

    The alerts file is written from outside the container (ds01.workspace_files), so a notice
    never counts as the container's own activity. Returns {terminals: [paths written],
    alerts_file: bool, errors: [...]}; never raises for a delivery problem.
    """
    result: dict[str, Any] = {"terminals": [], "alerts_file": False, "errors": []}
    if login and uid is not None:
        for path in terminals(login, uid, utmp, tty_dir):
            try:
                write_terminal(path, text)
                result["terminals"].append(path)
            except OSError as exc:
                result["errors"].append(f"{path}: {exc.strerror or exc}")
    if container and engine is not None:
        from . import workspace_files  # lazy: ds01.workspace_files, 3 ms

        try:
            workspace_files.append(engine, container, uid, ALERTS_NAME, text)
            result["alerts_file"] = True
        except Exception as exc:  # noqa: BLE001 - a missing or unwritable workspace must not stop the job
            reason = getattr(exc, "message", None) or getattr(exc, "strerror", None) or exc
            result["errors"].append(f"{ALERTS_FILE}: {reason}")
    return result


def banner(title, body, moment):
    """The notice as people see it: a title line with the time, then the body."""
    stamp = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"--- ds01: {visible(title)} ({stamp}) ---\n{visible(body.rstrip(), keep_newlines=True)}\n"
