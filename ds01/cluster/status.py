"""The read side of cluster mode: gpu-status, gpu-queue, check-limits, dashboard and ds01-report with `--cluster`.

Slurm is the allocator, so Slurm is the source: the nodes and their GPUs (`sinfo`), the queue with its order
and reasons (`squeue`), fair share (`sshare`), the user's QOS (`sacctmgr`) and the allocation history
(`sacct`), all through slurm.py. ds01 adds what Slurm does not know: which of its containers a job is (the
head's cluster records).
A controller that does not answer makes every state unknown: the commands fail (exit 1) rather than
print a GPU as free or a queue as empty.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..errors import Ds01Error
from .containers import load_records, slurm_of
from .slurm import ControllerUnreachable, Job, Slurm

MIG_PROFILE = re.compile(r"^(?P<slices>\d+)g\.\d+gb$")
MIG_SLICES_PER_GPU = 7  # A100/H100: a MIG profile's `<n>g` is n of a GPU's 7 compute slices


def unknown(what: str, error: ControllerUnreachable) -> Ds01Error:
    """The error for a question Slurm did not answer: the state is unknown, never free or empty."""
    return Ds01Error(f"the Slurm controller did not answer, so {what} is unknown: {error.message}",
                     hint="sinfo (is slurmctld up?); ds01-doctor")


def gpu_eq(gres_type: str | None) -> float:
    """GPU-equivalents of one unit of a GRES type: a MIG profile its share of the GPU's slices, else 1."""
    match = MIG_PROFILE.match(gres_type or "")
    return round(int(match["slices"]) / MIG_SLICES_PER_GPU, 4) if match else 1.0


def _containers_by_job(rt) -> dict[int, dict[str, Any]]:
    return {int(rec["job"]): rec for rec in load_records(rt, None)}


# ---------------------------------------------------------------- gpu-status --cluster

def gpu_records(rt, slurm: Slurm | None = None) -> list[dict[str, Any]]:
    """One record per GPU of every node (typed and MIG GRES), in gpu-status's shape plus `node` and `jobs`.
    A GPU a job holds is `held` (its users and containers named); one on a node Slurm cannot use is `down`."""
    slurm = slurm or slurm_of(rt)
    try:
        nodes = slurm.nodes()
        jobs = slurm.jobs()
    except ControllerUnreachable as error:
        raise unknown("every GPU's state", error) from None
    containers = _containers_by_job(rt)
    holders: dict[tuple[str, int], list[Job]] = {}
    for job in jobs:
        if job.state not in ("RUNNING", "COMPLETING", "SUSPENDED", "STOPPED"):
            continue
        for held_on, gpus in job.gres_by_node.items():
            for gpu in gpus:
                holders.setdefault((held_on, gpu.index), []).append(job)
    out = []
    for node in sorted(nodes, key=lambda n: n.name):
        used = {g.index for g in node.gpus_used()}
        index = 0
        for gres_type, count in node.gpus_total().items():
            for _ in range(count):
                held = holders.get((node.name, index), [])
                if held or index in used:
                    state = "held"
                elif not node.usable:
                    state = "down"
                else:
                    state = "free"
                mig = bool(MIG_PROFILE.match(gres_type or ""))
                out.append({
                    "slot": f"{node.name}:{index}", "uuid": None, "gpu": index, "type": gres_type,
                    "profile": gres_type if mig else None, "gpu_eq": gpu_eq(gres_type),
                    "memory_used": None, "memory_total": None, "utilization": None, "state": state,
                    "containers": [containers[j.id]["container"] for j in held if j.id in containers],
                    "users": list(dict.fromkeys(j.user or str(j.uid) for j in held)),
                    "claims": [], "reserved_for": None, "reservation_reason": None, "host_pids": [],
                    "node": node.name, "node_state": node.state, "node_reason": node.reason,
                    "jobs": [j.id for j in held],
                })
                index += 1
    return out


# ---------------------------------------------------------------- gpu-queue --cluster

def _requested(job: Job) -> tuple[int, str | None]:
    """GPUs a job asks for, and their type (None: any)."""
    count = job.tres.get("gres/gpu", 0)
    typed = [key.split(":", 1)[1] for key in job.tres if key.startswith("gres/gpu:")]
    return count, typed[0] if len(typed) == 1 else None


def queue_records(rt, slurm: Slurm | None = None) -> list[dict[str, Any]]:
    """The pending jobs in the order Slurm will consider them (priority, then submission), with Slurm's reason
    and, for a ds01 cluster container, its name."""
    slurm = slurm or slurm_of(rt)
    try:
        jobs = [j for j in slurm.jobs() if j.state == "PENDING"]
    except ControllerUnreachable as error:
        raise unknown("the queue", error) from None
    containers = _containers_by_job(rt)
    jobs.sort(key=lambda j: (-(j.priority or 0), j.submitted or 0, j.id))
    out = []
    for position, job in enumerate(jobs, 1):
        count, gres_type = _requested(job)
        mig = bool(MIG_PROFILE.match(gres_type or ""))
        rec = containers.get(job.id)
        out.append({"position": position, "id": job.id, "job": job.id, "user": job.user or str(job.uid),
                    "priority": job.priority, "qos": job.qos, "num_gpus": count,
                    "gpu_profile": gres_type if mig else None,
                    "full_gpu": bool(gres_type) and not mig, "gpu_type": gres_type,
                    "container": rec["container"] if rec else None, "reason": job.reason,
                    "waiting_since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.submitted))
                    if job.submitted else None, "pid": None})
    return out


# ---------------------------------------------------------------- check-limits --cluster

def limits_record(rt, account) -> dict[str, Any]:
    """The user's QOS limits (slurmdbd's, as ds01-slurm-generate set them from the policy) next to what their
    running jobs hold now, and their pending jobs with Slurm's reasons."""
    slurm = slurm_of(rt)
    group = rt.limits(account.login).group
    try:
        qos = slurm.qos(group)
        jobs = slurm.jobs(user=account.login)
    except ControllerUnreachable as error:
        raise unknown("your use against your limits", error) from None
    running = [j for j in jobs if j.state in ("RUNNING", "COMPLETING", "SUSPENDED")]
    in_use: dict[str, int] = {}
    for job in running:
        for key, value in job.tres.items():
            in_use[key] = in_use.get(key, 0) + value
    keys = sorted(set(qos.max_tres_per_user) | {k for k in in_use if k.startswith(("gres/", "billing"))})
    per_user = [{"tres": key, "used": in_use.get(key, 0), "limit": qos.max_tres_per_user.get(key),
                 "share": (in_use.get(key, 0) / qos.max_tres_per_user[key])
                 if qos.max_tres_per_user.get(key) else None} for key in keys]
    return {"user": account.login, "group": group, "qos": qos.name, "priority": qos.priority,
            "per_user": per_user, "per_job": dict(qos.max_tres_per_job), "max_wall": qos.max_wall,
            "flags": list(qos.flags), "running": [j.id for j in running],
            "pending": [{"job": j.id, "reason": j.reason} for j in jobs if j.state == "PENDING"]}


# ---------------------------------------------------------------- fair share, nodes (dashboard --cluster)

def fairshare_records(rt, slurm: Slurm | None = None) -> list[dict[str, Any]]:
    """Each user association's fair share (`sshare`), highest factor first: of two waiting jobs of equal QOS,
    Slurm starts the one whose owner has the higher factor (used less of their share) first. An admin sees
    every user's; anyone else their own."""
    slurm = slurm or slurm_of(rt)
    try:
        shares = slurm.fair_share(() if rt.admin else (rt.caller.login,))
    except ControllerUnreachable as error:
        raise unknown("the fair share", error) from None
    rows = [{"user": f.user, "account": f.account, "fairshare": f.factor, "raw_usage": f.raw_usage,
             "norm_shares": f.norm_shares, "effective_usage": f.effective_usage} for f in shares
            if rt.admin or f.user == rt.caller.login]
    return sorted(rows, key=lambda r: (-(r["fairshare"] or 0.0), r["user"], r["account"]))


def node_records(gpus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per node, from gpu_records: its state and its GPUs' counts (free, held, down)."""
    nodes: dict[str, dict[str, Any]] = {}
    for gpu in gpus:
        node = nodes.setdefault(gpu["node"], {"node": gpu["node"], "state": gpu["node_state"],
                                              "reason": gpu["node_reason"], "gpus": 0, "free": 0, "held": 0,
                                              "down": 0, "gpu_eq": 0.0, "gpu_eq_free": 0.0})
        node["gpus"] += 1
        node[gpu["state"]] = node.get(gpu["state"], 0) + 1
        node["gpu_eq"] = round(node["gpu_eq"] + gpu["gpu_eq"], 4)
        if gpu["state"] == "free":
            node["gpu_eq_free"] = round(node["gpu_eq_free"] + gpu["gpu_eq"], 4)
    return list(nodes.values())


# ---------------------------------------------------------------- ds01-report --cluster

def report(rt, since: float, until: float, by: str = "user") -> list[dict[str, Any]]:
    """ds01-report's records from slurmdbd's allocation history (`sacct --json`): per user (or group), GPU-hours
    (GPU-equivalents x hours), slot-hours (GPUs x hours) and container-hours (jobs x hours), each job's time
    clipped to the window (a job wholly inside it counts sacct's elapsed time)."""
    from ..accounting import _group  # lazy: ds01.accounting, 3 ms
    from ..clock import iso  # lazy: ds01.clock, 0.6 ms

    stamp = "%Y-%m-%dT%H:%M:%S"
    slurm = slurm_of(rt)
    try:
        jobs = slurm.accounting(start=time.strftime(stamp, time.localtime(since)),
                                end=time.strftime(stamp, time.localtime(until)))
    except ControllerUnreachable as error:
        raise unknown("the allocation history", error) from None
    totals: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if job.start is None:
            continue
        end = job.end if job.end is not None else job.start + job.elapsed
        if job.start >= since and end <= until:
            seconds = float(job.elapsed)
        else:
            seconds = max(0.0, min(end, until) - max(job.start, since))
        if seconds <= 0 or not job.user:
            continue
        hours = seconds / 3600
        gpus = job.gpus()
        typed = {key.split(":", 1)[1]: n for key, n in job.tres.items() if key.startswith("gres/gpu:")}
        equivalents = sum(gpu_eq(t) * n for t, n in typed.items()) if typed else float(gpus)
        row = totals.setdefault(job.user, {"gpu_hours": 0.0, "slot_hours": 0.0, "container_hours": 0.0,
                                           "allocations": 0, "containers": set()})
        row["gpu_hours"] += equivalents * hours
        row["slot_hours"] += gpus * hours
        row["container_hours"] += hours
        row["allocations"] += 1 if gpus else 0
        row["containers"].add(job.name)
    window = {"since": iso(since), "until": iso(until)}

    def shaped(t: dict[str, Any]) -> dict[str, Any]:
        return {"gpu_hours": round(t["gpu_hours"], 4), "slot_hours": round(t["slot_hours"], 4),
                "container_hours": round(t["container_hours"], 4), "allocations": t["allocations"],
                "containers": len(t["containers"]), **window}

    if by == "user":
        rows = [{"user": user, "group": _group(rt, user), **shaped(t)} for user, t in totals.items()]
    else:
        groups: dict[str, dict[str, Any]] = {}
        for user, t in totals.items():
            g = groups.setdefault(_group(rt, user), {"users": set(), "gpu_hours": 0.0, "slot_hours": 0.0,
                                                     "container_hours": 0.0, "allocations": 0, "containers": set()})
            g["users"].add(user)
            for key in ("gpu_hours", "slot_hours", "container_hours", "allocations"):
                g[key] += t[key]
            g["containers"] |= {f"{user}/{name}" for name in t["containers"]}
        rows = [{"group": name, "users": len(g["users"]), **shaped(g)} for name, g in groups.items()]
    return sorted(rows, key=lambda r: (-r["gpu_hours"], -r["container_hours"], r.get("user") or r["group"]))


__all__ = ("fairshare_records", "gpu_records", "limits_record", "node_records", "queue_records", "report")
