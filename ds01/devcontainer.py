"""A project's .devcontainer/devcontainer.json, for VS Code without Docker access.

VS Code's Dev Containers extension needs the Docker socket, which users here do not have. What works is
Remote-SSH: `ssh ds01-NAME` runs `container-run NAME` on this host (vscode-setup and user-setup write that
host block), so VS Code's server runs inside the container ds01 made with the user's limits. The file keeps
the keys that describe that container (the Dockerfile or image, the GPU request, the extensions); ds01
honours those, ignores what it does not need, and refuses what would need Docker rights (privileged mode,
capabilities, host mounts, compose). The file is written as its owner, inside their own project only.
"""

import json
import os
import re

from .errors import Ds01Error, NotFound, UsageError
from .image_choice import check_image
from .names import validate

DIRECTORY = ".devcontainer"
FILE = "devcontainer.json"
MOUNTS = "mounts are ds01's (workspace, --data, --models)"
# runArgs that ask Docker for what only ds01 may decide: refused, with why.
REFUSED_RUN_ARGS = {
    "--privileged": "privileged mode is root on this host",
    "--cap-add": "extra capabilities are refused",
    "--security-opt": "security options are ds01's",
    "--device": "devices come from ds01's GPU slots (--num-gpus)",
    "--gpus": "GPUs come from ds01's slots: set hostRequirements.gpu or pass --num-gpus",
    "--runtime": "the runtime is ds01's",
    "--pid": "the host's process namespace is refused",
    "--ipc": "the host's IPC namespace is refused",
    "--network": "the network is ds01's", "--net": "the network is ds01's",
    "--userns": "the user namespace is ds01's", "--uts": "the host's UTS namespace is refused",
    "--user": "you are always yourself in your container", "-u": "you are always yourself in your container",
    "--volume": MOUNTS, "-v": MOUNTS, "--mount": MOUNTS,
    "--cgroup-parent": "your limits decide the cgroup", "--volumes-from": "mounts are ds01's",
}
# Top-level keys: (status, why). Anything else is ignored.
KEYS = {
    "name": ("ok", "the container's name"),
    "image": ("ok", "the image the container is made from"),
    "build": ("ok", "the Dockerfile image-create/project-launch build"),
    "workspaceFolder": ("ok", "/workspace is the project directory"),
    "hostRequirements": ("ok", "gpu: true asks for a GPU slot, false for none"),
    "customizations": ("ok", "VS Code installs the extensions when it connects over Remote-SSH"),
    "$schema": ("ok", "the schema"),
    "privileged": ("refused", "privileged mode is root on this host"),
    "capAdd": ("refused", "extra capabilities are refused"),
    "securityOpt": ("refused", "security options are ds01's"),
    "mounts": ("refused", "mounts are ds01's: the project is /workspace; container-create --data/--models add more"),
    "dockerComposeFile": ("refused", "there is no Docker Compose here: one container per project"),
    "initializeCommand": ("ignored", "it would run on your laptop, which has no part in this"),
    "features": ("ignored", "features are not installed: put what they add in the Dockerfile (image-update --add)"),
    "forwardPorts": ("ignored", "forward ports with Remote-SSH (or ssh -L)"),
    "appPort": ("ignored", "forward ports with Remote-SSH (or ssh -L)"),
    "shutdownAction": ("ignored", "the lifecycle jobs stop idle containers (check-limits shows when)"),
    "remoteUser": ("ignored", "you are always yourself in your container"),
    "containerUser": ("ignored", "you are always yourself in your container"),
    "updateRemoteUserUID": ("ignored", "you are always yourself in your container"),
    "containerEnv": ("ignored", "set variables in the Dockerfile (ENV) or your shell"),
    "remoteEnv": ("ignored", "set variables in the Dockerfile (ENV) or your shell"),
    "postCreateCommand": ("ignored", "run it once in the container (container-run NAME -- CMD)"),
    "postStartCommand": ("ignored", "run it in the container (container-run NAME -- CMD)"),
    "postAttachCommand": ("ignored", "run it in the container (container-run NAME -- CMD)"),
    "onCreateCommand": ("ignored", "run it once in the container (container-run NAME -- CMD)"),
    "updateContentCommand": ("ignored", "run it in the container (container-run NAME -- CMD)"),
    "runArgs": ("ok", "checked one by one"),
    "overrideCommand": ("ignored", "ds01 keeps the container running"),
}


def strip_jsonc(text):
    """JSON with comments (// and /* */) and trailing commas, as VS Code reads devcontainer.json, made JSON."""
    out, i, n = [], 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i:end + 1])
            i = end + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
        else:
            out.append(char)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def parse(text, where):
    try:
        data = json.loads(strip_jsonc(text))
    except ValueError as exc:
        raise Ds01Error(f"{where} is not JSON (with comments): {exc}", hint="devcontainer-init writes one") from None
    if not isinstance(data, dict):
        raise Ds01Error(f"{where} is not a JSON object", hint="devcontainer-init writes one")
    return data


def _open_beneath(parent_fd, name, what, create=False):
    """A directory under parent_fd, opened without following a link; a link or a non-directory is refused."""
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    except FileNotFoundError:
        raise NotFound(f"no {what}", hint="project-init NAME makes a project in ~/workspace") from None
    except OSError as exc:
        raise UsageError(f"{what} is a symbolic link or not a directory ({exc.strerror}): ds01 writes only inside "
                         "your own workspace", hint="remove the link, then run devcontainer-init again") from None


def _project_fds(user, project, create_devcontainer):
    """(project fd, .devcontainer fd or None), each opened component by component from the home directory."""
    if not project or "/" in project or project in (".", "..") or validate(project) is None:
        raise UsageError(f"{project!r} is not a project name", hint="a directory in ~/workspace (project-init NAME)")
    home = os.open(user.home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fds = [home]
    try:
        workspace = _open_beneath(home, "workspace", "~/workspace")
        fds.append(workspace)
        project_fd = _open_beneath(workspace, project, f"project ~/workspace/{project}")
        try:
            inner = _open_beneath(project_fd, DIRECTORY, f"~/workspace/{project}/{DIRECTORY}",
                                  create=create_devcontainer) if create_devcontainer else None
        except Ds01Error:
            os.close(project_fd)
            raise
        return project_fd, inner
    finally:
        for fd in fds:
            os.close(fd)


def content(rt, project, has_dockerfile, gpu, extensions):
    """The file's text: what ds01 honours, with the way in as comments."""
    from . import images  # lazy: ds01.images, 1 ms

    body = {"name": project}
    if has_dockerfile:
        body["build"] = {"dockerfile": "../Dockerfile", "context": ".."}
    else:
        body["image"] = images.reference(rt.caller.uid, images.validate_name(project))
    body["workspaceFolder"] = "/workspace"
    body["hostRequirements"] = {"gpu": gpu}
    body["customizations"] = {"vscode": {"extensions": list(extensions)},
                              "ds01": {"container": project, "sshHost": f"ds01-{project}"}}
    header = (f"// ds01: VS Code opens this project in container {project} over Remote-SSH (no Docker access needed):\n"
              f"//   project-launch {project} --background   (build the image, start the container)\n"
              f"//   vscode-setup                            (writes ~/.ssh/ds01-vscode.conf: Host ds01-{project})\n"
              f"//   VS Code: Remote-SSH: Connect to Host... -> ds01-{project}, then open /workspace\n"
              f"// devcontainer-check {project} says what ds01 honours here.\n")
    return header + json.dumps(body, indent=2) + "\n"


def init(rt, project, gpu=True, extensions=(), force=False):
    """Write ~/workspace/PROJECT/.devcontainer/devcontainer.json as the caller; returns the record."""
    user = rt.caller
    for extension in extensions:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9.-]*", extension):
            raise UsageError(f"--extensions: {extension!r} is not an extension id",
                             hint="publisher.name, e.g. ms-python.python")
    project_fd, _ = _project_fds(user, project, create_devcontainer=False)
    try:
        try:
            os.stat("Dockerfile", dir_fd=project_fd, follow_symlinks=False)
            has_dockerfile = True
        except FileNotFoundError:
            has_dockerfile = False
        exists = False
        if _exists(project_fd, DIRECTORY):
            inner = _open_beneath(project_fd, DIRECTORY, f"~/workspace/{project}/{DIRECTORY}")
            exists = _exists(inner, FILE)
            os.close(inner)
    finally:
        os.close(project_fd)
    path = os.path.join(user.home, "workspace", project, DIRECTORY, FILE)
    if exists and not force:
        raise UsageError(f"{path} exists", hint=f"devcontainer-check {project} checks it; --force rewrites it")
    text = content(rt, project, has_dockerfile, gpu, extensions)
    project_fd, inner = _project_fds(user, project, create_devcontainer=True)
    try:
        partial = f".{FILE}.{os.getpid()}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=inner)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, FILE, src_dir_fd=inner, dst_dir_fd=inner)  # a link at FILE is replaced, never followed
    finally:
        os.close(project_fd)
        if inner is not None:
            os.close(inner)
    return {"project": project, "path": path, "build": "Dockerfile" if has_dockerfile else "image",
            "gpu": gpu, "ssh_host": f"ds01-{project}"}


def _exists(dir_fd, name):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def locate(user, target):
    """The file devcontainer-check reads: a project name (~/workspace/NAME/.devcontainer/devcontainer.json),
    a project directory, a .devcontainer directory or the file itself (relative to the working directory)."""
    if "/" not in target and target not in (".", "..") and not target.endswith(".json") and not os.path.exists(target):
        return os.path.join(user.home, "workspace", target, DIRECTORY, FILE)
    if os.path.isdir(target):
        inner = os.path.join(target, DIRECTORY, FILE)
        return inner if os.path.exists(inner) else os.path.join(target, FILE)
    return target


def check(rt, target):
    """[{key, status (ok|ignored|refused), detail}] for the file `target` names; read with the caller's rights."""
    path = locate(rt.caller, target)
    try:
        with open(path, encoding="utf-8") as handle:
            data = parse(handle.read(), path)
    except FileNotFoundError:
        raise NotFound(f"no {path}", hint="devcontainer-init PROJECT writes one") from None
    except OSError as exc:
        raise Ds01Error(f"cannot read {path}: {exc.strerror}") from None
    found = []

    def say(key, status, detail):
        found.append({"path": path, "key": key, "status": status, "detail": detail})

    for key, value in data.items():
        status, why = KEYS.get(key, ("ignored", "ds01 does not use it"))
        if key == "privileged" and value is False:
            status, why = "ok", "not privileged"
        if key in ("capAdd", "securityOpt", "mounts") and not value:
            status, why = "ok", "empty"
        if key == "runArgs":
            _check_run_args(value, say)
            continue
        if key == "image" and isinstance(value, str):
            try:
                check_image(rt, value)
            except Ds01Error as exc:
                status, why = "refused", exc.message
        if key == "build" and isinstance(value, dict):
            status, why = _check_build(path, value)
        if key == "workspaceFolder" and value != "/workspace":
            status, why = "ignored", "the project is always /workspace"
        say(key, status, why)
    if "image" not in data and "build" not in data and "dockerComposeFile" not in data:
        say("image", "refused", "neither image nor build: ds01 cannot tell what to make the container from")
    return found


def _check_run_args(value, say):
    if not isinstance(value, list):
        say("runArgs", "refused", "not a list")
        return
    for arg in value:
        flag = str(arg).split("=", 1)[0]
        if flag in REFUSED_RUN_ARGS:
            say(f"runArgs {arg}", "refused", REFUSED_RUN_ARGS[flag])
        elif str(arg).startswith("-"):
            say(f"runArgs {arg}", "ignored", "your limits and ds01's defaults decide the rest")


def _check_build(path, build):
    dockerfile = build.get("dockerfile")
    if not isinstance(dockerfile, str):
        return "refused", "build without a dockerfile"
    base = os.path.dirname(os.path.abspath(path))
    full = os.path.normpath(os.path.join(base, dockerfile))
    if not os.path.isfile(full):
        return "refused", f"no Dockerfile at {full}"
    return "ok", f"{full} (image-create --dockerfile {full}, or project-launch builds it)"
