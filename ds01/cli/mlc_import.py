"""mlc-import: AIME's advertised `mlc import` (never built by AIME) over container-import.

`mlc import FILE` or AIME's planned `mlc import <name_of_imported_container> <name_of_exported_container>
<location>`."""

import os

import click

from ..runtime import Runtime
from ._common import config_option
from ._gpu import parse_count
from ._mlc import main as aime_main
from ._mlc import say, script_option


@click.command(epilog="""\b
Examples:
  mlc-import pt271.ds01-export.tar
  mlc import mybox thesis /scratch        reads /scratch/thesis.ds01-export.tar
Not in AIME MLC 2.2.0: ds01's container-import (checksum checked, your limits,
quota and workspace; nothing in the file trusted).
See also: container-import, mlc-export""")
@click.argument("first")
@click.argument("exported_name", required=False)
@click.argument("location", required=False)
@click.option("-w", "--workspace_dir", metavar="DIR", help="Workspace directory (default ~/workspace/NAME).")
@click.option("-g", "--num_gpus", metavar="N", help="GPUs (default: what the exported container had).")
@script_option
@config_option
def cli(first, exported_name, location, workspace_dir, num_gpus, script, config):
    """Import FILE, or NAME from LOCATION/EXPORTED_NAME.ds01-export.tar (AIME syntax)."""
    from ..create import CreateRequest  # lazy: ds01.create, 9 ms
    from ..transfer import default_file, import_container  # lazy: ds01.transfer, 6 ms

    if exported_name:
        name, path = first, os.path.join(location or ".", default_file(exported_name))
    else:
        name, path = None, first
    request = CreateRequest(name="", workspace=workspace_dir, num_gpus=parse_count(num_gpus))
    rt = Runtime(config)
    created = import_container(rt, path, name, request)
    say(f"[{created.record['name']}] container imported.")
    return 0


def main():
    aime_main(cli)


MAN_OUTPUT = "AIME-style messages on standard output (\"[NAME] container imported.\")."
