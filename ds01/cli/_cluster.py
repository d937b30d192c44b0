"""`--cluster/--no-cluster`, one option for every container command that acts on cluster containers.

Neither given: the policy's `cluster.default` decides (ds01.cluster.model.use_cluster), so a lab whose containers
all live on Slurm types the commands it knows, and `--no-cluster` still reaches the single server.
"""

import click

from ..cluster.model import use_cluster


def cluster_option(help_text):
    """The `--cluster/--no-cluster` option (None when neither is given); `help_text` says what --cluster does."""
    return click.option("--cluster/--no-cluster", "cluster", default=None,
                        help=f"{help_text} (--no-cluster: this server; neither: the policy's cluster.default).")


def wants_cluster(rt, flag):
    """`flag` (True, False or None) resolved against the policy: whether the command acts on the cluster."""
    return use_cluster(rt, flag)
