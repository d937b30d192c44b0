"""What a node's ds01d believes about a job: only what the kernel and the Slurm controller say.

The shim that asks a node's ds01d to start a container runs inside a user's batch job, so everything
in its environment (SLURM_JOB_ID, SLURM_JOB_GPUS, CUDA_VISIBLE_DEVICES, ...) and every field of its
request is the user's to write. ds01d therefore believes:
- the kernel, for who is calling (SO_PEERCRED: pid and uid) and which job that process is in
  (/proc/PID/cgroup: slurmstepd put it in `.../uid_<uid>/job_<id>/...`; only root can move it);
- the controller, for the job's owner, state, node and GPU indices (`scontrol show job`);
- root's own gres.conf and GPU inventory, for which device an index is.
A job may act only for its owner, only while RUNNING on this node, only with that job's GPUs.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import PermissionDenied
from ..gpu.model import Inventory
from .model import mig_cap_minors
from .slurm import ControllerUnreachable, Job, JobNotFound, Slurm, SlurmError

log = logging.getLogger("ds01.cluster")

CGROUP_LIMIT = 64 * 1024   # bytes of /proc/PID/cgroup read (a dozen short lines in practice)
HINT = "run it from the job's own shim (sbatch through container-create --cluster)"

# Where slurmstepd puts a job, from the hierarchy's root (a path that merely *contains* these names may be a
# subtree the user was delegated, e.g. under user@1001.service, and is not a job):
# cgroup v1, a controller hierarchy: /slurm[_<node>]/uid_<uid>/job_<id>/... (slurm_%n: several slurmd per host)
_V1 = re.compile(r"^/slurm(?:_(?P<node>[^/]+))?/uid_(?P<uid>\d+)/job_(?P<job>\d+)(?:/|$)")
# cgroup v2, the unified hierarchy (`0::`): /system.slice/[<node>_]slurmstepd.scope/job_<id>/... (no uid)
_V2 = re.compile(r"^/system\.slice/(?:(?P<node>[^/]+)_)?slurmstepd\.scope/job_(?P<job>\d+)(?:/|$)")


def refuse(message: str, **facts: object) -> PermissionDenied:
    """The refusal (exit 5), logged with the facts that led to it."""
    log.warning("cluster trust refused: %s %s", message,
                " ".join(f"{key}={value!r}" for key, value in sorted(facts.items())))
    return PermissionDenied(message, hint=HINT)


@dataclass(frozen=True)
class CgroupJob:
    """The Slurm job a process is in, as its cgroup path says."""
    job: int
    uid: int | None               # from uid_<uid> (cgroup v1); None on v2, whose path has no uid
    node: str | None              # from slurm_<node> / <node>_slurmstepd.scope (several slurmd per host)


def job_of_cgroup(text: str) -> CgroupJob | None:
    """The job named by /proc/PID/cgroup's lines (v1 `4:memory:/slurm_n1/uid_1001/job_12/step_batch/task_0`,
    v2 `0::/system.slice/slurmstepd.scope/job_12/step_batch/user/task_0`), or None when the process is in
    no job. Only the places slurmstepd uses count: v1 controller hierarchies (not named ones such as
    name=systemd, which systemd may delegate to the user) and v2's unified one, each from its root. Lines
    that name different jobs, uids or nodes are refused: a process is in one job or none."""
    found: set[CgroupJob] = set()
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            match = _V2.match(path)
            if match:
                found.add(CgroupJob(int(match["job"]), None, match["node"]))
            continue
        if not controllers or controllers.startswith("name="):
            continue
        match = _V1.match(path)
        if match:
            found.add(CgroupJob(int(match["job"]), int(match["uid"]), match["node"]))
    if not found:
        return None
    jobs = {(f.job, f.node) for f in found}
    uids = {f.uid for f in found if f.uid is not None}
    if len(jobs) != 1 or len(uids) > 1:
        raise refuse("the caller's cgroups name more than one Slurm job", cgroups=sorted(map(repr, found)))
    job, node = jobs.pop()
    return CgroupJob(job, uids.pop() if uids else None, node)


# ---------------------------------------------------------------- the peer process

@dataclass(frozen=True)
class PeerProcess:
    """What the kernel says of the peer process: its uid, start time and cgroup lines."""
    pid: int
    uid: int
    start_ticks: int              # /proc/PID/stat field 22: clock ticks after boot
    cgroup: str


def _read_at(directory: int, name: str, limit: int) -> str:
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=directory)
    try:
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"{name} is longer than {limit} bytes")
    return data.decode("utf-8", "replace")


def _start_ticks(stat: str) -> int:
    """Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces and ')', so count from the last ')'."""
    return int(stat[stat.rindex(")") + 2:].split()[19])


def _real_uid(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise OSError(errno.EINVAL, "no Uid line in status")


def read_peer(pid: int, proc: str = "/proc", connected_at: float | None = None) -> PeerProcess:
    """The kernel's facts on process `pid`, read race-free: every file through one open /proc/PID directory
    (which fails with ESRCH, never answers for another process, once that process is gone), and its start
    time read before and after the cgroup. `connected_at` (CLOCK_BOOTTIME seconds when the connection was
    accepted) rejects a process that started after it: the peer exited and its pid was reused."""
    try:
        directory = os.open(os.path.join(proc, str(int(pid))), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise refuse("the calling process is gone", pid=pid, error=error.strerror) from None
    try:
        before = _start_ticks(_read_at(directory, "stat", 4096))
        cgroup = _read_at(directory, "cgroup", CGROUP_LIMIT)
        uid = _real_uid(_read_at(directory, "status", 65536))
        after = _start_ticks(_read_at(directory, "stat", 4096))
    except (OSError, ValueError, IndexError) as error:
        raise refuse("the calling process is gone or unreadable", pid=pid, error=str(error)) from None
    finally:
        os.close(directory)
    if before != after:
        raise refuse("the calling process changed while ds01 read it", pid=pid)
    if connected_at is not None and before / os.sysconf("SC_CLK_TCK") > connected_at + 0.02:
        raise refuse("the calling process started after it connected: its pid was reused", pid=pid)
    return PeerProcess(pid, uid, before, cgroup)


def boot_time_now() -> float:
    """CLOCK_BOOTTIME seconds, the clock of /proc/PID/stat's start time: take it when a connection is accepted."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


# ---------------------------------------------------------------- the decision

@dataclass(frozen=True)
class TrustedJob:
    """A job this node's ds01d may act for: its id, owner and the GPUs (Slurm indices on this node)."""
    job: Job
    uid: int
    node: str
    gpu_indices: tuple[int, ...]


def trusted_job(peer_pid: int, peer_uid: int, node: str, slurm: Slurm, proc: str = "/proc",
                connected_at: float | None = None) -> TrustedJob:
    """The job the peer (`peer_pid`, `peer_uid` from SO_PEERCRED) runs in, checked against the controller:
    PermissionDenied unless the process is in a Slurm job, the uid in its cgroup path, the peer's uid, the
    process's uid and the job's owner all agree, and the job is RUNNING on `node` (this node). A controller
    that does not answer raises ControllerUnreachable (nothing is started on an unknown job)."""
    process = read_peer(peer_pid, proc, connected_at)
    if process.uid != peer_uid:
        raise refuse("the calling process is not the one that connected", pid=peer_pid, peer_uid=peer_uid,
                     process_uid=process.uid)
    in_job = job_of_cgroup(process.cgroup)
    if in_job is None:
        raise refuse("the caller is in no Slurm job on this node", pid=peer_pid, uid=peer_uid)
    if in_job.uid is not None and in_job.uid != peer_uid:
        raise refuse(f"the caller (uid {peer_uid}) is in another user's job {in_job.job}", pid=peer_pid,
                     uid=peer_uid, cgroup_uid=in_job.uid, job=in_job.job)
    if in_job.node is not None and in_job.node != node:
        raise refuse(f"the caller is in job {in_job.job} of another node's slurmd ({in_job.node})",
                     pid=peer_pid, job=in_job.job, node=node, cgroup_node=in_job.node)
    try:
        job = slurm.job(in_job.job)
    except JobNotFound:
        raise refuse(f"the controller knows no job {in_job.job}", job=in_job.job, uid=peer_uid) from None
    except ControllerUnreachable:
        raise
    except SlurmError as error:
        raise refuse(f"the controller's record of job {in_job.job} is unreadable", job=in_job.job,
                     error=error.message) from None
    if job.id != in_job.job or job.uid != peer_uid:
        raise refuse(f"job {in_job.job} is not the caller's", job=in_job.job, uid=peer_uid, owner=job.uid)
    if job.state != "RUNNING":
        raise refuse(f"job {in_job.job} is {job.state}, not RUNNING", job=in_job.job, state=job.state)
    if job.node != node:
        raise refuse(f"job {in_job.job} runs on {job.node}, not on this node ({node})", job=in_job.job,
                     job_node=job.node, node=node)
    return TrustedJob(job, peer_uid, node, tuple(sorted(gpu.index for gpu in job.gpus)))


# ---------------------------------------------------------------- GPU indices -> devices

@dataclass(frozen=True)
class GresDevice:
    """One GPU in a node's gres.conf: its Slurm index on the node, type and device files."""
    index: int
    type: str | None
    files: tuple[str, ...]


def _expand_brackets(text: str) -> list[str]:
    """`/dev/nvidia[0-1]` -> /dev/nvidia0, /dev/nvidia1; `n[1-2,4]` -> n1, n2, n4 (one bracket group)."""
    match = re.search(r"\[([^\]]+)\]", text)
    if not match:
        return [text]
    head, tail = text[:match.start()], text[match.end():]
    result = []
    for part in match.group(1).split(","):
        low, _, high = part.partition("-")
        width = len(low) if low.startswith("0") else 0
        for n in range(int(low), int(high or low) + 1):
            result.extend(_expand_brackets(f"{head}{n:0{width}d}{tail}"))
    return result


def _split_outside_brackets(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p]


def expand_hostlist(text: str) -> list[str]:
    """Slurm's host list `n[1-3],gpu7` -> n1, n2, n3, gpu7."""
    return [host for part in _split_outside_brackets(text) for host in _expand_brackets(part)]


def parse_gres_conf(text: str, node: str) -> list[GresDevice]:
    """The GPUs gres.conf gives `node`, in Slurm's index order: the order of the lines that apply to it (no
    NodeName, or a NodeName list naming it), each `File=` range expanded in order. This is the order in
    which ds01-slurm-generate writes a node's devices (GPU index, then MIG device), and the order in which
    Slurm numbers them (the IDX of `scontrol show job -d`)."""
    devices: list[GresDevice] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields: dict[str, str] = {}
        for token in line.split():
            key, sep, value = token.partition("=")
            if sep:
                fields[key.lower()] = value
        if fields.get("name") != "gpu":
            continue
        if "nodename" in fields and node not in expand_hostlist(fields["nodename"]):
            continue
        gres_type = fields.get("type")
        if "multiplefiles" in fields:
            devices.append(GresDevice(len(devices), gres_type, tuple(_split_outside_brackets(fields["multiplefiles"]))))
        elif "file" in fields:
            for path in expand_hostlist(fields["file"]):
                devices.append(GresDevice(len(devices), gres_type, (path,)))
    return devices


def _minor(path: str, prefix: str) -> int | None:
    name = os.path.basename(path)
    if name.startswith(prefix) and name[len(prefix):].isdigit():
        return int(name[len(prefix):])
    return None


def device_uuid(device: GresDevice, inventory: Inventory) -> str:
    """The UUID Docker gets for one gres.conf device, from the node's inventory, never from gres.conf's text:
    `File=/dev/nvidiaN` is the GPU whose index is N (ds01 writes minor = index); `MultipleFiles=/dev/nvidiaN,
    .../nvidia-caps/nvidia-capG,.../nvidia-caps/nvidia-capC` is the MIG device of GPU N whose GPU-instance
    and compute-instance access minors (model.mig_cap_minors) are G and C (a lone C is matched too)."""
    gpu_minors = [m for m in (_minor(f, "nvidia") for f in device.files) if m is not None]
    caps = {m for m in (_minor(f, "nvidia-cap") for f in device.files) if m is not None}
    if len(gpu_minors) != 1:
        raise refuse("gres.conf names no single GPU file for a device", files=device.files)
    gpu = next((g for g in inventory.gpus if g.index == gpu_minors[0]), None)
    if gpu is None:
        raise refuse(f"gres.conf names /dev/nvidia{gpu_minors[0]}, which this node's inventory lacks",
                     files=device.files)
    if not caps:
        if gpu.mig_current:
            raise refuse(f"GPU {gpu.index} is in MIG mode but gres.conf lists it whole", files=device.files)
        return gpu.uuid
    for mig in gpu.mig_devices:
        gi_minor, ci_minor = mig_cap_minors(gpu.index, mig.gpu_instance_id, mig.compute_instance_id)
        if ci_minor in caps and caps <= {gi_minor, ci_minor}:
            return mig.uuid
    raise refuse(f"gres.conf names a MIG device of GPU {gpu.index} that this node's inventory lacks",
                 files=device.files)


def gpu_uuids(indices: Iterable[int], gres_conf: str, node: str, inventory: Inventory) -> list[str]:
    """The device UUIDs of a job's GPU indices on `node` (Docker's device request). An index gres.conf does
    not list is refused: the job holds something ds01 cannot name, so it gets nothing."""
    devices = {d.index: d for d in parse_gres_conf(gres_conf, node)}
    result = []
    for index in indices:
        if index not in devices:
            raise refuse(f"the job holds GPU index {index}, which gres.conf does not list for {node}", index=index)
        result.append(device_uuid(devices[index], inventory))
    return result


def read_gres_conf(path: str) -> str:
    """gres.conf as root wrote it (bounded read)."""
    with open(path, "rb") as handle:
        data = handle.read(1024 * 1024 + 1)
    if len(data) > 1024 * 1024:
        raise OSError(errno.EFBIG, f"{path} is over 1 MiB")
    return data.decode("utf-8", "replace")


def job_devices(trusted: TrustedJob, gres_conf: str, inventory: Inventory) -> list[str]:
    """The UUIDs of the trusted job's GPUs on this node: what the container's device request names."""
    return gpu_uuids(trusted.gpu_indices, gres_conf, trusted.node, inventory)


__all__: Sequence[str] = ("CgroupJob", "GresDevice", "PeerProcess", "TrustedJob", "boot_time_now", "device_uuid",
                          "gpu_uuids", "job_devices", "job_of_cgroup", "parse_gres_conf", "read_gres_conf",
                          "read_peer", "trusted_job")
