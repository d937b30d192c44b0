"""version: ds01's version, the commit it was built from, its install path, Python and the Docker engine."""

import sys

import click

from .. import version
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("version", "VERSION"), ("commit", "COMMIT"), ("install_path", "INSTALLED AT"), ("python", "PYTHON"),
           ("docker_engine", "DOCKER ENGINE")]


@click.command(epilog="""\b
Examples:
  version                      one line: version, build, path, Python, engine
  ds01 version --json          the same as a record
  container-list --version     every command answers --version the same way
The commit is the one `make install` recorded (BUILD), or a checkout's HEAD.
See also: ds01-doctor, help""")
@output_options
@config_option
def cli(json_flag, table_flag, config):
    """ds01's version and build, where it is installed, its Python and the Docker engine's version."""
    record = version.info(Runtime(config).settings.get("docker_host"))
    out = new_output(json_flag, table_flag, COLUMNS)
    if out.table and not table_flag:
        sys.stdout.write(version.line(record) + "\n")
        return 0
    out.emit(record)
    out.close()
    return 0


def main():
    run(cli)
