"""ds01-release-stale: stopped containers give up their GPU after gpu_hold_after_stop_h and are
removed after container_hold_after_stop_h; containers created but never started are removed after
created_container_timeout_m.

Only containers ds01, DS01 or AIME made are ever removed (with their per-container image tag);
a stopped container from another tool only loses its GPU slots. Nothing here kills a process or
resets a GPU (DS01's cleanup did both, to running jobs).
"""

from ..clock import iso
from ..containers import INACTIVE
from ..units import format_duration
from .job import Job, Skip


class ReleaseStale(Job):
    name = "ds01-release-stale"

    def check(self):
        from ..gpu.allocator import Allocator
        from ..gpu.state import RELEASED

        self.allocator = Allocator(self.rt)
        released = self.allocator.state.read(RELEASED, {})
        for subject in self.subjects():
            if subject.status not in INACTIVE:
                continue
            self.checked += 1
            why = self.protected(subject)
            if why:
                self.decide(subject, "protected", why)
            elif subject.started is None:
                self._never_started(subject)
            else:
                self._stopped(subject, subject.id in released)

    def _never_started(self, subject):
        timeout = subject.limits.seconds("created_container_timeout_m")
        since = subject.created or self.now
        age = (self.now - since).total_seconds()
        signals = {"created_at": iso(since), "age_s": round(age)}
        if not subject.tracked:
            return self.decide(subject, "keep", "not made by ds01 or AIME: never removed (its GPU hold still ends)",
                               signals)
        if timeout is None:
            return self.decide(subject, "keep", "created, not started; created_container_timeout_m is null", signals)
        if age < timeout:
            return self.decide(subject, "keep", f"created {format_duration(age)} ago, not started; removed after "
                                                f"{format_duration(timeout)}", signals)
        reason = f"created {format_duration(age)} ago and never started (limit {format_duration(timeout)})"
        self.decide(subject, "remove", reason, signals,
                    action=lambda: self._remove(subject, "created_never_started", reason))

    def _stopped(self, subject, already_released):
        finished = max(subject.finished or subject.started, subject.started)
        stopped_for = (self.now - finished).total_seconds()
        gpu_hold = subject.limits.seconds("gpu_hold_after_stop_h")
        container_hold = subject.limits.seconds("container_hold_after_stop_h")
        signals = {"stopped_at": iso(finished), "stopped_for_s": round(stopped_for), "gpus": subject.slots,
                   "gpu_released": already_released}
        if subject.tracked and container_hold is not None and stopped_for >= container_hold:
            reason = (f"stopped for {format_duration(stopped_for)} (container_hold_after_stop_h "
                      f"{format_duration(container_hold)})")
            return self.decide(subject, "remove", reason, signals,
                               action=lambda: self._remove(subject, "hold_expired", reason))
        if subject.devices and not already_released and gpu_hold is not None and stopped_for >= gpu_hold:
            reason = (f"stopped for {format_duration(stopped_for)} (gpu_hold_after_stop_h "
                      f"{format_duration(gpu_hold)}); the container is kept")
            return self.decide(subject, "release", reason, signals, action=lambda: self._release(subject, reason))
        self.decide(subject, "keep", self._next_step(subject, stopped_for, gpu_hold, container_hold, already_released),
                    signals)

    @staticmethod
    def _next_step(subject, stopped_for, gpu_hold, container_hold, released):
        parts = [f"stopped for {format_duration(stopped_for)}"]
        if subject.devices and not released:
            parts.append("holds its GPU indefinitely" if gpu_hold is None else
                         f"GPU released in {format_duration(gpu_hold - stopped_for)}")
        if not subject.tracked:
            parts.append("not made by ds01 or AIME: never removed")
        elif container_hold is None:
            parts.append("never removed (container_hold_after_stop_h is null)")
        else:
            parts.append(f"removed in {format_duration(container_hold - stopped_for)}")
        return "; ".join(parts)

    def _still_stopped(self, subject):
        state = self.rt.api.inspect_container(subject.id)["State"]
        if state.get("Status") not in INACTIVE:
            raise Skip(f"it is {state.get('Status')} now")

    def _remove(self, subject, reason_code, reason):
        self._still_stopped(subject)
        name = subject.rec["name"]
        workspace = subject.workspace()
        self.rt.engine.remove(subject.id, force=False, reason=reason_code)
        kept = f"Your files in {workspace} are kept." if workspace else ""
        self.tell(subject, f"container {name} removed",
                  f"Your container {name} was removed: {reason}. {kept}\n"
                  f"container-create {name} makes a new one.", in_container=False)

    def _release(self, subject, reason):
        self._still_stopped(subject)
        self.allocator.release_container(subject.rec, reason="hold_expired")
        name = subject.rec["name"]
        self.tell(subject, f"GPU of {name} released",
                  f"Your stopped container {name} no longer holds GPU slot(s) {', '.join(subject.slots) or '?'}: "
                  f"{reason}.\ncontainer-start {name} takes a slot again if one is free.", in_container=False)
