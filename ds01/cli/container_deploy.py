"""container-deploy: create + start in one step, then a shell (on a terminal) or background; undone on failure."""

import sys

import click

from ..containers import TABLE_COLUMNS
from ..errors import NotFound, UsageError
from ..guided import Guide
from ..image_choice import framework_like
from ..output import is_tty
from ..pick import choose
from ..runtime import Runtime
from ._common import batch, config_option, new_output, output_options, read_targets, run, session
from ._gpu import mount_options, parse_count, parse_wait, request_options, wait_option


@click.command(epilog="""\b
Examples:
  container-deploy thesis                        your image ds01-<uid>/thesis, a GPU, then a shell
  container-deploy exp pytorch --background      the catalog's PyTorch image, left running
  container-deploy --project thesis              ~/workspace/thesis and the project's image
  container-deploy big IMAGE --num-gpus 2 --wait queue until two slots are free
  image-list | container-deploy --background     one container per image of yours
  container-deploy thesis --dry-run              the plan, nothing changed
If anything fails after the container is created, it is removed again and its GPU freed.
See also: container-retire, container-create, container-run, project-launch""")
@click.argument("name", required=False)
@click.argument("image", required=False)
@click.option("--project", metavar="PROJECT", help="Use ~/workspace/PROJECT and its image (name defaults to it).")
@mount_options
@click.option("--cpu-only", is_flag=True, help="No GPU.")
@request_options
@wait_option
@click.option("--open", "mode", flag_value="open", help="Open a shell afterwards (default on a terminal).")
@click.option("--background", "mode", flag_value="background", help="Leave it running (default without a terminal).")
@click.option("--dry-run", is_flag=True, help="Print what would be created and change nothing.")
@click.option("--guided", is_flag=True, help="Explain each step as it happens.")
@click.option("--image", "image_option", metavar="IMAGE", help="(DS01) The image: the same as the IMAGE argument.")
@click.option("--framework", metavar="FRAMEWORK",
              help="(DS01) A framework from the AIME catalog (image-catalog lists them), e.g. pytorch.")
@output_options
@config_option
def cli(name, image, project, workspace, data, models, cpu_only, num_gpus, gpu_profile, full_gpu, wait, mode,
        dry_run, guided, image_option, framework, json_flag, table_flag, config):
    """Create and start container NAME from IMAGE (default: your image NAME), then open it or leave it running."""
    from ..create import CreateRequest  # lazy: ds01.create, 9 ms
    from ..deploy import GUIDE, deploy, deploy_defaults  # lazy: ds01.deploy, 2 ms

    image = _one_image(image, image_option, framework)
    terminal = is_tty(sys.stdin) and is_tty(sys.stdout)
    if mode == "open" and not terminal:
        raise UsageError("--open needs a terminal", hint="use --background, then container-run NAME -- COMMAND")
    rt = Runtime(config)
    name, image, workspace = deploy_defaults(rt, name, image, workspace, project, framework)
    if name:
        targets = [name]
    else:
        targets = read_targets((), what="container name", keys=("name", "container"),
                               pick=lambda: _pick_image(rt))
    if len(targets) > 1 and (image or workspace):
        raise UsageError("IMAGE and --workspace apply to one container; several names came in")
    if mode is None:
        mode = "open" if terminal and len(targets) == 1 and not dry_run else "background"
    if mode == "open" and len(targets) > 1:
        raise UsageError("--open takes one container", hint="--background deploys several")

    options = dict(workspace=workspace, data=data, models=models, cpu_only=cpu_only, num_gpus=parse_count(num_gpus),
                   gpu_profile=gpu_profile, full_gpu=full_gpu, wait=parse_wait(wait))

    explain = Guide(guided, "container-deploy").explainer(GUIDE, pause=("create", "start"))

    out = new_output(json_flag, table_flag, None if dry_run else TABLE_COLUMNS)
    opened = []

    def deploy_one(target):
        rec = deploy(rt, CreateRequest(name=target, image=image, **options), dry_run, explain)
        if rec and not dry_run and mode == "open":
            opened.append(rec)
        return rec

    code = batch(targets, deploy_one, out)
    if opened and code == 0:
        explain("open")
        return session(opened[0]["container"], (), False, config, start=False)
    if not dry_run and code == 0 and targets:
        explain("background")
        rt.progress("running in the background; open a shell with: container-run " + " ".join(
            t.split("._.")[0] for t in targets))
    return code


def _one_image(image, image_option, framework):
    """DS01's --image/--framework as the IMAGE argument; two different choices are a usage error."""
    if framework is not None and not framework_like(framework):
        raise UsageError(f"--framework takes a framework name, not an image: {framework!r}",
                         hint=f"container-deploy NAME --image {framework}; image-catalog lists the frameworks")
    given = [v for v in (image, image_option, framework) if v is not None]
    if len(set(given)) > 1:
        raise UsageError("give one of IMAGE, --image and --framework",
                         hint="container-deploy NAME IMAGE|FRAMEWORK")
    if framework is not None:
        return framework  # a catalog framework name (checked against the catalog once the policy is read)
    return given[0] if given else None


def _pick_image(rt):
    """With no NAME on a terminal: one of the caller's images; the container takes its name."""
    from .. import images  # lazy: ds01.images, 1 ms

    mine = sorted(images.list_images(rt.api, rt.caller), key=lambda r: r["name"])
    if not mine:
        raise NotFound("you have no images yet", hint="image-create NAME or project-init NAME makes one")
    return mine[choose([f"{r['name']:<20} {r['image']}" for r in mine], "Deploy which image?")]["name"]


def main():
    run(cli)


MAN_OUTPUT = "The container record of each deployed container (with --dry-run, container-create's plan)."
