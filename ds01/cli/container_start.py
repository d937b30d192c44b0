"""container-start: start containers in the background (names, or records on stdin)."""

import click

from ..container_verbs import start
from ..containers import INACTIVE, TABLE_COLUMNS
from ..runtime import Runtime
from ._cluster import cluster_option, wants_cluster
from ._common import batch, config_option, each_container, new_output, output_options, run
from ._gpu import parse_wait


@click.command(epilog="""\b
Examples:
  container-start thesis
  echo thesis | container-start
  container-list -a --json | container-start
  container-start                          pick from your stopped containers (terminal)
  container-start thesis --cluster         a new Slurm job on the node that holds it
  container-start thesis --cluster --wait  ... and return once the container runs there
See also: container-stop, container-list""")
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_stopped", is_flag=True, help="All your stopped, created and paused containers.")
@cluster_option("Cluster containers: a new Slurm job on the node that holds each, with the runtime its earlier "
                "jobs left (returns once queued; container-list --cluster shows when it runs)")
@click.option("--wait", metavar="SECONDS", is_flag=False, flag_value="0",
              help="With --cluster: return once the container runs on its node (--wait=SECONDS gives up waiting "
                   "after that). A start on this server always returns once it runs.")
@output_options
@config_option
def cli(names, all_stopped, cluster, wait, json_flag, table_flag, config):
    """Start NAME... (or the containers named on stdin); a GPU container only if its slots are still its own."""
    seconds = parse_wait(wait)
    rt = Runtime(config)
    if wants_cluster(rt, cluster):
        from ..cluster.containers import CLUSTER_COLUMNS  # lazy: ds01.cluster.containers, 7 ms
        from ..cluster.containers import start as submit  # lazy: ds01.cluster.containers, 7 ms

        return batch(names, lambda name: submit(rt, name, seconds), new_output(json_flag, table_flag, CLUSTER_COLUMNS))
    return each_container(rt, names, ("paused", *INACTIVE), "stopped", all_stopped, start,
                          new_output(json_flag, table_flag, TABLE_COLUMNS))


def main():
    run(cli)
