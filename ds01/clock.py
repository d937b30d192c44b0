"""The time lifecycle decisions use: the real clock, or a fixed time (DS01_NOW) so tests drive time without sleeping.

`DS01_NOW` is Unix seconds (`1795000000`, fractions allowed) or ISO 8601
(`2026-11-23T14:30:00Z`; no zone means UTC). Only decisions that compare against policy timers
read it (idle, runtime, hold timers, the event log's timestamps and `--since`); timeouts of
locks and claims keep real time.
"""

import datetime
import re
from typing import Any

UTC = datetime.timezone.utc
_RELATIVE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_moment(text: Any) -> datetime.datetime:
    """An aware UTC datetime from Unix seconds or ISO 8601; ValueError otherwise."""
    text = str(text).strip()
    try:
        return datetime.datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use Unix seconds or ISO 8601, e.g. 2026-11-23T14:30:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now(fixed: Any = None) -> datetime.datetime:
    """The current time (aware, UTC), or `fixed` (the `now` setting, DS01_NOW) when given."""
    if fixed:
        try:
            return parse_moment(fixed)
        except ValueError as exc:
            from .errors import UsageError

            raise UsageError(f"DS01_NOW: {exc}") from None
    return datetime.datetime.now(UTC)


def parse_since(text: Any, reference: datetime.datetime | None = None) -> datetime.datetime:
    """`--since`/`--until` values: ISO 8601, Unix seconds, or an age such as `30m`, `1h`, `2d` before now."""
    from .units import parse_duration

    match = _RELATIVE_RE.match(str(text))
    if match:
        return (reference or now()) - datetime.timedelta(seconds=parse_duration(text) or 0.0)
    return parse_moment(text)


def iso(moment: datetime.datetime | float) -> str:
    """`2026-11-23T14:30:00Z` (seconds precision) for an aware datetime or Unix seconds."""
    if not isinstance(moment, datetime.datetime):
        moment = datetime.datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_docker(text: str | None) -> datetime.datetime | None:
    """Docker's RFC 3339 timestamps (nanoseconds, Z) as aware datetimes; None for the zero time or no time."""
    import re

    if not text or text.startswith("0001-01-01"):
        return None
    text = text.replace("Z", "+00:00")
    main, _, rest = text.partition(".")
    if rest:
        digits = re.match(r"\d*", rest).group(0)  # type: ignore[union-attr]  # \d* always matches
        text = f"{main}.{digits[:6]}{rest[len(digits):]}"
    return datetime.datetime.fromisoformat(text)
