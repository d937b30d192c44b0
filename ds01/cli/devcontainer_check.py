"""devcontainer-check: what ds01 honours, ignores and refuses in a devcontainer.json."""

import click

from .. import devcontainer
from ..errors import Ds01Error
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("key", "KEY"), ("status", "STATUS"), ("detail", "DETAIL")]


@click.command(epilog="""\b
Examples:
  devcontainer-check thesis                    ~/workspace/thesis/.devcontainer/devcontainer.json
  devcontainer-check .                         the project in this directory
  devcontainer-check path/to/devcontainer.json
Comments and trailing commas are read as VS Code reads them. Each key is ok (ds01 honours it),
ignored (it has no effect here, and why), or refused (it needs Docker rights: privileged mode,
capabilities, host mounts, --gpus, compose). Exit 1 when anything is refused.
See also: devcontainer-init, vscode-setup""")
@click.argument("target", default=".")
@output_options
@config_option
def cli(target, json_flag, table_flag, config):
    """Check a devcontainer.json (a project name, a directory, or the file)."""
    found = devcontainer.check(Runtime(config), target)
    out = new_output(json_flag, table_flag, COLUMNS)
    for finding in found:
        out.emit(finding)
    out.close()
    refused = [f["key"] for f in found if f["status"] == "refused"]
    if refused:
        raise Ds01Error(f"{found[0]['path']} cannot work with ds01: {', '.join(refused)} refused",
                        hint="remove those keys (devcontainer-init PROJECT --force writes a file that works)")


def main():
    run(cli)
