"""mlc-list: AIME's `mlc list` table, read through ds01's container records."""

import click

from .. import aime_format as F
from ..containers import is_listed, owned_by, record
from ..output import Output
from ..runtime import Runtime
from ._common import config_option
from ._mlc import aime_command
from ._mlc import main as aime_main


@aime_command("list")
@click.command(epilog="""\b
Examples:
  mlc-list                        your containers: CONTAINER FRAMEWORK STATUS
  mlc-list -a                     + USER SIZE ARCHITECTURE WORKSPACE DATA MODELS
  mlc-list -au                    every user's containers (+ USER)
  mlc-list --json                 records, like container-list
Differs from AIME: no colour codes; a comma in a label does not break the listing;
containers made by ds01, DS01 and AIME are all listed.
See also: container-list, mlc-stats, mlc-open""")
@click.option("-a", "--all", "all_columns", is_flag=True, help="Show all columns (still only your containers "
                                                               "without -au).")
@click.option("-au", "--all_users", is_flag=True, help="Every user's containers, with a USER column.")
@click.option("-arch", "--architecture", is_flag=True, help="Add the ARCHITECTURE column.")
@click.option("-d", "--data", is_flag=True, help="Add the DATA column.")
@click.option("-m", "--models", is_flag=True, help="Add the MODELS column.")
@click.option("-s", "--size", is_flag=True, help="Add the SIZE column (slower: Docker sums the layers).")
@click.option("-w", "--workspace", is_flag=True, help="Add the WORKSPACE column.")
@click.option("--json", "json_flag", is_flag=True, help="Container records (NDJSON) instead of AIME's table.")
@config_option
def cli(all_columns, all_users, architecture, data, models, size, workspace, json_flag, config):
    """List your AIME-style containers in AIME's format (-au: every user's)."""
    rt = Runtime(config, read_only=True)
    flags = {k for k, v in (("user", all_users), ("arch", architecture), ("data", data), ("models", models),
                            ("size", size), ("workspace", workspace)) if v}
    extra = F.list_columns(all_columns, flags)
    entries = rt.api.containers(all=True, size="size" in extra)
    chosen = []
    for entry in entries:
        if not is_listed(entry):
            continue
        rec = record(entry)
        if all_users or owned_by(rec, rt.caller):
            chosen.append((entry, rec))
    if json_flag:
        out = Output(json_flag=True)
        for _, rec in chosen:
            out.emit(rec)
        out.close()
        return 0
    if not chosen:
        click.echo(F.NO_CONTAINERS, nl=False)
        return 0
    titles = ["CONTAINER", "FRAMEWORK", "STATUS"] + [F.LIST_COLUMNS[k][0] for k in extra]
    click.echo(F.table(titles, F.list_rows([e for e, _ in chosen], extra, rt.caller.home)), nl=False)
    return 0


def main():
    aime_main(cli)


MAN_OUTPUT = ("AIME's table, byte for byte: a blank line, a header, one line per container, a blank line; each "
              "column (the last too, trailing spaces kept) is as wide as its longest value plus two. CONTAINER "
              "shows [NAME]. With --json, container records.")
