"""image-catalog: the framework images AIME's catalog offers for this host's GPU architecture."""

from typing import Any

import click

from ..errors import NotFound
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  image-catalog                        frameworks and versions for this host (first = latest)
  image-catalog pytorch                PyTorch only
  image-catalog --arch CUDA_AMPERE     what an Ampere host would get
  image-catalog --json | jq -r .image
The architecture is --arch, else $MLC_ARCH, else detected from the GPUs.
See also: image-create, container-create""")
@click.argument("framework", required=False)
@click.option("--arch", metavar="ARCH", help="Architecture (CUDA_AMPERE, CUDA_ADA, CUDA_BLACKWELL, ...).")
@click.option("--all-archs", is_flag=True, help="Every architecture, not only this host's.")
@output_options
@config_option
def cli(framework, arch, all_archs, json_flag, table_flag, config):
    """One record per framework version: framework, version, arch, archs, image, latest."""
    from ..images import catalog  # lazy: ds01.images.catalog, 2 ms

    rt = Runtime(config, read_only=True)
    cat = catalog.load(rt.policy)
    if all_archs and arch:
        raise click.UsageError("--all-archs and --arch exclude each other")
    if all_archs:
        archs = cat.archs()
    else:
        chosen, how = catalog.arch_for(rt, cat, arch)
        archs = [chosen]
        rt.progress(f"architecture {chosen} ({how}); catalog {cat.source}")
    name = None
    if framework:
        name = cat.framework_name(framework)
        if name is None:
            raise NotFound(f"no framework {framework!r} in the catalog ({cat.source})",
                           hint="image-catalog without arguments lists them")
    out = new_output(json_flag, table_flag, [("framework", "FRAMEWORK"), ("version", "VERSION"),
                                             ("arch", "ARCH"), ("image", "IMAGE"), ("latest", "LATEST")])
    for each in archs:
        entries = cat.for_arch(each)
        firsts: dict[Any, Any] = {}
        for entry in entries:
            firsts.setdefault(entry.framework, entry)
        for entry in sorted(entries, key=lambda e: e.framework.lower()):  # stable: versions keep file order
            if name and entry.framework != name:
                continue
            out.emit(dict(entry.record(each), latest=firsts[entry.framework] is entry))
    out.close(empty="no images for this architecture")


def main():
    run(cli)
