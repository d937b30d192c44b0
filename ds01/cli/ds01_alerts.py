"""ds01-alerts: your pending notices (from admins and the lifecycle jobs), and acknowledging them."""

import sys

import click

from .. import alerts
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("time", "TIME"), ("container", "CONTAINER"), ("title", "TITLE"), ("text", "TEXT")]


@click.command(epilog="""\b
Examples:
  ds01-alerts             what is pending
  ds01-alerts --clear     show them, then mark them read
Notices are what ds01-notify and the lifecycle jobs (idle, runtime, hold warnings) appended to
/workspace/.ds01-alerts in your containers; --clear moves them to /workspace/.ds01-alerts.read.
See also: check-limits, ds01-events""")
@click.option("--clear", "--clean", "clear", is_flag=True, help="Mark the notices shown as read.")
@output_options
@config_option
def cli(clear, json_flag, table_flag, config):
    """Your pending notices, oldest first in each workspace."""
    found = alerts.pending(Runtime(config), acknowledge=clear)
    out = new_output(json_flag, table_flag, COLUMNS)
    for notice in found:
        out.emit(notice)
    out.close()
    if not found and is_tty(sys.stderr):
        sys.stderr.write("no pending notices\n")


def main():
    run(cli)
