"""devcontainer-init: a project's .devcontainer/devcontainer.json for VS Code over Remote-SSH (no Docker access)."""

import sys

import click

from .. import devcontainer
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("project", "PROJECT"), ("path", "FILE"), ("build", "FROM"), ("gpu", "GPU"), ("ssh_host", "SSH HOST")]


@click.command(epilog="""\b
Examples:
  devcontainer-init thesis                 ~/workspace/thesis/.devcontainer/devcontainer.json
  devcontainer-init thesis --cpu-only --extensions ms-python.python,ms-toolsai.jupyter
  devcontainer-init thesis --force         write it again
VS Code's Dev Containers extension needs Docker, which you do not have here: the file describes the
container ds01 makes (the project's Dockerfile or image, a GPU or none, the extensions) and VS Code
reaches it over Remote-SSH (Host ds01-PROJECT, which runs container-run PROJECT).
Only a project directory in your own ~/workspace is written; a symbolic link on the way is refused.
See also: devcontainer-check, vscode-setup, project-launch""")
@click.argument("project")
@click.option("--cpu-only", "--no-gpu", "cpu_only", is_flag=True, help="hostRequirements.gpu false: no GPU slot.")
@click.option("--extensions", metavar="A,B", default="", help="VS Code extension ids, comma-separated.")
@click.option("--force", is_flag=True, help="Rewrite an existing devcontainer.json.")
@output_options
@config_option
def cli(project, cpu_only, extensions, force, json_flag, table_flag, config):
    """Write ~/workspace/PROJECT/.devcontainer/devcontainer.json."""
    wanted = [e.strip() for e in extensions.split(",") if e.strip()]
    record = devcontainer.init(Runtime(config), project, gpu=not cpu_only, extensions=wanted, force=force)
    out = new_output(json_flag, table_flag, COLUMNS)
    out.emit(record)
    out.close()
    if is_tty(sys.stderr):
        sys.stderr.write(f"next: project-launch {project} --background, vscode-setup, then in VS Code "
                         f"Remote-SSH: Connect to Host... -> ds01-{project}\n")


def main():
    run(cli)
