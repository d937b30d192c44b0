"""container-pause: freeze a container's processes; it keeps its GPU slots and its memory."""

import sys

import click

from ..container_verbs import pause
from ..containers import TABLE_COLUMNS
from ..runtime import Runtime
from ._common import config_option, each_container, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-pause thesis
  container-pause -a                       every running container of yours
  container-list | container-pause         the same, through a pipe
  container-pause                          pick from your running containers (terminal)
A paused container still holds its GPU slots and its memory. The lifecycle jobs stop a
container paused longer than max_pause_time_h (check-limits shows yours).
See also: container-unpause, container-stop, check-limits""")
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_running", is_flag=True, help="All your running containers.")
@output_options
@config_option
def cli(names, all_running, json_flag, table_flag, config):
    """Pause NAME... (or the containers named on stdin): processes freeze, nothing is lost."""
    rt = Runtime(config)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)
    limit = rt.limits(rt.caller.login).seconds("max_pause_time_h")
    code = each_container(rt, names, ("running",), "running", all_running, pause, out)
    if sys.stderr.isatty() and code == 0 and out.count:
        after = f"; it is stopped after {limit / 3600:g} h paused" if limit else ""
        sys.stderr.write(f"paused: GPU slots stay held{after}. Resume with: container-unpause\n")
    return code


def main():
    run(cli)
