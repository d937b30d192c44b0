"""container-start: start containers in the background (names, or records on stdin)."""

import click

from ._common import batch, config_option, new_output, output_options, read_targets, run


@click.command(epilog="""\b
Examples:
  container-start thesis
  echo thesis | container-start
  container-list -a --json | container-start
See also: container-stop, container-list""")
@click.argument("names", nargs=-1)
@output_options
@config_option
def cli(names, json_flag, table_flag, config):
    """Start NAME... (or the containers named on stdin); a GPU container only if its slots are still its own."""
    from .. import sessions
    from ..containers import TABLE_COLUMNS, record
    from ..runtime import Runtime

    rt = Runtime(config)
    targets = read_targets(names)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)

    def start(target):
        rec = rt.finder.find(target)
        sessions.start(rt, rec)
        return record(rt.api.inspect_container(rec["id"]))

    return batch(targets, start, out)


def main():
    run(cli)
