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
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from .. import names
from ..atomic import replace_file
from ..errors import Ds01Error, NoCapacity, NotFound, PermissionDenied, UsageError
from ..image_choice import _catalog_image, framework_like
from ..privilege import caller_process, root_files
from ..units import format_duration
from ..visible import visible
from .slurm import ControllerUnreachable, Slurm, SubmitRequest, environment

JOB_LABEL = "ds01.slurm_job"
NODE_LABEL = "ds01.node"
SHIM = "ds01-slurm-shim"
QUEUED = ("PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED")
LIVE = (*QUEUED, "RUNNING", "COMPLETING", "STOPPED")
DEFAULT_GRACE_S = 60
POLL_S = 0.25  # between two questions to the controller while waiting for a state it will reach
STOP_WAIT_S = 120.0
SACCT_SINCE = "2000-01-01T00:00:00"  # sacct's window for a container's jobs: any time (their ids select them)


# ---------------------------------------------------------------- Slurm and settings

def slurm_of(rt) -> Slurm:
    return Slurm(slurm_conf=rt.settings.get("slurm_conf"))


def shim_path(rt) -> str:
    """The shim's absolute path on the nodes: the setting, else the one beside this interpreter (the install's
    venv holds every ds01 program, the same path on every node)."""
    return rt.settings.get("slurm_shim") or os.path.join(os.path.dirname(sys.executable), SHIM)


MOUNT_KEYS = ("workspace", "data", "models")  # the create's directories, handed to the node's create


def mounts_of(request: Any) -> dict[str, str]:
    """The directories a cluster create asked for, absolute (the node's shim runs in `/`, not in your directory;
    a `~` path is left for the node's own check, which expands it as you): {key: path}, only those given."""
    found = {}
    for key in MOUNT_KEYS:
        path = getattr(request, key, None)
        if path:
            found[key] = path if path.startswith("~") else os.path.abspath(path)
    return found


def shim_command(rt, name: str, image: str | None, mounts: dict[str, str] | None = None) -> list[str]:
    """The job's program: the shim, pointed at the node's ds01d socket (`{node}` in the setting is the node's
    name, for several nodes on one host), with the directories to mount. Whatever it says, the node's ds01d
    trusts only the kernel and Slurm, and checks each directory with your rights as a single-server create does."""
    options = [f"--{key}={path}" for key, path in sorted((mounts or {}).items()) if key in MOUNT_KEYS]
    return node_command(rt, [shim_path(rt), name, *([image] if image else []), *options])


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
    from ..statedir import StateDir  # lazy: ds01.statedir, 10 ms

    return StateDir.of(rt).cluster_records(uid)


def _record_path(rt, uid: int, name: str) -> str:
    return os.path.join(_records_dir(rt, uid), f"{name}.json")


def save_record(rt, record: dict[str, Any]) -> None:
    with root_files():
        os.makedirs(_records_dir(rt), mode=0o700, exist_ok=True)
        os.makedirs(_records_dir(rt, record["uid"]), mode=0o700, exist_ok=True)
        replace_file(_record_path(rt, record["uid"], record["name"]),
                     (json.dumps(record, sort_keys=True) + "\n").encode(), mode=0o600)


def load_records(rt, uid: int | None) -> list[dict[str, Any]]:
    """The head's cluster records: one uid's, or (uid None) every user's."""
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
    gres = request.gres()
    for rec in load_records(rt, rt.caller.uid):
        if names.same(rec["name"], request.name):
            raise Ds01Error(f"you already have a cluster container named {rec['name']!r}",
                            hint=f"container-list --cluster; or choose another name than {rec['name']}")
    check_count(rt)
    made = _check_on_head(rt, request)
    slurm = slurm_of(rt)
    mounts = mounts_of(request)
    job_id = _submit(rt, slurm, made.name, made.image, gres, minutes=runtime_minutes(rt, slurm, made.name, []),
                     mounts=mounts)
    record = {"name": made.name, "container": made.container, "user": rt.caller.login, "uid": rt.caller.uid,
              "image": made.image, "job": job_id, "jobs": [job_id], "node": None, "gres": gres,
              "mounts": mounts, "submitted_at": rt.now_iso()}
    save_record(rt, record)
    rt.log_event("cluster.submit", rt.caller.login, container=made.container, job=job_id, gres=gres)
    if request.wait is None:
        return describe(rt, record, slurm)
    return wait_running(rt, record, slurm, request.wait)


@dataclass
class _Checked:
    name: str
    container: str
    image: str


def _check_on_head(rt, request: ClusterRequest) -> _Checked:
    """What the head can check without an engine (it has none of the nodes'): the name, the image (a catalog
    FRAMEWORK [VERSION] resolved, the policy's allowed images). The node's ds01d checks the rest as a
    single-server create does (a dry run) before it makes the container in the job."""
    from ..access import HINT, ID_RE, familiar, name_refusal  # lazy: ds01.access, 1 ms
    from ..create import CreateRequest  # lazy: ds01.create, 15 ms

    checking = CreateRequest(name=request.name, image=request.image, version=request.version,
                             workspace=request.workspace, data=request.data, models=request.models, cpu_only=True)
    checking.check()
    name = names.validate(request.name)
    image = request.image or f"ds01-{rt.caller.uid}/{name.lower()}:latest"
    if request.image and framework_like(request.image):
        found, framework, _ = _catalog_image(rt, request.image, request.version, None)
        image = found if framework is not None else f"ds01-{rt.caller.uid}/{request.image.lower()}:latest"
    parsed = familiar(image)
    if parsed is None or ID_RE.match(image):
        raise UsageError(f"{image!r}: a cluster container's image is named (the head has no engine to look up an ID)",
                         hint=f"container-create {name} REPOSITORY:TAG --cluster")
    why = None if rt.admin else name_refusal(rt, parsed[0].split("@", 1)[0])
    if why is not None:  # by name only; the node's ds01d judges the image itself before it makes the container
        raise PermissionDenied(f"you may not create containers from {image}: {why}", hint=HINT)
    return _Checked(name, names.container_name(name, rt.caller.uid), image)


def warning_signal(minutes: int | None) -> str | None:
    """`--signal=B:TERM@60`: the shim's warning a minute before the time limit, so it stops the container through
    ds01's stop path. Slurm may send it up to a minute early, so a job of under three minutes gets none (it would
    stop at once): Slurm's own SIGTERM at the limit still reaches the shim."""
    if minutes is not None and minutes * 60 < 3 * DEFAULT_GRACE_S:
        return None
    return f"B:TERM@{DEFAULT_GRACE_S}"


def _submit(rt, slurm: Slurm, name: str, image: str | None, gres: list[str], node: str | None = None,
            minutes: int | None = None, mounts: dict[str, str] | None = None) -> int:
    """sbatch, as the caller, of the shim's job for container `name`: the GPUs `gres`, CPUs and memory (`--mem`:
    the job's memory cgroup, which the container goes under, binds it) from the caller's limits, `--time`
    `minutes` (runtime_minutes; None: the QOS's MaxWall), their group's QOS; `node` pins it (`-w`) to the node
    that holds the container."""
    limits = rt.limits(rt.caller.login)
    job_id = slurm.submit(SubmitRequest(
        command=shim_command(rt, name, image, mounts), name=name, gres=gres,
        cpus=max(1, math.ceil(float(limits["max_cpus"]))),
        mem_mb=max(1, int(limits["memory"]) // (1024 * 1024)) if limits["memory"] else None,
        time_minutes=minutes, qos=limits.group, node=node, signal=warning_signal(minutes), comment="ds01",
        hold=True))
    try:  # the grant: only an operator writes AdminComment, and a node's ds01d serves no job without it
        slurm.set_admin_comment(job_id, GRANTED)
        slurm.release(job_id)
    except BaseException:
        try:
            slurm.cancel(job_id, as_caller=False)
        except Ds01Error:
            rt.warn(f"job {job_id} was submitted but not granted, and could not be cancelled: scancel {job_id}")
        raise
    return job_id


def runtime_minutes(rt, slurm: Slurm, name: str, jobs: list[int]) -> int | None:
    """`--time` for the container's next job: the caller's max_runtime_h less what its earlier `jobs` (the head's
    record, root's) ran by slurmdbd's count (`sacct`), in whole minutes rounded down (Slurm counts minutes; a
    job never gets more than is left). The max runtime is the container's across its runs, as on one server.
    None (no `--time`: the QOS's MaxWall binds) when max_runtime_h is null or the caller has an exemption from
    it. NoCapacity when less than a minute is left."""
    from ..lifecycle import exemptions  # lazy: ds01.lifecycle.exemptions, 1 ms

    limit_h = rt.limits(rt.caller.login)["max_runtime_h"]
    if limit_h is None or exemptions.find(exemptions.load(rt.policy), rt.caller.login, "max_runtime_h", rt.now()):
        return None
    ran = _seconds_ran(slurm, jobs)
    left = limit_h * 3600 - ran
    if left < 60:
        file = exemptions.path_for(rt.policy) or exemptions.FILE_NAME
        raise NoCapacity(f"{name} has run {format_duration(ran)} in its jobs {', '.join(map(str, jobs))}, its max "
                         f"runtime of {format_duration(limit_h * 3600)} (max_runtime_h): less than a minute is left",
                         hint=f"resource-limits --check-exemption max_runtime_h; an admin may exempt you in {file}, "
                              f"or container-create a new container")
    return int(left // 60)


def _seconds_ran(slurm: Slurm, jobs: list[int]) -> float:
    """How long `jobs` ran, by slurmdbd (`sacct -X`: a running job's elapsed time so far). A job the accounting
    does not list (yet) is an error, never zero: time must not be given back because it could not be counted."""
    if not jobs:
        return 0.0
    elapsed: dict[int, int] = {}
    for entry in slurm.accounting(start=SACCT_SINCE, job_ids=jobs):
        elapsed[entry.id] = max(elapsed.get(entry.id, 0), entry.elapsed)
    missing = [j for j in jobs if j not in elapsed]
    if missing:
        raise Ds01Error(f"Slurm's accounting does not list job {missing[0]} yet, so the time left cannot be counted",
                        hint=f"sacct -j {missing[0]}; then container-start again")
    return float(sum(elapsed.values()))


def check_count(rt) -> None:
    """NoCapacity when the caller already has max_containers_per_user containers: their cluster containers (the
    head's records, every state: a queued one counts) and their containers on the head's own engine, if it has
    one (a cluster container that engine also sees counted once)."""
    cap = rt.limits(rt.caller.login)["max_containers_per_user"]
    if cap is None:
        return
    cluster = {rec["container"] for rec in load_records(rt, rt.caller.uid)}
    try:
        here = {r["container"] for r in rt.finder.records() if r["uid"] == rt.caller.uid}
    except Ds01Error:  # a head without an engine of its own: only cluster containers to count
        here = set()
    count = len(cluster | here)
    if count >= cap:
        raise NoCapacity(f"CONTAINER_LIMIT ({count}/{cap}): you already have {count} containers "
                         f"({len(cluster)} on the cluster, {len(here - cluster)} on this server)",
                         hint="container-list -a and container-list --cluster show them; container-remove NAME "
                              "frees one")


def wait_running(rt, record: dict[str, Any], slurm: Slurm, seconds: float) -> dict[str, Any]:
    """Ask the controller until the job's AdminComment says the container runs (`seconds` 0: no limit)."""
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

COMMENT_PREFIX = "ds01"
GRANTED = f"{COMMENT_PREFIX}:granted"  # the head's word that it checked and submitted the job (AdminComment)


def granted(comment: str | None) -> bool:
    """Whether ds01d (root on the head, or the node's) wrote the job's AdminComment: the head grants each job it
    submits, the node then writes the container's state over it. A user cannot write it, so a job the user
    submitted past the head (with a longer --time, past the container count) is never granted."""
    return (comment or "").startswith(COMMENT_PREFIX + ":")


def container_comment(state: str, value: str) -> str:
    """The job's AdminComment the node's ds01d writes: `ds01:running:<container id, 12>` once the container runs,
    `ds01:exited:<exit code>` when it ended while the job still ran."""
    return f"{COMMENT_PREFIX}:{state}:{value}"


def parse_container_comment(text: str | None) -> tuple[str, str] | None:
    """(state, value) of an AdminComment ds01 wrote; None for none or anyone else's words."""
    parts = (text or "").strip().split(":")
    if len(parts) == 3 and parts[0] == COMMENT_PREFIX and parts[1] in ("running", "exited") and parts[2].isalnum():
        return parts[1], parts[2]
    return None


def _ended_jobs(slurm: Slurm, job_ids: list[int]) -> dict[int, Any]:
    """sacct's record of jobs the controller no longer lists (their final state and AdminComment); {} when
    slurmdbd does not answer (the state is then ENDED: the controller said the job is not live)."""
    if not job_ids:
        return {}
    try:
        return {a.id: a for a in slurm.accounting(start="now-400days", job_ids=job_ids)}
    except Ds01Error:
        return {}


def describe(rt, rec: dict[str, Any], slurm: Slurm, queue: dict[int, Any] | None = None,
             unreachable: bool = False, ended: dict[int, Any] | None = None) -> dict[str, Any]:
    """A cluster record, from Slurm and the head's record only (the head never reads a node's engine): the job's
    state and reason from the controller (sacct once it has let the job go), the container's from the job's
    AdminComment (which only the node's ds01d, an operator, writes). `status`: queued, starting (the job runs,
    its container is not yet up), running, exited (the container ran; its job ended or it ended in the job:
    the shim or the Epilog stopped it), gone (the job ended and no container was ever made), unknown (the
    controller did not answer)."""
    job = None
    state, reason = "unknown", None
    if not unreachable and queue is None:
        try:
            queue = {j.id: j for j in slurm.jobs(user=rec["user"])}
        except ControllerUnreachable:
            unreachable = True
    if not unreachable and queue is not None:
        job = queue.get(rec["job"])
        if job is None:
            ended = ended if ended is not None else _ended_jobs(slurm, [rec["job"]])
            job = ended.get(rec["job"])
        state = "ENDED" if job is None else job.state  # not listed, not accounted: whatever it was, it ended
        reason = getattr(job, "reason", None)
    comment = parse_container_comment(None if job is None else job.admin_comment)
    node = (job.node if job is not None and state not in QUEUED else None) or rec.get("node")
    changed = {}
    if node and node != rec.get("node"):
        changed["node"] = node
    if comment and comment[0] == "running" and comment[1] != rec.get("container_id"):
        changed["container_id"] = comment[1]  # the container exists on `node` (made or remade in this job)
    if changed:
        rec.update(changed)
        save_record(rt, rec)
    if unreachable:
        status = "unknown"
    elif state in QUEUED:
        status = "queued"
    elif state in LIVE:
        status = {"running": "running", "exited": "exited"}.get(comment[0] if comment else "", "starting")
    else:
        status = "exited" if comment or rec.get("container_id") else "gone"
    gpus = [f"{node}:{gpu.index}" for gpu in getattr(job, "gpus", ())] if status == "running" else []
    return {"name": rec["name"], "container": rec["container"], "id": rec.get("container_id"), "user": rec["user"],
            "uid": rec["uid"], "status": status, "image": rec.get("image"), "gpus": gpus, "interface": "cluster",
            "created_at": None, "exit_code": int(comment[1]) if comment and comment[0] == "exited" and
            comment[1].isdigit() else None,
            "node": node, "job": rec["job"], "state": state, "reason": reason}


def list_records(rt, all_users: bool = False) -> list[dict[str, Any]]:
    if all_users and not rt.admin:
        raise PermissionDenied("only admins can list other users' containers",
                               hint="container-list --cluster shows yours")
    records = load_records(rt, None if all_users else rt.caller.uid)
    slurm = slurm_of(rt)
    queue: dict[int, Any] | None = None
    unreachable = False
    ended: dict[int, Any] = {}
    if records:
        try:
            queue = {job.id: job for job in slurm.jobs()}
        except ControllerUnreachable:
            unreachable = True
        else:
            ended = _ended_jobs(slurm, [r["job"] for r in records if r["job"] not in queue])
    return [describe(rt, rec, slurm, queue, unreachable, ended) for rec in records]


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


# ---------------------------------------------------------------- head: remove

REMOVE_WAIT_S = 300.0  # the short removal job: queued behind others on a full node, then a second's work


def _drop_record(rt, rec: dict[str, Any]) -> None:
    with root_files():
        os.unlink(_record_path(rt, rec["uid"], rec["name"]))


def remove(rt, name: str, cancel: bool = False) -> dict[str, Any]:
    """container-remove/-retire NAME --cluster: refused while its job is live unless `cancel` (--force, retire),
    which stops it first; then the container is removed ON ITS NODE by a short job of the caller's pinned there
    (`srun -w NODE`, job name NAME) whose shim asks that node's ds01d (which trusts only the kernel and the
    controller); then the head's record goes. Nothing is removed, and the record stays, when Slurm cannot be
    asked or the node is down."""
    rec = find_record(rt, name)
    slurm = slurm_of(rt)
    described = describe(rt, rec, slurm)
    if described["state"] == "unknown":
        raise Ds01Error(f"the Slurm controller did not answer: {rec['name']}'s job {rec['job']} may still run; "
                        "nothing was removed", hint="sinfo; then container-list --cluster", code=1)
    if described["state"] in LIVE:
        if not cancel:
            raise Ds01Error(f"{rec['name']} is {described['state']} in job {rec['job']}",
                            hint=f"container-stop {rec['name']} --cluster first, or container-remove "
                                 f"{rec['name']} --cluster --force")
        described = stop(rt, rec["name"])
        if described["state"] in LIVE or described["state"] == "unknown":
            raise Ds01Error(f"job {rec['job']} of {rec['name']} did not end ({described['state']}); nothing was "
                            "removed", hint="container-list --cluster; then try again", code=1)
        rec = find_record(rt, name)
    node = rec.get("node")
    removed: dict[str, Any] = {}
    if node and rec.get("container_id"):
        removed = _remove_on_node(rt, slurm, rec, node)
    _drop_record(rt, rec)
    rt.log_event("cluster.remove", rt.caller.login, container=rec["container"], job=rec["job"], node=node)
    out = dict(described, status="removed")
    out.update({k: removed[k] for k in ("id", "image") if removed.get(k)})
    return out


def _remove_on_node(rt, slurm: Slurm, rec: dict[str, Any], node: str) -> dict[str, Any]:
    """A short job as the caller on `node` (`srun -w NODE`, named like the container, no GPU) whose shim asks the
    node's ds01d to remove the container; the node's record of it. A node Slurm cannot use is refused (exit 1)."""
    try:
        state = slurm.node(node)
    except ControllerUnreachable:
        raise Ds01Error(f"the Slurm controller did not answer; {rec['name']} on {node} was not removed",
                        hint="sinfo; then try again", code=1) from None
    except NotFound:
        state = None
    if state is None or not state.usable:
        raise Ds01Error(f"{rec['name']} is on node {node}, which is {state.state if state else 'unknown to Slurm'}: "
                        "nothing was removed", hint=f"sinfo -n {node}; container-remove {rec['name']} --cluster "
                                                    "once the node is back", code=1)
    limits = rt.limits(rt.caller.login)
    argv = ["srun", f"--nodelist={node}", "--nodes=1", "--ntasks=1", "--cpus-per-task=1", "--mem=64",
            "--time=5", f"--job-name={rec['name']}", "--chdir=/", "--quiet", "--export=NONE",
            *([f"--qos={limits.group}"] if limits.group else []),
            *node_command(rt, [shim_path(rt), "--remove", rec["name"]])]
    identity: dict[str, Any] = caller_process()
    env = environment(rt.settings.get("slurm_conf"), identity.pop("env", None))
    rt.progress(f"removing {rec['name']} on {node} (a short Slurm job) ...")
    try:
        done = subprocess.run(argv, check=False, env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=REMOVE_WAIT_S, **identity)
    except FileNotFoundError:
        raise Ds01Error("srun is not installed: this host has no Slurm client commands", hint="ds01-doctor") from None
    except subprocess.TimeoutExpired:
        raise Ds01Error(f"the removal job on {node} did not finish in {REMOVE_WAIT_S:g} s; {rec['name']} is kept",
                        hint="squeue --me; then try again", code=1) from None
    if done.returncode == NotFound.code and "no container" in done.stderr.lower():
        rt.warn(f"{rec['name']} was no longer on {node}; its record is dropped")
        return {}
    if done.returncode != 0:
        said = visible(" ".join((done.stderr or done.stdout).split())[-400:])
        raise Ds01Error(f"{rec['name']} was not removed on {node} (exit {done.returncode}): {said}",
                        hint="container-list --cluster", code=1)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}


# ---------------------------------------------------------------- head: start again, run a command

def start(rt, name: str, wait: float | None = None) -> dict[str, Any]:
    """A new job for a stopped cluster container, pinned (`-w`) to the node that holds its writable layer,
    asking for the GPUs it asked for at create, with the runtime its earlier jobs left (`runtime_minutes`); the
    record once queued, or with `wait` (seconds, 0 = no limit) once the container runs. The shim there puts the
    container under the new job's cgroup and GPUs (`run_in_job`)."""
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
    jobs = [int(j) for j in rec.get("jobs") or [rec["job"]]]
    minutes = runtime_minutes(rt, slurm, rec["name"], jobs)
    job_id = _submit(rt, slurm, rec["name"], None, list(rec.get("gres") or []), node=rec["node"], minutes=minutes,
                     mounts=rec.get("mounts"))
    rec.update({"job": job_id, "jobs": [*jobs, job_id], "submitted_at": rt.now_iso()})
    save_record(rt, rec)
    rt.log_event("cluster.submit", rt.caller.login, container=rec["container"], job=job_id, node=rec["node"],
                 gres=rec.get("gres"), time_minutes=minutes)
    if wait is None:
        return describe(rt, rec, slurm)
    return wait_running(rt, rec, slurm, wait)


def run_command(rt, name: str, command: list[str]) -> int:
    """container-run NAME --cluster: a step in the container's job on its node (`srun --overlap`, as the caller:
    munge vouches for them and Slurm lets only the job's owner in), whose shim asks that node's ds01d to run
    `command` in the container as the caller; the command's exit code."""
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


__all__ = ("JOB_LABEL", "NODE_LABEL", "ClusterRequest", "container_comment", "create", "list_records",
           "parse_container_comment", "remove", "run_command", "shim_command", "start", "stop")
