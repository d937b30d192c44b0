"""gpu-allocate: plumbing that claims GPU slots for a while, for a container made next."""

import click

from ..errors import NotFound, PermissionDenied, UsageError
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run
from ._gpu import parse_count, parse_wait, request_options, wait_option


@click.command(epilog="""\b
Examples:
  gpu-allocate                                   claim one slot for 120 s
  gpu-allocate --num-gpus 2 | container-create exp2 IMAGE
  gpu-allocate --gpu-profile 3g.20gb --ttl 600
  gpu-allocate --user alice                      (admins) claim for someone else
A claim counts against the quota like a container; gpu-release CLAIM drops it.
See also: gpu-release, gpu-status, container-create""")
@request_options
@click.option("--user", "user_opt", metavar="USER", help="Claim for USER.")
@click.option("--ttl", metavar="SECONDS", help="How long the claim lives (default gpu_allocation.claim_ttl_s, 120).")
@wait_option
@output_options
@config_option
def cli(num_gpus, gpu_profile, full_gpu, user_opt, ttl, wait, json_flag, table_flag, config):
    """Claim GPU slots now and print the claim (claim, slots, uuids, gpu_eq, expires_at)."""
    from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms
    from ..gpu.choice import Request, check_profile  # lazy: ds01.gpu.choice, 4 ms
    from ..identity import lookup  # lazy: ds01.identity, 0.6 ms

    count = parse_count(num_gpus)
    if gpu_profile and full_gpu:
        raise UsageError("--gpu-profile (a MIG slice) and --full-gpu (a whole GPU) exclude each other")
    seconds = None
    if ttl is not None:
        if not ttl.isdigit() or not 1 <= int(ttl) <= 86400:
            raise UsageError(f"--ttl must be a number of seconds from 1 to 86400, got {ttl!r}")
        seconds = int(ttl)
    wait_s = parse_wait(wait)
    rt = Runtime(config)
    login = rt.caller.login
    if user_opt and user_opt != login:
        if not rt.admin:
            raise PermissionDenied(f"only admins may claim GPUs for another user ({user_opt})")
        if lookup(user_opt) is None:
            raise NotFound(f"no user {user_opt!r} on this host")
        login = user_opt
    allocator = Allocator(rt)
    check_profile(allocator.inventory, gpu_profile)
    from ..create import check_engine_gpus  # lazy: ds01.create, 9 ms

    check_engine_gpus(rt)  # no claim on GPUs the engine cannot give a container
    request = Request(count or 1, gpu_profile, full_gpu)
    claim = allocator.allocate(login, request, lambda slots: allocator.write_claim(login, slots, seconds),
                               wait=wait_s, progress=rt.progress, label="claim")
    out = new_output(json_flag, table_flag, [("claim", "CLAIM"), ("user", "USER"), ("slots", "SLOTS"),
                                             ("gpu_eq", "GPU-EQ"), ("expires_at", "EXPIRES")])
    out.emit(claim)
    out.close()


def main():
    run(cli)
