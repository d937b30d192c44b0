"""What ds01's policy says about a cluster, in Slurm's terms: nodes with their GPUs, GRES types, per-group QOS.

One module answers "what should Slurm be told"; the files (fragments.py) and the accounting database
(accounts.py) are written from it. Nothing here runs a Slurm command.
"""

import grp
import math
import os
import pwd
import re
from dataclasses import dataclass, field
from typing import Any

from ..gpu import load_inventory
from ..gpu.model import Inventory
from ..policy import BUILTIN_LIMITS, LIMIT_KEYS, Policy

DEFAULT_PARTITION = "gpu"
DEFAULT_OUTPUT_DIR = "/etc/slurm/ds01"
DEFAULT_EPILOG = "/opt/ds01/current/etc/slurm/ds01-epilog"
DEFAULT_DEVICE_DIR = "/dev"
BILLING_PER_GPU = 100  # billing units of one whole GPU: GPU-equivalents x 100, integers for Slurm
# nvidia-caps minors (/proc/driver/nvidia-caps/mig-minors): config=1, monitor=2, then per GPU 15 GPU
# instances of 9 minors each (the GI's access file, then its compute instances ci0..ci7).
MIG_GI_PER_GPU = 15
MIG_MINORS_PER_GI = 9
MIG_FIRST_MINOR = 3


def gpu_type(name: str) -> str:
    """Slurm's GRES type for a whole GPU from its NVML name: `NVIDIA A100-SXM4-40GB` -> `a100`,
    `NVIDIA GeForce RTX 4090` -> `rtx4090`."""
    words = [w for w in re.split(r"[\s_-]+", name.lower()) if w and w not in ("nvidia", "tesla", "geforce", "quadro")]
    taken = []
    for word in words:
        taken.append(word)
        if any(c.isdigit() for c in word):
            break
    return re.sub(r"[^a-z0-9.]", "", "".join(taken)) or "gpu"


def mig_cap_minors(gpu_index: int, gpu_instance_id: int, compute_instance_id: int) -> tuple[int, int]:
    """The nvidia-caps minors of a MIG device's GPU-instance and compute-instance access files."""
    gi = MIG_FIRST_MINOR + gpu_index * MIG_GI_PER_GPU * MIG_MINORS_PER_GI + gpu_instance_id * MIG_MINORS_PER_GI
    return gi, gi + 1 + compute_instance_id


@dataclass
class Device:
    """One GRES unit: a whole GPU or a MIG device, with the device files gres.conf lists for it."""

    type: str            # a100, 1g.5gb
    files: list[str]     # /dev/nvidia0 (whole); /dev/nvidia2 + its two nvidia-cap files (MIG)
    weight: float        # GPU-equivalents (1.0 whole; slices / GPU slices for MIG)
    uuid: str
    mig: bool


@dataclass
class Node:
    name: str
    devices: list[Device]
    cpus: int
    real_memory_mb: int
    address: str | None = None
    port: int | None = None

    def gres_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for device in self.devices:
            counts[device.type] = counts.get(device.type, 0) + 1
        return counts


@dataclass
class Qos:
    """One policy group as a Slurm QOS (and the account of the same name its members use)."""

    name: str
    description: str
    max_tres_per_user: dict[str, int]
    max_tres_per_job: dict[str, int]
    max_wall_minutes: int | None
    priority: int
    members: list[str] = field(default_factory=list)


@dataclass
class Cluster:
    nodes: list[Node]
    partition: str
    epilog: str
    constrain_devices: bool
    qos: list[Qos]
    policy_path: str

    def types(self) -> dict[str, float]:
        """GRES type -> GPU-equivalents of one unit, in first-seen order."""
        weights: dict[str, float] = {}
        for node in self.nodes:
            for device in node.devices:
                weights.setdefault(device.type, device.weight)
        return weights


def devices_of(inventory: Inventory, device_dir: str) -> list[Device]:
    """The GRES units of one node. Device minor = GPU index (/dev/nvidiaN); a MIG device also needs its
    GPU instance's and compute instance's nvidia-caps files, whose minors follow from the instance ids."""
    devices = []
    for gpu in inventory.gpus:
        node_file = os.path.join(device_dir, f"nvidia{gpu.index}")
        if not gpu.mig_current:
            devices.append(Device(gpu_type(gpu.name), [node_file], 1.0, gpu.uuid, False))
            continue
        for mig in gpu.mig_devices:
            gi, ci = mig_cap_minors(gpu.index, mig.gpu_instance_id, mig.compute_instance_id)
            caps = [os.path.join(device_dir, "nvidia-caps", f"nvidia-cap{m}") for m in (gi, ci)]
            devices.append(Device(mig.profile, [node_file, *caps], mig.slices / gpu.mig_slices, mig.uuid, True))
    return devices


def group_limits(policy: Policy, group: str) -> dict[str, Any]:
    """A group's limits as a member without an override gets them: built-ins, then defaults, then the group."""
    limits = dict(BUILTIN_LIMITS)
    for layer in (policy.section("defaults"), policy.section("groups").get(group) or {}):
        limits.update({k: v for k, v in layer.items() if k in LIMIT_KEYS and k not in ("aggregate", "policies")})
    return limits


def group_members(policy: Policy, group: str) -> list[str]:
    """Who the group takes, as far as ds01 can list them: its members and its Unix group's (NSS).
    A user taken by an earlier group is that group's."""
    listed = list(policy.members.get(group) or [])
    unix = (policy.section("groups").get(group) or {}).get("unix_group")
    if unix:
        try:
            entry = grp.getgrnam(unix)
            listed += list(entry.gr_mem) + [p.pw_name for p in pwd.getpwall() if p.pw_gid == entry.gr_gid]
        except KeyError:
            pass
    return sorted({m for m in listed if policy.group_of(m)[0] == group})


def qos_of(policy: Policy, group: str, weights: dict[str, float]) -> Qos:
    """A group's limits in Slurm's terms.

    max_gpu_equivalents N -> MaxTRESPerUser billing=N*100 (the partition bills a whole GPU 100, a MIG slice
    its share) and gres/gpu:<whole type>=floor(N) for each whole-GPU type (0 when allow_full_gpu is false),
    plus gres/gpu = the most devices N equivalents can be (floor(N / smallest weight)), so an untyped request
    is bounded too. max_gpu_slots_per_container -> MaxTRESPerJob gres/gpu. max_runtime_h -> MaxWall.
    priority -> the QOS priority (PriorityWeightQOS)."""
    limits = group_limits(policy, group)
    per_user: dict[str, int] = {}
    whole = [t for t, w in weights.items() if w >= 1.0]
    equivalents = limits.get("max_gpu_equivalents")
    if equivalents is not None:
        per_user["billing"] = int(round(equivalents * BILLING_PER_GPU))
        smallest = min(weights.values(), default=1.0)
        per_user["gres/gpu"] = int(math.floor(equivalents / smallest + 1e-9))
        for name in whole:
            per_user[f"gres/gpu:{name}"] = int(math.floor(equivalents + 1e-9))
    if not limits.get("allow_full_gpu", True):
        for name in whole:
            per_user[f"gres/gpu:{name}"] = 0
    per_job: dict[str, int] = {}
    slots = limits.get("max_gpu_slots_per_container")
    if slots is not None:
        per_job["gres/gpu"] = int(slots)
    runtime = limits.get("max_runtime_h")
    wall = None if runtime is None else max(1, int(math.ceil(runtime * 60)))
    description = (policy.section("groups").get(group) or {}).get("description") or f"ds01 group {group}"
    return Qos(group, description, per_user, per_job, wall, int(limits.get("priority") or 0),
               group_members(policy, group))


def node_resources(cpus: Any, memory: Any) -> tuple[int, int]:
    """CPUs and RealMemory (MiB) of a node: as the policy says, else this host's."""
    if cpus is None:
        cpus = os.cpu_count() or 1
    if memory is None:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(cpus), int(memory) // (1024 * 1024)


def cluster_of(policy: Policy, host_inventory: str | None = None) -> Cluster:
    """The cluster the policy describes. A node without `inventory` has this host's GPUs (`host_inventory`,
    the gpu_inventory setting, else NVML): right on a one-node cluster or when run on that node."""
    section = policy.section("cluster")
    base = os.path.dirname(os.path.abspath(policy.path)) if not policy.path.startswith("<") else os.getcwd()
    nodes = []
    for name, spec in (section.get("nodes") or {}).items():
        path = spec.get("inventory")
        inventory = load_inventory(os.path.join(base, path) if path else host_inventory)
        cpus, memory = node_resources(spec.get("cpus"), spec.get("real_memory"))
        nodes.append(Node(name, devices_of(inventory, spec.get("device_dir") or DEFAULT_DEVICE_DIR), cpus, memory,
                          spec.get("address"), spec.get("port")))
    cluster = Cluster(nodes, section.get("partition") or DEFAULT_PARTITION, section.get("epilog") or DEFAULT_EPILOG,
                      bool(section.get("constrain_devices", False)), [], policy.path)
    weights = cluster.types()
    cluster.qos = [qos_of(policy, group, weights) for group in policy.section("groups")]
    return cluster


def cluster_default(policy: Policy) -> bool:
    """The policy's `cluster.default`: whether the container commands mean the cluster when neither `--cluster`
    nor `--no-cluster` is given (false when absent: a single server stays a single server)."""
    return bool(policy.section("cluster").get("default", False))


def use_cluster(rt, flag: bool | None) -> bool:
    """Whether a container command acts on cluster containers: `--cluster` / `--no-cluster` as given (`flag`),
    else the policy's default. Every command with `--cluster` (ds01/cli/_cluster.py's option) asks this."""
    return cluster_default(rt.policy) if flag is None else bool(flag)
