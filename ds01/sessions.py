"""Sessions in a container: start it if needed, run a shell or one command as the caller, and
stop it again when the last session leaves nothing behind (AIME's `mlc open` rule).

The session itself is `docker exec` from the Docker CLI: it owns the terminal (raw mode,
window size, signals) far better than anything re-implemented over the API socket.
"""

import os
import pwd
import shutil
import sys
from typing import TYPE_CHECKING

from .containers import INACTIVE
from .errors import Ds01Error, UsageError
from .settings import CHILD_PATH
from .visible import visible

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .containers import ContainerRecord
    from .runtime import Runtime

STOPPED = INACTIVE  # the states a session starts a container from
ENTERABLE = ("running", "paused")  # the states a session enters without a start (a paused one is thawed)
KEEP_ALIVE_MARK = "[ds01-keep-alive]"
# Passed into sessions when set on the host (as separate words, unlike AIME v2.2).


def start(rt, rec):
    """Start or unpause `rec`'s container; a GPU container only if its slots are still its own. A running (or
    paused) one that was started past ds01 without its mounts is restarted with them (`refill`)."""
    if rec["status"] in ("paused", "running"):
        if rec["status"] == "paused":
            rt.engine.unpause(rec["id"])
        refill(rt, rec)
        return
    from .mounts import recheck_mounts  # lazy: ds01.mounts, 8 ms

    info = rt.api.inspect_container(rec["id"])
    _start_pinned(rt, rec, info, recheck_mounts(rt, rec, info))


def _start_pinned(rt, rec, info, opened):
    """Start the stopped container with the directories of `opened` on its bind points (ds01.mount_pins)."""
    from .mount_pins import pinned, pins_of  # lazy: ds01.mount_pins, 8 ms
    from .statedir import StateDir  # lazy: ds01.statedir, 8 ms

    with pinned(pins_of(info, StateDir.of(rt)), opened):
        _enforce_totals(rt, rec, info)
        if rec["managed"] and not rec["gpus"]:
            rt.engine.start(rec["id"])
        else:  # its GPU slots may have gone to someone else since it stopped
            from .gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 13 ms

            engine = rt.engine
            Allocator(rt).start_checked(rec, lambda: engine.start(rec["id"]))


def refill(rt, rec):
    """A running container started past ds01 (AIME's `mlc open`/`mlc start`, root's `docker start`, a restart
    policy at boot) holds its bind points empty: restart it through ds01, with every check a start makes, and
    say so. Refused (nothing changed) while work other than its PID 1 runs in it, or when a check fails."""
    from .mount_pins import unfilled  # lazy: ds01.mount_pins, 8 ms
    from .mounts import MOUNTED, recheck_mounts  # lazy: ds01.mounts, 8 ms
    from .statedir import StateDir  # lazy: ds01.statedir, 8 ms

    info = rt.api.inspect_container(rec["id"])
    missing = unfilled(info, StateDir.of(rt))
    if not missing:
        return
    name, what = visible(rec["name"]), " and ".join(f"{MOUNTED[d]} ({d})" for d in missing)
    if other_processes(rt.api, rec["id"], info["State"].get("Pid")):
        raise Ds01Error(f"{name} was started outside ds01 (docker start, mlc open) without its {what}, and "
                        "processes run in it: not restarted under them",
                        hint=f"when they are done, container-stop {name}; then container-run {name} starts it "
                             "with its mounts")
    opened = recheck_mounts(rt, rec, info)  # a refusal leaves the container as it is
    sys.stderr.write(f"{name}: it was started outside ds01 (docker start, mlc open) without its {what}; "
                     "restarting it with them\n")
    sys.stderr.flush()
    try:
        rt.engine.stop(rec["id"], timeout=10, force=True)
        info = rt.api.inspect_container(rec["id"])
    except BaseException:
        for fd in opened.values():
            os.close(fd)
        raise
    _start_pinned(rt, rec, info, opened)


def _enforce_totals(rt, rec, info):
    """The owner's aggregate limits on the container's cgroup parent, before it starts (ds01.cgroups)."""
    parent = (info.get("HostConfig") or {}).get("CgroupParent")
    if not parent or not rec["user"] or rt.policy.section("enforcement").get("aggregate_limits") is False:
        return
    limits = rt.limits(rec["user"])
    if not limits.aggregate or parent != limits.slice_name:
        return
    if rt.policy.section("enforcement").get("cgroup_driver") == "systemd":  # a slice: unit properties
        from .cgroups import sync_dropins  # lazy: ds01.cgroups, 2 ms

        sync_dropins(rt, [rec["user"]])
        return
    from .cgroups import daemon_cgroups, enforce  # lazy: ds01.cgroups, 2 ms

    enforce(parent, limits.aggregate, base=daemon_cgroups(rt.settings.get("docker_host")))


def docker_cli():
    path = shutil.which("docker", path=CHILD_PATH)  # never a `docker` the caller put on their PATH
    if path is None:
        raise Ds01Error("the docker command is not installed", hint="apt-get install docker.io (the client)")
    return path


def cli_environment(rt):
    """The docker client's environment. In a ds01d worker the client runs as root, so its HOME (whose
    ~/.docker/config.json can name plugin dirs and credential helpers) is root's, never the caller's."""
    home = pwd.getpwuid(0).pw_dir if rt.served is not None else rt.caller.home
    return rt.settings.docker_cli_environment(home)


def require_terminal(command: "Sequence[str]", hint: str) -> None:
    """A shell (no `command`) needs a terminal: refuse before anything is started."""
    if not command and not sys.stdin.isatty():
        raise UsageError("an interactive shell needs a terminal", hint=hint)


def exec_argv(rt, container, command, tty, detach=False):
    """The `docker exec` argv for the caller's session in /workspace; user text is only ever an argv element."""
    argv = [docker_cli(), "--host", rt.settings.get("docker_host"), "exec", "-d" if detach else "-i"]
    if tty and not detach:
        argv.append("-t")
    argv += ["-u", f"{rt.caller.uid}:{rt.caller.gid}", "-w", "/workspace"]
    for key, value in rt.settings.session_environment().items():
        argv += ["-e", f"{key}={value}"]
    argv.append(container)
    argv += list(command) if command else ["bash"]
    return argv


def run_session(rt, rec, command=(), tty=None):
    """Run a shell (or `command`) in the running container; returns its exit code."""
    import subprocess  # lazy: subprocess, 2 ms

    if tty is None:
        tty = sys.stdin.isatty() and sys.stdout.isatty()
    argv = exec_argv(rt, rec["container"], command, tty)
    try:
        return subprocess.run(argv, check=False, env=cli_environment(rt)).returncode
    except KeyboardInterrupt:
        return 130


def other_processes(api, container_id, init_pid):
    """Processes in the container besides PID 1 (host pid `init_pid`) and the keep-alive."""
    return [args for pid, args in api.top(container_id) if pid != init_pid and KEEP_ALIVE_MARK not in args]


def stop_if_idle(rt, rec):
    """After a session: stop the container when nothing but PID 1 (and the keep-alive) runs.

    Returns "stopped", "kept" (with processes still running) or "gone" (it stopped meanwhile).
    """
    info = rt.api.inspect_container(rec["id"])
    if not info["State"].get("Running"):
        return "gone"
    if other_processes(rt.api, rec["id"], info["State"].get("Pid")):
        return "kept"
    rt.engine.stop(rec["id"], timeout=10, force=True)
    return "stopped"


def open_session(rt: "Runtime", rec: "ContainerRecord", command: "Sequence[str]" = (), keep: bool = False,
                 start_it: bool = True) -> "tuple[int, str | None]":
    """A session in `rec` as the caller (started first when `start_it`, else it must be running);
    returns (exit code, what happened after: "stopped", "kept", "gone", or None with `keep`)."""
    states = (*ENTERABLE, *STOPPED) if start_it else ENTERABLE
    if rec["status"] not in states:
        raise Ds01Error(f"{rec['name']} is {rec['status']}, not running",
                        hint=f"container-run {rec['name']} starts it first", code=1)
    if rec["status"] != "running":
        rt.progress(f"starting {rec['name']} ...")
    start(rt, rec)
    code = run_session(rt, rec, command)
    return code, (None if keep else stop_if_idle(rt, rec))
