"""ds01-idle-check: running GPU containers that do nothing are warned, then stopped, freeing the GPU.

Per check and container, four signals (DS01 §5.2, fixed):
- GPU: utilisation of each whole GPU it holds; for a MIG slice, where NVML has no utilisation,
  the compute processes of this container on it (count and memory). Unknown = not counted.
- CPU %: from Docker's stats, averaged since the previous check (the first check takes a 1 s sample).
- Network: bytes received since the previous check (DS01 used the total since start).
- Processes: those that are not shells, `sleep`, init shims or the attach keep-alive, and that used
  CPU since the previous check (read from the host's /proc): `tail -f /dev/null` exists, it does not work.
A check is idle when the GPU is below gpu_idle_threshold AND every other signal is below its
threshold. The job acts only after idle_detection_window idle checks in a row and grace_period_m
after the start: a warning at 80 % and 95 % of the idle timeout, a stop at 100 %
(`docker stop -t <sigterm_grace_s>`), then removal for orchestration containers only.
`/workspace/.keep-alive` postpones that for keepalive_max_duration_h after it was touched (a date in
the future counts from the check that first saw it); it is read, like the notices are written, from
outside the container (ds01.workspace_files), bind mount or not.

A cluster container (one Slurm job on this node: its `ds01.slurm_job` label counts only where its cgroup parent is
that job's cgroup, cluster/in_job.job_of_container) is stopped through Slurm: root's `scancel` of its job, after
the controller confirms the job is its owner's on this node; the shim then stops it through ds01's stop path and
Slurm frees the GPUs. A `docker stop` behind Slurm's back would leave the job to end on its own. A controller that
does not answer stops nothing (an error for this run). Containers of another node's jobs are that node's to judge.
"""

import os

from ..clock import iso
from ..errors import Ds01Error
from ..policy import BUILTIN_POLICIES
from ..units import format_duration
from . import exemptions as E
from .job import Job

WARN_AT = (80, 95)
NOT_WORK = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "ash", "tcsh", "csh", "sleep", "tini",
            "docker-init", "dumb-init", "tmux", "screen", "login", "su"}
KEEP_ALIVE_FILE = ".keep-alive"


def counts_as_work(args):
    """True for a process that is doing something (not a shell, sleep, an init shim or the keep-alive)."""
    from ..sessions import KEEP_ALIVE_MARK  # lazy: ds01.sessions, 2 ms

    if KEEP_ALIVE_MARK in args:
        return False
    words = args.split()
    if not words:
        return False
    program = os.path.basename(words[0].lstrip("-"))
    return program not in NOT_WORK


def process_ticks(pid):
    """(start time, CPU ticks used) of a host process from /proc/PID/stat; None when it is gone."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2:].split()  # after the command name, which may hold spaces and ')'
    try:
        return int(fields[19]), int(fields[11]) + int(fields[12])  # starttime; utime + stime
    except (IndexError, ValueError):
        return None


def working(processes, previous):
    """(the processes that count as work, the CPU ticks to remember): a process counts when it is not a shell,
    sleep or shim and used CPU since the previous check (`previous`: "pid:start" -> ticks; a new one, since
    it started)."""
    ticks, work = {}, []
    for pid, args in processes:
        if not counts_as_work(args):
            continue
        reading = process_ticks(pid)
        if reading is None:
            continue
        key = f"{pid}:{reading[0]}"
        ticks[key] = reading[1]
        if reading[1] > previous.get(key, 0):
            work.append(args)
    return work, ticks


def cpu_reading(stats):
    cpu = stats.get("cpu_stats") or {}
    return ((cpu.get("cpu_usage") or {}).get("total_usage"), cpu.get("system_cpu_usage"),
            cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1)


def cpu_percent(now, before):
    """CPU % (100 = one CPU busy) between two readings (total_usage, system_cpu_usage, online_cpus)."""
    if not now[0] or not before or before[0] is None or not now[1] or not before[1]:
        return None
    used, elapsed = now[0] - before[0], now[1] - before[1]
    if used < 0 or elapsed <= 0:
        return None
    return round(used / elapsed * now[2] * 100, 2)


def received_bytes(stats):
    networks = stats.get("networks")
    if not networks:
        return None  # host network or none: not attributable to the container
    return sum(int(n.get("rx_bytes") or 0) for n in networks.values())


class IdleCheck(Job):
    name = "ds01-idle-check"

    def prepare(self):
        self.exemptions = E.load(self.rt.policy)

        self.global_policies = dict(BUILTIN_POLICIES, **self.rt.policy.section("policies"))

    def check(self):
        subjects = self.subjects()
        self.remember(subjects)
        observing_since = self.memory.setdefault("observing_since", self.now.timestamp())
        candidates = []
        self.cluster_jobs = {}
        for subject in subjects:
            if subject.status != "running" or not self.in_scope(subject):
                continue
            self.checked += 1
            why = self.protected(subject)
            if why:
                self.decide(subject, "protected", why)
                continue
            elsewhere = self._cluster_node(subject)
            if elsewhere:
                self.decide(subject, "skip", f"a cluster container of {elsewhere}: that node's idle check decides")
                continue
            candidates.append(subject)
        if not candidates:
            return
        demand = self._demand()
        samples = self._sample(candidates)
        for subject in candidates:
            sample = samples[subject.id]
            if isinstance(sample, Exception):
                self.decide(subject, "skip", f"could not sample: {getattr(sample, 'message', sample)}")
                continue
            self._decide(subject, sample, demand, observing_since)

    def _cluster_node(self, subject):
        """Remember a cluster container's job; the other node it runs on (None: this node's, or not a job's)."""
        from ..cluster.containers import NODE_LABEL, node_name  # lazy: ds01.cluster.containers, 7 ms
        from ..cluster.in_job import job_of_container  # lazy: ds01.cluster.in_job, 7 ms

        job = job_of_container(subject.info)
        if job is None:
            return None
        node = subject.labels.get(NODE_LABEL)
        if node != node_name(self.rt):
            return f"node {node}"
        self.cluster_jobs[subject.id] = job
        return None

    # ---------------------------------------------------------------- signals

    def _demand(self):
        """(share of slots held, high-demand factor or None)."""
        from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms

        snap = Allocator(self.rt).snapshot(self.now)
        if not snap.slots:
            return 0.0, None
        share = sum(1 for s in snap.slots if snap.holders(s.id)) / len(snap.slots)
        high = share >= self.global_policies["high_demand_threshold"]
        return share, self.global_policies["high_demand_idle_reduction"] if high else None

    def _sample(self, subjects):
        import concurrent.futures  # lazy: concurrent.futures, 4 ms

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(subjects))) as pool:
            futures = {s.id: pool.submit(self._sample_one, s) for s in subjects}
        result = {}
        for cid, future in futures.items():
            try:
                result[cid] = future.result()
            except Exception as exc:  # noqa: BLE001 - gone meanwhile, or the engine refused
                result[cid] = exc
        return result

    def _sample_one(self, subject):
        api = self.rt.api
        before = subject.state.get("cpu") if subject.state.get("started") == subject.started.isoformat() else None
        if before:
            stats = api.stats(subject.id, one_shot=True)
            cpu = cpu_percent(cpu_reading(stats), before)
        else:  # first sight: the engine's own two readings, about a second apart
            stats = api.stats(subject.id)
            cpu = cpu_percent(cpu_reading(stats), cpu_reading({"cpu_stats": stats.get("precpu_stats") or {}}))
        return {"stats": stats, "cpu": cpu, "processes": api.top(subject.id)}

    def _gpu(self, subject, pids, threshold):
        """Per slot: utilisation (whole GPU) or this container's compute processes (MIG); overall activity."""
        slots = {s.id: s for s in self.inventory_slots()}
        names = {subject.rec["container"], subject.rec["name"], subject.id, subject.id[:12]}
        found, active, known = [], False, False
        for slot_id in subject.slots:
            slot = slots.get(slot_id)
            if slot is None:
                continue
            mine = [p for p in slot.processes if (p.container in names) or (p.container is None and p.pid in pids)]
            entry = {"slot": slot_id, "utilization": slot.utilization, "processes": len(mine),
                     "memory_used": sum(p.used_memory for p in mine)}
            if slot.is_mig and slot.utilization is None:
                entry["active"] = bool(mine)
            elif slot.utilization is not None:
                entry["active"] = slot.utilization >= threshold
            else:
                entry["active"] = None
            if entry["active"] is not None:
                known = True
                active = active or entry["active"]
            found.append(entry)
        return found, (active if known else None)

    # ---------------------------------------------------------------- the decision

    def _decide(self, subject, sample, demand, observing_since):
        policies = subject.limits.policies
        state = subject.state
        started = subject.started.isoformat()
        if state.get("started") != started:  # first sight, or restarted since: a fresh idle clock
            state.clear()
            state.update(started=started, last_activity=max(subject.started.timestamp(), observing_since),
                         streak=0, warned=[])
        pids = {pid for pid, _ in sample["processes"]}
        work, state["ticks"] = working(sample["processes"], state.get("ticks") or {})
        rx = received_bytes(sample["stats"])
        rx_since = rx - state["rx"] if rx is not None and state.get("rx") is not None and rx >= state["rx"] else None
        gpu_slots, gpu_active = self._gpu(subject, pids, policies["gpu_idle_threshold"])
        signals = {"gpu": gpu_slots, "gpu_active": gpu_active, "cpu_percent": sample["cpu"],
                   "rx_bytes_since_last": rx_since, "processes": len(work),
                   "process_names": [os.path.basename(w.split()[0]) for w in work[:5]]}
        busy = []
        if gpu_active:
            busy.append("GPU")
        if sample["cpu"] is not None and sample["cpu"] >= policies["cpu_idle_threshold"]:
            busy.append(f"CPU {sample['cpu']:g} %")
        if rx_since is not None and rx_since >= policies["network_idle_threshold"]:
            busy.append(f"received {rx_since} bytes")
        if len(work) >= policies["process_idle_threshold"]:
            busy.append(f"{len(work)} process(es): {', '.join(signals['process_names'][:3])}")
        state["cpu"] = list(cpu_reading(sample["stats"]))
        state["rx"] = rx
        now_ts = self.now.timestamp()
        if busy:
            state.update(last_activity=now_ts, streak=0, warned=[])
            return self.decide(subject, "active", "active: " + "; ".join(busy), signals)
        state["streak"] = state.get("streak", 0) + 1
        idle_for = now_ts - state["last_activity"]
        signals.update(idle_for_s=round(idle_for), streak=state["streak"])
        timeout = self.timer(subject, "idle_timeout_h")
        exemption = E.find(self.exemptions, subject.user, "idle_timeout_h", self.now)
        if timeout is None or exemption:
            return self.exempt(subject, "idle_timeout_h", exemption,
                               f"{subject.interface} containers have no idle timeout", signals)
        share, factor = demand
        if factor is not None:
            timeout *= factor
            signals["high_demand"] = round(share, 3)
        signals["timeout_s"] = round(timeout)
        window = int(policies["idle_detection_window"])
        grace = policies["grace_period_m"] * 60
        since_start = now_ts - subject.started.timestamp()
        if state["streak"] < window:
            return self.decide(subject, "idle", f"idle check {state['streak']} of {window} before acting; idle for "
                                                f"{format_duration(idle_for)} of {format_duration(timeout)}", signals)
        if since_start < grace:
            return self.decide(subject, "grace", f"started {format_duration(since_start)} ago; no action in the first "
                                                 f"{format_duration(grace)}", signals)
        percent = idle_for / timeout * 100 if timeout else 100.0
        signals["percent"] = round(percent, 1)
        level = self.due_warning(subject, percent, WARN_AT)
        if percent < 100 and level is None:
            return self.decide(subject, "idle", f"idle for {format_duration(idle_for)} of "
                                                f"{format_duration(timeout)}", signals)
        keep, note = self._keep_alive(subject, policies)
        if keep:
            signals["keep_alive"] = note
            if not self.dry_run and state.get("keep_alive_logged") != note:
                state["keep_alive_logged"] = note
                self.log("lifecycle.keep-alive", subject, kind="idle", note=note, idle_for_s=round(idle_for))
            return self.decide(subject, "keep-alive", f"idle for {format_duration(idle_for)}, kept: {note}", signals)
        stale = f"; {note}" if note else ""
        if percent >= 100:
            return self._stop(subject, idle_for, timeout, signals, stale)
        return self._warn(subject, level, idle_for, timeout, signals, stale)

    def _keep_alive(self, subject, policies):
        """(honoured, note) for /workspace/.keep-alive: honoured for keepalive_max_duration_h after its mtime."""
        from ..workspace_files import stat_mtime  # lazy: ds01.workspace_files, 3 ms

        touched = stat_mtime(self.rt.api, subject.info, subject.rec["uid"], KEEP_ALIVE_FILE)
        if touched is None:
            return False, None
        now = self.now.timestamp()
        said = f"touched {iso(touched)}"
        if touched > now:  # `touch -d 2099-01-01`: it counts from when a check first saw that date, not from then
            seen = subject.state.setdefault("keep_alive_future", {})
            first = seen.get(str(touched))
            if first is None:
                seen.clear()
                first = seen[str(touched)] = now
            said = f"dated {iso(touched)} (in the future), counted from {iso(first)}"
            touched = first
        limit = policies["keepalive_max_duration_h"]
        if limit is None:
            return True, f".keep-alive {said} (no maximum)"
        until = touched + limit * 3600
        if now < until:
            return True, f".keep-alive {said}, honoured until {iso(until)}"
        return False, f".keep-alive {said} is older than {format_duration(limit * 3600)} and ignored"

    def _warn(self, subject, level, idle_for, timeout, signals, stale):
        name = subject.rec["name"]
        stop_at = self.now.timestamp() + max(0.0, timeout - idle_for)
        keep_hours = format_duration((subject.limits.policies["keepalive_max_duration_h"] or 0) * 3600)

        def warn():
            self.tell(subject, f"{name} idle: it will be stopped at {iso(stop_at)}",
                      f"Your container {name} has been idle for {format_duration(idle_for)} while holding "
                      f"{_gpu_words(subject)}. It will be stopped at {iso(stop_at)} (in "
                      f"{format_duration(timeout - idle_for)}) unless it does some work.\n"
                      f"To keep it: run your work, or `touch /workspace/.keep-alive` (honoured for {keep_hours}), "
                      f"or ask an admin for an exemption.")
            self.log("lifecycle.warn", subject, kind="idle", percent=level, idle_for_s=round(idle_for),
                     timeout_s=round(timeout), stop_at=iso(stop_at))

        record = self.decide(subject, "warn", f"idle for {format_duration(idle_for)} of {format_duration(timeout)} "
                                              f"({level} % warning){stale}", signals, action=warn, stop_at=iso(stop_at))
        self.mark_warned(subject, level, WARN_AT)
        return record

    def _stop(self, subject, idle_for, timeout, signals, stale):
        job = self.cluster_jobs.get(subject.id)
        if job is not None:
            return self._cancel(subject, job.job, idle_for, timeout, signals, stale)
        name = subject.rec["name"]
        grace = self.stop_grace(subject)
        remove = subject.interface == "orchestration"

        def stop():
            after = ("It is then removed (made by container-deploy); your files in /workspace are kept, "
                     f"container-deploy {name} makes it again." if remove else
                     f"Your files are kept; container-start {name} starts it again.")
            self.tell(subject, f"{name} stopped: idle",
                      f"Your container {name} was idle for {format_duration(idle_for)} (limit "
                      f"{format_duration(timeout)}) while holding {_gpu_words(subject)}. It is being stopped now "
                      f"(it has {grace:g}s to exit cleanly). {after}")
            self.rt.engine.stop(subject.id, timeout=int(grace), force=True, event="container.idle-stop",
                                idle_for_s=round(idle_for), idle_timeout_s=round(timeout), signals=signals)
            if remove:
                self.rt.engine.remove(subject.id, force=False, reason="idle")

        record = self.decide(subject, "stop", f"idle for {format_duration(idle_for)} of {format_duration(timeout)}"
                                              f"{stale}", signals, action=stop, removed=remove)
        if not self.dry_run and "error" not in record:
            subject.state.clear()
        return record


    def _cancel(self, subject, job_id, idle_for, timeout, signals, stale):
        """Stop an idle cluster container through Slurm: `scancel` its job as root once the controller says the job
        is live, its owner's and on this node. A job Slurm no longer runs leaves nothing to cancel: the container
        (escaped from its job) is stopped as any other."""
        from ..cluster.containers import LIVE, NODE_LABEL, slurm_of  # lazy: ds01.cluster.containers, 7 ms
        from ..cluster.slurm import JobNotFound  # lazy: ds01.cluster.slurm, 6 ms

        name, node = subject.rec["name"], subject.labels.get(NODE_LABEL)
        words = dict(idle_for_s=round(idle_for), idle_timeout_s=round(timeout), signals=signals)

        def cancel():
            slurm = slurm_of(self.rt)
            try:
                held = slurm.job(job_id)
            except JobNotFound:
                held = None
            self.tell(subject, f"{name} stopped: idle",
                      f"Your container {name} was idle for {format_duration(idle_for)} (limit "
                      f"{format_duration(timeout)}) while holding {_gpu_words(subject)}. Its Slurm job {job_id} is "
                      f"being cancelled now, which stops it and frees its GPUs. Your files are kept; "
                      f"container-start {name} --cluster starts it again on {node}.")
            if held is None or held.state not in LIVE:
                self.rt.engine.stop(subject.id, timeout=int(self.stop_grace(subject)), force=True,
                                    event="container.idle-stop", job=job_id, node=node, **words)
                return
            if held.uid != subject.rec["uid"] or (held.node and held.node != node):
                raise Ds01Error(f"Slurm says job {job_id} is uid {held.uid}'s on {held.node}, not this container's; "
                                "nothing cancelled", hint=f"scontrol show job {job_id}")
            slurm.cancel(job_id, as_caller=False)
            self.rt.log_event("container.idle-stop", subject.user, container=subject.rec["container"], name=name,
                              id=subject.id, job=job_id, node=node, via="scancel", **words)

        record = self.decide(subject, "stop", f"idle for {format_duration(idle_for)} of {format_duration(timeout)}"
                                              f"{stale}; cancelling Slurm job {job_id}", signals, action=cancel,
                             removed=False, slurm_job=job_id, node=node)
        if not self.dry_run and "error" not in record:
            subject.state.clear()
        return record


def _gpu_words(subject):
    if not subject.slots:
        return "no GPU" if not subject.devices else "GPU " + ", ".join(subject.devices)
    return ("GPU slot " if len(subject.slots) == 1 else "GPU slots ") + ", ".join(subject.slots)


