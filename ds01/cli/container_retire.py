"""container-retire: stop + remove + free the GPU in one step; workspace files are never touched."""

import click

from ._common import batch, config_option, container_targets, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-retire thesis                  asks first on a terminal
  container-list | container-retire --force   every running container of yours
  container-retire thesis --save-packages  keep what you pip-installed: into your image first
  container-retire thesis --images         also delete its image (yours only, if unused)
  container-retire thesis --dry-run        what would happen
The GPU slots are free at once (gpu-status shows them). Files under the workspace stay.
See also: container-deploy, container-stop, container-remove, image-delete""")
@click.argument("names", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="No question; running containers are stopped too.")
@click.option("--save-packages", is_flag=True,
              help="Commit Python packages installed since creation to your image (shows them first).")
@click.option("--images", "delete_image", is_flag=True, help="Also delete the container's image if it is yours and unused.")
@click.option("-a", "--all", "all_containers", is_flag=True, help="All your containers.")
@click.option("-t", "--timeout", default=10, show_default=True, type=click.IntRange(0, 3600),
              help="Seconds a running container gets to stop before it is killed.")
@click.option("--dry-run", is_flag=True, help="Print what would happen and change nothing.")
@output_options
@config_option
def cli(names, force, save_packages, delete_image, all_containers, timeout, dry_run, json_flag, table_flag, config):
    """Retire NAME... (or the containers named on stdin): stop, remove, free the GPU."""
    import sys

    from ..containers import ACTIVE, INACTIVE, TABLE_COLUMNS
    from ..errors import Ds01Error
    from ..output import is_tty
    from ..runtime import Runtime

    rt = Runtime(config)
    targets = container_targets(rt, names, (*ACTIVE, *INACTIVE), "existing", all_containers)
    ask = not force and not dry_run and is_tty(sys.stdin) and is_tty(sys.stderr)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS + [("retired", "RETIRED")])

    def retire(target):
        rec = rt.finder.find(target)
        running = rec["status"] in ACTIVE
        steps = (["stop"] if running else []) + ["remove"] + (["free " + ", ".join(rec["gpus"])] if rec["gpus"] else [])
        if dry_run:
            return dict(rec, retired=False, would=steps + (["save packages"] if save_packages else [])
                        + (["delete image " + rec["image"]] if delete_image else []))
        if ask:
            where = f"; files in {rec['workspace']} stay" if rec["workspace"] else ""
            if not click.confirm(f"Retire {rec['name']} ({rec['status']}): {', '.join(steps)}{where}?",
                                 default=False, err=True):
                sys.stderr.write(f"kept {rec['name']}\n")
                return dict(rec, retired=False)
        elif running and not force:
            raise Ds01Error(f"{rec['name']} is {rec['status']}",
                            hint="--force retires running containers too (they are stopped first)")
        result = dict(rec, retired=True, packages_saved=None, image_deleted=False)
        if save_packages:
            result["packages_saved"] = _save_packages(rt, rec, ask)
        if running:
            rt.progress(f"stopping {rec['name']} ...")
            rt.engine.stop(rec["id"], timeout=timeout, force=True)
        note = rt.engine.remove(rec["id"], force=True)
        if note:
            from ._common import warn

            warn(note)
        result["status"] = "removed"
        result["gpus_freed"] = rec["gpus"]
        if delete_image:
            result["image_deleted"] = _delete_image(rt, rec)
        rt.progress(f"retired {rec['name']}" + (f"; GPU slots {', '.join(rec['gpus'])} are free" if rec["gpus"] else ""))
        return result

    return batch(targets, retire, out)


def _user_image(rt, rec):
    """Where saved packages go: the container's image when it is the caller's, else ds01-<uid>/NAME:latest."""
    from .. import images

    owner_uid = rec["uid"] if rec["uid"] is not None else rt.caller.uid
    parsed = images.parse_reference(rec["image"] or "")
    if parsed and parsed[0] == owner_uid:
        return rec["image"]
    return images.reference(owner_uid, rec["name"])


def _save_packages(rt, rec, ask):
    """Snapshot, compare with the image it was created from, show the difference, keep it in the user's image."""
    import sys

    from .. import installed
    from ..identity import lookup

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
        if ask and not click.confirm(f"Save them into {target}?", default=True, err=True):
            return dict(change, image=None)
        saved = installed.keep(rt.engine, tag, target)
        from .. import images

        parsed = images.parse_reference(saved)
        dockerfile = images.find_dockerfile(owner, parsed[1]) if parsed else None
        if installed.record_in_dockerfile(dockerfile, change, owner):
            sys.stderr.write(f"  added to {dockerfile}, so a rebuild installs them too\n")
        sys.stderr.write(f"  saved into {saved}\n")
        return dict(change, image=saved, dockerfile=dockerfile)
    finally:
        installed.drop(rt.engine, tag)


def _delete_image(rt, rec):
    """Delete the container's image when it is the caller's own and no other container uses it."""
    from .. import images
    from ._common import warn

    parsed = images.parse_reference(rec["image"] or "")
    if not parsed or (parsed[0] != rt.caller.uid and not rt.admin):
        warn(f"kept image {rec['image']}: only your own ds01-<uid>/ images are deleted")
        return False
    try:
        rt.engine.remove_image(rec["image"])
    except Exception as exc:  # noqa: BLE001 - in use by another container, or gone
        warn(f"kept image {rec['image']}: {getattr(exc, 'message', exc)}")
        return False
    return True


def main():
    run(cli)


MAN_OUTPUT = ("One record per container: the container record with status \"removed\", retired (true, or false "
              "when you said no), gpus_freed, image_deleted and packages_saved ({added, upgraded, image}); "
              "with --dry-run, would lists the steps.")
