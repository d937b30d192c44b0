"""AIME MLC's human output (spec §1.3, §1.8), for the `mlc-*` front-ends: scripts that parse
`mlc list` keep working. No colour codes (AIME always sends them; they break parsers)."""

import os

from . import labels as L
from .visible import visible

# (flag key, title, AIME label, DS01's twin label); -a adds USER..MODELS in this order.
LIST_COLUMNS = {
    "user": ("USER", L.USER, L.DS01_USER), "size": ("SIZE", None, None), "arch": ("ARCHITECTURE", L.ARCH, L.DS01_ARCH),
    "workspace": ("WORKSPACE", L.WORK_MOUNT, L.DS01_WORK_MOUNT), "data": ("DATA", L.DATA_MOUNT, L.DS01_DATA_MOUNT),
    "models": ("MODELS", L.MODELS_MOUNT, L.DS01_MODELS_MOUNT),
}
ALL_ORDER = ("user", "size", "arch", "workspace", "data", "models")
FLAG_ORDER = ("user", "arch", "data", "models", "size", "workspace")
# AIME's messages when there is nothing to show, with its blank lines (print("\n...\n") adds a third)
NO_CONTAINERS = "\nThere are no containers. Create the first one using:\nmlc create container_name\n\n"
NO_RUNNING = "\nThere are no running containers. Start or open a container to show the stats.\n\n"


def list_columns(all_columns, flags):
    """The extra columns after CONTAINER FRAMEWORK STATUS, in AIME's order."""
    if all_columns:
        return list(ALL_ORDER)
    return [key for key in FLAG_ORDER if key in flags]


def _home_short(path, home):
    if path and home and path.startswith(home + "/"):
        return "~" + path[len(home):]
    return path


def list_rows(entries, extra, home=None):
    """Rows (lists of cells) for `docker ps` entries: the label values AIME shows (DS01's `ds01.*` twins for
    DS01's containers), '' when missing."""
    home = home or os.path.expanduser("~")
    rows = []
    for entry in entries:
        labels = entry.get("Labels") or {}
        name = labels.get(L.NAME) or labels.get(L.DS01_NAME) or entry["Names"][0].lstrip("/").split("._.")[0]
        row = [f"[{name}]", L.either(labels, L.FRAMEWORK, L.DS01_FRAMEWORK), entry.get("Status", "")]
        for key in extra:
            title, label, ds01_label = LIST_COLUMNS[key]
            if key == "size":
                row.append(_size(entry))
            elif key in ("workspace", "data", "models"):
                row.append(_home_short(L.either(labels, label, ds01_label), home))
            else:
                row.append(L.either(labels, label, ds01_label))
        rows.append(row)
    return rows


def _size(entry):
    rw, root = entry.get("SizeRw"), entry.get("SizeRootFs")
    if rw is None and root is None:
        return ""
    rw = rw or 0  # the engine leaves SizeRw out when the writable layer is empty
    return f"{_docker_size(rw)} (virtual {_docker_size(root)})" if root else _docker_size(rw)


def _docker_size(n):
    """Docker's human size: decimal units, up to 3 significant digits (0B, 199MB, 1.2GB)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000


def table(titles, rows):
    """AIME's layout byte for byte: a blank line, the header, the rows, a blank line; every column, the last
    too, padded to its longest value + 2 (scripts cut fixed columns out of it)."""
    rows = [[visible(c) for c in r] for r in rows]
    widths = [max([len(t)] + [len(r[i]) for r in rows]) + 2 for i, t in enumerate(titles)]

    def line(cells):
        return "".join(c.ljust(w) for c, w in zip(cells, widths))

    return "\n" + "\n".join([line(titles)] + [line(r) for r in rows]) + "\n\n"


STATS_WIDTHS = (30, 10, 25, 10, 15)
STATS_TITLES = ("CONTAINER", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PROCESSES (PIDs)")


def stats_table(rows):
    """AIME's `mlc stats` byte for byte: a blank line, the title, the padded header and rows (a value longer
    than its column pushes the rest along, as AIME's str.format does), a blank line."""
    def line(cells):
        return "".join(visible(c).ljust(w) for c, w in zip(cells, STATS_WIDTHS))

    return "\n".join(["", "Current stats of the running containers:", line(STATS_TITLES)]
                     + [line(row) for row in rows]) + "\n\n"


def stats_row(name, stats):
    """One stats row from the engine's one-shot stats (the figures `docker stats` shows)."""
    cpu = _cpu_percent(stats)
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage", 0) - (mem.get("stats") or {}).get("cache", 0)
    limit = mem.get("limit") or 0
    mem_pct = f"{100.0 * usage / limit:.2f}%" if limit else "--"
    pids = (stats.get("pids_stats") or {}).get("current", "--")
    return [f"[{name}]", f"{cpu:.2f}%", f"{_binary_size(usage)} / {_binary_size(limit)}", mem_pct, str(pids)]


def _binary_size(n):
    """Docker stats' memory figures: binary units with two decimals (1.5MiB, 31.25GiB)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024


def _cpu_percent(stats):
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    return 100.0 * total / system * ncpu if system > 0 and total > 0 else 0.0
