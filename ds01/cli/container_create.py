"""container-create: a container with the policy's limits and the caller's account, left created (not started)."""

import click

from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-create thesis ds01-1000/thesis:latest
  container-create exp1 --image aimehub/pytorch-2.7.1-cuda12.6.3 -d /data/corpus
  container-create exp1 IMAGE --dry-run        print the plan, change nothing
See also: container-start, container-list, resource-limits""")
@click.argument("name")
@click.argument("image_arg", metavar="[IMAGE]", required=False)
@click.option("--image", "image_opt", metavar="IMAGE", help="Image to use (same as the IMAGE argument).")
@click.option("-w", "--workspace", metavar="DIR", help="Host directory mounted at /workspace (default ~/workspace/NAME).")
@click.option("-d", "--data", metavar="DIR", help="Host directory mounted at /data.")
@click.option("-m", "--models", metavar="DIR", help="Host directory mounted at /models.")
@click.option("--cpu-only", is_flag=True, help="No GPU: the container sees none (NVIDIA_VISIBLE_DEVICES=void).")
@click.option("--num-gpus", metavar="N", help="GPUs or MIG slices to allocate.")
@click.option("--dry-run", is_flag=True, help="Print the create plan as JSON and change nothing.")
@output_options
@config_option
def cli(name, image_arg, image_opt, workspace, data, models, cpu_only, num_gpus, dry_run, json_flag, table_flag,
        config):
    """Create container NAME from IMAGE for you, with your limits applied at create time."""
    import os
    import sys

    from .. import create, names
    from ..errors import Ds01Error, NoCapacity, UsageError
    from ..runtime import Runtime

    name = names.validate(name)
    if image_arg and image_opt and image_arg != image_opt:
        raise UsageError("two different images given (argument and --image)")
    if num_gpus is not None:
        if not num_gpus.isdigit() or int(num_gpus) < 1:
            raise UsageError(f"--num-gpus must be a whole number of at least 1, got {num_gpus!r}")
        if not cpu_only:
            raise NoCapacity("GPU allocation not available in this version", hint="use --cpu-only")
    rt = Runtime(config)
    user = rt.caller
    image = image_arg or image_opt
    engine = rt.engine
    if image is None:
        default = f"ds01-{user.uid}/{name}:latest"
        try:
            engine.image_labels(default)
            image = default
        except Ds01Error:
            raise UsageError("no image given", hint=f"container-create {name} IMAGE (or build {default} first)") from None
    existing = {r["container"]: r for r in rt.finder.records()}
    container = names.container_name(name, user.uid)
    if container in existing:
        raise Ds01Error(f"you already have a container named {name!r} ({existing[container]['status']})",
                        hint=f"container-remove {name}, or choose another name")
    limits = rt.limits(user.login)
    create.check_container_quota(rt, existing.values(), limits)
    image_labels = engine.ensure_image(image, progress=rt.progress)
    plan = create.plan(rt, name, image, workspace=workspace, data=data, models=models, interface=rt.interface,
                       image_labels=image_labels)
    out = new_output(json_flag, table_flag, None)
    if dry_run:
        out.emit(plan.record())
        out.close()
        return
    made = create.make_workspace(plan.workspace, user) if plan.create_workspace else []
    try:
        if plan.setup_image:
            rt.progress(f"setting up your account in {image} ...")
        cid = engine.create(plan)
    except BaseException:
        for directory in made:
            try:
                os.rmdir(directory)
            except OSError:
                pass
        raise
    from ..containers import TABLE_COLUMNS, record

    out.columns = TABLE_COLUMNS
    out.emit(record(rt.api.inspect_container(cid)))
    out.close()
    if sys.stderr.isatty():
        sys.stderr.write(f"created {name}; start it with: container-start {name}\n")


def main():
    run(cli)
