"""ds01-protect: (admins) keep the lifecycle jobs away from a container: no idle stop, no removal."""

import click

from .. import protection
from ..errors import PermissionDenied, UsageError
from ..runtime import Runtime
from ._common import batch, config_option, new_output, output_options, read_targets, run

COLUMNS = [("container", "CONTAINER"), ("user", "USER"), ("protected", "PROTECTED"), ("by", "BY"), ("at", "SINCE"),
           ("reason", "REASON")]


@click.command(epilog="""\b
Examples:
  ds01-protect thesis._.1001 --reason "defence on Friday"
  ds01-protect --list                     every protected container
  ds01-protect --off thesis._.1001        the usual limits apply again
  container-list -a --user alice --json | ds01-protect --reason "thesis"
A protected container is never stopped as idle or for its running time, never removed
and never loses its GPU by ds01-idle-check, ds01-max-runtime or ds01-release-stale.
Only admins decide it; it is kept in the state dir by container ID and ends with the
container. Labels in an image or a Dockerfile never protect anything.
See also: ds01-idle-check, ds01-max-runtime, ds01-release-stale, container-list""")
@click.argument("names", nargs=-1)
@click.option("--off", is_flag=True, help="End the protection instead.")
@click.option("--reason", metavar="TEXT", help="Why (shown to admins and in the jobs' records).")
@click.option("--list", "list_flag", is_flag=True, help="List the protected containers; change nothing.")
@output_options
@config_option
def cli(names, off, reason, list_flag, json_flag, table_flag, config):
    """Protect NAME... (containers, by full name or the owner's short name) from the lifecycle jobs."""
    rt = Runtime(config)
    if not rt.admin:
        raise PermissionDenied("only admins protect containers", hint="ask an admin; ds01-events shows what the "
                               "lifecycle jobs did to yours")
    out = new_output(json_flag, table_flag, COLUMNS)
    if list_flag:
        if names or off or reason:
            raise UsageError("--list takes no names, --off or --reason")
        protections = protection.load(rt)
        for rec in sorted(rt.finder.records(), key=lambda r: r["container"]):
            entry = next((e for cid, e in protections.items() if cid.startswith(rec["id"])), None)
            if entry is not None:
                out.emit(protection.record(rec, entry))
        out.close()
        return 0
    if off and reason:
        raise UsageError("--reason goes with protecting, not with --off")
    return batch(read_targets(names), lambda target: protection.change(rt, rt.finder.find(target), not off, reason),
                 out)


def main():
    run(cli)
