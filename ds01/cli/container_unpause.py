"""container-unpause: resume a paused container where it stopped."""

import click

from ..container_verbs import unpause
from ..containers import TABLE_COLUMNS
from ..runtime import Runtime
from ._common import config_option, each_container, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-unpause thesis
  container-unpause -a                     every paused container of yours
  container-list -a --json | jq -c 'select(.status == "paused")' | container-unpause
  container-unpause                        pick from your paused containers (terminal)
See also: container-pause, container-run""")
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_paused", is_flag=True, help="All your paused containers.")
@output_options
@config_option
def cli(names, all_paused, json_flag, table_flag, config):
    """Resume NAME... (or the containers named on stdin)."""
    rt = Runtime(config)
    return each_container(rt, names, ("paused",), "paused", all_paused, unpause,
                          new_output(json_flag, table_flag, TABLE_COLUMNS))


def main():
    run(cli)
