"""image-delete: delete your images; the Dockerfile is kept unless you ask for it to go."""

import sys

import click

from ..errors import UsageError
from ..output import is_tty
from ..runtime import Runtime
from ._common import batch, config_option, new_output, output_options, read_targets, run


@click.command(epilog="""\b
Examples:
  image-delete demo
  image-delete demo --force                 also stop and remove the containers using it
  image-list | image-delete --force         all your images (and their containers)
  image-delete demo --delete-dockerfile     also delete ~/workspace/demo/Dockerfile
  image-delete --all                        all your images (type yes on a terminal)
Workspaces are never touched; the Dockerfile stays unless --delete-dockerfile.
See also: image-list, container-remove""")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Stop and remove containers that use the image first.")
@click.option("--delete-dockerfile", is_flag=True, help="Also delete the image's Dockerfile (and its .bak and log).")
@click.option("--keep-dockerfile", is_flag=True, help="(DS01) Accepted; the Dockerfile is kept unless "
                                                      "--delete-dockerfile.")
@click.option("--all", "all_images", is_flag=True, help="All your images (on a terminal you type yes first).")
@output_options
@config_option
def cli(names, force, delete_dockerfile, keep_dockerfile, all_images, json_flag, table_flag, config):
    """Delete NAME... (yours: `demo` means ds01-<uid>/demo:latest), or the images named on stdin."""
    from .. import images  # lazy: ds01.images, 1 ms
    from ..images.delete import ContainersByImage, delete_image  # lazy: ds01.images.delete, 2 ms

    if keep_dockerfile and delete_dockerfile:
        raise UsageError("--keep-dockerfile and --delete-dockerfile contradict each other",
                         hint="the Dockerfile is kept unless --delete-dockerfile")
    if all_images and names:
        raise UsageError("give NAMEs or --all, not both",
                         hint="image-delete --all deletes every image of yours; image-delete NAME... those named")
    rt = Runtime(config)
    if all_images:
        targets = [r["image"] for r in images.list_images(rt.api, rt.caller)]  # the caller's own, admins' too
        if targets and is_tty(sys.stdin) and is_tty(sys.stderr):
            typed = click.prompt(f"Delete all {len(targets)} of your images ({', '.join(targets)})? Type yes",
                                 default="", show_default=False, err=True)
            if typed.strip() != "yes":
                sys.stderr.write("nothing deleted\n")
                return 0
    else:
        targets = read_targets(names, what="image", keys=("image", "name"))
    containers = ContainersByImage(rt.api)  # one `docker ps -a` for the whole batch
    out = new_output(json_flag, table_flag, [("name", "NAME"), ("image", "IMAGE"), ("status", "STATUS"),
                                             ("removed_containers", "CONTAINERS REMOVED")])
    return batch(targets, lambda target: delete_image(rt, target, force, delete_dockerfile, containers), out)


def main():
    run(cli)
