"""The caller's account in a new container, written as files into the container's own layer.

AIME runs a setup container as root from the user's image, commits it and makes the final
container from that commit. ds01 instead reads the image's /etc through the engine's archive API,
edits passwd, group, shadow and gshadow here, and puts the result (plus the home from /etc/skel,
the sudoers drop-in and the shell lines) into the created container before its first start. Nothing
of the image runs as root, there is no commit and no extra image, and it is about 150 ms quicker.

The image's files are untrusted text: lines that do not parse are kept as they are, paths come
only from here, and only the caller's own container is written (the engine extracts inside it).
They are also untrusted in size: each account file and /etc/skel is read up to a bound (below;
docs/config.md), so an image cannot make a create slow or fill root's state dir.

The supplementary groups ds01 gives (video, sudo) are the host's gids. Docker looks each
`--group-add` entry up in the container's /etc/group by name before it takes it as a number, so
the container's /etc/group has exactly one line for each, with the host's gid, no line named like
one of those gids, and it is root's 0644 file in root's 0755 /etc, which the caller cannot edit
from inside before a later start or `docker exec` reads it again.
"""

from __future__ import annotations

import base64
import io
import posixpath
import shlex
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..statedir import account_cache_name

if TYPE_CHECKING:
    from ..gpu.state import State

    # {path under /etc: (its TarInfo, its bytes or None)}, as read_etc and load give it
    Etc = dict[str, tuple[tarfile.TarInfo, bytes | None]]
    Row = list[str] | str  # a colon file's line: its fields, or the line as it is (not one)
    Member = tuple[tarfile.TarInfo, bytes | None]

MAX_ACCOUNT_FILE = 1 << 20  # passwd, group, shadow, gshadow, sudoers: each larger one is refused
MAX_SKEL_BYTES = 1 << 20  # /etc/skel as the engine archives it (contents and headers): beyond it, not copied
MAX_SKEL_ENTRIES = 256  # files, directories and links in /etc/skel: beyond it, not copied
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow", "sudoers")
SKEL_SKIPPED = (f"this image's /etc/skel is larger than ds01 copies ({MAX_SKEL_ENTRIES} entries, "
                f"{MAX_SKEL_BYTES >> 20} MiB): your home starts with only .bashrc")
MARKER = "# ds01: container shell"


@dataclass
class Account:
    login: str
    uid: int
    gid: int
    prompt: str  # the container's name, in the shell prompt
    sudoers_file: str
    sudo: bool = True


@dataclass
class Layer:
    tar: bytes
    home: str
    warnings: list[str] = field(default_factory=list)


class BadImage(ValueError):
    """The image's /etc cannot be read as accounts (its passwd is missing or not a file, or too large)."""


class TooLarge(ValueError):
    """Something of the image's /etc is over its bound."""


NEEDED = ("passwd", "group", "shadow", "gshadow", "sudoers", "skel")
GROUP_FILES = ("group", "gshadow")  # what group_layer edits


def read_etc(*archives: bytes) -> Etc:
    """{path under /etc: (TarInfo, bytes or None)} of what the account needs, from the engine's tars of /etc or
    of its entries (`etc/passwd` or `passwd`, `skel/...`). TooLarge for a skel of more than MAX_SKEL_ENTRIES."""
    found: Etc = {}
    for data in archives:
        entries = 0
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for info in tar:
                name = posixpath.normpath(info.name)
                path = name[len("etc/"):] if name.startswith("etc/") else name
                if not (path in NEEDED or path.startswith("skel/")):
                    continue
                if path.startswith("skel"):
                    entries += 1
                    if entries > MAX_SKEL_ENTRIES:
                        raise TooLarge(SKEL_SKIPPED)
                handle = tar.extractfile(info) if info.isreg() and path != "sudoers" else None
                found[path] = (info, handle.read() if handle is not None else None)
    return found


def bounded(chunks: Iterable[bytes], limit: int, what: str) -> bytes:
    """The bytes of `chunks` (the engine's stream), TooLarge as soon as they pass `limit`: never more is read."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the image's {what} is larger than {max(1, limit >> 20)} MiB")
        parts.append(chunk)
    return b"".join(parts)


def dump(etc: Etc) -> dict[str, dict[str, Any]]:
    """`etc` as JSON (for the cache: an image ID's /etc never changes)."""
    return {path: {"type": info.type.decode("latin-1"), "mode": info.mode, "uid": info.uid, "gid": info.gid,
                   "linkname": info.linkname,
                   "data": None if content is None else base64.b64encode(content).decode("ascii")}
            for path, (info, content) in etc.items()}


def load(document: Mapping[str, Any]) -> Etc:
    """The `etc` that `dump` wrote; ValueError when it is not one."""
    etc: Etc = {}
    for path, entry in document.items():
        if not (path in NEEDED or path.startswith("skel/")) or ".." in path.split("/"):
            raise ValueError(f"unexpected path {path!r}")
        info = tarfile.TarInfo("etc/" + path)
        info.type = entry["type"].encode("latin-1")
        info.mode, info.uid, info.gid, info.linkname = (int(entry["mode"]), int(entry["uid"]), int(entry["gid"]),
                                                         str(entry["linkname"]))
        etc[path] = (info, None if entry["data"] is None else base64.b64decode(entry["data"]))
    return etc


class Cache:
    """The account files of images by image ID, in ds01's root-only state dir (0600: shadow lines); each entry
    is at most the bounds above (about 6 MiB as JSON), and ds01-release-stale drops it with the image."""

    def __init__(self, state: State) -> None:
        self.state = state

    @staticmethod
    def _name(image_id: str, kind: str = "") -> str | None:
        digest = image_id.split(":", 1)[-1]
        return account_cache_name(digest, kind) if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) \
            else None

    def get(self, image_id: str | None, kind: str = "") -> tuple[Etc, list[str]] | None:
        """(etc, warnings) stored for the image, or None; `kind` "groups": its group files only."""
        name = self._name(image_id or "", kind)
        if name is None:
            return None
        try:
            document = self.state.read(name, {})
            warnings = [str(w) for w in document["warnings"]]
            return (load(document["files"]), warnings) if document["files"] else None
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def put(self, image_id: str | None, etc: Etc, warnings: Iterable[str] = (), kind: str = "") -> None:
        name = self._name(image_id or "", kind)
        if name is not None:
            self.state.store(name, {"files": dump(etc), "warnings": list(warnings)})


def _table(content: bytes | None) -> list[Row]:
    """Lines of a colon file as lists of fields (None for a line that is not one)."""
    lines = content.decode("utf-8", "surrogateescape").splitlines() if content else []
    return [line.split(":") if ":" in line and not line.startswith("#") else line for line in lines]


def _text(rows: Iterable[Row]) -> bytes:
    return ("\n".join(":".join(r) if isinstance(r, list) else r for r in rows) + "\n").encode("utf-8",
                                                                                          "surrogateescape")


def _find(rows: Iterable[Row], index: int, value: str, width: int) -> list[str] | None:
    return next((r for r in rows if isinstance(r, list) and len(r) >= width and r[index] == value), None)


def _drop(rows: Iterable[Row], name: str) -> list[Row]:
    return [r for r in rows if not (isinstance(r, list) and r and r[0] == name)]


class _Files:
    """passwd, group, shadow and gshadow of the image, edited as useradd, usermod and groupadd would."""

    def __init__(self, etc: Etc) -> None:
        if "passwd" not in etc or etc["passwd"][1] is None:
            raise BadImage("the image has no regular /etc/passwd")
        self.etc = etc
        self.rows: dict[str, list[Row]] = {n: _table(etc[n][1]) for n in ("passwd", "group", "shadow", "gshadow")
                                           if n in etc and etc[n][1] is not None}
        self.changed: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.rows

    def group_gid(self, name: str) -> str | None:
        row = _find(self.rows["group"], 0, name, 3) if self.has("group") else None
        return row[2] if row else None

    def add_group(self, name: str, gid: int) -> None:
        self.rows.setdefault("group", []).append([name, "x", str(gid), ""])
        if self.has("gshadow"):
            self.rows["gshadow"].append([name, "!", "", ""])
            self.changed.add("gshadow")
        self.changed.add("group")

    def ensure_group(self, login: str, gid: int) -> None:
        rows = self.rows.setdefault("group", [])
        if _find(rows, 2, str(gid), 3):
            return
        named = _find(rows, 0, login, 3)
        if named:
            named[2] = str(gid)
            self.changed.add("group")
        else:
            self.add_group(login, gid)

    def set_groups(self, groups: Mapping[str, int]) -> None:
        """The groups ds01 gives ({name: the host's gid}): one line each with the host's gid; the image's lines of
        those names go, and so do lines named like those gids (Docker would resolve "44" by name first)."""
        taken = set(groups) | {str(gid) for gid in groups.values()}
        for table in ("group", "gshadow"):
            if self.has(table):
                self.rows[table] = [r for r in self.rows[table] if not (isinstance(r, list) and r and r[0] in taken)]
        self.rows.setdefault("group", [])
        for name, gid in groups.items():
            self.add_group(name, gid)
        self.changed.add("group")

    def ensure_user(self, login: str, uid: int, gid: int) -> str:
        """The account `login` with `uid` and `gid`; returns its home."""
        passwd = self.rows["passwd"]
        holder = _find(passwd, 2, str(uid), 7)
        self.changed.add("passwd")
        if holder is not None and holder[0] != login:  # e.g. Ubuntu 24.04's ubuntu (1000): renamed, as usermod -l
            old = holder[0]
            self.rows["passwd"] = [r for r in passwd if r is holder or not (isinstance(r, list) and r[0] == login)]
            holder[0], holder[3], holder[5], holder[6] = login, str(gid), f"/home/{login}", "/bin/bash"
            if self.has("shadow"):
                shadow = _drop(self.rows["shadow"], login)
                row = _find(shadow, 0, old, 2)
                if row:
                    row[0] = login
                self.rows["shadow"] = shadow
        elif holder is not None:
            holder[3], holder[6] = str(gid), "/bin/bash"
        else:
            self.rows["passwd"] = _drop(passwd, login) + [[login, "x", str(uid), str(gid), "", f"/home/{login}",
                                                            "/bin/bash"]]
            if self.has("shadow"):
                self.rows["shadow"] = _drop(self.rows["shadow"], login)
        self._no_password(login)
        return _home(_find(self.rows["passwd"], 0, login, 7)[5], login)  # type: ignore[index]  # written above

    def _no_password(self, login: str) -> None:
        """passwd -d: an empty password (the account is for `docker exec`; there is no login)."""
        if self.has("shadow"):
            row = _find(self.rows["shadow"], 0, login, 2)
            if row is None:
                self.rows["shadow"].append([login, "", str(int(time.time() // 86400)), "0", "99999", "7", "", "",
                                            ""])
            else:
                row[1] = ""
            self.changed.add("shadow")
        else:
            _find(self.rows["passwd"], 0, login, 7)[1] = ""  # type: ignore[index]  # ensure_user wrote it

    def members(self) -> Iterator[Member]:
        """(TarInfo, bytes) of each changed file: root's, 0644 (passwd, group) or 0640 with the image's group
        (shadow, gshadow), whatever owner and mode the image gave them; and /etc as root's 0755 directory."""
        yield _new("etc", 0o755, kind=tarfile.DIRTYPE), None
        for name in sorted(self.changed):
            data = _text(self.rows[name])
            info = _new(f"etc/{name}", 0o644 if name in ("passwd", "group") else 0o640)
            if name in ("shadow", "gshadow") and name in self.etc:
                info.gid = self.etc[name][0].gid
            info.size = len(data)
            yield info, data


def _copy(original: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = original.mode, original.uid, original.gid, time.time()
    return info


def _new(name: str, mode: int, uid: int = 0, gid: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime, info.type = mode, uid, gid, time.time(), kind
    return info


def shell_lines(home: str, prompt: str) -> str:
    """What ds01 adds to .bashrc: the user's ~/.local/bin first, and the container's name in the prompt."""
    return "\n".join((MARKER, f'export PATH="{home}/.local/bin:$PATH"',
                      "export PS1=" + shlex.quote(f"[{prompt}] ") + "'$(whoami)@$(hostname):${PWD#*}$ '")) + "\n"


def _with_lines(content: bytes | None, home: str, prompt: str) -> bytes:
    text = (content or b"").decode("utf-8", "surrogateescape")
    if MARKER in text:
        return content or b""
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + shell_lines(home, prompt)).encode("utf-8", "surrogateescape")


def existing_home(etc: Etc, account: Account) -> str | None:
    """The home of an account the image already has for this login and uid (its .bashrc is then kept)."""
    files = _Files(etc)
    row = _find(files.rows["passwd"], 2, str(account.uid), 7)
    return _home(row[5], account.login) if row is not None and row[0] == account.login else None


SYSTEM_DIRS = {"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "proc", "root", "run", "sbin", "sys", "tmp",
               "usr", "var"}


def _home(path: str | None, login: str) -> str:
    """The image's home for the account if it is a directory of its own (made the caller's), else /home/LOGIN."""
    parts = posixpath.normpath(path or "/").split("/")
    if path and path.startswith("/") and len(parts) >= 3 and parts[1] not in SYSTEM_DIRS and ".." not in parts:
        return "/".join(parts)
    return f"/home/{login}"


def _tar(members: Iterable[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.GNU_FORMAT) as tar:
        for info, content in members:
            info.uname = info.gname = ""
            if content is not None:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def group_layer(etc: Etc, groups: Mapping[str, int]) -> Layer:
    """The tar to extract at / of a created container whose image has the caller's account already: only the
    groups ds01 gives, as `layer` writes them."""
    # the passwd is not changed: any (or none) will do, and its TarInfo is never read
    files = _Files({"passwd": (cast(tarfile.TarInfo, None), b""), **etc})
    files.set_groups(groups)
    return Layer(_tar(files.members()), "")


def layer(etc: Etc, account: Account, bashrc: bytes | None = None,
          groups: Mapping[str, int] | None = None) -> Layer:
    """The tar to extract at / of a created container: the account, its home and its shell lines, and the
    supplementary groups ds01 gives (`groups`: {name: the host's gid}).

    `bashrc`: the current ~/.bashrc of an account the image already has (existing_home), to keep.
    """
    files = _Files(etc)
    files.ensure_group(account.login, account.gid)
    home = files.ensure_user(account.login, account.uid, account.gid)
    files.set_groups(groups or {})
    members = list(files.members())
    warnings: list[str] = []
    if account.sudo:
        if "sudoers" in etc:
            members.append((_new("etc/sudoers.d", 0o755, kind=tarfile.DIRTYPE), None))
            text = f"{account.login} ALL=(ALL) NOPASSWD: ALL\n".encode()
            members.append((_new(f"etc/sudoers.d/{account.sudoers_file}", 0o440), text))
        else:
            warnings.append("this image has no sudo, so your container has none (add it to your image)")
    skel_bashrc = etc.get("skel/.bashrc", (None, b""))[1] or b""
    if "skel/.bashrc" in etc or ("skel" in etc and etc["skel"][0].isdir()):
        original = etc.get("skel/.bashrc", (None, None))[0]
        info = _copy(original, "etc/skel/.bashrc") if original is not None else _new("etc/skel/.bashrc", 0o644)
        members.append((info, _with_lines(skel_bashrc, home, account.prompt)))
    members.append((_new(home.lstrip("/"), 0o750, account.uid, account.gid, tarfile.DIRTYPE), None))
    if bashrc is None:  # a new home, from /etc/skel as useradd -m makes it
        for path, (info, content) in sorted(etc.items()):
            if not path.startswith("skel/") or path == "skel/.bashrc" or not (info.isreg() or info.isdir()
                                                                                or info.issym()):
                continue
            copied = _copy(info, posixpath.join(home.lstrip("/"), path[len("skel/"):]))
            copied.uid, copied.gid, copied.type, copied.linkname = account.uid, account.gid, info.type, info.linkname
            members.append((copied, content if info.isreg() else None))
    members.append((_new(posixpath.join(home.lstrip("/"), ".bashrc"), 0o644, account.uid, account.gid),
                    _with_lines(skel_bashrc if bashrc is None else bashrc, home, account.prompt)))
    return Layer(_tar(members), home, warnings)
