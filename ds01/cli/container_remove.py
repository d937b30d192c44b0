"""container-remove: remove stopped containers and their per-container image tags; workspaces are kept."""

import click

from ..container_verbs import remove as remove_it
from ..container_verbs import would_remove
from ..containers import INACTIVE, TABLE_COLUMNS
from ..errors import UsageError
from ..retire import delete_own_image
from ..runtime import Runtime
from ._cluster import cluster_option, wants_cluster
from ._common import batch, config_option, each_container, new_output, output_options, run, warn


@click.command(epilog="""\b
Examples:
  container-remove thesis
  container-list -a | container-remove     remove all your stopped containers
  container-remove thesis --force          stop it first if it is running
  container-remove thesis --images         also delete its image (yours only, if no other container uses it)
  container-remove thesis -v --dry-run     what would go, its anonymous volumes included; nothing changes
  container-remove                         pick from your stopped containers (terminal)
  container-remove thesis --cluster        a cluster container: removed on its node (a short job of yours)
  container-remove thesis --cluster --force   cancel its job first if it still runs
Your workspace directory is never touched. DS01's --skip-removal-confirm and
--skip-save-prompt are accepted: container-remove never asks (container-retire
--save-packages keeps installed packages).
See also: container-stop, container-retire, container-list""")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Also remove running containers (they are killed).")
@click.option("-a", "--all", "all_stopped", is_flag=True, help="All your stopped and created containers.")
@click.option("-i", "--images", "delete_image", is_flag=True,
              help="Also delete each container's image if it is yours and no other container uses it.")
@click.option("-v", "--volumes", is_flag=True,
              help="Also remove the anonymous volumes Docker made for the container (named volumes stay).")
@click.option("--dry-run", is_flag=True, help="Print what would be removed and change nothing.")
@click.option("--skip-removal-confirm", is_flag=True, help="(DS01) Accepted; container-remove never asks.")
@click.option("--skip-save-prompt", is_flag=True, help="(DS01) Accepted; container-remove never asks.")
@cluster_option("Cluster containers: removed on their node by a short Slurm job of yours, then forgotten "
                "(refused while the job runs unless --force, which cancels it first)")
@output_options
@config_option
def cli(names, force, all_stopped, delete_image, volumes, dry_run, skip_removal_confirm, skip_save_prompt, cluster,
        json_flag, table_flag, config):
    """Remove NAME... (or the containers named on stdin)."""
    rt = Runtime(config, read_only=dry_run)
    if wants_cluster(rt, cluster):
        return _cluster_remove(rt, names, force, all_stopped or delete_image or volumes or dry_run, json_flag,
                               table_flag)

    def remove(rt, rec):
        if dry_run:
            return dict(rec, would=would_remove(rt, rec, force=force, volumes=volumes)
                        + ([f"delete image {rec['image']} if yours and unused"] if delete_image else []))
        removed = remove_it(rt, rec, force=force, volumes=volumes, warn=warn)
        if delete_image:
            removed["image_deleted"] = delete_own_image(rt, removed)
        return removed

    return each_container(rt, names, INACTIVE, "stopped", all_stopped, remove,
                          new_output(json_flag, table_flag, None if dry_run else TABLE_COLUMNS))


def _cluster_remove(rt, names, force, unsupported, json_flag, table_flag):
    from ..cluster.containers import CLUSTER_COLUMNS, remove  # lazy: ds01.cluster.containers, 7 ms

    if unsupported or not names:
        raise UsageError("--cluster takes NAME... and --force; not --all, --images, --volumes or --dry-run",
                         hint="container-list --cluster; container-remove NAME --cluster")
    return batch(names, lambda name: remove(rt, name, cancel=force), new_output(json_flag, table_flag,
                                                                                CLUSTER_COLUMNS))


def main():
    run(cli)
