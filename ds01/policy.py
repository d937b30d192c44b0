"""The lab's policy (`resource-limits.yaml`): loading with file:line errors, and per-user resolution.

Resolution is `defaults` ⊕ the user's group ⊕ the user's override. The group is the first
group (in file order) that takes the user: listed inline, in `groups/<group>.members` beside the
file, or a member of the group's `unix_group` (NSS, so LDAP groups work as local ones do);
otherwise `default_group`. Unlike DS01, an override is applied on top of the group.
"""

import grp
import os
import pwd
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import NotFound
from .gpu.mig_layout import MigLayout
from .names import sanitize_username
from .schema import (
    Bool,
    Duration,
    LineMapping,
    ListOf,
    MapOf,
    Names,
    Number,
    Opaque,
    Percent,
    PolicyError,
    Section,
    Size,
    Text,
    Timestamp,
    load_yaml,
    read_trusted,
    validate,
)
from .units import format_bytes

DEFAULT_PATH = "/etc/ds01/resource-limits.yaml"


POLICY_KEYS = {
    "gpu_idle_threshold": Number(maximum=100, doc="GPU utilisation % below which a GPU counts as idle"),
    "cpu_idle_threshold": Number(doc="CPU % below which a container counts as idle"),
    "network_idle_threshold": Number(integer=True, doc="bytes received since the last check below which a container "
                                                       "counts as idle"),
    "idle_detection_window": Number(integer=True, minimum=1, doc="consecutive idle checks before acting"),
    "grace_period_m": Duration("m", nullable=False, doc="time after start before idle checks apply"),
    "keepalive_max_duration_h": Duration("h", doc="how long /workspace/.keep-alive is honoured after its mtime"),
    "sigterm_grace_s": Duration("s", nullable=False, doc="seconds between SIGTERM and SIGKILL when a job stops a "
                                                         "container"),
    "high_demand_threshold": Number(maximum=1, doc="share of held GPU slots that triggers high-demand mode"),
    "high_demand_idle_reduction": Number(maximum=1, doc="factor applied to idle timeouts in high-demand mode"),
    "created_container_timeout_m": Duration("m", doc="a container created but never started is removed after this"),
    "process_idle_threshold": Number(integer=True, doc="a container with fewer processes than this (shells, sleep "
                                     "and the keep-alive not counted) counts as idle"),
    "gpu_hold_after_manual_stop_m": Duration("m", doc="accepted for DS01 configs; unused"),
    "aime_containers": Text(choices=["keep", "ds01"], doc="containers AIME's own `mlc create` made (AIME's labels, "
                            "not ds01's or DS01's): `keep` (the default) keeps them as AIME does, stopped or never "
                            "started, with their committed images, for as long as their owner likes; "
                            "ds01-release-stale still frees a stopped one's GPU after gpu_hold_after_stop_h, and "
                            "ds01-idle-check and ds01-max-runtime stop (never remove) running ones holding a GPU "
                            "as they stop ds01's. `ds01`: the hold timers remove them as they remove ds01's "
                            "(created_container_timeout_m, container_hold_after_stop_h)"),
    "cpu_only_containers": Bool(doc="the idle check and max-runtime also act on containers without a GPU (DS01: "
                                    "GPU containers only; `--all` covers them for one run)"),
}

AGGREGATE_KEYS = {
    "cpu_quota": Percent(doc="systemd CPUQuota of the user's slice, e.g. 9600%"),
    "memory_max": Size(nullable=True, doc="systemd MemoryMax of the user's slice"),
    "memory_high": Size(nullable=True, doc="systemd MemoryHigh of the user's slice"),
    "tasks_max": Number(nullable=True, integer=True, doc="systemd TasksMax of the user's slice"),
    "gpu_limit": Number(nullable=True, doc="GPU-equivalents across all the user's containers"),
}

class Capabilities(Names):
    """Linux capability names, as Docker takes them: `cap_sys_ptrace` or `SYS_PTRACE` -> `SYS_PTRACE`."""

    def convert(self, value: Any) -> Any:
        names = []
        for name in super().convert(value):
            normal = name.upper().removeprefix("CAP_")
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,31}", normal) or normal == "ALL":
                raise ValueError(f"{name!r} is not a capability name (e.g. SYS_PTRACE)")
            names.append(normal)
        return names


LIMIT_KEYS = {
    "max_gpu_equivalents": Number(nullable=True, doc="GPU-equivalents a user may hold at once; null = unlimited"),
    "max_gpu_slots_per_container": Number(nullable=True, integer=True, minimum=0, doc="GPUs or MIG slices in one "
                                                                                      "container; null = unlimited"),
    "allow_full_gpu": Bool(doc="false = MIG slices only"),
    "max_cpus": Number(minimum=0.01, doc="CPUs per container (--cpus)"),
    "memory": Size(doc="memory per container (--memory)"),
    "memory_swap": Size(nullable=True, doc="memory+swap per container (--memory-swap); equal to memory = no swap; "
                                           "null = same as memory"),
    "shm_size": Size(nullable=True, doc="/dev/shm size (--shm-size); null = host IPC"),  # noqa: S108 - a doc
    "pids_limit": Number(nullable=True, integer=True, minimum=1, doc="processes per container (--pids-limit); null "
                                                                     "= unlimited"),
    "max_containers_per_user": Number(nullable=True, integer=True, doc="containers a user may have, stopped ones "
                                                                       "included; null = unlimited"),
    "max_runtime_h": Duration("h", doc="running time after which a container is stopped; null = unlimited"),
    "idle_timeout_h": Duration("h", doc="idle time after which a container is stopped; null = never"),
    "gpu_hold_after_stop_h": Duration("h", doc="a stopped container keeps its GPU this long; null = indefinitely"),
    "container_hold_after_stop_h": Duration("h", doc="a stopped container is removed after this; null = never"),
    "max_pause_time_h": Duration("h", doc="a paused container is stopped after this; null = unlimited"),
    "max_tasks": Number(nullable=True, integer=True, doc="accepted for DS01 configs; see aggregate.tasks_max"),
    "priority": Number(integer=True, minimum=0, doc="wait-queue priority; higher is served first"),
    "sudo": Bool(doc="passwordless sudo in containers. Off (the default): no-new-privileges, every capability "
                     "dropped, and `sudo` says how to add packages instead. On: the user is root in the container "
                     "and so root-equivalent on its mounts, unless the mount roots are nosuid"),
    "capabilities": Capabilities(doc="Linux capabilities added back to containers (e.g. SYS_PTRACE for debuggers); "
                              "none by default"),
    "aggregate": Section(AGGREGATE_KEYS, doc="per-user totals across all containers (systemd slice)"),
    "policies": Section(POLICY_KEYS, doc="idle-detection thresholds for this group or user"),
}

LIMIT_ALIASES = {
    "max_gpu_slots": "max_gpu_equivalents",
    "max_gpus_per_user": "max_gpu_equivalents",
    "max_mig_instances": "max_gpu_equivalents",
    "max_gpus_per_container": "max_gpu_slots_per_container",
    "max_mig_per_container": "max_gpu_slots_per_container",
    "cpus": "max_cpus",
}

GROUP_KEYS = dict(LIMIT_KEYS, members=Names(doc="usernames in this group (also read from groups/<group>.members)"),
                  unix_group=Text(nullable=True, doc="a Unix group (local, LDAP, sssd: whatever NSS knows) whose "
                                  "members belong here too; looked up when needed, cached for a minute"),
                  description=Text(nullable=True, doc="free text"))
UNIX_GROUP_TTL_S = 60.0
_UNIX_GROUPS: dict[str, tuple[float, int | None, frozenset[str]]] = {}


def unix_group_has(name: str, login: str) -> bool:
    """True when `login` is in the Unix group `name` through NSS: listed as a member, or the group is the
    account's primary group. A group NSS does not know has no members."""
    found = _UNIX_GROUPS.get(name)
    if found is None or time.monotonic() - found[0] > UNIX_GROUP_TTL_S:
        try:
            entry = grp.getgrnam(name)
            found = (time.monotonic(), entry.gr_gid, frozenset(entry.gr_mem))
        except KeyError:
            found = (time.monotonic(), None, frozenset())
        _UNIX_GROUPS[name] = found
    _, gid, members = found
    if login in members:
        return True
    if gid is None:
        return False
    try:
        return pwd.getpwnam(login).pw_gid == gid
    except KeyError:
        return False

CONTAINER_TYPE_KEYS = {
    "idle_timeout_h": Duration("h", doc="null = never stopped for idleness"),
    "max_runtime_h": Duration("h", doc="null = unlimited"),
    "sigterm_grace_s": Duration("s", nullable=False, doc="seconds between SIGTERM and SIGKILL"),
}

RESERVATION_KEYS = {
    "user": Text(doc="who the slots are for"),
    "slots": Names(doc="slot ids such as 0 or 2.3"),
    "uuids": Names(doc="GPU-… or MIG-… UUIDs (instead of, or besides, slots)"),
    "start": Timestamp(doc="start of the window, e.g. 2026-12-01T09:00:00Z (no zone = local time)"),
    "end": Timestamp(doc="end of the window"),
    "reason": Text(nullable=True, doc="shown in gpu-status"),
}

CLUSTER_NODE_KEYS = {
    "inventory": Text(nullable=True, doc="the node's GPUs: a simulated inventory YAML (relative to this file), or "
                      "null for NVML on the host that runs ds01-slurm-generate"),
    "address": Text(nullable=True, doc="NodeAddr (default: the node name resolves)"),
    "port": Number(nullable=True, integer=True, minimum=1, maximum=65535, doc="slurmd's Port (default Slurm's)"),
    "cpus": Number(nullable=True, integer=True, minimum=1, doc="CPUs (default: this host's count)"),
    "real_memory": Size(nullable=True, doc="RealMemory (default: this host's memory)"),
    "device_dir": Text(doc="where the node's nvidia* and nvidia-caps/ device files are (default /dev)"),
}

CLUSTER_KEYS = {
    "nodes": MapOf(Section(CLUSTER_NODE_KEYS), doc="the Slurm nodes, by NodeName, and their GPUs"),
    "partition": Text(doc="the partition of those nodes (default gpu)"),
    "output_dir": Text(doc="where ds01-slurm-generate writes (default /etc/slurm/ds01)"),
    "epilog": Text(doc="the Epilog slurm.conf names (default /opt/ds01/current/etc/slurm/ds01-epilog)"),
    "constrain_devices": Bool(doc="cgroup.conf ConstrainDevices (default false: on cgroup v1 it breaks Docker "
                                  "inside a job; ds01's device request isolates the GPUs)"),
    "default": Bool(doc="true: the container commands (container-create/start/run/stop/list/remove/retire) act "
                        "on cluster containers without --cluster; --no-cluster then means this server "
                        "(default false)"),
}

TOP_KEYS = {
    "defaults": Section(LIMIT_KEYS, LIMIT_ALIASES, doc="limits every user starts from"),
    "groups": MapOf(Section(GROUP_KEYS, LIMIT_ALIASES), doc="named groups; the first group listing a user is theirs"),
    "default_group": Text(nullable=True, doc="group of users listed in no group"),
    "user_overrides": MapOf(Section(LIMIT_KEYS, LIMIT_ALIASES),
                            doc="per-user limits applied on top of the user's group"),
    "policies": Section(POLICY_KEYS, doc="global idle-detection policy"),
    "container_types": MapOf(Section(CONTAINER_TYPE_KEYS), doc="timers for containers by creation interface"),
    "greeting": Section({"enabled": Bool(doc="ds01-greetings writes users' login lines (default true)")},
                        doc="the one-line login greeting"),
    "doctor": Section({"min_free_percent": Number(minimum=0, maximum=100, doc="ds01-doctor warns below this much "
                                                  "free space on Docker's data-root (default 10; FAIL below half)")},
                      doc="ds01-doctor's thresholds"),
    "monitoring": Section({
        "infrastructure_containers": Names(doc="container names no job ever touches"),
        "infrastructure_label": Text(nullable=True, doc="a label key; containers where it is `true` are never touched "
                                     "(besides aime.mlc.DS01_PROTECTED and ds01.protected)"),
    }, doc="containers the lifecycle jobs never touch"),
    "access_control": Section({
        "admin_users": Names(doc="users who may act on every container"),
        "admin_group": Text(nullable=True, doc="Unix group whose members are admins"),
        "mount_roots": Names(doc="directories (besides the home) users may mount as /data or /models"),
        "ssh_host": Text(nullable=True, doc="the name users reach this server by over SSH (e.g. gpu1.lab.example.org): "
                         "user-setup writes it into their VS Code SSH config and ~/ONBOARDING.md; default: the "
                         "host's FQDN (user-setup and ds01-doctor warn when that is a loopback address)"),
        "wrapper": Opaque(doc="accepted for DS01 configs; unused"),
    }),
    "enforcement": Section({"aggregate_limits": Bool(), "cgroup_driver": Text(choices=["systemd", "cgroupfs"])}),
    "gpu_allocation": Section({
        "strategy": Text(choices=["spread", "pack"], doc="spread: least-loaded GPU first; pack: fill GPUs in turn"),
        "placement": Text(choices=["smallest", "largest"],
                          doc="which free slot a request for a GPU gets: smallest (the default: the smallest "
                              "MIG slice that fits, so whole GPUs stay free for those who ask for one) or "
                              "largest (whole GPUs first)"),
        "slots_per_gpu": Number(integer=True, minimum=1, doc="accepted for DS01 configs; unused (MIG weights come "
                                                             "from the driver)"),
        "claim_ttl_s": Number(integer=True, minimum=1, doc="seconds a gpu-allocate claim lives (default 120)"),
        "lock_timeout_s": Number(minimum=0, doc="seconds to wait for the allocator lock (default 30); then exit 3"),
        "wait_poll_s": Number(minimum=0.05, doc="seconds between checks while `--wait` waits for a slot (default 2)"),
    }, {"mig_instances_per_gpu": "slots_per_gpu"}),
    "gpu": Section({
        "inventory": Text(nullable=True, doc="simulated GPU inventory YAML (instead of NVML)"),
        "mig_layout": MigLayout(doc="what mig-configure makes of each GPU: `off` or a list of MIG profiles "
                                    "(`3g.20gb` or `3g`), keyed by GPU index, UUID or `all`"),
    }),
    "images": Section({
        "allowed": Names(doc="image patterns (shell-style, e.g. nvcr.io/nvidia/*) anyone may create containers from, "
                             "besides their own ds01-<uid>/ images and the catalog's; admins may use any"),
        "default_system_packages": Names(doc="apt packages image-create adds to images from a catalog framework "
                                             "(not -f custom); unset: git curl wget vim htop (DS01's); [] on an "
                                             "offline host"),
        "default_sets": Names(doc="the pip sets image-create and project-init add unless told not to: jupyter, "
                                  "data-science, use-case (the -t set, default ml); unset: all three (DS01's); [] "
                                  "on an offline host: only what the user names"),
    }, doc="which images users may run, and what image-create adds by default"),
    "aime": Section({
        "catalog": Text(nullable=True, doc="path of AIME's ml_images.repo"),
        "arch": Text(nullable=True, doc="architecture when none is given or detected"),
    }),
    "paths": Section({
        "state_dir": Text(doc="where claims and the wait queue live (default /var/lib/ds01)"),
        "log_dir": Text(doc="where events.jsonl lives (default /var/log/ds01)"),
    }),
    "cluster": Section(CLUSTER_KEYS, doc="a Slurm cluster: what ds01-slurm-generate writes for Slurm "
                       "(docs/cluster.md)"),
    "reservations": ListOf(Section(RESERVATION_KEYS), doc="GPU slots reserved for a user in a time window"),
    "bare_metal_access": Opaque(doc="accepted for DS01 configs; unused"),
    "ulimits": Section({
        "memlock": Opaque(doc="max locked memory: unlimited, auto (unlimited where the host allows it, else its "
                              "hard limit) or a size"),
        "stack": Opaque(doc="stack size: a size (default 64m, as AIME) or unlimited"),
    }, doc="ulimits every container gets"),
}

# Embedded defaults: what a policy without a key resolves to (DS01's shipped values).
# Timers of containers by interface, for those made by tools other than ds01/AIME (DS01's
# container_types); the policy's `container_types` section overrides them. ds01's own containers
# (OWN_INTERFACES) use their owner's limits.
INTERFACE_TIMERS: dict[str, dict[str, float | None]] = {
    "devcontainer": {"idle_timeout_h": None, "max_runtime_h": 168.0, "sigterm_grace_s": 30.0},
    "compose": {"idle_timeout_h": 0.5, "max_runtime_h": 72.0, "sigterm_grace_s": 45.0},
    "docker": {"idle_timeout_h": 0.5, "max_runtime_h": 48.0, "sigterm_grace_s": 60.0},
    "api": {"idle_timeout_h": None, "max_runtime_h": 24.0, "sigterm_grace_s": 30.0},
    # ds01's own: a JupyterHub single-user server (DS01 had no timers of its own for it)
    "jupyter": {"idle_timeout_h": 0.5, "max_runtime_h": 72.0, "sigterm_grace_s": 30.0},
    "unknown": {"idle_timeout_h": 0.25, "max_runtime_h": 24.0, "sigterm_grace_s": 30.0},
}
OWN_INTERFACES = ("atomic", "orchestration")

BUILTIN_LIMITS: dict[str, Any] = {
    "max_gpu_equivalents": 1.0,
    "max_gpu_slots_per_container": 1,
    "allow_full_gpu": True,
    "max_cpus": 32.0,
    "memory": 32 * 1024**3,
    "memory_swap": None,
    "shm_size": 16 * 1024**3,
    "pids_limit": 4096,
    "max_containers_per_user": 3,
    "max_runtime_h": 24.0,
    "idle_timeout_h": 0.5,
    "gpu_hold_after_stop_h": 0.25,
    "container_hold_after_stop_h": 0.5,
    "max_pause_time_h": None,
    "max_tasks": None,
    "priority": 10,
    "sudo": False,
    "capabilities": [],
}
BUILTIN_POLICIES: dict[str, Any] = {
    "gpu_idle_threshold": 5.0,
    "cpu_idle_threshold": 2.0,
    "network_idle_threshold": 1048576,
    "idle_detection_window": 3,
    "grace_period_m": 30.0,
    "keepalive_max_duration_h": 24.0,
    "sigterm_grace_s": 60.0,
    "high_demand_threshold": 0.8,
    "high_demand_idle_reduction": 0.5,
    "created_container_timeout_m": 30.0,
    "process_idle_threshold": 1,
    "gpu_hold_after_manual_stop_m": 15.0,
    "cpu_only_containers": False,
    "aime_containers": "keep",
}


def _members_path(directory: str, group: str) -> str:
    return os.path.join(directory, "groups", f"{group}.members")


def _read_members(directory: str, group: str) -> list[str]:
    """Usernames from `groups/<group>.members`: one per line, `#` starts a comment."""
    members_path = _members_path(directory, group)
    try:
        lines = read_trusted(members_path, "group member list").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise PolicyError(f"{members_path}: cannot read: {exc.strerror}") from None
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


@dataclass
class Policy:
    """A validated policy: normalised sections plus where it came from."""

    path: str
    data: dict[str, Any]
    members: dict[str, list[str]] = field(default_factory=dict)   # group -> [usernames], file order
    overrides: dict[str, Any] = field(default_factory=dict)  # username -> limits section
    sources: tuple[str, ...] = ()  # every file it was read from, or looked for (load_cached compares them)

    def section(self, name: str) -> Any:
        return self.data.get(name) or {}

    def placing(self, group: str, login: str) -> str | None:
        """How `group` takes `login`: "member" (members, groups/<group>.members), "unix_group", or None."""
        if {login, sanitize_username(login)} & set(self.members.get(group) or ()):
            return "member"
        unix = (self.section("groups").get(group) or {}).get("unix_group")
        if unix and unix_group_has(unix, login):
            return "unix_group"
        return None

    def group_of(self, login: str) -> tuple[str, str]:
        """(group, how) for a login: the first group (in the policy's order) that takes it, else default_group."""
        for group in self.section("groups"):
            how = self.placing(group, login)
            if how:
                return group, how
        return self.data.get("default_group") or "default", "default"

    def groups_listing(self, login: str) -> list[str]:
        return [g for g in self.section("groups") if self.placing(g, login)]

    def placed_by(self, login: str, group: str, how: str) -> str:
        """Which rule placed the user, in words (`resource-limits USER`)."""
        if how == "unix_group":
            unix = self.section("groups")[group]["unix_group"]
            return f"groups.{group}.unix_group: {login} is in the Unix group {unix}"
        if how == "member":
            listed: list[str] = (self.section("groups").get(group) or {}).get("members") or []
            inline = login in listed
            return f"groups.{group}.members" if inline else f"groups/{group}.members"
        if self.data.get("default_group"):
            return f"default_group: {group} (no group lists {login})"
        return f"no group lists {login}: the defaults"

    def resolve(self, login: str) -> "Limits":
        """The limits that apply to `login`."""
        group, how = self.group_of(login)
        limits = dict(BUILTIN_LIMITS)
        aggregate, policies = {}, dict(BUILTIN_POLICIES)
        policies.update(self.section("policies"))
        layers = [self.section("defaults"), self.section("groups").get(group) or {}]
        override = self.overrides.get(login) or self.overrides.get(sanitize_username(login))
        if override:
            layers.append(override)
        for layer in layers:
            for key, value in layer.items():
                if key == "aggregate":
                    aggregate.update(value)
                elif key == "policies":
                    policies.update(value)
                elif key in LIMIT_KEYS:
                    limits[key] = value
        if limits["memory_swap"] is None:
            limits["memory_swap"] = limits["memory"]
        return Limits(user=login, group=group, group_source=how, override=bool(override),
                      values=limits, aggregate=aggregate or None, policies=policies,
                      placed_by=self.placed_by(login, group, how))


@dataclass
class Limits:
    """One user's resolved limits."""

    user: str
    group: str
    group_source: str
    override: bool
    values: dict[str, Any]
    aggregate: dict[str, Any] | None
    policies: dict[str, Any]
    placed_by: str = ""

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def slice_name(self) -> str:
        return f"ds01-{sanitize_username(self.group)}-{sanitize_username(self.user)}.slice"

    def seconds(self, key: str) -> float | None:
        """A duration limit in seconds (None = unlimited)."""
        value = self.values[key] if key in self.values else self.policies[key]
        if value is None:
            return None
        seconds: float = value * {"h": 3600, "m": 60, "s": 1}[key.rsplit("_", 1)[1]]
        return seconds

    def docker_args(self) -> list[str]:
        """The `docker create` flags these limits become."""
        return [flag for _, _, flags in docker_terms(self.values, self.slice_name) for flag in flags.split(" ")]

    def record(self) -> dict[str, Any]:
        record = {"user": self.user, "group": self.group, "group_source": self.group_source,
                  "placed_by": self.placed_by, "override": self.override, "slice": self.slice_name}
        record.update(self.values)
        record["aggregate"] = self.aggregate
        record["policies"] = self.policies
        return record


def docker_terms(values: Mapping[str, Any], slice_name: str, cpus: float | None = None) -> list[tuple[str, Any, str]]:
    """Limits in Docker's terms, written once: (host-config key, value, `docker create` flag) for each.

    `values` are resolved limits (a Limits' values or its record); `cpus` caps max_cpus (the host's count).
    """
    cpus = values["max_cpus"] if cpus is None else cpus
    terms = [("nano_cpus", int(round(cpus * 1e9)), f"--cpus={cpus:g}"),
             ("mem_limit", values["memory"], f"--memory={format_bytes(values['memory'])}"),
             ("memswap_limit", values["memory_swap"], f"--memory-swap={format_bytes(values['memory_swap'])}")]
    if values["shm_size"] is None:
        terms.append(("ipc_mode", "host", "--ipc=host"))
    else:
        terms.append(("shm_size", values["shm_size"], f"--shm-size={format_bytes(values['shm_size'])}"))
    if values["pids_limit"] is not None:
        terms.append(("pids_limit", values["pids_limit"], f"--pids-limit={values['pids_limit']}"))
    terms.append(("cgroup_parent", slice_name, f"--cgroup-parent={slice_name}"))
    if not values.get("sudo"):  # no way up from the caller's uid: no setuid gains, no capabilities
        terms.append(("cap_drop", ["ALL"], "--cap-drop=ALL"))
        terms.append(("security_opt", ["no-new-privileges"], "--security-opt=no-new-privileges"))
    capabilities = values.get("capabilities") or []
    if capabilities:
        terms.append(("cap_add", capabilities, " ".join(f"--cap-add={c}" for c in capabilities)))
    return terms



def load(path: str | None = None) -> Policy:
    """Load and validate the policy: `path` (which must exist), else /etc/ds01's, else the embedded defaults."""
    explicit = path
    path = explicit or DEFAULT_PATH
    try:
        text = read_trusted(path, "policy")
    except FileNotFoundError:
        if explicit:
            raise NotFound(f"policy file {path} does not exist",
                           hint="pass --config PATH or set DS01_CONFIG to an existing resource-limits.yaml") from None
        return Policy(path="<embedded defaults>", data={})
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    return parse(text, path)


# A file changed this recently may change again within one tick of its timestamps, unseen by a stat: a policy
# read from it is not kept (git's "racily clean" index entries, the same problem).
RACY_S = 2.0
_kept: dict[str | None, tuple[tuple[tuple[str, tuple[int, ...] | None], ...], Policy]] = {}


def _stamp(path: str) -> tuple[int, ...] | None:
    """What a change to the file changes (a rewrite, a replacement, its owner or mode); None: it is missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, st.st_uid, st.st_gid


def load_cached(path: str | None = None) -> Policy:
    """load(), kept while none of the files it read (or looked for) changed: ds01d loads it before each fork,
    so a served command reads no policy file, and the exporter once per change. Only for the policy of the
    process's own settings (root's): never for a path a caller named. The Policy is shared: read it only."""
    kept = _kept.get(path)
    if kept is not None and all(_stamp(source) == stamp for source, stamp in kept[0]):
        return kept[1]
    started_ns = time.time_ns()
    loaded = load(path)
    stamps = tuple((source, _stamp(source)) for source in loaded.sources)
    settled = started_ns - int(RACY_S * 1e9)
    if loaded.sources and all(stamp is None or max(stamp[3], stamp[4]) < settled for _, stamp in stamps):
        _kept[path] = (stamps, loaded)
    else:
        _kept.pop(path, None)
    return loaded


def parse(text: str, path: str = "<string>") -> Policy:
    raw = load_yaml(path, text)
    if raw is None:
        raw = LineMapping()
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}:1: the policy must be a mapping of sections")
    data = validate(raw, Section(TOP_KEYS), path, "", 1)
    directory = os.path.dirname(os.path.abspath(path)) if not path.startswith("<") else None
    members = {}
    sources = [path] if directory else []
    for group, section in (data.get("groups") or {}).items():
        listed = list(section.get("members") or [])
        if directory:
            listed += [m for m in _read_members(directory, group) if m not in listed]
            sources.append(_members_path(directory, group))
        members[group] = listed
    overrides = dict(data.get("user_overrides") or {})
    if directory:
        overrides_path = os.path.join(directory, "user-overrides.yaml")
        sources.append(overrides_path)
        if os.path.exists(overrides_path):
            file_raw = load_yaml(overrides_path, read_trusted(overrides_path, "user overrides"))
            overrides.update(validate(file_raw, MapOf(Section(LIMIT_KEYS, LIMIT_ALIASES)), overrides_path, "", 1))
    for index, (item, raw_item) in enumerate(zip(data.get("reservations") or [], raw.get("reservations") or [])):
        line = getattr(raw_item, "line", 1)
        for key in ("user", "start", "end"):
            if key not in item:
                raise PolicyError(f"{path}:{line}: reservations[{index}]: '{key}' is required")
        if not item.get("slots") and not item.get("uuids"):
            raise PolicyError(f"{path}:{line}: reservations[{index}]: give 'slots' or 'uuids'")
        if item["end"] <= item["start"]:
            raise PolicyError(f"{path}:{line}: reservations[{index}]: 'end' is not after 'start'")
    default_group = data.get("default_group")
    if default_group and default_group not in (data.get("groups") or {}):
        line = getattr(raw, "lines", {}).get("default_group", 1)
        raise PolicyError(f"{path}:{line}: default_group '{default_group}' is not a group in 'groups'")
    return Policy(path=path, data=data, members=members, overrides=overrides, sources=tuple(sources))
