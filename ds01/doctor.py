"""Is this host set up for ds01: one record per check, OK, WARN or FAIL, each with a hint.

`ds01-doctor` prints them; an upgrade runs it against the new version before it switches. Every
check reads what is there (the engine's answers, files under `root`, the policy) and changes
nothing. A check that cannot look says so as a WARN, never as an OK.
"""

import glob
import grp
import os
import pwd
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import Ds01Error
from .version import build

if TYPE_CHECKING:
    from .runtime import Runtime

OK, WARN, FAIL = "OK", "WARN", "FAIL"
EXPORTER = "http://127.0.0.1:9101/metrics"
def _shipped() -> str:
    """The shipped etc/: the install tree's (make install), else the checkout's."""
    tree = build("tree")
    return os.path.join(tree or os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "etc")


SHIPPED = _shipped()


@dataclass
class Check:
    check: str
    status: str
    message: str
    hint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message, "hint": self.hint,
                "details": self.details}


@dataclass
class Host:
    """Where the checks look: the runtime (settings, policy, engine), the root of the host's files, the exporter."""
    rt: "Runtime"
    root: str = "/"
    exporter: str = EXPORTER
    policy_error: str | None = None
    _info: Any = None

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *(p.lstrip("/") for p in parts))

    def info(self) -> dict[str, Any] | None:
        """The engine's `/info`, asked once; None when it does not answer."""
        if self._info is None:
            try:
                self._info = self.rt.api.get("/info") or {}
            except Exception:  # noqa: BLE001 - an unreachable engine is the engine check's FAIL
                self._info = {}
        return self._info or None


def run(host: Host) -> list[Check]:
    """Every check, in order; one that raises is a FAIL of its own, never the end of the run."""
    results = []
    for name, check in CHECKS:
        try:
            results.append(check(host))
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
            results.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"))
    return results


def worst(checks: list[Check], strict: bool = False) -> int:
    """The exit code: 1 with any FAIL (or, `strict`, any WARN), else 0."""
    bad = {FAIL, WARN} if strict else {FAIL}
    return 1 if any(c.status in bad for c in checks) else 0


# ---------------------------------------------------------------- the engine

def engine(host: Host) -> Check:
    try:
        version = host.rt.api.get("/version") or {}
    except Exception as exc:  # noqa: BLE001
        return Check("docker_engine", FAIL, f"the Docker engine at {host.rt.settings.get('docker_host')} does not "
                     f"answer: {getattr(exc, 'message', None) or exc}",
                     "systemctl status docker; DOCKER_HOST or the policy names another engine")
    return Check("docker_engine", OK, f"Docker {version.get('Version')} (API {version.get('ApiVersion')})",
                 details={"version": version.get("Version"), "api_version": version.get("ApiVersion")})




def nvidia_toolkit(host: Host) -> Check:
    """GPU containers get their devices through the NVIDIA hook on the engine's own PATH: without it, a host
    with GPUs fails (no GPU container can start); one without GPUs is only warned."""
    from .gpu_engine import HOOK, TOOLKIT_FIX, gpu_engine  # lazy: ds01.gpu_engine, 2 ms

    found = gpu_engine(host.rt.settings.get("docker_host"))
    if found.unknown:
        return Check("nvidia_toolkit", WARN, found.unknown, "ds01-doctor as root on the GPU host")
    runtimes = sorted((host.info() or {}).get("Runtimes") or {})
    details = {"hook": found.hook, "engine_pid": found.pid, "runtimes": runtimes}
    if found.hook is None:
        gpus = _gpu_count(host)
        if gpus:
            return Check("nvidia_toolkit", FAIL, f"{HOOK} is not on the engine's PATH: none of the {gpus} GPU(s) "
                         "can reach a container (ds01 refuses GPU requests)", TOOLKIT_FIX, details)
        return Check("nvidia_toolkit", WARN, f"{HOOK} is not on the engine's PATH (and no GPUs are seen): GPU "
                     "containers cannot start", TOOLKIT_FIX, details)
    return Check("nvidia_toolkit", OK, f"{found.hook} (runtimes: {', '.join(runtimes) or 'none listed'})",
                 details=details)


def _gpu_count(host: Host) -> int:
    try:
        return len(host.rt.inventory.gpus)
    except Ds01Error:
        return 0


def cgroup_driver(host: Host) -> Check:
    info = host.info()
    if info is None:
        return Check("cgroup_driver", WARN, "the engine does not answer: its cgroup driver is unknown")
    engine_driver = info.get("CgroupDriver")
    configured = host.rt.policy.section("enforcement").get("cgroup_driver") or "cgroupfs"
    details = {"engine": engine_driver, "policy": configured, "cgroup_version": info.get("CgroupVersion")}
    if engine_driver != configured:
        return Check("cgroup_driver", WARN, f"the engine uses the {engine_driver} cgroup driver, the policy says "
                     f"{configured}: the per-user totals are written where the engine does not look",
                     f"set enforcement.cgroup_driver: {engine_driver} in the policy, then ds01-doctor again", details)
    return Check("cgroup_driver", OK, f"{engine_driver} (cgroup v{info.get('CgroupVersion') or '?'}), as the policy "
                 "says", details=details)


def docker_disk(host: Host) -> Check:
    info = host.info()
    if info is None or not info.get("DockerRootDir"):
        return Check("docker_disk", WARN, "the engine does not say where its data-root is")
    directory = info["DockerRootDir"]
    try:
        found = os.statvfs(directory)
    except OSError as exc:
        return Check("docker_disk", WARN, f"cannot look at {directory}: {exc.strerror}")
    free = 100.0 * found.f_bavail / found.f_blocks if found.f_blocks else 0.0
    minimum = float((host.rt.policy.section("doctor").get("min_free_percent")) or 10)
    details = {"data_root": directory, "free_percent": round(free, 1), "free_bytes": found.f_bavail * found.f_frsize,
               "min_free_percent": minimum}
    status = FAIL if free < minimum / 2 else WARN if free < minimum else OK
    return Check("docker_disk", status, f"{free:.1f} % free on {directory} (warn below {minimum:g} %)",
                 None if status == OK else "docker image prune; image-delete old images; a larger data-root", details)


def docker_socket(host: Host) -> Check:
    """Anyone who can reach the Docker socket is root: only root should (issue 10)."""
    docker_host = host.rt.settings.get("docker_host") or ""
    if not docker_host.startswith("unix://"):
        return Check("docker_socket", WARN, f"the engine is at {docker_host}: who can reach it is not a file's modes")
    path = docker_host[len("unix://"):]
    try:
        info = os.stat(path)
    except OSError as exc:
        return Check("docker_socket", FAIL, f"{path}: {exc.strerror}")
    try:
        group = grp.getgrgid(info.st_gid)
        members = set(group.gr_mem) | {p.pw_name for p in pwd.getpwall() if p.pw_gid == info.st_gid}
        name = group.gr_name
    except KeyError:
        members, name = set(), str(info.st_gid)
    reach = sorted(m for m in members if m != "root") if info.st_mode & 0o060 else []
    details = {"socket": path, "mode": f"{info.st_mode & 0o7777:04o}", "group": name, "members": reach}
    if info.st_mode & 0o006:
        return Check("docker_socket", FAIL, f"{path} is open to everyone (mode {details['mode']}): every user is root",
                     f"chmod 0660 {path}", details)
    if reach:
        return Check("docker_socket", FAIL, f"{', '.join(reach)} can reach the Docker socket (group {name}): "
                     "root-equivalent, past ds01", f"gpasswd -d USER {name} for each; ds01d is their way in", details)
    return Check("docker_socket", OK, f"{path}: only root (mode {details['mode']}, group {name} has no one else)",
                 details=details)


# ---------------------------------------------------------------- GPUs

def nvml(host: Host) -> Check:
    try:
        inventory = host.rt.inventory
    except Ds01Error as exc:
        return Check("nvml", WARN, f"no GPUs: {exc.message}", exc.hint)
    gpus = inventory.gpus
    details: dict[str, Any] = {"source": inventory.source, "driver": inventory.driver, "cuda": inventory.cuda_version,
               "gpus": len(gpus), "persistence_off": [g.index for g in gpus if g.persistence is False],
               "mig_pending": [g.index for g in gpus if g.mig_pending != g.mig_current]}
    if not gpus:
        return Check("nvml", WARN, f"the driver reports no GPUs ({inventory.source})", details=details)
    if details["mig_pending"]:
        return Check("nvml", WARN, f"GPU {', '.join(map(str, details['mig_pending']))}: a MIG mode change is pending",
                     "reset the GPU (nvidia-smi -r -i N) or reboot, with no containers on it", details)
    if details["persistence_off"]:
        return Check("nvml", WARN, f"GPU {', '.join(map(str, details['persistence_off']))}: persistence mode is off "
                     "(slow first use, lost MIG layouts)", "nvidia-smi -pm 1 (or nvidia-persistenced)", details)
    return Check("nvml", OK, f"{len(gpus)} GPU(s), driver {inventory.driver or '?'}, "
                 f"CUDA {inventory.cuda_version or '?'} ({inventory.source})", details=details)


def mig_layout(host: Host) -> Check:
    """Each GPU as the policy's gpu.mig_layout says (mig-configure makes it so)."""
    from .gpu import mig_layout as mig  # lazy: ds01.gpu.mig_layout, 1 ms

    layout = {} if host.policy_error else host.rt.policy.section("gpu").get("mig_layout") or {}
    if not layout:
        return Check("mig_layout", OK, "the policy sets no MIG layout (GPUs stay as they are)")
    try:
        gpus = host.rt.inventory.gpus
    except Ds01Error as exc:
        return Check("mig_layout", WARN, f"cannot read the GPUs: {exc.message}", exc.hint)
    differ = {}
    for gpu in gpus:
        want = mig.wanted(layout, gpu)
        if want is not None and (not mig.matches(want, mig.current(gpu)) or gpu.mig_pending != gpu.mig_current):
            differ[str(gpu.index)] = {"now": mig.current(gpu), "layout": want}
    details = {"differ": differ}
    if differ:
        said = "; ".join(f"GPU {i} is {mig.show(d['now'])}, the layout says {mig.show(d['layout'])}"
                         for i, d in differ.items())
        return Check("mig_layout", WARN, said, "mig-configure --dry-run shows the steps; mig-configure makes it "
                     "so (a GPU in use is left alone)", details)
    return Check("mig_layout", OK, "every GPU the layout names is as it says", details=details)


def device_nodes(host: Host) -> Check:
    """World-writable /dev/nvidia* give every local process every GPU, past the allocator."""
    nodes = sorted(glob.glob(host.path("dev", "nvidia*")))
    open_to_all = []
    for node in nodes:
        info = os.stat(node)
        if stat.S_ISCHR(info.st_mode) and info.st_mode & 0o006:
            open_to_all.append(f"{os.path.basename(node)} ({info.st_mode & 0o777:04o})")
    details = {"nodes": [os.path.basename(n) for n in nodes], "open_to_all": open_to_all}
    if not nodes:
        return Check("device_nodes", OK, "no /dev/nvidia* on this host", details=details)
    if open_to_all:
        return Check("device_nodes", WARN, f"readable and writable by everyone: {', '.join(open_to_all)}: any local "
                     "process can use every GPU, whatever ds01 allocated",
                     "options nvidia NVreg_DeviceFileMode=0660 NVreg_DeviceFileGID=<video> in "
                     "/etc/modprobe.d/nvidia.conf, then modprobe -r nvidia && modprobe nvidia (or a reboot)",
                     details)
    return Check("device_nodes", OK, f"{len(nodes)} node(s), none open to everyone", details=details)


# ---------------------------------------------------------------- containers' host side

def nosuid(host: Host) -> Check:
    """A group with sudo is root in its containers, so root on every mount that is not nosuid."""
    policy = host.rt.policy
    roots = list(policy.section("access_control").get("mount_roots") or [])
    exposed: dict[str, list[str]] = {}
    for group, members in policy.members.items():
        with_sudo = [m for m in members if policy.resolve(m).values.get("sudo")]
        if not with_sudo:
            continue
        for path in roots + [_home(m) for m in with_sudo]:
            if path and os.path.isdir(path) and not os.statvfs(path).f_flag & os.ST_NOSUID:
                exposed.setdefault(group, [])
                if path not in exposed[group]:
                    exposed[group].append(path)
    if not exposed:
        return Check("nosuid", OK, "no group with sudo has a mount that is not nosuid",
                     details={"mount_roots": roots})
    said = "; ".join(f"group {g} (sudo: true) is root-equivalent on {', '.join(p)}" for g, p in exposed.items())
    return Check("nosuid", WARN, f"{said}: a setuid file written there in a container runs as root on the host",
                 "mount -o remount,nosuid DIR (and nosuid in /etc/fstab), or sudo: false for the "
                     "group in the policy", {"exposed": exposed})


def _home(login: str) -> str | None:
    from .identity import lookup  # lazy: ds01.identity, 0.6 ms

    user = lookup(login)
    return user.home if user else None


def state_dirs(host: Host) -> Check:
    from .statedir import directory_problem  # lazy: ds01.statedir, 9 ms

    problems, details = [], {}
    for setting in ("state_dir", "log_dir"):
        path = host.rt.settings.get(setting)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            details[setting] = {"path": path, "exists": False}
            continue
        details[setting] = {"path": path, "owner": info.st_uid, "mode": f"{info.st_mode & 0o7777:04o}"}
        # this process's own rights: a non-root run checks a dir of its own account
        problem = directory_problem(info) if info.st_uid == 0 or os.geteuid() != 0 else f"belongs to uid {info.st_uid}"
        if problem:
            problems.append(f"{path} {problem}")
    if problems:
        return Check("state_dirs", FAIL, "; ".join(problems) + ": users could change ds01's state or its log",
                     "chown root:root DIR && chmod 0755 DIR", details)
    missing = [d["path"] for d in details.values() if d.get("exists") is False]
    if missing:
        return Check("state_dirs", WARN, f"{', '.join(missing)} not there yet (made on first use)",
                     "install -d -m 0755 -o root DIR", details)
    return Check("state_dirs", OK, "the state dir and the log dir are root's, writable by no one else",
                 details=details)


# ---------------------------------------------------------------- the policy

def policy(host: Host) -> Check:
    resolved = host.rt.settings.resolve("config")
    details = {"path": resolved.value, "from": resolved.origin}
    if host.policy_error:
        said = host.policy_error if resolved.value in host.policy_error else f"{resolved.value}: {host.policy_error}"
        return Check("policy", FAIL, said, "fix the file, then ds01-doctor again; meanwhile commands that change "
                     "things refuse, and those that read (resource-limits) show the built-in defaults", details)
    loaded = host.rt.policy
    if loaded.path.startswith("<"):
        return Check("policy", WARN, f"no {resolved.value}: the built-in defaults apply",
                     "install -m 0644 etc/ds01/resource-limits.yaml /etc/ds01/", details)
    return Check("policy", OK, f"{loaded.path} (from {resolved.origin}), {len(loaded.members)} group(s)",
                 details=details)


def group_members(host: Host) -> Check:
    from .identity import lookup  # lazy: ds01.identity, 0.6 ms

    missing = {group: [m for m in members if lookup(m) is None] for group, members in host.rt.policy.members.items()}
    missing = {g: m for g, m in missing.items() if m}
    unknown = {}
    for group, section in host.rt.policy.section("groups").items():
        name = (section or {}).get("unix_group")
        if name:
            try:
                grp.getgrnam(name)
            except KeyError:
                unknown[group] = name
    if missing or unknown:
        said = "; ".join([*(f"{g}: {', '.join(m)}" for g, m in missing.items()),
                          *(f"{g}: unix_group {n} is not a group NSS knows" for g, n in unknown.items())])
        return Check("group_members", WARN, f"no such account or group: {said}", "remove them from the group, or "
                     "getent passwd LOGIN to check NSS/LDAP", {"missing": missing, "unknown_unix_groups": unknown})
    return Check("group_members", OK, "every group member has an account, every unix_group exists")


def ssh_host(host: Host) -> Check:
    """The name user-setup writes into users' SSH and VS Code config."""
    from .ssh_host import ssh_host as server_name  # lazy: ds01.ssh_host, 1 ms

    found = server_name(host.rt.policy)
    details = {"ssh_host": found.name, "from_policy": found.from_policy, "loopback": found.loopback}
    if found.problem():
        return Check("ssh_host", WARN, f"users' SSH config would name {found.name}, a loopback address: the policy "
                     "sets no access_control.ssh_host", "set access_control.ssh_host: NAME in the policy (the "
                     "name laptops reach this server by), then user-setup again for each user", details)
    origin = "access_control.ssh_host" if found.from_policy else "this host's FQDN"
    return Check("ssh_host", OK, f"users reach this server as {found.name} ({origin})", details=details)


# ---------------------------------------------------------------- ds01's own services

def broker(host: Host) -> Check:
    path = host.rt.settings.get("socket")
    try:
        info = os.stat(path)
    except OSError as exc:
        return Check("ds01d", FAIL, f"no ds01d socket at {path} ({exc.strerror}): users cannot reach Docker",
                     "systemctl enable --now ds01d")
    details = {"socket": path, "mode": f"{info.st_mode & 0o7777:04o}", "owner": info.st_uid}
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != 0:
        return Check("ds01d", FAIL, f"{path} is not root's socket", "systemctl restart ds01d", details)
    if info.st_mode & 0o777 != 0o666:
        return Check("ds01d", WARN, f"{path} has mode {details['mode']}: some users cannot connect",
                     "systemctl restart ds01d (it sets 0666 itself)", details)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
    except OSError as exc:
        return Check("ds01d", FAIL, f"ds01d does not answer on {path}: {exc.strerror}", "systemctl restart ds01d",
                     details)
    return Check("ds01d", OK, f"listening on {path} (mode {details['mode']})", details=details)


CRON_DAEMONS = {"cron", "crond", "cronie", "fcron", "dcron", "anacron", "busybox-crond"}


def schedule(host: Host) -> Check:
    """The lifecycle jobs: /etc/cron.d/ds01 with a cron daemon running, or ds01's systemd timers with systemd
    as PID 1. Processes are read from ROOT/proc (the live /proc for --root /)."""
    shipped_cron = os.path.join(SHIPPED, "cron.d", "ds01")
    cron = host.path("etc", "cron.d", "ds01")
    timers = sorted(glob.glob(host.path("etc", "systemd", "system", "ds01-*.timer")))
    daemons = _cron_daemons(host)
    booted = os.path.isdir(host.path("run", "systemd", "system"))  # sd_booted()
    details = {"cron": cron if os.path.exists(cron) else None, "timers": timers, "cron_daemons": daemons,
               "systemd": booted}
    by_cron = os.path.exists(cron) and bool(daemons)
    by_timers = bool(timers) and booted
    if os.path.exists(cron) and (by_cron or not by_timers):
        if not daemons:
            return Check("schedule", FAIL, f"{cron} is there, but no cron daemon runs (no cron or crond "
                         f"under {host.path('proc')}): the lifecycle jobs never run",
                         "apt-get install cron, then service cron start (or cron as root); without one, run "
                         "the jobs by hand as docs/admin.md says", details)
        if not _same(cron, shipped_cron):
            return Check("schedule", WARN, f"{cron} differs from the shipped {shipped_cron}",
                         f"diff {shipped_cron} {cron}; make install puts the shipped one", details)
        return Check("schedule", OK, f"{cron}, as shipped, run by {', '.join(daemons)}", details=details)
    if timers:
        if not booted:
            return Check("schedule", FAIL, f"{len(timers)} ds01 timer(s), but systemd is not running (not PID 1): "
                         "the lifecycle jobs never run", f"install -m 0644 {shipped_cron} /etc/cron.d/ds01, "
                         "then service cron start", details)
        changed = [t for t in timers if not _same(t, os.path.join(SHIPPED, "systemd", os.path.basename(t)))]
        if changed:
            return Check("schedule", WARN, f"differ from the shipped timers: {', '.join(changed)}",
                         "make install puts the shipped ones", details)
        return Check("schedule", OK, f"{len(timers)} systemd timer(s), as shipped", details=details)
    return Check("schedule", FAIL, "the lifecycle jobs are not scheduled: no idle stop, no hold timers",
                 f"install -m 0644 {shipped_cron} /etc/cron.d/ds01" + ("" if daemons else
                                                                        ", then service cron start"), details)


def _cron_daemons(host: Host) -> list[str]:
    """The names of the cron daemons running, from ROOT/proc/PID/comm."""
    found = set()
    for comm in glob.glob(host.path("proc", "[0-9]*", "comm")):
        try:
            with open(comm, encoding="utf-8", errors="replace") as handle:
                name = handle.read().strip()
        except OSError:  # gone meanwhile
            continue
        if name in CRON_DAEMONS:
            found.add(name)
    return sorted(found)


def _same(path: str, shipped: str) -> bool:
    try:
        with open(path, "rb") as one, open(shipped, "rb") as other:
            return one.read() == other.read()
    except OSError:
        return False


def exporter(host: Host) -> Check:
    """The exporter answers, with ds01_ metrics, to the password of the host's exporter.auth (as Prometheus
    asks); a 401 says whether that file is missing, unsafe or holds another password."""
    import urllib.error  # lazy: urllib.error, 2 ms
    import urllib.request  # lazy: urllib.request, 16 ms

    from . import exporter as ds01_exporter  # lazy: ds01.exporter, 6 ms

    auth = host.path(ds01_exporter.AUTH_FILE)
    details = {"url": host.exporter, "auth_file": auth}
    headers, problem, hint = {}, None, None
    try:
        headers["Authorization"] = ds01_exporter.authorization(ds01_exporter.read_secret(auth))
    except Ds01Error as exc:
        problem, hint = exc.message, exc.hint
    request = urllib.request.Request(host.exporter, headers=headers)  # noqa: S310 - an admin's own URL
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310 - an admin's own URL
            body = answer.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            return Check("exporter", WARN, f"{host.exporter} answers {exc.code}", details=details)
        why = problem or f"the password in {auth} is not the one it was started with"
        return Check("exporter", WARN, f"{host.exporter} asks for credentials: {why}",
                     hint or "systemctl restart ds01-exporter", details)
    except Exception as exc:  # noqa: BLE001 - anything but an answer is the WARN
        message = f"the exporter does not answer at {host.exporter}: {getattr(exc, 'reason', exc)}"
        return Check("exporter", WARN, message + (f" ({problem})" if problem else ""),
                     hint or "systemctl enable --now ds01-exporter", details)
    if "ds01_" not in body:
        return Check("exporter", WARN, f"{host.exporter} answers, but with no ds01_ metrics", details=details)
    if _answers_anyone(host.exporter):
        return Check("exporter", WARN, f"{host.exporter} answers without credentials: every local user reads "
                     "every user's usage", "systemctl restart ds01-exporter (it asks for the password of "
                     f"{ds01_exporter.AUTH_FILE})", details)
    return Check("exporter", OK, f"answering at {host.exporter}, to its password only", details=details)


def _answers_anyone(url: str) -> bool:
    """Whether `url` gives ds01_ metrics to a request without credentials, as any local user may send."""
    import urllib.request  # lazy: urllib.request, 16 ms

    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - an admin's own URL
            return "ds01_" in answer.read(1 << 20).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a 401, or no answer: not open
        return False


CHECKS: list[tuple[str, Callable[[Host], Check]]] = [
    ("docker_engine", engine), ("nvidia_toolkit", nvidia_toolkit), ("cgroup_driver", cgroup_driver),
    ("docker_socket", docker_socket), ("docker_disk", docker_disk), ("nvml", nvml), ("mig_layout", mig_layout),
    ("device_nodes", device_nodes),
    ("nosuid", nosuid), ("state_dirs", state_dirs), ("policy", policy), ("group_members", group_members),
    ("ssh_host", ssh_host),
    ("ds01d", broker), ("schedule", schedule), ("exporter", exporter),
]

