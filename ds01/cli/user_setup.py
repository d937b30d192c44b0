"""user-setup: first-time onboarding; checks, explains, fixes what it safely can. Safe to run again."""

import sys

import click

from .. import user_setup as S
from ..output import is_tty, warn
from ..runtime import Runtime
from ..ssh_host import ssh_host
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
    rt = Runtime(config)
    user = rt.caller
    ask = is_tty(sys.stdin) and is_tty(sys.stderr) and not quick
    say = (lambda key: sys.stderr.write("\n" + EXPLAIN[key] + "\n")) if not quick and is_tty(sys.stderr) else (
        lambda key: None)
    server = ssh_host(rt.policy)
    if server.problem():
        warn(f"{server.problem()}; ask an admin to set access_control.ssh_host in the policy (then run user-setup "
             "again)")
    steps = []
    for key, check in (("docker", S.docker_step), ("workspace", S.workspace_step), ("ssh", S.ssh_key_step),
                       ("limits", S.limits_step)):
        say(key)
        status, detail = check(rt, user, no_ssh=no_ssh)
        steps.append({"step": key, "status": status, "detail": detail})
        if is_tty(sys.stderr) and not quick:
            sys.stderr.write(f"  {status}: {detail}\n")
    say("vscode")
    status, detail, host = S.vscode_step(rt, user)
    steps.append({"step": "vscode", "status": status, "detail": detail})
    guide = S.vscode_guide(user.login, host)
    if not quick and is_tty(sys.stderr):
        sys.stderr.write(guide)
    status, detail = S.onboarding_step(user, host, guide, force)
    steps.append({"step": "onboarding", "status": status, "detail": detail})
    out = new_output(json_flag, table_flag, [("step", "STEP"), ("status", "STATUS"), ("detail", "DETAIL")])
    for step in steps:
        out.emit(step)
    out.close()
    if ask and click.confirm("\nCreate a first project now (project-init)?", default=False, err=True):
        from ..project_scaffold import COLUMNS, ProjectRequest, init_project  # lazy: ds01.project_scaffold, 0.5 ms
        from ._project_questions import ask_project, confirm_build  # lazy: ds01.cli._project_questions, 1 ms

        request = ProjectRequest()
        ask_project(rt, request)
        project = init_project(rt, request, confirm_build=confirm_build)
        listing = new_output(False, False, COLUMNS)
        listing.emit(project)
        listing.close()
        sys.stderr.write(f"next: project-launch {project['name']}\n")
        return 0
    if is_tty(sys.stderr):
        sys.stderr.write("next: project-init NAME, then project-launch NAME\n")
    return 0


def main():
    run(cli)


MAN_OUTPUT = ("One record per step: step (docker, workspace, ssh, limits, vscode, onboarding), "
              "status (ok, created, skipped, action, warn), detail.")
