"""A small read-only Docker Engine API client for the hot paths (list, inspect).

Why not the docker SDK here: importing it costs about 130 ms (requests, urllib3, certifi),
more than `docker ps` itself takes; `container-list` must stay within 3x of `docker ps`.
Everything that changes Docker goes through the SDK (ds01.engine).
"""

import http.client
import json
import os
import socket
import urllib.parse

from .errors import Ds01Error, NotFound, PermissionDenied

DEFAULT_HOST = "unix:///var/run/docker.sock"


def docker_host():
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class DockerAPI:
    """GET requests against the engine named by DOCKER_HOST (unix:// or tcp://)."""

    def __init__(self, host=None, timeout=60):
        self.host = host or docker_host()
        self.timeout = timeout

    def _connection(self):
        if self.host.startswith("unix://"):
            return _UnixConnection(self.host[len("unix://"):], self.timeout)
        parsed = urllib.parse.urlparse(self.host.replace("tcp://", "http://", 1))
        return http.client.HTTPConnection(parsed.hostname, parsed.port or 2375, timeout=self.timeout)

    def ping(self):
        """True when the engine answers."""
        return self._request("/_ping") == b"OK"

    def get(self, path, **params):
        body = self._request(path, **params)
        return json.loads(body) if body else None

    def _request(self, path, **params):
        query = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in params.items() if v is not None}
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        connection = self._connection()
        try:
            connection.request("GET", url)
            response = connection.getresponse()
            body = response.read()
        except PermissionError:
            raise PermissionDenied(f"no permission to use the Docker engine at {self.host}",
                                   hint="ask an admin to add you to the docker group") from None
        except (FileNotFoundError, ConnectionRefusedError, socket.timeout, OSError) as exc:
            raise Ds01Error(f"cannot reach the Docker engine at {self.host}: {exc}",
                            hint="is dockerd running? DOCKER_HOST selects another engine") from None
        finally:
            connection.close()
        if response.status == 404:
            raise NotFound(_message(body) or f"{path}: not found")
        if response.status >= 400:
            raise Ds01Error(f"Docker engine error {response.status}: {_message(body)}")
        return body

    def containers(self, all=True, filters=None):
        """`docker ps` records (the engine's JSON); one call for any number of containers."""
        return self.get("/containers/json", all=int(all), filters=filters)

    def inspect_container(self, ref):
        return self.get(f"/containers/{urllib.parse.quote(ref, safe='')}/json")

    def images(self, filters=None):
        return self.get("/images/json", filters=filters)

    def inspect_image(self, ref):
        return self.get(f"/images/{urllib.parse.quote(ref, safe='/:@')}/json")


def _message(body):
    try:
        return json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip()
