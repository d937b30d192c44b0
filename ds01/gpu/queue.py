"""The wait queue's order and its simulation: who would be served now, in priority then arrival order.

Entries live in the state dir (`gpu-queue.json`), written under the allocator lock; an entry
whose process has gone (pid and its start time) no longer counts.
"""

from typing import Any

from ..errors import NoCapacity, UsageError
from ..policy import Policy
from .choice import Request, Snapshot, choose
from .model import Slot


def pid_start(pid: int) -> str | None:
    """The start time (clock ticks after boot) of `pid`, which tells a reused pid apart; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(entry: dict[str, Any]) -> bool:
    """Whether the process that queued `entry` still runs."""
    start = pid_start(entry.get("pid", 0))
    return start is not None and start == entry.get("pid_start")


def queue_order(entry: dict[str, Any]) -> tuple[int, float, str]:
    return (-int(entry.get("priority", 0)), entry.get("enqueued_at", 0), entry.get("id", ""))


def simulate(snap: Snapshot, policy: Policy, entries: list[dict[str, Any]], strategy: str) -> dict[str, list[Slot]]:
    """Serve the queue on this snapshot, in priority then arrival order: {entry id: slots} for those who fit now.

    A waiter whose request does not fit does not block those behind it (they may use what is left).
    """
    served = {}
    for entry in sorted(entries, key=queue_order):
        limits = policy.resolve(entry["user"])
        try:
            slots = choose(snap, entry["user"], limits, Request.from_record(entry), strategy)
        except (NoCapacity, UsageError):
            continue
        snap.claim(("queue", entry["id"]), entry["user"], [s.id for s in slots])
        served[entry["id"]] = slots
    return served
