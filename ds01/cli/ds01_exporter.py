"""ds01-exporter: Prometheus metrics of the GPUs, containers, users and queue (root, systemd)."""

import click

from .. import exporter
from ..errors import PermissionDenied
from ..runtime import Runtime
from ._common import run


@click.command(epilog="""\b
Examples:
  ds01-exporter                              serve http://127.0.0.1:9101/metrics
  ds01-exporter --listen 0.0.0.0:9101        for a Prometheus on another host
  printf 'user = "ds01:%s"' "$(cat /etc/ds01/exporter.auth)" | curl -sK - localhost:9101/metrics
Every request needs HTTP basic auth: user ds01, the password in --auth-file (root's, mode
0640, group prometheus; Prometheus's scrape job reads it as its password_file), since the
metrics name every user's usage. Without that file it does not start. It runs in the
foreground (systemd: ds01-exporter.service) as root, like ds01d, and reads what gpu-status,
container-list and check-limits read: each scrape takes one snapshot, shared by scrapes within
--ttl seconds. Families keep DS01's names (ds01_gpu_allocated,
ds01_user_gpu_equivalents, ds01_containers_total, ...); docs/monitoring.md lists them all.
etc/prometheus/ has the scrape config and the recording and alert rules.
See also: ds01-doctor, gpu-status, container-list""")
@click.option("--listen", default="127.0.0.1:9101", show_default=True, metavar="HOST:PORT",
              help="Where to serve /metrics.")
@click.option("--ttl", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds a snapshot serves scrapes before the next is taken.")
@click.option("--auth-file", metavar="PATH", default="/etc/ds01/exporter.auth", show_default=True,
              help="The scrape password (root's file, readable by group prometheus only).")
@click.option("--config", "config", metavar="PATH", help="The policy (default $DS01_CONFIG, else "
                                                          "/etc/ds01/resource-limits.yaml).")
def cli(listen, ttl, auth_file, config):
    """Serve the metrics on HOST:PORT until SIGTERM."""
    if not Runtime(config).root:
        raise PermissionDenied("ds01-exporter runs as root", hint="systemctl start ds01-exporter")
    exporter.serve(exporter.parse_listen(listen), config, ttl, auth_file)


def main():
    run(cli)
