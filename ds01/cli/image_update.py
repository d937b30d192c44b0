"""image-update: change an image's packages in its Dockerfile, rebuild it, and optionally recreate its container."""

import sys

import click

from ..errors import UsageError
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

MENU = ("list packages", "add pip packages", "import a requirements.txt", "add system (apt) packages",
        "remove packages", "edit the Dockerfile", "rebuild", "cancel")


@click.command(epilog="""\b
Examples:
  image-update demo --add "wandb einops"           add pip packages and rebuild
  image-update demo --remove seaborn --add-system ffmpeg
  image-update demo -r requirements.txt --recreate  rebuild, then recreate container demo from it
  image-update demo --edit                          edit the Dockerfile in $EDITOR, then rebuild
  image-update demo --rebuild --no-cache
On a terminal without options, a menu. The previous Dockerfile is kept as Dockerfile.bak.
See also: image-create, image-list, container-create""")
@click.argument("name", required=False)
@click.option("--add", "add", multiple=True, metavar="PKGS", help="Add pip packages (space-separated).")
@click.option("--remove", "remove", multiple=True, metavar="PKGS", help="Remove pip or apt packages by name.")
@click.option("--add-system", multiple=True, metavar="PKGS", help="Add apt packages.")
@click.option("-r", "--requirements", type=click.Path(dir_okay=False), help="Add the packages of a requirements.txt.")
@click.option("--edit", is_flag=True, help="Open the Dockerfile in $EDITOR.")
@click.option("--rebuild", is_flag=True, help="Rebuild (also without changes).")
@click.option("--no-build", is_flag=True, help="Change the Dockerfile only; do not rebuild.")
@click.option("--no-cache", is_flag=True, help="Build without Docker's layer cache.")
@click.option("--recreate", is_flag=True, help="After the build, recreate your container NAME from the new image "
                                               "(same workspace, mounts and GPU request).")
@output_options
@config_option
def cli(name, add, remove, add_system, requirements, edit, rebuild, no_build, no_cache, recreate, json_flag,
        table_flag, config):
    """Update image NAME (ds01-<uid>/NAME:latest) through its Dockerfile."""
    from ..images.update import (  # lazy: ds01.images.update, 2 ms
        UpdateRequest,
        check_update,
        phase_packages,
        update_image,
    )  # lazy: ds01.images.update, 2 ms

    interactive = is_tty(sys.stdin) and is_tty(sys.stderr)
    rt = Runtime(config)
    if not name:
        raise UsageError("no image name given", hint="image-update NAME (image-list shows your images)")
    request = UpdateRequest(name, list(add), list(add_system), list(remove), requirements, edit, rebuild, no_build,
                            no_cache, recreate)
    if request.nothing_asked() and interactive:
        request.name, _ = check_update(rt, request)
        if not _ask(request, phase_packages(rt, request.name)):
            return
    confirm_build = (lambda: click.confirm("Rebuild the image now?", default=True, err=True)) if interactive else None
    out = new_output(json_flag, table_flag, [("name", "NAME"), ("image", "IMAGE"), ("changed", "CHANGED"),
                                             ("built", "BUILT"), ("recreated", "RECREATED")])
    out.emit(update_image(rt, request, confirm_build))
    out.close()


def _ask(request, phases):
    """The menu: fills `request` with what is chosen; False when there is nothing more to do."""
    sys.stderr.write("What do you want to do?\n")
    for number, item in enumerate(MENU, 1):
        sys.stderr.write(f"  {number}) {item}\n")
    action = MENU[click.prompt(f"Choice [1-{len(MENU)}]", type=click.IntRange(1, len(MENU)), err=True) - 1]
    request.menu = True
    if action == "list packages":
        _show(phases)
    elif action == "add pip packages":
        request.added = [click.prompt("pip packages to add", err=True)]
    elif action == "import a requirements.txt":
        request.requirements = click.prompt("requirements.txt path", err=True)
    elif action == "add system (apt) packages":
        request.added_system = [click.prompt("apt packages to add", err=True)]
    elif action == "remove packages":
        _show(phases)
        request.removed = [click.prompt("packages to remove", err=True)]
    request.edit = action == "edit the Dockerfile"
    request.rebuild = action == "rebuild"
    return action not in ("cancel", "list packages")


def _show(phases):
    for title, packages in phases:
        sys.stderr.write(f"{title}: {' '.join(packages) if packages else '(none)'}\n")


def main():
    run(cli)
