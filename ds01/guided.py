"""`--guided`: a command run step by step, an explanation before each step and, on a terminal, a pause.

DS01's teaching mode for students new to containers. One small API for every command: `Guide.step`
(explain, then "Press Enter to continue"), `Guide.explain` (explain only: a question follows, which is
its own pause), `Guide.ask`/`Guide.choose`/`Guide.confirm` (a question with a default). Without a terminal
(stdin or stderr not a tty, or CI set) nothing pauses or asks: the defaults are taken and the command runs,
so a guided run never hangs a script. Through ds01d the worker holds the caller's own terminal fds
(ds01/client.py), so the pauses and questions reach the person at that terminal.

Commands with no steps of their own get `generic`: the ideas the command touches, what it will do with
the arguments given, a confirmation, then the run (ds01/cli/_common.py wires it from the command table)."""

import sys
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from .output import is_tty
from .settings import in_ci
from .visible import visible

if TYPE_CHECKING:
    from .registry import Command

PAUSE = "Press Enter to continue (Ctrl-C stops here; nothing has changed yet)"


def terminal():
    """Whether a person can answer: stdin and stderr are terminals and this is not CI."""
    return is_tty(sys.stdin) and is_tty(sys.stderr) and not in_ci()


class Guide:
    """The steps of one guided run; every method is a no-op when the run is not guided."""

    def __init__(self, enabled, command=None):
        self.enabled = bool(enabled)
        self.command = command
        self.interactive = self.enabled and terminal()
        self.number = 0

    def _write(self, text):
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()

    def explain(self, text, title=None, numbered=True):
        """An explanation, numbered unless the text names its own step (no pause: a question follows)."""
        if not self.enabled:
            return
        if numbered:
            self.number += 1
            heading = f"Step {self.number}" + (f": {title}" if title else "")
            text = f"== {heading} ==\n{text.rstrip()}"
        self._write("\n" + text.rstrip())

    def step(self, text, title=None, numbered=True):
        """Explain, then wait for Enter on a terminal (never without one)."""
        self.explain(text, title, numbered)
        self.pause()

    def pause(self):
        if self.interactive:
            click.prompt(PAUSE, default="", show_default=False, prompt_suffix=" ", err=True)

    def note(self, text):
        """A line of commentary after a step (what just happened, what comes next)."""
        if self.enabled:
            self._write(text)

    def ask(self, question, default=None, type=None):
        """The answer on a terminal; without one, `default` (a guided run never waits for input)."""
        if not self.interactive:
            return default
        return click.prompt(question, default=default, type=type, err=True)

    def confirm(self, question, default=True):
        if not self.interactive:
            return default
        return click.confirm(question, default=default, err=True)

    def choose(self, question, options, default=0):
        """Index of one of `options` ((label, help) pairs), chosen by number; `default` without a terminal."""
        if not self.interactive:
            return default
        for number, (label, help_text) in enumerate(options, 1):
            self._write(f"  {number}) {label:<14} {help_text}")
        choice = click.prompt(f"{question} [1-{len(options)}]", type=click.IntRange(1, len(options)),
                              default=default + 1, err=True)
        return choice - 1

    def explainer(self, texts, pause=()):
        """`explain(key)` over a dict of step texts (each names its own step): the shape project-init,
        container-deploy and image-create pass down to their library. Keys in `pause` are steps that act
        without asking first, so they wait for Enter on a terminal; the others are followed by a question."""

        def explain(key):
            if key in pause:
                self.step(texts[key], numbered=False)
            else:
                self.explain(texts[key], numbered=False)

        return explain


def cancelled(command):
    """The person said no: nothing was changed; exit 0 (DS01's "cancelled" was not an error either)."""
    sys.stderr.write(f"{command}: cancelled; nothing was changed\n")
    raise click.exceptions.Exit(0)


def described_arguments(ctx):
    """What was given on the command line, as a person would read it: `name=x, --all`."""
    parts = []
    for param in ctx.command.get_params(ctx):
        if param.name is None or param.name not in ctx.params:
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if param.param_type_name == "argument":
            shown = " ".join(value) if isinstance(value, (tuple, list)) else value
            parts.append(f"{param.human_readable_name}={shown}")
        elif value is True:
            parts.append(max(param.opts, key=len))
        elif value not in (None, False, (), []):
            parts.append(f"{max(param.opts, key=len)} {value}")
    return parts


def generic(table: "Command", ctx: click.Context) -> None:
    """The guided run of a command with no steps of its own: concepts, what it will do, confirm."""
    from . import concepts  # lazy: ds01.concepts, 1 ms

    guide = Guide(True, table.name)
    ideas = concepts.render(table.concepts)
    if ideas:
        guide.step(ideas, title="the ideas behind " + table.name)
    given = described_arguments(ctx)
    what = (ctx.command.help or table.summary).strip().split("\n\n")[0]
    text = f"{table.name}: {table.summary}.\n{' '.join(what.split())}"
    text += "\nGiven: " + (visible(", ".join(given)) if given else "nothing (its defaults; a pick list on a terminal)")
    guide.explain(text, title="what it will do")
    if not guide.confirm("Run it now?", default=True):
        cancelled(table.name)
    guide.note(f"running {table.name} ...")
