"""The locked allocator: snapshot, choose (choice.py) and act, with the wait queue (queue.py).

Every decision that hands out a slot is made under the allocator lock, from a snapshot read
after taking it, and the lock is held until the container (or claim) that records the
decision exists. Nothing is decided on stale data and nothing runs unlocked.
"""

import datetime
import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, cast

from ..clock import iso
from ..containers import ACTIVE
from ..containers import iso as iso_timestamp
from ..errors import Ds01Error, NoCapacity, NotFound, PermissionDenied
from . import holdings as H
from .choice import (
    AllocationError,
    Request,
    Snapshot,
    check_claim,
    choose,
    quota_error,
    reservations,
    user_record,
    with_placement,
)
from .model import Inventory, Slot
from .queue import alive, pid_start, queue_order, simulate
from .state import DEFAULT_LOCK_TIMEOUT, QUEUE, RELEASED, State

if TYPE_CHECKING:
    from ..runtime import Runtime

DEFAULT_CLAIM_TTL = 120
DEFAULT_WAIT_POLL = 2.0


class Allocator:
    """Allocation for one command: snapshot, choose and act, under the lock."""

    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        self.settings = rt.policy.section("gpu_allocation")

    @property
    def inventory(self) -> Inventory:
        inventory: Inventory = self.rt.inventory
        return inventory

    @functools.cached_property
    def state(self) -> State:
        return State.of(self.rt, self.settings.get("lock_timeout_s", DEFAULT_LOCK_TIMEOUT))

    @property
    def strategy(self) -> str:
        """spread or pack, with the policy's placement (choice.with_placement): what choose() is given."""
        return with_placement(str(self.settings.get("strategy", "spread")), self.settings.get("placement"))

    def snapshot(self, now: datetime.datetime | None = None, exclude: str | None = None) -> Snapshot:
        """Who holds and claims what now; `exclude` (a container id) is left out, as if it were removed."""
        now_dt = now or self.rt.now()
        released = self.state.read(RELEASED, {})
        slots = self.inventory.slots()
        found = [h for h in H.read(self.rt.api, self.rt.policy, slots, released, now_dt) if h.id != exclude]
        return Snapshot(self.inventory, found, self.state.claims(now_dt.timestamp()),
                        reservations(self.rt.policy, slots), now_dt)

    def _queue(self) -> list[dict[str, Any]]:
        entries = [e for e in self.state.read(QUEUE, []) if isinstance(e, dict) and alive(e)]
        return entries

    def _save_queue(self, entries: list[dict[str, Any]]) -> None:
        self.state.write(QUEUE, entries)

    def queue(self) -> list[dict[str, Any]]:
        """The wait queue in serving order (dead waiters left out)."""
        return sorted(self._queue(), key=queue_order)

    def allocate(self, login: str, request: Request, then: Callable[[list[Slot]], Any], wait: float | None = None,
                 progress: Callable[[str], Any] | None = None, label: str | None = None) -> Any:
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
        claim = _claim_of(result)
        self.rt.log_event("gpu.allocate", login, slots=[s.id for s in slots], uuids=[s.uuid for s in slots],
                          gpu_eq=round(sum(s.weight for s in slots), 4), container=None if claim else label,
                          claim=claim, **({"expires_at": result.get("expires_at")} if claim else {}))
        return result

    def log_reject(self, login: str, exc: NoCapacity, request: Request | None = None, label: str | None = None) -> None:
        """The event for a request that got no slot (`exc` an AllocationError or NoCapacity)."""
        self.rt.log_event("gpu.reject", login, reason=getattr(exc, "reason", None), message=exc.message,
                          container=label, **(request.record() if request else {}))

    def _allocate(self, login: str, request: Request, then: Callable[[list[Slot]], Any], wait: float | None,
                  progress: Callable[[str], Any] | None, label: str | None) -> Any:
        limits = self.rt.limits(login)
        me = {"id": os.urandom(6).hex(), "user": login, "priority": int(limits["priority"] or 0),
              "enqueued_at": time.time(), "pid": os.getpid(), "pid_start": pid_start(os.getpid()),
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
    def _explain(snap: Snapshot, login: str, limits: Any, request: Request, waiting: list[dict[str, Any]],
                 strategy: str) -> NoReturn:
        """Why `login` gets nothing now: the limit that stops them, or who is ahead in the queue."""
        choose(snap, login, limits, request, strategy)  # raises with the limit, if one applies
        ahead = len(waiting)
        raise AllocationError("NO_CAPACITY", f"{ahead} waiting", "the free slots go to requests already waiting",
                              hint="--wait joins the queue (priority, then arrival)")

    def claim_record(self, cid: str, claim: dict[str, Any]) -> dict[str, Any]:
        return {"claim": cid, "user": claim["user"], "slots": claim["slots"], "uuids": claim["uuids"],
                "gpu_eq": round(claim["gpu_eq"], 4), "expires_at": iso_timestamp(claim["expires_at"])}

    def write_claim(self, login: str, slots: list[Slot], ttl: float | None = None) -> dict[str, Any]:
        """Under the lock: record a claim on `slots` for `login`; returns its record."""
        ttl = ttl or self.settings.get("claim_ttl_s", DEFAULT_CLAIM_TTL)
        claims = self.state.claims()
        cid = "claim:" + os.urandom(5).hex()
        claims[cid] = {"user": login, "slots": [s.id for s in slots], "uuids": [s.uuid for s in slots],
                       "gpu_eq": sum(s.weight for s in slots), "created_at": time.time(),
                       "expires_at": time.time() + ttl}
        self.state.save_claims(claims)
        return self.claim_record(cid, claims[cid])

    def consume_claim(self, login: str, cid: str, then: Callable[[list[Slot]], Any], label: str | None = None) -> Any:
        """Under the lock: check the claim is the caller's and still good, `then(slots)`, drop the claim.

        Logged as a gpu.allocate naming both the claim and the container (`label`): the slots pass from one to
        the other, and ds01-report's hours follow them.
        """
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
            check_claim(snap, login, self.rt.limits(login), cid, claim["slots"])
            result = then([snap.by_id[s] for s in claim["slots"]])
            claims.pop(cid, None)
            self.state.save_claims(claims)
        self.rt.log_event("gpu.allocate", login, slots=claim["slots"], uuids=claim["uuids"],
                          gpu_eq=round(claim["gpu_eq"], 4), container=label, claim=cid)
        return result

    def release_claim(self, cid: str, login: str, admin: bool = False) -> dict[str, Any]:
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

    def release_container(self, rec: Mapping[str, Any], reason: str = "released") -> dict[str, Any]:
        """Give up the slots of a stopped container before its hold ends (recorded in the state dir).

        `reason`: `released` (a person asked) or `hold_expired` (ds01-release-stale).
        """
        with self.state.lock():
            snap = self.snapshot()
            holding = next((h for h in snap.holdings if h.id.startswith(rec["id"])), None)
            if holding is None:
                raise Ds01Error(f"{rec['name']} has no GPU to release")
            if holding.status in ACTIVE:
                raise Ds01Error(f"{rec['name']} is {holding.status}; its GPU is in use",
                                hint=f"container-stop {rec['name']} first")
            live = {entry["Id"] for entry in self.rt.api.containers(all=True)}
            released = {k: v for k, v in self.state.read(RELEASED, {}).items() if k in live}
            released[holding.id] = {"container": holding.container, "user": holding.user, "slots": holding.slots,
                                    "released_at": iso(snap.now), "reason": reason}
            self.state.write(RELEASED, released)
        self.rt.log_event("gpu.release", holding.user, container=holding.container, name=holding.name,
                          slots=holding.slots, uuids=[snap.by_id[s].uuid for s in holding.slots if s in snap.by_id],
                          reason=reason)
        return {"target": rec["name"], "kind": "container", "user": holding.user, "slots": holding.slots,
                "uuids": [snap.by_id[s].uuid for s in holding.slots], "released": True}

    def start_checked(self, rec: dict[str, Any], start: Callable[[], Any]) -> Any:
        """Under the lock: make sure the container's slots are still its own, then `start()`.

        A stopped container past its hold (or released) takes its slots back only if they are
        free and within its owner's quota; otherwise AllocationError says what to do (and gpu.reject is logged).
        """
        try:
            return self._start_checked(rec, start)
        except AllocationError as exc:
            self.log_reject(rec["user"], exc, label=rec["container"])
            raise

    def _start_checked(self, rec: dict[str, Any], start: Callable[[], Any]) -> Any:
        with self.state.lock():
            snap = self.snapshot()
            holding = next((h for h in snap.holdings if h.id.startswith(rec["id"])), None)
            if holding is None:
                return start()
            limits = self.rt.limits(cast(str, holding.user))  # a holding found by its container has a user
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
                used, _ = snap.usage(holding.user or "", exclude_container=holding.id)
                weight = sum(snap.by_id[s].weight for s in holding.slots)
                error = quota_error(limits, used, weight, Request(len(holding.slots)))
                if error:
                    error.hint = hint
                    raise error
                released = self.state.read(RELEASED, {})
                if released.pop(holding.id, None) is not None:
                    self.state.write(RELEASED, released)
            return start()

    def recreate_hint(self, snap: Snapshot, rec: dict[str, Any], holding: H.Holding, limits: Any) -> str:
        """A command that works when a start is refused: the container made again, same image and mounts,
        asking for what its owner can get now (a GPU count within the quota, else no GPU)."""
        without = Snapshot(snap.inventory, [h for h in snap.holdings if h.id != holding.id], snap.claims,
                           snap.reservations, snap.now)  # as it will be once the container is made again
        count = user_record(without, holding.user or "", limits, self.strategy)["can_get_now"]
        if holding.slots and not H.asks_for_any(holding.devices):
            count = min(count, len(holding.slots))  # no more than it had
        ask = f"--num-gpus {count}" if count else "--cpu-only"
        return (f"container-recreate {rec['name']} {ask} makes it again from its image with the same mounts "
                f"(your files stay); then container-start {rec['name']}")


def _claim_of(result: Any) -> Any:
    return result.get("claim") if isinstance(result, dict) else None
