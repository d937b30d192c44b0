"""A user's limits next to what they use now: containers, GPU, CPU, memory, pids, lifecycle timers.

What `check-limits` prints. Allocated CPU and memory are the limits of the user's running
containers (what they reserve); memory in use is sampled from the engine (one reading each,
in parallel).
"""

import concurrent.futures

from .cgroups import daemon_cgroups, enforced
from .containers import ACTIVE, owned_by
from .errors import Ds01Error
from .gpu.allocator import Allocator
from .gpu.choice import binding_limit

LIFECYCLE_KEYS = ("idle_timeout_h", "max_runtime_h", "max_pause_time_h", "gpu_hold_after_stop_h",
                  "container_hold_after_stop_h")


def _memory_in_use(stats):
    """Bytes in use as `docker stats` counts them (page cache that can be dropped left out)."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    detail = memory.get("stats") or {}
    return max(0, usage - detail.get("total_inactive_file", detail.get("inactive_file", 0)))


def _share(used, limit):
    return None if not limit else round(used / limit, 4)


def standing(rt, user, sample=True):
    """The check-limits record for `user` (an identity.User)."""
    login = user.login
    limits = rt.limits(login)
    mine = sorted((r for r in rt.finder.records() if owned_by(r, user)), key=lambda r: r["name"])
    infos = {r["id"]: rt.api.inspect_container(r["id"]) for r in mine}
    running = [r for r in mine if r["status"] in ACTIVE]
    in_use, pids_in_use = {}, {}
    if sample and running:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(running))) as pool:
            samples = dict(pool.map(lambda r: (r["id"], _safe_stats(rt.api, r["id"])), running))
            in_use = {cid: _memory_in_use(s) if s else None for cid, s in samples.items()}
            pids_in_use = {cid: (s.get("pids_stats") or {}).get("current") if s else None
                           for cid, s in samples.items()}
    per_container = []
    for rec in mine:
        host = infos[rec["id"]].get("HostConfig") or {}
        per_container.append({
            "name": rec["name"], "status": rec["status"],
            "cpus": round((host.get("NanoCpus") or 0) / 1e9, 3) or None,
            "memory": host.get("Memory") or None, "memory_in_use": in_use.get(rec["id"]),
            "pids_limit": host.get("PidsLimit") or None, "pids_in_use": pids_in_use.get(rec["id"]),
            "gpus": rec["gpus"],
        })
    active = [c for c, r in zip(per_container, mine) if r["status"] in ACTIVE]
    cpus_allocated = round(sum(c["cpus"] or 0 for c in active), 3)
    memory_allocated = sum(c["memory"] or 0 for c in active)
    memory_used = sum(c["memory_in_use"] or 0 for c in active) if sample else None
    aggregate = limits.aggregate or {}
    cpu_quota = aggregate.get("cpu_quota")
    cpu_limit = None if cpu_quota is None else round(float(str(cpu_quota).rstrip("%")) / 100, 3)
    gpu = _gpu(rt, login, limits)
    count_limit = limits["max_containers_per_user"]
    warnings = []
    if count_limit is not None and len(mine) >= count_limit:
        warnings.append(f"container limit reached ({len(mine)}/{count_limit}): container-remove frees one")
    if gpu["eq_limit"] is not None and gpu["eq_used"] >= gpu["eq_limit"]:
        warnings.append(f"GPU limit reached ({gpu['eq_used']:g}/{gpu['eq_limit']:g} GPU-eq, "
                        f"{gpu['limited_by']}): gpu-allocate refuses more until one is released")
    for c in active:
        if c["memory"] and c["memory_in_use"] and c["memory_in_use"] >= 0.8 * c["memory"]:
            warnings.append(f"{c['name']} uses {c['memory_in_use'] * 100 // c['memory']}% of its memory limit "
                            "(it is killed at 100%)")
    return {
        "user": login, "group": limits.group,
        "containers": {"count": len(mine), "running": len(active), "limit": count_limit,
                       "share": _share(len(mine), count_limit)},
        "gpu": gpu,
        "cpu": {"per_container": limits["max_cpus"], "allocated": cpus_allocated, "aggregate_limit": cpu_limit,
                "share": _share(cpus_allocated, cpu_limit)},
        "memory": {"per_container": limits["memory"], "allocated": memory_allocated, "in_use": memory_used,
                   "aggregate_limit": aggregate.get("memory_max"),
                   "share": _share(memory_allocated, aggregate.get("memory_max"))},
        "pids": {"per_container": limits["pids_limit"], "aggregate_limit": aggregate.get("tasks_max")},
        "enforced": _enforced(rt, limits) if aggregate else {},
        "shm_size": limits["shm_size"],
        "lifecycle": {key: limits[key] for key in LIFECYCLE_KEYS},
        "per_container": per_container,
        "warnings": warnings,
    }


def _enforced(rt, limits):
    """The per-user totals as the kernel holds them now (the parent cgroup's limit files; written at a start)."""
    return enforced(limits.slice_name, base=daemon_cgroups(rt.settings.get("docker_host")))


def _safe_stats(api, cid):
    try:
        return api.stats(cid, one_shot=True)
    except Ds01Error:
        return None  # it stopped meanwhile


def _gpu(rt, login, limits):
    """GPU-eq and slots held (containers and claims), the limits, and the user's place in the wait queue."""
    allocator = Allocator(rt)
    snap = allocator.snapshot()
    used, held = snap.usage(login)
    queue = allocator.queue()
    positions = [i for i, entry in enumerate(queue, 1) if entry.get("user") == login]
    limit, limited_by = binding_limit(limits)  # the tighter of max_gpu_equivalents and aggregate.gpu_limit
    return {"eq_used": round(used, 4), "eq_limit": limit, "limited_by": limited_by, "share": _share(used, limit),
            "slots": held,
            "total_slots": len(snap.slots), "per_container": limits["max_gpu_slots_per_container"],
            "aggregate_limit": (limits.aggregate or {}).get("gpu_limit"), "allow_full_gpu": limits["allow_full_gpu"],
            "queue_positions": positions}
