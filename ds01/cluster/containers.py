"""Cluster containers: one Slurm job per container, pinned to the node that holds it.

The head node's ds01d checks a create as a single-server create does (a dry run of create_container:
name, image, mounts, count), then submits, as the caller, a batch job whose program is ds01-slurm-shim,
and records the job (state_dir/cluster/<uid>/<name>.json, root's). Slurm is the allocator: the GPUs come
from `--gres`, cpus/memory/time from the caller's limits, the QOS is their group.

On the node, the shim (a ds01 command, served by the node's ds01d as every command is) asks that ds01d to
create and start the container. The node's ds01d believes only the kernel and the controller
(node_trust.trusted_job): the container goes into the job's cgroup (`--cgroup-parent`) with exactly the
job's GPUs, labelled with the job and the node; the shim waits on it and stops it (ds01's stop path) when
Slurm signals the job. The Epilog stops it when the shim could not.

A state Slurm could not be asked about is "unknown", never "stopped".
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from ..errors import Ds01Error, NotFound, PermissionDenied, UsageError
from .slurm import ControllerUnreachable, JobNotFound, Slurm, SubmitRequest

JOB_LABEL = "ds01.slurm_job"
NODE_LABEL = "ds01.node"
SHIM = "ds01-slurm-shim"
QUEUED = ("PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED")
LIVE = (*QUEUED, "RUNNING", "COMPLETING", "STOPPED")
DEFAULT_GRACE_S = 60
POLL_S = 0.25  # between two questions to the controller while waiting for a state it will reach
STOP_WAIT_S = 120.0


# ---------------------------------------------------------------- Slurm and settings

def slurm_of(rt) -> Slurm:
    return Slurm(slurm_conf=rt.settings.get("slurm_conf"))


def shim_path(rt) -> str:
    """The shim's absolute path on the nodes: the setting, else the one beside this interpreter (the install's
    venv holds every ds01 program, the same path on every node)."""
    return rt.settings.get("slurm_shim") or os.path.join(os.path.dirname(sys.executable), SHIM)


def shim_command(rt, name: str, image: str | None) -> list[str]:
    """The job's program: the shim, pointed at the node's ds01d socket (`{node}` in the setting is the node's
    name, for several nodes on one host). Whatever it says, the node's ds01d trusts only the kernel and Slurm."""
    return node_command(rt, [shim_path(rt), name, *([image] if image else [])])


def node_command(rt, program: list[str]) -> list[str]:
    """`program` (the shim and its arguments) as run on the node, in a job or a step: with DS01_SOCKET naming
    that node's ds01d."""
    template = rt.settings.get("cluster_node_socket")
    if not template:
        return program
    if "{node}" not in template:
        return ["/usr/bin/env", f"DS01_SOCKET={template}", *program]
    prefix, _, suffix = template.partition("{node}")
    script = 'p=$1 s=$2; shift 2; DS01_SOCKET="$p$SLURMD_NODENAME$s"; export DS01_SOCKET; exec "$@"'
    return ["/bin/sh", "-c", script, SHIM, prefix, suffix, *program]


def node_name(rt) -> str:
    return rt.settings.get("node_name") or socket.gethostname().split(".")[0]


# ---------------------------------------------------------------- the head's records

def _records_dir(rt, uid: int | None = None) -> str:
    base = os.path.join(rt.settings.get("state_dir"), "cluster")
    return base if uid is None else os.path.join(base, str(int(uid)))


def _record_path(rt, uid: int, name: str) -> str:
    return os.path.join(_records_dir(rt, uid), f"{name}.json")


def save_record(rt, record: dict[str, Any]) -> None:
    from ..atomic import replace_file
    from ..privilege import root_files

    with root_files():
        os.makedirs(_records_dir(rt), mode=0o700, exist_ok=True)
        os.makedirs(_records_dir(rt, record["uid"]), mode=0o700, exist_ok=True)
        replace_file(_record_path(rt, record["uid"], record["name"]),
                     (json.dumps(record, sort_keys=True) + "\n").encode(), mode=0o600)


def load_records(rt, uid: int | None) -> list[dict[str, Any]]:
    """The head's cluster records: one uid's, or (uid None) every user's."""
    from ..privilege import root_files

    found = []
    with root_files():
        base = _records_dir(rt)
        uids = [str(uid)] if uid is not None else (sorted(os.listdir(base)) if os.path.isdir(base) else [])
        for owner in uids:
            directory = os.path.join(base, owner)
            if not os.path.isdir(directory):
                continue
            for entry in sorted(os.listdir(directory)):
                if entry.endswith(".json"):
                    with open(os.path.join(directory, entry), encoding="utf-8") as handle:
                        found.append(json.load(handle))
    return found


def find_record(rt, name: str) -> dict[str, Any]:
    from .. import names

    wanted = names.validate(name)
    for rec in load_records(rt, rt.caller.uid):
        if names.same(rec["name"], wanted):
            return rec
    raise NotFound(f"no cluster container {name!r}", hint="container-list --cluster shows yours")


# ---------------------------------------------------------------- head: create (submit)

# The table of a cluster container's record (container-create/-list/-stop --cluster).
CLUSTER_COLUMNS = [("name", "NAME"), ("state", "STATE"), ("reason", "REASON"), ("node", "NODE"), ("job", "JOB"),
                   ("status", "STATUS")]

@dataclass
class ClusterRequest:
    name: str
    image: str | None
    version: str | None = None
    workspace: str | None = None
    data: str | None = None
    models: str | None = None
    cpu_only: bool = False
    num_gpus: int | None = None
    gpu_profile: str | None = None
    wait: float | None = None       # seconds to wait for RUNNING (0 = no limit), None = return once queued

    def gres(self) -> list[str]:
        if self.cpu_only:
            if self.num_gpus or self.gpu_profile:
                raise UsageError("--cpu-only cannot be combined with --num-gpus or --gpu-profile")
            return []
        count = self.num_gpus or 1
        return [f"gpu:{self.gpu_profile}:{count}" if self.gpu_profile else f"gpu:{count}"]


def create(rt, request: ClusterRequest) -> dict[str, Any]:
    """Check as a single-server create does, submit the shim's job as the caller, record it; the record
    (PENDING with Slurm's reason, or with `wait`, RUNNING on its node once the container runs)."""
    from ..create import CreateRequest, create_container

    gres = request.gres()
    for rec in load_records(rt, rt.caller.uid):
        from .. import names

        if names.same(rec["name"], request.name):
            raise Ds01Error(f"you already have a cluster container named {rec['name']!r}",
                            hint=f"container-list --cluster; or choose another name than {rec['name']}")
    checked = create_container(rt, CreateRequest(name=request.name, image=request.image, version=request.version,
                                                 workspace=request.workspace, data=request.data,
                                                 models=request.models, cpu_only=True), dry_run=True)
    made = checked.plan
    slurm = slurm_of(rt)
    job_id = _submit(rt, slurm, made.name, made.image, gres)
    record = {"name": made.name, "container": made.container, "user": rt.caller.login, "uid": rt.caller.uid,
              "image": made.image, "job": job_id, "node": None, "gres": gres, "submitted_at": rt.now_iso()}
    save_record(rt, record)
    rt.log_event("cluster.submit", rt.caller.login, container=made.container, job=job_id, gres=gres)
    if request.wait is None:
        return describe(rt, record, slurm)
    return wait_running(rt, record, slurm, request.wait)


def _submit(rt, slurm: Slurm, name: str, image: str | None, gres: list[str], node: str | None = None) -> int:
    """sbatch, as the caller, of the shim's job for container `name`: the GPUs `gres`, CPUs, memory (`--mem`:
    the job's memory cgroup, which the container goes under, binds it) and time from the caller's limits, their
    group's QOS; `node` pins it (`-w`) to the node that holds the container."""
    limits = rt.limits(rt.caller.login)
    runtime_h = limits["max_runtime_h"]
    return slurm.submit(SubmitRequest(
        command=shim_command(rt, name, image), name=name, gres=gres,
        cpus=max(1, math.ceil(float(limits["max_cpus"]))),
        mem_mb=max(1, int(limits["memory"]) // (1024 * 1024)) if limits["memory"] else None,
        time_minutes=max(1, math.ceil(runtime_h * 60)) if runtime_h else None,
        qos=limits.group, node=node, signal=f"B:TERM@{DEFAULT_GRACE_S}", comment="ds01"))


def wait_running(rt, record: dict[str, Any], slurm: Slurm, seconds: float) -> dict[str, Any]:
    """Ask the controller, then the engine, until the container runs (`seconds` 0: no limit)."""
    deadline = None if not seconds else time.monotonic() + seconds
    while True:
        described = describe(rt, record, slurm)
        if described["state"] == "RUNNING" and described["status"] == "running":
            return described
        if described["state"] not in LIVE and described["state"] != "unknown":
            raise Ds01Error(f"job {record['job']} of {record['name']} ended ({described['state']}) before its "
                            "container ran", hint=f"sacct -j {record['job']}; container-list --cluster")
        if deadline is not None and time.monotonic() > deadline:
            return described
        time.sleep(POLL_S)  # the controller and the node have no event ds01 can wait on


# ---------------------------------------------------------------- head: list

def _container_of(rt, job_id: int, container: str) -> dict[str, Any] | None:
    """The record's container as this engine sees it, if it carries the job's label (None if none). Matched by
    its Docker name too: a label is also what any image may set."""
    from ..containers import record

    entries = rt.api.containers(all=True, filters={"label": [f"{JOB_LABEL}={int(job_id)}"]})
    found = [e for e in entries if e["Names"][0].lstrip("/") == container]
    return record(found[0]) if found else None


def describe(rt, rec: dict[str, Any], slurm: Slurm, queue: dict[int, Any] | None = None,
             unreachable: bool = False) -> dict[str, Any]:
    """A cluster record: the container's fields (where it exists), its node, job, state and reason."""
    job = None
    state, reason = "unknown", None
    if not unreachable:
        try:
            job = queue.get(rec["job"]) if queue is not None else slurm.job(rec["job"])
        except JobNotFound:
            job = None
        except ControllerUnreachable:
            unreachable = True
    if not unreachable:
        if job is not None:
            state, reason = job.state, job.reason
        else:
            state = "ENDED"  # the controller no longer lists it: the container is whatever its node says
    container = _container_of(rt, rec["job"], rec["container"])
    node = (job.node if job is not None else None) or rec.get("node") or (
        None if container is None else container.get("node"))
    if node and node != rec.get("node"):
        rec["node"] = node
        save_record(rt, rec)
    out = {"name": rec["name"], "container": rec["container"], "id": None, "user": rec["user"], "uid": rec["uid"],
           "status": "unknown" if unreachable else ("queued" if state in QUEUED else "starting"),
           "image": rec.get("image"), "gpus": [], "interface": "cluster"}
    if container is not None:
        out.update({k: container[k] for k in ("id", "status", "image", "gpus", "workspace", "created_at")})
    elif not unreachable and state == "ENDED":
        out["status"] = "gone"
    out.update({"node": node, "job": rec["job"], "state": state, "reason": reason})
    return out


def list_records(rt, all_users: bool = False) -> list[dict[str, Any]]:
    if all_users and not rt.admin:
        raise PermissionDenied("only admins can list other users' containers",
                               hint="container-list --cluster shows yours")
    records = load_records(rt, None if all_users else rt.caller.uid)
    slurm = slurm_of(rt)
    queue: dict[int, Any] | None = None
    unreachable = False
    if records:
        try:
            queue = {job.id: job for job in slurm.jobs()}
        except ControllerUnreachable:
            unreachable = True
    return [describe(rt, rec, slurm, queue, unreachable) for rec in records]


# ---------------------------------------------------------------- head: stop

def stop(rt, name: str) -> dict[str, Any]:
    """`scancel` as the caller (Slurm checks the job is theirs); the shim stops the container, which stays,
    stopped, on its node. Returns the record once the controller has let the job go."""
    rec = find_record(rt, name)
    slurm = slurm_of(rt)
    slurm.cancel(rec["job"], as_caller=True)
    rt.log_event("cluster.cancel", rt.caller.login, container=rec["container"], job=rec["job"])
    deadline = time.monotonic() + STOP_WAIT_S
    while True:
        described = describe(rt, rec, slurm)
        if described["state"] not in LIVE and described["status"] != "running":
            return described
        if time.monotonic() > deadline:
            return described
        time.sleep(POLL_S)  # the shim's stop and the job's end are the node's to report


# ---------------------------------------------------------------- head: start again, run a command

def start(rt, name: str) -> dict[str, Any]:
    """A new job for a stopped cluster container, pinned (`-w`) to the node that holds its writable layer,
    asking for the GPUs it asked for at create; the record once queued. The shim there puts the container
    under the new job's cgroup and GPUs (`run_in_job`)."""
    rec = find_record(rt, name)
    slurm = slurm_of(rt)
    described = describe(rt, rec, slurm)
    if described["state"] == "unknown":
        raise Ds01Error(f"the Slurm controller did not answer: {rec['name']}'s job {rec['job']} may still run",
                        hint="sinfo; then container-list --cluster")
    if described["state"] in LIVE:
        raise Ds01Error(f"{rec['name']} is already {described['state']} in job {rec['job']}",
                        hint=f"container-list --cluster; container-stop {rec['name']} --cluster first")
    if described["status"] == "running":
        raise Ds01Error(f"{rec['name']} still runs on {described['node']} after its job ended",
                        hint=f"container-stop {rec['name']} --cluster")
    if not rec.get("node") or described["status"] == "gone":
        raise NotFound(f"{rec['name']} has no container on any node (its job ended before it was made)",
                       hint=f"container-create {rec['name']} IMAGE --cluster makes it anew")
    job_id = _submit(rt, slurm, rec["name"], None, list(rec.get("gres") or []), node=rec["node"])
    rec.update({"job": job_id, "submitted_at": rt.now_iso()})
    save_record(rt, rec)
    rt.log_event("cluster.submit", rt.caller.login, container=rec["container"], job=job_id, node=rec["node"],
                 gres=rec.get("gres"))
    return describe(rt, rec, slurm)


def run_command(rt, name: str, command: list[str]) -> int:
    """container-run NAME --cluster: a step in the container's job on its node (`srun --overlap`, as the caller:
    munge vouches for them and Slurm lets only the job's owner in), whose shim asks that node's ds01d to run
    `command` in the container as the caller; the command's exit code."""
    import subprocess

    from ..privilege import caller_process
    from .slurm import environment

    rec = find_record(rt, name)
    slurm = slurm_of(rt)
    described = describe(rt, rec, slurm)
    if described["state"] != "RUNNING" or described["status"] != "running" or not described["node"]:
        raise Ds01Error(f"{rec['name']} is not running (job {rec['job']}: {described['state']}, container "
                        f"{described['status']})", hint=f"container-start {rec['name']} --cluster", code=1)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    step = node_command(rt, [shim_path(rt), "--exec", rec["name"], "--", *(command or ["bash"])])
    argv = ["srun", f"--jobid={int(rec['job'])}", "--overlap", f"--nodelist={described['node']}", "--nodes=1",
            "--ntasks=1", "--chdir=/", "--quiet", *(["--pty"] if tty else []), *step]
    identity: dict[str, Any] = caller_process()
    env = environment(rt.settings.get("slurm_conf"), identity.pop("env", None))
    try:
        return subprocess.run(argv, check=False, env=env, cwd="/", **identity).returncode
    except FileNotFoundError:
        raise Ds01Error("srun is not installed: this host has no Slurm client commands", hint="ds01-doctor") from None
    except KeyboardInterrupt:
        return 130


__all__ = ("JOB_LABEL", "NODE_LABEL", "ClusterRequest", "create", "list_records", "run_command", "shim_command",
           "start", "stop")
