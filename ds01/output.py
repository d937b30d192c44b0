"""The command contract's I/O: records out (table on a terminal, NDJSON otherwise), targets in."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

from .visible import visible as visible  # re-exported: ds01.cli.ds01_report takes it from here
from .visible import visible_record


def warn(message: str) -> None:
    """`command: warning: …` on stderr, escaped (untrusted text never reaches a terminal raw); the command goes on."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ds01"
    sys.stderr.write(f"{prog}: warning: {visible(message)}\n")
    sys.stderr.flush()


def is_tty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """Writes records: NDJSON (streamed) when piped or with --json, a table with --table or on a terminal."""

    def __init__(self, json_flag: bool = False, table_flag: bool = False,
                 columns: Sequence[tuple[str, str]] | None = None, stream: IO[str] | None = None,
                 wrap: Iterable[str] = ()) -> None:
        self.stream = stream or sys.stdout
        self.table = table_flag or (not json_flag and is_tty(self.stream))
        self.columns = columns or []
        self.wrap = tuple(wrap)  # keys of the columns that wrap to fit the terminal (long free text)
        self.rows: list[Mapping[str, Any]] = []
        # a function rows -> text, for tables that are not one row per record; it gets the rows as
        # visible_record escapes them (typed `object` there), hence list[Any]
        self.renderer: Callable[[list[Any]], str] | None = None
        self.count = 0  # records emitted so far

    def emit(self, record: Mapping[str, Any]) -> None:
        self.count += 1
        if self.table:
            self.rows.append(record)
        else:
            self.stream.write(_line(record))
            self.stream.flush()

    def emit_all(self, records: Iterable[Mapping[str, Any]]) -> None:
        """emit() each of `records`, made in one go (a listing): NDJSON flushed once at the end, not per line."""
        if self.table:
            for record in records:
                self.emit(record)
            return
        write = self.stream.write
        for record in records:
            self.count += 1
            write(_line(record))
        self.stream.flush()

    def close(self, empty: str | None = None) -> None:
        """Print the table (if any). `empty` is said on stderr when a table view has no rows."""
        if self.table and self.rows:
            text = (self.renderer([visible_record(r) for r in self.rows]) if self.renderer
                    else render_table(self.rows, self.columns, terminal_width(self.stream), self.wrap))
            self.stream.write(text)
            self.stream.flush()
        elif self.table and empty:
            sys.stderr.write(empty + "\n")


def _line(record: Mapping[str, Any]) -> str:
    """One NDJSON line (the documented keys, as the record has them)."""
    return json.dumps(record, separators=(", ", ": "), default=str) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ";".join(visible(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{visible(k)}={_cell(v)}" for k, v in value.items())
    return visible(value)


def terminal_width(stream: object) -> int | None:
    """The width a table should fit: $COLUMNS (a ds01d worker gets its client's), else the terminal's;
    None (no limit) for a pipe or a file."""
    import shutil  # lazy: shutil, 1 ms

    return shutil.get_terminal_size((0, 0)).columns or None


MIN_WRAPPED = 12  # a wrapped column is never narrower than this (or its header)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]] | None = None,
                 width: int | None = None, wrap: Iterable[str] = ()) -> str:
    """Aligned plain-text table; `columns` is a list of (key, HEADER) pairs (default: every key). Where the
    table is wider than `width`, the columns named in `wrap` narrow (the widest first) and their cells wrap
    onto continuation lines."""
    import textwrap  # lazy: textwrap, 0.6 ms

    if not columns:
        columns = [(key, key.upper()) for key in rows[0]]
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(header), *(len(r[i]) for r in cells)) for i, (_, header) in enumerate(columns)]
    narrow = [i for i, (key, _) in enumerate(columns) if key in wrap]
    excess = sum(widths) + 2 * (len(widths) - 1) - width if width else 0
    while excess > 0:
        shrinkable = [i for i in narrow if widths[i] > max(MIN_WRAPPED, len(columns[i][1]))]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths)).rstrip()]
    for row in cells:
        parts = [textwrap.wrap(c, w, break_on_hyphens=False) or [""] if i in narrow and len(c) > w else [c]
                 for i, (c, w) in enumerate(zip(row, widths))]
        for n in range(max(len(p) for p in parts)):
            lines.append("  ".join((p[n] if n < len(p) else "").ljust(w) for p, w in zip(parts, widths)).rstrip())
    return "\n".join(lines) + "\n"


TARGET_KEYS = ("container", "name", "claim", "image")


def parse_targets(text: str, keys: Sequence[str] = TARGET_KEYS) -> list[str]:
    """Targets from piped input: NDJSON records, a JSON array (of records or names), or plain names per line.

    From a record the first present key of `keys` is the target.
    """
    text = text.strip()
    if not text:
        return []

    def from_item(item: object) -> str:
        if isinstance(item, dict):
            for key in keys:
                if item.get(key):
                    return str(item[key])
            raise ValueError(f"record has none of {', '.join(keys)}: {json.dumps(item)[:80]}")
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            return str(item)
        raise ValueError(f"cannot use {item!r} as a target")

    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"input looks like a JSON array but is not valid JSON: {exc}") from None
        return [from_item(item) for item in items]
    targets = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                targets.append(from_item(json.loads(line)))
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None
        else:
            targets.append(line)
    return targets


def render_fitted(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
                  width: int | None = None) -> str:
    """render_table, cut to `width` columns as `docker ps` does: the widest cells are shortened with '…' (never
    below their header) until every line fits; None or a table that fits leaves it whole."""
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(header), *(len(r[i]) for r in cells)) for i, (_, header) in enumerate(columns)]
    if width:
        floors = [max(len(header), 4) for _, header in columns]
        while sum(widths) + 2 * (len(widths) - 1) > width:
            shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
        cells = [[c if len(c) <= w else c[:w - 1] + "…" for c, w in zip(r, widths)] for r in cells]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"
