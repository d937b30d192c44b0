"""What each running container uses now, read from the kernel: CPU, memory against its limit, pids, network, GPUs.

`docker stats --no-stream` asks the engine, which takes two readings per container a second
apart, one container after another. ds01 reads the same counters from the container's own
cgroup (the files the kernel enforces its limits with) and network counters from its network
namespace (`/proc/PID/net/dev`; none for a container on the host's network, whose counters would
be the host's), for all containers at once, then once more `SAMPLE_S` later; CPU %
is the difference, as a percentage of one core (docker stats' convention). Memory in use leaves
out inactive page cache, as docker stats does.

GPU use comes from NVML's process list (host PIDs): each PID is placed in a container through
`/proc/PID/cgroup`. Per slot a container gets its processes' memory and, where the driver
reports per-process utilisation, their sum; otherwise the slot's utilisation when the slot is
the container's own (ds01 gives a slot to one container), and none where it cannot say.
"""

import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cgroups import ROOT, is_unified
from .errors import NotFound
from .privilege import root_files

if TYPE_CHECKING:
    from .runtime import Runtime

SAMPLE_S = 1.0
_HEX_ID = re.compile(r"[0-9a-f]{64}")
_NO_LIMIT = 1 << 62  # cgroup v1's "unlimited" is a page-rounded LONG_MAX


@dataclass
class Reading:
    at: float
    cpu_ns: int | None = None
    memory: int | None = None
    memory_limit: int | None = None
    cpu_limit: float | None = None
    pids: int | None = None
    pids_limit: int | None = None
    net_rx: int | None = None
    net_tx: int | None = None


@dataclass
class Target:
    rec: dict[str, Any]
    full_id: str
    pid: int
    dirs: dict[str, str] = field(default_factory=dict)
    own_network: bool = True  # False with --network host (AIME's default): the host's counters are not its own


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if text in ("max", ""):
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _NO_LIMIT else value


def _keyed(text: str | None) -> dict[str, str]:
    return dict(line.split(None, 1) for line in (text or "").splitlines() if len(line.split(None, 1)) == 2)


def cgroup_dirs(pid: int, root: str = ROOT) -> dict[str, str]:
    """{controller: directory} of a process's cgroups ("" for the unified hierarchy)."""
    text = _read(f"/proc/{pid}/cgroup")
    found = {}
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            controller = controller.removeprefix("name=")
            found[controller] = os.path.join(root, controller, parts[2].lstrip("/")) if controller \
                else os.path.join(root, parts[2].lstrip("/"))
    return found


def read(target: Target, unified: bool) -> Reading:
    """One reading of a container's counters and limits, from its cgroup and network namespace."""
    dirs = target.dirs
    out = Reading(at=time.monotonic())
    if unified:
        base = dirs.get("", "")
        usage = _keyed(_read(os.path.join(base, "cpu.stat"))).get("usage_usec")
        out.cpu_ns = None if usage is None else int(usage) * 1000
        current = _int(_read(os.path.join(base, "memory.current")))
        inactive = _keyed(_read(os.path.join(base, "memory.stat"))).get("inactive_file")
        out.memory_limit = _int(_read(os.path.join(base, "memory.max")))
        quota = (_read(os.path.join(base, "cpu.max")) or "").split()
        if len(quota) == 2 and quota[0] != "max":
            out.cpu_limit = int(quota[0]) / int(quota[1])
        pids_dir = base
    else:
        out.cpu_ns = _int(_read(os.path.join(dirs.get("cpuacct", ""), "cpuacct.usage")))
        memory_dir = dirs.get("memory", "")
        current = _int(_read(os.path.join(memory_dir, "memory.usage_in_bytes")))
        inactive = _keyed(_read(os.path.join(memory_dir, "memory.stat"))).get("total_inactive_file")
        out.memory_limit = _int(_read(os.path.join(memory_dir, "memory.limit_in_bytes")))
        cfs_quota = _int(_read(os.path.join(dirs.get("cpu", ""), "cpu.cfs_quota_us")))
        period = _int(_read(os.path.join(dirs.get("cpu", ""), "cpu.cfs_period_us")))
        if cfs_quota and cfs_quota > 0 and period:
            out.cpu_limit = cfs_quota / period
        pids_dir = dirs.get("pids", "")
    if current is not None:
        out.memory = max(0, current - int(inactive or 0))
    out.pids = _int(_read(os.path.join(pids_dir, "pids.current")))
    out.pids_limit = _int(_read(os.path.join(pids_dir, "pids.max")))
    if target.own_network:
        out.net_rx, out.net_tx = network(target.pid)
    return out


def network(pid: int) -> tuple[int | None, int | None]:
    """Bytes received and sent by the container's interfaces (its network namespace, loopback left out)."""
    text = _read(f"/proc/{pid}/net/dev")
    if text is None:
        return None, None
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, numbers = line.partition(":")
        fields = numbers.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        rx, tx = rx + int(fields[0]), tx + int(fields[8])
    return rx, tx


def targets(rt: "Runtime", recs: list[dict[str, Any]]) -> list[Target]:
    """The running ones of `recs` with their init PID and cgroup directories (one inspect each)."""
    found = []
    for rec in recs:
        if rec.get("status") != "running":
            continue
        try:
            info = rt.api.inspect_container(rec["id"])
        except NotFound:
            continue  # removed since the listing
        pid = int((info.get("State") or {}).get("Pid") or 0)
        if pid <= 0:
            continue
        mode = str((info.get("HostConfig") or {}).get("NetworkMode") or "")
        found.append(Target(rec, info["Id"], pid, cgroup_dirs(pid), own_network=mode != "host"))
    return found


def gpu_use(inventory: Any, target_list: list[Target]) -> dict[str, list[dict[str, Any]]]:
    """Per container id: [{slot, uuid, utilization, memory_used, processes}] for slots it holds or runs on."""
    by_id = {t.full_id: t for t in target_list}
    names = {n: t.full_id for t in target_list for n in (t.rec["container"], t.rec["name"], t.full_id[:12])}
    out: dict[str, list[dict[str, Any]]] = {}
    for slot in inventory.slots():
        mine: dict[str, list[Any]] = {}
        for process in slot.processes:
            owner = names.get(process.container or "") or _container_of(process.pid, by_id)
            if owner:
                mine.setdefault(owner, []).append(process)
        holders = [t.full_id for t in target_list if slot.uuid in (t.rec.get("gpus") or [])]
        for cid in dict.fromkeys([*holders, *mine]):
            procs = mine.get(cid, [])
            per_process = [p.utilization for p in procs if getattr(p, "utilization", None) is not None]
            if per_process:
                utilization: float | None = float(sum(per_process))
            elif cid in holders and len(holders) == 1 and slot.utilization is not None:
                utilization = float(slot.utilization)
            else:
                utilization = None
            out.setdefault(cid, []).append({
                "slot": slot.id, "uuid": slot.uuid, "utilization": utilization,
                "memory_used": sum(p.used_memory for p in procs), "memory_total": slot.memory_total,
                "processes": len(procs)})
    return out


def _container_of(pid: int, by_id: dict[str, Target]) -> str | None:
    for found in _HEX_ID.findall(_read(f"/proc/{pid}/cgroup") or ""):
        if found in by_id:
            return found
    return None


def record(target: Target, before: Reading, after: Reading, gpus: list[dict[str, Any]]) -> dict[str, Any]:
    rec = target.rec
    cpu = None
    if before.cpu_ns is not None and after.cpu_ns is not None and after.at > before.at:
        cpu = round(max(0, after.cpu_ns - before.cpu_ns) / ((after.at - before.at) * 1e9) * 100, 2)
    memory_percent = None
    if after.memory is not None and after.memory_limit:
        memory_percent = round(after.memory / after.memory_limit * 100, 2)
    return {"container": rec["container"], "name": rec["name"], "user": rec["user"], "id": rec["id"],
            "cpu_percent": cpu, "cpu_limit": None if after.cpu_limit is None else round(after.cpu_limit, 3),
            "memory_used": after.memory, "memory_limit": after.memory_limit, "memory_percent": memory_percent,
            "pids": after.pids, "pids_limit": after.pids_limit, "net_rx": after.net_rx, "net_tx": after.net_tx,
            "gpus": gpus}


class Sampler:
    """Readings kept between rounds: the first round waits SAMPLE_S for its second reading, later rounds
    (`--watch`) compare with the round before."""

    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        self.unified = is_unified()
        self.previous: dict[str, Reading] = {}

    def round(self, recs: list[dict[str, Any]], wait: float = SAMPLE_S) -> list[dict[str, Any]]:
        with root_files():  # NVML's processes are read afresh each round
            found = targets(self.rt, recs)
            first = {t.full_id: read(t, self.unified) for t in found if t.full_id not in self.previous}
            if first:
                time.sleep(wait)  # the interval CPU % is measured over, once for all containers
            now = {t.full_id: read(t, self.unified) for t in found}
            self.rt.refresh()
            gpus = gpu_use(self.rt.inventory, found) if found else {}
        out = [record(t, self.previous.get(t.full_id) or first[t.full_id], now[t.full_id], gpus.get(t.full_id, []))
               for t in found]
        self.previous = now
        return out
