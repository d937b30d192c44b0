"""container-stop: stop containers; the GPU stays held until the hold timer or removal."""

import click

from ._common import batch, config_option, container_targets, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-stop thesis
  container-list | container-stop          stop all your running containers
  container-stop -a -t 30 --force
  container-stop                           pick from your running containers (terminal)
See also: container-start, container-remove""")
@click.argument("names", nargs=-1)
@click.option("-t", "--timeout", default=10, show_default=True, type=click.IntRange(0, 3600),
              help="Seconds to wait after the stop signal.")
@click.option("-f", "--force", is_flag=True, help="Kill the container if it is still running after the timeout.")
@click.option("-a", "--all", "all_running", is_flag=True, help="All your running containers.")
@output_options
@config_option
def cli(names, timeout, force, all_running, json_flag, table_flag, config):
    """Stop NAME... (or the containers named on stdin)."""
    from ..containers import ACTIVE, TABLE_COLUMNS, record
    from ..runtime import Runtime

    rt = Runtime(config)
    targets = container_targets(rt, names, ACTIVE, "running", all_running)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)

    def stop(target):
        rec = rt.finder.find(target)
        if rec["status"] in ACTIVE:
            rt.progress(f"stopping {rec['name']} ...")
            rt.engine.stop(rec["id"], timeout=timeout, force=force)
        return record(rt.api.inspect_container(rec["id"]))

    return batch(targets, stop, out)


def main():
    run(cli)
