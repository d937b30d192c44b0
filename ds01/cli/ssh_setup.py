"""ssh-setup: your SSH key on this server (the ssh step of user-setup)."""

import click

from .. import user_setup
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  ssh-setup              make ~/.ssh/id_ed25519 if you have no key
  ssh-setup --verify     only say whether you have one
Add the public key to your git host (GitHub, GitLab). For VS Code from your laptop: vscode-setup.
See also: user-setup, vscode-setup""")
@click.option("--verify", is_flag=True, help="Check only; make no key.")
@output_options
@config_option
def cli(verify, json_flag, table_flag, config):
    """Make an SSH key (ed25519) if you have none."""
    rt = Runtime(config)
    status, detail = user_setup.ssh_key_step(rt, rt.caller, no_ssh=verify)
    out = new_output(json_flag, table_flag, [("step", "STEP"), ("status", "STATUS"), ("detail", "DETAIL")])
    out.emit({"step": "ssh", "status": status, "detail": detail})
    out.close()


def main():
    run(cli)
