"""The caller's account in a new container, written as files into the container's own layer.

AIME runs a setup container as root from the user's image, commits it and makes the final
container from that commit. ds01 instead reads the image's /etc through the engine's archive API,
edits passwd, group, shadow and gshadow here, and puts the result (plus the home from /etc/skel,
the sudoers drop-in and the shell lines) into the created container before its first start. Nothing
of the image runs as root, there is no commit and no extra image, and it is about 150 ms quicker.

The image's files are untrusted text: lines that do not parse are kept as they are, paths come
only from here, and only the caller's own container is written (the engine extracts inside it).
"""

import io
import posixpath
import shlex
import tarfile
import time
from dataclasses import dataclass, field

MAX_ETC = 64 << 20  # an /etc bigger than this is refused rather than read into memory
MARKER = "# ds01: container shell"
SYSTEM_GIDS = range(999, 99, -1)  # where groupadd -r looks for a free gid (Debian's SYS_GID_MIN..MAX)


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
    warnings: list = field(default_factory=list)


class BadImage(ValueError):
    """The image's /etc cannot be read as accounts (its passwd is missing or not a file)."""


NEEDED = ("passwd", "group", "shadow", "gshadow", "sudoers", "skel")


def read_etc(data):
    """{path under /etc: (TarInfo, bytes or None)} of what the account needs, from the engine's tar of /etc."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            name = posixpath.normpath(info.name)
            path = name[len("etc/"):] if name.startswith("etc/") else None
            if path is None or not (path in NEEDED or path.startswith("skel/")):
                continue
            handle = tar.extractfile(info) if info.isreg() and path != "sudoers" else None
            found[path] = (info, handle.read() if handle is not None else None)
    return found


def dump(etc):
    """`etc` as JSON (for the cache: an image ID's /etc never changes)."""
    import base64

    return {path: {"type": info.type.decode("latin-1"), "mode": info.mode, "uid": info.uid, "gid": info.gid,
                   "linkname": info.linkname,
                   "data": None if content is None else base64.b64encode(content).decode("ascii")}
            for path, (info, content) in etc.items()}


def load(document):
    """The `etc` that `dump` wrote; ValueError when it is not one."""
    import base64

    etc = {}
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
    """The account files of images by image ID, in ds01's root-only state dir (0600: shadow lines)."""

    def __init__(self, state):
        self.state = state

    @staticmethod
    def _name(image_id):
        digest = image_id.split(":", 1)[-1]
        return f"image-etc-{digest}.json" if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) \
            else None

    def get(self, image_id):
        name = self._name(image_id or "")
        if name is None:
            return None
        try:
            return load(self.state.read(name, {})) or None
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, image_id, etc):
        name = self._name(image_id or "")
        if name is not None:
            self.state.store(name, dump(etc))


def _table(content):
    """Lines of a colon file as lists of fields (None for a line that is not one)."""
    lines = content.decode("utf-8", "surrogateescape").splitlines() if content else []
    return [line.split(":") if ":" in line and not line.startswith("#") else line for line in lines]


def _text(rows):
    return ("\n".join(":".join(r) if isinstance(r, list) else r for r in rows) + "\n").encode("utf-8",
                                                                                          "surrogateescape")


def _find(rows, index, value, width):
    return next((r for r in rows if isinstance(r, list) and len(r) >= width and r[index] == value), None)


def _drop(rows, name):
    return [r for r in rows if not (isinstance(r, list) and r and r[0] == name)]


class _Files:
    """passwd, group, shadow and gshadow of the image, edited as useradd, usermod and groupadd would."""

    def __init__(self, etc):
        if "passwd" not in etc or etc["passwd"][1] is None:
            raise BadImage("the image has no regular /etc/passwd")
        self.etc = etc
        self.rows = {n: _table(etc[n][1]) for n in ("passwd", "group", "shadow", "gshadow") if n in etc
                     and etc[n][1] is not None}
        self.changed = set()

    def has(self, name):
        return name in self.rows

    def group_gid(self, name):
        row = _find(self.rows["group"], 0, name, 3) if self.has("group") else None
        return row[2] if row else None

    def add_group(self, name, gid):
        self.rows.setdefault("group", []).append([name, "x", str(gid), ""])
        if self.has("gshadow"):
            self.rows["gshadow"].append([name, "!", "", ""])
            self.changed.add("gshadow")
        self.changed.add("group")

    def ensure_group(self, login, gid):
        rows = self.rows.setdefault("group", [])
        if _find(rows, 2, str(gid), 3):
            return
        named = _find(rows, 0, login, 3)
        if named:
            named[2] = str(gid)
            self.changed.add("group")
        else:
            self.add_group(login, gid)

    def ensure_system_group(self, name):
        rows = self.rows.setdefault("group", [])
        if _find(rows, 0, name, 3):
            return
        used = {r[2] for r in rows if isinstance(r, list) and len(r) >= 3}
        free = next((g for g in SYSTEM_GIDS if str(g) not in used), None)
        if free is not None:
            self.add_group(name, free)

    def ensure_user(self, login, uid, gid):
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
        return _home(_find(self.rows["passwd"], 0, login, 7)[5], login)

    def _no_password(self, login):
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
            _find(self.rows["passwd"], 0, login, 7)[1] = ""

    def members(self):
        """(TarInfo, bytes) of each changed file, with the image's own owner and mode."""
        for name in sorted(self.changed):
            data = _text(self.rows[name])
            if name in self.etc:
                info = _copy(self.etc[name][0], f"etc/{name}")
            else:
                info = _new(f"etc/{name}", 0o644 if name in ("passwd", "group") else 0o640)
            info.size = len(data)
            yield info, data


def _copy(original, name):
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = original.mode, original.uid, original.gid, time.time()
    return info


def _new(name, mode, uid=0, gid=0, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime, info.type = mode, uid, gid, time.time(), kind
    return info


def shell_lines(home, prompt):
    """What ds01 adds to .bashrc: the user's ~/.local/bin first, and the container's name in the prompt."""
    return "\n".join((MARKER, f'export PATH="{home}/.local/bin:$PATH"',
                      "export PS1=" + shlex.quote(f"[{prompt}] ") + "'$(whoami)@$(hostname):${PWD#*}$ '")) + "\n"


def _with_lines(content, home, prompt):
    text = (content or b"").decode("utf-8", "surrogateescape")
    if MARKER in text:
        return content or b""
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + shell_lines(home, prompt)).encode("utf-8", "surrogateescape")


def existing_home(etc, account):
    """The home of an account the image already has for this login and uid (its .bashrc is then kept)."""
    files = _Files(etc)
    row = _find(files.rows["passwd"], 2, str(account.uid), 7)
    return _home(row[5], account.login) if row is not None and row[0] == account.login else None


SYSTEM_DIRS = {"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "proc", "root", "run", "sbin", "sys", "tmp",
               "usr", "var"}


def _home(path, login):
    """The image's home for the account if it is a directory of its own (made the caller's), else /home/LOGIN."""
    parts = posixpath.normpath(path or "/").split("/")
    if path and path.startswith("/") and len(parts) >= 3 and parts[1] not in SYSTEM_DIRS and ".." not in parts:
        return "/".join(parts)
    return f"/home/{login}"


def layer(etc, account, bashrc=None):
    """The tar to extract at / of a created container: the account, its home and its shell lines.

    `bashrc`: the current ~/.bashrc of an account the image already has (existing_home), to keep.
    """
    files = _Files(etc)
    files.ensure_group(account.login, account.gid)
    home = files.ensure_user(account.login, account.uid, account.gid)
    for name in ("video", "sudo"):
        files.ensure_system_group(name)
    members = list(files.members())
    warnings = []
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
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.GNU_FORMAT) as tar:
        for info, content in members:
            info.uname = info.gname = ""
            if content is not None:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                tar.addfile(info)
    return Layer(buffer.getvalue(), home, warnings)
