"""mlc-start: AIME's `mlc start` (v2.2 syntax) over ds01's GPU-checked start."""

import click

from ._common import config_option, run
from ._mlc import script_option


@click.command(context_settings={"ignore_unknown_options": True}, epilog="""\b
Examples:
  mlc-start pt271 -s
  mlc-start pt271 python3 train.py --epochs 3      run one command (multi-word works)
  mlc-start pt271 -d python3 train.py              in the background
Differs from AIME: without a command it does not crash; a multi-word command runs
as its words; the command's own exit code is returned.
See also: container-start, container-run, mlc-open""")
@click.argument("name", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("-d", "--detach", is_flag=True, help="Run COMMAND in the background.")
@script_option
@config_option
def cli(name, command, detach, script, config):
    """Start container NAME (AIME syntax); with COMMAND, run it in the container as you."""
    import subprocess

    from .. import sessions
    from ..runtime import Runtime
    from ._mlc import say, target

    rt = Runtime(config)
    rec = target(rt, name, ("paused", *sessions.STOPPED), "stopped", script, "mlc-start")
    sessions.start(rt, rec)
    if not command:
        say(f"[{rec['name']}] container started. To open a shell please run: mlc open {rec['name']}")
        return 0
    argv = sessions.exec_argv(rt, rec["container"], command, tty=False, detach=detach)
    return subprocess.run(argv, check=False, env=sessions.cli_environment(rt)).returncode


def main():
    run(cli)


MAN_OUTPUT = "AIME's messages on standard output (e.g. \"[NAME] container stopped.\"), without colour codes."
