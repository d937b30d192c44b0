"""A user's pending notices (DS01's ds01-alerts): what ds01-notify and the lifecycle jobs appended to
/workspace/.ds01-alerts in their containers, read on the host side of each workspace. Acknowledging moves
them to .ds01-alerts.read beside it, so nothing is lost and the next look shows only new ones. Everything is
read and moved with the caller's own file rights, and never through a symbolic link."""

import os
import re

from .containers import owned_by
from .errors import Ds01Error
from .notify import ALERTS_NAME
from .visible import visible

READ_NAME = ALERTS_NAME + ".read"
MAX_BYTES = 1024 * 1024  # a larger file is read from its last MiB
_BANNER = re.compile(r"^--- ds01: (?P<title>.*) \((?P<time>[0-9-]+ [0-9:]+ UTC)\) ---$")


def workspaces(rt):
    """The caller's workspaces: each of their containers' /workspace and every project in ~/workspace."""
    user = rt.caller
    found = []
    for rec in sorted(rt.finder.records(), key=lambda r: r["name"]):
        if owned_by(rec, user) and rec.get("workspace"):
            found.append((rec["name"], rec["workspace"]))
    root = os.path.join(user.home, "workspace")
    try:
        names = sorted(os.listdir(root))
    except OSError:
        names = []
    for name in names:
        found.append((None, os.path.join(root, name)))
    seen, result = set(), []
    for container, path in found:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            result.append((container, path))
    return result


def _read(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not os.path.isfile(f"/proc/self/fd/{handle.fileno()}"):
            return None
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - MAX_BYTES))
        return handle.read().decode(errors="replace")


def notices(text):
    """The notices in an alerts file: {title, time, text}, oldest first."""
    result: list[dict] = []
    for line in text.splitlines():
        match = _BANNER.match(line)
        if match:
            result.append({"title": match["title"], "time": match["time"], "text": ""})
        elif result:
            result[-1]["text"] += line + "\n"
        elif line.strip():
            result.append({"title": "notice", "time": None, "text": line + "\n"})
    for notice in result:
        notice["text"] = notice["text"].strip()
    return result


def pending(rt, acknowledge=False):
    """Every pending notice of the caller: {container, workspace, title, time, text}. With `acknowledge`, each
    file read is moved to .ds01-alerts.read (appended to what was acknowledged before)."""
    result = []
    for container, directory in workspaces(rt):
        path = os.path.join(directory, ALERTS_NAME)
        text = _read(path)
        if not text:
            continue
        for notice in notices(text):
            result.append({"container": container, "workspace": directory, "title": visible(notice["title"]),
                           "time": notice["time"], "text": visible(notice["text"], keep_newlines=True)})
        if acknowledge:
            _acknowledge(directory, text)
    return result


def _acknowledge(directory, text):
    """Append what was shown to .ds01-alerts.read, then remove .ds01-alerts (a link is never followed)."""
    read = os.path.join(directory, READ_NAME)
    try:
        fd = os.open(read, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(text)
        os.unlink(os.path.join(directory, ALERTS_NAME))
    except OSError as exc:
        raise Ds01Error(f"cannot mark the notices in {directory} read: {read}: {exc.strerror}",
                        hint=f"remove {read} if it is a link, then ds01-alerts --clear again") from None
