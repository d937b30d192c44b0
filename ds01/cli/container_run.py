"""container-run: a shell (or one command) in your container, started if needed;
stopped again when the last session leaves it idle."""

import sys

import click

from ..errors import UsageError
from ..runtime import Runtime
from ._cluster import cluster_option, wants_cluster
from ._common import config_option, mark_missing_name, run, session


@click.command(context_settings={"ignore_unknown_options": True}, epilog="""\b
Examples:
  container-run thesis                       a shell in /workspace as you
  container-run thesis -- python3 train.py --epochs 3
  container-run thesis -- nvidia-smi -L      exit code is the command's
  container-run                              pick from your containers (terminal)
  container-run thesis --cluster -- nvidia-smi    on its node, in its Slurm job
When the last session exits and nothing else runs in the container, it is stopped
(a background job keeps it running). --keep never stops it.
See also: container-attach, container-exit, container-stop, container-deploy""")
@click.argument("name", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--keep", is_flag=True, help="Leave the container running after the session.")
@cluster_option("A cluster container (running): the session runs on its node, in its Slurm job, through that "
                "node's ds01d")
@config_option
def cli(name, command, keep, cluster, config):
    """Open a shell in container NAME as you, in /workspace; `-- COMMAND...` runs one command instead."""
    if cluster is not False:
        rt = Runtime(config)
        if wants_cluster(rt, cluster):
            from ..cluster.containers import run_command  # lazy: ds01.cluster.containers, 7 ms

            if not name:
                raise UsageError("--cluster needs the container's NAME", hint="container-list --cluster")
            return run_command(rt, name, list(command))
    return session(name, command, keep, config, start=True)


def main():
    run(cli, mark_missing_name(sys.argv[1:]))


MAN_OUTPUT = ("The session's own output. With -- COMMAND, the exit status is COMMAND's; the note about "
              "the container after the session goes to standard error.")
