"""The questions of a new project, asked on a terminal (project-init, project-launch's "new project",
user-setup's first project): they fill a ds01.project_scaffold.ProjectRequest, which init_project then makes."""

import click

from ..errors import Ds01Error, UsageError
from ..pick import choose
from ..project_scaffold import check_new_project, default_sets
from ..projects import TYPES


def ask_project(rt, request, explain=lambda step: None, prog="project-init"):
    """Ask what `request` leaves open, in the order the wizard always asked (the name first, checked as typed)."""
    if not request.name:
        explain("name")
        request.name = ask_name(rt, prog)
    request.name, _ = check_new_project(rt, request.name)
    if not request.blank:
        sets = default_sets(rt)
        if request.kind is None:
            explain("type")
            request.kind = ask_type()
        if request.description is None:
            request.description = click.prompt("Description (one line, Enter to skip)", default="",
                                               show_default=False, err=True).strip()
        if request.jupyter is None:
            explain("jupyter")
            request.jupyter = click.confirm("Include Jupyter?", default="jupyter" in sets, err=True)
        if request.data_science is None:
            explain("data-science")
            request.data_science = click.confirm("Include the data-science set?", default="data-science" in sets,
                                                 err=True)
        if request.devcontainer is None:
            explain("devcontainer")
            request.devcontainer = click.confirm("Add a VS Code devcontainer.json?", default=False, err=True)
    if request.use_git is None:
        explain("git")
        request.use_git = click.confirm("Initialise git with a first commit?", default=True, err=True)


def confirm_build(explain=lambda step: None):
    """The question asked once the project's files are written."""
    explain("build")
    return click.confirm("Build the image now?", default=False, err=True)


def ask_name(rt, prog="project-init"):
    """Ask for a project name until it is valid and free."""
    while True:
        answer = click.prompt("Project name", err=True).strip()
        try:
            return check_new_project(rt, answer)[0]
        except (UsageError, Ds01Error) as exc:
            click.echo(f"{prog}: {exc.message}", err=True)


def ask_type():
    from ..images import packages as P  # lazy: ds01.images.packages, 2 ms

    labels = [f"{k:<7} {P.USE_CASE_HELP[k]}: {' '.join(P.USE_CASES[k][:4]) or 'your own list'}" for k in TYPES]
    return TYPES[choose(labels, "Project type?")]
