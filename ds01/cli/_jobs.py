"""What the lifecycle job commands share: their options and how a run maps to the exit code."""

import click

from ..errors import PermissionDenied
from ..runtime import Runtime
from ._common import config_option, new_output, output_options


def job_options(all_option=True):
    def decorate(fn):
        fn = config_option(fn)
        fn = output_options(fn)
        if all_option:
            fn = click.option("--all", "all_containers", is_flag=True,
                              help="Also containers without a GPU (default: only those holding GPU slots).")(fn)
        fn = click.option("-n", "--dry-run", is_flag=True, help="Print the decisions; change and send nothing.")(fn)
        return fn
    return decorate


def run_job(job_class, config, dry_run, json_flag, table_flag, all_containers=False):
    """Run one job; exits with its code (0 also when another run is active, 1 when an action failed)."""
    from ..lifecycle.job import COLUMNS  # lazy: ds01.lifecycle.job, 9 ms

    rt = Runtime(config)
    if not rt.admin:
        raise PermissionDenied("the lifecycle jobs act on every user's containers: admins only",
                               hint="cron runs them as root (etc/cron.d/ds01)")
    out = new_output(json_flag, table_flag, COLUMNS)
    job = job_class(rt, dry_run=dry_run, out=out, all_containers=all_containers)
    raise click.exceptions.Exit(job.run())
