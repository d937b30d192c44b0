"""mlc-open: AIME's `mlc open` over container-run (start if needed, a shell, stop when the last session leaves)."""

import click

from ..runtime import Runtime
from ._common import config_option
from ._mlc import aime_command, say, script_option, target
from ._mlc import main as aime_main


@aime_command("open")
@click.command(epilog="""\b
Examples:
  mlc-open pt271                  a shell in /workspace as you
  mlc open pt271 -s               script mode: never prompts
Differs from AIME: DISPLAY and NCCL_P2P_LEVEL really reach the session; a GPU
container is started only if its slots are still its own.
See also: container-run, mlc-list, mlc-stop""")
@click.argument("name", required=False)
@script_option
@config_option
def cli(name, script, config):
    """Open a shell in container NAME (AIME syntax); it is started first if needed."""
    from .. import sessions  # lazy: ds01.sessions, 2 ms

    sessions.require_terminal((), "mlc-open needs a terminal; mlc-start NAME COMMAND runs one command")
    rt = Runtime(config)
    rec = target(rt, name, ("running", "paused", *sessions.STOPPED), "existing", script, "mlc-open")
    if rec is None:
        return 0
    sessions.start(rt, rec)  # a running one too: started past ds01, it gets its mounts (sessions.refill)
    say(f"[{rec['name']}] opening shell to container")
    code = sessions.run_session(rt, rec)
    say(f"[{rec['name']}] detached from container" if code else f"[{rec['name']}] container shell closed successfully")
    outcome = sessions.stop_if_idle(rt, rec)
    if outcome == "kept":
        say(f"[{rec['name']}] container is active, kept running")
    elif outcome == "stopped":
        say(f"[{rec['name']}] container stopped")
    return 0


def main():
    aime_main(cli)


MAN_OUTPUT = "AIME's messages on standard output (e.g. \"[NAME] container stopped.\"), without colour codes."
