"""ds01-max-runtime: containers past max_runtime_h are stopped; paused ones past max_pause_time_h too.

Running time is summed over every run since the container was created, so a restart does not
reset it (DS01's did). Docker keeps only the latest start and stop, so the job remembers each
run it saw: a run ends at Docker's FinishedAt, or at the last check that saw it running when it
has been restarted since (a restart between two checks can lose at most one check interval).
Warnings at 75 % and 90 %; the stopped container is kept (the hold timers take over).
Docker does not record when a container was paused: the job counts from the first check that
saw it paused.

A cluster container (its job trusted through its cgroup parent, cluster/in_job.job_of_container) is skipped, and
its record says why: in cluster mode the maximum runtime is the job's `--time` (the remaining runtime, set at each
start), which Slurm enforces by ending the job.
"""

from ..clock import iso
from ..containers import ACTIVE
from ..units import format_duration
from . import exemptions as E
from .job import Job

WARN_AT = (75, 90)


def running_seconds(runs, current, running, now_ts):
    """Seconds across recorded runs; `current` is the key of Docker's latest run."""
    total = 0.0
    for key, run in runs.items():
        if key == current and running:
            end = now_ts
        else:
            end = run.get("end") or run["seen"]
        total += max(0.0, end - run["start"])
    return total


def update_runs(runs, started, finished, running, now_ts):
    """Fold Docker's latest start/stop into the remembered runs; returns the current run's key."""
    key = started.isoformat()  # microseconds: a stop and start within one second are two runs
    run = runs.setdefault(key, {"start": started.timestamp(), "seen": started.timestamp(), "end": None})
    if running:
        run["seen"] = max(run["seen"], now_ts)
    elif run.get("end") is None:
        ended = finished.timestamp() if finished and finished >= started else run["seen"]
        run["end"] = max(ended, run["seen"])
    for other, earlier in runs.items():
        if other != key and earlier.get("end") is None:
            earlier["end"] = earlier["seen"]  # restarted since: it ran at least until last seen
    return key


class MaxRuntime(Job):
    name = "ds01-max-runtime"

    def prepare(self):
        self.exemptions = E.load(self.rt.policy)

    def check(self):
        subjects = [s for s in self.subjects() if self.in_scope(s)]
        self.remember(subjects)
        now_ts = self.now.timestamp()
        for subject in subjects:
            state = subject.state
            running = subject.status in ACTIVE  # paused time is running time: the GPU stays held
            if subject.started is not None:
                runs = state.setdefault("runs", {})
                current = update_runs(runs, subject.started, subject.finished, running, now_ts)
                state["total_s"] = running_seconds(runs, current, running, now_ts)
            if subject.status == "paused":
                state.setdefault("paused_since", now_ts)
            else:
                state.pop("paused_since", None)
            if not running:
                continue
            self.checked += 1
            if self._slurm_times(subject):
                continue
            why = self.protected(subject)
            if why:
                self.decide(subject, "protected", why)
                continue
            if not self._runtime(subject) and subject.status == "paused":
                self._pause(subject)

    def _slurm_times(self, subject):
        """True (and a `skip` decision) for a cluster container: Slurm's time limit ends its job, not this job."""
        from ..cluster.in_job import job_of_container  # lazy: ds01.cluster.in_job, 7 ms

        job = job_of_container(subject.info)
        if job is None:
            return False
        self.decide(subject, "skip", f"a cluster container (Slurm job {job.job}): its maximum runtime is the job's "
                                     "time limit (--time), which Slurm enforces",
                    {"running_s": round(subject.state.get("total_s", 0.0))}, slurm_job=job.job)
        return True

    def _runtime(self, subject):
        """Decide on running time; True when the container is stopped or warned for it."""
        total = subject.state.get("total_s", 0.0)
        limit = self.timer(subject, "max_runtime_h")
        signals = {"running_s": round(total), "limit_s": limit, "runs": len(subject.state.get("runs", {}))}
        exemption = E.find(self.exemptions, subject.user, "max_runtime_h", self.now)
        if limit is None or exemption:
            if subject.status != "paused":
                self.exempt(subject, "max_runtime_h", exemption,
                            f"no max runtime for {subject.interface} containers of {subject.user or 'unknown owners'}",
                            signals)
            return False
        percent = total / limit * 100 if limit else 100.0
        signals["percent"] = round(percent, 1)
        name = subject.rec["name"]
        if percent >= 100:
            grace = self.stop_grace(subject)
            reason = f"ran {format_duration(total)} of max_runtime_h {format_duration(limit)}"

            def stop():
                self.tell(subject, f"{name} stopped: maximum runtime reached",
                          f"Your container {name} has run for {format_duration(total)}, its limit of "
                          f"{format_duration(limit)}. It is being stopped now (SIGTERM, then {grace:g}s to exit).\n"
                          f"Your files in /workspace are kept; container-start {name} starts it again, "
                          f"with the remaining time unchanged.")
                self.rt.engine.stop(subject.id, timeout=int(grace), force=True, event="container.runtime-stop",
                                    running_s=round(total), limit_s=limit)

            self.decide(subject, "stop", reason, signals, action=stop)
            return True
        level = self.due_warning(subject, percent, WARN_AT)
        if level is not None:
            stop_at = self.now.timestamp() + (limit - total)
            reason = f"ran {format_duration(total)} of {format_duration(limit)} ({level} % warning)"

            def warn():
                self.tell(subject, f"{name} will be stopped at {iso(stop_at)}",
                          f"Your container {name} has run for {format_duration(total)} of its "
                          f"{format_duration(limit)} limit. It will be stopped at {iso(stop_at)} "
                          f"(in {format_duration(limit - total)}).\nSave your work; ask an admin for an "
                          f"exemption (lifecycle-exemptions.yaml) if it must run longer.")
                self.log("lifecycle.warn", subject, kind="max_runtime", percent=level, stop_at=iso(stop_at))

            self.decide(subject, "warn", reason, signals, action=warn, stop_at=iso(stop_at))
            self.mark_warned(subject, level, WARN_AT)
            return True
        if subject.status != "paused":
            self.decide(subject, "ok", f"ran {format_duration(total)} of {format_duration(limit)}", signals)
        return False

    def _pause(self, subject):
        since = subject.state["paused_since"]
        paused_for = self.now.timestamp() - since
        limit = subject.limits.seconds("max_pause_time_h")
        signals = {"paused_since": iso(since), "paused_s": round(paused_for), "limit_s": limit}
        exemption = E.find(self.exemptions, subject.user, "max_pause_time_h", self.now)
        if limit is None or exemption:
            return self.exempt(subject, "max_pause_time_h", exemption, "max_pause_time_h is null", signals)
        if paused_for < limit:
            return self.decide(subject, "ok", f"paused for {format_duration(paused_for)} of "
                                              f"{format_duration(limit)}", signals)
        name = subject.rec["name"]
        grace = self.stop_grace(subject)

        def stop():
            self.tell(subject, f"{name} stopped: paused too long",
                      f"Your container {name} was paused for {format_duration(paused_for)} (limit "
                      f"{format_duration(limit)}) while holding its GPU and memory. It is being stopped now.\n"
                      f"Your files in /workspace are kept; container-start {name} starts it again.",
                      in_container=False)
            self.rt.engine.stop(subject.id, timeout=int(grace), force=True, event="container.pause-stop",
                                paused_s=round(paused_for), limit_s=limit)

        self.decide(subject, "stop", f"paused for {format_duration(paused_for)} (max_pause_time_h "
                                     f"{format_duration(limit)})", signals, action=stop)
