"""The dashboard: one look at the server (GPU slots and holders, users against quota, the queue, the latest events)
and its drawing for a terminal.

`view(rt)` takes the allocator's snapshot (the one gpu-status prints), one container list, the
idle check's memory, the wait queue and the tail of the event log; `frame(data, width)` draws
it with rich for the live view (ds01/live.py). Every string that came from Docker, the log or a
user is made visible (control characters escaped) and handed to rich as plain Text, never as
markup, so a container called `[blink]` is just that.

`cluster_view(rt)` / `cluster_frame` are `dashboard --cluster`: every node's GPUs, the queue in Slurm's order with
its reasons, fair share and the caller's cluster containers, read from Slurm (cluster/status.py). A controller
that does not answer is an error (the state is unknown), never an empty cluster.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import Runtime

EVENTS = 8
BAR = 10


def view(rt: "Runtime", events: int = EVENTS) -> dict[str, Any]:
    """What the dashboard shows, as one record (`dashboard --json`)."""
    import os

    from . import clock
    from . import events as log
    from .containers import is_listed, owned_by, record
    from .gpu.allocator import Allocator
    from .metrics import idle_rows

    rt.refresh()  # a live view's every frame reads the GPUs and containers afresh
    allocator = Allocator(rt)
    snap = allocator.snapshot()
    records = [record(e) for e in rt.api.containers(all=True) if is_listed(e)]
    now = rt.now().timestamp()
    slots_of = {h.container: ",".join(h.slots) for h in snap.holdings if h.holds}
    _, seconds = idle_rows(rt, records, now, slots_of)
    idle = {key[0]: value for key, value in seconds}
    gpus = []
    for slot in snap.slot_records():
        held = [idle[c] for c in slot["containers"] if c in idle]
        gpus.append(dict(slot, idle_s=round(min(held)) if held else None))
    users = sorted({r["user"] for r in records if r["user"]} | {h.user for h in snap.holdings if h.user})
    if not rt.admin:
        users = [u for u in users if u == rt.caller.login] or [rt.caller.login]
    shares = []
    for user in users:
        used, slots = snap.usage(user)[:2]
        limits = rt.limits(user)
        theirs = [r for r in records if r["user"] == user]
        shares.append({"user": user, "group": limits.group, "gpu_eq_used": round(used, 4),
                       "gpu_eq_max": limits["max_gpu_equivalents"], "slots": list(slots),
                       "containers_running": sum(1 for r in theirs if r["status"] == "running"),
                       "containers": len(theirs)})
    queue = [{"position": i, "user": e.get("user"), "num_gpus": e.get("num_gpus"), "gpu_profile": e.get("gpu_profile"),
              "container": e.get("container"), "waited_s": round(max(0.0, now - float(e.get("enqueued_at") or now)))}
             for i, e in enumerate(allocator.queue(), 1)]
    caller = rt.caller

    def mine(event: dict[str, Any]) -> bool:
        return rt.admin or event.get("user") == caller.login

    recent = log.tail(os.path.join(rt.settings.get("log_dir"), log.FILE_NAME), events, mine)
    own = [r for r in records if owned_by(r, caller)]
    return {"at": clock.iso(now), "admin": rt.admin, "user": caller.login, "gpus": gpus, "users": shares,
            "queue": queue, "events": [_event_row(e) for e in recent],
            "my_containers_running": sum(1 for r in own if r["status"] == "running")}


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    details = event.get("details") or {}
    return {"timestamp": event.get("timestamp"), "event_type": event.get("event_type"), "user": event.get("user"),
            "container": details.get("name") or details.get("container") or details.get("claim"),
            "reason": details.get("reason") or details.get("kind")}


def bar(fraction: float | None, width: int = BAR) -> str:
    """A text bar (`██████░░░░`) for 0..1; blank for unknown."""
    if fraction is None:
        return " " * width
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def frame(data: dict[str, Any], width: int) -> Any:
    """The view for a terminal `width` columns wide: narrower terminals lose the less needed columns."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from .units import format_bytes
    from .visible import visible

    def text(value: Any, style: str = "") -> Any:
        return Text(visible("-" if value in (None, "", []) else value), style=style)

    wide, narrow = width >= 100, width < 60
    title = f"ds01 · {data['at']} · {len(data['gpus'])} slots · {data['my_containers_running']} of yours running"
    parts: list[Any] = [Text(visible(title)[:width], style="bold")]

    gpus = Table(title="GPUs", title_justify="left", expand=False, box=None, padding=(0, 1), show_edge=False)
    for name in ("SLOT", "STATE", "USER", *(() if narrow else ("CONTAINER",)), "UTIL", *(("MEM",) if wide else ()),
                 "IDLE"):
        gpus.add_column(name, no_wrap=True, overflow="ellipsis", max_width=24 if name == "CONTAINER" else None)
    state_style = {"free": "green", "held": "yellow", "claimed": "cyan", "reserved": "magenta", "busy-host": "red"}
    for slot in data["gpus"]:
        utilization = slot["utilization"]
        util = Text(bar(None if utilization is None else utilization / 100, 6 if narrow else BAR))
        util.append(" -" if utilization is None else f" {round(utilization):>3}%")
        row = [text(slot["slot"] + (f" {slot['profile']}" if slot["profile"] and not narrow else "")),
               text(slot["state"], state_style.get(slot["state"], "")), text(",".join(slot["users"]))]
        if not narrow:
            row.append(text(",".join(slot["containers"])))
        row.append(util)
        if wide:
            row.append(text(f"{format_bytes(slot['memory_used'])}/{format_bytes(slot['memory_total'])}"))
        row.append(text(_duration(slot["idle_s"])))
        gpus.add_row(*row)
    parts.append(gpus)

    users = Table(title="Users", title_justify="left", expand=False, box=None, padding=(0, 1), show_edge=False)
    for name in ("USER", *(() if narrow else ("GROUP",)), "GPU-EQ", "SHARE", "RUNNING"):
        users.add_column(name, no_wrap=True, overflow="ellipsis")
    for share in data["users"]:
        quota = share["gpu_eq_max"]
        row = [text(share["user"])] + ([] if narrow else [text(share["group"])])
        row += [text(f"{share['gpu_eq_used']:g}/{'-' if quota is None else f'{quota:g}'}"),
                Text(bar(share["gpu_eq_used"] / quota if quota else None, 6 if narrow else BAR),
                     style="red" if quota and share["gpu_eq_used"] > quota else ""),
                text(f"{share['containers_running']}/{share['containers']}")]
        users.add_row(*row)
    parts.append(users)

    if data["queue"]:
        waiting = Table(title="Waiting for a GPU", title_justify="left", box=None, padding=(0, 1), show_edge=False)
        for name in ("#", "USER", "WANTS", "WAITED"):
            waiting.add_column(name, no_wrap=True)
        for entry in data["queue"]:
            wants = entry["gpu_profile"] or f"{entry['num_gpus'] or 1} GPU"
            waiting.add_row(text(entry["position"]), text(entry["user"]), text(wants),
                            text(_duration(entry["waited_s"])))
        parts.append(waiting)
    else:
        parts.append(Text("Nobody is waiting for a GPU."))

    parts.append(Text("Latest events", style="bold"))
    for event in data["events"]:
        line = " ".join(visible(v) for v in (event["timestamp"], event["event_type"], event["user"] or "",
                                             event["container"] or "", event["reason"] or "") if v)
        parts.append(Text(line[:width], no_wrap=True, overflow="ellipsis"))
    if not data["events"]:
        parts.append(Text("none yet"))
    parts.append(Text("q or Ctrl-C quits", style="dim"))
    return Group(*parts)


def cluster_view(rt: "Runtime") -> dict[str, Any]:
    """What `dashboard --cluster` shows, as one record: nodes, GPUs, queue, fair share, your cluster containers."""
    from . import clock
    from .cluster.containers import list_records, slurm_of
    from .cluster.status import fairshare_records, gpu_records, node_records, queue_records

    slurm = slurm_of(rt)
    gpus = gpu_records(rt, slurm)
    queue = queue_records(rt, slurm)
    fairshare = fairshare_records(rt, slurm)
    containers = list_records(rt)
    return {"at": clock.iso(rt.now().timestamp()), "cluster": True, "admin": rt.admin, "user": rt.caller.login,
            "nodes": node_records(gpus), "gpus": gpus, "queue": queue, "fairshare": fairshare,
            "containers": [{k: c.get(k) for k in ("name", "node", "job", "state", "reason", "status", "image")}
                           for c in containers]}


def cluster_frame(data: dict[str, Any], width: int) -> Any:
    """dashboard --cluster for a terminal `width` columns wide."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from .visible import visible

    def text(value: Any, style: str = "") -> Any:
        return Text(visible("-" if value in (None, "", []) else value), style=style)

    def table(title: str, columns: tuple[str, ...]) -> Any:
        made = Table(title=title, title_justify="left", box=None, padding=(0, 1), show_edge=False)
        for name in columns:
            made.add_column(name, no_wrap=True, overflow="ellipsis", max_width=24)
        return made

    narrow = width < 60
    free = sum(n["free"] for n in data["nodes"])
    title = (f"ds01 cluster · {data['at']} · {len(data['nodes'])} nodes · {free} of {len(data['gpus'])} GPUs free · "
             f"{len(data['queue'])} waiting")
    parts: list[Any] = [Text(visible(title)[:width], style="bold")]
    nodes = table("Nodes", ("NODE", "STATE", "GPUS", "FREE", "HELD", *(() if narrow else ("REASON",))))
    for node in data["nodes"]:
        nodes.add_row(text(node["node"]), text(node["state"], "" if node["down"] == 0 else "red"), text(node["gpus"]),
                      text(node["free"], "green"), text(node["held"]), *(() if narrow else (text(node["reason"]),)))
    parts.append(nodes)
    state_style = {"free": "green", "held": "yellow", "down": "red"}
    gpus = table("GPUs", ("SLOT", "TYPE", "STATE", "USERS", *(() if narrow else ("CONTAINERS", "JOBS"))))
    for gpu in data["gpus"]:
        gpus.add_row(text(gpu["slot"]), text(gpu["type"]), text(gpu["state"], state_style.get(gpu["state"], "")),
                     text(",".join(gpu["users"])),
                     *(() if narrow else (text(",".join(gpu["containers"])), text(",".join(map(str, gpu["jobs"]))))))
    parts.append(gpus)
    if data["queue"]:
        waiting = table("Waiting (Slurm's order)", ("#", "JOB", "USER", "WANTS", "REASON",
                                                    *(() if narrow else ("PRIORITY", "CONTAINER"))))
        for entry in data["queue"]:
            wants = entry["gpu_type"] or (f"{entry['num_gpus']} GPU" if entry["num_gpus"] else "no GPU")
            waiting.add_row(text(entry["position"]), text(entry["job"]), text(entry["user"]), text(wants),
                            text(entry["reason"]),
                            *(() if narrow else (text(entry["priority"]), text(entry["container"]))))
        parts.append(waiting)
    else:
        parts.append(Text("Nobody is waiting."))
    shares = table("Fair share (higher starts first among equal QOS)", ("USER", "ACCOUNT", "FAIRSHARE", "USAGE"))
    for row in data["fairshare"]:
        shares.add_row(text(row["user"]), text(row["account"]),
                       text("-" if row["fairshare"] is None else f"{row['fairshare']:.3f}"), text(row["raw_usage"]))
    parts.append(shares)
    mine = table("Your cluster containers", ("NAME", "NODE", "JOB", "STATE", "STATUS"))
    for rec in data["containers"]:
        mine.add_row(text(rec["name"]), text(rec["node"]), text(rec["job"]), text(rec["state"]), text(rec["status"]))
    parts.append(mine if data["containers"] else Text("You have no cluster containers."))
    parts.append(Text("q or Ctrl-C quits", style="dim"))
    return Group(*parts)
