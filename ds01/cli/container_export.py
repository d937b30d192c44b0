"""container-export: one file with a container's image (its files as they are now), labels, GPU request and
the paths it mounts, for container-import on this server or another."""

import click

from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-export thesis                          writes ./thesis.ds01-export.tar
  container-export thesis -o /scratch/thesis.tar
  container-export thesis --with-workspace         the workspace's files too
The container's files are committed as they are now (AIME's `docker commit`); the file
holds that image, the container's labels and GPU request, and the paths of its mounts
(not their data, unless --with-workspace), with a SHA256SUMS that container-import checks.
The file is written with your rights and never overwrites one.
See also: container-import, container-recreate, image-list""")
@click.argument("name")
@click.option("-o", "--output", "output", metavar="FILE", help="Where to write it (default ./NAME.ds01-export.tar).")
@click.option("--with-workspace", is_flag=True, help="Include the workspace's files (read as you).")
@output_options
@config_option
def cli(name, output, with_workspace, json_flag, table_flag, config):
    """Export your container NAME to one file for container-import."""
    from ..transfer import export_container  # lazy: ds01.transfer, 6 ms

    rt = Runtime(config)
    exported = export_container(rt, name, output, with_workspace=with_workspace)
    # FIXME: columns are (key, HEADER) pairs: a table (the terminal's default) raises ValueError in render_table
    out = new_output(json_flag, table_flag, ["name", "file", "image_size", "with_workspace"])  # type: ignore[list-item]
    out.emit(exported.record)
    out.close()


def main():
    run(cli)


MAN_OUTPUT = "One record: name, file (absolute path), image_size (bytes), with_workspace, mounts."
