"""shell-setup: do your login shells find ds01's commands (PATH)? --fix adds them to ~/.bashrc."""

import click

from .. import user_setup
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  shell-setup            check
  shell-setup --fix      add one marked line to ~/.bashrc when the profile snippet does not do it
The host's /etc/profile.d/ds01.sh normally puts the commands on PATH for every login shell.
See also: user-setup, help""")
@click.option("--fix", "--force", "fix", is_flag=True, help="Add ds01's commands to PATH in ~/.bashrc if needed.")
@click.option("--check", is_flag=True, help="Check only (the default).")
@output_options
@config_option
def cli(fix, check, json_flag, table_flag, config):
    """Check that login shells put ds01's commands on PATH."""
    rt = Runtime(config)
    status, detail = user_setup.shell_step(rt, rt.caller, fix=fix and not check)
    out = new_output(json_flag, table_flag, [("step", "STEP"), ("status", "STATUS"), ("detail", "DETAIL")])
    out.emit({"step": "shell", "status": status, "detail": detail})
    out.close()


def main():
    run(cli)
