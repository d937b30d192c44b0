"""container-unpause: resume a paused container where it stopped."""

import click

from ._common import batch, config_option, container_targets, new_output, output_options, run


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
    from ..containers import TABLE_COLUMNS, record
    from ..errors import Ds01Error
    from ..runtime import Runtime

    rt = Runtime(config)
    targets = container_targets(rt, names, ("paused",), "paused", all_paused)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)

    def unpause(target):
        rec = rt.finder.find(target)
        if rec["status"] not in ("paused", "running"):
            raise Ds01Error(f"{rec['name']} is {rec['status']}, not paused",
                            hint=f"container-start {rec['name']} starts a stopped container")
        if rec["status"] == "paused":
            rt.engine.unpause(rec["id"])
        return record(rt.api.inspect_container(rec["id"]))

    return batch(targets, unpause, out)


def main():
    run(cli)
