"""Creating a user's image: checked whole first, then its Dockerfile written (FROM the framework's catalog image
with DS01's package phases) and built, or a Dockerfile of the user's built as it is. What image-create does once
its wizard (in the command) has the answers."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import labels as L
from ..clock import iso, parse_docker
from ..errors import Ds01Error, UsageError
from ..output import warn
from . import plan as image_plan


@dataclass
class NewImage:
    """What image-create is asked: by its options, and on a terminal by its wizard (which fills `answers`)."""

    name: str
    answers: image_plan.Answers
    dockerfile: str | None = None     # build this file as it is
    no_build: bool = False
    no_cache: bool = False
    force: bool = False               # replace an existing image and Dockerfile
    package_options: bool = False     # a framework or package option was given (with --dockerfile: refused)
    framework_option: str | None = None  # -f as given (--version is refused with one outside the catalog's)


def check_new_image(rt, request: NewImage) -> tuple[str, str]:
    """(image reference, the Dockerfile it is built from) once everything given is checked: the strings that
    would reach the Dockerfile, the base image, and that nothing is overwritten unasked. Writes nothing."""
    from .. import images  # lazy: ds01.images, 1 ms

    answers = request.answers
    request.name = images.validate_name(request.name)
    ref = images.reference(rt.caller.uid, request.name)
    if request.dockerfile and request.package_options:
        raise UsageError("--dockerfile builds that file as it is: drop the package and framework options")
    framework = request.framework_option
    if answers.version and framework and framework.lower() not in ("pytorch", "tensorflow"):
        raise UsageError(f"--version applies to catalog frameworks (pytorch, tensorflow), not {framework}")
    if not request.dockerfile:  # every string given is checked before Docker or the disk is touched
        from ..access import may_use_image  # lazy: ds01.access, 1 ms
        from .packages import policy_defaults  # lazy: ds01.images.packages, 2 ms

        image_plan.phases_for(answers, answers.framework.lower(), defaults=policy_defaults(rt.policy))
        if answers.base_image:
            image_plan.check_image_ref(answers.base_image)
            may_use_image(rt, answers.base_image, doing="build from")
    if images.image_id(rt.engine, ref) and not request.force:
        raise Ds01Error(f"image {ref} already exists", hint=f"image-update {request.name} changes it; --force "
                                                            "replaces it")
    if request.dockerfile:
        path = os.path.abspath(os.path.expanduser(request.dockerfile))
        if not os.path.isfile(path):
            raise UsageError(f"no Dockerfile at {request.dockerfile}")
        return ref, path
    target = images.workspace_dockerfile(rt.caller, request.name)
    if os.path.exists(target) and not request.force:
        raise Ds01Error(f"{target} already exists", hint=f"image-update {request.name} edits it; --force rewrites "
                                                         "it (keeping a .bak copy); --dockerfile builds it as it is")
    return ref, target


def create_image(rt, request: NewImage, confirm_build: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Write image NAME's Dockerfile (unless `dockerfile` names one) and build it, unless `no_build` or
    `confirm_build` (asked after the Dockerfile is written) says no. Its image-create record."""
    from .. import images  # lazy: ds01.images, 1 ms
    from .dockerfile import render  # lazy: ds01.images.dockerfile, 3 ms

    ref, path = check_new_image(rt, request)
    if request.dockerfile:
        return _build(rt, request.name, ref, path, None, request.no_build, request.no_cache)
    spec = image_plan.plan(rt, request.name, request.answers, warn=warn)
    images.save_dockerfile(path, render(spec), rt.caller)
    rt.progress(f"wrote {path}")
    no_build = request.no_build
    if confirm_build is not None and not no_build:
        no_build = not confirm_build()
    return _build(rt, request.name, ref, path, spec, no_build, request.no_cache)


def _build(rt, name, ref, dockerfile_path, spec, no_build, no_cache) -> dict[str, Any]:
    """Build (unless no_build); the image record."""
    from .. import images  # lazy: ds01.images, 1 ms

    record = {"name": name, "image": ref, "built": False, "id": None, "dockerfile": dockerfile_path,
              "framework": spec.framework if spec else None, "base_image": spec.base_image if spec else None,
              "packages": ({k: v for k, v in spec.phases.items() if v} if spec else None), "log": None}
    if not no_build:
        new_id = images.build_user_image(rt, name, ref, dockerfile_path, no_cache,
                                         framework=spec.framework if spec else None)
        info = rt.engine.api.inspect_image(ref)
        labels = info["Config"].get("Labels") or {}
        record.update(built=True, id=new_id.split(":")[-1][:12], log=dockerfile_path + images.LOG_SUFFIX,
                      framework=labels.get(L.FRAMEWORK), base_image=labels.get(L.BASE_IMAGE),
                      size=info.get("Size"), created=iso(_created(info)))
        rt.progress(f"built {ref}; next: container-create {name}  (or container-deploy {name})")
    else:
        rt.progress(f"not built; build it with: image-update {name} --rebuild")
    return record


def _created(info: dict[str, Any]) -> float:
    try:
        moment = parse_docker(info.get("Created"))
    except ValueError:
        return 0
    return moment.timestamp() if moment else 0
