"""The event log: one JSON object per line in events.jsonl, appended by every command that changes something.

It is an audit trail for people (`ds01-events`), never a source of state. Each line is
`{timestamp, event_type, schema_version, user, source, details}`, at most 4 KiB, written with
one `write()` on an O_APPEND descriptor under an advisory lock, so concurrent writers never
interleave. Writing never fails a command: a problem is reported once on stderr.

`user` is whose object the event is about (the container's owner), `details.by` who acted
when that is someone else (an admin, a cron job).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import clock
from .errors import Ds01Error, PermissionDenied
from .privilege import root_files

if TYPE_CHECKING:
    import datetime

SCHEMA_VERSION = "1"
MAX_BYTES = 4096
FILE_NAME = "events.jsonl"
LOCK_WAIT_S = 5.0  # appends take microseconds: a lock held longer is someone holding it on purpose

# The event types ds01 writes (docs/records.md describes each one's details).
TYPES = (
    "container.create", "container.start", "container.stop", "container.remove", "container.pause",
    "container.unpause", "container.idle-stop", "container.runtime-stop", "container.pause-stop",
    "gpu.allocate", "gpu.release", "gpu.reject",
    "image.build", "image.remove",
    "lifecycle.warn", "lifecycle.keep-alive", "lifecycle.exempt",
)


def envelope(event_type: str, user: str | None = None, source: str | None = None,
             details: dict[str, Any] | None = None, moment: datetime.datetime | None = None) -> dict[str, Any]:
    return {"timestamp": clock.iso(moment or clock.now()), "event_type": event_type,
            "schema_version": SCHEMA_VERSION, "user": user, "source": source, "details": details or {}}


def encode(event: Mapping[str, Any]) -> bytes:
    """The line for `event`, at most MAX_BYTES: oversized details become {truncated, original_size}."""
    line = json.dumps(event, separators=(",", ":"), default=str, ensure_ascii=False) + "\n"
    data = line.encode()
    if len(data) > MAX_BYTES:
        event = dict(event, details={"truncated": True, "original_size": len(data)})
        data = (json.dumps(event, separators=(",", ":"), default=str, ensure_ascii=False) + "\n").encode()
    if len(data) > MAX_BYTES:
        raise ValueError(f"event of {len(data)} bytes exceeds {MAX_BYTES}")
    return data


def append(path: str, event: Mapping[str, Any]) -> None:
    """Append one event atomically (one write on O_APPEND, under the lock: statedir.held opens the log as root's
    file, 0640, a regular file only, and waits at most LOCK_WAIT_S). Raises OSError/ValueError/Ds01Error."""
    from .statedir import held  # lazy: ds01.statedir, 9 ms

    data = encode(event)
    with held(path, access=os.O_WRONLY | os.O_APPEND, mode=0o640, timeout=LOCK_WAIT_S) as handle:
        written = handle.write(data)
        if written != len(data):
            raise OSError(f"short write ({written} of {len(data)} bytes)")


class Log:
    """Event writer for one command: knows the file, the command's name and who is acting."""

    def __init__(self, directory: str, source: str, actor: str | None = None,
                 clock: Callable[[], datetime.datetime] | None = None) -> None:
        self.path = os.path.join(directory, FILE_NAME)
        self.source, self.actor, self.clock = source, actor, clock
        self.reported = False
        self.enabled = True

    def __call__(self, event_type: str, user: str | None = None, **details: Any) -> bool:
        """Write one event; returns False (said once on stderr) when it cannot be written."""
        if not self.enabled:
            return False
        if user is None:
            user = self.actor
        elif self.actor and user != self.actor and "by" not in details:
            details["by"] = self.actor
        try:
            append(self.path, envelope(event_type, user, self.source, details, self.clock() if self.clock else None))
            return True
        except (OSError, ValueError, Ds01Error) as exc:
            if not self.reported:
                self.reported = True
                reason = getattr(exc, "strerror", None) or str(exc)
                sys.stderr.write(f"{self.source}: warning: could not write the event log {self.path}: {reason}\n"
                                 f"  hint: the change itself was made; an admin can check the log dir "
                                 f"(DS01_LOG_DIR or paths.log_dir)\n")
            return False


def read(path: str, skipped: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Events in file order. A line that is not an event (not JSON, or not an event's shape: anyone
    could once append to the log) is skipped, and counted in `skipped` (a list) if given."""
    try:
        with root_files():  # ds01-events, served by ds01d, filters what a non-admin sees
            handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return
    except PermissionError:
        raise PermissionDenied(f"cannot read the event log {path}",
                               hint="it is root's (0640); ds01-events reads it through ds01d") from None
    with handle:
        for line in handle:
            event = _parse(line)
            if event is not None:
                yield event
            elif skipped is not None and line.strip():
                skipped.append(line)


def tail(path: str, count: int, accept: Callable[[dict[str, Any]], bool] | None = None, window: int = 256 * 1024,
         step: int = 32 * 1024) -> list[dict[str, Any]]:
    """The last `count` events of the log that `accept` takes, oldest first, reading backwards from the end in
    `step` blocks, never more than `window` bytes (a live view needs the latest, never the whole file)."""
    if not count:
        return []
    try:
        with root_files(), open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            start, data, found = end, b"", []
            while start > 0 and end - start < window:
                start = max(0, start - step)
                handle.seek(start)
                data = handle.read(end - start)
                lines = data.decode("utf-8", "replace").splitlines()
                if start > 0:
                    lines = lines[1:]  # the first line is cut
                found = [e for e in map(_parse, lines) if e is not None and (accept is None or accept(e))]
                if len(found) >= count:
                    break
    except OSError:
        return []
    return found[-count:]


def _parse(line: str) -> dict[str, Any] | None:
    """The event on `line`, or None unless it has an event's shape (the keys envelope() writes, typed)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
        return None
    if not isinstance(event.get("details", {}), dict) or not isinstance(event.get("user") or "", str):
        return None
    if not isinstance(event.get("timestamp") or "", str) or not isinstance(event.get("source") or "", str):
        return None
    return event


class Filter:
    """What `ds01-events` asks for: user, type prefix, container, a time window."""

    def __init__(self, user: str | None = None, type_prefix: str | None = None, container: str | None = None,
                 since: datetime.datetime | None = None, until: datetime.datetime | None = None) -> None:
        self.user, self.type_prefix, self.container = user, type_prefix, container
        self.since = since.timestamp() if since else None
        self.until = until.timestamp() if until else None

    def __call__(self, event: Mapping[str, Any]) -> bool:
        if self.user and event.get("user") != self.user:
            return False
        if self.type_prefix and not str(event.get("event_type", "")).startswith(self.type_prefix):
            return False
        if self.container:
            details = event.get("details") or {}
            if self.container not in (details.get("container"), details.get("name")):
                return False
        if self.since is not None or self.until is not None:
            moment = _seconds(event.get("timestamp"))
            if moment is None:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment > self.until:
                return False
        return True


def _seconds(text: object) -> float | None:
    try:
        return clock.parse_moment(text).timestamp()
    except (ValueError, TypeError):
        return None


def follow(path: str, accept: Callable[[dict[str, Any]], bool], poll: float = 0.5,
           stop: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
    """Yield new matching events as they are appended (from the end of the file); survives rotation."""
    position, inode = 0, None
    pending = b""
    while stop is None or not stop():
        try:
            with root_files():
                stat = os.stat(path)
        except FileNotFoundError:
            time.sleep(poll)
            continue
        if inode != stat.st_ino or stat.st_size < position:
            position = stat.st_size if inode is None else 0  # start at the end; after rotation, at the start
            inode, pending = stat.st_ino, b""
        if stat.st_size > position:
            with root_files(), open(path, "rb") as handle:
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                event = _parse(line.decode(errors="replace"))
                if event is not None and accept(event):
                    yield event
        else:
            time.sleep(poll)
