"""container-remove: remove stopped containers and their per-container image tags; workspaces are kept."""

import click

from ._common import batch, config_option, container_targets, new_output, output_options, run, warn


@click.command(epilog="""\b
Examples:
  container-remove thesis
  container-list -a | container-remove     remove all your stopped containers
  container-remove thesis --force          stop it first if it is running
  container-remove                         pick from your stopped containers (terminal)
Your workspace directory is never touched.
See also: container-stop, container-list""")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Also remove running containers (they are killed).")
@click.option("-a", "--all", "all_stopped", is_flag=True, help="All your stopped and created containers.")
@output_options
@config_option
def cli(names, force, all_stopped, json_flag, table_flag, config):
    """Remove NAME... (or the containers named on stdin)."""
    from ..containers import ACTIVE, INACTIVE, TABLE_COLUMNS
    from ..errors import Ds01Error
    from ..runtime import Runtime

    rt = Runtime(config)
    targets = container_targets(rt, names, INACTIVE, "stopped", all_stopped)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)

    def remove(target):
        rec = rt.finder.find(target)
        if rec["status"] in ACTIVE and not force:
            raise Ds01Error(f"{rec['name']} is {rec['status']}",
                            hint=f"container-stop {rec['name']} first, or container-remove --force")
        note = rt.engine.remove(rec["id"], force=force)
        if note:
            warn(note)
        rec["status"] = "removed"
        return rec

    return batch(targets, remove, out)


def main():
    run(cli)
