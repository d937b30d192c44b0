"""Containers as records: built from one `docker ps` query, owned by a user, found by name."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

from . import labels as L
from . import names
from .clock import iso as iso  # re-exported: ds01.images and ds01.gpu.allocator take it from here
from .clock import parse_docker, parse_moment
from .errors import NotFound, PermissionDenied, UsageError
from .output import render_fitted, render_table

if TYPE_CHECKING:
    from .dockerapi import DockerAPI
    from .identity import User

TABLE_COLUMNS = [("name", "NAME"), ("user", "USER"), ("status", "STATUS"), ("image", "IMAGE"),
                 ("gpus", "GPUS"), ("created_at", "CREATED"), ("workspace", "WORKSPACE")]  # --wide
# What fits 80 columns (as `docker ps`): your own images by name, GPUs by short ID, age instead of a date.
NARROW_COLUMNS = [("name", "NAME"), ("status", "STATUS"), ("image", "IMAGE"), ("gpus", "GPUS"),
                  ("created_at", "CREATED")]
INTERNAL_TAG_RE = re.compile(r"^(?P<repo>.+):[^:/]+\._\.\d+(?:\.previous)?$")

# Container states by what a command accepts.
ACTIVE = ("running", "paused", "restarting")
INACTIVE = ("created", "exited", "dead")



class ContainerRecord(TypedDict):
    """A container as every command prints it: exactly the keys of docs/records.md, "Container record" (a test
    compares). Commands that add keys (`--detailed`, container-retire, `--cluster`) build a new dict from it."""

    name: str
    container: str
    id: str
    user: str | None
    uid: int | None
    status: str
    image: str
    framework: str | None
    gpus: list[str]
    created_at: str
    workspace: str | None
    managed: bool
    interface: str | None
    group: str | None
    status_text: str


_LOGINS: dict[int, str | None] = {}
_LEGACY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _login_of(uid: int) -> str | None:
    if uid not in _LOGINS:
        from .identity import lookup  # lazy: ds01.identity, 1 ms

        user = lookup(uid)
        _LOGINS[uid] = user.login if user else None
    return _LOGINS[uid]


def _uid_of(login: str) -> int | None:
    from .identity import lookup  # lazy: ds01.identity, 1 ms

    user = lookup(login)
    return user.uid if user else None


def _workspace(labels: Mapping[str, Any], mounts: list[dict[str, Any]] | None) -> str | None:
    recorded: str | None = L.first(labels, L.WORK_MOUNT, L.DS01_WORK_MOUNT)
    if recorded:
        return recorded
    for mount in mounts or []:
        if mount.get("Destination") == "/workspace":
            source: str | None = mount.get("Source")
            return source
    return None


def record(entry: dict[str, Any]) -> ContainerRecord:
    """The container record for one engine `ps` entry (or an inspect result)."""
    if "Config" in entry:  # an inspect result: reshape to the ps form
        entry = {"Id": entry["Id"], "Names": [entry["Name"]], "Labels": entry["Config"].get("Labels") or {},
                 "State": entry["State"]["Status"], "Status": entry["State"]["Status"],
                 "Image": entry["Config"]["Image"], "Mounts": entry.get("Mounts"),
                 "Created": _parse_created(entry.get("Created"))}
    labels = entry.get("Labels") or {}
    docker_name = entry["Names"][0].lstrip("/")
    base, uid = names.split(docker_name)
    user = L.owner(labels)
    if user is None and uid is not None:
        user = _login_of(uid)
    if uid is None and user is not None:
        uid = _uid_of(user)
    created = L.first(labels, L.CREATED_AT, L.DS01_CREATED_AT) or iso(entry.get("Created") or 0)
    return {
        "name": L.first(labels, L.NAME, L.DS01_NAME) or base,
        "container": docker_name,
        "id": entry["Id"][:12],
        "user": user,
        "uid": uid,
        "status": cast(str, entry.get("State")),
        "image": cast(str, users_image(L.first(labels, L.IMAGE) or entry.get("Image"))),
        "framework": L.first(labels, L.FRAMEWORK, L.DS01_FRAMEWORK),
        "gpus": L.gpu_uuids(labels),
        "created_at": created,
        "workspace": _workspace(labels, entry.get("Mounts")),
        "managed": labels.get(L.MANAGED) == "true" or labels.get(L.DS01_MANAGED) == "true",
        "interface": L.first(labels, L.INTERFACE, L.DS01_INTERFACE),
        "group": L.first(labels, L.GROUP),
        "status_text": cast(str, entry.get("Status")),
    }


def users_image(ref: str | None) -> str | None:
    """The image a user named, for a per-container tag (`<repo>:<name>._.<uid>`, or `….previous` after
    container-recreate): ds01 images as `ds01-<uid>/NAME:latest`, others by repository."""
    match = INTERNAL_TAG_RE.match(ref or "")
    if not match:
        return ref
    repo = match.group("repo")
    return f"{repo}:latest" if re.match(r"^ds01-\d+/", repo) else repo


def short_image(ref: str | None, uid: int | None = None) -> str | None:
    """`ds01-<uid>/NAME:latest` as `NAME` (what the owner types), `:TAG` kept when not latest; others unchanged."""
    match = re.match(r"^ds01-(\d+)/([^:@]+)(?::([^@]+))?$", ref or "")
    if not match or (uid is not None and int(match.group(1)) != uid):
        return ref
    return match.group(2) if match.group(3) in (None, "latest") else f"{match.group(2)}:{match.group(3)}"


def short_gpu(uuid: object) -> str:
    """`GPU-1a2b3c4d-…` as `GPU-1a2b3c4d` (unique in practice, as Docker's 12-character IDs)."""
    text = str(uuid)
    return text[:12] if text[:4] in ("GPU-", "MIG-") else text


def age(moment: str | None, now: float | None = None) -> str | None:
    """`5m`, `3h`, `2d` since an ISO time (what `docker ps` shows as CREATED); the text when unreadable."""
    if not moment:
        return moment
    try:
        then = parse_moment(moment).timestamp()
    except ValueError:
        return moment
    seconds = max(0, int((now or time.time()) - then))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], wide: bool = False,
          width: int | None = None, caller_uid: int | None = None) -> str:
    """The container table: every column whole with `wide`, else shortened cells cut to `width`."""
    if wide:
        return render_table(rows, columns)
    shown = [dict(r, image=short_image(r.get("image"), caller_uid), gpus=[short_gpu(g) for g in r.get("gpus") or []],
                  created_at=age(r.get("created_at"))) for r in rows]
    return render_fitted(shown, columns, width)


def _parse_created(text: str | None) -> float:
    try:
        moment = parse_docker(text)
    except ValueError:
        return 0
    return moment.timestamp() if moment else 0


def is_listed(entry: Mapping[str, Any]) -> bool:
    """Containers that belong to someone: AIME/DS01/ds01 labels or a `._.<uid>` name."""
    if L.is_tracked(entry.get("Labels") or {}):
        return True
    return names.split(entry["Names"][0])[1] is not None


def owned_by(rec: ContainerRecord, user: User) -> bool:
    return rec["user"] == user.login or (rec["uid"] is not None and rec["uid"] == user.uid)


class Finder:
    """Resolves what users type (a name, a full `name._.uid`, an id) to their containers, with ownership."""

    def __init__(self, api: DockerAPI, caller: User, admin: bool) -> None:
        self.api, self.caller, self.admin = api, caller, admin
        self._entries: list[dict[str, Any]] | None = None

    @property
    def entries(self) -> list[dict[str, Any]]:
        if self._entries is None:
            self._entries = self.api.containers(all=True)
        return self._entries

    def refresh(self) -> None:
        self._entries = None

    def records(self) -> list[ContainerRecord]:
        return [record(e) for e in self.entries if is_listed(e)]

    def find(self, target: str) -> ContainerRecord:
        """The record for `target`; NotFound / PermissionDenied / UsageError as appropriate.

        The target is validated before Docker is asked anything.
        """
        target = target.strip().lstrip("/")
        if names.SEPARATOR in target:
            base, uid = names.split(target)
            if uid is None or not _LEGACY_NAME_RE.match(base):
                raise UsageError(f"invalid container name {target!r}")
            candidates = [target]
        elif _LEGACY_NAME_RE.match(target):
            # Exactly as typed first (AIME allows `MyBox`; AIME v1 names have no uid suffix), then
            # ds01's lower-case form of it.
            candidates = [names.container_name(target, self.caller.uid), target]
            if names.NAME_RE.match(target.lower()) and target.lower() != target:
                candidates += [names.container_name(target.lower(), self.caller.uid), target.lower()]
        else:
            names.validate(target)  # raises with the naming rules
            candidates = []
        by_name = {e["Names"][0].lstrip("/"): e for e in self.entries}
        entry = next((by_name[c] for c in candidates if c in by_name), None)
        if entry is None and candidates:
            entry = self._in_any_case(target)
        if entry is None and len(target) >= 12 and all(c in "0123456789abcdef" for c in target):
            entry = next((e for e in self.entries if e["Id"].startswith(target)), None)
        if entry is None:
            raise NotFound(f"no container {target!r}", hint="container-list -a shows your containers")
        rec = record(entry)
        if not owned_by(rec, self.caller) and not self.admin:
            raise PermissionDenied(f"container {rec['container']!r} belongs to {rec['user'] or 'someone else'}",
                                   hint="you can only act on your own containers")
        return rec

    def _in_any_case(self, target: str) -> dict[str, Any] | None:
        """The caller's one container whose name equals `target` but for case (`mybox` for `MyBox`); None if
        none, UsageError if several (AIME itself may have made both)."""
        mine: dict[str, dict[str, Any]] = {}
        for entry in self.entries:
            base, uid = names.split(entry["Names"][0])
            if uid == self.caller.uid and names.same(base, target):
                mine[base] = entry
        if len(mine) > 1:
            found = ", ".join(sorted(mine))
            raise UsageError(f"{target!r} could mean {found}", hint="type the name exactly as container-list -a "
                                                                     "shows it")
        return next(iter(mine.values()), None)
