"""Planning a container: every limit, mount, label and image decided before Docker is touched.

`--dry-run` prints the plan; `Engine.create` carries it out.
"""

import os
import re
import sys
from dataclasses import dataclass, field

from . import labels as L
from . import mount_pins, names
from .errors import Ds01Error, NoCapacity, NotFound, PermissionDenied, UsageError
from .names import sanitize_username

LOGIN_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
FORBIDDEN_MOUNTS = ("/var/run/docker.sock", "/run/docker.sock")
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
    def sudoers_file(self):
        return f"{sanitize_username(self.login)}_no_password"

    @property
    def sudo(self):
        return bool(self.limits.get("sudo"))

    def user_mounts(self):
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

    def host_config(self):
        from .policy import docker_terms

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
    from .units import parse_bytes

    if value is None or str(value).lower() in ("unlimited", "-1"):
        return -1
    if str(value).lower() == "auto":
        return auto_default()
    return parse_bytes(value)


def ulimits(policy):
    """Container ulimits: AIME's memlock=unlimited and stack=64m unless the policy or the host says otherwise."""
    import resource

    def memlock_auto():
        if _host_allows_unlimited_memlock():
            return -1
        hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
        return -1 if hard == resource.RLIM_INFINITY else hard

    configured = policy.section("ulimits")
    return {"memlock": _ulimit_value(configured.get("memlock", "auto"), memlock_auto),
            "stack": _ulimit_value(configured.get("stack", 67108864), lambda: 67108864)}


def _under(path, root):
    root = os.path.realpath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_mount(path, user, admin, mount_roots, what, must_exist=True):
    """The absolute real path of a directory the user may mount; UsageError / PermissionDenied otherwise."""
    if "\n" in path or "\0" in path or "," in path:
        raise UsageError(f"{what} path {path!r} contains characters Docker cannot mount")
    try:
        real = os.path.realpath(os.path.expanduser(path))
    except OSError as exc:  # a symlink on the way changed as it was followed
        raise PermissionDenied(f"{what} {path!r} is changing as it is looked at ({exc.strerror})",
                               hint="mount a directory that stays where it is") from None
    _check_allowed(real, path, user, admin, mount_roots, what)
    if must_exist and not os.path.isdir(real):
        raise UsageError(f"{what} {path!r} is not an existing directory")
    if not admin and os.path.lexists(real):
        os.close(_open_usable(real, user, what, path))
    return real


def _check_allowed(real, path, user, admin, mount_roots, what):
    """PermissionDenied unless the policy lets `user` mount the directory at `real` (a real path)."""
    if any(_under(real, f) for f in FORBIDDEN_MOUNTS):
        raise PermissionDenied(f"{what} {path!r} may not be mounted into a container")
    if not admin and not _under(real, user.home) and not any(_under(real, r) for r in mount_roots):
        allowed = ", ".join([user.home, *mount_roots])
        raise PermissionDenied(f"{what} {path!r} is outside what you may mount", hint=f"allowed: under {allowed}")


def _open_source(real, what, path):
    """An fd on the directory at `real`, reached without a symlink (mount_pins.open_directory), with this
    process's file rights; PermissionDenied (or NotFound) saying what is in the way otherwise."""
    import errno

    try:
        return mount_pins.open_directory(real)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            try:
                leads = f"now leads to {os.path.realpath(real)}"
            except OSError:  # changing as we look
                leads = "is no longer the directory it was"
            raise PermissionDenied(f"the {what} {path} {leads}: not mounted",
                                   hint="something replaced it (or a directory above it) with a symlink; put the "
                                        "directory back, or container-recreate with the path you mean") from None
        if exc.errno == errno.ENOENT:
            raise NotFound(f"the {what} {path} no longer exists", hint="create the directory again, or "
                           "container-recreate with another path") from None
        raise PermissionDenied(f"{what} {path!r}: you cannot open it yourself ({exc.strerror})",
                               hint="only directories you can read and write may be mounted") from None


def _open_usable(real, user, what, path, writable=True):
    """An fd on the directory (as `_open_source`), and PermissionDenied unless the caller, with their own rights,
    can open it and write it: a directory under a mount root that its owner keeps private (0700) is not the
    caller's to mount.

    In a ds01d worker the open is checked by the kernel as the caller (privilege.act_for); write access is
    read from the owner, group and mode bits (ACLs are not consulted).
    """
    fd = _open_source(real, what, path)
    try:
        info = os.fstat(fd)
        if writable:
            groups = set(os.getgrouplist(user.login, user.gid)) if user.login else {user.gid}
            bit = 0o200 if info.st_uid == user.uid else 0o020 if info.st_gid in groups else 0o002
            if not info.st_mode & bit:
                raise PermissionDenied(f"{what} {path!r}: you cannot write it", hint="ask its owner for write "
                                       "access, or mount a directory of your own")
    except BaseException:
        os.close(fd)
        raise
    return fd


MOUNTED = {"/workspace": "workspace", "/data": "data directory", "/models": "models directory"}


def recheck_mounts(rt, rec, info):
    """At every start, with the owner's rights whoever starts it: each user mount's source must still be the
    directory recorded at create, reached without a symlink, still allowed, and still the owner's to read and
    write. Returns {destination: fd} of the directories to pin on the container's bind points for the start
    (mount_pins); {} for a container that binds its paths (made by a process that could not mount)."""
    from .identity import User, is_admin_account, lookup
    from .privilege import files_of

    labels = (info.get("Config") or {}).get("Labels") or {}
    owner = lookup(rec["uid"]) if rec.get("uid") is not None else None
    if owner is None:
        owner = rt.caller if rec.get("uid") in (None, rt.caller.uid) else User(str(rec["uid"]), rec["uid"],
                                                                                 rec["uid"], "/")
    admin = is_admin_account(owner, rt.policy)
    roots = rt.policy.section("access_control").get("mount_roots") or []
    pins = mount_pins.pins_of(info, rt.settings.get("state_dir"))
    opened = {}
    try:
        with files_of(owner):
            for mount in info.get("Mounts") or []:
                destination = mount.get("Destination")
                what = MOUNTED.get(destination)
                if what is None or mount.get("Type") != "bind":
                    continue
                source = mount.get("Source") or ""
                if pins and source == mount_pins.point(pins, destination):
                    opened[destination] = _recheck_pinned(labels, destination, owner, admin, roots, what)
                else:
                    _recheck_path(source, owner, admin, roots, what)
    except BaseException:
        for fd in opened.values():
            os.close(fd)
        raise
    if opened and not mount_pins.available():
        for fd in opened.values():
            os.close(fd)
        raise PermissionDenied("this container's mounts are put in place by ds01d at every start: start it "
                               "through ds01d", hint="run the command as an ordinary user, or as root")
    return opened


def _recheck_pinned(labels, destination, owner, admin, roots, what):
    """The fd of the directory recorded at create (its label, which ds01 wrote) for a pinned mount."""
    recorded = labels.get(mount_pins.RECORDED[destination]) or ""
    if not os.path.isabs(recorded) or os.path.normpath(recorded) != recorded:
        raise PermissionDenied(f"the {what} of this container has no recorded directory: not started",
                               hint="container-recreate it")
    _check_allowed(recorded, recorded, owner, admin, roots, what)
    if admin:
        return _open_source(recorded, what, recorded)
    return _open_usable(recorded, owner, what, recorded)


def _recheck_path(source, owner, admin, roots, what):
    """A container that binds a path (Docker resolves it again as it starts): it must still be a real path."""
    try:
        real = os.path.realpath(source)
    except OSError:
        real = "somewhere else"
    if real != source:
        raise PermissionDenied(f"the {what} {source} of this container now leads to {real}: not started",
                               hint="something replaced it with a symlink; put the directory back, or "
                                    "container-recreate with the path you mean")
    check_mount(source, owner, admin, roots, what)


def host_arch(rt):
    """The architecture detected from this host's GPUs (or the policy's aime.arch), None when neither says."""
    from .images.catalog import detect_arch

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
    pins = mount_pins.base(rt.settings.get("state_dir"), container) if mount_pins.available() else ""
    # Every container runs from a tag of its own, `<repo>:<name>._.<uid>` (AIME's per-container image), a
    # second tag of the same image ID (no space; no commit: the account, when the image lacks it, is written
    # into the container itself). AIME's `mlc remove` deletes the container's image reference; this way
    # that is the container's own tag, never the user's `ds01-<uid>/NAME:latest`.
    tag_image = "" if _IMAGE_ID_RE.match(image) else f"{_repository(image)}:{container}"
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


_IMAGE_ID_RE = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")
SUPPLEMENTARY = ("video",)  # AIME's --group-add video (and sudo, where the policy gives sudo)


def host_groups(names):
    """{name: gid} of the HOST's groups called `names`; a group the host lacks is not given (docs/config.md)."""
    import grp

    found = {}
    for name in names:
        try:
            found[name] = grp.getgrnam(name).gr_gid
        except KeyError:
            continue
    return found


def _repository(ref):
    from .engine import image_repository

    return image_repository(ref)


def check_container_quota(rt, records, limits):
    """NoCapacity when the user already has max_containers_per_user containers (stopped ones count)."""
    cap = limits["max_containers_per_user"]
    if cap is None:
        return
    mine = [r for r in records if r["user"] == rt.caller.login or r["uid"] == rt.caller.uid]
    if len(mine) >= cap:
        raise NoCapacity(f"CONTAINER_LIMIT ({len(mine)}/{cap}): you already have {len(mine)} containers",
                         hint="remove one with container-remove NAME (container-list -a shows them all)")


# ---------------------------------------------------------------- the operation: create one container

@dataclass
class CreateRequest:
    """What a user asks container-create for (every front-end builds one: container-create, mlc-create,
    container-deploy, container-recreate, image-update --recreate)."""

    name: str
    image: str | None = None          # an image reference, or a catalog FRAMEWORK name
    version: str | None = None        # the FRAMEWORK's version
    arch: str | None = None           # the catalog architecture (default: detected)
    workspace: str | None = None
    data: str | None = None
    models: str | None = None
    cpu_only: bool = False
    num_gpus: int | None = None
    gpu_profile: str | None = None
    full_gpu: bool = False
    claim: str | None = None          # a gpu-allocate claim id to consume
    wait: float | None = None         # seconds to queue for a slot (0 = indefinitely), None = do not wait

    def gpu_options(self):
        """The GPU options given, by their flags (for messages)."""
        return [flag for flag, value in (("--num-gpus", self.num_gpus), ("--gpu-profile", self.gpu_profile),
                                         ("--full-gpu", self.full_gpu), ("--claim", self.claim),
                                         ("--wait", self.wait is not None)) if value]

    def check(self):
        """UsageError for requests that contradict themselves, before anything is read or changed."""
        given = self.gpu_options()
        if self.cpu_only and given:
            raise UsageError(f"--cpu-only cannot be combined with {given[0]}")
        if self.gpu_profile and self.full_gpu:
            raise UsageError("--gpu-profile (a MIG slice) and --full-gpu (a whole GPU) exclude each other")
        if self.claim and (self.num_gpus or self.gpu_profile or self.full_gpu or self.wait is not None):
            raise UsageError("a claim already names its slots: drop --num-gpus, --gpu-profile, --full-gpu and --wait")
        if self.version and not _framework_like(self.image):
            raise UsageError(f"unexpected extra argument {self.version!r}",
                             hint=f"a VERSION follows a FRAMEWORK name: container-create {self.name} pytorch 2.7.1")


@dataclass
class Created:
    """What create_container did: the container's record (or, in a dry run, the plan's) and the plan."""

    record: dict
    plan: Plan


def create_container(rt, request, interface="atomic", dry_run=False, replacing=None):
    """Create the caller's container as `request` asks: limits, account, GPU slots; left created.

    Everything is checked before Docker changes; a failure leaves no container, tag or workspace.
    """
    request.check()
    request.name = names.validate(request.name)
    allocator = None
    if not request.cpu_only:
        from .gpu.allocator import Allocator
        from .gpu.choice import check_profile

        allocator = Allocator(rt)
        check_profile(allocator.inventory, request.gpu_profile)  # bad input is refused before Docker is touched
    user = rt.caller
    image, framework_label, arch_label = _resolve_image(rt, request)
    # `replacing` (a container id): a recreate asks, before it removes that container, whether the new one
    # would be made: checked as if the old one were already gone (its name, its count, its GPU slots)
    existing = {r["container"]: r for r in rt.finder.records()
                if not (replacing and r["id"] and replacing.startswith(r["id"]))}  # records carry short ids
    container = names.container_name(request.name, user.uid)
    clash = existing.get(container) or next(  # `mybox` beside `MyBox`: refused (names.same)
        (r for r in existing.values() if r["uid"] == user.uid and names.same(names.split(r["container"])[0],
                                                                             request.name)), None)
    if clash is not None:
        raise Ds01Error(f"you already have a container named {clash['name']!r} ({clash['status']})",
                        hint=f"container-remove {clash['name']}, or choose another name")
    limits = rt.limits(user.login)
    check_container_quota(rt, existing.values(), limits)
    allocator, gpu_request, preview = _gpu_request(rt, allocator, request, exclude=replacing)
    engine = rt.engine
    by_id = bool(_IMAGE_ID_RE.match(image))
    if not by_id:
        check_image(rt, image)  # before a pull
    image_id, image_labels, tags = engine.ensure_image(image, progress=rt.progress)
    if by_id:  # one of its names must be allowed
        check_image(rt, image, tags)
    made_plan = plan(rt, request.name, image, workspace=request.workspace, data=request.data, models=request.models,
                     interface=interface, image_labels=image_labels, framework=framework_label, arch=arch_label)
    made_plan.image_id = image_id
    if dry_run:
        if preview:
            made_plan.assign_gpus(preview)
        return Created(made_plan.record(), made_plan)
    from .containers import record
    from .workspace_files import make_workspace

    made: list[str] = []

    def make(slots):  # under the allocator lock: only the container itself
        made_plan.assign_gpus(slots)
        return engine.create(made_plan)

    try:
        with signals_interrupt():
            made = make_workspace(made_plan.workspace, user) if made_plan.create_workspace else []
            engine.prepare(made_plan)
            if allocator is None:
                cid = engine.create(made_plan)
            elif request.claim:
                cid = allocator.consume_claim(user.login, _claim_key(request.claim), make, label=container)
            else:
                cid = allocator.allocate(user.login, gpu_request, make, wait=request.wait, progress=rt.progress,
                                         label=container)
            engine.set_up(cid, made_plan, warn=rt.warn)  # reads the image: outside the lock
            created = Created(record(rt.api.inspect_container(cid)), made_plan)
    except BaseException:
        _undo(engine, made_plan, made)
        raise
    if gpu_request is not None and not gpu_request.profile and not gpu_request.full and sys.stderr.isatty():
        _say_placement(rt, allocator, made_plan)
    return created


def _say_placement(rt, allocator, made_plan):
    """On a terminal: which slice the caller got, and that a whole GPU was free, when smallest fit chose."""
    from .gpu.choice import bigger_free

    if "/largest" in allocator.strategy or not made_plan.gpus:
        return
    snap = allocator.snapshot()
    chosen = [snap.by_id[g["slot"]] for g in made_plan.gpus if g["slot"] in snap.by_id]
    bigger = bigger_free(snap, rt.caller.login, rt.limits(rt.caller.login), chosen)
    if bigger is not None:
        given = ", ".join(f"{s.profile} (slot {s.id})" for s in chosen)
        rt.progress(f"note: you got {given}: the smallest slice that fits, so whole GPUs stay free for those who "
                    f"ask for one; GPU {bigger.gpu} is free now: --full-gpu asks for a whole GPU")


def _undo(engine, made_plan, made):
    """Roll the create back with the client's signals held off; a signal that lands before they are is caught
    and the (idempotent) rollback runs again."""
    while True:
        try:
            with signals_deferred():
                engine.rollback(made_plan)
                for directory in reversed(made):
                    try:
                        os.rmdir(directory)
                    except OSError:
                        pass
            return
        except KeyboardInterrupt:
            continue


INTERRUPTS = ("SIGINT", "SIGTERM", "SIGHUP")  # the signals a client passes on (ds01.client.FORWARDED, SIGWINCH aside)


def _set_handlers(handler):
    """Install `handler` for INTERRUPTS; returns the old ones (none outside the main thread: Python's rule)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {name: signal.signal(getattr(signal, name), handler) for name in INTERRUPTS}


def _restore(saved):
    import signal

    for name, handler in saved.items():
        signal.signal(getattr(signal, name), handler)


class signals_interrupt:  # noqa: N801 - used as a `with` statement
    """For a create: SIGTERM and SIGHUP (a client's `kill`, passed on by ds01d) interrupt it as SIGINT does, so
    it rolls back instead of dying between Docker's create and the rollback."""

    def __enter__(self):
        def interrupt(_signum, _frame):
            raise KeyboardInterrupt

        self.saved = _set_handlers(interrupt)

    def __exit__(self, *exc):
        _restore(self.saved)


class signals_deferred:  # noqa: N801 - used as a `with` statement
    """For a rollback: the client's further signals wait until it is done (the exception it undoes goes on)."""

    def __enter__(self):
        self.saved = _set_handlers(lambda _signum, _frame: None)

    def __exit__(self, *exc):
        _restore(self.saved)


def _resolve_image(rt, request):
    """(image reference, AIME framework label or None, arch or None): an image, a catalog FRAMEWORK [VERSION],
    your image by its short name, or (none given) your image ds01-<uid>/NAME:latest."""
    user = rt.caller
    image, framework_label, arch_label = request.image, None, None
    if request.image and _framework_like(request.image):
        image, framework_label, arch_label = _catalog_image(rt, request.image, request.version, request.arch)
        own = f"ds01-{user.uid}/{request.image.lower()}:latest"  # image names are lower-case
        if framework_label is None and _image_exists(rt, own):  # your image by its short name
            image = own
    elif request.arch:
        raise UsageError("--arch applies to a FRAMEWORK from the catalog",
                         hint="container-create NAME pytorch --arch A")
    if image is None:
        default = f"ds01-{user.uid}/{request.name.lower()}:latest"  # container MyBox, image mybox
        if not _image_exists(rt, default):
            raise UsageError(f"no image given, and you have no image {default}",
                             hint=f"image-create {request.name} builds it; or container-create {request.name} "
                                  "IMAGE|FRAMEWORK")
        image = default
    return image, framework_label, arch_label


def _framework_like(word):
    """A bare word that could be a framework name (an image reference has '/', ':' or '@', or is a local name)."""
    return bool(word) and not any(c in word for c in "/:@")


def _catalog_image(rt, word, version, arch):
    """(image, AIME framework label, arch) for FRAMEWORK [VERSION]; a bare word that is no framework is an image."""
    from .images import catalog

    cat = catalog.load(rt.policy)
    if cat.framework_name(word) is None:
        if version:
            raise catalog.NotFound(f"no framework {word!r} in the catalog ({cat.source})",
                                   hint="image-catalog lists the frameworks")
        return word, None, None
    chosen, _ = catalog.arch_for(rt, cat, arch)
    entry = cat.resolve(word, version, chosen)
    return entry.image, entry.label, chosen


def _image_exists(rt, ref):
    from .errors import NotFound

    try:
        rt.api.inspect_image(ref)
        return True
    except NotFound:
        return False


def check_image(rt, image, tags=None):
    """PermissionDenied unless the caller may create from `image` (ds01.access.may_use_image: the one predicate
    builds use too). `tags`: the names of an image given by ID."""
    from .access import may_use_image

    may_use_image(rt, image, tags, doing="create containers from")


def _image_refusal(rt, ref):
    """Why `ref` is not for the caller (None: it is); see ds01.access."""
    from .access import image_refusal

    return image_refusal(rt, ref)


def _claim_key(claim_id):
    return claim_id if claim_id.startswith("claim:") else "claim:" + claim_id


def check_engine_gpus(rt):
    """NoCapacity when the engine cannot start GPU containers (no NVIDIA hook on its PATH), before any slot is
    held: a GPU handed out there only fails at start. An engine whose PATH cannot be read is given the benefit."""
    from .gpu_engine import TOOLKIT_FIX, gpu_engine

    if gpu_engine(rt.settings.get("docker_host")).missing:
        raise NoCapacity("the Docker engine cannot give containers GPUs: the NVIDIA container toolkit is not on its "
                         "PATH", hint=f"--cpu-only creates a container without a GPU; an admin fixes the engine "
                                      f"({TOOLKIT_FIX}; ds01-doctor shows it)")


def _gpu_request(rt, allocator, request, exclude=None):
    """(allocator, allocation request, slots a dry run would show) for this create; (None, None, []) for CPU-only."""
    if allocator is None:
        return None, None, []
    from .gpu.choice import Request, choose

    given = request.gpu_options()
    if not given and not allocator.inventory.slots():
        rt.progress("this host has no GPU ds01 can give out: creating a CPU-only container")
        return None, None, []
    check_engine_gpus(rt)
    if request.claim:
        return allocator, None, []
    wanted = Request(request.num_gpus or 1, request.gpu_profile, request.full_gpu)
    try:  # a quick answer before the account setup; the decision itself is made under the lock
        preview = choose(allocator.snapshot(exclude=exclude), rt.caller.login, rt.limits(rt.caller.login), wanted,
                         allocator.strategy)
    except NoCapacity as exc:
        if request.wait is not None and getattr(exc, "reason", None) in (
                "NO_CAPACITY", "USER_AT_LIMIT", "AGGREGATE_GPU_LIMIT"):
            return allocator, wanted, []
        if not given:
            exc.hint = "--cpu-only creates a container without a GPU; --wait queues for one"
        allocator.log_reject(rt.caller.login, exc, wanted)
        raise
    return allocator, wanted, preview
