"""container-start: start containers in the background (names, or records on stdin)."""

import click

from ._common import batch, config_option, container_targets, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-start thesis
  echo thesis | container-start
  container-list -a --json | container-start
  container-start                          pick from your stopped containers (terminal)
  container-start thesis --cluster         a new Slurm job on the node that holds it
See also: container-stop, container-list""")
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_stopped", is_flag=True, help="All your stopped, created and paused containers.")
@click.option("--cluster", is_flag=True, help="Cluster containers: a new Slurm job on the node that holds each "
              "(returns once queued; container-list --cluster shows when it runs).")
@output_options
@config_option
def cli(names, all_stopped, cluster, json_flag, table_flag, config):
    """Start NAME... (or the containers named on stdin); a GPU container only if its slots are still its own."""
    from .. import sessions
    from ..containers import INACTIVE, TABLE_COLUMNS, record
    from ..runtime import Runtime

    rt = Runtime(config)
    if cluster:
        from ..cluster.containers import CLUSTER_COLUMNS
        from ..cluster.containers import start as submit

        return batch(names, lambda name: submit(rt, name), new_output(json_flag, table_flag, CLUSTER_COLUMNS))
    targets = container_targets(rt, names, ("paused", *INACTIVE), "stopped", all_stopped)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)

    def start(target):
        rec = rt.finder.find(target)
        sessions.start(rt, rec)
        return record(rt.api.inspect_container(rec["id"]))

    return batch(targets, start, out)


def main():
    run(cli)
