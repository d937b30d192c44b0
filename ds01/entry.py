"""From a name in bin/ to the code that runs it: a command, an alias, a legacy name or a dispatcher.

The one place both paths go through: the client running a command in-process (its bin/ script
names the module, so no registry is imported: dataclasses alone costs 20 ms), and a ds01d worker
running it for a caller (`run_named`, which looks the name up in the registry).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .registry import Command

DISPATCH = "ds01.cli.dispatch"


def resolve(name: str) -> tuple[Command | None, str, str | None]:
    """(Command or None, module, legacy name's new name or None) for `name`; KeyError if unknown."""
    from .registry import DISPATCHERS, by_name  # lazy: ds01.registry, 12 ms (not on the client's path)

    if name == "ds01" or name in DISPATCHERS:
        return None, DISPATCH, None
    command, legacy = by_name()[name]
    return command, command.module, (command.name if legacy else None)


def run(name: str, module: str, renamed: str | None = None) -> None:
    """Run `module`'s main() as `name` with sys.argv[1:]; exits with the command's status (SystemExit).
    `renamed` is the new name of a legacy one (a note says so on a terminal)."""
    if "site" not in sys.modules:  # the installed commands start with -S; the libraries live in site-packages
        import site  # lazy: site, 1 ms (only a command started with -S needs it)

        site.main()
    if module == DISPATCH:
        from .cli.dispatch import main  # lazy: ds01.cli.dispatch, 1 ms

        main(name)
        return
    if renamed:
        from .cli._common import deprecated  # lazy: ds01.cli._common, 1 ms (only a legacy name needs it)

        deprecated(name, renamed)
    importlib.import_module(module).main()
    sys.exit(0)


def run_named(name: str) -> None:
    _, module, renamed = resolve(name)
    run(name, module, renamed)
