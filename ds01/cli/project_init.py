"""project-init: a new project in ~/workspace/NAME: layout, requirements, pyproject, Dockerfile, git, devcontainer."""

import click

from ._common import config_option, new_output, output_options, run

GUIDE = {
    "name": "A project is a directory ~/workspace/NAME; inside a container it is /workspace.\n"
            "Its image is ds01-<uid>/NAME and its container NAME, so one name ties the three together.",
    "type": "The type picks the Python packages in requirements.txt (edit it any time; project-launch\n"
            "--rebuild installs the changes).",
    "layout": "data/ and models/ hold large files and stay out of git; notebooks/ and src/ hold your work.",
    "dockerfile": "The Dockerfile builds FROM the AIME framework image for this host's GPUs and installs\n"
                  "requirements.txt and Jupyter; your account is baked in.",
    "git": "git tracks your code; the .gitignore keeps data, models and caches out of it.",
    "devcontainer": "VS Code can open the project in a container (Dev Containers). The file uses the project\n"
                    "image and your CPU and memory limits; GPUs come from container-deploy instead.",
    "build": "Building takes a few minutes; project-launch builds it when needed, so you can skip it now.",
}


@click.command(epilog="""\b
Examples:
  project-init thesis                           a few questions on a terminal
  project-init thesis --type nlp --quick        defaults, no questions
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
@click.option("--blank", is_flag=True, help="An empty project: the directory and pyproject.toml only.")
@click.option("--quick", is_flag=True, help="Defaults for everything not given; no questions.")
@click.option("--guided", is_flag=True, help="Explain each step.")
@output_options
@config_option
def cli(name, kind, description, framework, use_git, devcontainer, build, blank, quick, guided, json_flag, table_flag,
        config):
    """Create project NAME in ~/workspace/NAME, ready for project-launch."""
    import sys

    from .. import projects
    from ..errors import UsageError
    from ..output import is_tty
    from ..runtime import Runtime

    ask = is_tty(sys.stdin) and is_tty(sys.stderr) and not quick
    explain = (lambda key: sys.stderr.write("\n" + GUIDE[key] + "\n")) if guided else (lambda key: None)
    rt = Runtime(config)
    if not name:
        if not ask:
            raise UsageError("no project name given", hint="project-init NAME")
        explain("name")
        name = _ask_name(rt)
    name = projects.validate_name(name)
    path = projects.directory(rt.caller, name)
    _check_free(path, name)
    if not blank:
        if kind is None:
            explain("type")
            kind = _ask_type() if ask else "ml"
        if description is None and ask:
            description = click.prompt("Description (one line, Enter to skip)", default="", show_default=False,
                                       err=True).strip()
        if devcontainer is None:
            if ask:
                explain("devcontainer")
            devcontainer = ask and click.confirm("Add a VS Code devcontainer.json?", default=False, err=True)
    if use_git is None:
        if ask:
            explain("git")
        use_git = not ask or click.confirm("Initialise git with a first commit?", default=True, err=True)
    if description and ("\n" in description or len(description) > 200):
        raise UsageError("--desc is one line of at most 200 characters")
    scaffold = Scaffold(rt, name, path, kind or "custom", description or "", (framework or "pytorch").lower(), blank)
    explain("layout")
    scaffold.write(devcontainer=bool(devcontainer) and not blank)
    if not blank:
        explain("dockerfile")
    if use_git:
        scaffold.git_init()
    if build is None and ask and not blank:
        explain("build")
        build = click.confirm("Build the image now?", default=False, err=True)
    record = scaffold.record(git=use_git)
    if build and not blank:
        from .. import images

        images.build_user_image(rt, name, record["image"], record["dockerfile"])
        record["built"] = True
    out = new_output(json_flag, table_flag, [("name", "NAME"), ("type", "TYPE"), ("path", "PATH"), ("image", "IMAGE"),
                                             ("built", "BUILT")])
    out.emit(record)
    out.close()
    rt.progress(f"project {name} is ready in {path}; next: project-launch {name}")


def _check_free(path, name):
    import os

    from ..errors import Ds01Error

    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise Ds01Error(f"{path} already exists and is not empty",
                        hint=f"project-launch {name} uses it as it is; or choose another name")


def _ask_name(rt):
    from .. import projects
    from ..errors import Ds01Error, UsageError

    while True:
        answer = click.prompt("Project name", err=True).strip()
        try:
            name = projects.validate_name(answer)
            _check_free(projects.directory(rt.caller, name), name)
            return name
        except (UsageError, Ds01Error) as exc:
            click.echo(f"project-init: {exc.message}", err=True)


def _ask_type():
    from .. import packages as P
    from .. import projects
    from ..pick import choose

    labels = [f"{k:<7} {P.USE_CASE_HELP[k]}: {' '.join(P.USE_CASES[k][:4]) or 'your own list'}" for k in projects.TYPES]
    return projects.TYPES[choose(labels, "Project type?")]


class Scaffold:
    """The files of a new project, written as the caller (the directory is theirs)."""

    def __init__(self, rt, name, path, kind, description, framework, blank):
        from .. import projects
        from ..create import now_iso

        self.rt, self.name, self.path, self.kind = rt, name, path, kind
        self.description, self.framework, self.blank = description, framework, blank
        self.image = projects.image_reference(rt.caller, name)
        self.created = now_iso()
        self.files = []
        self.dockerfile = None
        self.devcontainer = None

    def _write(self, relative, text):
        import os

        target = os.path.join(self.path, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(text)
        self.files.append(relative)

    def write(self, devcontainer):
        import os

        from .. import projects
        from ..create import make_workspace

        make_workspace(self.path, self.rt.caller)
        self._write("pyproject.toml", projects.pyproject(self.name, self.description, self.kind, self.image,
                                                         self.created, self.rt.caller.login))
        if self.blank:
            return
        for directory in projects.LAYOUT:
            self._write(os.path.join(directory, ".gitkeep"), "")
        self._write("README.md", projects.readme(self.name, self.description, self.kind, self.image))
        self._write(".gitignore", projects.GITIGNORE)
        self._write("requirements.txt", projects.requirements(self.kind))
        self._write_dockerfile()
        if devcontainer:
            self._write_devcontainer()

    def _write_dockerfile(self):
        import os

        from .. import image_plan, images
        from ..dockerfile import render

        answers = image_plan.Answers(framework=self.framework, use_case="custom", jupyter=True, data_science=False,
                                     requirements=os.path.join(self.path, "requirements.txt"))
        spec = image_plan.plan(self.rt, self.name, answers)
        spec.use_case = self.kind
        self.dockerfile = images.workspace_dockerfile(self.rt.caller, self.name)
        images.save_dockerfile(self.dockerfile, render(spec), self.rt.caller)
        self.files.append("Dockerfile")

    def _write_devcontainer(self):
        import json

        from .. import labels as L

        limits = self.rt.limits(self.rt.caller.login)
        config = {
            "name": self.name,
            "image": self.image,
            "workspaceFolder": "/workspace",
            "workspaceMount": "source=${localWorkspaceFolder},target=/workspace,type=bind",
            "containerUser": self.rt.caller.login,
            "runArgs": limits.docker_args() + ["--label", f"{L.INTERFACE}=devcontainer",
                                               "--label", f"{L.USER}={self.rt.caller.login}"],
            "shutdownAction": "stopContainer",
            "customizations": {"vscode": {"extensions": ["ms-python.python", "ms-toolsai.jupyter"]}},
        }
        note = ("// VS Code Dev Containers: the project image with your ds01 CPU, memory and shm limits.\n"
                "// GPUs are given out by ds01's allocator: for GPU work run project-launch, then attach VS Code\n"
                "// to the running container (Dev Containers: Attach to Running Container).\n")
        self.devcontainer = ".devcontainer/devcontainer.json"
        self._write(self.devcontainer, note + json.dumps(config, indent=2) + "\n")

    def git_init(self):
        """`git init` and a first commit, as the caller; a missing git name or email falls back to the login."""
        import socket
        import subprocess

        from ..errors import Ds01Error

        def git(*args, check=True):
            return subprocess.run(["git", "-C", self.path, *args], capture_output=True, text=True, check=check)

        try:
            git("-c", "init.defaultBranch=main", "init", "-q")
            identity = []
            for key, fallback in (("user.name", self.rt.caller.login),
                                  ("user.email", f"{self.rt.caller.login}@{socket.gethostname()}")):
                if not git("config", key, check=False).stdout.strip():
                    identity += ["-c", f"{key}={fallback}"]
            git("add", "-A")
            git(*identity, "commit", "-q", "-m", f"New project {self.name} (project-init)")
        except FileNotFoundError:
            raise Ds01Error("git is not installed", hint="--no-git skips it; an admin installs git") from None
        except subprocess.CalledProcessError as exc:
            raise Ds01Error(f"git failed: {exc.stderr.strip()}", hint="--no-git skips it") from None

    def record(self, git):
        return {"name": self.name, "path": self.path, "type": None if self.blank else self.kind,
                "image": self.image, "created": self.created, "files": sorted(self.files),
                "dockerfile": self.dockerfile, "devcontainer": self.devcontainer, "git": bool(git), "built": False}


def main():
    run(cli)


MAN_OUTPUT = ("One project record: name, path, type, image, created, files (relative paths written), "
              "dockerfile, devcontainer, git, built.")
