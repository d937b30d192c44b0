"""image-delete: delete your images; the Dockerfile is kept unless you ask for it to go."""

from typing import Any

import click

from ._common import batch, config_option, new_output, output_options, read_targets, run, warn


@click.command(epilog="""\b
Examples:
  image-delete demo
  image-delete demo --force                 also stop and remove the containers using it
  image-list | image-delete --force         all your images (and their containers)
  image-delete demo --delete-dockerfile     also delete ~/workspace/demo/Dockerfile
  image-delete --all                        all your images (type yes on a terminal)
Workspaces are never touched; the Dockerfile stays unless --delete-dockerfile.
See also: image-list, container-remove""")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Stop and remove containers that use the image first.")
@click.option("--delete-dockerfile", is_flag=True, help="Also delete the image's Dockerfile (and its .bak and log).")
@click.option("--keep-dockerfile", is_flag=True, help="(DS01) Accepted; the Dockerfile is kept unless "
                                                      "--delete-dockerfile.")
@click.option("--all", "all_images", is_flag=True, help="All your images (on a terminal you type yes first).")
@output_options
@config_option
def cli(names, force, delete_dockerfile, keep_dockerfile, all_images, json_flag, table_flag, config):
    """Delete NAME... (yours: `demo` means ds01-<uid>/demo:latest), or the images named on stdin."""
    import os
    import sys

    from .. import images
    from ..errors import Ds01Error, NotFound, UsageError
    from ..identity import lookup
    from ..names import split
    from ..output import is_tty
    from ..runtime import Runtime

    if keep_dockerfile and delete_dockerfile:
        raise UsageError("--keep-dockerfile and --delete-dockerfile contradict each other",
                         hint="the Dockerfile is kept unless --delete-dockerfile")
    if all_images and names:
        raise UsageError("give NAMEs or --all, not both",
                         hint="image-delete --all deletes every image of yours; image-delete NAME... those named")
    rt = Runtime(config)
    if all_images:
        targets = [r["image"] for r in images.list_images(rt.api, rt.caller)]  # the caller's own, admins' too
        if targets and is_tty(sys.stdin) and is_tty(sys.stderr):
            typed = click.prompt(f"Delete all {len(targets)} of your images ({', '.join(targets)})? Type yes",
                                 default="", show_default=False, err=True)
            if typed.strip() != "yes":
                sys.stderr.write("nothing deleted\n")
                return 0
    else:
        targets = read_targets(names, what="image", keys=("image", "name"))
    # one `docker ps -a` for the whole batch (refreshed after --force removes some)
    every_container: list[list[dict[str, Any]]] = []

    def using_image(image_id):
        if not every_container:
            every_container.append(rt.api.containers(all=True))
        return [c for c in every_container[0] if c.get("ImageID") == image_id]

    out = new_output(json_flag, table_flag, [("name", "NAME"), ("image", "IMAGE"), ("status", "STATUS"),
                                             ("removed_containers", "CONTAINERS REMOVED")])

    def delete(target):
        ref = images.target(target, rt.caller)
        images.check_access(ref, rt.caller, rt.admin)
        try:
            info = rt.api.inspect_image(ref)
        except NotFound:
            raise images.missing(ref) from None
        labels = (info.get("Config") or {}).get("Labels") or {}
        using = using_image(info["Id"])
        users = [split((entry.get("Names") or ["/?"])[0])[0] for entry in using]
        if users and not force:
            raise Ds01Error(f"{ref} is used by {len(users)} container(s): {', '.join(users)}",
                            hint="remove them first (container-remove), or image-delete --force removes them")
        for entry, name in zip(using, users):
            rt.engine.remove(entry["Id"], force=True)
            warn(f"removed container {name} (it used {ref})")
        if using:
            every_container.clear()
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

    return batch(targets, delete, out)


def main():
    run(cli)
