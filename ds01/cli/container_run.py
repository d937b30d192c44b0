"""container-run: a shell (or one command) in your container, started if needed; stopped again when the last session leaves it idle."""

import click

from ._common import config_option, mark_missing_name, run


@click.command(context_settings={"ignore_unknown_options": True}, epilog="""\b
Examples:
  container-run thesis                       a shell in /workspace as you
  container-run thesis -- python3 train.py --epochs 3
  container-run thesis -- nvidia-smi -L      exit code is the command's
  container-run                              pick from your containers (terminal)
When the last session exits and nothing else runs in the container, it is stopped
(a background job keeps it running). --keep never stops it.
See also: container-attach, container-exit, container-stop, container-deploy""")
@click.argument("name", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--keep", is_flag=True, help="Leave the container running after the session.")
@config_option
def cli(name, command, keep, config):
    """Open a shell in container NAME as you, in /workspace; `-- COMMAND...` runs one command instead."""
    return session(name, command, keep, config, start=True)


def session(name, command, keep, config, start):
    """Shared by container-run (starts the container) and container-attach (running ones only)."""
    import sys

    from .. import sessions

    from ..errors import Ds01Error
    from ..runtime import Runtime

    sessions.require_terminal(command, f"run one command instead: {'container-run' if start else 'container-attach'} "
                                       f"{name or 'NAME'} -- COMMAND ARGS...")
    rt = Runtime(config)
    states = ("running", "paused", *sessions.STOPPED) if start else ("running", "paused")
    me = "container-run" if start else "container-attach"
    if not name:
        from ..pick import choose_container

        rec = choose_container(rt, states, "startable" if start else "running", me)
    else:
        rec = rt.finder.find(name)
    if rec["status"] not in states:
        raise Ds01Error(f"{rec['name']} is {rec['status']}, not running",
                        hint=f"container-run {rec['name']} starts it first", code=1)
    if rec["status"] != "running":
        rt.progress(f"starting {rec['name']} ...")
        sessions.start(rt, rec)
    code = sessions.run_session(rec, rt.caller, command)
    if keep:
        return code
    outcome = sessions.stop_if_idle(rt, rec)
    if not command or sys.stderr.isatty():
        if outcome == "stopped":
            sys.stderr.write(f"{rec['name']}: nothing else was running; container stopped "
                             f"(container-run {rec['name']} starts it again)\n")
        elif outcome == "kept":
            sys.stderr.write(f"{rec['name']}: processes still running; container kept running "
                             f"(container-stop {rec['name']} stops it)\n")
    return code


def main():
    import sys

    run(cli, mark_missing_name(sys.argv[1:]))


MAN_OUTPUT = ("The session's own output. With -- COMMAND, the exit status is COMMAND's; the note about "
              "the container after the session goes to standard error.")
