"""Deploying a container: create it unless it exists, then start it; a failed start undoes the create.

Why its own operation: container-deploy and project-launch both do it, and a container left
created but unstartable would hold a name (and a GPU slot) for nothing.
"""

import os
import sys

from . import names, projects, sessions
from .containers import INACTIVE, record
from .errors import Ds01Error, NotFound

GUIDE = {
    "create": "Step 1, create: a container with your CPU, memory and shm limits, your account inside, your\n"
              "workspace at /workspace and, unless --cpu-only, a GPU or MIG slot from the allocator.",
    "start": "Step 2, start: the container runs in the background; its GPU slot is checked to still be yours.",
    "open": "Step 3, open: a shell in /workspace. Leave it with exit (or Ctrl-D); when nothing else runs,\n"
            "the container stops. container-run NAME opens it again; container-retire NAME removes it.",
    "background": "Step 3, background: it keeps running. container-run NAME opens a shell in it;\n"
                  "container-retire NAME stops and removes it and frees the GPU.",
}


def deploy_defaults(rt, name, image, workspace, project=None, framework=None):
    """(name, image, workspace) of a deploy: a FRAMEWORK must be in the catalog; a PROJECT names what is not given
    (its name, ~/workspace/PROJECT, its image ds01-<uid>/PROJECT:latest)."""
    if framework is not None:
        from .images import catalog  # lazy: ds01.images.catalog, 2 ms

        cat = catalog.load(rt.policy)
        if cat.framework_name(framework) is None:
            raise catalog.NotFound(f"no framework {framework!r} in the catalog ({cat.source})",
                                   hint="image-catalog lists the frameworks; --image takes any image")
    if project:
        projects.validate_name(project)
        name = name or project
        workspace = workspace or projects.directory(rt.caller, project)
        image = image or projects.image_of(rt.caller, project)
    return name, image, workspace


def deploy(rt, request, dry_run=False, explain=lambda step: None):
    """The running container's record for `request` (a CreateRequest): an existing one is started as it is.

    With `dry_run`, what would happen: the plan plus `would`, or the existing record plus `would`.
    `explain(step)` is called before each step (create, start) for the guided mode.
    """
    from .create import create_container  # lazy: ds01.create, 9 ms

    name = request.name = names.validate(request.name.split(names.SEPARATOR)[0])
    try:
        existing = rt.finder.find(name)
    except NotFound:
        existing = None
    if existing is not None:
        if request.image:
            rt.progress(f"{name} exists already: using it as it is ({existing['image']})")
        if dry_run:
            return dict(existing, would="start" if existing["status"] in ("paused", *INACTIVE) else "nothing")
        if existing["status"] != "running":
            explain("start")
            rt.progress(f"starting {name} ...")
            sessions.start(rt, existing)
        return record(rt.api.inspect_container(existing["id"]))
    explain("create")
    created = create_container(rt, request, interface="orchestration", dry_run=dry_run).record
    if dry_run:
        return dict(created, would="create and start")
    workspace_made = created.get("workspace") and not _has_files(created["workspace"])
    try:
        explain("start")
        rt.progress(f"starting {name} ...")
        rt.finder.refresh()
        sessions.start(rt, rt.finder.find(name))
    except BaseException as exc:
        _undo(rt, created, workspace_made)
        if isinstance(exc, Ds01Error):
            exc.message = f"{name} could not be started, so it was removed again: {exc.message}"
        raise
    return record(rt.api.inspect_container(created["id"]))


def _has_files(path):
    try:
        return bool(os.listdir(path))
    except OSError:
        return True


def _undo(rt, created, workspace_made):
    """Remove what this deploy created: the container (its GPU slots go with it) and an empty new workspace."""
    try:
        rt.engine.remove(created["id"], force=True)
    except Exception as exc:  # noqa: BLE001 - the original error is the one to report
        prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ds01"
        sys.stderr.write(f"{prog}: warning: could not remove {created['container']} after the failure: {exc}\n")
    if workspace_made:
        try:
            os.rmdir(created["workspace"])
        except OSError:
            pass
