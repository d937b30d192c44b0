"""mlc-remove: AIME's `mlc remove` over ds01's remove (only the container's own image tag goes)."""

import click

from .. import sessions
from ..container_verbs import remove
from ..runtime import Runtime
from ._common import config_option
from ._mlc import aime_command, confirm, say, script_option, target
from ._mlc import main as aime_main


@aime_command("remove")
@click.command(epilog="""\b
Examples:
  mlc-remove pt271 -s
  mlc remove pt271 -f
Differs from AIME: the container is found by its exact name (AIME's substring match
could remove another user's image); only its own per-container image tag is removed,
never a shared image; a failed remove is reported as one (exit 1).
See also: container-remove, container-retire, mlc-stop""")
@click.argument("name", required=False)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@script_option
@config_option
def cli(name, force, script, config):
    """Remove stopped container NAME (AIME syntax); the workspace is never touched."""
    rt = Runtime(config)
    rec = target(rt, name, sessions.STOPPED, "stopped", script, "mlc-remove")
    if rec is None:
        return 0
    say(f"[{rec['name']}] container will be removed; it cannot be recovered")
    if not confirm("Are you sure", force, script):
        say("Canceled")
        return 0
    say(f"[{rec['name']}] removing container ...")
    remove(rt, rec, warn=lambda note: click.echo(f"mlc-remove: warning: {note}", err=True))
    say(f"[{rec['name']}] container removed.")
    return 0


def main():
    aime_main(cli)


MAN_OUTPUT = "AIME's messages on standard output (e.g. \"[NAME] container removed.\"), without colour codes."
