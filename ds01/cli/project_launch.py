"""project-launch: build the project's image if it is missing (or --rebuild), then container-deploy it."""

import sys

import click

from .. import projects
from ..containers import TABLE_COLUMNS
from ..errors import UsageError
from ..guided import Guide
from ..output import is_tty
from ..pick import choose
from ..runtime import Runtime
from ._common import config_option, new_output, run, session
from ._gpu import parse_count


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
    from ..create import CreateRequest  # lazy: ds01.create, 9 ms
    from ..deploy import GUIDE, deploy  # lazy: ds01.deploy, 2 ms
    from ..project_image import project_image  # lazy: ds01.project_image, 2 ms

    terminal = is_tty(sys.stdin) and is_tty(sys.stdout)
    if mode == "open" and not terminal:
        raise UsageError("--open needs a terminal", hint="use --background, then container-run NAME -- COMMAND")
    mode = mode or ("open" if terminal else "background")
    count = parse_count(num_gpus)
    guide = Guide(guided, "project-launch")
    rt = Runtime(config)
    if not name:
        if not (is_tty(sys.stdin) and is_tty(sys.stderr)):
            raise UsageError("no project given", hint="project-launch NAME (project-init NAME makes one)")
        name = _pick_project(rt)
    name, path, image = project_image(rt, name, rebuild, before_build=lambda: guide.step(
        "First, the image: built from the project's Dockerfile (with requirements.txt). The first\n"
        "build takes a few minutes; later builds reuse Docker's cache.", numbered=False))
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


def _pick_project(rt):
    """A numbered list of ~/workspace projects, plus a new one (project-init asks the rest)."""
    found = projects.listing(rt.caller)
    labels = [f"{p['name']:<20} {p['type'] or '-':<7} {p['path']}" for p in found] + ["(a new project)"]
    index = choose(labels, "Launch which project?")
    if index < len(found):
        return found[index]["name"]
    from ..project_scaffold import ProjectRequest, init_project  # lazy: ds01.project_scaffold, 0.5 ms
    from ._project_questions import ask_name, ask_project, confirm_build  # lazy: ds01.cli._project_questions, 1 ms

    name = ask_name(rt, prog="project-launch")
    request = ProjectRequest(name=name)
    ask_project(rt, request, prog="project-launch")
    init_project(rt, request, confirm_build=confirm_build)
    rt.progress(f"project {name} is ready in {projects.directory(rt.caller, name)}")
    return name


def main():
    run(cli)


MAN_OUTPUT = "The container record that container-deploy prints."
