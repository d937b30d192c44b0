"""Options and checks the gpu-* commands share with container-create."""

import click


def request_options(fn):
    fn = click.option("--full-gpu", is_flag=True, help="Only whole GPUs (no MIG slices).")(fn)
    fn = click.option("--gpu-profile", metavar="PROFILE", help="Only MIG slices of this profile, e.g. 3g.20gb.")(fn)
    fn = click.option("--num-gpus", metavar="N", help="GPUs or MIG slices (default 1).")(fn)
    return fn
