"""ds01-backup: what docs/admin.md says to back up, as one archive (root)."""

import click

from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  ds01-backup                               ./ds01-backup-YYYYmmdd-HHMMSS.tar.gz
  ds01-backup -o /srv/backup/ds01.tar.gz
The archive holds policy/ (the policy file's directory: the policy, groups/*.members, overrides),
state/ (the state directory: claims, releases, queue, protections, the jobs' memory) and log/
(events.jsonl and its rotations). Symbolic links are skipped, never followed. Users' workspaces
are not in it: back up /home with the host's tools. Root only; the file is made 0600.
See also: ds01-doctor, ds01-events""")
@click.option("-o", "--output", metavar="PATH", help="The archive to write (a new file).")
@output_options
@config_option
def cli(output, json_flag, table_flag, config):
    """Write a tar.gz of ds01's policy, state and event log."""
    from .. import backup  # lazy: ds01.backup, 8 ms

    rt = Runtime(config)
    record = backup.write(rt, output or backup.default_name(rt.now()))
    out = new_output(json_flag, table_flag, [("archive", "ARCHIVE"), ("files", "FILES"), ("bytes", "BYTES"),
                                             ("skipped", "SKIPPED")])
    out.emit(record)
    out.close()


def main():
    run(cli)
