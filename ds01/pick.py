"""Numbered pick lists for commands run on a terminal without a name; never asked without one."""

import sys
from typing import TYPE_CHECKING

import click

from .containers import owned_by
from .errors import NotFound, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .containers import ContainerRecord
    from .runtime import Runtime


def choose_container(rt: "Runtime", states: "Sequence[str]", what: str, command: str) -> "ContainerRecord":
    """The record of one of the caller's containers in `states`, chosen by number on the terminal.

    Without a terminal this is a usage error (exit 2), never a wait for input.
    """
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("no container given", hint=f"{command} NAME, or pipe records in: container-list | {command}")
    candidates = sorted((r for r in rt.finder.records() if owned_by(r, rt.caller) and r["status"] in states),
                        key=lambda r: r["name"])
    if not candidates:
        raise NotFound(f"you have no {what} containers", hint="container-list -a shows all of yours")
    return candidates[choose([f"{r['name']:<20} {r['status']:<9} {r['image']}" for r in candidates],
                             f"Which container ({what})?")]


def choose(labels, question):
    """Index of the chosen label; asks on the terminal (stderr), re-asking until a valid number."""
    click.echo(question, err=True)
    for i, label in enumerate(labels, 1):
        click.echo(f"  {i}) {label}", err=True)
    number = click.prompt("Number", type=click.IntRange(1, len(labels)), err=True)
    return number - 1
