"""image-install: DS01's name for adding pip packages to your image (image-update NAME --add)."""

import click

from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  image-install thesis wandb einops          add them to ~/workspace/thesis/Dockerfile, rebuild
  image-install thesis ffmpeg --system       apt packages
  image-install thesis wandb --recreate      and recreate container thesis from the new image
DS01 installed into a running container and committed it; ds01 adds the packages to the image's
Dockerfile and rebuilds, so they survive the next image-update and container-recreate.
See also: image-update, image-list""")
@click.argument("name")
@click.argument("packages", nargs=-1, required=True)
@click.option("--system", is_flag=True, help="The packages are apt packages.")
@click.option("--recreate", is_flag=True, help="Then recreate your container NAME from the new image.")
@output_options
@config_option
def cli(name, packages, system, recreate, json_flag, table_flag, config):
    """Add PACKAGES to image NAME (ds01-<uid>/NAME:latest) and rebuild it."""
    from ..images.update import change_packages  # lazy: ds01.images.update, 2 ms

    words = " ".join(packages)
    record = change_packages(Runtime(config), name, added=() if system else (words,),
                             added_system=(words,) if system else (), recreate=recreate)
    out = new_output(json_flag, table_flag, [("name", "NAME"), ("image", "IMAGE"), ("changed", "CHANGED"),
                                             ("built", "BUILT"), ("recreated", "RECREATED")])
    out.emit(record)
    out.close()


def main():
    run(cli)
