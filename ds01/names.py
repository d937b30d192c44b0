"""Names: what users may type for a container, the Docker name `<name>._.<uid>` AIME uses, and logins in slice names."""

import re
from typing import Any

from .errors import UsageError

# AIME's characters (`[A-Za-z0-9_-]`, less the `#` Docker refuses), case kept: `MyBox` stays `MyBox`.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
SEPARATOR = "._."


def validate(name: Any) -> str:
    """The name as typed (surrounding spaces dropped, case kept, as AIME keeps it), or UsageError before
    anything touches Docker."""
    if not isinstance(name, str) or not name:
        raise UsageError("a container name is required")
    normal = name.strip()
    if not NAME_RE.match(normal):
        raise UsageError(
            f"invalid container name {name!r}",
            hint="use 1-63 letters, digits, '_' or '-', starting with a letter or digit")
    return normal


def same(one: str, other: str) -> bool:
    """Two names one user may not hold side by side: equal but for case (`MyBox`, `mybox`), as on a
    case-insensitive file system (their default workspaces would be one directory there)."""
    return one.casefold() == other.casefold()


def container_name(name: str, uid: int) -> str:
    """Docker name for a user's container: `pt271` + 1000 -> `pt271._.1000`."""
    return f"{name}{SEPARATOR}{uid}"


def split(docker_name: str) -> tuple[str, int | None]:
    """(display name, uid or None) from a Docker name; legacy names without a suffix keep their full name."""
    docker_name = docker_name.lstrip("/")
    base, sep, suffix = docker_name.partition(SEPARATOR)
    if sep and suffix.isdigit():
        return base, int(suffix)
    return docker_name, None


def sanitize_username(login: Any) -> str:
    """A name safe inside a systemd slice name: `h.baker@x.lan` -> `h_baker`.

    Strips the domain, maps everything but letters, digits, `_` and `:` to `_`, collapses
    and trims underscores; names over 32 characters become 27 characters + `_` + 4 hex
    digits of the md5 of the original (the same slice names DS01 produced).
    """
    name = str(login).split("@", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_:]", "_", name)
    name = re.sub(r"_+", "_", name).strip("_")
    if len(name) > 32:
        import hashlib  # lazy: hashlib, 3 ms

        digest = hashlib.md5(str(login).encode()).hexdigest()[:4]  # noqa: S324 - naming, not security
        name = name[:27].rstrip("_") + "_" + digest
    return name
