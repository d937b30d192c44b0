"""What the AIME `mlc-*` front-ends share: AIME's argument shapes over ds01's library and checks."""

import sys

import click

from ..errors import NotFound, UsageError


def script_option(fn):
    return click.option("-s", "--script", is_flag=True,
                        help="Script mode: never prompt; a missing or wrong name is an error.")(fn)


def interactive(script):
    return not script and sys.stdin.isatty() and sys.stderr.isatty()


def target(rt, name, states, what, script, command):
    """The caller's container `name` (or picked by number on a terminal), which must be in `states`."""
    from ..containers import owned_by

    if name:
        rec = rt.finder.find(name)
        if rec["status"] in states:
            return rec
        if not interactive(script):
            raise UsageError(f"[{rec['name']}] is {rec['status']}: {command} takes {what} containers only")
        click.echo(f"[{rec['name']}] is {rec['status']}; choose a {what} container instead.", err=True)
    mine = [r for r in rt.finder.records() if owned_by(r, rt.caller)]
    if not mine:
        raise NotFound("you have no containers", hint="create at least one: mlc-create NAME FRAMEWORK VERSION")
    if not interactive(script):
        raise UsageError("no container name given", hint=f"{command} NAME -s")
    from ..pick import choose_container

    return choose_container(rt, states, what, command)


def confirm(question, force, script):
    """True without asking when forced or not on a terminal; else a (y/N) question."""
    if force or not interactive(script):
        return True
    return click.confirm(question, default=False, err=True)


def say(text):
    """AIME prints its messages on stdout; so do the front-ends (scripts grep them)."""
    click.echo(text)
