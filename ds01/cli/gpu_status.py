"""gpu-status: every GPU slot, its state and who holds it."""

import click

from ..gpu.allocator import Allocator
from ..output import render_fitted, terminal_width
from ..runtime import Runtime
from ..units import format_bytes
from ..visible import visible_record
from ._common import config_option, new_output, output_options, run

COLUMNS = [("slot", "SLOT"), ("type", "TYPE"), ("profile", "PROFILE"), ("gpu_eq", "GPU-EQ"), ("memory", "MEMORY"),
           ("utilization", "UTIL%"), ("state", "STATE"), ("users", "USERS"), ("containers", "CONTAINERS")]  # --wide
NARROW_COLUMNS = [("slot", "SLOT"), ("profile", "PROFILE"), ("memory", "MEMORY"), ("utilization", "UTIL%"),
                  ("state", "STATE"), ("users", "USERS"), ("containers", "CONTAINERS")]


@click.command(epilog="""\b
Examples:
  gpu-status                          the table, slots grouped under their GPU
  gpu-status --json | jq 'select(.state == "free") | .slot'
  gpu-status --watch                  redrawn every 2 s (q or Ctrl-C quits)
  gpu-status --wide                   every column whole (type, GPU-equivalents, UUIDs)
  gpu-status --cluster                every node's GPUs from Slurm, with jobs and holders
States: free, held (a container's device request names it), claimed (gpu-allocate),
reserved (for another user, now), busy-host (processes outside any container).
See also: gpu-user-status, gpu-inventory, gpu-allocate""")
@click.option("--watch", type=click.FloatRange(min=0.2), is_flag=False, flag_value=2.0, default=None,
              metavar="[SECONDS]", help="Redraw every SECONDS (default 2) until q or Ctrl-C (a record set per "
              "refresh when piped).")
@click.option("--wide", is_flag=True, help="The table with every column, nothing shortened (default: fits the "
                                           "terminal).")
@click.option("--cluster", is_flag=True, help="Every cluster node's GPUs from Slurm (node, state, jobs, users, "
                                              "containers); an error, never 'free', while the controller is silent.")
@output_options
@config_option
def cli(watch, wide, cluster, json_flag, table_flag, config):
    """One record per GPU slot: slot, uuid, gpu, type, profile, memory, utilisation, state, containers, users."""
    from ..live_view import serve_reads  # lazy: ds01.live_view, 1 ms

    rt = serve_reads(Runtime(config, read_only=True))  # ds01d's live view of the engine (ds01/live_view.py)
    if cluster:
        return _cluster_status(rt, json_flag, table_flag)

    if watch is not None:
        return _watch(rt, watch, json_flag, table_flag, wide)
    snap = Allocator(rt).snapshot()
    out = new_output(json_flag, table_flag, COLUMNS)
    out.renderer = lambda rows: _grouped(rows, snap.inventory, wide, None if wide else terminal_width(out.stream))
    out.emit_all(snap.slot_records())
    out.close(empty="no GPUs on this host")


CLUSTER_COLUMNS = [("node", "NODE"), ("slot", "SLOT"), ("type", "TYPE"), ("state", "STATE"), ("jobs", "JOBS"),
                   ("users", "USERS"), ("containers", "CONTAINERS")]


def _cluster_status(rt, json_flag, table_flag):
    from ..cluster.status import gpu_records  # lazy: ds01.cluster.status, 7 ms

    out = new_output(json_flag, table_flag, CLUSTER_COLUMNS)
    for rec in gpu_records(rt):
        out.emit(rec)
    out.close(empty="no GPUs on the cluster's nodes")


def _watch(rt, interval, json_flag, table_flag, wide=False):
    """The live view dashboard uses (ds01/live.py) on a terminal; piped, every refresh's records."""
    from .. import live  # lazy: ds01.live, 1 ms

    out = new_output(json_flag, table_flag, COLUMNS)
    if out.table:
        from rich.text import Text  # lazy: rich, 8 ms

        def frame(width):
            rt.refresh()
            snap = Allocator(rt).snapshot()
            text = _grouped([visible_record(r) for r in snap.slot_records()], snap.inventory, wide,
                            None if wide else width)
            return Text("\n".join(line[:width] for line in text.splitlines()))

        return live.watch(frame, interval)

    def emit_round():
        rt.refresh()
        for rec in Allocator(rt).snapshot().slot_records():
            out.emit(rec)

    return live.repeat(emit_round, interval)


def _grouped(rows, inventory, wide=True, width=None):
    """The table: a line per GPU, its slots indented beneath; cut to `width` unless `wide`."""
    names = {g.index: g for g in inventory.gpus}
    table_rows = []
    for row in rows:
        shown = dict(row)
        shown["memory"] = f"{format_bytes(row['memory_used'])}/{format_bytes(row['memory_total'])}"
        if row["state"] == "reserved" and row["reserved_for"]:
            shown["state"] = f"reserved:{row['reserved_for']}"
        table_rows.append(shown)
    lines = render_fitted(table_rows, COLUMNS if wide else NARROW_COLUMNS,
                          width - 2 if width else None).splitlines()
    header, body = lines[0], lines[1:]
    out, last = [header], None
    for row, line in zip(rows, body):
        if row["gpu"] != last:
            gpu = names.get(row["gpu"])
            mig = " MIG" if gpu and gpu.mig_current else ""
            line_text = f"GPU {row['gpu']}  {gpu.name if gpu else ''}{mig}  {gpu.uuid if gpu else ''}".rstrip()
            out.append(line_text if not width or len(line_text) <= width else line_text[:width - 1] + "…")
            last = row["gpu"]
        out.append("  " + line)
    return "\n".join(out) + "\n"


def main():
    run(cli)
