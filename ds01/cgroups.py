"""Per-user totals the kernel enforces: the limits of the cgroup every one of a user's containers sits in.

Each container is created with `--cgroup-parent=ds01-<group>-<user>.slice`. On a cgroupfs host
(Docker's cgroupfs driver, cgroup v1 or v2) that parent is a plain directory in each hierarchy,
and whatever limit it carries holds for all its children together. Before every start ds01 writes
the user's `aggregate` limits there (memory_max, memory_high, cpu_quota, tasks_max), so two 32g
containers under a 40g total cannot both have their memory: the kernel reclaims or OOM-kills
inside the parent. On a systemd host (the systemd driver) the parent is a slice unit, whose
properties are the same limits: `sync_dropins` writes each user's drop-in (`ds01-generate-limits`,
and the owner's at every start) and has systemd reload them.
"""

import errno
import os

from .atomic import replace_file
from .dockerapi import daemon_pid
from .errors import Ds01Error
from .privilege import root_files
from .settings import CHILD_PATH

ROOT = "/sys/fs/cgroup"
PERIOD_US = 100_000  # CFS period for cpu_quota (systemd's default too)


def is_unified(root=ROOT):
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def limit_files(aggregate, unified):
    """{(controller, file): value} for the aggregate limits; v1 or v2 file names."""
    aggregate = aggregate or {}
    files = {}
    memory_max, memory_high = aggregate.get("memory_max"), aggregate.get("memory_high")
    quota, tasks = aggregate.get("cpu_quota"), aggregate.get("tasks_max")
    if unified:
        if memory_max is not None:
            files[("", "memory.max")] = str(int(memory_max))
        if memory_high is not None:
            files[("", "memory.high")] = str(int(memory_high))
        if quota is not None:
            files[("", "cpu.max")] = f"{int(quota * PERIOD_US / 100)} {PERIOD_US}"
        if tasks is not None:
            files[("", "pids.max")] = str(int(tasks))
        return files
    if memory_max is not None:
        files[("memory", "memory.limit_in_bytes")] = str(int(memory_max))
        files[("memory", "memory.memsw.limit_in_bytes")] = str(int(memory_max))  # no swap beyond the total
    if memory_high is not None:
        files[("memory", "memory.soft_limit_in_bytes")] = str(int(memory_high))
    if quota is not None:
        files[("cpu", "cpu.cfs_period_us")] = str(PERIOD_US)
        files[("cpu", "cpu.cfs_quota_us")] = str(int(quota * PERIOD_US / 100))
    if tasks is not None:
        files[("pids", "pids.max")] = str(int(tasks))
    return files


def parent_path(slice_name, controller, root=ROOT, base=None):
    """The parent's directory in a hierarchy: Docker's cgroupfs driver puts a relative --cgroup-parent under
    the engine's own cgroup (`base`: {controller: path}, from daemon_cgroups)."""
    if "/" in slice_name or slice_name in ("", ".", ".."):
        raise Ds01Error(f"bad cgroup parent {slice_name!r}")
    under = (base or {}).get(controller, "/").lstrip("/")
    return os.path.join(root, controller, under, slice_name) if controller else os.path.join(root, under, slice_name)


def daemon_cgroups(host):
    """{controller: cgroup path} of the engine's process, found from its socket (SO_PEERCRED); {} when the
    engine is not on a local Unix socket or its /proc entry cannot be read."""
    pid = daemon_pid(host)
    if pid is None:
        return {}
    try:
        with root_files(), open(f"/proc/{pid}/cgroup", encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def enforce(slice_name, aggregate, root=ROOT, base=None):
    """Write the aggregate limits into the user's parent cgroup (made if missing); returns {path: value}.

    Done with root's rights (the worker's own are the caller's); a host without the hierarchy is an error,
    since the policy asks for a limit ds01 cannot set.
    """
    unified = is_unified(root)
    written = {}
    with root_files():
        for (controller, name), value in limit_files(aggregate, unified).items():
            directory = parent_path(slice_name, controller, root, base)
            path = os.path.join(directory, name)
            try:
                os.makedirs(directory, mode=0o755, exist_ok=True)
                if unified:
                    _enable_controllers(root, name.split(".")[0])
                elif name == "memory.limit_in_bytes":  # v1 wants memory <= memory+swap: lift that first
                    _write_if_present(os.path.join(directory, "memory.memsw.limit_in_bytes"), "-1")
                with open(path, "w", encoding="ascii") as handle:
                    handle.write(value)
            except FileNotFoundError:
                if name.startswith("memory.memsw"):
                    continue  # a kernel without swap accounting
                raise Ds01Error(f"cannot set the per-user limit {path}: no such file",
                                hint="is this cgroup controller mounted?") from None
            except OSError as exc:
                if exc.errno == errno.EBUSY or exc.errno == errno.EINVAL:
                    raise Ds01Error(f"the kernel refused {value} for {path} ({exc.strerror}): the containers "
                                    f"running there already use more", hint="stop one of your containers first") \
                        from None
                raise Ds01Error(f"cannot set the per-user limit {path}: {exc.strerror}",
                                hint="ds01d must run as root on the host's cgroup hierarchy "
                                     "(policy: aggregate, enforcement.cgroup_driver)") from None
            written[path] = value
    return written


def _write_if_present(path, value):
    try:
        with open(path, "w", encoding="ascii") as handle:
            handle.write(value)
    except FileNotFoundError:
        pass


def _enable_controllers(root, controller):
    """cgroup v2: a child's limit files exist only when the parent delegates the controller."""
    control = os.path.join(root, "cgroup.subtree_control")
    try:
        with open(control, encoding="ascii") as handle:
            if controller in handle.read().split():
                return
        with open(control, "w", encoding="ascii") as handle:
            handle.write(f"+{controller}")
    except OSError:
        pass


def enforced(slice_name, root=ROOT, base=None):
    """What the kernel holds the user's parent to now: {file: value} of the limit files that exist."""
    every = {"memory_max": 1, "memory_high": 1, "cpu_quota": 1, "tasks_max": 1}
    found = {}
    for controller, name in limit_files(every, is_unified(root)):
        try:
            with open(os.path.join(parent_path(slice_name, controller, root, base), name),
                      encoding="ascii") as handle:
                found[name] = handle.read().strip()
        except OSError:
            continue
    return found


DROPIN = "50-ds01.conf"
DROPIN_HEADER = "# Written by ds01 from the policy's aggregate limits; do not edit."
UNIT_DIR = "/etc/systemd/system"


def slice_dropin(aggregate):
    """The systemd drop-in (`/etc/systemd/system/<slice>.d/50-ds01.conf`) for a systemd-driver host."""
    aggregate = aggregate or {}
    lines = [DROPIN_HEADER, "[Slice]"]
    if aggregate.get("cpu_quota") is not None:
        lines.append(f"CPUQuota={aggregate['cpu_quota']:g}%")
    if aggregate.get("memory_max") is not None:
        lines.append(f"MemoryMax={int(aggregate['memory_max'])}")
    if aggregate.get("memory_high") is not None:
        lines.append(f"MemoryHigh={int(aggregate['memory_high'])}")
    if aggregate.get("tasks_max") is not None:
        lines.append(f"TasksMax={int(aggregate['tasks_max'])}")
    return "\n".join(lines) + "\n"


def dropin_path(directory, slice_name):
    return os.path.join(directory, f"{slice_name}.d", DROPIN)


def sync_dropins(rt, logins, directory=UNIT_DIR, dry_run=False, prune=False):
    """Each user's slice drop-in as the policy's aggregate limits say: written where it differs, removed where
    the user has no totals (and, with `prune`, for slices of users no longer in `logins`). Only files ds01 wrote
    are ever replaced or removed. Returns a record per slice; systemd reloads when anything changed."""
    records, wanted = [], set()
    for login in sorted(set(logins)):
        limits = rt.limits(login)
        wanted.add(limits.slice_name)
        text = slice_dropin(limits.aggregate) if limits.aggregate else None
        records.append({"user": login, "slice": limits.slice_name, "path": dropin_path(directory, limits.slice_name),
                        "aggregate": limits.aggregate, "action": None})
        with root_files():
            records[-1]["action"] = _sync(records[-1]["path"], text, dry_run)
    if prune:
        with root_files():
            for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
                slice_name = name[:-2] if name.endswith(".slice.d") else None
                if slice_name and slice_name.startswith("ds01-") and slice_name not in wanted:
                    path = dropin_path(directory, slice_name)
                    action = _sync(path, None, dry_run)
                    if action != "none":
                        records.append({"user": None, "slice": slice_name, "path": path, "aggregate": None,
                                        "action": action})
    changed = any(r["action"] in ("written", "removed") for r in records)
    reloaded = reload_systemd() if changed and not dry_run and directory == UNIT_DIR else False
    for record in records:
        record["reloaded"] = reloaded and record["action"] in ("written", "removed")
    return records


def _sync(path, text, dry_run):
    """'written', 'unchanged', 'removed' or 'none' for one drop-in (`text` None: there should be none)."""
    try:
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    except OSError as exc:
        raise Ds01Error(f"cannot read {path}: {exc.strerror}") from None
    if current is not None and not current.startswith(DROPIN_HEADER):
        raise Ds01Error(f"{path} was not written by ds01: left as it is", hint="remove it, or move your own "
                        "settings to another file in that directory")
    if current == text:
        return "unchanged" if text is not None else "none"
    if text is None:
        if not dry_run:
            os.unlink(path)
            try:
                os.rmdir(os.path.dirname(path))
            except OSError:
                pass  # other drop-ins are there
        return "removed"
    if not dry_run:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)

        replace_file(path, text.encode(), 0o644)
    return "written"


def reload_systemd():
    """`systemctl daemon-reload` where systemd runs (True), so new slice properties apply; False elsewhere."""
    import shutil  # lazy: shutil, 2 ms
    import subprocess  # lazy: subprocess, 1 ms

    systemctl = shutil.which("systemctl", path=CHILD_PATH)
    if not os.path.isdir("/run/systemd/system") or systemctl is None:
        return False
    result = subprocess.run([systemctl, "daemon-reload"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Ds01Error(f"systemctl daemon-reload failed: {result.stderr.strip()}")
    return True


def usage(slice_name, root=ROOT, base=None):
    """What the user's containers use together now, from their parent cgroup: memory in bytes and CPU seconds
    since the parent was made (None where the file is not there: no container started yet)."""
    unified = is_unified(root)
    memory = ("", "memory.current") if unified else ("memory", "memory.usage_in_bytes")
    cpu = ("", "cpu.stat") if unified else ("cpuacct", "cpuacct.usage")
    found: dict[str, float | None] = {"memory_bytes": None, "cpu_seconds": None}
    try:
        with open(os.path.join(parent_path(slice_name, memory[0], root, base), memory[1]), encoding="ascii") as h:
            found["memory_bytes"] = int(h.read().strip())
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(parent_path(slice_name, cpu[0], root, base), cpu[1]), encoding="ascii") as h:
            text = h.read()
        if unified:
            stat = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
            found["cpu_seconds"] = int(stat["usage_usec"]) / 1e6
        else:
            found["cpu_seconds"] = int(text.strip()) / 1e9
    except (OSError, ValueError, KeyError):
        pass
    return found
