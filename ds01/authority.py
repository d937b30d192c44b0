"""Who may run a command and pass each of its options, decided once, from the command table, before anything runs.

ds01d asks `check` in every worker after it knows the caller and before the command's own parser or body
sees the arguments: a command the caller may not run, or an option they may not pass, ends the request
with exit 5 and nothing else happens. The table (ds01/registry.py: `who`, `served`, `options`,
`admin_options`, COMMON_OPTIONS) is the only place this is declared; the command bodies keep only the
checks that depend on the target (is this your container, image, directory?: ds01/access.py).

The options given are found by the command's own click parser in resilient mode (no callbacks, no
defaults, no errors), so a value that looks like an option, `--` and bundled short flags are read
exactly as the command itself will read them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import click
from click.core import ParameterSource

from .cli._common import standard
from .errors import PermissionDenied
from .registry import ADMIN, ANYONE, DISPATCHERS, READING_ONLY, WHO_TEXT, Command, by_name, option_name, verbs


@dataclass(frozen=True)
class Target:
    """The command a request runs (a dispatcher's verb resolved) and the arguments it gets."""

    command: Command | None  # None: a dispatcher's own help or error, which runs nothing
    argv: list[str]
    name: str  # what the caller typed (for messages)


def resolve(name: str, argv: list[str]) -> Target:
    """The registry command `name argv` runs: a command, alias or legacy name, or a dispatcher's verb
    (`container stop x`, `ds01 container stop x`, `ds01 version`). KeyError for a name ds01d does not run."""
    if name == "ds01":
        if argv[:1] == ["__complete"]:
            return Target(None, argv, name)  # completion values: the caller's own things (completion_values)
        if argv[:1] in (["version"], ["--version"]):
            return Target(by_name()["version"][0], argv[1:], "ds01 version")
        if argv and argv[0] in DISPATCHERS:
            return resolve(argv[0], argv[1:])
        return Target(None, argv, name)
    if name in DISPATCHERS:
        table = verbs(name)
        if argv[:1] in (["version"], ["--version"]) and argv[0] not in table:
            return Target(by_name()["version"][0], argv[1:], f"{name} version")
        if argv and argv[0] in table:
            command, typed = table[argv[0]]
            return Target(command, argv[1:], typed)
        return Target(None, argv, name)  # the verb list or an unknown verb: the dispatcher says which
    command, _ = by_name()[name]
    return Target(command, list(argv), name)


def options_given(command: Command, argv: list[str]) -> list[str]:
    """The classified names of the options `argv` passes, as the command's own parser reads them.
    An argv its parser refuses gives []: the command then fails with its usage error before running."""
    cli = standard(importlib.import_module(command.module).cli)
    try:
        ctx = cli.make_context(command.name, list(argv), resilient_parsing=True)
    except click.exceptions.ClickException:
        return []
    except click.exceptions.Exit:
        return []
    return [option_name(param) for param in cli.get_params(ctx)
            if param.param_type_name == "option" and param.name is not None
            and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE]


def allowed(level: str, admin: Callable[[], bool], root: bool) -> bool:
    return level == ANYONE or root or (level == ADMIN and admin())


def check(target: Target, admin: Callable[[], bool], root: bool) -> None:
    """Raise PermissionDenied when the caller may not run `target` as given (see the module's docstring).
    `admin` is asked only when it matters (it reads root's policy)."""
    command = target.command
    if command is None:
        return
    shown = target.name
    if not command.served:
        raise PermissionDenied(f"ds01d does not run {shown}: it runs only in-process",
                               hint="help lists the commands ds01d serves")
    given = options_given(command, target.argv)
    if given and all(o in READING_ONLY and command.option_who(o) == ANYONE for o in given):
        return  # help and the version are eager (a test checks): they print and exit before any body runs
    if not allowed(command.who, admin, root):
        raise PermissionDenied(f"{shown} is for {WHO_TEXT[command.who]}",
                               hint="help shows who may run each command")
    for option in given:
        level = command.option_who(option)
        if level is None or not allowed(level, admin, root):  # an option the table does not classify: refused
            what = WHO_TEXT[level] if level is not None else "no one yet (the command table does not classify it)"
            raise PermissionDenied(f"{option} is for {what}",
                                   hint=f"{shown} --help lists the options; those marked (admins only) are not yours")
