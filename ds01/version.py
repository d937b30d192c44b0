"""What `--version` and `ds01 version` report: ds01's version, the commit it was built from, where it is
installed, the Python running it and the Docker engine it talks to.

The commit and the tree come from the BUILD file `make install` writes into the installed
package (an installed tree has no .git), else from the checkout's .git, read directly: no git
process, no shell.
"""

import os
import sys
from typing import Any

from . import __version__
from .dockerapi import DockerAPI
from .errors import Ds01Error

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build(key: str) -> str | None:
    """A line of the BUILD file make install writes into the installed package (`commit=`, `tree=`)."""
    try:
        with open(os.path.join(HERE, "BUILD"), encoding="utf-8") as handle:
            for line in handle:
                name, _, value = line.strip().partition("=")
                if name == key and value:
                    return value
    except OSError:
        pass
    return None


def commit(root: str = ROOT) -> str | None:
    """The build's commit: the installed BUILD's, or the checkout's HEAD (`root`)."""
    if root == ROOT and build("commit"):
        return build("commit")
    git = os.path.join(root, ".git")
    try:
        with open(os.path.join(git, "HEAD"), encoding="ascii") as handle:
            head = handle.read().strip()
        if not head.startswith("ref: "):
            return head[:40] or None
        ref = head[5:]
        try:
            with open(os.path.join(git, ref), encoding="ascii") as handle:
                return handle.read().strip()[:40]
        except FileNotFoundError:
            with open(os.path.join(git, "packed-refs"), encoding="ascii") as handle:
                for line in handle:
                    sha, _, name = line.strip().partition(" ")
                    if name == ref:
                        return sha[:40]
    except (OSError, UnicodeDecodeError):
        return None
    return None


def engine_version(host: str | None) -> str | None:
    """The Docker engine's version, or None when it does not answer within a second."""
    try:
        found = DockerAPI(host, timeout=1.0).get("/version") or {}
    except (Ds01Error, OSError):
        return None
    return str(found.get("Version")) if found.get("Version") else None


def info(docker_host: str | None = None, engine: bool = True) -> dict[str, Any]:
    found = commit()
    return {"version": __version__, "commit": found[:12] if found else None, "install_path": build("tree") or ROOT,
            "python": ".".join(map(str, sys.version_info[:3])), "python_path": sys.executable,
            "docker_engine": engine_version(docker_host) if engine else None}


def line(record: dict[str, Any], name: str = "ds01") -> str:
    """`container-list 0.1.0 (abc123def456) at /opt/ds01/0.1.0, Python 3.11.2, Docker 26.1.5`."""
    build = f" ({record['commit']})" if record.get("commit") else ""
    engine = record.get("docker_engine") or "not reachable"
    return (f"{name} {record['version']}{build} at {record['install_path']}, Python {record['python']}, "
            f"Docker engine {engine}")
