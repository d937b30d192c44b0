"""ds01-doctor (DS01's ds01-health): is this host set up for ds01, one record per check."""

import click

from .. import doctor
from ..errors import PermissionDenied
from ..policy import Policy
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("check", "CHECK"), ("status", "STATUS"), ("message", "WHAT"), ("hint", "HINT")]


@click.command(epilog="""\b
Examples:
  ds01-doctor                      every check, a table on a terminal
  ds01-doctor --json | jq 'select(.status != "OK")'
  ds01-doctor --strict             exit 1 on any WARN too (the upgrade's gate)
Checks: the Docker engine, the NVIDIA hook on its PATH (a FAIL where there are GPUs), the
cgroup driver against the policy, who can reach the Docker socket, free space on Docker's
data-root, NVML (driver, persistence mode, pending MIG changes), /dev/nvidia* modes, nosuid
where a group has sudo, the state and log dirs, the policy and where it came from, group
members' accounts, the name users reach the server by (access_control.ssh_host), ds01d, the
lifecycle schedule (cron or timers, as shipped, and a cron daemon or systemd that runs them;
processes are read from DIR/proc with --root) and the exporter. Each says OK, WARN or FAIL
with a hint; nothing is changed. On a terminal the table wraps to its width ($COLUMNS).
Exit 0 unless a check FAILs (or, with --strict, WARNs).
See also: resource-limits, check-limits, ds01-events""")
@click.option("--strict", is_flag=True, help="A WARN fails too (exit 1).")
@click.option("--root", "root", metavar="DIR", default="/", show_default=True,
              help="Read the host's files (/etc, /dev) under DIR: a staged or mounted system.")
@click.option("--exporter", metavar="URL", help="The exporter to ask (default http://127.0.0.1:9101/metrics).")
@output_options
@config_option
def cli(strict, root, exporter, json_flag, table_flag, config):
    """Check the host, the engine and ds01's own set-up; a record per check."""
    rt = Runtime(config)
    host = doctor.Host(rt, root=root, exporter=exporter or doctor.EXPORTER)
    try:
        rt.policy  # noqa: B018 - loaded here so a broken one is the policy check's FAIL, not the end
    except Exception as exc:  # noqa: BLE001 - PolicyError, NotFound: reported, then the defaults
        host.policy_error = getattr(exc, "message", None) or str(exc)
        rt.__dict__["policy"] = Policy(path="<embedded defaults>", data={})
    if not rt.admin:
        raise PermissionDenied("ds01-doctor is for admins", hint="check-limits shows your own set-up")
    checks = doctor.run(host)
    out = new_output(json_flag, table_flag, COLUMNS)
    out.wrap = ("message", "hint")  # long free text: it wraps to fit the terminal
    for check in checks:
        out.emit(check.record())
    out.close()
    return doctor.worst(checks, strict)


def main():
    run(cli)
