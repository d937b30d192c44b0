"""ds01-release-stale (cron): hold timers of stopped containers, and containers created but never started."""

import click

from ._common import run
from ._jobs import job_options, run_job


@click.command(epilog="""\b
Examples:
  ds01-release-stale --dry-run             what it would do now
  ds01-release-stale                       one pass (cron runs it every 15 minutes)
After gpu_hold_after_stop_h a stopped container no longer holds its GPU slots (it is kept;
container-start takes a free slot again). After container_hold_after_stop_h it is removed,
with its per-container image tag; the workspace is kept. A container created but never
started is removed after created_container_timeout_m. Only containers made by ds01, DS01
or AIME are ever removed, and those AIME's own mlc made only with policies.aime_containers:
ds01 (the default, keep, only frees their GPU). Nothing is killed and no GPU is reset.
See also: ds01-idle-check, ds01-max-runtime, gpu-release, ds01-events""")
@job_options(all_option=False)
def cli(dry_run, json_flag, table_flag, config):
    """One pass over stopped and never-started containers: a record each, then a summary."""
    from ..lifecycle.stale import ReleaseStale  # lazy: ds01.lifecycle.stale, 9 ms

    run_job(ReleaseStale, config, dry_run, json_flag, table_flag)


def main():
    run(cli)
