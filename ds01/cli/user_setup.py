"""user-setup: first-time onboarding; checks, explains, fixes what it safely can. Safe to run again."""

import click

from ._common import config_option, new_output, output_options, run

EXPLAIN = {
    "docker": "ds01 runs your work in Docker containers. You never use Docker directly: every ds01 command\n"
              "reaches it through ds01d, which knows who you are and applies your limits.",
    "workspace": "~/workspace holds your projects. Each container sees its project directory as /workspace,\n"
                 "so files there survive when containers are removed.",
    "ssh": "An SSH key on this server lets you reach git hosts (GitHub, GitLab) from here: add the public key\n"
           "to your account there.",
    "limits": "Your group's limits decide how many containers, GPUs, CPUs and how much memory you get.",
    "vscode": "VS Code works inside your containers through Remote-SSH: ssh runs container-run NAME for it\n"
              "(no Docker access needed). The steps are below and in ~/ONBOARDING.md.",
}


@click.command(epilog="""\b
Examples:
  user-setup                      explains each step, then offers to create a first project
  user-setup --quick              the checks only
  user-setup --no-ssh --json      as records, without creating an SSH key
See also: check-limits, project-init, container-deploy""")
@click.option("--quick", is_flag=True, help="Skip the explanations and the questions.")
@click.option("--no-ssh", is_flag=True, help="Do not create an SSH key.")
@click.option("--force", is_flag=True, help="Rewrite ~/ONBOARDING.md even if it exists.")
@output_options
@config_option
def cli(quick, no_ssh, force, json_flag, table_flag, config):
    """Check and prepare your account: Docker access, workspace, SSH key, limits, VS Code, ~/ONBOARDING.md."""
    import sys

    from ..output import is_tty, warn
    from ..runtime import Runtime
    from ..ssh_host import ssh_host

    rt = Runtime(config)
    user = rt.caller
    ask = is_tty(sys.stdin) and is_tty(sys.stderr) and not quick
    say = (lambda key: sys.stderr.write("\n" + EXPLAIN[key] + "\n")) if not quick and is_tty(sys.stderr) else (
        lambda key: None)
    server = ssh_host(rt.policy)
    host = server.name
    if server.problem():
        warn(f"{server.problem()}; ask an admin to set access_control.ssh_host in the policy (then run user-setup "
             "again)")
    steps = []
    for key, check in (("docker", _docker), ("workspace", _workspace), ("ssh", _ssh), ("limits", _limits)):
        say(key)
        status, detail = check(rt, user, no_ssh=no_ssh)
        steps.append({"step": key, "status": status, "detail": detail})
        if is_tty(sys.stderr) and not quick:
            sys.stderr.write(f"  {status}: {detail}\n")
    say("vscode")
    status, detail = _ssh_config(rt, user, host)
    if status == "ok" and server.problem():
        status, detail = "warn", f"{detail}; HostName {host} is a loopback address: ask an admin to set " \
                                 "access_control.ssh_host"
    steps.append({"step": "vscode", "status": status, "detail": detail})
    guide = vscode_guide(user.login, host)
    if not quick and is_tty(sys.stderr):
        sys.stderr.write(guide)
    status, detail = _onboarding(user, host, guide, force)
    steps.append({"step": "onboarding", "status": status, "detail": detail})
    out = new_output(json_flag, table_flag, [("step", "STEP"), ("status", "STATUS"), ("detail", "DETAIL")])
    for step in steps:
        out.emit(step)
    out.close()
    if ask and click.confirm("\nCreate a first project now (project-init)?", default=False, err=True):
        from ..project_scaffold import COLUMNS, ProjectRequest, init_project

        project = init_project(rt, ProjectRequest(), ask=True)
        listing = new_output(False, False, COLUMNS)
        listing.emit(project)
        listing.close()
        sys.stderr.write(f"next: project-launch {project['name']}\n")
        return 0
    if is_tty(sys.stderr):
        sys.stderr.write("next: project-init NAME, then project-launch NAME\n")
    return 0


def _docker(rt, user, **_):
    from ..errors import Ds01Error

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
    import grp
    import pwd

    entry = grp.getgrnam(group)
    primary = [p.pw_name for p in pwd.getpwall() if p.pw_gid == entry.gr_gid]
    return sorted(set(entry.gr_mem) | set(primary))


def socket_group(rt):
    """The group that owns the engine's Unix socket (docker, usually), or None (TCP, unreadable, root)."""
    import grp
    import os

    from ..privilege import root_files

    host = rt.settings.get("docker_host")
    if not host.startswith("unix://"):
        return None
    try:
        with root_files():
            gid = os.stat(host[len("unix://"):]).st_gid
        return grp.getgrgid(gid).gr_name if gid != 0 else None
    except (OSError, KeyError):
        return None


def _workspace(rt, user, **_):
    import os

    from ..workspace_files import make_workspace

    path = os.path.join(user.home, "workspace")
    if os.path.isdir(path):
        count = len([e for e in os.listdir(path) if not e.startswith(".")])
        return "ok", f"{path} ({count} entries)"
    make_workspace(path, user)
    return "created", path


def _ssh(rt, user, no_ssh=False, **_):
    import os
    import socket
    import subprocess

    from ..privilege import caller_process

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


def _limits(rt, user, **_):
    from ..usage import standing

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


def _ssh_config(rt, user, host):
    """Write ~/.ssh/ds01-vscode.conf (as the caller: a worker's file rights are theirs) for the laptop."""
    import os
    import sys

    from ..containers import owned_by

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


def _onboarding(user, host, guide, force):
    import os

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


def main():
    run(cli)


MAN_OUTPUT = ("One record per step: step (docker, workspace, ssh, limits, vscode, onboarding), "
              "status (ok, created, skipped, action, warn), detail.")
