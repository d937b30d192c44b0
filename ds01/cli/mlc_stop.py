"""mlc-stop: AIME's `mlc stop` over ds01's stop (the GPU stays held until the hold timer)."""

import click

from ..container_verbs import stop
from ..containers import ACTIVE
from ..runtime import Runtime
from ._common import config_option
from ._mlc import aime_command, confirm, say, script_option, target
from ._mlc import main as aime_main


@aime_command("stop")
@click.command(epilog="""\b
Examples:
  mlc-stop pt271 -s
  mlc stop pt271 -f
Differs from AIME: -f also kills the container if it ignores the stop signal.
As AIME: exit 0 when none of yours is running; naming a stopped one is an
error (exit 1) in script mode.
See also: container-stop, mlc-start, mlc-remove""")
@click.argument("name", required=False)
@click.option("-f", "--force", is_flag=True, help="Do not ask; kill it after 10 s if it ignores the stop signal.")
@script_option
@config_option
def cli(name, force, script, config):
    """Stop running container NAME (AIME syntax); asks first on a terminal unless -f."""
    rt = Runtime(config)
    rec = target(rt, name, ACTIVE, "running", script, "mlc-stop",
                 idle="All containers are stopped. You cannot stop no running containers.")
    if rec is None:
        return 0  # nothing running: AIME's exit 0
    say(f"[{rec['name']}] container is running and will be stopped")
    if not confirm("Are you sure", force, script):
        say("Canceled")
        return 0
    say(f"[{rec['name']}] stopping container ...")
    stop(rt, rec, timeout=10, force=True)
    say(f"[{rec['name']}] container stopped.")
    return 0


def main():
    aime_main(cli)


MAN_OUTPUT = "AIME's messages on standard output (e.g. \"[NAME] container stopped.\"), without colour codes."
