"""dashboard: a live view of the server: GPU slots and holders, users against quota, the queue, the latest events."""

import json
import sys

import click

from ..errors import UsageError
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, run


@click.command(epilog="""\b
Examples:
  dashboard                    the live view, redrawn every 2 s (q or Ctrl-C quits)
  dashboard --watch 5          every 5 s
  dashboard --once             one frame, as it scrolls
  dashboard --json | jq .users one record: gpus, users, queue, events
Everyone sees every slot and its holder, as gpu-status shows them; the users'
shares and the events are your own unless you are an admin. Colours follow
NO_COLOR; narrow terminals drop the less needed columns.
With --cluster: every node's GPUs, the queue in Slurm's order with its reasons,
fair share and your cluster containers, read from Slurm; an error (exit 1),
never an empty cluster, while the controller does not answer.
  dashboard --cluster --once   one frame of the cluster
See also: gpu-status, gpu-user-status, gpu-queue, container-stats, ds01-events""")
@click.option("--watch", type=click.FloatRange(min=0.2), is_flag=False, flag_value=2.0, default=None,
              metavar="[SECONDS]", help="Refresh every SECONDS (default 2; the default on a terminal).")
@click.option("--once", is_flag=True, help="Draw one frame and exit.")
@click.option("--json", "json_flag", is_flag=True, help="One JSON record (a record per refresh with --watch).")
@click.option("--cluster", is_flag=True, help="The Slurm cluster: nodes, GPUs, queue, fair share, your cluster "
                                              "containers (an error while the controller is silent).")
@config_option
def cli(watch, once, json_flag, cluster, config):
    """GPUs, users, the queue and events, drawn live on a terminal, one JSON record when piped."""
    from .. import dashboard, live  # lazy: ds01.live, 1 ms

    if once and watch is not None:
        raise UsageError("--once draws one frame; --watch refreshes: choose one")
    from ..live_view import serve_reads  # lazy: ds01.live_view, 1 ms

    rt = serve_reads(Runtime(config, read_only=True))  # ds01d's live view of the engine (ds01/live_view.py)
    view = dashboard.cluster_view if cluster else dashboard.view
    draw = dashboard.cluster_frame if cluster else dashboard.frame
    as_json = json_flag or not is_tty(sys.stdout)
    if as_json:
        def write():
            sys.stdout.write(json.dumps(view(rt), default=str) + "\n")
            sys.stdout.flush()

        if watch is None:
            write()
            return 0
        return live.repeat(write, watch)
    if once:
        live.show_once(lambda width: draw(view(rt), width))
        return 0
    return live.watch(lambda width: draw(view(rt), width), watch or 2.0)


def main():
    run(cli)
