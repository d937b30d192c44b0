"""gpu-release: drop a claim, or give up a stopped container's GPU slots before its hold ends."""

import click

from ..runtime import Runtime
from ._common import batch, config_option, new_output, output_options, read_targets, run


@click.command(epilog="""\b
Examples:
  gpu-release claim:3f9a1c2b7d        drop a claim from gpu-allocate
  gpu-release thesis                  a stopped container gives its slots back now
  gpu-allocate | gpu-release          claims and names are read from stdin too
A released container can still start later if its slots are free then (else exit 3).
See also: gpu-allocate, gpu-status, container-stop""")
@click.argument("targets", nargs=-1)
@output_options
@config_option
def cli(targets, json_flag, table_flag, config):
    """Release CLAIM or NAME... (or the claims/containers on stdin)."""
    from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms

    rt = Runtime(config)
    items = read_targets(targets, keys=("claim", "container", "name"))
    allocator = Allocator(rt)
    out = new_output(json_flag, table_flag, [("target", "TARGET"), ("kind", "KIND"), ("user", "USER"),
                                             ("slots", "SLOTS")])

    def release(target):
        if target.startswith("claim:"):
            return allocator.release_claim(target, rt.caller.login, rt.admin)
        return allocator.release_container(rt.finder.find(target))

    return batch(items, release, out)


def main():
    run(cli)
