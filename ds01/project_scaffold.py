"""A new project: ~/workspace/NAME with its layout, requirements, pyproject, Dockerfile, git, devcontainer.

Why a module of its own: project-init, project-launch (a new project from its pick list) and
user-setup (a first project) all make one, and commands do not call each other.
"""

import json
import os
import socket
from dataclasses import dataclass

from . import labels as L
from .errors import Ds01Error, UsageError
from .privilege import caller_process
from .projects import (
    GITIGNORE,
    LAYOUT,
    directory,
    image_reference,
    pyproject,
    readme,
    requirements,
    validate_name,
)

GUIDE = {
    "name": "A project is a directory ~/workspace/NAME; inside a container it is /workspace.\n"
            "Its image is ds01-<uid>/NAME and its container NAME, so one name ties the three together.",
    "type": "The type picks the Python packages in requirements.txt (edit it any time; project-launch\n"
            "--rebuild installs the changes).",
    "layout": "data/ and models/ hold large files and stay out of git; notebooks/ and src/ hold your work.",
    "dockerfile": "The Dockerfile builds FROM the AIME framework image for this host's GPUs and installs\n"
                  "requirements.txt (and Jupyter, if you chose it); your account is baked in.",
    "jupyter": "Jupyter lets you work in notebooks inside the container, through an SSH tunnel.",
    "data-science": "The data-science set (pandas, scipy, scikit-learn, matplotlib, seaborn) goes into\n"
                    "requirements.txt.",
    "git": "git tracks your code; the .gitignore keeps data, models and caches out of it.",
    "devcontainer": "VS Code can open the project in a container (Dev Containers). The file uses the project\n"
                    "image and your CPU and memory limits; GPUs come from container-deploy instead.",
    "build": "Building takes a few minutes; project-launch builds it when needed, so you can skip it now.",
}

COLUMNS = [("name", "NAME"), ("type", "TYPE"), ("path", "PATH"), ("image", "IMAGE"), ("built", "BUILT")]


@dataclass
class ProjectRequest:
    """What project-init is asked for; None = ask on a terminal (when `ask`), else the default."""

    name: str | None = None
    kind: str | None = None
    description: str | None = None
    framework: str | None = None
    use_git: bool | None = None
    devcontainer: bool | None = None
    build: bool | None = None
    blank: bool = False
    jupyter: bool | None = None        # None: ask on a terminal, else the policy's images.default_sets
    data_science: bool | None = None


def init_project(rt, request, explain=lambda step: None, confirm_build=None):
    """Make the project `request` names; what it leaves None gets the default (the policy's images.default_sets).
    `confirm_build`, when given and --build/--no-build was not, is asked once the files are written. Its record.
    Nothing here asks: the commands' questions (ds01.cli._project_questions) fill the request first."""
    kind, description = request.kind, request.description
    use_git, devcontainer, build, blank = request.use_git, request.devcontainer, request.build, request.blank
    if not request.name:
        raise UsageError("no project name given", hint="project-init NAME")
    name, path = check_new_project(rt, request.name)
    jupyter, data_science = request.jupyter, request.data_science
    if not blank:
        sets = default_sets(rt)
        if kind is None:
            explain("type")
            kind = "ml" if "use-case" in sets else "custom"
        if jupyter is None:
            jupyter = "jupyter" in sets
        if data_science is None:
            data_science = "data-science" in sets
    if use_git is None:
        use_git = True
    if description and ("\n" in description or len(description) > 200):
        raise UsageError("--desc is one line of at most 200 characters")
    scaffold = Scaffold(rt, name, path, kind or "custom", description or "", (request.framework or "pytorch").lower(),
                        blank, jupyter=bool(jupyter), data_science=bool(data_science))
    explain("layout")
    scaffold.write(devcontainer=bool(devcontainer) and not blank)
    if not blank:
        explain("dockerfile")
    if use_git:
        scaffold.git_init()
    if build is None and confirm_build is not None and not blank:
        build = confirm_build()
    record = scaffold.record(git=use_git)
    if build and not blank:
        from . import images  # lazy: ds01.images, 1 ms

        images.build_user_image(rt, name, record["image"], record["dockerfile"])
        record["built"] = True
    return record


def check_new_project(rt, name):
    """(the valid name, its directory) when a project NAME may be made: UsageError / Ds01Error otherwise."""
    name = validate_name(name)
    path = directory(rt.caller, name)
    check_free(path, name)
    return name, path


def default_sets(rt):
    """The package sets a new image gets unless asked otherwise (the policy's images.default_sets)."""
    from .images.packages import policy_defaults  # lazy: ds01.images.packages, 2 ms

    return policy_defaults(rt.policy)[1]


def check_free(path, name):
    """Ds01Error unless `path` is free for a new project (missing, or an empty directory)."""
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise Ds01Error(f"{path} already exists and is not empty",
                        hint=f"project-launch {name} uses it as it is; or choose another name")


class Scaffold:
    """The files of a new project, written as the caller (the directory is theirs)."""

    def __init__(self, rt, name, path, kind, description, framework, blank, jupyter=True, data_science=True):
        self.rt, self.name, self.path, self.kind = rt, name, path, kind
        self.jupyter, self.data_science = jupyter, data_science
        self.description, self.framework, self.blank = description, framework, blank
        self.image = image_reference(rt.caller, name)
        self.created = rt.now_iso()
        self.files = []
        self.dockerfile = None
        self.devcontainer = None

    def _write(self, relative, text):
        target = os.path.join(self.path, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "x", encoding="utf-8") as handle:
            handle.write(text)
        self.files.append(relative)

    def write(self, devcontainer):
        from .workspace_files import make_workspace  # lazy: ds01.workspace_files, 3 ms

        make_workspace(self.path, self.rt.caller)
        self._write("pyproject.toml", pyproject(self.name, self.description, self.kind, self.image,
                                                self.created, self.rt.caller.login))
        if self.blank:
            return
        for part in LAYOUT:
            self._write(os.path.join(part, ".gitkeep"), "")
        self._write("README.md", readme(self.name, self.description, self.kind, self.image))
        self._write(".gitignore", GITIGNORE)
        self._write("requirements.txt", requirements(self.kind, self.data_science))
        self._write_dockerfile()
        if devcontainer:
            self._write_devcontainer()

    def _write_dockerfile(self):
        from . import images  # lazy: ds01.images, 1 ms
        from .images import plan as image_plan  # lazy: ds01.images.plan, 3 ms
        from .images.dockerfile import render  # lazy: ds01.images.dockerfile, 3 ms

        answers = image_plan.Answers(framework=self.framework, use_case="custom", jupyter=self.jupyter,
                                     data_science=False, requirements=os.path.join(self.path, "requirements.txt"))
        spec = image_plan.plan(self.rt, self.name, answers)
        spec.use_case = self.kind
        self.dockerfile = images.workspace_dockerfile(self.rt.caller, self.name)
        images.save_dockerfile(self.dockerfile, render(spec), self.rt.caller)
        self.files.append("Dockerfile")

    def _write_devcontainer(self):
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
        import subprocess  # lazy: subprocess, 1 ms

        def git(*args, check=True):
            return subprocess.run(["git", "-C", self.path, *args], capture_output=True, text=True, check=check,
                                  **caller_process(self.rt.settings.session_environment()))

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
