"""GPU-hours and container-hours per user and per group, from the event log's allocations, releases, starts, stops.

The log is the one record of when each hold began and ended; Prometheus keeps only samples, and
only for its retention. A GPU hold runs from `gpu.allocate` to the container's `gpu.release` or
`container.remove` (a claim's: to its release, to the create that takes its slots, or to its
`expires_at`). A container runs from `container.start` to any stop event or its removal; one that
ended by itself (its command finished) ends at Docker's `FinishedAt`. Whatever is still open at the
end of the window counts up to it. Hours are GPU-equivalents × hours (a 1g.5gb slot counts 1/7),
clipped to the window; slot-hours count each slot as one. Groups are the policy's at report time.
"""

import gzip
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import clock, events
from .containers import is_listed, record
from .errors import NotFound
from .privilege import root_files

if TYPE_CHECKING:
    from .runtime import Runtime

RUN_ENDS = ("container.stop", "container.idle-stop", "container.runtime-stop", "container.pause-stop",
            "container.remove")


@dataclass
class Interval:
    kind: str  # "gpu" or "run"
    user: str
    container: str | None
    start: float
    end: float | None = None
    gpu_eq: float = 0.0
    slots: int = 0

    def hours(self, since: float, until: float) -> float:
        end = until if self.end is None else min(self.end, until)
        return max(0.0, end - max(self.start, since)) / 3600


@dataclass
class Totals:
    gpu_hours: float = 0.0
    slot_hours: float = 0.0
    container_hours: float = 0.0
    allocations: int = 0
    containers: set[str] = field(default_factory=set)


def log_files(path: str) -> list[str]:
    """The event log and its rotations (`events.jsonl.1`, `….2.gz`, `…-20261101.gz`), oldest first."""
    directory, base = os.path.split(path)
    with root_files():
        try:
            names = [n for n in os.listdir(directory) if n.startswith(base) and n != base]
        except OSError:
            names = []
        rotated = []
        for name in names:
            try:
                rotated.append((os.stat(os.path.join(directory, name)).st_mtime, name))
            except OSError:
                continue
    return [os.path.join(directory, n) for _, n in sorted(rotated)] + [path]


def read_all(path: str, skipped: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every event of the log and its rotations, oldest file first."""
    for name in log_files(path):
        if not name.endswith(".gz"):
            yield from events.read(name, skipped)
            continue
        try:
            with root_files(), gzip.open(name, "rt", encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except (OSError, EOFError):
            continue
        for line in lines:
            event = events._parse(line)
            if event is not None:
                yield event
            elif skipped is not None and line.strip():
                skipped.append(line)


def _moment(event: dict[str, Any]) -> float | None:
    try:
        return clock.parse_moment(event.get("timestamp") or "").timestamp()
    except ValueError:
        return None


def intervals(stream: Iterable[dict[str, Any]], claim_ttl: float = 120.0,
              finished: Callable[[str], float | None] | None = None) -> list[Interval]:
    """GPU holds and running spans from events in time order. `finished(name)`: when Docker says a stopped
    container ended (None if it runs or is gone); asked only for the runs still open at the end."""
    out: list[Interval] = []
    holds: dict[tuple[str, str], Interval] = {}  # ("container", name) or ("claim", id)
    claim_ends: dict[str, float] = {}
    runs: dict[str, Interval] = {}

    def close(table: dict[Any, Interval], key: Any, at: float) -> None:
        found = table.pop(key, None)
        if found is not None:
            found.end = max(found.start, at)

    for event in stream:
        at = _moment(event)
        if at is None:
            continue
        for cid in [c for c, end in claim_ends.items() if end <= at]:
            close(holds, ("claim", cid), claim_ends.pop(cid))
        kind, details, user = event["event_type"], event.get("details") or {}, event.get("user") or ""
        container = details.get("container") if isinstance(details.get("container"), str) else None
        claim = details.get("claim") if isinstance(details.get("claim"), str) else None
        if kind == "gpu.allocate":
            slots: list[Any] = details["slots"] if isinstance(details.get("slots"), list) else []
            try:
                eq = float(details.get("gpu_eq") or 0)
            except (TypeError, ValueError):
                eq = 0.0
            if claim and container:  # a create took the claim's slots
                close(holds, ("claim", claim), at)
                claim_ends.pop(claim, None)
            key = ("container", container) if container else ("claim", claim) if claim else None
            if key is None:
                continue
            close(holds, key, at)
            holds[key] = hold = Interval("gpu", user, container, at, gpu_eq=eq, slots=len(slots))
            out.append(hold)
            if key[0] == "claim":
                try:
                    claim_ends[key[1]] = clock.parse_moment(details["expires_at"]).timestamp()
                except (KeyError, ValueError):
                    claim_ends[key[1]] = at + claim_ttl
        elif kind == "gpu.release":
            if container:
                close(holds, ("container", container), at)
            elif claim:
                close(holds, ("claim", claim), at)
                claim_ends.pop(claim, None)
        elif kind == "container.start" and container and details.get("running", True):
            if container not in runs:
                runs[container] = Interval("run", user, container, at)
                out.append(runs[container])
        elif kind in RUN_ENDS and container:
            close(runs, container, at)
            if kind == "container.remove":
                close(holds, ("container", container), at)
    for cid, end in claim_ends.items():
        close(holds, ("claim", cid), end)
    for name, span in list(runs.items()):
        ended = finished(name) if finished else None
        if ended is not None and ended >= span.start:
            close(runs, name, ended)
    return out


def totals(spans: Iterable[Interval], since: float, until: float) -> dict[str, Totals]:
    """Per user: the hours of each span inside [since, until]."""
    out: dict[str, Totals] = {}
    for span in spans:
        if span.start > until or (span.end is not None and span.end < since):
            continue
        hours = span.hours(since, until)
        mine = out.setdefault(span.user, Totals())
        if span.kind == "gpu":
            mine.gpu_hours += span.gpu_eq * hours
            mine.slot_hours += span.slots * hours
            mine.allocations += 1
        else:
            mine.container_hours += hours
            if span.container:
                mine.containers.add(span.container)
    return out


def report(rt: "Runtime", since: float, until: float, by: str = "user") -> list[dict[str, Any]]:
    """Records of ds01-report: one per user (or per group), sorted by GPU-hours, most first."""
    stopped = {record(e)["container"]: e["Id"] for e in rt.api.containers(all=True)
               if e.get("State") != "running" and is_listed(e)}

    def finished(name: str) -> float | None:
        """One inspect, and only for a container whose run the log leaves open (most runs end in an event)."""
        if name not in stopped:
            return None
        try:
            info = rt.api.inspect_container(stopped[name])
        except NotFound:  # removed since the list: its container.remove ends its spans
            return None
        ended = clock.parse_docker(info["State"].get("FinishedAt"))
        return ended.timestamp() if ended is not None else None

    path = os.path.join(rt.settings.get("log_dir"), events.FILE_NAME)
    ttl = float(rt.policy.section("gpu_allocation").get("claim_ttl_s") or 120)
    per_user = totals(intervals(read_all(path), ttl, finished), since, until)
    window = {"since": clock.iso(since), "until": clock.iso(until)}

    def row(totals_: Totals) -> dict[str, Any]:
        return {"gpu_hours": round(totals_.gpu_hours, 4), "slot_hours": round(totals_.slot_hours, 4),
                "container_hours": round(totals_.container_hours, 4), "allocations": totals_.allocations,
                "containers": len(totals_.containers), **window}

    if by == "user":
        rows = [{"user": user, "group": _group(rt, user), **row(t)} for user, t in per_user.items()]
    else:
        groups: dict[str, tuple[set[str], Totals]] = {}
        for user, t in per_user.items():
            members, sums = groups.setdefault(_group(rt, user), (set(), Totals()))
            members.add(user)
            sums.gpu_hours += t.gpu_hours
            sums.slot_hours += t.slot_hours
            sums.container_hours += t.container_hours
            sums.allocations += t.allocations
            sums.containers |= t.containers
        rows = [{"group": g, "users": len(m), **row(t)} for g, (m, t) in groups.items()]
    return sorted(rows, key=lambda r: (-r["gpu_hours"], -r["container_hours"], r.get("user") or r["group"]))


def _group(rt: "Runtime", user: str) -> str:
    try:
        return str(rt.limits(user).group or "")
    except Exception:  # noqa: BLE001 - an account gone since: its hours still count, without a group
        return ""


def month_window(text: str) -> tuple[float, float]:
    """`YYYY-MM` as [its first second, the next month's first second) in UTC."""
    first = clock.parse_month(text)
    following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return first.timestamp(), following.timestamp()
