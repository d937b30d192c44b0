"""gpu-queue: who is waiting for a GPU slot, in the order they will be served."""

import datetime

import click

from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  gpu-queue
  container-create exp IMAGE --wait       joins the queue
  gpu-queue --cluster                     Slurm's pending jobs, its order and reasons
Order: higher priority first, then arrival. A waiter whose request does not fit the
free slots does not hold back those behind it.
See also: gpu-status, container-create""")
@click.option("--cluster", is_flag=True, help="Slurm's pending cluster jobs in its order (priority), with its "
                                              "reason: Resources, Priority, QOSMaxGRESPerUser, ...")
@output_options
@config_option
def cli(cluster, json_flag, table_flag, config):
    """One record per waiting request: position, user, priority, request, waiting since."""
    from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms

    if cluster:
        from ..cluster.status import queue_records  # lazy: ds01.cluster.status, 7 ms

        out = new_output(json_flag, table_flag, [("position", "POS"), ("job", "JOB"), ("user", "USER"),
                                                 ("priority", "PRIORITY"), ("num_gpus", "GPUS"),
                                                 ("gpu_type", "TYPE"), ("container", "FOR"), ("reason", "REASON"),
                                                 ("waiting_since", "SINCE")])
        for rec in queue_records(Runtime(config, read_only=True)):
            out.emit(rec)
        return out.close(empty="nothing is waiting on the cluster")

    allocator = Allocator(Runtime(config, read_only=True))
    out = new_output(json_flag, table_flag, [("position", "POS"), ("user", "USER"), ("priority", "PRIORITY"),
                                             ("num_gpus", "GPUS"), ("gpu_profile", "PROFILE"),
                                             ("container", "FOR"), ("waiting_since", "SINCE")])
    for position, entry in enumerate(allocator.queue(), 1):
        since = datetime.datetime.fromtimestamp(entry["enqueued_at"], datetime.timezone.utc)
        out.emit({"position": position, "id": entry["id"], "user": entry["user"], "priority": entry["priority"],
                  "num_gpus": entry.get("num_gpus"), "gpu_profile": entry.get("gpu_profile"),
                  "full_gpu": entry.get("full_gpu"), "container": entry.get("container"),
                  "waiting_since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "pid": entry.get("pid")})
    out.close(empty="nobody is waiting")


def main():
    run(cli)
