"""container-recreate: make a stopped container again from its own image, same mounts, a new GPU request.

Why: a container whose GPU request cannot be met any more (AIME's `-g all`, a slot someone
else holds now) is otherwise a dead end: removing it the usual way deletes its per-container
image, and container-create alone does not know its image or mounts.
"""

import click

from ._common import config_option, new_output, output_options, run
from ._gpu import request_options


@click.command(epilog="""\b
Examples:
  container-recreate ab1 --num-gpus 1        an AIME `-g all` container, now with one GPU
  container-recreate thesis --gpu-profile 3g.20gb
  container-recreate notes --cpu-only
Only stopped containers. The GPU request is checked first: when it cannot be met, nothing
changes. Then the image is kept under a tag of its own while the container is removed and
created again (container-create's limits, account setup and allocator); your files stay in
their directories. If creating fails, the message names the command that finishes it.
See also: container-create, container-start, gpu-user-status""")
@click.argument("name")
@request_options
@click.option("--cpu-only", is_flag=True, help="No GPU in the new container.")
@output_options
@config_option
def cli(name, num_gpus, gpu_profile, full_gpu, cpu_only, json_flag, table_flag, config):
    """Make stopped container NAME again from its image, with its mounts and the GPU request given."""
    from ..containers import ACTIVE, TABLE_COLUMNS
    from ..errors import UsageError
    from ..gpu.allocator import Allocator, Request, choose, parse_count
    from ..runtime import Runtime
    from ..workspace_files import WORKSPACE
    from ._common import create_in_process

    if cpu_only and (num_gpus or gpu_profile or full_gpu):
        raise UsageError("--cpu-only cannot be combined with a GPU request")
    count = parse_count(num_gpus)
    rt = Runtime(config)
    rec = rt.finder.find(name)
    if rec["status"] in ACTIVE:
        raise UsageError(f"{rec['name']} is {rec['status']}; only a stopped container is recreated",
                         hint=f"container-stop {rec['name']} first")
    info = rt.api.inspect_container(rec["id"])
    mounts = {m.get("Destination"): m.get("Source") for m in info.get("Mounts") or [] if m.get("Type") == "bind"}
    argv = [rec["name"]]
    for option, target in (("-w", WORKSPACE), ("-d", "/data"), ("-m", "/models")):
        if mounts.get(target):
            argv += [option, mounts[target]]
    if cpu_only:
        argv.append("--cpu-only")
    else:
        request = Request(count or 1, gpu_profile, full_gpu)
        allocator = Allocator(rt)
        snap = allocator.snapshot(exclude=info["Id"])  # as it will be once this container is gone
        choose(snap, rec["user"] or rt.caller.login, rt.limits(rec["user"] or rt.caller.login), request,
               allocator.strategy)  # NoCapacity (exit 3) here changes nothing
        argv += ["--num-gpus", str(request.count)] + (["--gpu-profile", gpu_profile] if gpu_profile else []) \
            + (["--full-gpu"] if full_gpu else [])
    engine = rt.engine
    image = (info.get("Config") or {}).get("Image") or info["Image"]
    repo = _repository(image) if not image.startswith("sha256:") else f"ds01-{rt.caller.uid}/recreate"
    kept = f"{repo}:{rec['container']}.previous"
    engine.api.tag(info["Image"], repo, f"{rec['container']}.previous")  # the image outlives the container
    engine.remove(info["Id"], force=False, reason="recreate")
    rt.progress(f"removed {rec['name']}; creating it again from its image ...")
    try:
        created = create_in_process([argv[0], kept] + argv[1:])
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        from ..errors import Ds01Error

        raise Ds01Error(f"{rec['name']} was removed but not created again: {message}",
                        hint=f"its image is kept as {kept}: container-create {argv[0]} {kept} "
                             + " ".join(argv[1:])) from None
    try:
        engine.api.remove_image(kept)  # only the extra tag: the new container uses the image
    except engine.errors.APIError:
        pass
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)
    out.emit(created)
    out.close()


def _repository(ref):
    from ..engine import image_repository

    return image_repository(ref)


def main():
    run(cli)


MAN_OUTPUT = "The new container's record, as container-create prints it."
