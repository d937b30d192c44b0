"""container-retire: stop + remove + free the GPU in one step; workspace files are never touched."""

import sys

import click

from ..containers import ACTIVE, INACTIVE, TABLE_COLUMNS
from ..errors import UsageError
from ..output import is_tty
from ..retire import retire
from ..runtime import Runtime
from ._cluster import cluster_option, wants_cluster
from ._common import batch, config_option, container_targets, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-retire thesis                  asks first on a terminal
  container-list | container-retire --force   every running container of yours
  container-retire thesis --save-packages  keep what you pip-installed: into your image first
  container-retire thesis --images         also delete its image (yours only, if unused)
  container-retire thesis --dry-run        what would happen
  container-retire thesis --skip-initial-confirm   no "Retire?" question (DS01's post-session retire)
  container-retire thesis --cluster        a cluster container: cancel its job, remove it on its node
The GPU slots are free at once (gpu-status shows them). Files under the workspace stay.
See also: container-deploy, container-stop, container-remove, image-delete""")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="No question; running containers are stopped too.")
@click.option("--save-packages", is_flag=True,
              help="Commit Python packages installed since creation to your image (shows them first).")
@click.option("--images", "delete_image", is_flag=True, help="Also delete the container's image if it is yours and "
                                                             "unused.")
@click.option("-a", "--all", "all_containers", is_flag=True, help="All your containers.")
@click.option("-t", "--timeout", default=10, show_default=True, type=click.IntRange(0, 3600),
              help="Seconds a running container gets to stop before it is killed.")
@click.option("--dry-run", is_flag=True, help="Print what would happen and change nothing.")
@click.option("--skip-initial-confirm", "confirmed", is_flag=True,
              help="(DS01) Do not ask whether to retire: yes, running containers too; other questions (save "
                   "packages) are still asked on a terminal.")
@cluster_option("Cluster containers: cancel the job (freeing its GPUs), remove the container on its node by a "
                "short Slurm job of yours, forget it")
@output_options
@config_option
def cli(names, force, save_packages, delete_image, all_containers, timeout, dry_run, confirmed, cluster, json_flag,
        table_flag, config):
    """Retire NAME... (or the containers named on stdin): stop, remove, free the GPU."""
    rt = Runtime(config)
    if wants_cluster(rt, cluster):
        from ..cluster.containers import CLUSTER_COLUMNS, remove  # lazy: ds01.cluster.containers, 7 ms

        if save_packages or delete_image or all_containers or dry_run or not names:
            raise UsageError("--cluster takes NAME...; not --save-packages, --images, --all or --dry-run",
                             hint="container-list --cluster; container-retire NAME --cluster")
        return batch(names, lambda name: dict(remove(rt, name, cancel=True), retired=True),
                     new_output(json_flag, table_flag, CLUSTER_COLUMNS + [("retired", "RETIRED")]))
    targets = container_targets(rt, names, (*ACTIVE, *INACTIVE), "existing", all_containers)
    ask = not force and not dry_run and is_tty(sys.stdin) and is_tty(sys.stderr)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS + [("retired", "RETIRED")])
    confirm = (lambda question, default: click.confirm(question, default=default, err=True)) if ask else None

    def retire_one(target):
        return retire(rt, rt.finder.find(target), force=force, timeout=timeout, save_packages=save_packages,
                      delete_image=delete_image, dry_run=dry_run, confirm=confirm, confirmed=confirmed)

    return batch(targets, retire_one, out)


def main():
    run(cli)


MAN_OUTPUT = ("One record per container: the container record with status \"removed\", retired (true, or false "
              "when you said no), gpus_freed, image_deleted and packages_saved ({added, upgraded, image}); "
              "with --dry-run, would lists the steps.")
