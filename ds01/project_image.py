"""A project's image for project-launch: ds01-<uid>/NAME:latest, built from the project's Dockerfile (with
requirements.txt's current content put in first) when it is missing or a rebuild is asked for."""

import os

from . import images, projects
from .errors import Ds01Error, NotFound
from .output import warn


def project_image(rt, name, rebuild=False, before_build=lambda: None):
    """(the project's name as checked, its directory, its image) once the image exists; `before_build()` is
    called before a build."""
    user = rt.caller
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
        before_build()
        _sync_requirements(dockerfile, os.path.join(path, "requirements.txt"), user)
        images.build_user_image(rt, own[1], image, dockerfile)
        if rebuild:
            _warn_old_container(rt, name)
    return name, path, image


def _sync_requirements(dockerfile, requirements, user):
    """Put requirements.txt's current content into the Dockerfile's requirements phase (when it has one)."""
    from .images import dockerfile as D  # lazy: ds01.images.dockerfile, 3 ms
    from .images.packages import read_requirements  # lazy: ds01.images.packages, 2 ms

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
    try:
        rt.finder.find(name)
    except NotFound:
        return
    warn(f"container {name} still runs the previous image; container-retire {name} and launch again to use the new one")
