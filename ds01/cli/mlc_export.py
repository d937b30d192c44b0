"""mlc-export: AIME's advertised `mlc export` (never built by AIME) over container-export.

AIME's planned usage was `mlc export <container_name> <name_of_exported_container> <location>`; the file is
ds01's (there is no AIME format)."""

import os

import click

from ..runtime import Runtime
from ._common import config_option
from ._mlc import main as aime_main
from ._mlc import say, script_option


@click.command(epilog="""\b
Examples:
  mlc-export pt271                       writes ./pt271.ds01-export.tar
  mlc export pt271 thesis /scratch       writes /scratch/thesis.ds01-export.tar
Not in AIME MLC 2.2.0 (it advertises export and exits 1): the file is ds01's
container-export file, read by container-import and mlc-import.
See also: container-export, mlc-import""")
@click.argument("name")
@click.argument("exported_name", required=False)
@click.argument("location", required=False)
@click.option("-w", "--with_workspace", is_flag=True, help="Include the workspace's files.")
@script_option
@config_option
def cli(name, exported_name, location, with_workspace, script, config):
    """Export container NAME (AIME syntax) to LOCATION/EXPORTED_NAME.ds01-export.tar."""
    from ..transfer import default_file, export_container  # lazy: ds01.transfer, 6 ms

    rt = Runtime(config)
    path = os.path.join(location or ".", default_file(exported_name or name))
    say(f"[{name}] exporting container ...")
    exported = export_container(rt, name, path, with_workspace=with_workspace)
    say(f"[{name}] container exported to {exported.path}")
    return 0


def main():
    aime_main(cli)


MAN_OUTPUT = "AIME-style messages on standard output (\"[NAME] container exported to FILE\")."
