"""project-init: a new project in ~/workspace/NAME: layout, requirements, pyproject, Dockerfile, git, devcontainer."""

import sys

import click

from ..guided import Guide
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  project-init thesis                           a few questions on a terminal
  project-init thesis --type nlp --quick        defaults, no questions
  project-init lab -t custom --no-jupyter --no-data-science --quick   nothing added (offline hosts)
  project-init demo --blank --no-git            only the directory and pyproject.toml
  project-init thesis --devcontainer --build    with VS Code's devcontainer.json, image built now
Next: project-launch NAME builds the image if needed and starts a container.
See also: project-launch, image-create, container-deploy""")
@click.argument("name", required=False)
@click.option("-t", "--type", "kind", type=click.Choice(["ml", "cv", "nlp", "rl", "audio", "ts", "llm", "custom"]),
              help="Project type: its packages go into requirements.txt (default ml).")
@click.option("--desc", "description", metavar="TEXT", help="One line about the project (README, pyproject).")
@click.option("-f", "--framework", type=click.Choice(["pytorch", "tensorflow"], case_sensitive=False),
              help="Base framework of the image (default pytorch).")
@click.option("--git/--no-git", "use_git", default=None, help="git init with a first commit (default yes).")
@click.option("--devcontainer/--no-devcontainer", default=None, help="Write .devcontainer/devcontainer.json.")
@click.option("--build/--no-build", default=None, help="Build the image now (default no: project-launch does).")
@click.option("--jupyter/--no-jupyter", default=None,
              help="Jupyter in the image (default: asked on a terminal, else yes unless the policy says no).")
@click.option("--data-science/--no-data-science", default=None,
              help="The data-science set in requirements.txt (default: asked, else as --jupyter).")
@click.option("--blank", is_flag=True, help="An empty project: the directory and pyproject.toml only.")
@click.option("--quick", is_flag=True, help="Defaults for everything not given; no questions.")
@click.option("--guided", is_flag=True, help="Explain each step.")
@output_options
@config_option
def cli(name, kind, description, framework, use_git, devcontainer, build, jupyter, data_science, blank, quick, guided,
        json_flag, table_flag, config):
    """Create project NAME in ~/workspace/NAME, ready for project-launch."""
    from ..project_scaffold import COLUMNS, GUIDE, ProjectRequest, init_project  # lazy: ds01.project_scaffold, 0.5 ms
    from ._project_questions import ask_project, confirm_build  # lazy: ds01.cli._project_questions, 1 ms

    ask = is_tty(sys.stdin) and is_tty(sys.stderr) and not quick

    explain = Guide(guided, "project-init").explainer(GUIDE)  # every step is followed by a question
    rt = Runtime(config)
    request = ProjectRequest(name=name, kind=kind, description=description, framework=framework, use_git=use_git,
                             devcontainer=devcontainer, build=build, blank=blank, jupyter=jupyter,
                             data_science=data_science)
    if ask:
        ask_project(rt, request, explain)
    record = init_project(rt, request, explain, (lambda: confirm_build(explain)) if ask else None)
    out = new_output(json_flag, table_flag, COLUMNS)
    out.emit(record)
    out.close()
    rt.progress(f"project {record['name']} is ready in {record['path']}; next: project-launch {record['name']}")


def main():
    run(cli)


MAN_OUTPUT = ("One project record: name, path, type, image, created, files (relative paths written), "
              "dockerfile, devcontainer, git, built.")
