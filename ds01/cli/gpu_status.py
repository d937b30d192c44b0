"""gpu-status: every GPU slot, its state and who holds it."""

import click

from ._common import config_option, new_output, output_options, run

COLUMNS = [("slot", "SLOT"), ("type", "TYPE"), ("profile", "PROFILE"), ("gpu_eq", "GPU-EQ"), ("memory", "MEMORY"),
           ("utilization", "UTIL%"), ("state", "STATE"), ("users", "USERS"), ("containers", "CONTAINERS")]


@click.command(epilog="""\b
Examples:
  gpu-status                          the table, slots grouped under their GPU
  gpu-status --json | jq 'select(.state == "free") | .slot'
States: free, held (a container's device request names it), claimed (gpu-allocate),
reserved (for another user, now), busy-host (processes outside any container).
See also: gpu-user-status, gpu-inventory, gpu-allocate""")
@output_options
@config_option
def cli(json_flag, table_flag, config):
    """One record per GPU slot: slot, uuid, gpu, type, profile, memory, utilisation, state, containers, users."""
    from ..gpu.allocator import Allocator
    from ..runtime import Runtime

    allocator = Allocator(Runtime(config))
    snap = allocator.snapshot()
    out = new_output(json_flag, table_flag, COLUMNS)
    out.renderer = lambda rows: _grouped(rows, snap.inventory)
    for rec in slot_records(snap):
        out.emit(rec)
    out.close(empty="no GPUs on this host")


def _grouped(rows, inventory):
    """The table: a line per GPU, its slots indented beneath."""
    from ..output import render_table
    from ..units import format_bytes

    names = {g.index: g for g in inventory.gpus}
    table_rows = []
    for row in rows:
        shown = dict(row)
        shown["memory"] = f"{format_bytes(row['memory_used'])}/{format_bytes(row['memory_total'])}"
        if row["state"] == "reserved" and row["reserved_for"]:
            shown["state"] = f"reserved:{row['reserved_for']}"
        table_rows.append(shown)
    lines = render_table(table_rows, COLUMNS).splitlines()
    header, body = lines[0], lines[1:]
    out, last = [header], None
    for row, line in zip(rows, body):
        if row["gpu"] != last:
            gpu = names.get(row["gpu"])
            mig = " MIG" if gpu and gpu.mig_current else ""
            out.append(f"GPU {row['gpu']}  {gpu.name if gpu else ''}{mig}  {gpu.uuid if gpu else ''}".rstrip())
            last = row["gpu"]
        out.append("  " + line)
    return "\n".join(out) + "\n"


def main():
    run(cli)


def slot_records(snap):
    """One record per slot, as gpu-status prints them."""
    records = []
    for slot in snap.slots:
        holders = snap.holders(slot.id)
        claims = snap.claimants(slot.id)
        reservation = snap.reserved_for(slot.id)
        state = snap.state(slot.id)
        users = [h.user for h in holders] + [c.get("user") for _, c in claims]
        records.append({
            "slot": slot.id, "uuid": slot.uuid, "gpu": slot.gpu, "type": slot.type, "profile": slot.profile,
            "gpu_eq": round(slot.weight, 4), "memory_used": slot.memory_used, "memory_total": slot.memory_total,
            "utilization": slot.utilization, "state": state,
            "containers": [h.container for h in holders], "users": list(dict.fromkeys(u for u in users if u)),
            "claims": [cid for cid, _ in claims],
            "reserved_for": reservation.user if reservation else None,
            "reservation_reason": reservation.reason if reservation else None,
            "host_pids": snap.busy.get(slot.id, []),
        })
    return records
