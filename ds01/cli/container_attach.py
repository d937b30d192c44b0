"""container-attach: a session in a container that is already running (never starts one)."""

import sys

import click

from ._common import config_option, mark_missing_name, run, session


@click.command(context_settings={"ignore_unknown_options": True}, epilog="""\b
Examples:
  container-attach thesis                    another shell beside your running job
  container-attach thesis -- tail -f /workspace/train.log
See also: container-run (starts it if needed), container-exit, container-list""")
@click.argument("name", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--keep", is_flag=True, help="Leave the container running after the session.")
@config_option
def cli(name, command, keep, config):
    """Open a shell (or run `-- COMMAND...`) in running container NAME; refuses a stopped one."""

    return session(name, command, keep, config, start=False)


def main():
    run(cli, mark_missing_name(sys.argv[1:]))


MAN_OUTPUT = "The session's own output; with -- COMMAND, the exit status is COMMAND's."
