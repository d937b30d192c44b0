"""MIG layouts carried out: the plan that gets each GPU to what `gpu.mig_layout` says (mig_layout.py),
and making it through the NVML backend.

A layout is `off` (a whole GPU) or a list of GPU-instance profiles, each one MIG device (a GPU instance
with one compute instance spanning it). Placements are chosen here, largest first with backtracking,
so a layout that fits is never refused because the driver placed an earlier instance badly. A GPU
whose slots are held, claimed, reserved or in use is never touched, and the check and the change
happen under the allocator lock, so no allocation sees a half-made layout.
"""

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import Ds01Error, NoCapacity, NotFound, UsageError
from .choice import reservations
from .mig_layout import OFF, current, is_short, matches, same, show, wanted

if TYPE_CHECKING:
    from ..runtime import Runtime
    from .model import Gpu, Inventory


def resolve(names: list[str], profiles: list[Any], gpu: "Gpu") -> list[Any]:
    """The driver's profiles for the layout's names; a UsageError naming what this GPU offers."""
    result = []
    for name in names:
        found = [p for p in profiles if same(name, p.name)]
        if is_short(name) and len({p.memory_mb for p in found}) > 1:
            raise UsageError(f"GPU {gpu.index}: {name} is ambiguous here: {' or '.join(p.name for p in found)}",
                             hint="name the profile with its memory in gpu.mig_layout")
        if not found:
            raise UsageError(f"GPU {gpu.index} ({gpu.name}) has no MIG profile {name}",
                             hint=f"it offers {offered(profiles)}")
        result.append(found[0])
    return result


def offered(profiles: list[Any]) -> str:
    return ", ".join(f"{p.name} (up to {p.count})" for p in profiles)


def fit(chosen: list[Any], total_slices: int) -> list[tuple[Any, int]] | None:
    """A placement for every profile (largest first), or None when the GPU cannot hold them all."""
    counts = Counter(p.id for p in chosen)
    if sum(p.slices for p in chosen) > total_slices or any(
            n > next(p.count for p in chosen if p.id == pid) for pid, n in counts.items()):
        return None
    order = sorted(chosen, key=lambda p: (-p.size, -p.slices, p.name))

    def place(i: int, used: frozenset[int]) -> list[tuple[Any, int]] | None:
        if i == len(order):
            return []
        profile = order[i]
        for start in profile.placements:
            span = frozenset(range(start, start + profile.size))
            if not span & used:
                rest = place(i + 1, used | span)
                if rest is not None:
                    return [(profile, start), *rest]
        return None

    return place(0, frozenset())


def targets(layout: dict[str, Any], inventory: "Inventory", names: tuple[str, ...]) -> list[Any]:
    """The GPUs to act on: those named (index or UUID), else every GPU the layout names. A named GPU the
    layout leaves alone, or one that is not here, comes back as a Ds01Error for the batch to report."""
    if not layout:
        raise Ds01Error("the policy has no MIG layout (gpu.mig_layout)",
                        hint="add one per GPU, e.g. gpu: {mig_layout: {0: off, 1: [3g.20gb, 3g.20gb]}}; "
                             "see man 5 ds01-resource-limits")
    if not names:
        return [g for g in inventory.gpus if wanted(layout, g) is not None]
    found: list[Any] = []
    for name in names:
        gpu = next((g for g in inventory.gpus if name in (str(g.index), g.uuid)), None)
        if gpu is None:
            found.append(NotFound(f"no GPU {name} on this host", hint="gpu-inventory lists them"))
        elif wanted(layout, gpu) is None:
            found.append(Ds01Error(f"GPU {name}: the policy's gpu.mig_layout leaves it alone",
                                   hint="give it a layout (or off) in gpu.mig_layout"))
        else:
            found.append(gpu)
    return found


class Configurator:
    """Plans and makes one GPU's layout at a time for `mig-configure`."""

    def __init__(self, rt: "Runtime", dry_run: bool = False) -> None:
        from .allocator import Allocator  # lazy: ds01.gpu.allocator, 12 ms

        self.rt = rt
        self.dry_run = dry_run
        self.allocator = Allocator(rt)
        self.layout = rt.policy.section("gpu").get("mig_layout") or {}

    def run(self, names: tuple[str, ...]) -> Iterator[Any]:
        """A record or a Ds01Error per GPU, in order."""
        inventory = self.rt.inventory
        if inventory.source != "nvml" and not self.dry_run:
            raise Ds01Error(f"the GPUs here are simulated ({inventory.source}): there is no driver to change",
                            hint="mig-configure --dry-run shows the plan; on a GPU host it uses NVML")
        for target in targets(self.layout, inventory, names):
            if isinstance(target, Ds01Error):
                yield target
                continue
            try:
                yield self.configure(target.index)
            except Ds01Error as exc:
                yield exc

    def configure(self, index: int) -> dict[str, Any]:
        if self.dry_run:
            return self._configure(index)
        with self.allocator.state.lock():
            return self._configure(index)

    def _configure(self, index: int) -> dict[str, Any]:
        self.rt.refresh()  # read after taking the lock: nothing is decided on stale data
        snap = self.allocator.snapshot()
        gpu = next(g for g in snap.inventory.gpus if g.index == index)
        want, now = wanted(self.layout, gpu), current(gpu)
        record: dict[str, Any] = {
            "gpu": gpu.index, "uuid": gpu.uuid, "name": gpu.name, "before": now, "layout": want,
            "action": "unchanged", "steps": [], "after": now, "slots": _slot_ids(snap.inventory, index),
            "stranded": [], "later_reservations": [], "dry_run": self.dry_run}
        pending = gpu.mig_pending != gpu.mig_current
        if matches(want, now) and not pending:
            return record
        if pending and gpu.mig_pending == (want != OFF):
            record["action"] = "pending-reset"
            return record
        self._refuse_if_in_use(snap, gpu)
        on_gpu = {s.id for s in snap.slots if s.gpu == index}
        record["stranded"] = sorted({h.name for h in snap.holdings if not h.holds and on_gpu & set(h.slots)})
        record["later_reservations"] = [
            {"user": r.user, "slots": sorted(r.slots & on_gpu), "start": r.start.isoformat()}
            for r in reservations(self.rt.policy, snap.slots) if r.start > snap.now and r.slots & on_gpu]
        control: Any = None if snap.inventory.source != "nvml" else _control(index)
        plan: list[tuple[str, Any]]
        if matches(want, now):  # the layout is there; only a mode change waits, the other way: call it off
            plan = [("cancel the pending MIG mode change", lambda: control.set_mode(want != OFF))]
        else:
            plan = self._plan(gpu, want, control)
        record["steps"] = [step for step, _ in plan]
        if self.dry_run:
            record["action"] = "planned"
            return record
        before_instances = control.instances() if control and gpu.mig_current else []
        done: list[str] = []
        try:
            for step, act in plan:
                if act() is False:  # a mode change that waits for a GPU reset
                    record["action"] = "pending-reset"
                    done.append(step)
                    break
                done.append(step)
        except Ds01Error as exc:
            restored = self._restore(control, before_instances, gpu) if control else False
            self._log(record, done, failed=exc.message)
            if not restored:
                where = "the GPU is left as the driver has it now (gpu-inventory shows it)"
            elif gpu.mig_current:
                where = f"GPU {index} has its old layout again (with new MIG UUIDs)"
            else:
                where = f"GPU {index} is whole again, as it was"
            raise Ds01Error(f"{exc.message}; {where}", code=exc.code,
                            hint=exc.hint or "mig-configure again once the cause is fixed; it starts from what is "
                                             "there") from None
        record["steps"] = done
        self.rt.refresh()
        inventory = self.rt.inventory
        after_gpu = next(g for g in inventory.gpus if g.index == index)
        record["after"], record["slots"] = current(after_gpu), _slot_ids(inventory, index)
        if record["action"] != "pending-reset":
            if not matches(want, record["after"]):
                self._log(record, done, failed="layout differs afterwards")
                raise Ds01Error(f"GPU {index}: the driver reports {show(record['after'])} after the change, "
                                f"not {show(want)}", hint="gpu-inventory shows it; mig-configure again")
            record["action"] = "configured"
        self._log(record, done)
        return record

    def _refuse_if_in_use(self, snap: Any, gpu: "Gpu") -> None:
        users = []
        for slot in (s for s in snap.slots if s.gpu == gpu.index):
            users += [f"slot {slot.id} held by {h.name} ({h.user or '?'}, {h.why})" for h in snap.holders(slot.id)]
            users += [f"slot {slot.id} claimed by {c.get('user')}" for _, c in snap.claimants(slot.id)]
            reservation = snap.reserved_for(slot.id)
            if reservation is not None:
                users.append(f"slot {slot.id} reserved for {reservation.user}")
            if slot.processes:
                users.append(f"slot {slot.id} runs pid {', '.join(str(p.pid) for p in slot.processes)}")
        if users:
            raise NoCapacity(f"GPU {gpu.index} is in use, so its layout stays: {'; '.join(users)}",
                             hint="stop or release what holds it (gpu-status shows who), then mig-configure again")

    def _plan(self, gpu: "Gpu", want: Any, control: Any) -> list[tuple[str, Any]]:
        """The steps in order, each (what it says, what it does)."""
        steps: list[tuple[str, Any]] = []
        if gpu.mig_current and not gpu.mig_pending and want != OFF:  # MIG stays on: call off the pending change
            steps.append(("cancel the pending MIG mode change", lambda: control.set_mode(True)))
        if gpu.mig_current:
            instances = control.instances() if control else []
            if control is None:
                steps += [(f"destroy {d.profile} (GPU instance {d.gpu_instance_id})", None) for d in gpu.mig_devices]
            for instance in instances:
                steps.append((f"destroy {instance.profile.name} (GPU instance {instance.id})",
                              lambda i=instance: control.destroy(i)))
        if want == OFF:
            if gpu.mig_current or gpu.mig_pending:
                steps.append(("disable MIG mode", lambda: control.set_mode(False)))
            return steps
        if not gpu.mig_current:
            steps.append(("enable MIG mode", lambda: control.set_mode(True)))
            if control is None or self.dry_run:  # the driver lists a GPU's profiles only in MIG mode
                steps += [(f"create {name}", None) for name in want]
                return steps
            steps.append((f"create {', '.join(want)} (placed once MIG mode is on)",
                          lambda: self._create(control, gpu, want)))
            return steps
        if control is None:
            return steps + [(f"create {name}", None) for name in want]
        placed = self._placed(control, gpu, want)
        steps += [(f"create {p.name} at slice {start}", lambda p=p, s=start: control.create(p, s))
                  for p, start in placed]
        return steps

    @staticmethod
    def _placed(control: Any, gpu: "Gpu", want: list[str]) -> list[tuple[Any, int]]:
        profiles = control.profiles()
        placed = fit(resolve(want, profiles, gpu), gpu.mig_slices)
        if placed is None:
            raise UsageError(f"GPU {gpu.index} ({gpu.name}) cannot hold {', '.join(want)} at once",
                             hint=f"it offers {offered(profiles)}; the compute slices add up to at most "
                                  f"{gpu.mig_slices}, and instances may not overlap")
        return placed

    def _create(self, control: Any, gpu: "Gpu", want: list[str]) -> None:
        """Once MIG mode is on: place and make the instances (a layout that does not fit is undone by _restore)."""
        for profile, start in self._placed(control, gpu, want):
            control.create(profile, start)

    @staticmethod
    def _restore(control: Any, before: list[Any], gpu: "Gpu") -> bool:
        """Back to the old layout after a failed change, best effort: True when every old instance is back."""
        try:
            for instance in control.instances():
                control.destroy(instance)
            if not gpu.mig_current:
                return bool(control.set_mode(False))
            for instance in before:
                control.create(instance.profile, instance.start)
            return True
        except Ds01Error:
            return False

    def _log(self, record: dict[str, Any], done: list[str], failed: str | None = None) -> None:
        details = {"gpu": record["gpu"], "uuid": record["uuid"], "before": record["before"],
                   "layout": record["layout"], "after": record["after"], "steps": done}
        if failed:
            details["error"] = failed
        self.rt.log_event("gpu.mig-configure", None, **details)


def _control(index: int) -> Any:
    from .nvml import MigControl  # lazy: ds01.gpu.nvml, 12 ms

    return MigControl(index)


def _slot_ids(inventory: "Inventory", index: int) -> list[str]:
    return [s.id for s in inventory.slots() if s.gpu == index]
