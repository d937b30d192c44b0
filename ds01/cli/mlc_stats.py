"""mlc-stats: AIME's `mlc stats` table for the running containers you may see."""

import click

from .. import aime_format as F
from ..containers import owned_by
from ..errors import Ds01Error
from ..runtime import Runtime
from ._common import config_option
from ._mlc import aime_command
from ._mlc import main as aime_main


@aime_command("stats")
@click.command(epilog="""\b
Examples:
  mlc-stats
  mlc stats
Differs from AIME: lists your running containers (admins: every user's), not every
container on the host; samples are taken in parallel.
See also: container-list, gpu-status, mlc-list""")
@config_option
def cli(config):
    """CPU, memory and process counts of your running containers, in AIME's format."""
    from concurrent.futures import ThreadPoolExecutor  # lazy: concurrent.futures, 4 ms

    rt = Runtime(config, read_only=True)
    running = [r for r in rt.finder.records()
               if r["status"] == "running" and (rt.admin or owned_by(r, rt.caller))]
    if not running:
        click.echo(F.NO_RUNNING, nl=False)
        return 0

    def sample(rec):
        try:
            return F.stats_row(rec["name"], rt.api.stats(rec["id"]))
        except Ds01Error:  # stopped between the listing and the sample
            return None

    with ThreadPoolExecutor(max_workers=min(8, len(running))) as pool:
        rows = [row for row in pool.map(sample, running) if row]
    click.echo(F.stats_table(rows), nl=False)
    return 0


def main():
    aime_main(cli)


MAN_OUTPUT = ("AIME's layout, byte for byte: a blank line, \"Current stats of the running containers:\", then "
              "fixed-width columns (30/10/25/10/15, trailing spaces kept): CONTAINER, CPU %, MEM USAGE / LIMIT, "
              "MEM %, PROCESSES (PIDs); a blank line.")
