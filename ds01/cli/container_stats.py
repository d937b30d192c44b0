"""container-stats: CPU, memory against the limit, pids, network and GPU use of running containers, from the kernel."""

import sys

import click

from ..containers import owned_by
from ..errors import PermissionDenied, UsageError
from ..output import is_tty, render_table
from ..runtime import Runtime
from ..units import format_bytes
from ._common import config_option, new_output, output_options, read_targets, run

COLUMNS = [("name", "NAME"), ("user", "USER"), ("cpu", "CPU%"), ("memory", "MEM USED/LIMIT"), ("mem_pct", "MEM%"),
           ("pids_shown", "PIDS"), ("net", "NET RX/TX"), ("gpu", "GPU SLOT:UTIL%/MEM")]


@click.command(epilog="""\b
Examples:
  container-stats                       your running containers, once
  container-stats thesis --watch        one container, redrawn every 2 s (q or Ctrl-C ends; -w too)
  container-stats -w --no-trunc         the same, lines never cut to the terminal's width
  container-stats --watch 5 --json      a record per container every 5 s, for a log
  container-list | container-stats      the containers piped in
  container-stats --all-users           every user's (admins)
CPU % is of one core over the last second (docker stats' convention); memory leaves
out inactive page cache; limits are the kernel's (the container's cgroup). GPU
columns come from NVML's processes, placed in containers by /proc/PID/cgroup;
a slot's utilisation is shown where the driver reports it per process, or where
the slot is the container's own. AIME's table is mlc-stats.
See also: container-list, check-limits, gpu-status, dashboard""")
@click.argument("names", nargs=-1)
@click.option("--all-users", is_flag=True, help="Every user's running containers.")
@click.option("--watch", type=click.FloatRange(min=0.2), is_flag=False, flag_value=2.0, default=None,
              metavar="[SECONDS]", help="Refresh every SECONDS (default 2) until q or Ctrl-C.")
@click.option("-w", "watch_default", is_flag=True, help="(DS01) The same as --watch: refresh every 2 s.")
@click.option("--no-trunc", is_flag=True, help="Never cut the table's lines to the terminal's width.")
@output_options
@config_option
def cli(names, all_users, watch, watch_default, no_trunc, json_flag, table_flag, config):
    """One record per running container: cpu_percent, memory_used/limit, pids, net_rx/tx, gpus."""
    from ..container_stats import Sampler  # lazy: ds01.container_stats, 1 ms

    if watch_default:
        watch = watch or 2.0
    rt = Runtime(config, read_only=True)
    if all_users and not rt.admin:
        raise PermissionDenied("only admins see other users' containers", hint="container-stats shows yours")
    wanted = list(names) or ([] if is_tty(sys.stdin) else read_targets(()))
    if all_users and wanted:
        raise UsageError("give NAMEs or --all-users, not both")
    chosen = {r["id"] for r in (rt.finder.find(n) for n in wanted)}  # NotFound / PermissionDenied as usual

    def select():
        """This round's containers (a watch sees them start and stop)."""
        rt.finder.refresh()
        fresh = rt.finder.records()
        if chosen:
            return [r for r in fresh if r["id"] in chosen]
        return [r for r in fresh if all_users or owned_by(r, rt.caller)]

    sampler = Sampler(rt)
    out = new_output(json_flag, table_flag, COLUMNS)
    out.renderer = lambda rows: render_table([shown(r) for r in rows], COLUMNS)
    if watch is None:
        for rec in sampler.round(select()):
            out.emit(rec)
        out.close(empty="no containers running")
        return 0
    from .. import live  # lazy: ds01.live, 1 ms

    if out.table:
        return live.watch(lambda width: _frame(sampler.round(select()), None if no_trunc else width), watch)
    return live.repeat(lambda: [out.emit(rec) for rec in sampler.round(select())], watch)  # type: ignore[func-returns-value]


def _frame(records, width):
    text = render_table([shown(r) for r in records], COLUMNS) if records else "no containers running\n"
    from rich.text import Text  # lazy: rich, 8 ms

    return Text("\n".join(line[:width] if width else line for line in text.splitlines()))


def shown(rec):
    """The table's cells for a record."""
    def size(value):
        return "-" if value is None else format_bytes(value)

    gpus = " ".join(f"{g['slot']}:{'-' if g['utilization'] is None else round(g['utilization'])}%/"
                    f"{size(g['memory_used'])}" for g in rec["gpus"]) or "-"
    return dict(rec, cpu="-" if rec["cpu_percent"] is None else f"{rec['cpu_percent']:.1f}",
                memory=f"{size(rec['memory_used'])}/{size(rec['memory_limit']) if rec['memory_limit'] else 'none'}",
                mem_pct="-" if rec["memory_percent"] is None else f"{rec['memory_percent']:.1f}",
                pids_shown=f"{'-' if rec['pids'] is None else rec['pids']}/{rec['pids_limit'] or 'none'}",
                net=f"{size(rec['net_rx'])}/{size(rec['net_tx'])}", gpu=gpus)


def main():
    run(cli)
