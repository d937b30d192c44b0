"""ds01-upgrade: (root) install a new build beside the old, switch only if its ds01-doctor --strict passes."""

import os
import sys

import click

from .. import upgrade
from ..errors import Ds01Error, PermissionDenied
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  ds01-upgrade /srv/src/ds01              the checkout of the new version
  ds01-upgrade /srv/src/ds01 --doctor-arg=--exporter --doctor-arg=http://127.0.0.1:9101/metrics
The new build goes to /opt/ds01/<version>-<commit> beside the one in use. Its own
ds01-doctor --strict must pass on this host (every check OK) before /opt/ds01/current
is switched to it and ds01d and ds01-exporter are restarted; a failed gate removes the
new build and changes nothing, and a ds01d that does not come back puts the old build
back. Going back by hand: docs/admin.md, "Upgrade and rollback".
See also: ds01-doctor, version""")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--prefix", default="/opt/ds01", show_default=True, help="Where the builds live.")
@click.option("--sysconfdir", default="/etc", show_default=True, help="Where the system files go.")
@click.option("--destdir", default="", help="A staging root (packaging, tests): nothing is restarted.")
@click.option("--doctor-arg", "doctor_args", multiple=True, metavar="ARG",
              help="Passed to the new build's ds01-doctor (--root, --exporter); repeatable.")
@click.option("--install-arg", "install_args", multiple=True, metavar="ARG",
              help="Passed to the installer (--mandir, --bashcompdir, --zshcompdir); repeatable.")
@click.option("--no-restart", is_flag=True, help="Switch, but leave the services to the admin.")
@output_options
@config_option
def cli(source, prefix, sysconfdir, destdir, doctor_args, install_args, no_restart, json_flag, table_flag, config):
    """Upgrade to the build in SOURCE, gated by its ds01-doctor --strict; the old build stays on any failure."""
    if not Runtime(config).root:  # the caller the kernel named: a ds01d worker's own root does not count
        raise PermissionDenied("ds01-upgrade installs for everyone: run it as root")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

    def say(text):
        sys.stderr.write(f"ds01-upgrade: {text}\n")

    record = upgrade.upgrade(os.path.abspath(source), prefix, sysconfdir, destdir, python, list(doctor_args),
                             not no_restart, say, list(install_args))
    out = new_output(json_flag, table_flag, [("from", "FROM"), ("to", "TO"), ("gate", "GATE"),
                                             ("switched", "SWITCHED"), ("restarted", "RESTARTED")])
    out.emit(record)
    out.close()
    if record.get("rolled_back"):
        raise Ds01Error(f"went back to {record['from']}: {record['to']}'s services did not come up under systemd"
                        + ("" if record["restarted"] else f", and {record['from']}'s did not either"),
                        hint="journalctl -u ds01d -u ds01-exporter says why")
    if not record["switched"]:
        failed = "; ".join(f"{f['check']} {f['status']}: {f['message']}" for f in record["failed"])
        raise Ds01Error(f"stayed on {record['from'] or 'nothing'}: "
                        + (f"the new build's doctor found {failed}" if failed else " ".join(record.get("error") or
                                                                                          ["the upgrade failed"])),
                        hint="ds01-doctor --strict on this host says what to fix")
    return 0


def main():
    run(cli)
