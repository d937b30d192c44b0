"""The steps of first-time setup, one function each: user-setup runs them all; ssh-setup, vscode-setup and
shell-setup run one (DS01's separate helpers). Each returns (status, detail): ok, created, skipped, action, warn."""

import grp
import os
import pwd
import socket
import sys

from .containers import owned_by
from .errors import Ds01Error
from .privilege import caller_process, root_files
from .ssh_host import ssh_host
from .usage import standing

PROFILE_SNIPPET = "/etc/profile.d/ds01.sh"
BASHRC_MARK = "# ds01: shell-setup puts ds01's commands on PATH"


def docker_step(rt, user, **_):
    try:
        rt.api.ping()
    except Ds01Error as exc:
        return "action", f"cannot reach the Docker engine ({exc.message}): ask an admin to check ds01d"
    group = socket_group(rt)
    if group is not None and rt.admin:
        members = docker_members(group)
        if members:
            return "warn", (f"{len(members)} account(s) in the {group} group can use Docker directly (that is root "
                            f"on this host): {', '.join(members)}; ds01 needs none of them there "
                            f"(gpasswd -d LOGIN {group})")
    if group is not None and user.uid != 0 and group in user.groups:
        return "warn", (f"you are in the {group} group, which can use Docker directly (that is root on this host); "
                        f"ds01 does not need it: ask an admin to remove you (gpasswd -d {user.login} {group})")
    return "ok", "ds01 reaches the Docker engine for you"


def docker_members(group):
    """Every account in `group`, as a supplementary or as its primary group (the migration list for admins)."""
    entry = grp.getgrnam(group)
    primary = [p.pw_name for p in pwd.getpwall() if p.pw_gid == entry.gr_gid]
    return sorted(set(entry.gr_mem) | set(primary))


def socket_group(rt):
    """The group that owns the engine's Unix socket (docker, usually), or None (TCP, unreadable, root)."""
    host = rt.settings.get("docker_host")
    if not host.startswith("unix://"):
        return None
    try:
        with root_files():
            gid = os.stat(host[len("unix://"):]).st_gid
        return grp.getgrgid(gid).gr_name if gid != 0 else None
    except (OSError, KeyError):
        return None


def workspace_step(rt, user, **_):
    from .workspace_files import make_workspace  # lazy: ds01.workspace_files, 3 ms

    path = os.path.join(user.home, "workspace")
    if os.path.isdir(path):
        count = len([e for e in os.listdir(path) if not e.startswith(".")])
        return "ok", f"{path} ({count} entries)"
    make_workspace(path, user)
    return "created", path


def ssh_key_step(rt, user, no_ssh=False, **_):
    import subprocess  # lazy: subprocess, 1 ms

    key = os.path.join(user.home, ".ssh", "id_ed25519")
    for existing in (key, os.path.join(user.home, ".ssh", "id_rsa"), os.path.join(user.home, ".ssh", "id_ecdsa")):
        if os.path.exists(existing + ".pub"):
            return "ok", f"{existing}.pub"
    if no_ssh:
        return "skipped", "no SSH key (--no-ssh)"
    os.makedirs(os.path.dirname(key), mode=0o700, exist_ok=True)
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{user.login}@{socket.gethostname()}",
                        "-f", key], check=True, capture_output=True, stdin=subprocess.DEVNULL, **caller_process())
    except FileNotFoundError:
        return "action", "ssh-keygen is not installed (openssh-client): ask an admin"
    except subprocess.CalledProcessError as exc:
        return "action", f"ssh-keygen failed: {exc.stderr.decode(errors='replace').strip()}"
    return "created", f"{key}.pub (add it to your git host)"


def limits_step(rt, user, **_):
    r = standing(rt, user, sample=False)
    gpu = r["gpu"]
    limit = "unlimited" if gpu["eq_limit"] is None else f"{gpu['eq_limit']:g}"
    count = "unlimited" if r["containers"]["limit"] is None else r["containers"]["limit"]
    return "ok", (f"group {r['group']}: {r['containers']['count']}/{count} containers, "
                  f"{gpu['eq_used']:g}/{limit} GPU-eq, {r['cpu']['per_container']:g} CPUs per container "
                  "(check-limits shows more)")


SSH_CONFIG = ".ssh/ds01-vscode.conf"


def ssh_blocks(login, host, containers, command):
    """~/.ssh/config blocks for a laptop: `ds01` for the host, `ds01-NAME` for a shell in each container
    (ssh runs `container-run NAME` there; VS Code needs remote.SSH.enableRemoteCommand)."""
    blocks = [f"Host ds01\n    HostName {host}\n    User {login}\n"]
    for name in containers:
        blocks.append(f"Host ds01-{name}\n    HostName {host}\n    User {login}\n    RequestTTY yes\n"
                      f"    RemoteCommand {command} {name}\n")
    return "# ds01: VS Code Remote-SSH into your containers (user-setup writes this; it rewrites it each run)\n" + \
        "\n".join(blocks)


def ssh_config_step(rt, user, host):
    """Write ~/.ssh/ds01-vscode.conf (as the caller: a worker's file rights are theirs) for the laptop."""
    names = sorted(r["name"] for r in rt.finder.records() if owned_by(r, user))
    installed = os.path.join(os.path.dirname(sys.executable), "container-run")
    command = installed if os.path.exists(installed) else "container-run"
    path = os.path.join(user.home, SSH_CONFIG)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        partial = path + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(ssh_blocks(user.login, host, names, command))
        os.replace(partial, path)
    except OSError as exc:
        return "action", f"cannot write {path}: {exc.strerror}"
    return "ok", f"{path}: Host ds01 and {len(names)} container{'s' if len(names) != 1 else ''} (ds01-NAME)"


def vscode_guide(login, host):
    return f"""
VS Code on this server (Remote-SSH into a container; no Docker access is needed):
  1. On your laptop, once: ssh-keygen -t ed25519, then ssh-copy-id {login}@{host}
  2. Copy ~/{SSH_CONFIG} from here into ~/.ssh/config on your laptop. It has
       Host ds01              (this server)
       Host ds01-NAME         (RemoteCommand container-run NAME, for each of your containers)
     and user-setup rewrites it each time, so run it again after creating a container.
  3. In VS Code: install "Remote - SSH", set "remote.SSH.enableRemoteCommand": true, then
     "Remote-SSH: Connect to Host..." -> ds01-NAME. The container starts if it is stopped.
"""


def onboarding_step(user, host, guide, force):
    path = os.path.join(user.home, "ONBOARDING.md")
    if os.path.exists(path) and not force:
        return "ok", f"{path} (kept; --force rewrites it)"
    text = f"""# Getting started on {host}

Your projects live in `~/workspace`. Inside a container, the project directory is `/workspace`.

## The daily path

    project-init thesis            # a new project: layout, requirements.txt, Dockerfile, git
    project-launch thesis          # build the image if needed, start a container with a GPU, open a shell
    container-run thesis -- python3 src/train.py    # one command in it
    container-retire thesis        # stop, remove, free the GPU (files in ~/workspace stay)

## Your limits

    check-limits                   # containers, GPU, CPU, memory and the lifecycle timers

Idle containers are stopped after a while; `touch /workspace/.keep-alive` keeps one for a limited time.
{guide}
## Help

    help                           # every command, grouped
    man ds01                       # the overview
"""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)
    return "created", path


def commands_dir():
    """The directory ds01's commands are installed in (beside the interpreter that runs them)."""
    return os.path.dirname(sys.executable)


def vscode_step(rt, user):
    """Write ~/.ssh/ds01-vscode.conf; (status, detail, host). A loopback HostName is a warning (the
    laptop could not reach it)."""
    server = ssh_host(rt.policy)
    status, detail = ssh_config_step(rt, user, server.name)
    if status == "ok" and server.problem():
        status, detail = "warn", f"{detail}; HostName {server.name} is a loopback address: ask an admin to set " \
                                 "access_control.ssh_host"
    return status, detail, server.name


def shell_step(rt, user, fix=False):
    """Do login shells find ds01's commands? The profile snippet puts the commands' directory on PATH; without
    it, --fix adds one marked line to ~/.bashrc (written as the caller, once)."""
    directory = commands_dir()
    try:
        with open(PROFILE_SNIPPET, encoding="utf-8") as handle:
            if directory in handle.read():
                return "ok", f"{PROFILE_SNIPPET} puts {directory} on PATH for login shells"
    except OSError:
        pass
    bashrc = os.path.join(user.home, ".bashrc")
    line = f'case ":$PATH:" in *":{directory}:"*) ;; *) PATH="{directory}:$PATH" ;; esac  {BASHRC_MARK}\n'
    try:
        fd = os.open(bashrc, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
            if BASHRC_MARK in handle.read():
                return "ok", f"{bashrc} puts {directory} on PATH"
    except FileNotFoundError:
        pass
    except OSError as exc:
        return "action", f"cannot read {bashrc}: {exc.strerror}"
    if not fix:
        return "action", f"{directory} is not put on PATH by {PROFILE_SNIPPET}: shell-setup --fix adds it to {bashrc}"
    try:
        fd = os.open(bashrc, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError as exc:
        return "action", f"cannot write {bashrc}: {exc.strerror}"
    return "created", f"{bashrc}: {directory} on PATH (open a new shell)"
