"""vscode-setup: the SSH host blocks VS Code's Remote-SSH uses to reach your containers (user-setup's step)."""

import sys

import click

from .. import user_setup
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  vscode-setup           write ~/.ssh/ds01-vscode.conf and show the steps
  vscode-setup --json    the record only
Host ds01-NAME runs container-run NAME for each of your containers (no Docker access needed);
run it again after creating a container.
See also: devcontainer-init, user-setup, container-run""")
@output_options
@config_option
def cli(json_flag, table_flag, config):
    """Write ~/.ssh/ds01-vscode.conf (Host ds01, Host ds01-NAME per container) for your laptop."""
    rt = Runtime(config)
    status, detail, host = user_setup.vscode_step(rt, rt.caller)
    if is_tty(sys.stderr) and not json_flag:
        sys.stderr.write(user_setup.vscode_guide(rt.caller.login, host))
    out = new_output(json_flag, table_flag, [("step", "STEP"), ("status", "STATUS"), ("detail", "DETAIL")])
    out.emit({"step": "vscode", "status": status, "detail": detail})
    out.close()


def main():
    run(cli)
