"""Choosing slots for a request on one snapshot: quotas, reservations and the strategy, with no I/O.

`Snapshot` is who holds, claims and reserves what at one moment; `choose` picks the slots a user
gets for a `Request` or raises an AllocationError naming the limit that stops it. `quota_error` is
the one GPU-equivalent quota check. The locked side (`allocator.py`) reads the snapshot under the
lock and acts on the choice.
"""

import datetime
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import NoCapacity, UsageError
from . import holdings as H
from .holdings import Holding
from .model import Inventory, Slot

if TYPE_CHECKING:
    from ..policy import Limits, Policy

EPS = 1e-6


def fmt(value: float) -> str:
    """GPU-equivalents for people: 0.428571 -> 0.429, 2.0 -> 2."""
    return format(round(value, 3), "g")


class AllocationError(NoCapacity):
    """No slot for this request; `reason` is the short code (USER_AT_LIMIT, NO_CAPACITY, ...)."""

    def __init__(self, reason: str, detail: str | None, message: str, hint: str | None = None) -> None:
        super().__init__(f"{reason}{f' ({detail})' if detail else ''}: {message}", hint=hint)
        self.reason = reason


def check_profile(inventory: Inventory, profile: str | None) -> None:
    """UsageError (exit 2) listing the profiles present when `profile` is not one of them."""
    if profile and profile not in inventory.profiles():
        present = ", ".join(inventory.profiles()) or "none (no MIG devices here)"
        raise UsageError(f"unknown --gpu-profile {profile!r}; profiles present: {present}")


@dataclass
class Request:
    count: int = 1
    profile: str | None = None
    full: bool = False

    def record(self) -> dict[str, Any]:
        return {"num_gpus": self.count, "gpu_profile": self.profile, "full_gpu": self.full}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Request":
        return cls(int(record.get("num_gpus") or 1), record.get("gpu_profile"), bool(record.get("full_gpu")))


@dataclass
class Reservation:
    user: str
    slots: frozenset[str]
    start: datetime.datetime
    end: datetime.datetime
    reason: str | None

    def active(self, now: datetime.datetime) -> bool:
        return self.start <= now < self.end


def reservations(policy: "Policy", slots: list[Slot]) -> list[Reservation]:
    """The policy's reservations with UUIDs turned into slot ids."""
    by_uuid = {s.uuid: s.id for s in slots}
    result = []
    for item in policy.data.get("reservations") or []:
        ids = set(item.get("slots") or []) | {by_uuid[u] for u in item.get("uuids") or [] if u in by_uuid}
        result.append(Reservation(item["user"], frozenset(ids), item["start"], item["end"], item.get("reason")))
    return result


class Snapshot:
    """Slots, who holds them, live claims and reservations at one moment."""

    def __init__(self, inventory: Inventory, holdings: list[Holding], claims: dict[Any, Any],
                 reservations_: list[Reservation], now: datetime.datetime) -> None:
        self.inventory = inventory
        self.slots = inventory.slots()
        self.by_id = {s.id: s for s in self.slots}
        self.by_uuid = {s.uuid: s for s in self.slots}
        self.holdings = holdings
        self.claims = dict(claims)
        self.now = now
        self.reservations = [r for r in reservations_ if r.active(now)]
        self.held: dict[str, list[Holding]] = {}  # slot id -> holdings that hold it (one pass, not one per question)
        for holding in holdings:
            if holding.holds:
                for slot_id in holding.slots:
                    self.held.setdefault(slot_id, []).append(holding)
        self.busy = self._host_processes()

    def _host_processes(self) -> dict[str, list[int]]:
        """Slots with compute processes that run in no container: host use, flagged and not given out."""
        ids = {h.id for h in self.holdings}
        busy: dict[str, list[int]] = {}
        for slot in self.slots:
            for process in slot.processes:
                if process.container:  # a simulated process that says which container it runs in
                    continue
                if not H.in_a_container(process.pid, ids):
                    busy.setdefault(slot.id, []).append(process.pid)
        return busy

    def holders(self, slot_id: str, exclude: str | None = None) -> list[Holding]:
        return [h for h in self.held.get(slot_id, ()) if h.id != exclude]

    def claimants(self, slot_id: str, exclude: Any = None) -> list[tuple[Any, dict[str, Any]]]:
        return [(cid, c) for cid, c in self.claims.items() if slot_id in c.get("slots", ()) and cid != exclude]

    def reserved_for(self, slot_id: str) -> Reservation | None:
        for reservation in self.reservations:
            if slot_id in reservation.slots:
                return reservation
        return None

    def state(self, slot_id: str, login: str | None = None, exclude_container: str | None = None,
              exclude_claim: Any = None) -> str:
        """free / held / claimed / busy-host / reserved, as `login` would see it."""
        if self.holders(slot_id, exclude_container):
            return "held"
        if self.claimants(slot_id, exclude_claim):
            return "claimed"
        if slot_id in self.busy:
            return "busy-host"
        reservation = self.reserved_for(slot_id)
        if reservation and reservation.user != login:
            return "reserved"
        return "free"

    def usage(self, login: str, exclude_container: str | None = None,
              exclude_claim: Any = None) -> tuple[float, list[str]]:
        """(GPU-equivalents, slot ids) the user holds through containers and claims."""
        held = []
        for holding in self.holdings:
            if holding.holds and holding.user == login and holding.id != exclude_container:
                held += holding.slots
        for cid, claim in self.claims.items():
            if claim.get("user") == login and cid != exclude_claim:
                held += claim.get("slots", [])
        held = [s for s in dict.fromkeys(held) if s in self.by_id]
        return sum(self.by_id[s].weight for s in held), held


    def slot_records(self) -> list[dict[str, Any]]:
        """One record per slot, as gpu-status prints them (docs/records.md)."""
        records = []
        for slot in self.slots:
            holders = self.holders(slot.id)
            claims = self.claimants(slot.id)
            reservation = self.reserved_for(slot.id)
            state = self.state(slot.id)
            users = [h.user for h in holders] + [c.get("user") for _, c in claims]
            records.append({
                "slot": slot.id, "uuid": slot.uuid, "gpu": slot.gpu, "type": slot.type, "profile": slot.profile,
                "gpu_eq": round(slot.weight, 4), "memory_used": slot.memory_used, "memory_total": slot.memory_total,
                "utilization": slot.utilization, "state": state,
                "containers": [h.container for h in holders], "users": list(dict.fromkeys(u for u in users if u)),
                "claims": [cid for cid, _ in claims],
                "reserved_for": reservation.user if reservation else None,
                "reservation_reason": reservation.reason if reservation else None,
                "host_pids": self.busy.get(slot.id, []),
            })
        return records

    def claim(self, key: Any, login: str, slot_ids: Iterable[str]) -> None:
        """Mark slots as claimed by `login` in this snapshot only (queue simulation)."""
        self.claims[key] = {"user": login, "slots": list(slot_ids)}

    def loads(self) -> dict[int, float]:
        """Per GPU, the share of its weight that is not free (0 idle .. 1 full)."""
        total: dict[int, float] = {}
        taken: dict[int, float] = {}
        for slot in self.slots:
            total[slot.gpu] = total.get(slot.gpu, 0.0) + slot.weight
            if self.state(slot.id) != "free":
                taken[slot.gpu] = taken.get(slot.gpu, 0.0) + slot.weight
        return {gpu: taken.get(gpu, 0.0) / (weight or 1.0) for gpu, weight in total.items()}


def choose(snap: Snapshot, login: str, limits: "Limits", request: Request, strategy: str = "spread") -> list[Slot]:
    """The slots `login` gets for `request` now, or AllocationError naming the limit that stops it."""
    cap = limits["max_gpu_slots_per_container"]
    if cap is not None and request.count > cap:
        raise AllocationError("EXCEEDS_CONTAINER_LIMIT", f"{request.count}>{cap}",
                              f"one container may have at most {cap} GPU slot{'s' if cap != 1 else ''}",
                              hint=f"ask for --num-gpus {cap} or fewer")
    if request.full and not limits["allow_full_gpu"]:
        raise AllocationError("MIG_ONLY", None, "your group may use MIG slices only, not whole GPUs",
                              hint="drop --full-gpu")
    check_profile(snap.inventory, request.profile)
    used, _ = snap.usage(login)
    error = quota_error(limits, used)
    if error:
        raise error
    free = [s for s in snap.slots if snap.state(s.id, login) == "free"]
    fitting = free
    if not limits["allow_full_gpu"]:
        fitting = [s for s in fitting if s.is_mig]
    if request.full:
        fitting = [s for s in fitting if not s.is_mig]
    if request.profile:
        fitting = [s for s in fitting if s.profile == request.profile]
    chosen: list[Any] = []
    total, blocked = used, None
    remaining = list(fitting)
    while remaining and len(chosen) < request.count:
        remaining.sort(key=functools.partial(_preference, snap, login, strategy, snap.loads()))
        slot = remaining.pop(0)
        over = quota_error(limits, total, slot.weight, request, reported_use=used)
        if over:
            blocked = blocked or over
            continue
        chosen.append(slot)
        total += slot.weight
        snap.claim(("choosing", login), login, [s.id for s in chosen])
    snap.claims.pop(("choosing", login), None)
    if len(chosen) == request.count:
        return chosen
    if blocked:
        raise blocked
    if not limits["allow_full_gpu"] and any(not s.is_mig for s in free) and not fitting:
        raise AllocationError("MIG_ONLY", None, "only whole GPUs are free and your group may use MIG slices only",
                              hint="--wait for a MIG slice, or --cpu-only")
    what = request.profile or ("whole GPU" if request.full else "GPU slot")
    raise AllocationError("NO_CAPACITY", f"{len(fitting)} free of {request.count} needed",
                          f"no {what} free for you now ({len(snap.slots)} slots on this host)",
                          hint="--wait queues for one; gpu-status shows who holds what; --cpu-only needs no GPU")


def check_claim(snap: Snapshot, login: str, limits: "Limits", cid: Any, slot_ids: list[str]) -> None:
    """A claim about to become a container is held to the limits a fresh request would meet (the state
    file is data, not authority): the per-container cap, whole GPUs, and the GPU-equivalent bounds."""
    slots = [snap.by_id[s] for s in slot_ids]
    cap = limits["max_gpu_slots_per_container"]
    if cap is not None and len(slots) > cap:
        raise AllocationError("EXCEEDS_CONTAINER_LIMIT", f"{len(slots)}>{cap}",
                              f"claim {cid} holds {len(slots)} GPU slots; one container may have at most {cap}",
                              hint=f"gpu-allocate --num-gpus {cap} makes a claim within it")
    if not limits["allow_full_gpu"] and any(not s.is_mig for s in slots):
        raise AllocationError("MIG_ONLY", None, f"claim {cid} holds a whole GPU; your group may use MIG slices only",
                              hint="gpu-allocate makes a claim within your limits")
    used, _ = snap.usage(login, exclude_claim=cid)
    error = quota_error(limits, used, sum(s.weight for s in slots), Request(len(slots)), reported_use=used)
    if error:
        raise error


def gpu_bounds(limits: "Limits") -> list[tuple[float, str]]:
    """[(GPU-eq bound, refusal reason)] that apply to a user: max_gpu_equivalents and aggregate.gpu_limit."""
    pairs = ((limits["max_gpu_equivalents"], "USER_AT_LIMIT"),
             ((limits.aggregate or {}).get("gpu_limit"), "AGGREGATE_GPU_LIMIT"))
    return [(value, name) for value, name in pairs if value is not None]


def binding_limit(limits: "Limits") -> tuple[float | None, str | None]:
    """(GPU-eq, which key) of the tighter of the two bounds, what a user can really hold; (None, None) if neither."""
    bounds = gpu_bounds(limits)
    if not bounds:
        return None, None
    value, name = min(bounds, key=lambda pair: pair[0])
    return value, ("aggregate.gpu_limit" if name == "AGGREGATE_GPU_LIMIT" else "max_gpu_equivalents")


def quota_error(limits: "Limits", used: float, weight: float = 0.0, request: Request | None = None,
                reported_use: float | None = None) -> "AllocationError | None":
    """The AllocationError when `weight` more GPU-eq on top of `used` passes a bound (with no weight: when
    `used` already reaches one), else None. The one quota check: choosing, and starting a stopped container.
    `reported_use` is the use the message names (what the user holds, before this request)."""
    for bound, name in gpu_bounds(limits):
        if (used + weight > bound + EPS) if weight else (used + EPS >= bound):
            return _at_limit(name, used if reported_use is None else reported_use, bound, request)
    return None


def _at_limit(name: str, used: float, bound: float, request: Request | None = None) -> "AllocationError":
    scope = "you hold" if name == "USER_AT_LIMIT" else "your containers together hold"
    more = " and this request would exceed it" if request else ""
    return AllocationError(name, f"{fmt(used)}/{fmt(bound)} GPU-eq", f"{scope} {fmt(used)} of {fmt(bound)} "
                           f"GPU-equivalents{more}",
                           hint="stop and gpu-release a container, or ask for a smaller MIG slice (--gpu-profile)")


PLACEMENTS = ("smallest", "largest")  # which free slot a request for "a GPU" gets first (gpu_allocation.placement)


def with_placement(strategy: str, placement: str | None) -> str:
    """The one strategy word choose() takes: `spread` or `pack`, and `/largest` when the policy places the
    largest free slot first (the default, smallest fit, keeps whole GPUs for the requests that need them)."""
    return f"{strategy}/largest" if placement == "largest" else strategy


def _preference(snap: Snapshot, login: str, strategy: str, loads: dict[int, float],
                slot: Slot) -> tuple[int, float, float, int, tuple[int, ...]]:
    reservation = snap.reserved_for(slot.id)
    mine = 0 if reservation and reservation.user == login else 1
    spread, _, placement = strategy.partition("/")
    if placement == "largest":  # the biggest slot first, then the least (spread) or most (pack) loaded GPU
        return (mine, -slot.weight, loads[slot.gpu] if spread == "spread" else -loads[slot.gpu], slot.gpu,
                _slot_order(slot.id))
    order = loads[slot.gpu] if spread == "spread" else -loads[slot.gpu]
    return (mine, order, slot.weight, slot.gpu, _slot_order(slot.id))


def bigger_free(snap: Snapshot, login: str, limits: "Limits", chosen: list[Slot]) -> Slot | None:
    """A free whole GPU `login` could have had instead of the MIG slices `chosen` (smallest fit gave those), or None."""
    if not chosen or not all(s.is_mig for s in chosen) or not limits["allow_full_gpu"]:
        return None
    taken = {s.id for s in chosen}
    for slot in snap.slots:
        if not slot.is_mig and slot.id not in taken and snap.state(slot.id, login) == "free":
            return slot
    return None


def _slot_order(slot_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in slot_id.split("."))


def user_record(snap: Snapshot, login: str, limits: "Limits", strategy: str = "spread") -> dict[str, Any]:
    """A user's GPU standing: what they hold, their limits, and what they could still get now."""
    used, held = snap.usage(login)
    limit = limits["max_gpu_equivalents"]
    bound, limited_by = binding_limit(limits)
    cap = limits["max_gpu_slots_per_container"]
    could = 0
    for count in range(1, (cap if cap is not None else len(snap.slots)) + 1):
        try:
            choose(snap, login, limits, Request(count), strategy)
        except (NoCapacity, UsageError):
            break
        could = count
    return {
        "user": login, "group": limits.group, "gpu_eq_used": round(used, 4),
        "gpu_eq_limit": limit, "aggregate_gpu_limit": (limits.aggregate or {}).get("gpu_limit"),
        "max_gpu_slots_per_container": cap, "allow_full_gpu": limits["allow_full_gpu"],
        "priority": limits["priority"], "slots": held,
        "uuids": [snap.by_id[s].uuid for s in held],
        "containers": [h.container for h in snap.holdings if h.holds and h.user == login],
        "stopped_without_gpu": [h.container for h in snap.holdings if not h.holds and h.user == login],
        "claims": [cid for cid, c in snap.claims.items() if c.get("user") == login],
        "gpu_eq_remaining": None if bound is None else round(max(0.0, bound - used), 4),
        "limited_by": limited_by,
        "can_get_now": could,
    }
