"""gpu-user-status: one user's GPU standing against their limits."""

import click

from ..errors import NotFound
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  gpu-user-status                     yours
  gpu-user-status alice               someone else's (GPU use is visible to all, as in gpu-status)
See also: gpu-status, resource-limits""")
@click.argument("user", required=False)
@output_options
@config_option
def cli(user, json_flag, table_flag, config):
    """Held slots and containers, GPU-eq used / limit, per-container limit, and what USER could get now."""
    from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms
    from ..gpu.choice import user_record  # lazy: ds01.gpu.choice, 4 ms
    from ..identity import lookup  # lazy: ds01.identity, 0.6 ms
    from ..live_view import serve_reads  # lazy: ds01.live_view, 1 ms

    rt = serve_reads(Runtime(config, read_only=True))  # ds01d's live view of the engine (ds01/live_view.py)
    login = user or rt.caller.login
    if user and lookup(user) is None:
        raise NotFound(f"no user {user!r} on this host")
    allocator = Allocator(rt)
    record = user_record(allocator.snapshot(), login, rt.limits(login), allocator.strategy)
    out = new_output(json_flag, table_flag, [("user", "USER"), ("group", "GROUP"), ("gpu_eq_used", "GPU-EQ"),
                                             ("gpu_eq_limit", "LIMIT"), ("max_gpu_slots_per_container", "PER-CTR"),
                                             ("slots", "SLOTS"), ("containers", "CONTAINERS"),
                                             ("can_get_now", "CAN-GET")])
    out.emit(record)
    out.close()


def main():
    run(cli)
