"""The create plan: every limit, mount, label and image of a new container decided before Docker is touched.

`container-create --dry-run` prints it (`Plan.record`); `Engine.create` carries it out.
"""

import grp
import os
import re
import resource
from dataclasses import dataclass, field
from typing import Any

from . import labels as L
from . import mount_pins, names
from .engine import image_repository
from .errors import Ds01Error, UsageError
from .image_choice import IMAGE_ID_RE
from .mounts import check_mount
from .names import sanitize_username
from .policy import docker_terms
from .statedir import StateDir
from .units import parse_bytes

LOGIN_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
DEFAULT_ARCH = "CUDA_ADA"


@dataclass
class Plan:
    name: str
    container: str
    login: str
    uid: int
    gid: int
    image: str
    run_image: str
    account_setup: bool  # the image lacks the caller's account: it is written into the container
    tag_image: str
    workspace: str
    data: str
    models: str
    limits: dict
    labels: dict
    environment: dict
    devices: list
    groups: dict  # supplementary groups: {name: the HOST's gid} (host_groups), never a name an image resolves
    ulimits: dict = field(default_factory=dict)
    command: list = field(default_factory=lambda: ["bash", "-c", "bash"])
    stop_signal: str = "SIGHUP"
    create_workspace: bool = False
    gpus: list = field(default_factory=list)  # [{slot, uuid, gpu_eq}] once slots are allocated
    image_id: str = ""  # the image's ID, once the engine has it (the account files are cached by it)
    pins: str = ""  # the directory of the user mounts' bind points (ds01.mount_pins); "" to bind the paths
    create_sent: bool = False  # the engine was asked to create it (its answer may never have come)
    container_id: str = ""  # its id, once the engine answered

    @property
    def group_add(self):
        """Docker's --group-add: the host's gids as numbers (a name would be looked up in the image's /etc/group;
        the account layer keeps the container's /etc/group from naming another gid for them)."""
        return [str(gid) for gid in self.groups.values()]

    @property
    def cpus(self):
        """The CPU limit Docker gets: the policy's, capped at the host's CPUs (Docker refuses more)."""
        return min(float(self.limits["max_cpus"]), float(os.cpu_count() or 1))

    @property
    def sudoers_file(self) -> str:
        return f"{sanitize_username(self.login)}_no_password"

    @property
    def sudo(self) -> bool:
        return bool(self.limits.get("sudo"))

    def user_mounts(self) -> dict[str, str]:
        """{destination: the user's directory}: what is mounted where."""
        found = {"/workspace": self.workspace, "/data": self.data, "/models": self.models}
        return {destination: path for destination, path in found.items() if path}

    def binds(self):
        binds: dict[str, dict] = {}
        if not self.pins:
            binds.update((path, {"bind": destination, "mode": "rw"})
                         for destination, path in self.user_mounts().items())
        if not self.sudo:  # a `sudo` that says what to do instead (ds01's own file, read-only)
            binds[SUDO_SHIM] = {"bind": "/usr/local/bin/sudo", "mode": "ro"}
        return binds

    def mounts(self):
        """The user mounts as bind points (mount_pins), which only a start through ds01 fills."""
        if not self.pins:
            return []
        return [{"Target": destination, "Source": mount_pins.point(self.pins, destination), "Type": "bind",
                 "ReadOnly": False} for destination in self.user_mounts()]

    def assign_gpus(self, slots):
        """Give the container these slots: a device request naming their UUIDs, the env and the labels."""
        uuids = [s.uuid for s in slots]
        self.gpus = [{"slot": s.id, "uuid": s.uuid, "gpu_eq": s.weight} for s in slots]
        self.environment["NVIDIA_VISIBLE_DEVICES"] = ",".join(uuids)
        self.labels[L.GPUS] = "device=" + L.LIST_SEPARATOR.join(uuids)
        self.labels[L.GPU_SLOTS] = L.LIST_SEPARATOR.join(s.id for s in slots)
        self.labels[L.GPU_UUIDS] = L.LIST_SEPARATOR.join(uuids)
        self.labels[L.GPU_EQ] = format(round(sum(s.weight for s in slots), 4), "g")

    def host_config(self) -> dict[str, Any]:
        config = {
            "binds": self.binds(),
            "mounts": self.mounts(),
            "network_mode": "host",
            "ulimits": [{"Name": name, "Soft": value, "Hard": value} for name, value in self.ulimits.items()],
            "devices": [f"{d}:{d}:rwm" for d in self.devices],
            "group_add": self.group_add,
        }
        config.update((key, value) for key, value, _ in docker_terms(self.limits, self.limits["slice"], self.cpus))
        if self.gpus:
            config["device_requests"] = [{"driver": "nvidia", "device_ids": [g["uuid"] for g in self.gpus],
                                          "capabilities": [["gpu"]]}]
        return config

    def record(self):
        """The plan as printed by `--dry-run`."""
        return {
            "name": self.name, "container": self.container, "user": self.login, "uid": self.uid, "gid": self.gid,
            "image": self.image, "run_image": self.run_image, "user_setup": self.account_setup,
            "setup_image": None, "workspace": self.workspace, "data": self.data or None,
            "models": self.models or None, "create_workspace": self.create_workspace,
            "cpus": self.cpus, "policy_cpus": self.limits["max_cpus"], "memory": self.limits["memory"],
            "memory_swap": self.limits["memory_swap"], "shm_size": self.limits["shm_size"],
            "ipc": "host" if self.limits["shm_size"] is None else "private",
            "pids_limit": self.limits["pids_limit"], "cgroup_parent": self.limits["slice"],
            "ulimits": self.ulimits, "network": "host", "devices": self.devices,
            "group_add": self.group_add, "environment": self.environment, "command": self.command,
            "stop_signal": self.stop_signal, "labels": self.labels, "sudo": self.sudo,
            "capabilities": list(self.limits.get("capabilities") or []),
            "gpu_slots": [g["slot"] for g in self.gpus], "gpu_uuids": [g["uuid"] for g in self.gpus],
            "gpu_eq": round(sum(g["gpu_eq"] for g in self.gpus), 4),
        }


CAP_SYS_RESOURCE = 24
SUDO_SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images", "container-sudo")


def _host_allows_unlimited_memlock():
    """False on hosts (VMs, nested containers) whose capability bounding set lacks CAP_SYS_RESOURCE."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("CapBnd:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    except OSError:
        pass
    return True


def _ulimit_value(value, auto_default):
    if value is None or str(value).lower() in ("unlimited", "-1"):
        return -1
    if str(value).lower() == "auto":
        return auto_default()
    return parse_bytes(value)


def ulimits(policy):
    """Container ulimits: AIME's memlock=unlimited and stack=64m unless the policy or the host says otherwise."""
    def memlock_auto():
        if _host_allows_unlimited_memlock():
            return -1
        hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
        return -1 if hard == resource.RLIM_INFINITY else hard

    configured = policy.section("ulimits")
    return {"memlock": _ulimit_value(configured.get("memlock", "auto"), memlock_auto),
            "stack": _ulimit_value(configured.get("stack", 67108864), lambda: 67108864)}



def host_arch(rt):
    """The architecture detected from this host's GPUs (or the policy's aime.arch), None when neither says."""
    from .images.catalog import detect_arch  # lazy: ds01.images.catalog, 2 ms

    try:
        detected, _ = detect_arch(rt.inventory)
    except Ds01Error:
        detected = None
    return detected or rt.policy.section("aime").get("arch")


def plan(rt, name, image, workspace=None, data=None, models=None, interface="atomic", image_labels=None,
         framework=None, arch=None, environment=None):
    """Decide everything about a new container for the caller. Touches nothing."""
    name = names.validate(name)
    user = rt.caller
    if not LOGIN_RE.match(user.login):
        raise UsageError(f"your login {user.login!r} cannot be used as an account name inside a container")
    limits = rt.limits(user.login)
    roots = rt.policy.section("access_control").get("mount_roots") or []
    ws = workspace or os.path.join(user.home, "workspace", name)
    ws_real = check_mount(ws, user, rt.admin, roots, "workspace", must_exist=False)
    if os.path.exists(ws_real) and not os.path.isdir(ws_real):
        raise UsageError(f"workspace {ws!r} exists and is not a directory")
    data_real = check_mount(data, user, rt.admin, roots, "data directory") if data else ""
    models_real = check_mount(models, user, rt.admin, roots, "models directory") if models else ""
    image_labels = image_labels or {}
    baked = L.image_has_user(image_labels, user.uid, user.gid)
    container = names.container_name(name, user.uid)
    pins = StateDir.of(rt).pins(container) if mount_pins.available() else ""
    # Every container runs from a tag of its own, `<repo>:<name>._.<uid>` (AIME's per-container image), a
    # second tag of the same image ID (no space; no commit: the account, when the image lacks it, is written
    # into the container itself). AIME's `mlc remove` deletes the container's image reference; this way
    # that is the container's own tag, never the user's `ds01-<uid>/NAME:latest`.
    tag_image = "" if IMAGE_ID_RE.match(image) else f"{_repository(image)}:{container}"
    env = {"NVIDIA_VISIBLE_DEVICES": "void"}
    env.update(environment or {})
    gpus_label = "none" if env.get("NVIDIA_VISIBLE_DEVICES") == "void" else env.get("NVIDIA_VISIBLE_DEVICES", "all")
    record = limits.record()
    label_map = {
        L.OWNER: user.login,
        L.NAME: name,
        L.USER: user.login,
        L.ARCH: arch or rt.settings.get("arch") or host_arch(rt) or image_labels.get(L.ARCH) or DEFAULT_ARCH,
        L.MLC_VERSION: L.MLC_CONTAINER_VERSION,
        L.WORK_MOUNT: ws_real,
        L.DATA_MOUNT: data_real or "-",
        L.MODELS_MOUNT: models_real or "-",
        L.FRAMEWORK: framework or image_labels.get(L.FRAMEWORK) or "custom",
        L.GPUS: gpus_label,
        L.MANAGED: "true",
        L.CUSTOM_IMAGE: "" if image.startswith("aimehub/") else image,
        L.GROUP: limits.group,
        L.CREATED_AT: rt.now_iso(),
        L.INTERFACE: interface,
        L.IMAGE: image,
    }
    infrastructure = rt.policy.section("monitoring").get("infrastructure_label")
    for key in (*L.CONTAINER_FACTS, *([infrastructure] if infrastructure else [])):
        label_map.setdefault(key, "")  # not what the image says: nothing, unless ds01 sets it
    if pins:
        label_map[L.MOUNT_PINS] = pins
    # Other inherited image labels with commas would break AIME's `mlc list`: override them with clean values
    # (after the facts: a comma must not turn an image's claim into one of ds01's lists).
    for key, value in image_labels.items():
        if "," in str(value) and key not in label_map:
            label_map[key] = L.clean(value)
    label_map = {k: L.clean(v) for k, v in label_map.items()}
    devices = [d for d in ("/dev/snd", "/dev/video0") if os.path.exists(d)]
    return Plan(
        name=name, container=container, login=user.login, uid=user.uid, gid=user.gid, image=image,
        run_image=tag_image or image, account_setup=not baked, tag_image=tag_image,
        workspace=ws_real, data=data_real,
        models=models_real, limits=record, labels=label_map, environment=env, devices=devices,
        ulimits=ulimits(rt.policy),
        groups=host_groups(SUPPLEMENTARY + (("sudo",) if record.get("sudo") else ())),
        create_workspace=not os.path.isdir(ws_real), pins=pins)



SUPPLEMENTARY = ("video",)  # AIME's --group-add video (and sudo, where the policy gives sudo)


def host_groups(names):
    """{name: gid} of the HOST's groups called `names`; a group the host lacks is not given (docs/config.md)."""
    found = {}
    for name in names:
        try:
            found[name] = grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    return found


def _repository(ref):
    return image_repository(ref)

