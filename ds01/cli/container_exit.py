"""container-exit: how to leave a container session and what then happens to the container."""

import os
import sys

import click

from ..errors import Ds01Error
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-exit                 on the host or inside a container
  container-exit --json          the same as a record, for scripts
See also: container-run, container-stop, container-retire""")
@output_options
@config_option
def cli(json_flag, table_flag, config):
    """Explain how to leave a session, and what happens to the container and its GPU afterwards."""
    limits = None
    try:
        rt = Runtime(config)
        limits = rt.limits(rt.caller.login)
    except Ds01Error:  # inside a container there is no policy: explain without the timers
        pass
    rec = {
        "leave": "type exit or press Ctrl-D (Ctrl-P Ctrl-Q does not detach a docker exec session)",
        "on_last_exit": "the container is stopped when nothing but its shell remains; "
                        "a background job (nohup, tmux) keeps it running",
        "keep_running": "container-run NAME --keep, or start work with nohup/tmux before leaving",
        "gpu_hold_after_stop_h": limits["gpu_hold_after_stop_h"] if limits else None,
        "container_hold_after_stop_h": limits["container_hold_after_stop_h"] if limits else None,
        "idle_timeout_h": limits["idle_timeout_h"] if limits else None,
        "inside_container": os.path.exists("/.dockerenv"),
    }
    if json_flag or not (table_flag or is_tty(sys.stdout)):
        out = new_output(True, False, [])
        out.emit(rec)
        out.close()
        return 0
    lines = [f"To leave: {rec['leave']}.", f"Afterwards: {rec['on_last_exit']}.",
             f"To keep it running: {rec['keep_running']}."]
    if limits:
        lines.append(_hold_text(rec))
    click.echo("\n".join(lines))
    return 0


def _hold_text(rec):
    gpu, keep, idle = rec["gpu_hold_after_stop_h"], rec["container_hold_after_stop_h"], rec["idle_timeout_h"]
    gpu_text = "until it is removed" if gpu is None else f"for {gpu:g} h"
    keep_text = "is kept" if keep is None else f"is removed after {keep:g} h"
    idle_text = "is never stopped for being idle" if idle is None else f"is stopped after {idle:g} h idle"
    return (f"A stopped container keeps its GPU {gpu_text} and {keep_text} (your workspace stays); "
            f"a running one {idle_text}.")


def main():
    run(cli)
