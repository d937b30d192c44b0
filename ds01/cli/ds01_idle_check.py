"""ds01-idle-check (cron): warn about, then stop, running GPU containers that have been idle too long."""

import click

from ._common import run
from ._jobs import job_options, run_job


@click.command(epilog="""\b
Examples:
  ds01-idle-check --dry-run                what it would do now, changing nothing
  ds01-idle-check                          one check (cron runs it every 10 minutes)
  ds01-idle-check --all                    CPU-only containers too
  DS01_NOW=2026-11-23T18:00:00Z ds01-idle-check --dry-run   as if it were that time
Idle = GPU below gpu_idle_threshold AND CPU, network received since the last check and
work processes below theirs. After idle_detection_window idle checks and grace_period_m:
warning at 80 % and 95 % of idle_timeout_h, stop at 100 % (then removal for containers made
by container-deploy). high_demand_threshold shortens timeouts. Users keep a container with
`touch /workspace/.keep-alive` (up to keepalive_max_duration_h) or an exemption in
lifecycle-exemptions.yaml. Never touches protected or infrastructure containers.
A second run while one is active exits 0 and says so. Exit 1 only when an action failed.
See also: ds01-max-runtime, ds01-release-stale, ds01-events, ds01-notify""")
@job_options(all_option=True)
def cli(dry_run, all_containers, json_flag, table_flag, config):
    """One idle check: a record per running GPU container (signals, decision, reason), then a summary."""
    from ..lifecycle.idle import IdleCheck  # lazy: ds01.lifecycle.idle, 9 ms

    run_job(IdleCheck, config, dry_run, json_flag, table_flag, all_containers)


def main():
    run(cli)
