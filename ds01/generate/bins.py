"""The bin/ executables: three lines that import a command module and call its main()."""

HEADER = "# Generated from ds01/registry.py by `make generate`; do not edit."


def bin_script(command, legacy=None):
    lines = ["#!/usr/bin/env python3", HEADER]
    if legacy:
        lines.append("from ds01.cli._common import deprecated")
        lines.append(f"deprecated({legacy!r}, {command.name!r})")
    lines.append(f"from {command.module} import main")
    lines.append("main()")
    return "\n".join(lines) + "\n"


def dispatcher_script(noun):
    lines = ["#!/usr/bin/env python3", HEADER, "from ds01.cli.dispatch import main", f"main({noun!r})"]
    return "\n".join(lines) + "\n"
