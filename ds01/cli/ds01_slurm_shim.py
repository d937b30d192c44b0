"""ds01-slurm-shim: a cluster container's Slurm job program (the node's ds01d starts it in the job, waits, stops it)."""

import click

from ._common import config_option, run


@click.command(epilog="""\b
Examples:
  container-create thesis ds01-1000/thesis:latest --cluster --wait    submits a job that runs this shim
  (in the job, on its node) ds01-slurm-shim thesis ds01-1000/thesis:latest
Not for people: container-create NAME IMAGE --cluster submits a job that runs it on a node.
The node's ds01d believes only the kernel (who connected, in which job's cgroup) and the Slurm
controller (the job's owner, node and GPUs), never the job's environment; run by hand, outside a
job of yours named NAME, it is refused (exit 5).
See also: container-create, container-list, container-stop""")
@click.argument("name")
@click.argument("image", required=False)
@config_option
def cli(name, image, config):
    """Create (from IMAGE) and start your container NAME in this Slurm job; stop it when Slurm ends the job."""
    import sys

    from ..cluster.containers import run_in_job
    from ..runtime import Runtime

    sys.exit(run_in_job(Runtime(config), name, image))


def main():
    run(cli)
