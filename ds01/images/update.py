"""Changing an image's packages through its Dockerfile's marked lists, then rebuilding it: what image-update does
without its menu and editor, and what image-install (DS01's name for adding packages) does."""

from typing import Any

from ..output import warn


def apply(blocks, added, required, added_system, removed, base=()):
    """Change the phase lists; returns what changed. Duplicates and unknown removals are warned about."""
    from . import packages as P
    from .dockerfile import PHASE_TITLES

    PHASE_TITLES = dict(PHASE_TITLES, base="the base image")
    result: dict[str, Any] = {"changed": False, "added": [], "removed": []}
    present = {P.canonical(b): "base" for b in base}
    present.update({P.name_of(pkg): phase for phase, pkg in blocks.all_packages("pip")})
    for phase, new in (("requirements", required), ("additional", added)):
        if not new:
            continue
        blocks.ensure("pip", phase)
        for package in new:
            key = P.name_of(package)
            if key in present:
                warn(f"{package} is already in {PHASE_TITLES.get(present[key], present[key])}; not added again")
                continue
            present[key] = phase
            blocks.packages[phase].append(package)
            result["added"].append(package)
    if added_system:
        blocks.ensure("apt", "system")
        have = {P.apt_name(p) for p in blocks.packages["system"]}
        for package in added_system:
            if P.apt_name(package) in have:
                warn(f"{package} is already among the system packages; not added again")
                continue
            have.add(P.apt_name(package))
            blocks.packages["system"].append(package)
            result["added"].append(package)
    for key in removed:
        hit = False
        for phase, (kind, _, _) in blocks.spans.items():
            names = [P.name_of(p) if kind == "pip" else P.apt_name(p) for p in blocks.packages[phase]]
            if key in names:
                blocks.packages[phase] = [p for p, n in zip(blocks.packages[phase], names) if n != key]
                hit = True
        if hit:
            result["removed"].append(key)
        else:
            warn(f"{key} is not in the Dockerfile's package lists; nothing removed")
    result["changed"] = bool(result["added"] or result["removed"])
    return result


def recreate_from(rt, name, ref):
    """Container NAME made again from the new image, with its mounts and GPU request; its Docker name."""
    from ..errors import NotFound
    from ..recreate import recreate

    try:
        rec = rt.finder.find(name)
    except NotFound:
        raise NotFound(f"the image was rebuilt, but you have no container {name} to recreate",
                       hint=f"container-create {name} makes one from {ref}") from None
    return recreate(rt, rec, image=ref, start_again=True).record["container"]



def dockerfile_of(rt, user, name, ref):
    """(path, image labels, text) of image NAME's Dockerfile, as image-update edits it; NotFound when there is none."""
    from .. import images
    from ..errors import NotFound

    try:
        labels = (rt.api.inspect_image(ref).get("Config") or {}).get("Labels") or {}
    except NotFound:
        labels = {}
    path = images.find_dockerfile(user, name, labels)
    if path is None:
        raise NotFound(f"no Dockerfile for image {name}",
                       hint=f"looked in ~/workspace/{name}/Dockerfile and ~/dockerfiles/{name}.Dockerfile; "
                            f"image-create {name} makes one")
    with open(path, encoding="utf-8") as handle:
        return path, labels, handle.read()


def change_packages(rt, name, added=(), added_system=(), removed=(), rebuild=False, no_build=False, no_cache=False,
                    recreate=False):
    """Add (pip, apt) or remove packages in image NAME's Dockerfile, then rebuild it (unless no_build) and, with
    `recreate`, make container NAME again from it. Everything given is checked before anything is written.
    Returns image-update's record."""
    from .. import images
    from ..labels import FRAMEWORK
    from . import packages as P
    from .dockerfile import Blocks

    user = rt.caller
    name = images.validate_name(name)
    ref = images.reference(user.uid, name)
    added = P.pip_list(added, "packages") if added else []
    added_system = P.apt_list(added_system, "system packages") if added_system else []
    removed = [P.canonical(w) for value in removed for w in P.split_words(value)]
    path, labels, text = dockerfile_of(rt, user, name, ref)
    blocks = Blocks(text, path)
    base = P.BASE_PACKAGES[P.framework_family(labels.get(FRAMEWORK))]
    changes = apply(blocks, added, [], added_system, removed, base)
    if changes["changed"]:
        images.save_dockerfile(path, blocks.text(), user)
        rt.progress(f"updated {path} (previous version in {path}.bak)")
    record = {"name": name, "image": ref, "dockerfile": path, "changed": changes["changed"],
              "added": changes["added"], "removed": changes["removed"], "built": False, "id": None,
              "recreated": None}
    if (changes["changed"] or rebuild or recreate) and not no_build:
        new_id = images.build_user_image(rt, name, ref, path, no_cache)
        record.update(built=True, id=new_id.split(":")[-1][:12])
        rt.progress(f"rebuilt {ref}")
        if recreate:
            record["recreated"] = recreate_from(rt, name, ref)
    return record
