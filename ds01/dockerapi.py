"""A small read-only Docker Engine API client for the hot paths (list, inspect).

Why not the docker SDK here: importing it costs about 130 ms (requests, urllib3, certifi),
more than `docker ps` itself takes; `container-list` must stay within 3x of `docker ps`.
Everything that changes Docker goes through the SDK (ds01.engine).
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from typing import Any, Literal, overload

from .errors import Ds01Error, NotFound, PermissionDenied
from .privilege import root_files

DEFAULT_HOST = "unix:///var/run/docker.sock"


def _quote(text: str, safe: str = "") -> str:
    from urllib.parse import quote  # lazy: urllib.parse, 1 ms

    return quote(text, safe=safe)


class DockerAPI:
    """GET requests against the engine named by DOCKER_HOST (unix:// or plain tcp://).

    HTTP/1.0 on a raw socket: the engine then sends the body unchunked and closes, and
    http.client (which imports the whole email package) is not needed.
    """

    def __init__(self, host: str | None = None, timeout: float = 60) -> None:
        self.host = host or DEFAULT_HOST
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        if self.host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = self.host[len("unix://"):]
        elif self.host.startswith(("tcp://", "http://")):
            hostport = self.host.split("://", 1)[1].rstrip("/")
            name, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "2375")
            sock = socket.socket(socket.AF_INET6 if name.startswith("[") else socket.AF_INET, socket.SOCK_STREAM)
            address = (name.strip("[]"), int(port))
        else:
            raise Ds01Error(f"unsupported DOCKER_HOST {self.host!r}", hint="use unix:///path or tcp://host:port")
        sock.settimeout(self.timeout)

        with root_files():  # in a ds01d worker: the engine is root's to reach, not the caller's
            sock.connect(address)
        return sock

    def ping(self) -> bool:
        """True when the engine answers."""
        return self._request("/_ping") == b"OK"

    def get(self, path: str, **params: Any) -> Any:
        body = self._request(path, **params)
        return json.loads(body) if body else None

    def path_stat(self, ref: str, path: str) -> dict[str, Any] | None:
        """The engine's stat of `path` inside a container (HEAD /archive): name, size, mode, mtime, linkTarget.

        Nothing runs in the container; NotFound when the path does not exist.
        """
        from .workspace_files import decode_path_stat  # lazy: ds01.workspace_files, 3 ms

        headers = self._request(f"/containers/{_quote(ref)}/archive", method="HEAD", headers_only=True,
                                params={"path": path})
        header = headers.get("x-docker-container-path-stat")
        return decode_path_stat(header) if header else None

    def events(self, since_ns: int, until_ns: int,
               filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """The engine's events from `since_ns` to `until_ns` (its own record of the last 256; returns at once)."""
        body = self._request("/events", since=_moment(since_ns), until=_moment(until_ns), filters=filters)
        return [json.loads(line) for line in body.split(b"\n") if line.strip()]

    def open_events(self, since_ns: int, filters: dict[str, list[str]] | None = None) -> socket.socket:
        """A non-blocking socket on which the engine streams its events from `since_ns` on, one JSON object a
        line after the HTTP header; the caller reads and closes it."""
        try:
            sock = self._connect()
            sock.sendall(f"GET {_url('/events', {'since': _moment(since_ns), 'filters': filters})} HTTP/1.0\r\n"
                         "Host: docker\r\n\r\n".encode())
        except OSError as exc:
            raise Ds01Error(f"cannot reach the Docker engine at {self.host}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        return sock

    @overload
    def _request(self, path: str, method: str = ..., headers_only: Literal[False] = ...,
                 params: Mapping[str, Any] | None = ..., **more: Any) -> bytes: ...

    @overload
    def _request(self, path: str, method: str = ..., *, headers_only: Literal[True],
                 params: Mapping[str, Any] | None = ..., **more: Any) -> dict[str, str]: ...

    def _request(self, path: str, method: str = "GET", headers_only: bool = False,
                 params: Mapping[str, Any] | None = None, **more: Any) -> bytes | dict[str, str]:
        url = _url(path, dict(params or {}, **more))
        try:
            sock = self._connect()
            try:
                sock.sendall(f"{method} {url} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
                chunks = []
                while True:
                    chunk = sock.recv(262144)
                    if not chunk:
                        break
                    chunks.append(chunk)
            finally:
                sock.close()
        except PermissionError:
            raise PermissionDenied(f"no permission to use the Docker engine at {self.host}",
                                   hint="users reach Docker through ds01d: systemctl status ds01d") from None
        except OSError as exc:
            raise Ds01Error(f"cannot reach the Docker engine at {self.host}: {exc.strerror or exc}",
                            hint="is dockerd running? DOCKER_HOST selects another engine") from None
        response = b"".join(chunks)
        head, _, body = response.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise Ds01Error(f"unexpected answer from the Docker engine at {self.host}") from None
        if status == 404:
            raise NotFound(_message(body) or f"{path}: not found")
        if status >= 400:
            raise Ds01Error(f"Docker engine error {status}: {_message(body)}")
        if headers_only:
            fields = (line.partition(b":") for line in head.split(b"\r\n")[1:])
            return {k.strip().decode().lower(): v.strip().decode(errors="replace") for k, _, v in fields}
        return body

    def containers(self, all: bool = True, filters: dict[str, list[str]] | None = None,
                   size: bool = False) -> list[dict[str, Any]]:
        """`docker ps` records (the engine's JSON); one call for any number of containers.

        `size` adds SizeRw/SizeRootFs, which makes the engine walk every layer (slow).
        """
        records: list[dict[str, Any]] = self.get("/containers/json", all=int(all), filters=filters,
                                                 size="true" if size else None)
        return records

    def stats(self, ref: str, one_shot: bool = False) -> dict[str, Any]:
        """One `docker stats --no-stream` sample (the engine waits for two readings, about 1 s).

        `one_shot`: a single reading at once (memory is right; CPU % needs two readings).
        """
        extra = {"one-shot": "true"} if one_shot else {}
        sample: dict[str, Any] = self.get(f"/containers/{_quote(ref)}/stats", stream="false", **extra)
        return sample

    def top(self, ref: str) -> list[tuple[int, str]]:
        """(host pid, command line) of every process in a running container (`docker top`)."""
        top = self.get(f"/containers/{_quote(ref)}/top", ps_args="-eo pid,args")
        titles = top.get("Titles") or []
        args_at = titles.index("COMMAND") if "COMMAND" in titles else len(titles) - 1
        pid_at = titles.index("PID") if "PID" in titles else 0
        return [(int(row[pid_at]), row[args_at]) for row in top.get("Processes") or []]

    def images(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """`docker images` records (the engine's JSON)."""
        records: list[dict[str, Any]] = self.get("/images/json", filters=filters)
        return records

    def inspect_container(self, ref: str) -> dict[str, Any]:
        record: dict[str, Any] = self.get(f"/containers/{_quote(ref)}/json")
        return record

    def inspect_image(self, ref: str) -> dict[str, Any]:
        record: dict[str, Any] = self.get(f"/images/{_quote(ref, safe='/:@')}/json")
        return record


def daemon_pid(host: str | None) -> int | None:
    """The engine's process ID, from its socket's peer credentials (SO_PEERCRED); None when the engine is not on
    a local Unix socket, or does not answer."""
    if host is None or not host.startswith("unix://"):
        return None
    pid: int
    try:
        with root_files(), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(host[len("unix://"):])
            pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                            struct.calcsize("3i")))
    except OSError:
        return None
    return pid


def _url(path: str, params: Mapping[str, Any]) -> str:
    query = "&".join(f"{k}={_quote(json.dumps(v) if isinstance(v, (dict, list)) else str(v))}"
                     for k, v in params.items() if v is not None)
    return path + ("?" + query if query else "")


def _moment(ns: int) -> str:
    """A time as the engine's `since`/`until` take it: seconds.nanoseconds."""
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def _message(body: bytes) -> str:
    try:
        message: str = json.loads(body).get("message", "")
        return message
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip()
