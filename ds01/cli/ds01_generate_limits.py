"""ds01-generate-limits: each user's per-user totals as a systemd slice drop-in, on systemd-driver hosts."""

import click

from ..cgroups import UNIT_DIR, sync_dropins
from ..errors import PermissionDenied
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("user", "USER"), ("slice", "SLICE"), ("action", "ACTION"), ("path", "DROP-IN")]


@click.command(epilog="""\b
Examples:
  ds01-generate-limits --dry-run         what would be written
  ds01-generate-limits                   write them, then systemctl daemon-reload
  ds01-generate-limits --output /tmp/u   write them elsewhere (for systemd-analyze verify)
On a host whose Docker uses the systemd cgroup driver (enforcement.cgroup_driver: systemd)
each user's containers sit in the slice ds01-<group>-<user>.slice, and the policy's
`aggregate` totals (memory_max, memory_high, cpu_quota, tasks_max) are that slice's
properties: /etc/systemd/system/<slice>.d/50-ds01.conf. Users are the policy's group
members and overrides, and the owners of existing containers. Drop-ins of users with no
totals, or no longer known, are removed; files ds01 did not write are never touched.
Every container start also writes its owner's. Cgroupfs hosts need none of this: the
totals are written into the parent cgroup before every start.
See also: check-limits, resource-limits""")
@click.option("--output", "directory", metavar="DIR", help="Where the drop-ins go (default /etc/systemd/system).")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@output_options
@config_option
def cli(directory, dry_run, json_flag, table_flag, config):
    """Write (or remove) every user's slice drop-in from the policy's aggregate limits."""
    rt = Runtime(config)
    if not rt.root:
        raise PermissionDenied("only root writes systemd drop-ins", hint="sudo ds01-generate-limits")
    logins = {m for members in rt.policy.members.values() for m in members} | set(rt.policy.overrides)
    logins |= {user for r in rt.finder.records() if (user := r.get("user"))}
    out = new_output(json_flag, table_flag, COLUMNS)
    for record in sync_dropins(rt, logins, directory or UNIT_DIR, dry_run=dry_run, prune=True):
        out.emit({**record, "dry_run": dry_run})
    out.close()


def main():
    run(cli)
