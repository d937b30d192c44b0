"""The command contract's I/O: records out (table on a terminal, NDJSON otherwise), targets in."""

import json
import os
import sys

from .visible import visible, visible_record


def warn(message):
    """`command: warning: …` on stderr, escaped (untrusted text never reaches a terminal raw); the command goes on."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ds01"
    sys.stderr.write(f"{prog}: warning: {visible(message)}\n")
    sys.stderr.flush()


def is_tty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """Writes records: NDJSON (streamed) when piped or with --json, a table with --table or on a terminal."""

    def __init__(self, json_flag=False, table_flag=False, columns=None, stream=None):
        self.stream = stream or sys.stdout
        self.table = table_flag or (not json_flag and is_tty(self.stream))
        self.columns = columns or []
        self.rows = []
        self.renderer = None  # a function rows -> text, for tables that are not one row per record

    def emit(self, record):
        if self.table:
            self.rows.append(record)
        else:
            self.stream.write(json.dumps(record, separators=(", ", ": "), default=str) + "\n")
            self.stream.flush()

    def close(self, empty=None):
        """Print the table (if any). `empty` is said on stderr when a table view has no rows."""
        if self.table and self.rows:
            text = (self.renderer([visible_record(r) for r in self.rows]) if self.renderer
                    else render_table(self.rows, self.columns))
            self.stream.write(text)
            self.stream.flush()
        elif self.table and empty:
            sys.stderr.write(empty + "\n")


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ";".join(visible(v) for v in value) or "-"
    if isinstance(value, dict):
        return " ".join(f"{visible(k)}={_cell(v)}" for k, v in value.items())
    return visible(value)


def render_table(rows, columns=None):
    """Aligned plain-text table; `columns` is a list of (key, HEADER) pairs (default: every key)."""
    if not columns:
        columns = [(key, key.upper()) for key in rows[0]]
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(header), *(len(r[i]) for r in cells)) for i, (_, header) in enumerate(columns)]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"


TARGET_KEYS = ("container", "name", "claim", "image")


def parse_targets(text, keys=TARGET_KEYS):
    """Targets from piped input: NDJSON records, a JSON array (of records or names), or plain names per line.

    From a record the first present key of `keys` is the target.
    """
    text = text.strip()
    if not text:
        return []

    def from_item(item):
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
