"""ds01-max-runtime (cron): stop containers past max_runtime_h (summed over restarts) or paused too long."""

import click

from ._common import run
from ._jobs import job_options, run_job


@click.command(epilog="""\b
Examples:
  ds01-max-runtime --dry-run               what it would do now
  ds01-max-runtime                         one check (cron runs it hourly)
  ds01-max-runtime --all                   CPU-only containers too
Running time is summed over every run since creation: a restart does not reset it.
Warnings at 75 % and 90 %; at 100 % the container is stopped (docker stop -t
sigterm_grace_s) and kept. A container paused longer than max_pause_time_h is stopped too.
Exemptions: lifecycle-exemptions.yaml (max_runtime_h, max_pause_time_h).
See also: ds01-idle-check, ds01-release-stale, ds01-events""")
@job_options(all_option=True)
def cli(dry_run, all_containers, json_flag, table_flag, config):
    """One runtime check: a record per running or paused GPU container, then a summary."""
    from ..lifecycle.max_runtime import MaxRuntime  # lazy: ds01.lifecycle.max_runtime, 9 ms

    run_job(MaxRuntime, config, dry_run, json_flag, table_flag, all_containers)


def main():
    run(cli)
