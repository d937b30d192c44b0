"""The configuration toolkit every ds01 file shares: value kinds, validation with file:line errors, and YAML.

The policy (`policy.py`), the simulated GPU inventory, the AIME catalog and the lifecycle
exemptions are all read with it: a schema is a `Section` of kinds, `load_yaml` keeps the line of
every key, and `validate` normalises a value or raises a `PolicyError` naming file, line and key.
"""

import datetime
import os
import re
import stat
from collections.abc import Sequence
from typing import Any

from .clock import parse_iso
from .errors import Ds01Error
from .units import parse_bytes, parse_duration


class PolicyError(Ds01Error):
    """A policy file that cannot be used; the message names file, line and key."""


# ---------------------------------------------------------------- value kinds

class Kind:
    """A validator for one key's value; `convert` returns the normalised value."""

    nullable = False
    doc = ""

    def convert(self, value: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


class Number(Kind):
    def __init__(self, nullable: bool = False, minimum: float | None = 0.0, maximum: float | None = None,
                 integer: bool = False, doc: str = "") -> None:
        self.nullable, self.minimum, self.maximum, self.integer, self.doc = nullable, minimum, maximum, integer, doc

    def convert(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ValueError("must not be null")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected {'an integer' if self.integer else 'a number'}, got {value!r}")
        if self.integer and not float(value).is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum}, got {value!r}")
        return int(value) if self.integer else float(value)


class Bool(Kind):
    def __init__(self, doc: str = "") -> None:
        self.doc = doc

    def convert(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value


class Text(Kind):
    def __init__(self, nullable: bool = False, choices: Sequence[str] | None = None, doc: str = "") -> None:
        self.nullable, self.choices, self.doc = nullable, choices, doc

    def convert(self, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {value!r}")
        return value


class Size(Kind):
    """A byte size such as `32g`; kept as bytes."""

    def __init__(self, nullable: bool = False, doc: str = "") -> None:
        self.nullable, self.doc = nullable, doc

    def convert(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ValueError("must not be null")
        return parse_bytes(value)


class Duration(Kind):
    """A duration; plain numbers are in `unit` (the key's suffix). Kept in that unit; None = unlimited."""

    def __init__(self, unit: str, nullable: bool = True, doc: str = "") -> None:
        self.unit, self.nullable, self.doc = unit, nullable, doc

    def convert(self, value: Any) -> Any:
        seconds = parse_duration(value, self.unit)
        if seconds is None:
            if self.nullable:
                return None
            raise ValueError("must not be null")
        return seconds / {"s": 1, "m": 60, "h": 3600}[self.unit]


class Percent(Kind):
    """A CPU quota like `9600%` (systemd CPUQuota) or a number of percent."""

    def __init__(self, doc: str = "") -> None:
        self.nullable, self.doc = True, doc

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
        if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*%\s*", value):
            return float(value.strip().rstrip("%"))
        raise ValueError(f"expected a percentage like 9600%, got {value!r}")


class Timestamp(Kind):
    """A point in time: `2026-12-01T09:00:00Z`, `2026-12-01 09:00` (local time) or a date (its midnight, local)."""

    def __init__(self, nullable: bool = False, doc: str = "") -> None:
        self.nullable, self.doc = nullable, doc

    def convert(self, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        if isinstance(value, datetime.datetime):
            moment = value
        elif isinstance(value, datetime.date):
            moment = datetime.datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                return parse_iso(value, naive=None)
            except ValueError:
                raise ValueError(f"expected a time like 2026-12-01T09:00:00Z, got {value!r}") from None
        else:
            raise ValueError(f"expected a time like 2026-12-01T09:00:00Z, got {value!r}")
        return moment if moment.tzinfo else moment.astimezone()


class Names(Kind):
    """A list of strings (usernames, container names, paths)."""

    def __init__(self, doc: str = "") -> None:
        self.nullable, self.doc = True, doc

    def convert(self, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"expected a list of names, got {value!r}")
        return [str(v) for v in value]


class Section:
    """A mapping with a fixed set of keys (each a Kind or a nested Section)."""

    def __init__(self, keys: dict[str, Any], aliases: dict[str, str] | None = None, doc: str = "") -> None:
        self.keys, self.aliases, self.doc = keys, aliases or {}, doc


class MapOf:
    """A mapping from free names (group names, usernames) to a Section."""

    def __init__(self, section: Any, doc: str = "") -> None:
        self.section, self.doc = section, doc


class ListOf:
    """A list whose items are each a Section."""

    def __init__(self, section: Any, doc: str = "") -> None:
        self.section, self.doc = section, doc


class Opaque:
    """A value ds01 stores but does not interpret (kept for DS01 configs)."""

    def __init__(self, doc: str = "") -> None:
        self.doc = doc


# ---------------------------------------------------------------- the schema

# ---------------------------------------------------------------- loading

class LineMapping(dict[str, Any]):
    """A dict that remembers the line of each key (1-based)."""

    line = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, int] = {}


def untrusted_reason(info: os.stat_result) -> str | None:
    """Why a configuration file must not steer a privileged ds01 (None when it may): settings come
    only from files root owns and no one else can write."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != 0:
        return f"is owned by uid {info.st_uid}, not root"
    if info.st_mode & 0o002 or (info.st_mode & 0o020 and info.st_gid != 0):
        return f"is writable by others (mode {info.st_mode & 0o7777:04o})"
    return None


def read_trusted(path: str, what: str) -> str:
    """A configuration file's text. In a privileged process (root, or ds01d acting for a caller) the file
    must be root's and writable by no one else; PolicyError otherwise. FileNotFoundError passes through."""
    with open(path, encoding="utf-8") as handle:
        # this process's own rights: a privileged process (root in-process, or any ds01d worker) reads only root's files
        if os.geteuid() == 0:
            reason = untrusted_reason(os.fstat(handle.fileno()))
            if reason:
                raise PolicyError(f"{path}: refusing the {what}: it {reason}",
                                  hint=f"settings come only from root-owned files: chown root:root {path} && "
                                       f"chmod go-w {path}")
        return handle.read()


def read_config(path: str, what: str, hint: str | None = None) -> str:
    """The text of a configuration file; PolicyError naming the file when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the {what}: {exc.strerror}", hint=hint) from None


def load_yaml(path: str, text: str) -> Any:
    """YAML whose mappings remember the line of each key (`.lines`, `.line`); PolicyError on bad YAML."""
    import yaml  # lazy: yaml, 7 ms

    # libyaml's parser when PyYAML has it (about 5x faster: every command loads the policy)
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):
        pass

    def construct_mapping(loader: Any, node: Any) -> LineMapping:
        loader.flatten_mapping(node)
        mapping = LineMapping()
        mapping.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise PolicyError(f"{path}:{line}: keys must be names, got {key!r}")
            key = str(key)
            if key in mapping:
                raise PolicyError(f"{path}:{line}: duplicate key '{key}' (first at line {mapping.lines[key]})")
            mapping[key] = loader.construct_object(value_node, deep=True)
            mapping.lines[key] = line
        return mapping

    Loader.add_constructor("tag:yaml.org,2002:map", construct_mapping)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise PolicyError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _suggest(key: str, known: Any) -> str:
    import difflib  # lazy: difflib, 0.5 ms (and heapq; only a misspelt key needs it)

    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate(value: Any, spec: Any, path: str, where: str = "", line: int = 1) -> Any:
    """Return the normalised value for `spec`; raise PolicyError naming file:line and the key path."""
    if isinstance(spec, Opaque):
        return value
    if isinstance(spec, Kind):
        try:
            return spec.convert(value)
        except ValueError as exc:
            raise PolicyError(f"{path}:{line}: {where}: {exc}") from None
    if value is None:  # an empty section is valid
        return [] if isinstance(spec, ListOf) else {}
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise PolicyError(f"{path}:{line}: {where}: expected a list")
        return [validate(item, spec.section, path, f"{where}[{i}]", getattr(item, "line", line))
                for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise PolicyError(f"{path}:{line}: {where}: expected a mapping, got {value!r}")
    lines = getattr(value, "lines", {})
    result = {}
    for key, item in value.items():
        key_line = lines.get(key, line)
        key_where = f"{where}.{key}" if where else key
        if isinstance(spec, MapOf):
            result[key] = validate(item, spec.section, path, key_where, key_line)
            continue
        name = spec.aliases.get(key, key)
        if name not in spec.keys:
            raise PolicyError(f"{path}:{key_line}: unknown key '{key_where}'{_suggest(key, spec.keys)}",
                              hint="see man 5 ds01-resource-limits for every key")
        if name in result:
            raise PolicyError(f"{path}:{key_line}: '{key_where}' sets '{name}' twice (old and new name)")
        result[name] = validate(item, spec.keys[name], path, key_where, key_line)
    return result
