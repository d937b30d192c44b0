"""ds01-slurm-shim: a cluster container's Slurm job program (the node's ds01d starts it in the job, waits, stops it)."""

import json
import sys

import click

from ..cluster.in_job import exec_in_job, remove_in_job, run_in_job
from ..errors import UsageError
from ..runtime import Runtime
from ._common import config_option, run


@click.command(context_settings={"ignore_unknown_options": True}, epilog="""\b
Examples:
  container-create thesis ds01-1000/thesis:latest --cluster --wait    submits a job that runs this shim
  (in the job, on its node) ds01-slurm-shim thesis ds01-1000/thesis:latest
  (in a step of the job) ds01-slurm-shim --exec thesis -- python3 train.py    what container-run --cluster runs
  (in a short job named thesis) ds01-slurm-shim --remove thesis    what container-remove thesis --cluster runs
Not for people: container-create NAME IMAGE --cluster submits a job that runs it on a node.
The node's ds01d believes only the kernel (who connected, in which job's cgroup) and the Slurm
controller (the job's owner, node and GPUs), never the job's environment; run by hand, outside a
job of yours named NAME, it is refused (exit 5).
See also: container-create, container-start, container-run, container-list, container-stop""")
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--exec", "run_command", is_flag=True,
              help="Run ARGS (a command) in NAME, the running container of this job, as you; exit with its code.")
@click.option("--workspace", help="The create's workspace directory (checked with your rights on this node).")
@click.option("--data", help="The create's data directory (read-only in the container).")
@click.option("--models", help="The create's models directory.")
@click.option("--remove", "remove", is_flag=True,
              help="Remove NAME, your stopped cluster container on this node (from a job of yours named NAME).")
@config_option
def cli(name, args, run_command, workspace, data, models, remove, config):
    """Create (from IMAGE, the first of ARGS) and start your container NAME in this Slurm job, or make it again
    in this job from its stopped self on this node; stop it when Slurm ends the job."""
    if run_command:
        sys.exit(exec_in_job(Runtime(config), name, list(args) or ["bash"]))
    if remove:
        if args:
            raise UsageError("--remove takes NAME only", hint="ds01-slurm-shim --remove NAME")
        sys.stdout.write(json.dumps(remove_in_job(Runtime(config), name), default=str) + "\n")
        return
    if len(args) > 1:
        raise UsageError(f"one IMAGE after NAME, not {len(args)} words", hint="ds01-slurm-shim NAME [IMAGE]")
    mounts = {key: value for key, value in (("workspace", workspace), ("data", data), ("models", models)) if value}
    sys.exit(run_in_job(Runtime(config), name, args[0] if args else None, mounts))


def main():
    run(cli)
