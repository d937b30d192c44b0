"""Retiring a container: stop it, remove it, free its GPU; its files are never touched.

Optionally first the Python packages installed since it was created are saved into the
owner's image (and Dockerfile), and afterwards its image is deleted when it is the caller's own.
"""

import sys

from .containers import ACTIVE
from .errors import Ds01Error, NotFound


def retire(rt, rec, force=False, timeout=10, save_packages=False, delete_image=False, dry_run=False, confirm=None,
           confirmed=False):
    """The retired container's record (status `removed`, `gpus_freed`, …), or with `dry_run` what would happen.

    `confirm(question, default)` asks the user (on a terminal); None means no questions, and then a
    running container is retired only with `force`. `confirmed`: the user said yes to retiring it already
    (DS01's --skip-initial-confirm): that question is not asked, and a running container is stopped.
    """
    running = rec["status"] in ACTIVE
    steps = (["stop"] if running else []) + ["remove"] + (["free " + ", ".join(rec["gpus"])] if rec["gpus"] else [])
    if dry_run:
        return dict(rec, retired=False, would=steps + (["save packages"] if save_packages else [])
                    + (["delete image " + rec["image"]] if delete_image else []))
    if confirm is not None and not confirmed:
        where = f"; files in {rec['workspace']} stay" if rec["workspace"] else ""
        if not confirm(f"Retire {rec['name']} ({rec['status']}): {', '.join(steps)}{where}?", False):
            sys.stderr.write(f"kept {rec['name']}\n")
            return dict(rec, retired=False)
    elif running and not force and not confirmed:
        raise Ds01Error(f"{rec['name']} is {rec['status']}",
                        hint="--force retires running containers too (they are stopped first)")
    result = dict(rec, retired=True, packages_saved=None, image_deleted=False)
    if save_packages:
        result["packages_saved"] = _save_packages(rt, rec, confirm)
    if running:
        rt.progress(f"stopping {rec['name']} ...")
        rt.engine.stop(rec["id"], timeout=timeout, force=True)
    note = rt.engine.remove(rec["id"], force=True)
    if note:
        rt.warn(note)
    result["status"] = "removed"
    result["gpus_freed"] = rec["gpus"]
    if delete_image:
        result["image_deleted"] = delete_own_image(rt, rec)
    rt.progress(f"retired {rec['name']}" + (f"; GPU slots {', '.join(rec['gpus'])} are free" if rec["gpus"] else ""))
    return result


def _user_image(rt, rec):
    """Where saved packages go: the container's image when it is the caller's, else ds01-<uid>/NAME:latest."""
    from . import images  # lazy: ds01.images, 1 ms

    owner_uid = rec["uid"] if rec["uid"] is not None else rt.caller.uid
    parsed = images.parse_reference(rec["image"] or "")
    if parsed and parsed[0] == owner_uid:
        return rec["image"]
    return images.reference(owner_uid, rec["name"])


def _save_packages(rt, rec, confirm):
    """Snapshot, compare with the image it was created from, show the difference, keep it in the user's image."""
    from .identity import lookup  # lazy: ds01.identity, 0.6 ms
    from .images import installed  # lazy: ds01.images.installed, 2 ms

    owner = lookup(rec["user"]) or rt.caller
    info = rt.api.inspect_container(rec["id"])
    base = info["Image"]
    rt.progress(f"comparing the Python packages of {rec['name']} with its image ...")
    tag, _ = installed.snapshot(rt.engine, rec["id"], base, owner.uid, owner.gid)
    try:
        change = installed.diff(installed.listing(rt.engine, base, owner.uid, owner.gid),
                                installed.listing(rt.engine, tag, owner.uid, owner.gid))
        if not change["added"] and not change["upgraded"]:
            sys.stderr.write(f"{rec['name']}: no Python packages were installed since it was created\n")
            return {"added": {}, "upgraded": {}, "image": None}
        target = _user_image(rt, rec)
        sys.stderr.write(f"{rec['name']}: packages installed since creation:\n{installed.describe(change)}\n")
        if confirm is not None and not confirm(f"Save them into {target}?", True):
            return dict(change, image=None)
        saved = installed.keep(rt.engine, tag, target)
        from . import images  # lazy: ds01.images, 1 ms (loaded already with .installed above)

        parsed = images.parse_reference(saved)
        dockerfile = images.find_dockerfile(owner, parsed[1]) if parsed else None
        if installed.record_in_dockerfile(dockerfile, change, owner):
            sys.stderr.write(f"  added to {dockerfile}, so a rebuild installs them too\n")
        sys.stderr.write(f"  saved into {saved}\n")
        return dict(change, image=saved, dockerfile=dockerfile)
    finally:
        installed.drop(rt.engine, tag)


def delete_own_image(rt, rec):
    """Delete the container's image when it is the caller's own. Docker refuses to delete an image a container
    uses (it only drops this name when the image has other names, so the container keeps its image)."""
    from . import images  # lazy: ds01.images, 1 ms

    parsed = images.parse_reference(rec["image"] or "")
    if not parsed or (parsed[0] != rt.caller.uid and not rt.admin):
        rt.warn(f"kept image {rec['image']}: only your own ds01-<uid>/ images are deleted")
        return False

    try:
        rt.engine.remove_image(rec["image"])
    except NotFound:
        return False  # gone already: an earlier retire of the same batch deleted it; nothing was kept
    except Exception as exc:  # noqa: BLE001 - in use by another container
        rt.warn(f"kept image {rec['image']}: {getattr(exc, 'message', exc)}")
        return False
    return True
