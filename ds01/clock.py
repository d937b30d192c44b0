"""The time lifecycle decisions use: the real clock, or a fixed time (DS01_NOW) so tests drive time without sleeping.

`DS01_NOW` is Unix seconds (`1795000000`, fractions allowed) or ISO 8601
(`2026-11-23T14:30:00Z`; no zone means UTC). Only decisions that compare against policy timers
read it (idle, runtime, hold timers, the event log's timestamps and `--since`); timeouts of
locks and claims keep real time.
"""

import datetime
import re
from typing import Any

from .errors import UsageError
from .units import parse_duration

UTC = datetime.timezone.utc
_DIGITS_RE = re.compile(r"\d*")


def parse_iso(text: str, naive: datetime.tzinfo | None = UTC) -> datetime.datetime:
    """ISO 8601 (`Z` for UTC) as an aware datetime; a time without a zone is in `naive` (None: local time).
    ValueError otherwise. The one parser of times people write."""
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo:
        return moment
    return moment.replace(tzinfo=naive) if naive else moment.astimezone()


def parse_moment(text: Any) -> datetime.datetime:
    """An aware UTC datetime from Unix seconds or ISO 8601; ValueError otherwise."""
    text = str(text).strip()
    try:
        return datetime.datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use Unix seconds or ISO 8601, e.g. 2026-11-23T14:30:00Z)") from None


def parse_month(text: str) -> datetime.datetime:
    """`YYYY-MM` as its first second (UTC); ValueError otherwise."""
    try:
        return datetime.datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a month: {text!r} (use YYYY-MM, e.g. 2026-11)") from None


def now(fixed: Any = None) -> datetime.datetime:
    """The current time (aware, UTC), or `fixed` (the `now` setting, DS01_NOW) when given."""
    if fixed:
        try:
            return parse_moment(fixed)
        except ValueError as exc:
            raise UsageError(f"DS01_NOW: {exc}") from None
    return datetime.datetime.now(UTC)


def parse_since(text: Any, reference: datetime.datetime | None = None) -> datetime.datetime:
    """`--since`/`--until` values: ISO 8601, Unix seconds, or an age such as `30m`, `1h`, `2d` before now."""
    try:
        return parse_moment(text)
    except ValueError as not_a_time:
        try:
            age = parse_duration(str(text))
        except ValueError:
            raise not_a_time from None
        if age is None:  # the words for "unlimited" are no age
            raise not_a_time from None
        return (reference or now()) - datetime.timedelta(seconds=age)


def iso(moment: datetime.datetime | float) -> str:
    """`2026-11-23T14:30:00Z` (seconds precision) for an aware datetime or Unix seconds."""
    if not isinstance(moment, datetime.datetime):
        moment = datetime.datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_docker(text: str | None) -> datetime.datetime | None:
    """Docker's RFC 3339 timestamps (nanoseconds, Z) as aware datetimes (microseconds); None for the zero time or
    no time."""
    parts = _docker_parts(text)
    return None if parts is None else parts[0] + datetime.timedelta(microseconds=parts[1] // 1000)


def docker_ns(text: str | None) -> int | None:
    """Nanoseconds since the epoch of a Docker RFC 3339 timestamp, exactly; None for the zero time or no time."""
    parts = _docker_parts(text)
    return None if parts is None else int(parts[0].timestamp()) * 10**9 + parts[1]


def _docker_parts(text: str | None) -> tuple[datetime.datetime, int] | None:
    """(the whole second, the nanoseconds past it) of a Docker timestamp: the one parser of that format."""
    if not text or text.startswith("0001-01-01"):
        return None
    main, _, rest = text.replace("Z", "+00:00").partition(".")
    digits = _DIGITS_RE.match(rest).group(0)  # type: ignore[union-attr]  # \d* always matches
    return datetime.datetime.fromisoformat(main + rest[len(digits):]), int((digits + "0" * 9)[:9])
