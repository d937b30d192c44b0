"""What start, stop, pause, unpause and remove do to one container the caller found: once, for the container-*
commands (one container or a batch) and AIME's mlc-* pair alike. Each returns the container's record as it is
afterwards; the engine records the event."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .containers import ACTIVE, ContainerRecord, record
from .errors import Ds01Error

if TYPE_CHECKING:
    from .runtime import Runtime


def found(rt: Runtime, target: str) -> ContainerRecord:
    """The caller's container `target` names (Finder: another user's is refused, exit 5)."""
    result: ContainerRecord = rt.finder.find(target)
    return result


def _now(rt: Runtime, rec: ContainerRecord) -> ContainerRecord:
    return record(rt.api.inspect_container(rec["id"]))


def start(rt: Runtime, rec: ContainerRecord) -> ContainerRecord:
    """Start (or unpause) it; a GPU container only if its slots are still its own (sessions.start)."""
    from . import sessions  # lazy: ds01.sessions, 2 ms

    sessions.start(rt, rec)
    return _now(rt, rec)


def stop(rt: Runtime, rec: ContainerRecord, timeout: int = 10, force: bool = False) -> ContainerRecord:
    """Stop it if it runs (or is paused); a stopped one is left as it is."""
    if rec["status"] in ACTIVE:
        rt.progress(f"stopping {rec['name']} ...")
        rt.engine.stop(rec["id"], timeout=timeout, force=force)
    return _now(rt, rec)


def pause(rt: Runtime, rec: ContainerRecord) -> ContainerRecord:
    """Freeze its processes; it keeps its GPU slots and its memory."""
    if rec["status"] not in ("running", "paused"):
        raise Ds01Error(f"{rec['name']} is {rec['status']}; only a running container can be paused")
    if rec["status"] == "running":
        rt.engine.pause(rec["id"])
    return _now(rt, rec)


def unpause(rt: Runtime, rec: ContainerRecord) -> ContainerRecord:
    """Resume a paused one where it stopped."""
    if rec["status"] not in ("paused", "running"):
        raise Ds01Error(f"{rec['name']} is {rec['status']}, not paused",
                        hint=f"container-start {rec['name']} starts a stopped container")
    if rec["status"] == "paused":
        rt.engine.unpause(rec["id"])
    return _now(rt, rec)


def remove(rt: Runtime, rec: ContainerRecord, force: bool = False, volumes: bool = False,
           warn: Callable[[str], object] | None = None) -> dict[str, Any]:
    """Remove it (killed first with `force`, refused while it runs without); with `volumes` also the anonymous
    volumes Docker made for it. The record says `removed` (and which volumes went)."""
    _removable(rec, force)
    anonymous = anonymous_volumes(rt, rec) if volumes else []
    note = rt.engine.remove(rec["id"], force=force, volumes=volumes)
    if note and warn is not None:
        warn(note)
    removed: dict[str, Any] = dict(rec, status="removed")
    if volumes:
        removed["volumes_removed"] = anonymous
    return removed


def would_remove(rt: Runtime, rec: ContainerRecord, force: bool = False, volumes: bool = False) -> list[str]:
    """What `remove` would do to it, refused as `remove` refuses, changing nothing (--dry-run)."""
    _removable(rec, force)
    return ((["kill"] if rec["status"] in ACTIVE else []) + ["remove"]
            + [f"remove volume {v}" for v in (anonymous_volumes(rt, rec) if volumes else [])])


def _removable(rec: ContainerRecord, force: bool) -> None:
    if rec["status"] in ACTIVE and not force:
        raise Ds01Error(f"{rec['name']} is {rec['status']}",
                        hint=f"container-stop {rec['name']} first, or container-remove --force")


def anonymous_volumes(rt: Runtime, rec: ContainerRecord) -> list[str]:
    """The volumes `docker rm -v` removes with the container: its anonymous ones (Docker named them itself)."""
    mounts = rt.api.inspect_container(rec["id"]).get("Mounts") or []
    return [m["Name"] for m in mounts if m.get("Type") == "volume" and re.fullmatch(r"[0-9a-f]{64}", m.get("Name", ""))]
