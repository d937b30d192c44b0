"""container-create: a container with the policy's limits, the caller's account and its GPU slots, left created."""

import os
import stat
import sys

import click

from ..containers import TABLE_COLUMNS
from ..errors import Ds01Error, UsageError
from ..guided import Guide, cancelled
from ..output import parse_targets
from ..runtime import Runtime
from ..visible import visible
from ._cluster import cluster_option, wants_cluster
from ._common import config_option, new_output, output_options, run
from ._gpu import mount_options, parse_count, parse_wait, request_options, wait_option


@click.command(epilog="""\b
Examples:
  container-create thesis ds01-1000/thesis:latest          one GPU or MIG slot (if your quota allows)
  container-create exp1 IMAGE --num-gpus 2 -d /data/corpus
  container-create exp1 IMAGE --gpu-profile 3g.20gb --wait  queue until a 3g.20gb slice is free
  container-create notes IMAGE --cpu-only                   no GPU at all
  gpu-allocate --num-gpus 2 | container-create exp2 IMAGE   use a claim made before
  container-create exp1 IMAGE --dry-run                     print the plan, change nothing
  container-create pt pytorch 2.7.1                         the AIME catalog image (image-catalog lists them)
  container-create --guided                                 step by step: name, image, GPUs, workspace
With stdin a pipe and no GPU option, a claim record is read from it (use </dev/null in loops).
See also: container-start, gpu-status, gpu-allocate, resource-limits""")
@click.argument("name", required=False)
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
@cluster_option("A Slurm job on a cluster node runs it (started at once; --wait: until it runs)")
@click.option("--guided", is_flag=True,
              help="Step by step: explains and asks the name, image, GPUs and workspace (pauses only on a terminal).")
@output_options
@config_option
def cli(name, image_arg, version_arg, image_opt, arch, workspace, data, models, cpu_only, num_gpus, gpu_profile,
        full_gpu,
        claim_id, wait, dry_run, cluster, guided, json_flag, table_flag, config):
    """Create container NAME from IMAGE for you, with your limits and GPU slots applied at create time.

    Without IMAGE, your image ds01-<uid>/NAME:latest (image-create NAME builds it). A FRAMEWORK
    name and optional VERSION (pytorch 2.7.1) pick the AIME catalog image for this host.
    """
    from ..create import CreateRequest, create_container  # lazy: ds01.create, 9 ms

    if image_arg and image_opt and image_arg != image_opt:
        raise UsageError("two different images given (argument and --image)")
    rt = None
    if guided:
        rt = Runtime(config)
        walk = _guided_walk(Guide(True, "container-create"), rt, name, image_arg or image_opt, workspace,
                            cpu_only, num_gpus)
        name, image_arg, image_opt, workspace, cpu_only, num_gpus = walk
        if image_arg and version_arg is None and " " in image_arg:
            image_arg, version_arg = image_arg.split(" ", 1)
    if not name:
        raise UsageError("no container name given", hint="container-create NAME [IMAGE], or container-create --guided")
    rt = rt or Runtime(config)
    if wants_cluster(rt, cluster):
        return _cluster_create(rt, name, image_arg or image_opt, version_arg, workspace, data, models, cpu_only,
                               parse_count(num_gpus), gpu_profile, full_gpu or claim_id or dry_run, wait,
                               json_flag, table_flag)
    request = CreateRequest(name=name, image=image_arg or image_opt, version=version_arg, arch=arch,
                            workspace=workspace, data=data, models=models, cpu_only=cpu_only,
                            num_gpus=parse_count(num_gpus), gpu_profile=gpu_profile, full_gpu=full_gpu,
                            claim=claim_id, wait=parse_wait(wait))
    request.check()
    if not cpu_only and not request.gpu_options():
        request.claim = _claim_from_stdin()
    rt = rt or Runtime(config)
    created = create_container(rt, request, dry_run=dry_run)
    out = new_output(json_flag, table_flag, None if dry_run else TABLE_COLUMNS)
    out.emit(created.record)
    out.close()
    if not dry_run and sys.stderr.isatty():
        gpus = f" with GPU slot(s) {', '.join(g['slot'] for g in created.plan.gpus)}" if created.plan.gpus else ""
        sys.stderr.write(f"created {request.name}{gpus}; start it with: container-start {request.name}\n")


def _cluster_create(rt, name, image, version, workspace, data, models, cpu_only, num_gpus, gpu_profile,
                    unsupported, wait, json_flag, table_flag):
    from ..cluster.containers import CLUSTER_COLUMNS, ClusterRequest, create  # lazy: ds01.cluster.containers, 7 ms

    if unsupported:
        raise UsageError("--cluster takes --num-gpus, --gpu-profile or --cpu-only (Slurm places it); not --full-gpu, "
                         "--claim or --dry-run", hint="container-create NAME IMAGE --cluster --num-gpus 1; "
                                                      "--no-cluster: this server")
    request = ClusterRequest(name=name, image=image, version=version, workspace=workspace, data=data, models=models,
                             cpu_only=cpu_only, num_gpus=num_gpus, gpu_profile=gpu_profile, wait=parse_wait(wait))
    out = new_output(json_flag, table_flag, CLUSTER_COLUMNS)
    out.emit(create(rt, request))
    out.close()


GUIDE = {
    "intro": "container-create makes a container: your own machine on this server, made from an image, with\n"
             "your limits and (unless you choose CPU only) a GPU slot. It is created, not started:\n"
             "container-run NAME then gives you a shell in it. The workflow is image-create (an image),\n"
             "container-create (a container from it), container-run (work in it).",
    "name": "The name is how you refer to the container in every command (container-run NAME, container-stop\n"
            "NAME). Letters, digits, '-', '_' and '.'; on the host it becomes NAME._.<uid>.",
    "image": "The image is the template the container is made from. Your own images (image-create) have your\n"
             "packages; a framework from AIME's catalog (pytorch, tensorflow) has CUDA and the framework ready.",
    "gpu": "A GPU slot is a whole GPU or a MIG slice; it is yours until the container is removed (or its hold\n"
           "after a stop runs out). CPU only holds no slot: fine for preparing data and writing code.",
    "workspace": "The workspace is a directory of yours on the host, mounted at /workspace in the container: your\n"
                 "files there survive the container. By default ~/workspace/NAME (made if missing).",
}


def _guided_walk(guide, rt, name, image, workspace, cpu_only, num_gpus):
    """The guided questions, each explained first; a flag's value is the default. Without a terminal the
    defaults are taken (nothing waits). Returns (name, image, None, workspace, cpu_only, num_gpus)."""
    from .. import images, names  # lazy: ds01.images, 1 ms

    guide.step(GUIDE["intro"], title="what a container is")
    mine = []
    try:
        mine = sorted(images.list_images(rt.api, rt.caller), key=lambda r: r["name"])
    except Ds01Error:
        pass
    guide.explain(GUIDE["name"], title="the container's name")
    default_name = name or (mine[0]["name"] if mine else None)
    while True:
        name = guide.ask("Container name", default=default_name)
        if not name:
            raise UsageError("no container name given", hint="container-create NAME, or answer the question")
        try:
            name = names.validate(name)
            break
        except UsageError as exc:
            if not guide.interactive:
                raise
            guide.note(f"  {visible(exc.message)}")
    guide.explain(GUIDE["image"], title="the image")
    if image is None:
        own = next((r["image"] for r in mine if r["name"] == name), None)
        options = [(r["name"], r["image"]) for r in mine]
        options += [("pytorch", "AIME catalog: PyTorch, latest for this host"),
                    ("tensorflow", "AIME catalog: TensorFlow, latest for this host"),
                    ("other", "type an image or FRAMEWORK VERSION (e.g. pytorch 2.7.1)")]
        default = next((i for i, r in enumerate(mine) if r["image"] == own), 0 if mine else len(mine))
        index = guide.choose("Image", options, default=default)
        if index < len(mine):
            image = mine[index]["image"]
        elif options[index][0] == "other":
            image = guide.ask("Image")
        else:
            image = options[index][0]
    else:
        image = guide.ask("Image", default=image)
    guide.explain(GUIDE["gpu"], title="GPUs")
    summary, has_slots = _gpu_summary(rt)
    if summary:
        guide.note(summary)
    if not cpu_only:
        index = guide.choose("GPU or CPU only", [("GPU", "one or more GPU slots, as your quota allows"),
                                                 ("CPU only", "no GPU at all")],
                             default=0 if has_slots or num_gpus else 1)
        cpu_only = index == 1
    if not cpu_only:
        num_gpus = guide.ask("How many GPUs or MIG slices", default=num_gpus or "1")
    else:
        num_gpus = None
    guide.explain(GUIDE["workspace"], title="the workspace")
    home = rt.caller.home
    default_ws = workspace or os.path.join(home, "workspace", name)
    answer = guide.ask("Workspace directory", default=default_ws)
    if answer and (answer == "~" or answer.startswith("~/")):
        answer = home + answer[1:]
    workspace = answer if answer != os.path.join(home, "workspace", name) else workspace
    gpus = "no GPU (CPU only)" if cpu_only else f"{num_gpus} GPU slot(s)"
    guide.explain(f"container-create will now create {visible(name)} from {visible(str(image))} with {gpus},\n"
                  f"workspace {visible(answer or default_ws)} at /workspace, and your limits.", title="create")
    if not guide.confirm("Create it now?", default=True):
        cancelled("container-create")
    return name, image, None, workspace, cpu_only, num_gpus


def _gpu_summary(rt):
    """(a line on this host's slots and the caller's per-container limit, whether there are slots)."""
    try:
        slots = rt.inventory.slots()
        limit = rt.limits(rt.caller.login).values.get("max_gpu_slots_per_container")
    except (Ds01Error, OSError):
        return None, True
    if not slots:
        return "This host has no GPU ds01 can give out: CPU only is the default.", False
    kinds = sorted({s.profile or "full GPU" for s in slots})
    most = "no limit" if limit is None else str(limit)
    return (f"This host offers {len(slots)} slot(s) ({', '.join(kinds)}); at most {most} per container for you.",
            True)


def _claim_from_stdin():
    """A claim record piped in (gpu-allocate | container-create NAME); None when stdin is not a pipe or file."""
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
