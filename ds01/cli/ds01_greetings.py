"""ds01-greetings: (root, cron) write each user's one-line login greeting, so that a login only reads a file."""

import click

from .. import greeting
from ..errors import PermissionDenied
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  ds01-greetings                 write them (cron runs this every few minutes)
  ds01-greetings --json          and say what was written or removed
A user with containers or GPUs gets <greeting dir>/<uid> (owned by them, read-only),
printed by /etc/profile.d/ds01.sh on interactive logins; everyone else's file is
removed, so a login with nothing to say prints nothing. Users turn it off with
DS01_GREETING=off or ~/.config/ds01/no-greeting; the policy's greeting.enabled:
false turns it off for everyone (the files are removed).
See also: container-list, gpu-user-status, ds01-idle-check""")
@click.option("--dir", "directory", metavar="DIR", help="Where the greetings go (default: the greeting_dir "
              "setting, /run/ds01/greetings).")
@output_options
@config_option
def cli(directory, json_flag, table_flag, config):
    """Write the login greeting of every user with something to say; remove the others'."""

    rt = Runtime(config)
    if not rt.root:  # the caller the kernel named: a ds01d worker's own root does not count
        raise PermissionDenied("ds01-greetings writes every user's greeting: it runs as root (cron)")
    enabled = (rt.policy.section("greeting") or {}).get("enabled", True) is not False
    out = new_output(json_flag, table_flag, [("user", "USER"), ("uid", "UID"), ("written", "WRITTEN"),
                                             ("line", "LINE")])
    for record in greeting.write(rt, directory or rt.settings.get("greeting_dir"), enabled):
        out.emit(record)
    out.close()
    return 0


def main():
    run(cli)
