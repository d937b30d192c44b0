"""ds01-events: what happened, from the event log: who created, stopped, removed, allocated, warned."""

import collections
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

import click

from .. import clock, events
from ..errors import PermissionDenied, UsageError
from ..output import render_table
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("timestamp", "TIME"), ("event_type", "TYPE"), ("user", "USER"), ("container", "CONTAINER"),
           ("source", "SOURCE"), ("summary", "DETAILS")]


@click.command(epilog="""\b
Examples:
  ds01-events                              your events, oldest first
  ds01-events --since 1h --type container  container events of the last hour
  ds01-events --type lifecycle.warn        the warnings the lifecycle jobs sent you
  ds01-events --container thesis --limit 5 the last five events about one container
  ds01-events --follow                     new events as they happen (Ctrl-C ends)
  ds01-events --user alice --since 2d      (admins) one user's events
Times: ISO 8601 (2026-11-23T14:00:00Z) or an age: 30m, 1h, 2d, 1w.
--type matches a prefix: `container` finds container.stop and container.idle-stop.
Non-admins see the events about themselves. The log is /var/log/ds01/events.jsonl
(DS01_LOG_DIR or paths.log_dir); docs/records.md lists every event type.
See also: container-list, gpu-status, check-limits""")
@click.option("--user", "user", metavar="USER", help="Only events about USER (default: you; admins: everyone).")
@click.option("--type", "type_prefix", metavar="PREFIX", help="Only event types starting with PREFIX.")
@click.option("--container", metavar="NAME", help="Only events about this container (NAME or NAME._.UID).")
@click.option("--since", metavar="TIME", help="Only events at or after TIME (ISO 8601 or an age: 1h, 2d).")
@click.option("--until", metavar="TIME", help="Only events at or before TIME.")
@click.option("-n", "--limit", type=click.IntRange(min=0), help="Only the last N matching events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new matching events as they are written.")
@output_options
@config_option
def cli(user, type_prefix, container, since, until, limit, follow, json_flag, table_flag, config):
    """Events from the log, oldest first, filtered by user, type, container and time."""
    rt = Runtime(config, read_only=True)
    if user is None and not rt.admin:
        user = rt.caller.login
    if user is not None and user != rt.caller.login and not rt.admin:
        raise PermissionDenied(f"the events of {user} are for admins only", hint="ds01-events shows your own")
    try:
        now = rt.now()
        since_at = clock.parse_since(since, now) if since else None
        until_at = clock.parse_since(until, now) if until else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    accept = events.Filter(user, type_prefix, container, since_at, until_at)
    path = os.path.join(rt.settings.get("log_dir"), events.FILE_NAME)
    out = new_output(json_flag, table_flag, COLUMNS)
    if follow:
        _follow(path, accept, out)
        return
    skipped: list[str] = []
    found: Iterable[dict[str, Any]] = (e for e in events.read(path, skipped) if accept(e))
    if limit is not None:
        found = collections.deque(found, maxlen=limit)
    for event in found:
        out.emit(_row(event) if out.table else event)
    out.close(empty="no events match")
    if skipped:
        sys.stderr.write(f"ds01-events: warning: {len(skipped)} line{'s' if len(skipped) != 1 else ''} of {path} "
                         "are not events (not JSON, or not an event's shape); skipped\n")


def _row(event):
    details = dict(event.get("details") or {})
    container = details.pop("container", None) or details.get("name")
    details.pop("name", None)
    details.pop("id", None)
    summary = " ".join(f"{k}={_short(v)}" for k, v in details.items() if v not in (None, "", [], {}))
    return dict(event, container=container, summary=summary)


def _short(value):
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 60 else text[:57] + "..."


def _follow(path, accept, out):
    for event in events.follow(path, accept):
        if out.table:
            line = render_table([_row(event)], COLUMNS).splitlines()[-1]
            sys.stdout.write(line + "\n")
        else:
            out.emit(event)
        sys.stdout.flush()


def main():
    run(cli)
