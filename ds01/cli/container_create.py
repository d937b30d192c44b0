"""container-create: a container with the policy's limits, the caller's account and its GPU slots, left created."""

import click

from ._common import config_option, new_output, output_options, run
from ._gpu import mount_options, parse_wait, request_options, wait_option


@click.command(epilog="""\b
Examples:
  container-create thesis ds01-1000/thesis:latest          one GPU or MIG slot (if your quota allows)
  container-create exp1 IMAGE --num-gpus 2 -d /data/corpus
  container-create exp1 IMAGE --gpu-profile 3g.20gb --wait  queue until a 3g.20gb slice is free
  container-create notes IMAGE --cpu-only                   no GPU at all
  gpu-allocate --num-gpus 2 | container-create exp2 IMAGE   use a claim made before
  container-create exp1 IMAGE --dry-run                     print the plan, change nothing
  container-create pt pytorch 2.7.1                         the AIME catalog image (image-catalog lists them)
With stdin a pipe and no GPU option, a claim record is read from it (use </dev/null in loops).
See also: container-start, gpu-status, gpu-allocate, resource-limits""")
@click.argument("name")
@click.argument("image_arg", metavar="[IMAGE | FRAMEWORK [VERSION]]", required=False)
@click.argument("version_arg", required=False)
@click.option("--image", "image_opt", metavar="IMAGE", help="Image to use (same as the IMAGE argument).")
@click.option("--arch", metavar="ARCH", help="GPU architecture for a FRAMEWORK from the catalog (default: detected).")
@mount_options
@click.option("--cpu-only", is_flag=True, help="No GPU: the container sees none (NVIDIA_VISIBLE_DEVICES=void).")
@request_options
@click.option("--claim", "claim_id", metavar="ID", help="Use the slots of a gpu-allocate claim.")
@wait_option
@click.option("--dry-run", is_flag=True, help="Print the create plan as JSON and change nothing.")
@output_options
@config_option
def cli(name, image_arg, version_arg, image_opt, arch, workspace, data, models, cpu_only, num_gpus, gpu_profile,
        full_gpu,
        claim_id, wait, dry_run, json_flag, table_flag, config):
    """Create container NAME from IMAGE for you, with your limits and GPU slots applied at create time.

    Without IMAGE, your image ds01-<uid>/NAME:latest (image-create NAME builds it). A FRAMEWORK
    name and optional VERSION (pytorch 2.7.1) pick the AIME catalog image for this host.
    """
    import sys

    from ..containers import TABLE_COLUMNS
    from ..create import CreateRequest, create_container
    from ..errors import UsageError
    from ..runtime import Runtime
    from ._gpu import parse_count

    if image_arg and image_opt and image_arg != image_opt:
        raise UsageError("two different images given (argument and --image)")
    request = CreateRequest(name=name, image=image_arg or image_opt, version=version_arg, arch=arch,
                            workspace=workspace, data=data, models=models, cpu_only=cpu_only,
                            num_gpus=parse_count(num_gpus), gpu_profile=gpu_profile, full_gpu=full_gpu,
                            claim=claim_id, wait=parse_wait(wait))
    request.check()
    if not cpu_only and not request.gpu_options():
        request.claim = _claim_from_stdin()
    rt = Runtime(config)
    created = create_container(rt, request, dry_run=dry_run)
    out = new_output(json_flag, table_flag, None if dry_run else TABLE_COLUMNS)
    out.emit(created.record)
    out.close()
    if not dry_run and sys.stderr.isatty():
        gpus = f" with GPU slot(s) {', '.join(g['slot'] for g in created.plan.gpus)}" if created.plan.gpus else ""
        sys.stderr.write(f"created {request.name}{gpus}; start it with: container-start {request.name}\n")


def _claim_from_stdin():
    """A claim record piped in (gpu-allocate | container-create NAME); None when stdin is not a pipe or file."""
    import os
    import stat
    import sys

    from ..errors import UsageError
    from ..output import parse_targets

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        return None
    try:
        claims = parse_targets(sys.stdin.read(), ("claim",))
    except ValueError as exc:
        raise UsageError(f"cannot read a claim from stdin: {exc}", hint="pipe gpu-allocate into it") from None
    if len(claims) > 1:
        raise UsageError(f"{len(claims)} claims on stdin; one container takes one claim")
    return claims[0] if claims else None


def main():
    run(cli)
