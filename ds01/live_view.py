"""A live, exact copy of the engine's container list, kept in ds01d, so a served read skips `/containers/json`.

Why: a served `container-list` spent most of its time waiting for the engine to list and encode every
container, the same wait `docker ps` has. ds01d is one warm process that can see every change:

- At start it lists every container once (`/containers/json?all=1`, the shape `docker ps` reads) and inspects
  each once (the times Docker's status text is computed from, the config gpu-status reads for containers
  ds01 did not make), then follows `/events` in its selector loop. An event about a container refreshes that
  container's entry and inspection (a network event its container; an image event every entry, since the list
  names a container's image by ID once its tag moved); a container that is gone is dropped.
- A worker inherits the view as of its fork. Before it answers, `exact()` drains the engine's own record of
  what happened since the view's last event (`/events?since=LAST&until=NOW`, about 0.3 ms) and applies it the
  same way, so anything that finished before the request (a container another tool just removed) is seen. The
  worker sends that request at its first moment (`ask()`) and reads it when the command first lists, so the
  engine answers while the worker sets itself up. It asks from BARRIER_MARGIN_NS before the newest event it
  has and skips the events it applied (the engine's `since` repeats its own moment; racing events can arrive
  out of order), so a read with nothing new refreshes nothing.
- The status text ("Up 5 minutes", "Exited (0) 3 seconds ago") is computed at answer time as the engine
  computes it (moby's State.String() with go-units' HumanDuration), from the inspected times.

If the stream breaks, a refresh fails, or the barrier cannot be sure it saw everything (the engine keeps only
its last 256 events), the view is not used: reads ask the engine, as without ds01d, and ds01d logs it once.
The view is root's memory in ds01d; commands still filter it by owner exactly as they filter the engine's list.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

from . import clock
from .dockerapi import DockerAPI, _moment, _url
from .errors import Ds01Error

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Iterator

    from .runtime import Runtime

    Times = tuple[int, int | None, int | None]  # (created, started, finished) in ns; None: Docker's zero time
    EventKey = tuple[int, Any, Any, Any, Any]  # (timeNano, Type, Action, Actor.ID, Actor.Attributes.container)
    # To mypy a ViewAPI is the DockerAPI it stands in for: what it does not answer itself goes to the engine by
    # __getattr__, and mypy checks that what it answers has DockerAPI's signatures. At run time its base is object.
    _StandIn = DockerAPI
else:
    _StandIn = object

EVENT_RING = 256  # moby keeps its last 256 events for `since`; a barrier that returns that many may miss some
MAX_LINE = 1 << 20  # one event; a longer line is not the engine's
SKIPPED = ("exec_create", "exec_start", "exec_detach", "exec_die", "top", "archive-path", "resize")
REFRESH_BATCH = 50  # ids in one filtered list call
RETRY_AFTER_S = 10.0
SINCE_MARGIN_NS = 10**9  # applying an event twice is harmless; missing one is not
# The engine stamps an event before it takes the lock that publishes it, so two racing events can arrive out of
# order by the moment between: a barrier asks again for this much before the newest event it has, and skips those
# it has applied (View.seen).
BARRIER_MARGIN_NS = 100 * 10**6

_view: View | None = None  # ds01d's view (a worker's copy after the fork); None outside ds01d or while switched off


class View:
    """Containers by full ID: the list entry as `/containers/json` gives it, plus the inspection it came with."""

    def __init__(self, api: DockerAPI, log: Callable[[str], None] | None = None) -> None:
        self.api = api
        self.log: Callable[[str], None] = log or (lambda message: None)
        self.entries: dict[str, dict[str, Any]] = {}    # id -> list entry
        self.inspected: dict[str, dict[str, Any]] = {}  # id -> inspect result
        # id -> (created, started, finished) in ns, parsed once here, not in every worker
        self.times: dict[str, Times] = {}
        self.images: list[dict[str, Any]] = []  # `/images/json` as the engine last gave it (image-list)
        self.last_ns = 0     # every event up to this engine time is applied
        self.seen: set[EventKey] = set()  # the events of the last BARRIER_MARGIN_NS before last_ns, applied already
        self.broken: str | None = None  # why the view is not used, or None
        self.broken_at = 0.0
        self.stream: socket.socket | None = None
        self._buffer = b""
        self._head = True    # the stream's HTTP header is still to come
        self._asked: socket.socket | None = None  # a worker's barrier, sent at its start and read by its first read

    # -- building and following (ds01d's parent)

    def build(self) -> None:
        """List and inspect everything, then open the stream from the moment before the list."""
        self.close()
        self.entries, self.inspected, self.times, self._buffer, self._head = {}, {}, {}, b"", True
        self.seen = set()
        start_ns = time.time_ns() - SINCE_MARGIN_NS  # an event just before the list, its change not yet in it
        try:
            for entry in self.api.containers(all=True):
                self._store(entry)
            self.images = self.api.images()
            self.last_ns = start_ns
            self.stream = self.api.open_events(since_ns=start_ns, filters=_STREAM_FILTERS)
        except Ds01Error as exc:
            self.fail(f"cannot build: {exc.message}")
            return
        self.broken = None
        self.log(f"live view: {len(self.entries)} containers, {len(self.images)} images, following the engine's "
                 "events")

    def fileno(self) -> int:
        return self.stream.fileno() if self.stream is not None else -1

    def readable(self) -> None:
        """Read what the stream has (it never blocks ds01d: the socket is non-blocking) and apply it."""
        if self.stream is None:
            return
        try:
            chunk = self.stream.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self.fail(f"the engine's event stream failed: {exc}")
            return
        if not chunk:
            self.fail("the engine closed its event stream")
            return
        self._buffer += chunk
        if self._head:
            head, found, rest = self._buffer.partition(b"\r\n\r\n")
            if not found:
                self._bounded()
                return
            if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                self.fail(f"the engine refused the event stream: {head[:80]!r}")
                return
            self._buffer, self._head = rest, False
        *lines, self._buffer = self._buffer.split(b"\n")
        if not self._bounded():
            return
        try:
            self.apply([json.loads(line) for line in lines if line.strip()])
        except ValueError as exc:
            self.fail(f"unreadable event from the engine: {exc}")
        except Ds01Error as exc:
            self.fail(f"cannot refresh after an event: {exc.message}")

    def _bounded(self) -> bool:
        if len(self._buffer) > MAX_LINE:
            self.fail("an event line over 1 MiB")
            return False
        return True

    def fail(self, why: str) -> None:
        """Stop using the view (reads go to the engine) and say so once."""
        self.close()
        if self.broken is None:
            self.log(f"live view off, reads ask the engine: {why}")
        self.broken, self.broken_at = why, time.monotonic()

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError:
                pass
            self.stream = None

    def retry_due(self) -> bool:
        return self.broken is not None and time.monotonic() - self.broken_at >= RETRY_AFTER_S

    # -- applying events (parent and worker alike)

    def apply(self, events: list[dict[str, Any]]) -> None:
        """Refresh what `events` (the engine's JSON messages) touched; then they count as seen."""
        ids: set[str | None] = set()  # None: an event that names none (refreshes nothing)
        everything, images, newest = False, False, self.last_ns
        for event in events:
            moment, actor = int(event.get("timeNano") or 0), event.get("Actor") or {}
            key: EventKey = (moment, event.get("Type"), event.get("Action"), actor.get("ID"),
                             (actor.get("Attributes") or {}).get("container"))
            if key in self.seen:
                continue  # applied already: a barrier asks again for the last BARRIER_MARGIN_NS
            self.seen.add(key)
            newest = max(newest, moment)
            kind, action = event.get("Type"), event.get("Action") or ""
            if kind == "container" and not action.startswith(SKIPPED):
                ids.add(actor.get("ID") or event.get("id"))
                images = images or action == "commit"  # a new image, tagged or not
            elif kind == "network" and (actor.get("Attributes") or {}).get("container"):
                ids.add(actor["Attributes"]["container"])
            elif kind == "image":
                everything = True
        if everything:
            self._relist()
        elif ids:
            self._refresh(sorted(i for i in ids if i))
        if everything or images:  # an image event (pull, tag, untag, delete, import, load, prune) or a commit
            self.images = self.api.images()
        self.last_ns = newest
        self.seen = {key for key in self.seen if key[0] >= newest - BARRIER_MARGIN_NS}

    def _refresh(self, ids: list[str]) -> None:
        """Inspect first, then list: the engine logs some events (pause) before it updates the copy its list
        reads, but under the container's lock, which an inspection waits for; so the list then read is new."""
        from .errors import NotFound

        for at in range(0, len(ids), REFRESH_BATCH):
            batch = ids[at:at + REFRESH_BATCH]
            inspected: dict[str, dict[str, Any]] = {}
            for cid in batch:
                try:
                    inspected[cid] = self.api.inspect_container(cid)
                except NotFound:
                    self._drop(cid)
            if not inspected:
                continue
            listed = {e["Id"]: e for e in self.api.containers(all=True, filters={"id": sorted(inspected)})}
            for cid, info in inspected.items():
                if cid in listed:
                    self.entries[cid], self.inspected[cid], self.times[cid] = listed[cid], info, _times(info)
                else:
                    self._drop(cid)

    def _relist(self) -> None:
        listed = {e["Id"]: e for e in self.api.containers(all=True)}
        for cid in set(self.entries) - set(listed):
            self._drop(cid)
        for cid, entry in listed.items():
            if cid in self.inspected:
                self.entries[cid] = entry
            else:
                self._store(entry)

    def _store(self, entry: dict[str, Any]) -> None:
        from .errors import NotFound

        try:
            info = self.api.inspect_container(entry["Id"])
        except NotFound:
            self._drop(entry["Id"])
            return
        self.entries[entry["Id"]] = entry
        self.inspected[entry["Id"]] = info
        self.times[entry["Id"]] = _times(info)

    def _drop(self, cid: str) -> None:
        self.entries.pop(cid, None)
        self.inspected.pop(cid, None)
        self.times.pop(cid, None)

    # -- answering (a worker)

    def ask(self) -> None:
        """Send the barrier now, at a worker's start, and read it at its first read (exact()): the engine answers
        while the worker sets itself up. It covers every event before this moment, which is after the request came."""
        if self.broken is not None or self._asked is not None:
            return
        until = time.time_ns()
        try:
            sock = self.api._connect()
            query = _url("/events", {"since": _moment(self.last_ns - BARRIER_MARGIN_NS), "until": _moment(until)})
            sock.sendall(f"GET {query} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        except OSError:
            return  # exact() asks again, and says why if it fails
        self._asked = sock

    def _answer(self) -> list[dict[str, Any]]:
        """The events of the barrier ask() sent, or of one sent now."""
        sock, self._asked = self._asked, None
        if sock is None:
            return self.api.events(since_ns=self.last_ns - BARRIER_MARGIN_NS, until_ns=time.time_ns())
        chunks = []
        try:
            while chunk := sock.recv(262144):
                chunks.append(chunk)
        except OSError as exc:
            raise ValueError(f"the engine's answer broke: {exc}") from None
        finally:
            sock.close()
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
            raise ValueError(f"the engine refused the barrier: {head[:80]!r}")
        return [json.loads(line) for line in body.split(b"\n") if line.strip()]

    def exact(self) -> bool:
        """True when this process's copy now has every event the engine logged before now (the barrier)."""
        if self.broken is not None:
            return False
        try:
            events = self._answer()
            if len(events) >= EVENT_RING:
                raise ValueError("the engine's ring may have dropped some events")
            self.apply(events)
        except (Ds01Error, ValueError):
            self.broken = "the barrier failed"  # this copy (a worker's) asks the engine from now on
            return False
        return True

    def containers(self, now_ns: int | None = None) -> list[dict[str, Any]]:
        """Every container as `/containers/json?all=1` gives it now: the engine's order, the status text of now."""
        now_ns = now_ns or time.time_ns()
        times = self.times
        order = sorted(self.entries, key=lambda cid: times[cid][0], reverse=True)
        return [dict(self.entries[cid], Status=status_text(self.inspected[cid]["State"], now_ns, times[cid]))
                for cid in order]


class ViewAPI(_StandIn):
    """The engine's reader for a served read, answered from the view: the list, the inspection the view took at
    the container's last event (config, host config, mounts and state are exact; a health check's log is not),
    and the image list. Everything else is asked of the engine."""

    def __init__(self, view: View) -> None:
        self.view, self.host = view, view.api.host
        self.fresh = True  # reader() has just run the barrier; a later list (a --watch frame) runs it again

    def containers(self, all: bool = True, filters: dict[str, list[str]] | None = None,
                   size: bool = False) -> list[dict[str, Any]]:
        fresh, self.fresh = self.fresh, False
        if filters or size or not (fresh or self.view.exact()):
            return self.view.api.containers(all=all, filters=filters, size=size)
        listed = self.view.containers()
        return listed if all else [e for e in listed if e.get("State") in ("running", "paused", "restarting")]

    def images(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        fresh, self.fresh = self.fresh, False
        if filters or not (fresh or self.view.exact()):
            return self.view.api.images(filters=filters)
        return [dict(image) for image in self.view.images]

    def inspect_container(self, ref: str) -> dict[str, Any]:
        info = self.view.inspected.get(ref) if self.view.broken is None else None
        return info if info is not None else self.view.api.inspect_container(ref)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.view.api, name)


_STREAM_FILTERS = {"type": ["container", "network", "image"]}


def start(host: str | None, log: Callable[[str], None]) -> View | None:
    """ds01d's view of the engine at `host` (unix sockets only: the barrier compares the engine's clock with
    ours); None when not followed."""
    global _view
    _view = _built(host, log)
    return _view


def _built(host: str | None, log: Callable[[str], None]) -> View | None:
    if host is None or not host.startswith("unix://"):
        log(f"live view off: {host} is not a local engine")
        return None
    view = View(DockerAPI(host, timeout=10), log)
    view.build()
    return view


def ask() -> None:
    """A worker's first moment: send its barrier (View.ask), if ds01d keeps a view."""
    if _view is not None:
        _view.ask()


def reader(api: DockerAPI) -> DockerAPI:
    """What a served read should list from: the view, made exact now, when ds01d keeps one for this engine;
    else `api` itself."""
    view = _view
    if view is None or view.api.host != api.host or not view.exact():
        return api
    return ViewAPI(view)


def serve_reads(rt: Runtime) -> Runtime:
    """Point a read-only command's engine reads (`rt.api`: the list, and inspections of what it lists) at
    ds01d's view, made exact now; outside ds01d, or with the view off, they stay the engine's."""
    rt.api = reader(rt.api)
    return rt


class Followed:
    """A view in a threaded process that is not ds01d (the exporter): a thread of its own follows the stream, and
    `reading()` makes the view exact and lends it out, under the one lock that thread applies events under."""

    def __init__(self, view: View) -> None:
        import threading  # lazy: threading, loaded by the exporter's server already

        self.view, self.lock, self.stopped = view, threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self._follow, name="live-view", daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        import select  # lazy: select, the exporter's only

        while not self.stopped.is_set():
            with self.lock:
                if self.view.retry_due():
                    self.view.build()
                stream = self.view.stream
            if stream is None:
                self.stopped.wait(1.0)  # broken: the rebuild is due RETRY_AFTER_S after it broke
                continue
            try:
                ready, _, _ = select.select([stream], [], [], 1.0)
            except (OSError, ValueError):  # closed under us by a rebuild
                continue
            if ready:
                with self.lock:
                    if self.view.stream is stream:
                        self.view.readable()

    @contextlib.contextmanager
    def reading(self, api: DockerAPI) -> Iterator[DockerAPI]:
        """What a read should list from while the block runs: the view, made exact now, else `api` (the engine)."""
        with self.lock:
            yield ViewAPI(self.view) if self.view.exact() else api

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        with self.lock:
            self.view.close()


def follow(host: str | None, log: Callable[[str], None]) -> Followed | None:
    """A view of the engine at `host` followed by a thread (Followed); None where it cannot be (not a local engine:
    the barrier compares the engine's clock with ours)."""
    view = _built(host, log)
    return Followed(view) if view is not None else None


# -- Docker's status text, as moby's container/state.go String() and go-units' HumanDuration write it


def status_text(state: dict[str, Any], now_ns: int, times: Times | None = None) -> str:
    """`times`: the container's (created, started, finished) ns as _times() parses them (else parsed here)."""
    _, started, finished = times or (0, _ns(state.get("StartedAt")), _ns(state.get("FinishedAt")))

    def since(key: str) -> str:
        return human_duration(now_ns - ((started if key == "StartedAt" else finished) or 0))

    if state.get("Running"):
        if state.get("Paused"):
            return f"Up {since('StartedAt')} (Paused)"
        if state.get("Restarting"):
            return f"Restarting ({state.get('ExitCode', 0)}) {since('FinishedAt')} ago"
        health = (state.get("Health") or {}).get("Status")
        up = f"Up {since('StartedAt')}"
        if health:
            return f"{up} ({'health: starting' if health == 'starting' else health})"
        return up
    if state.get("Status") == "removing":
        return "Removal In Progress"
    if state.get("Dead"):
        return "Dead"
    if started is None:
        return "Created"
    if finished is None:
        return ""
    return f"Exited ({state.get('ExitCode', 0)}) {since('FinishedAt')} ago"


def human_duration(ns: int) -> str:
    """go-units HumanDuration of a duration in nanoseconds."""
    seconds = _trunc(ns, 10**9)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = _trunc(ns, 60 * 10**9)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hour_ns = 3600 * 10**9
    hours = int(float(_trunc(ns, hour_ns)) + float(ns - _trunc(ns, hour_ns) * hour_ns) / hour_ns + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{_trunc(ns, hour_ns) // 24 // 365} years"


def _trunc(a: int, b: int) -> int:
    """Go's integer division (towards zero)."""
    return a // b if a >= 0 else -((-a) // b)


def _ns(text: str | None) -> int | None:
    """Nanoseconds since the epoch of Docker's RFC 3339 UTC time; None for the zero time."""
    return clock.docker_ns(text)


def _times(info: dict[str, Any]) -> Times:
    """(created, started, finished) of an inspection in ns; started and finished None for Docker's zero time."""
    state = info.get("State") or {}
    return _ns(info.get("Created")) or 0, _ns(state.get("StartedAt")), _ns(state.get("FinishedAt"))
