"""Durations and byte sizes as written in the policy (`0.5h`, `90m`, `32g`)."""

import re
from typing import Any

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNLIMITED_WORDS = {"null", "none", "never", "indefinite", "unlimited", "~"}

_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_BYTES_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_duration(value: Any, default_unit: str = "s") -> float | None:
    """Seconds for a duration; None means unlimited.

    Plain numbers are in `default_unit` (the unit a key's suffix names: `_h`, `_m`, `_s`). An empty
    string is unlimited, as DS01's parse_duration had it. Raises ValueError for anything else,
    including negative values.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return float(value) * _DURATION_UNITS[default_unit]
    text = str(value).strip()
    if text == "" or text.lower() in _UNLIMITED_WORDS:
        return None
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30m, 0.5h, 2d, or null)")
    number, unit = match.groups()
    return float(number) * _DURATION_UNITS[(unit or default_unit).lower()]


def format_duration(seconds: float | None) -> str:
    """Short human form: 90000 -> '1d 1h'; None or negative (DS01's -1) -> 'unlimited'."""
    if seconds is None or seconds < 0:
        return "unlimited"
    seconds = int(round(seconds))
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            amount, seconds = divmod(seconds, size)
            parts.append(f"{amount}{unit}")
    return " ".join(parts[:2])


def parse_bytes(value: Any) -> int:
    """Bytes for a size like `32g`, `512m`, `1.5G`, or a plain integer (bytes)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative size: {value!r}")
        return value
    match = _BYTES_RE.match(str(value))
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 512m, 32g)")
    number, unit = match.groups()
    return int(float(number) * _BYTE_UNITS[unit.lower()])


def format_bytes(count: int | None) -> str:
    """Docker-style short size: 34359738368 -> '32g'."""
    if count is None:
        return "unlimited"
    for unit, size in (("t", 1024**4), ("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if count >= size and count % size == 0:
            return f"{count // size}{unit}"
    return f"{count}b" if count < 1024 else f"{count / 1024**2:.1f}m"
