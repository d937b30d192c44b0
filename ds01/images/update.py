"""Changing an image's packages through its Dockerfile's marked lists, then rebuilding it: what image-update does
without its menu and editor, and what image-install (DS01's name for adding packages) does."""

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Ds01Error, NotFound, UsageError
from ..labels import FRAMEWORK
from ..output import warn
from ..privilege import caller_process
from ..recreate import recreate


def apply(blocks, added, required, added_system, removed, base=()):
    """Change the phase lists; returns what changed. Duplicates and unknown removals are warned about."""
    from . import packages as P  # lazy: ds01.images.packages, 2 ms
    from .dockerfile import PHASE_TITLES  # lazy: ds01.images.dockerfile, 3 ms

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
    try:
        rec = rt.finder.find(name)
    except NotFound:
        raise NotFound(f"the image was rebuilt, but you have no container {name} to recreate",
                       hint=f"container-create {name} makes one from {ref}") from None
    return recreate(rt, rec, image=ref, start_again=True).record["container"]



def dockerfile_of(rt, user, name, ref):
    """(path, image labels, text) of image NAME's Dockerfile, as image-update edits it; NotFound when there is none."""
    from .. import images  # lazy: ds01.images, 1 ms

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
    from .. import images  # lazy: ds01.images, 1 ms
    from . import packages as P  # lazy: ds01.images.packages, 2 ms
    from .dockerfile import Blocks  # lazy: ds01.images.dockerfile, 3 ms

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


@dataclass
class UpdateRequest:
    """What image-update is asked (by its options, or by its menu on a terminal)."""

    name: str
    added: list[str] = field(default_factory=list)          # pip package strings, as typed
    added_system: list[str] = field(default_factory=list)   # apt package strings, as typed
    removed: list[str] = field(default_factory=list)        # package names (pip or apt), as typed
    requirements: str | None = None                         # a requirements.txt path
    edit: bool = False
    rebuild: bool = False
    no_build: bool = False
    no_cache: bool = False
    recreate: bool = False
    menu: bool = False  # the packages were typed into the menu: named "added" in errors, removals only warned about

    def nothing_asked(self) -> bool:
        return not (self.added or self.added_system or self.removed or self.requirements or self.edit
                    or self.rebuild or self.recreate)


def check_update(rt, request: UpdateRequest) -> tuple[str, str]:
    """(image NAME, its reference) once every option given is checked; nothing is read or written."""
    from .. import images  # lazy: ds01.images, 1 ms
    from . import packages as P  # lazy: ds01.images.packages, 2 ms

    name = images.validate_name(request.name)
    if request.rebuild and request.no_build:
        raise UsageError("--rebuild and --no-build exclude each other")
    if request.recreate and request.no_build:
        raise UsageError("--recreate needs the new image: drop --no-build")
    P.pip_list(request.added, _label(request, "--add"))
    P.apt_list(request.added_system, _label(request, "--add-system"))
    for word in (P.canonical(w) for value in request.removed for w in P.split_words(value)):
        if not request.menu and not P.APT_RE.match(word) and not P.PIP_NAME_RE.match(word):
            raise UsageError(f"--remove: {word!r} is not a package name")
    return name, images.reference(rt.caller.uid, name)


def _label(request: UpdateRequest, option: str) -> str:
    return "added" if request.menu else option


def phase_packages(rt, name: str) -> list[tuple[str, list[str]]]:
    """[(phase title, its packages)] of image NAME's Dockerfile in file order (what the menu shows)."""
    from .. import images  # lazy: ds01.images, 1 ms
    from .dockerfile import PHASE_TITLES, Blocks  # lazy: ds01.images.dockerfile, 3 ms

    path, _, text = dockerfile_of(rt, rt.caller, name, images.reference(rt.caller.uid, name))
    blocks = Blocks(text, path)
    return [(PHASE_TITLES.get(phase, phase), blocks.packages[phase])
            for phase in sorted(blocks.spans, key=lambda p: blocks.spans[p][1])]


def update_image(rt, request: UpdateRequest, confirm_build: Callable[[], bool] | None = None) -> dict[str, Any]:
    """image-update: change image NAME's Dockerfile as `request` says (the editor with `edit`), rebuild it (unless
    `no_build`; `confirm_build`, when given, is asked first unless a build was asked for) and, with `recreate`, make
    container NAME again from it. Everything given is checked before anything is written. Its record."""
    from .. import images  # lazy: ds01.images, 1 ms
    from . import packages as P  # lazy: ds01.images.packages, 2 ms
    from .dockerfile import Blocks  # lazy: ds01.images.dockerfile, 3 ms

    user = rt.caller
    name, ref = check_update(rt, request)
    added = P.pip_list(request.added, _label(request, "--add")) if request.added else []
    added_system = P.apt_list(request.added_system, _label(request, "--add-system")) if request.added_system else []
    removed = [P.canonical(w) for value in request.removed for w in P.split_words(value)]
    required = P.read_requirements(os.path.expanduser(request.requirements)) if request.requirements else []
    path, labels, original = dockerfile_of(rt, user, name, ref)
    blocks = Blocks(original, path)
    if request.nothing_asked():
        raise UsageError("nothing to do", hint="--add, --remove, --add-system, -r, --edit or --rebuild")
    base = P.BASE_PACKAGES[P.framework_family(labels.get(FRAMEWORK))]
    changes = apply(blocks, added, required, added_system, removed, base)
    if changes["changed"]:
        images.save_dockerfile(path, blocks.text(), user)
        rt.progress(f"updated {path} (previous version in {path}.bak)")
    if request.edit:
        if not changes["changed"]:
            images.save_dockerfile(path, original, user)  # only to keep the .bak the edit starts from
        run_editor(rt, path)
        with open(path, encoding="utf-8") as handle:
            edited = handle.read()
        Blocks(edited, path)  # the markers must still be readable
        changes["changed"] = changes["changed"] or edited != original
    build_now = (changes["changed"] or request.rebuild or request.recreate) and not request.no_build
    if build_now and confirm_build is not None and not (request.rebuild or request.recreate):
        build_now = confirm_build()
    record = {"name": name, "image": ref, "dockerfile": path, "changed": changes["changed"],
              "added": changes["added"], "removed": changes["removed"], "built": False, "id": None,
              "recreated": None}
    if build_now:
        new_id = images.build_user_image(rt, name, ref, path, request.no_cache)
        record.update(built=True, id=new_id.split(":")[-1][:12])
        rt.progress(f"rebuilt {ref}")
        if request.recreate:
            record["recreated"] = recreate_from(rt, name, ref)
    elif changes["changed"] or request.edit:
        rt.progress(f"not rebuilt; image-update {name} --rebuild builds it")
    return record


def run_editor(rt, path: str) -> None:
    """The caller's editor on `path`, as the caller (the editor setting: VISUAL, EDITOR; split like a shell word
    list, never run through a shell; else nano or vi)."""
    import shutil  # lazy: shutil, 2 ms
    import subprocess  # lazy: subprocess, 1 ms

    command = rt.settings.get("editor")
    argv = shlex.split(command) if command else [next((e for e in ("nano", "vi") if shutil.which(e)), "vi")]
    result = subprocess.run([*argv, path], **caller_process(rt.settings.session_environment()))
    if result.returncode != 0:
        raise Ds01Error(f"the editor ({argv[0]}) exited with {result.returncode}; nothing was rebuilt")
