"""check-limits: your limits next to what you use now, with bars on a terminal and a record otherwise."""

import sys

import click

from ..errors import NotFound, PermissionDenied
from ..identity import lookup
from ..output import render_table
from ..runtime import Runtime
from ..units import format_bytes
from ..usage import standing
from ._common import config_option, new_output, output_options, run

BAR_WIDTH = 20


@click.command(epilog="""\b
Examples:
  check-limits                        yours, with bars
  check-limits --json | jq .gpu       the GPU part as data
  check-limits alice                  another user's (admins)
  check-limits -v                     also processes in use and the kernel's totals
  check-limits --cluster              your Slurm QOS limits and what your cluster jobs hold
  check limits / get limits / get-limits   the same command
Bars turn yellow at 70 % and red at 85 % of a limit.
See also: resource-limits, gpu-user-status, container-list""")
@click.argument("user", required=False)
@click.option("--no-sample", is_flag=True, help="Skip sampling memory in use (faster with many containers).")
@click.option("-v", "--verbose", is_flag=True, help="Also processes (tasks) in use against their limits, and the "
                                                    "totals the kernel enforces now.")
@click.option("--cluster", is_flag=True, help="Your Slurm QOS limits next to what your running cluster jobs hold, "
                                              "and why your pending ones wait.")
@output_options
@config_option
def cli(user, no_sample, verbose, cluster, json_flag, table_flag, config):
    """Your limits and current use side by side: containers, GPU, CPU, memory, lifecycle timers."""
    from ..live_view import serve_reads  # lazy: ds01.live_view, 1 ms

    rt = serve_reads(Runtime(config, read_only=True))  # ds01d's live view of the engine (ds01/live_view.py)
    account = rt.caller if not user else lookup(user)
    if account is None:
        raise NotFound(f"no user {user!r} on this host")
    if account.login != rt.caller.login and not rt.admin:
        raise PermissionDenied("only admins can see other users' use", hint="check-limits shows yours")
    if cluster:
        return _cluster_limits(rt, account, json_flag, table_flag)
    record = standing(rt, account, sample=not no_sample)
    out = new_output(json_flag, table_flag, None)
    if out.table:
        out.renderer = lambda rows: render(rows[0], color=sys.stdout.isatty() and not _no_color(rt),
                                           verbose=verbose)
    out.emit(record)
    out.close()


def _cluster_limits(rt, account, json_flag, table_flag):
    from ..cluster.status import limits_record  # lazy: ds01.cluster.status, 7 ms

    record = limits_record(rt, account)
    out = new_output(json_flag, table_flag, None)
    if out.table:
        out.renderer = lambda rows: render_cluster(rows[0])
    out.emit(record)
    out.close()


def render_cluster(r):
    """The terminal view of check-limits --cluster: each per-user TRES limit with what running jobs hold."""
    lines = [f"Cluster limits and use of {r['user']} (QOS {r['qos']}, priority {r['priority']})", ""]
    for row in r["per_user"]:
        limit = "unlimited" if row["limit"] is None else row["limit"]
        lines.append(f"  {row['tres']:<24}{bar(row['share'])}  {row['used']} / {limit}")
    per_job = ", ".join(f"{k}={v}" for k, v in r["per_job"].items()) or "none"
    lines += ["", f"  per job: {per_job}; longest run: {r['max_wall'] or 'unlimited'}",
              f"  running jobs: {', '.join(map(str, r['running'])) or 'none'}"]
    lines += [f"  pending job {p['job']}: {p['reason']}" for p in r["pending"]]
    return "\n".join(lines) + "\n"


def _no_color(rt):
    return bool(rt.settings.get("no_color"))


def bar(share, color=False):
    """`[#######.............]` for a share of a limit; coloured at 70 % / 85 % on a terminal."""
    if share is None:
        return " " * (BAR_WIDTH + 2)
    filled = min(BAR_WIDTH, round(share * BAR_WIDTH))
    text = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"
    if color and share >= 0.85:
        return f"\x1b[31m{text}\x1b[0m"
    if color and share >= 0.7:
        return f"\x1b[33m{text}\x1b[0m"
    return text


def render(r, color=False, verbose=False):
    """The terminal view of a check-limits record; `verbose` adds processes in use and the kernel's totals."""
    def num(value, unit=""):
        return "unlimited" if value is None else f"{value:g}{unit}"

    def size(value):
        return "unlimited" if value is None else format_bytes(value)

    c, g, cpu, mem = r["containers"], r["gpu"], r["cpu"], r["memory"]
    lines = [f"Limits and use of {r['user']} (group {r['group']})", ""]
    lines.append(f"  {'Containers':<16}{bar(c['share'], color)}  {c['count']} / {num(c['limit'])}"
                 f"  ({c['running']} running)")
    slots = ", ".join(g["slots"]) or "none"
    bound_by = " (group total)" if g.get("limited_by") == "aggregate.gpu_limit" else ""
    lines.append(f"  {'GPU-eq':<16}{bar(g['share'], color)}  {g['eq_used']:g} / {num(g['eq_limit'])}{bound_by}"
                 f"  slots held: {slots}")
    lines.append(f"  {'':<16}{'':<{BAR_WIDTH + 2}}  per container: {num(g['per_container'])} slot(s)"
                 + ("; MIG slices only" if not g["allow_full_gpu"] else ""))
    if g["queue_positions"]:
        lines.append(f"  {'':<16}{'':<{BAR_WIDTH + 2}}  waiting in the GPU queue at position "
                     + ", ".join(map(str, g["queue_positions"])))
    lines.append(f"  {'CPUs':<16}{bar(cpu['share'], color)}  {cpu['allocated']:g} allocated"
                 + (f" / {cpu['aggregate_limit']:g} in total" if cpu["aggregate_limit"] is not None else "")
                 + f"; {cpu['per_container']:g} per container")
    in_use = "" if mem["in_use"] is None else f", {format_bytes(mem['in_use'])} in use"
    lines.append(f"  {'Memory':<16}{bar(mem['share'], color)}  {format_bytes(mem['allocated'])} allocated"
                 + (f" / {size(mem['aggregate_limit'])} in total" if mem["aggregate_limit"] is not None else "")
                 + f"{in_use}; {size(mem['per_container'])} per container")
    lines.append(f"  {'Processes':<16}{'':<{BAR_WIDTH + 2}}  {num(r['pids']['per_container'])} per container"
                 + (f" / {num(r['pids']['aggregate_limit'])} in total" if verbose else ""))
    if r["per_container"]:
        rows = [{"name": p["name"], "status": p["status"], "cpus": p["cpus"],
                 "memory": size(p["memory"]) if p["memory"] else None,
                 "in_use": format_bytes(p["memory_in_use"]) if p["memory_in_use"] is not None else None,
                 "tasks": f"{'-' if p.get('pids_in_use') is None else p['pids_in_use']}/{num(p['pids_limit'])}",
                 "gpus": p["gpus"]} for p in r["per_container"]]
        columns = [("name", "NAME"), ("status", "STATUS"), ("cpus", "CPUS"), ("memory", "MEMORY"),
                   ("in_use", "IN USE")] + ([("tasks", "TASKS/LIMIT")] if verbose else []) + [("gpus", "GPUS")]
        table = render_table(rows, columns)
        lines += ["", "  Containers:"] + ["    " + line for line in table.splitlines()]
    if verbose and r["enforced"]:
        lines += ["", "  Totals the kernel enforces now:"]
        lines += [f"    {key:<28} {value}" for key, value in r["enforced"].items()]
    lines += ["", "  Lifecycle:"]
    words = {"idle_timeout_h": "stopped when idle for", "max_runtime_h": "stopped after running for",
             "max_pause_time_h": "stopped after paused for", "gpu_hold_after_stop_h": "GPU kept after a stop for",
             "container_hold_after_stop_h": "removed after stopped for"}
    for key, value in r["lifecycle"].items():
        lines.append(f"    {words[key]:<28} {'never' if value is None else _hours(value)}")
    if r["warnings"]:
        lines += [""] + [f"  ! {w}" for w in r["warnings"]]
    return "\n".join(lines) + "\n"


def _hours(hours):
    return f"{hours * 60:g} min" if hours < 1 else f"{hours:g} h"


def main():
    run(cli)


MAN_OUTPUT = ("On a terminal a report with bars (containers, GPU-eq, CPUs, memory), a table of your "
              "containers and the lifecycle timers; otherwise one check-limits record.")
