"""The node's side of a cluster container: what ds01-slurm-shim asks the node's ds01d to do inside a job.

The node's ds01d believes only the kernel and the controller (node_trust.trusted_job): the container goes into
the job's cgroup (`--cgroup-parent`) with exactly the job's GPUs, labelled with the job and the node; the shim
waits on it and stops it (ds01's stop path) when Slurm signals the job.
"""

from __future__ import annotations

import json
import signal
import sys
from types import SimpleNamespace
from typing import Any

from ..engine import image_repository
from ..errors import Ds01Error, NotFound, PermissionDenied
from ..privilege import root_files
from .containers import DEFAULT_GRACE_S, JOB_LABEL, NODE_LABEL, SHIM, container_comment, granted, node_name, slurm_of
from .slurm import SlurmError


def job_cgroup_parent(pid: int, job_id: int, proc: str = "/proc") -> str:
    """The job's memory cgroup (`--cgroup-parent`): the peer's memory-controller path (v1) or unified path
    (v2), cut after `job_<id>` (its step and task parts are the job's own processes)."""
    from .node_trust import job_of_cgroup, read_peer, refuse  # lazy: ds01.cluster.node_trust, 10 ms

    process = read_peer(pid, proc)
    in_job = job_of_cgroup(process.cgroup)
    if in_job is None or in_job.job != job_id:
        raise refuse("the caller left its job while ds01 read it", pid=pid, job=job_id)
    marker = f"/job_{int(job_id)}"
    for line in process.cgroup.splitlines():
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "memory" in controllers.split(",") or (hierarchy == "0" and controllers == ""):
            cut = path.find(marker + "/")
            if cut < 0 and path.endswith(marker):
                cut = len(path) - len(marker)
            if cut >= 0:
                return path[:cut + len(marker)]
    raise refuse("the caller's job has no memory cgroup ds01 can put the container in", pid=pid, job=job_id)


def _slots_for(rt, uuids: list[str]) -> list[Any]:
    """Slot-like entries (id, uuid, weight) for Plan.assign_gpus: the inventory's slot where it lists the UUID."""
    known = {s.uuid: s for s in rt.inventory.slots()}
    return [known.get(u) or SimpleNamespace(id=u, uuid=u, weight=1.0) for u in uuids]


class Stopped(Exception):
    """Slurm signalled the job (SIGTERM from scancel or the time limit, forwarded by the shim's client)."""


def run_in_job(rt, name: str, image: str | None, mounts: dict[str, str] | None = None) -> int:
    """The node's side of ds01-slurm-shim: create and start the caller's container NAME in the caller's job, wait
    on it, stop it when Slurm signals the job. Refused (exit 5) unless the connection's peer is in a RUNNING job
    of the caller's on this node whose name is NAME."""
    from .node_trust import job_devices, read_gres_conf, refuse, trusted_job  # lazy: ds01.cluster.node_trust, 10 ms

    connected = rt.served  # the client process ds01d accepted (SO_PEERCRED); None in-process
    if connected is None:
        raise PermissionDenied(f"{SHIM} runs only through ds01d, inside a Slurm job",
                               hint="container-create NAME IMAGE --cluster submits the job that runs it")
    pid, connected_at = connected.pid, connected.connected_at
    slurm = slurm_of(rt)
    node = node_name(rt)
    trusted = trusted_job(pid, rt.caller.uid, node, slurm, connected_at=connected_at)
    if trusted.job.name != name:
        raise refuse(f"job {trusted.job.id} is for {trusted.job.name!r}, not {name!r}", job=trusted.job.id,
                     name=name)
    if not granted(slurm.queued_job(trusted.job.id).admin_comment):
        raise refuse(f"job {trusted.job.id} was not submitted by ds01d (container-create/-start --cluster grant "
                     "each job they submit)", job=trusted.job.id, name=name)
    parent = job_cgroup_parent(pid, trusted.job.id)

    with root_files():
        gres_conf = read_gres_conf(rt.settings.get("gres_conf"))
    uuids = job_devices(trusted, gres_conf, rt.inventory)
    try:
        existing = rt.finder.find(name)
    except NotFound:
        existing = None
    if existing is not None:  # the caller's own (Finder refuses another's)
        info = rt.api.inspect_container(existing["id"])
        if in_job(info, trusted.job.id, parent):
            cid = existing["id"]
        elif _earlier_job_here(info, rt.caller.uid, node):
            cid = _recreate_in_job(rt, name, info, trusted.job.id, node, parent, uuids, mounts or {})
        else:
            raise Ds01Error(f"{name} already exists on {node} outside this job",
                            hint="container-list --cluster; container-remove it or choose another name")
    else:
        cid = _create_in_job(rt, name, image, trusted.job.id, node, parent, uuids, mounts or {})
    rt.log_event("cluster.start", rt.caller.login, container=name, job=trusted.job.id, node=node, gpus=uuids)
    return _run_and_wait(rt, cid, trusted.job.id)


def in_job(info: dict[str, Any], job_id: int, parent: str) -> bool:
    """The container is this job's: the job's label (which an image may also carry) and the job's cgroup
    (which only ds01 sets) both."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    return labels.get(JOB_LABEL) == str(int(job_id)) and (info.get("HostConfig") or {}).get("CgroupParent") == parent


def job_of_container(info: dict[str, Any]):
    """The Slurm job a container belongs to (node_trust.CgroupJob: job, uid, node), or None. Its labels count only
    where its cgroup parent, which only ds01 sets and only from the kernel's word, is that job's cgroup: an
    image's `ds01.slurm_job` label alone names no job."""
    from .node_trust import job_of_cgroup  # lazy: ds01.cluster.node_trust, 10 ms

    labels = (info.get("Config") or {}).get("Labels") or {}
    parent = (info.get("HostConfig") or {}).get("CgroupParent") or ""
    if not labels.get(JOB_LABEL) or not labels.get(NODE_LABEL) or not parent:
        return None
    try:
        job = job_of_cgroup(f"1:memory:{parent}\n0::{parent}")
    except PermissionDenied:
        return None
    if job is None or labels.get(JOB_LABEL) != str(job.job) or job.node not in (None, labels.get(NODE_LABEL)):
        return None
    return job


def _earlier_job_here(info: dict[str, Any], uid: int, node: str) -> bool:
    """A stopped container that ds01 made in an earlier job of this user on this node: its cgroup parent (which
    only ds01 sets, and only from the kernel's word) is a job cgroup of this uid and node. A container made
    outside any job, or an image's labels, never qualify."""
    from .node_trust import job_of_cgroup  # lazy: ds01.cluster.node_trust, 10 ms

    if (info.get("State") or {}).get("Running"):
        return False
    labels = (info.get("Config") or {}).get("Labels") or {}
    parent = (info.get("HostConfig") or {}).get("CgroupParent") or ""
    try:
        earlier = job_of_cgroup(f"1:memory:{parent}\n0::{parent}")
    except PermissionDenied:
        return False
    return (earlier is not None and earlier.uid in (None, uid) and earlier.node in (None, node)
            and labels.get(NODE_LABEL) == node)


def _recreate_in_job(rt, name, info, job_id, node, parent, uuids, mounts) -> str:
    """container-start --cluster on the node: Docker fixes a container's cgroup parent and devices at create,
    so the stopped container is committed (its writable layer: the user's files outside the mounts) to
    `<repo>:<container>.previous`, removed, and made again from that image in this job, with this job's GPUs
    and the same directories (the head hands the create's in again). The `.previous` tag goes once the new
    container exists (it then runs from its own `<repo>:<container>` tag of the same image); if the create
    fails, the tag keeps the files."""
    container = info["Name"].lstrip("/")
    own = (info.get("Config") or {}).get("Image") or ""
    repo = image_repository(own) if own and not own.startswith("sha256:") else f"ds01-{rt.caller.uid}/cluster"
    kept = f"{repo}:{container}.previous"
    api = rt.engine.api
    # the image's own settings, not the container's (its old job's labels, devices and environment)
    base = (api.inspect_image(info["Image"]) or {}).get("Config") or {}
    image_labels = base.get("Labels") or {}
    labels = {key: "" for key in (info.get("Config") or {}).get("Labels") or {} if key not in image_labels}
    labels.update(image_labels)
    conf = {"Labels": labels, "Env": base.get("Env") or [], "Cmd": base.get("Cmd"),
            "Entrypoint": base.get("Entrypoint"), "WorkingDir": base.get("WorkingDir") or "",
            "User": base.get("User") or ""}
    rt.progress(f"keeping {name}'s files: committing it to {kept} ...")
    api.commit(info["Id"], repository=repo, tag=f"{container}.previous", conf=conf)
    rt.engine.remove(info["Id"], reason="cluster-start")
    rt.finder.refresh()  # it listed the container just removed
    cid = _create_in_job(rt, name, kept, job_id, node, parent, uuids, mounts)
    try:
        api.remove_image(kept, noprune=True)  # only the tag: the container's own tag names the same image
    except Exception:  # noqa: BLE001, S110 - a tag left behind loses nothing
        pass
    return cid


def exec_in_job(rt, name: str, command: list[str]) -> int:
    """The node's side of container-run --cluster: run `command` as the caller in their container NAME, which
    must be the running container of the job the connecting process is in (kernel and controller, as
    run_in_job); its exit code."""
    from ..containers import record  # lazy: ds01.containers, 1 ms
    from ..sessions import run_session  # lazy: ds01.sessions, 5 ms
    from .node_trust import refuse, trusted_job  # lazy: ds01.cluster.node_trust, 10 ms

    connected = rt.served  # the client process ds01d accepted (SO_PEERCRED); None in-process
    if connected is None:
        raise PermissionDenied(f"{SHIM} runs only through ds01d, inside a Slurm job",
                               hint=f"container-run {name} --cluster -- COMMAND")
    pid, connected_at = connected.pid, connected.connected_at
    trusted = trusted_job(pid, rt.caller.uid, node_name(rt), slurm_of(rt), connected_at=connected_at)
    parent = job_cgroup_parent(pid, trusted.job.id)
    info = rt.api.inspect_container(rt.finder.find(name)["id"])
    if not in_job(info, trusted.job.id, parent):
        raise refuse(f"{name} is not the container of job {trusted.job.id}", job=trusted.job.id, name=name)
    rec = record(info)
    if rec["status"] != "running":
        raise Ds01Error(f"{name} is {rec['status']}, not running", hint=f"container-start {name} --cluster", code=1)
    return run_session(rt, rec, command)


def remove_in_job(rt, name: str) -> dict[str, Any]:
    """The node's side of container-remove/-retire NAME --cluster: remove the caller's stopped container NAME on
    this node. The connecting process must be in a RUNNING job of the caller's on this node named NAME (kernel and
    controller, as run_in_job), and the container must be one ds01 made in an earlier job of the caller's here
    (its cgroup parent, which only ds01 sets); anything else is refused and nothing is removed."""
    from ..containers import record  # lazy: ds01.containers, 1 ms
    from .node_trust import refuse, trusted_job  # lazy: ds01.cluster.node_trust, 10 ms

    connected = rt.served  # the client process ds01d accepted (SO_PEERCRED); None in-process
    if connected is None:
        raise PermissionDenied(f"{SHIM} runs only through ds01d, inside a Slurm job",
                               hint=f"container-remove {name} --cluster")
    pid, connected_at = connected.pid, connected.connected_at
    node = node_name(rt)
    trusted = trusted_job(pid, rt.caller.uid, node, slurm_of(rt), connected_at=connected_at)
    if trusted.job.name != name:
        raise refuse(f"job {trusted.job.id} is for {trusted.job.name!r}, not {name!r}", job=trusted.job.id,
                     name=name)
    found = rt.finder.find(name)  # the caller's own: Finder refuses another's
    info = rt.api.inspect_container(found["id"])
    if not _earlier_job_here(info, rt.caller.uid, node):
        raise refuse(f"{name} on {node} is running or no cluster container of yours", job=trusted.job.id, name=name)
    rec = record(info)
    note = rt.engine.remove(info["Id"], reason="cluster-remove")
    if note:
        rt.warn(note)
    rt.log_event("cluster.remove", rt.caller.login, container=rec["container"], job=trusted.job.id, node=node)
    return dict(rec, status="removed", node=node)


def _create_in_job(rt, name, image, job_id, node, parent, uuids, mounts) -> str:
    from ..containers import record  # lazy: ds01.containers, 1 ms
    from ..create import CreateRequest, _undo, create_container, signals_interrupt  # lazy: ds01.create, 15 ms
    from ..workspace_files import make_workspace  # lazy: ds01.workspace_files, 3 ms

    checked = create_container(rt, CreateRequest(name=name, image=image, cpu_only=True, **mounts), dry_run=True)
    plan = checked.plan
    plan.limits["slice"] = parent
    plan.labels[JOB_LABEL] = str(int(job_id))
    plan.labels[NODE_LABEL] = node
    engine = rt.engine
    made: list[str] = []
    try:
        with signals_interrupt():
            made = make_workspace(plan.workspace, rt.caller) if plan.create_workspace else []
            engine.prepare(plan)
            if uuids:
                plan.assign_gpus(_slots_for(rt, uuids))
            cid = engine.create(plan)
            info = rt.api.inspect_container(cid)
            engine.set_up(cid, plan, info.get("Image") or "", warn=rt.warn)
            record(info)
    except BaseException:
        _undo(engine, plan, made)
        raise
    return cid


def tell_controller(rt, job_id: int, state: str, value: str) -> None:
    """Write the container's state into the job's AdminComment (`ds01:running:<id>`, `ds01:exited:<code>`): the
    head learns it from Slurm, never from this node's engine. Only an operator may set it (this ds01d is root), so
    the job's owner cannot forge it. Slurm refuses it once the job has ended (a scancel): the head then knows the
    container stopped from the job's end (the shim or the Epilog stops it). A failure is a warning, never fatal."""
    try:
        slurm_of(rt).set_admin_comment(job_id, container_comment(state, value))
    except SlurmError as error:
        if state == "running":
            rt.warn(f"could not tell the Slurm controller that job {job_id}'s container runs: {error.message}")


def _run_and_wait(rt, cid: str, job_id: int) -> int:
    """Start (mounts pinned as every ds01 start does), tell the controller, wait; on SIGTERM/SIGINT stop it through
    ds01's stop path; tell the controller how it ended."""
    from ..mount_pins import pinned, pins_of  # lazy: ds01.mount_pins, 11 ms
    from ..mounts import recheck_mounts  # lazy: ds01.mounts, 10 ms
    from ..statedir import StateDir  # lazy: ds01.statedir, 13 ms

    def stopped(signum, _frame):
        raise Stopped(signum)

    previous = {s: signal.signal(s, stopped) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        info = rt.api.inspect_container(cid)
        from ..containers import record  # lazy: ds01.containers, 1 ms

        rec = record(info)
        if not info["State"].get("Running"):
            with pinned(pins_of(info, StateDir.of(rt)), recheck_mounts(rt, rec, info)):
                rt.engine.start(cid)
        tell_controller(rt, job_id, "running", cid[:12])
        sys.stdout.write(json.dumps({"container": rec["container"], "status": "running"}) + "\n")
        sys.stdout.flush()
        while True:
            try:
                code = int(rt.engine.api.wait(cid, timeout=3600)["StatusCode"])
                tell_controller(rt, job_id, "exited", str(code))
                return code
            except (Stopped, KeyboardInterrupt):
                raise
            except Exception:  # noqa: BLE001, S112 - requests' ReadTimeout: it still runs
                continue
    except (Stopped, KeyboardInterrupt):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        rt.engine.stop(cid, timeout=DEFAULT_GRACE_S // 2, force=True, event="container.stop", reason="slurm")
        try:
            ended = (rt.api.inspect_container(cid).get("State") or {}).get("ExitCode")
        except Exception:  # noqa: BLE001 - the exit code is only a detail for the head
            ended = None
        tell_controller(rt, job_id, "exited", str(ended) if isinstance(ended, int) else "stopped")
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)



__all__ = ("Stopped", "exec_in_job", "in_job", "job_cgroup_parent", "job_of_container", "run_in_job")
