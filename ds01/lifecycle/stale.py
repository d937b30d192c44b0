"""ds01-release-stale: stopped containers give up their GPU after gpu_hold_after_stop_h and are
removed after container_hold_after_stop_h; containers created but never started are removed after
created_container_timeout_m. It also clears what a create cut short (killed) or a removal outside
ds01 (`docker rm`) left behind: the bind-point directories and per-container image tags of
containers that no longer exist (once seen so for LEFTOVER_GRACE_S: a create in progress has them
for a moment), and cached account files of images that are gone.

Only containers ds01, DS01 or AIME made are ever removed (with their per-container image tag);
a stopped container from another tool only loses its GPU slots. Those AIME's own mlc made are
kept as AIME keeps them (they too only lose their GPU slots) unless policies.aime_containers is
`ds01`: AIME users leave containers stopped or unopened for weeks. Nothing here kills a process or
resets a GPU (DS01's cleanup did both, to running jobs).
"""

import os

from ..clock import iso
from ..containers import INACTIVE
from ..engine import is_own_tag
from ..privilege import root_files
from ..units import format_duration
from .job import Job, Skip
from .subjects import keeps_aime

KEPT_AIME = "made by AIME's mlc: kept as AIME keeps them (policies.aime_containers: keep)"

LEFTOVER_GRACE_S = 3600
LEFTOVERS = {"bind_points": "the bind-point directory", "image_tag": "the per-container image tag",
             "account_cache": "the cached account files"}


class ReleaseStale(Job):
    name = "ds01-release-stale"

    def check(self):
        from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms
        from ..gpu.state import RELEASED  # lazy: ds01.gpu.state, 8 ms

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
        self._leftovers()

    # ---------------------------------------------------------------- leftovers

    def _leftovers(self):
        from ..mount_pins import available, discard, leftovers  # lazy: ds01.mount_pins, 8 ms

        api = self.rt.api
        names = {n.lstrip("/") for c in api.containers(all=True) for n in c.get("Names") or []}
        seen = self.memory.get("leftovers") or {}
        found: dict[str, float] = {}
        self.memory["leftovers"] = found
        for pins in leftovers(self.statedir, names) if available() else []:
            self._leftover(seen, found, "bind_points", pins, {"path": pins}, lambda p=pins: discard(p))
        images = api.images()
        for image in images:
            for tag in image.get("RepoTags") or []:
                container = tag.rsplit(":", 1)[-1]
                if is_own_tag(tag, container) and container not in names:
                    self._leftover(seen, found, "image_tag", tag, {"tag": tag},
                                   lambda t=tag: self.rt.engine.remove_image(t))
        present = {image["Id"].split(":", 1)[-1] for image in images}
        for digest, path in self._cached_accounts():
            if digest not in present:
                self._leftover(None, found, "account_cache", path, {"path": path}, lambda p=path: self._unlink(p))

    def _leftover(self, seen, found, kind, key, signals, remove):
        """One leftover's record: removed once it has been one for LEFTOVER_GRACE_S (`seen`: first sightings from
        earlier runs; None: at once)."""
        first = (seen or {}).get(f"{kind}:{key}", self.now.timestamp())
        found[f"{kind}:{key}"] = first
        age = self.now.timestamp() - first
        record = {"job": self.name, "container": None, "name": None, "user": None, "interface": None,
                  "type": None, "status": "gone", "signals": {"leftover": kind, **signals}, "dry_run": self.dry_run}
        if seen is not None and age < LEFTOVER_GRACE_S:
            record.update(decision="keep", reason=f"left by a container that is gone, seen {format_duration(age)} "
                                                  f"ago; removed after {format_duration(LEFTOVER_GRACE_S)}")
        else:
            record.update(decision="remove", reason=f"{LEFTOVERS[kind]} of a container or image that is gone")
            if not self.dry_run:
                try:
                    remove()
                    found.pop(f"{kind}:{key}", None)
                except Exception as exc:  # noqa: BLE001 - one leftover must not stop the run
                    self.errors += 1
                    record["error"] = getattr(exc, "explanation", None) or str(exc)
        self.counts[record["decision"]] = self.counts.get(record["decision"], 0) + 1
        self._emit(record)

    def _cached_accounts(self):
        return self.statedir.account_caches()

    @staticmethod
    def _unlink(path):
        with root_files():
            os.unlink(path)

    def _never_started(self, subject):
        timeout = subject.limits.seconds("created_container_timeout_m")
        since = subject.created or self.now
        age = (self.now - since).total_seconds()
        signals = {"created_at": iso(since), "age_s": round(age)}
        if not subject.tracked:
            return self.decide(subject, "keep", "not made by ds01 or AIME: never removed (its GPU hold still ends)",
                               signals)
        if keeps_aime(subject):
            return self.decide(subject, "keep", f"created {format_duration(age)} ago, not started; {KEPT_AIME}",
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
        removable = subject.tracked and not keeps_aime(subject)
        if removable and container_hold is not None and stopped_for >= container_hold:
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
        elif keeps_aime(subject):
            parts.append(KEPT_AIME)
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
