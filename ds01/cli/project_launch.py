"""project-launch: build the project's image if it is missing (or --rebuild), then container-deploy it."""

import click

from ._common import config_option, run


@click.command(epilog="""\b
Examples:
  project-launch thesis                   build if needed, start, open a shell
  project-launch thesis --background      leave it running (the default without a terminal)
  project-launch thesis --rebuild         requirements.txt changed: rebuild the image first
  project-launch                          pick one of your projects (terminal)
See also: project-init, container-deploy, container-retire, image-update""")
@click.argument("name", required=False)
@click.option("--rebuild", is_flag=True, help="Rebuild the image even if it exists (requirements.txt is re-read).")
@click.option("--open", "mode", flag_value="open", help="Open a shell afterwards (default on a terminal).")
@click.option("--background", "mode", flag_value="background", help="Leave it running.")
@click.option("--cpu-only", is_flag=True, help="No GPU.")
@click.option("--num-gpus", metavar="N", help="GPUs or MIG slices (default 1).")
@click.option("--guided", is_flag=True, help="Explain each step.")
@click.option("--json", "json_flag", is_flag=True, help="The container record as JSON.")
@config_option
def cli(name, rebuild, mode, cpu_only, num_gpus, guided, json_flag, config):
    """Launch project NAME (~/workspace/NAME): its image, then its container."""
    import os
    import sys

    from .. import images, projects
    from ..containers import TABLE_COLUMNS
    from ..create import CreateRequest
    from ..deploy import GUIDE, deploy
    from ..errors import Ds01Error, NotFound, UsageError
    from ..guided import Guide
    from ..output import is_tty
    from ..runtime import Runtime
    from ._common import new_output, session
    from ._gpu import parse_count

    terminal = is_tty(sys.stdin) and is_tty(sys.stdout)
    if mode == "open" and not terminal:
        raise UsageError("--open needs a terminal", hint="use --background, then container-run NAME -- COMMAND")
    mode = mode or ("open" if terminal else "background")
    count = parse_count(num_gpus)
    guide = Guide(guided, "project-launch")
    rt = Runtime(config)
    user = rt.caller
    if not name:
        if not (is_tty(sys.stdin) and is_tty(sys.stderr)):
            raise UsageError("no project given", hint="project-launch NAME (project-init NAME makes one)")
        name = _pick_project(rt)
    name = projects.validate_name(name)
    path = projects.directory(user, name)
    if not os.path.isdir(path):
        raise NotFound(f"no project {name} ({path} does not exist)", hint=f"project-init {name} creates it")
    image = projects.image_of(user, name)
    own = images.parse_reference(image)
    if own and own[0] == user.uid and (rebuild or images.image_id(rt.engine, image) is None):
        dockerfile = images.find_dockerfile(user, own[1])
        if dockerfile is None:
            raise Ds01Error(f"the image {image} is missing and {path} has no Dockerfile",
                            hint=f"image-create {own[1]} writes one")
        guide.step("First, the image: built from the project's Dockerfile (with requirements.txt). The first\n"
                   "build takes a few minutes; later builds reuse Docker's cache.", numbered=False)
        _sync_requirements(dockerfile, os.path.join(path, "requirements.txt"), user)
        images.build_user_image(rt, own[1], image, dockerfile)
        if rebuild:
            _warn_old_container(rt, name)
    explain = guide.explainer(GUIDE, pause=("create", "start"))
    rec = deploy(rt, CreateRequest(name=name, image=image, workspace=path, cpu_only=cpu_only, num_gpus=count),
                 explain=explain)
    out = new_output(json_flag, False, TABLE_COLUMNS)
    out.emit(rec)
    out.close()
    if mode == "open":
        explain("open")
        return session(rec["container"], (), False, config, start=False)
    explain("background")
    rt.progress(f"running in the background; open a shell with: container-run {name}")
    return 0


def _sync_requirements(dockerfile, requirements, user):
    """Put requirements.txt's current content into the Dockerfile's requirements phase (when it has one)."""
    import os

    from .. import images
    from ..images import dockerfile as D
    from ..images.packages import read_requirements

    if not os.path.isfile(requirements):
        return
    with open(dockerfile, encoding="utf-8") as handle:
        text = handle.read()
    blocks = D.Blocks(text, dockerfile)
    if "requirements" not in blocks.spans:
        return
    wanted = read_requirements(requirements)
    if blocks.packages["requirements"] != wanted:
        blocks.set("requirements", wanted)
        images.save_dockerfile(dockerfile, blocks.text(), user)


def _warn_old_container(rt, name):
    from ..errors import NotFound
    from ._common import warn

    try:
        rt.finder.find(name)
    except NotFound:
        return
    warn(f"container {name} still runs the previous image; container-retire {name} and launch again to use the new one")


def _pick_project(rt):
    """A numbered list of ~/workspace projects, plus a new one (project-init asks the rest)."""
    from .. import projects
    from ..pick import choose

    found = projects.listing(rt.caller)
    labels = [f"{p['name']:<20} {p['type'] or '-':<7} {p['path']}" for p in found] + ["(a new project)"]
    index = choose(labels, "Launch which project?")
    if index < len(found):
        return found[index]["name"]
    from ..project_scaffold import ProjectRequest, ask_name, init_project

    name = ask_name(rt, prog="project-launch")
    init_project(rt, ProjectRequest(name=name), ask=True)
    rt.progress(f"project {name} is ready in {projects.directory(rt.caller, name)}")
    return name


def main():
    run(cli)


MAN_OUTPUT = "The container record that container-deploy prints."
