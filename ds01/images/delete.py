"""Deleting a user's image: refused while containers use it (unless forced, which removes them first); its
Dockerfile is kept unless asked for. What image-delete does for each image it is given."""

import os
from typing import Any

from ..errors import Ds01Error, NotFound
from ..identity import lookup
from ..names import split
from ..output import warn


class ContainersByImage:
    """One `docker ps -a` for a batch of deletes, read again once a forced delete removed some."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self._every: list[dict[str, Any]] | None = None

    def using(self, image_id: str) -> list[dict[str, Any]]:
        if self._every is None:
            self._every = self.api.containers(all=True)
        return [c for c in self._every if c.get("ImageID") == image_id]

    def forget(self) -> None:
        self._every = None


def delete_image(rt, target: str, force: bool = False, delete_dockerfile: bool = False,
                 containers: ContainersByImage | None = None) -> dict[str, Any]:
    """Delete image `target` (yours by NAME, or a reference an admin names); with `force` the containers using it
    go first; with `delete_dockerfile` its Dockerfile, .bak and build log too. Its image-delete record."""
    from .. import images  # lazy: ds01.images, 1 ms

    containers = containers or ContainersByImage(rt.api)
    ref = images.target(target, rt.caller)
    images.check_access(ref, rt.caller, rt.admin)
    try:
        info = rt.api.inspect_image(ref)
    except NotFound:
        raise images.missing(ref) from None
    labels = (info.get("Config") or {}).get("Labels") or {}
    using = containers.using(info["Id"])
    users = [split((entry.get("Names") or ["/?"])[0])[0] for entry in using]
    if users and not force:
        raise Ds01Error(f"{ref} is used by {len(users)} container(s): {', '.join(users)}",
                        hint="remove them first (container-remove), or image-delete --force removes them")
    for entry, name in zip(using, users):
        rt.engine.remove(entry["Id"], force=True)
        warn(f"removed container {name} (it used {ref})")
    if using:
        containers.forget()
    rt.engine.remove_image(ref)
    owned = images.parse_reference(ref)
    dockerfile = None
    if owned:
        owner = rt.caller if owned[0] == rt.caller.uid else lookup(owned[0])
        dockerfile = images.find_dockerfile(owner, owned[1], labels) if owner else None
    deleted = []
    if dockerfile and delete_dockerfile:
        for path in (dockerfile, dockerfile + ".bak", dockerfile + images.LOG_SUFFIX):
            if os.path.isfile(path):
                os.unlink(path)
                deleted.append(path)
    elif dockerfile:
        rt.progress(f"kept {dockerfile} (rebuild with image-create {owned[1]} --dockerfile {dockerfile})")
    return {"name": owned[1] if owned else ref, "image": ref, "status": "deleted", "dockerfile": dockerfile,
            "dockerfile_deleted": bool(deleted), "removed_containers": users}
