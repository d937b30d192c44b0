"""Container names: what users may type, and the Docker name `<name>._.<uid>` AIME uses."""

import re

from .errors import UsageError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SEPARATOR = "._."


def validate(name):
    """The normalised (lower-case) name, or UsageError before anything touches Docker."""
    if not isinstance(name, str) or not name:
        raise UsageError("a container name is required")
    normal = name.strip().lower()
    if not NAME_RE.match(normal):
        raise UsageError(
            f"invalid container name {name!r}",
            hint="use 1-63 letters, digits, '_' or '-', starting with a letter or digit")
    return normal


def container_name(name, uid):
    """Docker name for a user's container: `pt271` + 1000 -> `pt271._.1000`."""
    return f"{name}{SEPARATOR}{uid}"


def split(docker_name):
    """(display name, uid or None) from a Docker name; legacy names without a suffix keep their full name."""
    docker_name = docker_name.lstrip("/")
    base, sep, suffix = docker_name.partition(SEPARATOR)
    if sep and suffix.isdigit():
        return base, int(suffix)
    return docker_name, None
