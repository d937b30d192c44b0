"""container-stop: stop containers; the GPU stays held until the hold timer or removal."""

import sys

import click

from ..container_verbs import stop as stop_it
from ..containers import ACTIVE, TABLE_COLUMNS
from ..runtime import Runtime
from ..visible import visible
from ._cluster import cluster_option, wants_cluster
from ._common import batch, config_option, each_container, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-stop thesis
  container-list | container-stop          stop all your running containers
  container-stop -a -t 30 --force
  container-stop thesis -v                 also say how long it keeps its GPU and when it is removed
  container-stop                           pick from your running containers (terminal)
A stopped container is kept (DS01's --keep-container is accepted: that is always so);
container-retire stops and removes in one step.
See also: container-start, container-remove, container-retire""")
@click.argument("names", nargs=-1)
@click.option("-t", "--timeout", default=10, show_default=True, type=click.IntRange(0, 3600),
              help="Seconds to wait after the stop signal.")
@click.option("-f", "--force", is_flag=True, help="Kill the container if it is still running after the timeout.")
@click.option("-a", "--all", "all_running", is_flag=True, help="All your running containers.")
@click.option("-v", "--verbose", is_flag=True, help="Say what happens next to each stopped container: how long "
                                                    "its GPU stays held, when it is removed.")
@click.option("--keep-container", is_flag=True, help="(DS01) Accepted; a stop always keeps the container.")
@cluster_option("Cluster containers: cancel their Slurm jobs (each stays, stopped, on its node)")
@output_options
@config_option
def cli(names, timeout, force, all_running, verbose, keep_container, cluster, json_flag, table_flag, config):
    """Stop NAME... (or the containers named on stdin)."""
    rt = Runtime(config)
    if wants_cluster(rt, cluster):
        from ..cluster.containers import CLUSTER_COLUMNS  # lazy: ds01.cluster.containers, 7 ms
        from ..cluster.containers import stop as cancel  # lazy: ds01.cluster.containers, 7 ms

        return batch(names, lambda name: cancel(rt, name), new_output(json_flag, table_flag, CLUSTER_COLUMNS))

    def stop(rt, rec):
        stopped = stop_it(rt, rec, timeout=timeout, force=force)
        if verbose:
            sys.stderr.write(visible(_after_stop(rt, stopped)) + "\n")
        return stopped

    return each_container(rt, names, ACTIVE, "running", all_running, stop,
                          new_output(json_flag, table_flag, TABLE_COLUMNS))


def _after_stop(rt, rec):
    """What the hold timers do next to a stopped container (its owner's policy)."""
    limits = rt.limits(rec["user"]) if rec["user"] else None
    gpu = limits["gpu_hold_after_stop_h"] if limits else None
    keep = limits["container_hold_after_stop_h"] if limits else None
    held = (f"its GPU slots {', '.join(rec['gpus'])} stay held " + ("until it is removed" if gpu is None
                                                                      else f"for {gpu:g} h")
            if rec["gpus"] else "it holds no GPU")
    removal = "it is kept until you remove it" if keep is None else f"it is removed after {keep:g} h stopped"
    return (f"{rec['name']} is {rec['status']}: {held}; {removal} (workspace kept). "
            f"container-remove {rec['name']} frees everything now; container-start {rec['name']} resumes it.")


def main():
    run(cli)
