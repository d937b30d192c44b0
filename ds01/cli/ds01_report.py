"""ds01-report: (admins) GPU-hours and container-hours per user or group over a window, from the event log."""

import csv
import sys

import click

from ..errors import PermissionDenied, UsageError
from ..output import visible
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

USER_COLUMNS = [("user", "USER"), ("group", "GROUP"), ("gpu_hours", "GPU-HOURS"), ("slot_hours", "SLOT-HOURS"),
                ("container_hours", "CONTAINER-HOURS"), ("allocations", "ALLOCATIONS"), ("containers", "CONTAINERS")]
GROUP_COLUMNS = [("group", "GROUP"), ("users", "USERS"), *USER_COLUMNS[2:]]


@click.command(epilog="""\b
Examples:
  ds01-report --month 2026-11              last November, per user
  ds01-report --month 2026-11 --by group --csv > november.csv
  ds01-report --since 7d                   the last week up to now
  ds01-report --since 2026-11-01T00:00:00Z --until 2026-11-15T00:00:00Z --json
  ds01-report --cluster --since 7d         the cluster's jobs, from Slurm's accounting
GPU-hours are GPU-equivalents held × hours (a 1g.5gb MIG slot is 1/7 of a GPU),
from each gpu.allocate to the container's gpu.release or removal (a claim's to its
release, its use by a create, or its expiry); slot-hours count every slot as one.
Container-hours run from each start to the stop, the removal, or the moment Docker
says the container ended by itself. Spans are clipped to the window; spans still
open count up to its end (or now). Groups are the policy's today. Rotated logs
(events.jsonl.1, ….2.gz) are read too.
See also: ds01-events, gpu-user-status, ds01-exporter""")
@click.option("--month", metavar="YYYY-MM", help="The calendar month (UTC); the default is this month so far.")
@click.option("--since", metavar="TIME", help="The window's start (ISO 8601, Unix seconds or an age: 7d).")
@click.option("--until", metavar="TIME", help="The window's end (default: now).")
@click.option("--by", type=click.Choice(["user", "group"]), default="user", show_default=True,
              help="One record per user, or per policy group.")
@click.option("--csv", "csv_flag", is_flag=True, help="CSV with a header line instead of NDJSON or a table.")
@click.option("--cluster", is_flag=True, help="From Slurm's accounting (sacct) instead of the event log: the "
                                              "cluster's jobs, GPUs x elapsed time.")
@output_options
@config_option
def cli(month, since, until, by, csv_flag, cluster, json_flag, table_flag, config):
    """GPU-hours and container-hours per user (or group) from ds01's event log."""
    from .. import accounting, clock  # lazy: ds01.accounting, 2 ms

    rt = Runtime(config)
    if not rt.admin:
        raise PermissionDenied("usage reports are for admins", hint="gpu-user-status and ds01-events show yours")
    if month and (since or until):
        raise UsageError("--month is a window of its own: give it, or --since/--until")
    if csv_flag and json_flag:
        raise UsageError("--csv and --json are two formats: choose one")
    now = rt.now()
    try:
        if month:
            start, end = accounting.month_window(month)
        else:
            start = clock.parse_since(since, now).timestamp() if since else \
                now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
            end = clock.parse_since(until, now).timestamp() if until else now.timestamp()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if end <= start:
        raise UsageError(f"the window ends ({clock.iso(end)}) before it starts ({clock.iso(start)})")
    if cluster:
        from ..cluster.status import report  # lazy: ds01.cluster.status, 7 ms

        rows = report(rt, start, min(end, now.timestamp()), by)
    else:
        rows = accounting.report(rt, start, min(end, now.timestamp()), by)
    columns = USER_COLUMNS if by == "user" else GROUP_COLUMNS
    if csv_flag:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        keys = [key for key, _ in columns] + ["since", "until"]
        writer.writerow(keys)
        for row in rows:
            writer.writerow([visible(str(row[k])) for k in keys])
        return 0
    out = new_output(json_flag, table_flag, columns)
    for row in rows:
        out.emit(row)
    out.close(empty="nothing was held or run in the window")
    return 0


def main():
    run(cli)
