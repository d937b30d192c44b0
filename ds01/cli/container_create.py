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
def cli(name, image_arg, version_arg, image_opt, arch, workspace, data, models, cpu_only, num_gpus, gpu_profile, full_gpu, claim_id,
        wait, dry_run, json_flag, table_flag, config):
    """Create container NAME from IMAGE for you, with your limits and GPU slots applied at create time.

    Without IMAGE, your image ds01-<uid>/NAME:latest (image-create NAME builds it). A FRAMEWORK
    name and optional VERSION (pytorch 2.7.1) pick the AIME catalog image for this host.
    """
    import os
    import sys

    from .. import create, names
    from ..errors import Ds01Error, UsageError
    from ..runtime import Runtime

    name = names.validate(name)
    if image_arg and image_opt and image_arg != image_opt:
        raise UsageError("two different images given (argument and --image)")
    from ..gpu.allocator import parse_count

    count = parse_count(num_gpus)
    wait_s = parse_wait(wait)
    gpu_options = [o for o, v in (("--num-gpus", num_gpus), ("--gpu-profile", gpu_profile),
                                  ("--full-gpu", full_gpu), ("--claim", claim_id), ("--wait", wait)) if v]
    if cpu_only and gpu_options:
        raise UsageError(f"--cpu-only cannot be combined with {gpu_options[0]}")
    if gpu_profile and full_gpu:
        raise UsageError("--gpu-profile (a MIG slice) and --full-gpu (a whole GPU) exclude each other")
    if claim_id and (num_gpus or gpu_profile or full_gpu or wait):
        raise UsageError("a claim already names its slots: drop --num-gpus, --gpu-profile, --full-gpu and --wait")
    if not cpu_only and not gpu_options:
        claim_id = _claim_from_stdin()
    rt = Runtime(config)
    allocator = None
    if not cpu_only:
        from ..gpu.allocator import Allocator, check_profile

        allocator = Allocator(rt)
        check_profile(allocator.inventory, gpu_profile)  # bad input is refused before Docker is touched
    user = rt.caller
    image = image_arg or image_opt
    framework_label = arch_label = None
    if version_arg and not _framework_like(image_arg):
        raise UsageError(f"unexpected extra argument {version_arg!r}",
                         hint="a VERSION follows a FRAMEWORK name: container-create NAME pytorch 2.7.1")
    if image_arg and _framework_like(image_arg):
        image, framework_label, arch_label = _catalog_image(rt, image_arg, version_arg, arch)
        own = f"ds01-{user.uid}/{image_arg}:latest"
        if framework_label is None and _exists(rt, own):  # your image by its short name
            image = own
    elif arch:
        raise UsageError("--arch applies to a FRAMEWORK from the catalog", hint="container-create NAME pytorch --arch A")
    engine = rt.engine
    if image is None:
        default = f"ds01-{user.uid}/{name}:latest"
        if not _exists(rt, default):
            raise UsageError(f"no image given, and you have no image {default}",
                             hint=f"image-create {name} builds it; or container-create {name} IMAGE|FRAMEWORK")
        image = default
    existing = {r["container"]: r for r in rt.finder.records()}
    container = names.container_name(name, user.uid)
    if container in existing:
        raise Ds01Error(f"you already have a container named {name!r} ({existing[container]['status']})",
                        hint=f"container-remove {name}, or choose another name")
    limits = rt.limits(user.login)
    create.check_container_quota(rt, existing.values(), limits)
    allocator, request, preview = _gpu_request(rt, allocator, gpu_options, count, gpu_profile, full_gpu, claim_id,
                                               wait_s)
    image_labels = engine.ensure_image(image, progress=rt.progress)
    plan = create.plan(rt, name, image, workspace=workspace, data=data, models=models, interface=rt.interface,
                       image_labels=image_labels, framework=framework_label, arch=arch_label)
    out = new_output(json_flag, table_flag, None)
    if dry_run:
        if preview:
            plan.assign_gpus(preview)
        out.emit(plan.record())
        out.close()
        return
    made = create.make_workspace(plan.workspace, user) if plan.create_workspace else []

    def make(slots):
        plan.assign_gpus(slots)
        return engine.create(plan)

    try:
        if plan.setup_image:
            rt.progress(f"setting up your account in {image} ...")
        engine.prepare(plan)
        if allocator is None:
            cid = engine.create(plan)
        elif claim_id:
            cid = allocator.consume_claim(user.login, _claim_key(claim_id), make)
        else:
            cid = allocator.allocate(user.login, request, make, wait=wait_s, progress=rt.progress, label=container)
    except BaseException:
        engine.discard(plan)
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
    if sys.stderr.isatty() and rt.interface != "orchestration":  # an orchestrator says what comes next
        gpus = f" with GPU slot(s) {', '.join(g['slot'] for g in plan.gpus)}" if plan.gpus else ""
        sys.stderr.write(f"created {name}{gpus}; start it with: container-start {name}\n")


def _framework_like(word):
    """A bare word that could be a framework name (an image reference has '/', ':' or '@', or is a local name)."""
    return bool(word) and not any(c in word for c in "/:@")


def _catalog_image(rt, word, version, arch):
    """(image, AIME framework label, arch) for FRAMEWORK [VERSION]; a bare word that is no framework is an image."""
    from .. import catalog

    cat = catalog.load(rt.policy)
    if cat.framework_name(word) is None:
        if version:
            raise catalog.NotFound(f"no framework {word!r} in the catalog ({cat.source})",
                                   hint="image-catalog lists the frameworks")
        return word, None, None
    chosen, _ = catalog.choose_arch(cat, arch, rt.policy, lambda: rt.inventory)
    entry = cat.resolve(word, version, chosen)
    return entry.image, entry.label, chosen


def _exists(rt, ref):
    from ..errors import NotFound

    try:
        rt.api.inspect_image(ref)
        return True
    except NotFound:
        return False


def _claim_key(claim_id):
    return claim_id if claim_id.startswith("claim:") else "claim:" + claim_id


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


def _gpu_request(rt, allocator, gpu_options, count, profile, full, claim_id, wait):
    """(allocator, request, slots a dry run would show) for this create; (None, None, []) for CPU-only."""
    from ..errors import NoCapacity

    if allocator is None:
        return None, None, []
    from ..gpu.allocator import Request, choose

    if not gpu_options and not claim_id and not allocator.inventory.slots():
        rt.progress("this host has no GPU ds01 can give out: creating a CPU-only container")
        return None, None, []
    if claim_id:
        return allocator, None, []
    request = Request(count or 1, profile, full)
    try:  # a quick answer before the account setup; the decision itself is made under the lock
        preview = choose(allocator.snapshot(), rt.caller.login, rt.limits(rt.caller.login), request,
                         allocator.strategy)
    except NoCapacity as exc:
        if wait is not None and getattr(exc, "reason", None) in ("NO_CAPACITY", "USER_AT_LIMIT", "AGGREGATE_GPU_LIMIT"):
            return allocator, request, []
        if not gpu_options:
            exc.hint = "--cpu-only creates a container without a GPU; --wait queues for one"
        allocator.log_reject(rt.caller.login, exc, request)
        raise
    return allocator, request, preview


def main():
    run(cli)
