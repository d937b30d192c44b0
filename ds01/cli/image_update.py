"""image-update: change an image's packages in its Dockerfile, rebuild it, and optionally recreate its container."""

import click

from ._common import config_option, new_output, output_options, run

MENU = ("list packages", "add pip packages", "import a requirements.txt", "add system (apt) packages",
        "remove packages", "edit the Dockerfile", "rebuild", "cancel")


@click.command(epilog="""\b
Examples:
  image-update demo --add "wandb einops"           add pip packages and rebuild
  image-update demo --remove seaborn --add-system ffmpeg
  image-update demo -r requirements.txt --recreate  rebuild, then recreate container demo from it
  image-update demo --edit                          edit the Dockerfile in $EDITOR, then rebuild
  image-update demo --rebuild --no-cache
On a terminal without options, a menu. The previous Dockerfile is kept as Dockerfile.bak.
See also: image-create, image-list, container-create""")
@click.argument("name", required=False)
@click.option("--add", "add", multiple=True, metavar="PKGS", help="Add pip packages (space-separated).")
@click.option("--remove", "remove", multiple=True, metavar="PKGS", help="Remove pip or apt packages by name.")
@click.option("--add-system", multiple=True, metavar="PKGS", help="Add apt packages.")
@click.option("-r", "--requirements", type=click.Path(dir_okay=False), help="Add the packages of a requirements.txt.")
@click.option("--edit", is_flag=True, help="Open the Dockerfile in $EDITOR.")
@click.option("--rebuild", is_flag=True, help="Rebuild (also without changes).")
@click.option("--no-build", is_flag=True, help="Change the Dockerfile only; do not rebuild.")
@click.option("--no-cache", is_flag=True, help="Build without Docker's layer cache.")
@click.option("--recreate", is_flag=True, help="After the build, recreate your container NAME from the new image "
                                               "(same workspace, mounts and GPU request).")
@output_options
@config_option
def cli(name, add, remove, add_system, requirements, edit, rebuild, no_build, no_cache, recreate, json_flag,
        table_flag, config):
    """Update image NAME (ds01-<uid>/NAME:latest) through its Dockerfile."""
    import os
    import sys

    from .. import images
    from ..errors import UsageError
    from ..images import packages as P
    from ..images.dockerfile import Blocks
    from ..images.update import dockerfile_of
    from ..output import is_tty
    from ..runtime import Runtime

    interactive = is_tty(sys.stdin) and is_tty(sys.stderr)
    rt = Runtime(config)
    user = rt.caller
    if not name:
        raise UsageError("no image name given", hint="image-update NAME (image-list shows your images)")
    name = images.validate_name(name)
    ref = images.reference(user.uid, name)
    if rebuild and no_build:
        raise UsageError("--rebuild and --no-build exclude each other")
    if recreate and no_build:
        raise UsageError("--recreate needs the new image: drop --no-build")
    # Validate everything given before anything is read or written.
    added = P.pip_list(add, "--add")
    added_system = P.apt_list(add_system, "--add-system")
    removed = [P.canonical(w) for value in remove for w in P.split_words(value)]
    for word in removed:
        if not P.APT_RE.match(word) and not P.PIP_NAME_RE.match(word):
            raise UsageError(f"--remove: {word!r} is not a package name")
    required = P.read_requirements(os.path.expanduser(requirements)) if requirements else []
    path, labels, original = dockerfile_of(rt, user, name, ref)
    blocks = Blocks(original, path)
    nothing_asked = not (added or added_system or removed or required or edit or rebuild or recreate)
    if nothing_asked and interactive:
        action = _menu(blocks)
        if action == "cancel":
            return
        if action == "list packages":
            _show(blocks)
            return
        if action == "add pip packages":
            added = P.pip_list([click.prompt("pip packages to add", err=True)], "added")
        elif action == "import a requirements.txt":
            required = P.read_requirements(os.path.expanduser(click.prompt("requirements.txt path", err=True)))
        elif action == "add system (apt) packages":
            added_system = P.apt_list([click.prompt("apt packages to add", err=True)], "added")
        elif action == "remove packages":
            _show(blocks)
            removed = [P.canonical(w) for w in P.split_words(click.prompt("packages to remove", err=True))]
        elif action == "edit the Dockerfile":
            edit = True
        elif action == "rebuild":
            rebuild = True
    elif nothing_asked:
        raise UsageError("nothing to do", hint="--add, --remove, --add-system, -r, --edit or --rebuild")
    from ..labels import FRAMEWORK

    base = P.BASE_PACKAGES[P.framework_family(labels.get(FRAMEWORK))]
    changes = _apply(blocks, added, required, added_system, removed, base)
    text = blocks.text() if changes["changed"] else original
    if changes["changed"]:
        images.save_dockerfile(path, text, user)
        rt.progress(f"updated {path} (previous version in {path}.bak)")
    if edit:
        if not changes["changed"]:
            images.save_dockerfile(path, original, user)  # only to keep the .bak the edit starts from
        _edit(rt, path)
        with open(path, encoding="utf-8") as handle:
            edited = handle.read()
        Blocks(edited, path)  # the markers must still be readable
        changes["changed"] = changes["changed"] or edited != original
    build_now = (changes["changed"] or rebuild or recreate) and not no_build
    if build_now and interactive and not (rebuild or recreate):
        build_now = click.confirm("Rebuild the image now?", default=True, err=True)
    record = {"name": name, "image": ref, "dockerfile": path, "changed": changes["changed"],
              "added": changes["added"], "removed": changes["removed"], "built": False, "id": None,
              "recreated": None}
    if build_now:
        new_id = images.build_user_image(rt, name, ref, path, no_cache)
        record.update(built=True, id=new_id.split(":")[-1][:12])
        rt.progress(f"rebuilt {ref}")
        if recreate:
            record["recreated"] = _recreate(rt, name, ref)
    elif changes["changed"] or edit:
        rt.progress(f"not rebuilt; image-update {name} --rebuild builds it")
    out = new_output(json_flag, table_flag, [("name", "NAME"), ("image", "IMAGE"), ("changed", "CHANGED"),
                                             ("built", "BUILT"), ("recreated", "RECREATED")])
    out.emit(record)
    out.close()


def _apply(blocks, added, required, added_system, removed, base=()):
    """Change the phase lists; returns what changed (ds01.images.update.apply)."""
    from ..images.update import apply

    return apply(blocks, added, required, added_system, removed, base)


def _menu(blocks):
    import sys

    sys.stderr.write("What do you want to do?\n")
    for number, item in enumerate(MENU, 1):
        sys.stderr.write(f"  {number}) {item}\n")
    choice = click.prompt(f"Choice [1-{len(MENU)}]", type=click.IntRange(1, len(MENU)), err=True)
    return MENU[choice - 1]


def _show(blocks):
    import sys

    from ..images.dockerfile import PHASE_TITLES

    for phase in sorted(blocks.spans, key=lambda p: blocks.spans[p][1]):
        packages = blocks.packages[phase]
        sys.stderr.write(f"{PHASE_TITLES.get(phase, phase)}: {' '.join(packages) if packages else '(none)'}\n")


def _edit(rt, path):
    """The editor setting (VISUAL, EDITOR; split like a shell word list, never run through a shell), else nano or vi."""
    import shlex
    import shutil
    import subprocess

    from ..errors import Ds01Error

    command = rt.settings.get("editor")
    argv = shlex.split(command) if command else [next((e for e in ("nano", "vi") if shutil.which(e)), "vi")]
    from ..privilege import caller_process

    result = subprocess.run([*argv, path], **caller_process(rt.settings.session_environment()))
    if result.returncode != 0:
        raise Ds01Error(f"the editor ({argv[0]}) exited with {result.returncode}; nothing was rebuilt")


def _recreate(rt, name, ref):
    """Container NAME made again from the new image (ds01.images.update.recreate_from); its Docker name."""
    from ..images.update import recreate_from

    return recreate_from(rt, name, ref)


def main():
    run(cli)
