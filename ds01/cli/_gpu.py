"""Options and checks the gpu-* commands share with container-create and container-deploy."""

import click

from ..errors import UsageError
from ..units import parse_duration


def request_options(fn):
    fn = click.option("--full-gpu", is_flag=True, help="Only whole GPUs (no MIG slices).")(fn)
    fn = click.option("--gpu-profile", metavar="PROFILE", help="Only MIG slices of this profile, e.g. 3g.20gb.")(fn)
    fn = click.option("--num-gpus", metavar="N", help="GPUs or MIG slices (default 1).")(fn)
    return fn


def mount_options(fn):
    """-w/-d/-m: the host directories a new container mounts (container-create and container-deploy)."""
    fn = click.option("-m", "--models", metavar="DIR", help="Host directory mounted at /models.")(fn)
    fn = click.option("-d", "--data", metavar="DIR", help="Host directory mounted at /data.")(fn)
    fn = click.option("-w", "--workspace", metavar="DIR",
                      help="Host directory mounted at /workspace (default ~/workspace/NAME).")(fn)
    return fn


def wait_option(fn):
    return click.option("--wait", metavar="SECONDS", is_flag=False, flag_value="0",
                        help="If no slot is free, queue for one (priority, then arrival); "
                             "--wait=SECONDS gives up after that.")(fn)


def parse_wait(wait):
    """`--wait` as seconds: None = do not wait, 0 = wait indefinitely; UsageError for anything else."""
    if wait is None:
        return None
    try:
        seconds = parse_duration(wait, "s")
    except ValueError:
        seconds = -1
    if seconds is None or seconds < 0:
        raise UsageError(f"--wait takes a number of seconds (or a duration like 10m), got {wait!r}")
    return seconds


def parse_count(text):
    """`--num-gpus` as an int >= 1; UsageError (exit 2) for 0, negatives and words."""
    if text is None:
        return None
    text = str(text).strip()
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--num-gpus must be a whole number of at least 1, got {text!r}",
                         hint="--cpu-only makes a container without a GPU")
    return int(text)
