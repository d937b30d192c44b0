"""Choosing slots for a request: quotas, reservations, the wait queue and the strategy, on one snapshot.

Every decision that hands out a slot is made under the allocator lock, from a snapshot read
after taking it, and the lock is held until the container (or claim) that records the
decision exists. Nothing is decided on stale data and nothing runs unlocked.
"""

import datetime
import functools
import os
import time
from dataclasses import dataclass

from ..containers import iso as iso_timestamp
from ..errors import NoCapacity, UsageError
from . import holdings as H

EPS = 1e-6
DEFAULT_CLAIM_TTL = 120
DEFAULT_WAIT_POLL = 2.0


def fmt(value):
    """GPU-equivalents for people: 0.428571 -> 0.429, 2.0 -> 2."""
    return format(round(value, 3), "g")


class AllocationError(NoCapacity):
    """No slot for this request; `reason` is the short code (USER_AT_LIMIT, NO_CAPACITY, ...)."""

    def __init__(self, reason, detail, message, hint=None):
        super().__init__(f"{reason}{f' ({detail})' if detail else ''}: {message}", hint=hint)
        self.reason = reason


def parse_count(text):
    """`--num-gpus` as an int >= 1; UsageError (exit 2) for 0, negatives and words."""
    if text is None:
        return None
    text = str(text).strip()
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--num-gpus must be a whole number of at least 1, got {text!r}",
                         hint="--cpu-only makes a container without a GPU")
    return int(text)


def check_profile(inventory, profile):
    """UsageError (exit 2) listing the profiles present when `profile` is not one of them."""
    if profile and profile not in inventory.profiles():
        present = ", ".join(inventory.profiles()) or "none (no MIG devices here)"
        raise UsageError(f"unknown --gpu-profile {profile!r}; profiles present: {present}")


@dataclass
class Request:
    count: int = 1
    profile: str | None = None
    full: bool = False

    def record(self):
        return {"num_gpus": self.count, "gpu_profile": self.profile, "full_gpu": self.full}

    @classmethod
    def from_record(cls, record):
        return cls(int(record.get("num_gpus") or 1), record.get("gpu_profile"), bool(record.get("full_gpu")))


@dataclass
class Reservation:
    user: str
    slots: frozenset
    start: datetime.datetime
    end: datetime.datetime
    reason: str | None

    def active(self, now):
        return self.start <= now < self.end


def reservations(policy, slots):
    """The policy's reservations with UUIDs turned into slot ids."""
    by_uuid = {s.uuid: s.id for s in slots}
    result = []
    for item in policy.data.get("reservations") or []:
        ids = set(item.get("slots") or []) | {by_uuid[u] for u in item.get("uuids") or [] if u in by_uuid}
        result.append(Reservation(item["user"], frozenset(ids), item["start"], item["end"], item.get("reason")))
    return result


class Snapshot:
    """Slots, who holds them, live claims and reservations at one moment."""

    def __init__(self, inventory, holdings, claims, reservations_, now):
        self.inventory = inventory
        self.slots = inventory.slots()
        self.by_id = {s.id: s for s in self.slots}
        self.by_uuid = {s.uuid: s for s in self.slots}
        self.holdings = holdings
        self.claims = dict(claims)
        self.now = now
        self.reservations = [r for r in reservations_ if r.active(now)]
        self.held = {}  # slot id -> holdings that hold it (one pass, not one per question)
        for holding in holdings:
            if holding.holds:
                for slot_id in holding.slots:
                    self.held.setdefault(slot_id, []).append(holding)
        self.busy = self._host_processes()

    def _host_processes(self):
        """Slots with compute processes that run in no container: host use, flagged and not given out."""
        ids = {h.id for h in self.holdings}
        busy = {}
        for slot in self.slots:
            for process in slot.processes:
                if process.container:  # a simulated process that says which container it runs in
                    continue
                if not H.in_a_container(process.pid, ids):
                    busy.setdefault(slot.id, []).append(process.pid)
        return busy

    def holders(self, slot_id, exclude=None):
        return [h for h in self.held.get(slot_id, ()) if h.id != exclude]

    def claimants(self, slot_id, exclude=None):
        return [(cid, c) for cid, c in self.claims.items() if slot_id in c.get("slots", ()) and cid != exclude]

    def reserved_for(self, slot_id):
        for reservation in self.reservations:
            if slot_id in reservation.slots:
                return reservation
        return None

    def state(self, slot_id, login=None, exclude_container=None, exclude_claim=None):
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

    def usage(self, login, exclude_container=None, exclude_claim=None):
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

    def claim(self, key, login, slot_ids):
        """Mark slots as claimed by `login` in this snapshot only (queue simulation)."""
        self.claims[key] = {"user": login, "slots": list(slot_ids)}

    def loads(self):
        """Per GPU, the share of its weight that is not free (0 idle .. 1 full)."""
        total, taken = {}, {}
        for slot in self.slots:
            total[slot.gpu] = total.get(slot.gpu, 0.0) + slot.weight
            if self.state(slot.id) != "free":
                taken[slot.gpu] = taken.get(slot.gpu, 0.0) + slot.weight
        return {gpu: taken.get(gpu, 0.0) / (weight or 1.0) for gpu, weight in total.items()}


def choose(snap, login, limits, request, strategy="spread"):
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
    bounds = gpu_bounds(limits)
    for bound, name in bounds:
        if used + EPS >= bound:
            raise _at_limit(name, used, bound)
    free = [s for s in snap.slots if snap.state(s.id, login) == "free"]
    fitting = free
    if not limits["allow_full_gpu"]:
        fitting = [s for s in fitting if s.is_mig]
    if request.full:
        fitting = [s for s in fitting if not s.is_mig]
    if request.profile:
        fitting = [s for s in fitting if s.profile == request.profile]
    chosen, total, blocked = [], used, None
    remaining = list(fitting)
    while remaining and len(chosen) < request.count:
        remaining.sort(key=functools.partial(_preference, snap, login, strategy, snap.loads()))
        slot = remaining.pop(0)
        over = next(((bound, name) for bound, name in bounds if total + slot.weight > bound + EPS), None)
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
        raise _at_limit(blocked[1], used, blocked[0], request)
    if not limits["allow_full_gpu"] and any(not s.is_mig for s in free) and not fitting:
        raise AllocationError("MIG_ONLY", None, "only whole GPUs are free and your group may use MIG slices only",
                              hint="--wait for a MIG slice, or --cpu-only")
    what = request.profile or ("whole GPU" if request.full else "GPU slot")
    raise AllocationError("NO_CAPACITY", f"{len(fitting)} free of {request.count} needed",
                          f"no {what} free for you now ({len(snap.slots)} slots on this host)",
                          hint="--wait queues for one; gpu-status shows who holds what; --cpu-only needs no GPU")


def gpu_bounds(limits):
    """[(GPU-eq bound, refusal reason)] that apply to a user: max_gpu_equivalents and aggregate.gpu_limit."""
    pairs = ((limits["max_gpu_equivalents"], "USER_AT_LIMIT"),
             ((limits.aggregate or {}).get("gpu_limit"), "AGGREGATE_GPU_LIMIT"))
    return [(value, name) for value, name in pairs if value is not None]


def binding_limit(limits):
    """(GPU-eq, which key) of the tighter of the two bounds, what a user can really hold; (None, None) if neither."""
    bounds = gpu_bounds(limits)
    if not bounds:
        return None, None
    value, name = min(bounds, key=lambda pair: pair[0])
    return value, ("aggregate.gpu_limit" if name == "AGGREGATE_GPU_LIMIT" else "max_gpu_equivalents")


def _at_limit(name, used, bound, request=None):
    scope = "you hold" if name == "USER_AT_LIMIT" else "your containers together hold"
    more = " and this request would exceed it" if request else ""
    return AllocationError(name, f"{fmt(used)}/{fmt(bound)} GPU-eq", f"{scope} {fmt(used)} of {fmt(bound)} "
                           f"GPU-equivalents{more}",
                           hint="stop and gpu-release a container, or ask for a smaller MIG slice (--gpu-profile)")


def _preference(snap, login, strategy, loads, slot):
    reservation = snap.reserved_for(slot.id)
    mine = 0 if reservation and reservation.user == login else 1
    order = loads[slot.gpu] if strategy == "spread" else -loads[slot.gpu]
    return (mine, order, slot.weight, slot.gpu, _slot_order(slot.id))


def _slot_order(slot_id):
    return tuple(int(p) for p in slot_id.split("."))


# ------------------------------------------------------------------ the wait queue

def _pid_start(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(entry):
    start = _pid_start(entry.get("pid", 0))
    return start is not None and start == entry.get("pid_start")


def queue_order(entry):
    return (-int(entry.get("priority", 0)), entry.get("enqueued_at", 0), entry.get("id", ""))


def simulate(snap, policy, entries, strategy):
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


class Allocator:
    """Allocation for one command: snapshot, choose and act, under the lock."""

    def __init__(self, rt):
        self.rt = rt
        self.settings = rt.policy.section("gpu_allocation")

    @property
    def inventory(self):
        return self.rt.inventory

    @functools.cached_property
    def state(self):
        from .state import DEFAULT_LOCK_TIMEOUT, State

        return State(self.rt.settings.get("state_dir"), self.settings.get("lock_timeout_s", DEFAULT_LOCK_TIMEOUT))

    @property
    def strategy(self):
        return self.settings.get("strategy", "spread")

    def snapshot(self, now=None, exclude=None):
        """Who holds and claims what now; `exclude` (a container id) is left out, as if it were removed."""
        from .state import RELEASED

        now_dt = now or self.rt.now()
        released = self.state.read(RELEASED, {})
        slots = self.inventory.slots()
        found = [h for h in H.read(self.rt.api, self.rt.policy, slots, released, now_dt) if h.id != exclude]
        return Snapshot(self.inventory, found, self.state.claims(now_dt.timestamp()),
                        reservations(self.rt.policy, slots), now_dt)

    def _queue(self):
        from .state import QUEUE

        entries = [e for e in self.state.read(QUEUE, []) if isinstance(e, dict) and _alive(e)]
        return entries

    def _save_queue(self, entries):
        from .state import QUEUE

        self.state.write(QUEUE, entries)

    def queue(self):
        """The wait queue in serving order (dead waiters left out)."""
        return sorted(self._queue(), key=queue_order)

    def allocate(self, login, request, then, wait=None, progress=None, label=None):
        """Choose slots for `login` and call `then(slots)` under the lock; its result is returned.

        `wait`: None = fail at once with AllocationError; 0 = wait indefinitely; N = wait N seconds.
        Waiters are served in priority then arrival order; a new request takes its place in that order.
        Both outcomes are logged: gpu.allocate with the slots, gpu.reject with the reason.
        """
        try:
            slots, result = self._allocate(login, request, then, wait, progress, label)
        except AllocationError as exc:
            self.log_reject(login, exc, request, label)
            raise
        self.rt.log_event("gpu.allocate", login, slots=[s.id for s in slots], uuids=[s.uuid for s in slots],
                          gpu_eq=round(sum(s.weight for s in slots), 4), container=label, claim=_claim_of(result))
        return result

    def log_reject(self, login, exc, request=None, label=None):
        """The event for a request that got no slot (`exc` an AllocationError or NoCapacity)."""
        self.rt.log_event("gpu.reject", login, reason=getattr(exc, "reason", None), message=exc.message,
                          container=label, **(request.record() if request else {}))

    def _allocate(self, login, request, then, wait, progress, label):
        limits = self.rt.limits(login)
        me = {"id": os.urandom(6).hex(), "user": login, "priority": int(limits["priority"] or 0),
              "enqueued_at": time.time(), "pid": os.getpid(), "pid_start": _pid_start(os.getpid()),
              "container": label, **request.record()}
        deadline = None if not wait else time.monotonic() + wait
        poll = float(self.settings.get("wait_poll_s", DEFAULT_WAIT_POLL))
        queued, said = False, None
        try:
            while True:
                with self.state.lock():
                    snap = self.snapshot()
                    claims = dict(snap.claims)
                    entries = [e for e in self._queue() if e["id"] != me["id"]]
                    served = simulate(snap, self.rt.policy, entries + [me], self.strategy)
                    if me["id"] in served:
                        if queued:
                            self._save_queue(entries)
                            queued = False
                        slots = served[me["id"]]
                        return slots, then(slots)
                    if wait is None:
                        snap.claims = claims  # without the queue simulation's pretend claims
                        self._explain(snap, login, limits, request, entries, self.strategy)
                    if not queued:
                        self._save_queue(entries + [me])
                        queued = True
                    position = sorted(entries + [me], key=queue_order).index(me) + 1
                    total = len(entries) + 1
                if deadline is not None and time.monotonic() >= deadline:
                    raise AllocationError("NO_CAPACITY", f"waited {wait:g}s",
                                          f"no GPU slot became free for you within {wait:g}s",
                                          hint="gpu-status shows who holds what")
                if progress and (position, total) != said:
                    progress(f"waiting for a GPU: position {position} of {total} in the queue "
                             f"(priority {me['priority']}); Ctrl-C leaves the queue")
                    said = (position, total)
                time.sleep(poll)
        finally:
            if queued:
                with self.state.lock():
                    self._save_queue([e for e in self._queue() if e["id"] != me["id"]])

    @staticmethod
    def _explain(snap, login, limits, request, waiting, strategy):
        """Why `login` gets nothing now: the limit that stops them, or who is ahead in the queue."""
        choose(snap, login, limits, request, strategy)  # raises with the limit, if one applies
        ahead = len(waiting)
        raise AllocationError("NO_CAPACITY", f"{ahead} waiting", "the free slots go to requests already waiting",
                              hint="--wait joins the queue (priority, then arrival)")

    def claim_record(self, cid, claim):
        return {"claim": cid, "user": claim["user"], "slots": claim["slots"], "uuids": claim["uuids"],
                "gpu_eq": round(claim["gpu_eq"], 4), "expires_at": iso_timestamp(claim["expires_at"])}

    def write_claim(self, login, slots, ttl=None):
        """Under the lock: record a claim on `slots` for `login`; returns its record."""
        ttl = ttl or self.settings.get("claim_ttl_s", DEFAULT_CLAIM_TTL)
        claims = self.state.claims()
        cid = "claim:" + os.urandom(5).hex()
        claims[cid] = {"user": login, "slots": [s.id for s in slots], "uuids": [s.uuid for s in slots],
                       "gpu_eq": sum(s.weight for s in slots), "created_at": time.time(),
                       "expires_at": time.time() + ttl}
        self.state.save_claims(claims)
        return self.claim_record(cid, claims[cid])

    def consume_claim(self, login, cid, then):
        """Under the lock: check the claim is the caller's and still good, `then(slots)`, drop the claim."""
        from ..errors import NotFound, PermissionDenied

        with self.state.lock():
            claims = self.state.claims()
            claim = claims.get(cid)
            if claim is None:
                raise NotFound(f"claim {cid} does not exist or has expired", hint="gpu-allocate makes a new one")
            if claim["user"] != login:
                raise PermissionDenied(f"claim {cid} belongs to {claim['user']}")
            snap = self.snapshot()
            taken = [s for s in claim["slots"] if snap.holders(s) or s not in snap.by_id]
            if taken:
                raise AllocationError("NO_CAPACITY", None, f"slot {taken[0]} of claim {cid} is no longer available",
                                      hint="gpu-allocate makes a new claim")
            result = then([snap.by_id[s] for s in claim["slots"]])
            claims.pop(cid, None)
            self.state.save_claims(claims)
            return result

    def release_claim(self, cid, login, admin=False):
        from ..errors import NotFound, PermissionDenied

        with self.state.lock():
            claims = self.state.claims()
            claim = claims.get(cid)
            if claim is None:
                raise NotFound(f"claim {cid} does not exist or has expired")
            if claim["user"] != login and not admin:
                raise PermissionDenied(f"claim {cid} belongs to {claim['user']}")
            claims.pop(cid)
            self.state.save_claims(claims)
        self.rt.log_event("gpu.release", claim["user"], claim=cid, slots=claim["slots"], uuids=claim["uuids"],
                          reason="released")
        return {"target": cid, "kind": "claim", "user": claim["user"], "slots": claim["slots"],
                "uuids": claim["uuids"], "released": True}

    def release_container(self, rec, reason="released"):
        """Give up the slots of a stopped container before its hold ends (recorded in the state dir).

        `reason`: `released` (a person asked) or `hold_expired` (ds01-release-stale).
        """
        from ..errors import Ds01Error
        from .state import RELEASED

        with self.state.lock():
            snap = self.snapshot()
            holding = next((h for h in snap.holdings if h.id.startswith(rec["id"])), None)
            if holding is None:
                raise Ds01Error(f"{rec['name']} has no GPU to release")
            if holding.status in H.RUNNING_STATES:
                raise Ds01Error(f"{rec['name']} is {holding.status}; its GPU is in use",
                                hint=f"container-stop {rec['name']} first")
            live = {entry["Id"] for entry in self.rt.api.containers(all=True)}
            released = {k: v for k, v in self.state.read(RELEASED, {}).items() if k in live}
            released[holding.id] = {"container": holding.container, "user": holding.user, "slots": holding.slots,
                                    "released_at": H.iso(snap.now), "reason": reason}
            self.state.write(RELEASED, released)
        self.rt.log_event("gpu.release", holding.user, container=holding.container, name=holding.name,
                          slots=holding.slots, uuids=[snap.by_id[s].uuid for s in holding.slots if s in snap.by_id],
                          reason=reason)
        return {"target": rec["name"], "kind": "container", "user": holding.user, "slots": holding.slots,
                "uuids": [snap.by_id[s].uuid for s in holding.slots], "released": True}

    def start_checked(self, rec, start):
        """Under the lock: make sure the container's slots are still its own, then `start()`.

        A stopped container past its hold (or released) takes its slots back only if they are
        free and within its owner's quota; otherwise AllocationError says what to do (and gpu.reject is logged).
        """
        try:
            return self._start_checked(rec, start)
        except AllocationError as exc:
            self.log_reject(rec["user"], exc, label=rec["container"])
            raise

    def _start_checked(self, rec, start):
        from .state import RELEASED

        with self.state.lock():
            snap = self.snapshot()
            holding = next((h for h in snap.holdings if h.id.startswith(rec["id"])), None)
            if holding is None:
                return start()
            limits = self.rt.limits(holding.user)
            hint = self.recreate_hint(snap, rec, holding, limits)
            any_gpu = H.asks_for_any(holding.devices)
            cap = limits["max_gpu_slots_per_container"]
            if any_gpu and not holding.holds and cap is not None and len(holding.slots) > cap:
                raise AllocationError("EXCEEDS_CONTAINER_LIMIT", f"{len(holding.slots)}>{cap}",
                                      f"{rec['name']} asks for {', '.join(holding.devices)} GPUs at each start "
                                      f"({len(holding.slots)} slots here); one container may have at most {cap}",
                                      hint=hint)
            for slot in holding.slots:
                others = snap.holders(slot, exclude=holding.id)
                if others:
                    raise AllocationError("SLOT_TAKEN", slot, f"{rec['name']}'s GPU slot {slot} is now held by "
                                          f"{others[0].user}'s container {others[0].name}", hint=hint)
                state = snap.state(slot, holding.user, exclude_container=holding.id)
                if state != "free":
                    raise AllocationError("SLOT_TAKEN", slot, f"{rec['name']}'s GPU slot {slot} is {state}",
                                          hint=hint)
            if not holding.holds:
                used, _ = snap.usage(holding.user, exclude_container=holding.id)
                weight = sum(snap.by_id[s].weight for s in holding.slots)
                for bound, name in gpu_bounds(limits):
                    if used + weight > bound + EPS:
                        error = _at_limit(name, used, bound, Request(len(holding.slots)))
                        error.hint = hint
                        raise error
                released = self.state.read(RELEASED, {})
                if released.pop(holding.id, None) is not None:
                    self.state.write(RELEASED, released)
            return start()

    def recreate_hint(self, snap, rec, holding, limits):
        """A command that works when a start is refused: the container made again, same image and mounts,
        asking for what its owner can get now (a GPU count within the quota, else no GPU)."""
        without = Snapshot(snap.inventory, [h for h in snap.holdings if h.id != holding.id], snap.claims,
                           snap.reservations, snap.now)  # as it will be once the container is made again
        count = user_record(without, holding.user, limits, self.strategy)["can_get_now"]
        if holding.slots and not H.asks_for_any(holding.devices):
            count = min(count, len(holding.slots))  # no more than it had
        ask = f"--num-gpus {count}" if count else "--cpu-only"
        return (f"container-recreate {rec['name']} {ask} makes it again from its image with the same mounts "
                f"(your files stay); then container-start {rec['name']}")


def _claim_of(result):
    return result.get("claim") if isinstance(result, dict) else None


def slot_records(snap):
    """One record per slot, as gpu-status prints them."""
    records = []
    for slot in snap.slots:
        holders = snap.holders(slot.id)
        claims = snap.claimants(slot.id)
        reservation = snap.reserved_for(slot.id)
        state = snap.state(slot.id)
        users = [h.user for h in holders] + [c.get("user") for _, c in claims]
        records.append({
            "slot": slot.id, "uuid": slot.uuid, "gpu": slot.gpu, "type": slot.type, "profile": slot.profile,
            "gpu_eq": round(slot.weight, 4), "memory_used": slot.memory_used, "memory_total": slot.memory_total,
            "utilization": slot.utilization, "state": state,
            "containers": [h.container for h in holders], "users": list(dict.fromkeys(u for u in users if u)),
            "claims": [cid for cid, _ in claims],
            "reserved_for": reservation.user if reservation else None,
            "reservation_reason": reservation.reason if reservation else None,
            "host_pids": snap.busy.get(slot.id, []),
        })
    return records


def user_record(snap, login, limits, strategy="spread"):
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
