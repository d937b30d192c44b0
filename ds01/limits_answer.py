"""What resource-limits answers: a user's resolved limits as a record, or one value (a field, the group, the
docker create flags, a DS01 flag's answer, an exemption line) in the shape the command's name promises."""

import json
from dataclasses import dataclass, field
from typing import Any

from . import ds01_limits
from .errors import PermissionDenied, UsageError
from .lifecycle import exemptions
from .units import format_bytes


@dataclass
class Question:
    """One printing option at most (UsageError otherwise); none: the whole record."""

    docker_args: bool = False
    group: bool = False
    ds01: list[str] = field(default_factory=list)  # DS01 flags given (ds01_limits.FLAGS keys)
    exemption: str | None = None                    # --check-exemption TYPE
    field: str | None = None                        # --field KEY (dotted)
    json: bool = False                              # --json (DS01's record, under DS01's name)
    legacy: bool = False                            # run as get_resource_limits.py: DS01's shapes

    def check(self) -> None:
        if len(self.ds01) + bool(self.exemption) + self.docker_args + self.group + bool(self.field) > 1:
            raise UsageError("give one of the printing options at a time")


@dataclass
class Answer:
    """A line to print (`line`, with a `note` for stderr), or the record (with `warnings` for stderr)."""

    line: str | None = None
    note: str | None = None
    record: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def resource_limits(rt, user: str | None, question: Question) -> Answer:
    """The answer to `question` about USER's limits (the caller's when None; another user's for admins only)."""
    question.check()
    login = user or rt.caller.login
    if login != rt.caller.login and not rt.admin:
        raise PermissionDenied("only admins can see other users' limits", hint="resource-limits shows yours")
    limits = rt.limits(login)
    if question.legacy:
        what = ("docker_args" if question.docker_args else "group" if question.group else
                question.ds01[0] if question.ds01 else
                "json" if question.json and not (question.exemption or question.field) else None)
        if what:
            return Answer(line=ds01_limits.legacy_output(what, limits, rt.policy),
                          note=ds01_limits.difference_note(what, login, limits, rt.policy))
    if question.docker_args:
        return Answer(line=" ".join(limits.docker_args()))
    if question.group:
        return Answer(line=limits.group)
    if question.ds01:
        return Answer(line=ds01_limits.answer(question.ds01[0], limits, rt.policy))
    if question.exemption:
        if question.exemption not in exemptions.TIMERS:
            raise UsageError(f"unknown exemption type {question.exemption!r}",
                             hint="one of: " + ", ".join(exemptions.TIMERS))
        found = exemptions.find(exemptions.load(rt.policy), login, question.exemption, rt.now())
        return Answer(line=ds01_limits.exemption_line(found))
    record = limits.record()
    if question.field:
        return Answer(line=_field(record, question.field))
    return Answer(record=record, warnings=[
        f"{login} is also listed in group {other!r}; the first group ({limits.group}) applies"
        for other in rt.policy.groups_listing(login)[1:]])


def _field(record: dict[str, Any], name: str) -> str:
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UsageError(f"unknown field {name!r}", hint="keys: " + ", ".join(record))
        value = value[part]
    return "null" if value is None else json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)


def table_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record as KEY/VALUE rows (sections flattened as `section.key`, sizes for people)."""
    rows = []
    for key, value in record.items():
        if isinstance(value, dict):
            rows += [{"key": f"{key}.{k}", "value": v} for k, v in value.items()]
        else:
            if key in ("memory", "memory_swap", "shm_size") and value is not None:
                value = format_bytes(value)
            rows.append({"key": key, "value": value})
    return rows
