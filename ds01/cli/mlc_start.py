"""mlc-start: AIME's `mlc start` (v2.2 syntax) over ds01's GPU-checked start."""

import shlex

import click

from ..runtime import Runtime
from ._common import config_option
from ._mlc import CommandStatus, aime_command, say, script_option, target
from ._mlc import main as aime_main


@aime_command("start")
@click.command(context_settings={"ignore_unknown_options": True}, epilog="""\b
Examples:
  mlc-start pt271 -s
  mlc-start pt271 python3 train.py --epochs 3      run one command (multi-word works)
  mlc-start pt271 -d python3 train.py              in the background
As AIME: if the command exits other than 0 or 1 (it could not run, or failed),
the container is stopped again. Differs from AIME: without a command it does not
crash; a multi-word command runs as its words ('cmd with args' quoted as one word
too); the command's own exit status is returned (AIME: 0).
See also: container-start, container-run, mlc-open""")
@click.argument("name", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("-d", "--detach", is_flag=True, help="Run COMMAND in the background.")
@script_option
@config_option
def cli(name, command, detach, script, config):
    """Start container NAME (AIME syntax); with COMMAND, run it in the container as you."""
    import subprocess  # lazy: subprocess, 1 ms

    from .. import sessions  # lazy: ds01.sessions, 2 ms

    rt = Runtime(config)
    rec = target(rt, name, ("paused", *sessions.STOPPED), "stopped", script, "mlc-start",
                 idle=None if name else "At the moment all containers are running.")
    if rec is None:
        return 0
    sessions.start(rt, rec)
    if not command:
        say(f"[{rec['name']}] container started. To open a shell please run: mlc open {rec['name']}")
        return 0
    if len(command) == 1 and command[0].split() != [command[0]]:
        try:  # 'cmd with args' quoted as one word: its words (no shell runs it)
            command = shlex.split(command[0])
        except ValueError:
            pass  # unbalanced quotes: run it as the one word it is
    argv = sessions.exec_argv(rt, rec["container"], command, tty=False, detach=detach)
    code = subprocess.run(argv, check=False, env=sessions.cli_environment(rt)).returncode
    if code in EXEC_STARTED:
        say(f"[{rec['name']}] container started.")
    else:  # AIME's rule: the exec failed, so the container it started for it is stopped again
        say(f"[{rec['name']}] error starting container, stopping container...")
        rt.engine.stop(rec["id"], timeout=10, force=True)
    raise CommandStatus(code)

EXEC_STARTED = (0, 1)  # AIME's mlc start counts these exec statuses as a start; any other stops the container


def main():
    aime_main(cli)


MAN_OUTPUT = "AIME's messages on standard output (e.g. \"[NAME] container stopped.\"), without colour codes."
