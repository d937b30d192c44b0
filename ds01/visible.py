"""Untrusted text made safe for a terminal: control characters shown as escapes, never sent raw.

Names, labels, event details and messages can carry whatever a user or an image put there. A
raw `ESC [2J` would clear an admin's screen, an OSC sequence retitle it, and a newline would split
a table row. Every table cell, notice and error message passes through `visible()`.
"""

import re

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# overrides and isolates (which reorder what follows them on screen).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}
_UNSAFE_KEEPING_LINES = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def visible(text: object, keep_newlines: bool = False) -> str:
    """`text` with every control character written as an escape (`\\e`, `\\n`, `\\x07`, `\\u202e`).

    With `keep_newlines`, line breaks stay (a message's own lines); everything else is escaped.
    """
    pattern = _UNSAFE_KEEPING_LINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, str(text))


def visible_record(value: object) -> object:
    """A record (dicts, lists, strings) with every string made visible, for renderers of tables."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {k: visible_record(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [visible_record(v) for v in value]
    return value
