"""What ds01-exporter serves: Prometheus metric families from one look at the host.

Each scrape takes one snapshot, the allocator's own (`Allocator.snapshot`: slots, holdings,
claims, reservations), plus one container list, the wait queue, the idle check's memory, the
per-user parent cgroups and the event log, and turns it into families. The containers come from the
exporter's own live view of the engine (ds01/live_view.py: followed by a thread, made exact before each
snapshot), as a served read's come from ds01d's. The snapshot is cached for `ttl` seconds, so parallel
scrapes (two Prometheus servers, a dashboard) share it. DS01's family
names are kept where the meaning is the same, so its dashboards and alerts keep working.

Label values are whatever Docker and the policy say (users, containers, slots); prometheus_client
escapes them for the exposition format. Nothing here comes from a label a user wrote and ds01 did
not: owners, interfaces and GPU slots are the container records' (`containers.record`), whose
facts ds01's create writes itself.
"""

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from . import __version__, clock, events
from .containers import ContainerRecord, is_listed, record
from .events import FILE_NAME
from .privilege import root_files

if TYPE_CHECKING:
    from .live_view import Followed
    from .runtime import Runtime

LIFECYCLE_SOURCES = ("ds01-idle-check", "ds01-max-runtime", "ds01-release-stale")
DAY = 86400


class EventTally:
    """Counts from the event log, read incrementally (only what was appended since the last scrape)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.inode: tuple[int, int] | None = None
        self.reset()

    def reset(self) -> None:
        self.offset = 0
        self.recent: list[tuple[float, str]] = []  # (time, event type) of the last 24 hours
        self.lifecycle: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()

    def update(self, now: float) -> None:
        try:
            with root_files(), open(self.path, "rb") as handle:
                info = os.fstat(handle.fileno())
                if (info.st_ino, info.st_dev) != self.inode or info.st_size < self.offset:  # rotated
                    self.reset()
                    self.inode = (info.st_ino, info.st_dev)
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        for line in data[:complete].decode("utf-8", "replace").splitlines():
            event = events._parse(line)
            if event is None:
                continue
            kind = event["event_type"]
            try:
                parsed = clock.parse_docker(event.get("timestamp") or "")
            except ValueError:
                continue
            if parsed is None:
                continue
            moment = parsed.timestamp()
            self.recent.append((moment, kind))
            if event.get("source") in LIFECYCLE_SOURCES or kind.startswith("lifecycle."):
                self.lifecycle[kind] += 1
            if kind == "gpu.reject":
                self.refusals[str((event.get("details") or {}).get("reason") or "unknown")] += 1
        self.recent = [(t, k) for t, k in self.recent if t >= now - DAY]


class Collector:
    """A prometheus_client collector: `collect()` yields the families of a snapshot at most `ttl` seconds old."""

    def __init__(self, make_runtime: Any, ttl: float = 5.0, followed: "Followed | None" = None) -> None:
        self.make_runtime = make_runtime
        self.ttl = ttl
        self.followed = followed  # the exporter's live view of the engine (ds01/live_view.py), or None
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Any]] | None = None
        self._tally: EventTally | None = None

    def collect(self) -> Any:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.ttl:
                rt = self.make_runtime()
                with self.followed.reading(rt.api) if self.followed else contextlib.nullcontext(rt.api) as api:
                    rt.api = api  # the containers and their inspections from the view, made exact now
                    self._cached = (time.monotonic(), self.families(rt))
            return iter(self._cached[1])

    def families(self, rt: "Runtime") -> list[Any]:
        if self._tally is None:
            self._tally = EventTally(os.path.join(rt.settings.get("log_dir"), FILE_NAME))
        return families(rt, self._tally)


def families(rt: "Runtime", tally: EventTally) -> list[Any]:
    """Every family, from one snapshot of the host."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # lazy: prometheus_client.core, 27 ms

    from .gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 15 ms

    started = time.monotonic()
    allocator = Allocator(rt)
    snap = allocator.snapshot()
    entries = rt.api.containers(all=True)
    records = [record(e) for e in entries if is_listed(e)]
    now = rt.now().timestamp()
    tally.update(now)
    out: list[Any] = []

    def gauge(name: str, doc: str, labels: list[str], rows: list[tuple[list[str], float]]) -> None:
        family = GaugeMetricFamily(name, doc, labels=labels)
        for values, value in rows:
            family.add_metric([str(v if v is not None else "") for v in values], value)
        out.append(family)

    slot_labels = ["slot", "gpu", "uuid", "type", "profile"]

    def slot_key(slot: Any) -> list[str]:
        return [slot.id, str(slot.gpu), slot.uuid, slot.type, slot.profile or ""]

    held = {s.id: snap.holders(s.id) for s in snap.slots}
    gauge("ds01_gpu_allocated", "1 when a container holds the slot", slot_labels,
          [(slot_key(s), 1.0 if held[s.id] else 0.0) for s in snap.slots])
    gauge("ds01_gpu_equivalents", "the slot's size in whole GPUs (a MIG device's share of its GPU)", slot_labels,
          [(slot_key(s), round(s.weight, 4)) for s in snap.slots])
    gauge("ds01_gpu_slot_info", "a slot, its state and its holder (1 per slot)",
          ["slot", "gpu", "uuid", "type", "profile", "state", "user", "container"],
          [([*slot_key(s), snap.state(s.id), ",".join(sorted({h.user or "" for h in held[s.id]})),
             ",".join(h.container for h in held[s.id])], 1.0) for s in snap.slots])
    gauge("ds01_mig_slot_info", "a MIG device: its GPU and profile (1 per MIG slot)",
          ["slot", "gpu", "uuid", "profile"],
          [([s.id, str(s.gpu), s.uuid, s.profile or ""], 1.0) for s in snap.slots if s.is_mig])
    gauge("ds01_gpu_utilization_percent", "the slot's utilisation (where the driver reports it)", ["slot", "gpu"],
          [([s.id, str(s.gpu)], float(s.utilization)) for s in snap.slots if s.utilization is not None])
    gauge("ds01_gpu_memory_used_bytes", "memory in use on the slot", ["slot", "gpu"],
          [([s.id, str(s.gpu)], float(s.memory_used)) for s in snap.slots])
    gauge("ds01_gpu_memory_total_bytes", "the slot's memory", ["slot", "gpu"],
          [([s.id, str(s.gpu)], float(s.memory_total)) for s in snap.slots])
    gpus = snap.inventory.gpus
    gauge("ds01_gpu_temperature_celsius", "the GPU's temperature (where the driver reports it)", ["gpu", "uuid"],
          [([str(g.index), g.uuid], float(g.temperature)) for g in gpus if g.temperature is not None])
    gauge("ds01_gpu_power_watts", "the GPU board's power draw (where the driver reports it)", ["gpu", "uuid"],
          [([str(g.index), g.uuid], float(g.power_watts)) for g in gpus if g.power_watts is not None])

    statuses = Counter((r["status"] or "unknown", r["interface"] or "unknown") for r in records)
    gauge("ds01_containers_total", "containers by Docker state and creation interface", ["status", "interface"],
          [([s, i], float(n)) for (s, i), n in sorted(statuses.items())])
    users = sorted({r["user"] for r in records if r["user"]} | {h.user for h in snap.holdings if h.user})
    per_user = {u: snap.usage(u) for u in users}
    gauge("ds01_user_gpus_allocated", "GPU slots the user holds (containers and claims)", ["user"],
          [([u], float(len(per_user[u][1]))) for u in users])
    gauge("ds01_user_gpu_equivalents", "GPU-equivalents the user holds (containers and claims)", ["user"],
          [([u], round(per_user[u][0], 4)) for u in users])
    owned = Counter(r["user"] for r in records if r["user"])
    gauge("ds01_user_containers_count", "containers the user has, in any state", ["user"],
          [([u], float(owned.get(u, 0))) for u in users])
    running = Counter(r["user"] for r in records if r["user"] and r["status"] == "running")
    gauge("ds01_user_containers_running", "the user's running containers", ["user"],
          [([u], float(running.get(u, 0))) for u in users])
    quotas = [([u], float(q)) for u in users if (q := rt.limits(u)["max_gpu_equivalents"]) is not None]
    gauge("ds01_user_gpu_quota", "the GPU-equivalents the user may hold (max_gpu_equivalents)", ["user"], quotas)
    gauge("ds01_user_group_info", "the policy group that places the user (1 per user)", ["user", "group"],
          [([u, rt.limits(u).group], 1.0) for u in users])

    managed = {r["id"] for r in records if r["managed"]}  # an unlisted container (no owner) is never ds01's
    unmanaged = []
    for holding in snap.holdings:  # any container, listed or not: one of another tool's is the point
        if holding.slots and holding.status == "running" and holding.id[:12] not in managed:
            unmanaged.append(([holding.container, holding.user or "", ",".join(holding.slots)], 1.0))
    gauge("ds01_unmanaged_gpu_container", "a running container with GPUs that ds01 did not create",
          ["container", "user", "slots"], unmanaged)
    gauge("ds01_unmanaged_gpu_count", "running containers with GPUs that ds01 did not create", [],
          [([], float(len(unmanaged)))])

    slots_of = {h.container: ",".join(h.slots) for h in snap.holdings if h.holds}
    idle, seconds_rows = idle_rows(rt, records, now, slots_of)
    gauge("ds01_container_idle", "1 when the idle check last found the container idle (slots: those it holds)",
          ["container", "user", "slots"], idle)
    gauge("ds01_container_idle_seconds", "seconds since the idle check last saw the container at work",
          ["container", "user", "slots"], seconds_rows)

    queue = allocator.queue()
    waits = [now - float(e.get("enqueued_at") or now) for e in queue]
    gauge("ds01_queue_length", "requests waiting for a GPU slot", [], [([], float(len(queue)))])
    gauge("ds01_queue_oldest_wait_seconds", "how long the longest waiter has waited (0 with none)", [],
          [([], max(waits) if waits else 0.0)])

    refusals = CounterMetricFamily("ds01_allocator_refusals", "GPU requests the allocator refused, by reason",
                                   labels=["reason"])
    for reason, count in sorted(tally.refusals.items()):
        refusals.add_metric([reason], float(count))
    out.append(refusals)
    lifecycle = CounterMetricFamily("ds01_lifecycle_events", "events of the lifecycle jobs, by type",
                                    labels=["event_type"])
    for kind, count in sorted(tally.lifecycle.items()):
        lifecycle.add_metric([kind], float(count))
    out.append(lifecycle)
    recent = Counter(kind for _, kind in tally.recent)
    gauge("ds01_events_24h_total", "events of the last 24 hours, by type", ["event_type"],
          [([k], float(n)) for k, n in sorted(recent.items())])

    memory, memory_limit, cpu, cpu_limit = _user_cgroups(rt, users)
    gauge("ds01_user_memory_bytes", "memory the user's containers use together (their parent cgroup)", ["user"],
          memory)
    gauge("ds01_user_memory_limit_bytes", "the user's enforced memory total (aggregate.memory_max)", ["user"],
          memory_limit)
    cpu_family = CounterMetricFamily("ds01_user_cpu_seconds", "CPU time of the user's containers together",
                                     labels=["user"])
    for values, value in cpu:
        cpu_family.add_metric(values, value)
    out.append(cpu_family)
    gauge("ds01_user_cpu_limit_cores", "the user's enforced CPU total in cores (aggregate.cpu_quota / 100)",
          ["user"], cpu_limit)

    gauge("ds01_broker_up", "1 when ds01d accepts connections on its socket", [], [([], _broker_up(rt))])
    gauge("ds01_state_dir_writable", "1 when the state dir is root's, writable by root and by no one else", [],
          [([], _state_dir_ok(rt))])

    gauge("ds01_build_info", "ds01's version (1)", ["version", "python"],
          [([__version__, ".".join(map(str, sys.version_info[:3]))], 1.0)])
    gauge("ds01_scrape_duration_seconds", "how long this snapshot took to take", [],
          [([], time.monotonic() - started)])
    return out


def idle_rows(rt: "Runtime", records: list[ContainerRecord], now: float,
              slots_of: dict[str, str]) -> tuple[list[Any], list[Any]]:
    """([container, user, slots], idle 0/1) and (…, idle seconds) of each running container: the idle check's
    latest view, from its memory (`<state>/jobs/ds01-idle-check.json`)."""
    from .statedir import StateDir  # lazy: ds01.statedir, 10 ms

    memory = StateDir.of(rt).read_job_memory("ds01-idle-check").get("containers") or {}
    if not isinstance(memory, dict):
        memory = {}
    idle, seconds = [], []
    for rec in records:
        if rec["status"] != "running":
            continue
        state = next((s for cid, s in memory.items() if cid.startswith(rec["id"]) and isinstance(s, dict)), None)
        if not state or not isinstance(state.get("last_activity"), (int, float)):
            continue
        key = [rec["container"], rec["user"] or "", slots_of.get(rec["container"], "")]
        idle.append((key, 1.0 if state.get("streak") else 0.0))
        seconds.append((key, max(0.0, now - state["last_activity"]) if state.get("streak") else 0.0))
    return idle, seconds


def _user_cgroups(rt: "Runtime", users: list[str]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    from .cgroups import daemon_cgroups, usage  # lazy: ds01.cgroups, 4 ms

    base = daemon_cgroups(rt.settings.get("docker_host"))
    memory, memory_limit, cpu, cpu_limit = [], [], [], []
    for user in users:
        limits = rt.limits(user)
        used = usage(limits.slice_name, base=base)
        if used["memory_bytes"] is not None:
            memory.append(([user], float(used["memory_bytes"])))
        if used["cpu_seconds"] is not None:
            cpu.append(([user], used["cpu_seconds"]))
        aggregate = limits.aggregate or {}
        if aggregate.get("memory_max") is not None:
            memory_limit.append(([user], float(aggregate["memory_max"])))
        if aggregate.get("cpu_quota") is not None:
            cpu_limit.append(([user], float(aggregate["cpu_quota"]) / 100))
    return memory, memory_limit, cpu, cpu_limit


def _broker_up(rt: "Runtime") -> float:
    import socket  # lazy: socket, 1 ms

    try:
        with root_files(), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(rt.settings.get("socket"))
    except OSError:
        return 0.0
    return 1.0


def _state_dir_ok(rt: "Runtime") -> float:
    from .statedir import StateDir, directory_problem  # lazy: ds01.statedir, 10 ms

    directory = StateDir.of(rt).root
    with root_files():
        try:
            info = os.lstat(directory)
        except OSError:
            return 0.0
        return 1.0 if directory_problem(info) is None and os.access(directory, os.W_OK) else 0.0
