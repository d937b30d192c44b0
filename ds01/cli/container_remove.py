"""container-remove: remove stopped containers and their per-container image tags; workspaces are kept."""

import click

from ._common import batch, config_option, new_output, output_options, read_targets, run, warn


@click.command(epilog="""\b
Examples:
  container-remove thesis
  container-list -a | container-remove     remove all your stopped containers
  container-remove thesis --force          stop it first if it is running
Your workspace directory is never touched.
See also: container-stop, container-list""")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Also remove running containers (they are killed).")
@click.option("-a", "--all", "all_stopped", is_flag=True, help="All your stopped and created containers.")
@output_options
@config_option
def cli(names, force, all_stopped, json_flag, table_flag, config):
    """Remove NAME... (or the containers named on stdin)."""
    from ..containers import TABLE_COLUMNS, owned_by
    from ..errors import Ds01Error
    from ..runtime import Runtime

    rt = Runtime(config)
    if all_stopped:
        targets = [r["container"] for r in rt.finder.records()
                   if owned_by(r, rt.caller) and r["status"] in ("exited", "created", "dead")]
    else:
        targets = read_targets(names)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)

    def remove(target):
        rec = rt.finder.find(target)
        if rec["status"] in ("running", "paused", "restarting") and not force:
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
