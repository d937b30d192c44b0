"""Making a container again: the same name and mounts, a new image or a new GPU request.

Why one place: image-update --recreate (a rebuilt image) and container-recreate (a GPU request
that fits, e.g. for AIME's `-g all` containers) are the same operation. The new container goes
through create_container, so every limit, the account setup and the allocator apply as for any
create. Every check a create makes (name, container count, quota, image, mounts, GPU) runs as a dry
run before the old container is removed, as if it were gone, so a refusal changes nothing; and the old
image is kept under an extra tag until the new container exists, so a later failure loses no image.
"""

import copy

from . import labels as L
from .containers import ACTIVE
from .engine import image_repository
from .errors import Ds01Error

MOUNT_POINTS = (("workspace", "/workspace"), ("data", "/data"), ("models", "/models"))


def same_gpus(rt, info):
    """The GPU part of a CreateRequest asking for what the container has: as many slots, of the same kind."""
    from .gpu.holdings import devices_from_inspect, slots_for  # lazy: ds01.gpu.holdings, 0.5 ms

    devices = devices_from_inspect(info)
    if not devices:
        return {"cpu_only": True}
    inventory = rt.inventory.slots()
    slots = [s for s in inventory if s.id in set(slots_for(devices, inventory))]
    if not slots:
        return {"num_gpus": 1}
    ask = {"num_gpus": len(slots)}
    if all(not s.is_mig for s in slots):
        ask["full_gpu"] = True
    elif len({s.profile for s in slots}) == 1 and slots[0].profile:
        ask["gpu_profile"] = slots[0].profile
    return ask


def recreate(rt, rec, image=None, gpus=None, start_again=False):
    """Remove container `rec` and create it again; the new container's Created.

    `image`: the image to use (default: its own, kept under `<repo>:<container>.previous` meanwhile).
    `gpus`: CreateRequest GPU fields (cpu_only, num_gpus, gpu_profile, full_gpu); default what it had.
    `start_again`: start the new container if the old one was running.
    """
    from .create import CreateRequest, create_container  # lazy: ds01.create, 9 ms
    from .gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms
    from .gpu.choice import Request, choose  # lazy: ds01.gpu.choice, 4 ms
    from .mount_pins import sources  # lazy: ds01.mount_pins, 8 ms

    info = rt.api.inspect_container(rec["id"])
    mounts = sources(info)
    request = CreateRequest(name=rec["name"])
    for key, point in MOUNT_POINTS:
        setattr(request, key, mounts.get(point))
    for key, value in (gpus or same_gpus(rt, info)).items():
        setattr(request, key, value)
    request.check()
    owner = rec["user"] or rt.caller.login
    if not request.cpu_only:
        allocator = Allocator(rt)
        choose(allocator.snapshot(exclude=info["Id"]), owner, rt.limits(owner),  # as once the old one is gone
               Request(request.num_gpus or 1, request.gpu_profile, request.full_gpu), allocator.strategy)
    engine = rt.engine
    kept = None
    if image is None:
        own = (info.get("Config") or {}).get("Image") or ""
        repo = image_repository(own) if own and not own.startswith("sha256:") else f"ds01-{rt.caller.uid}/recreate"
        kept = f"{repo}:{rec['container']}.previous"
        engine.api.tag(info["Image"], repo, f"{rec['container']}.previous")  # the image outlives the container
    request.image = image or kept
    try:  # every check container-create makes (name, count, quota, image, mounts, GPU), before anything is removed
        create_container(rt, copy.copy(request), interface=_interface(info), dry_run=True, replacing=info["Id"])
    except BaseException:
        if kept:
            _untag(engine, kept)
        raise
    was_running = rec["status"] in ACTIVE
    engine.remove(info["Id"], force=was_running, reason="recreate")
    rt.progress(f"removed {rec['name']}; creating it again from {image or 'its image'} ...")
    rt.finder.refresh()
    interface = _interface(info)
    try:
        created = create_container(rt, request, interface=interface)
    except Ds01Error as exc:
        again = " ".join(f"{flag} {value}" for flag, value in (("-w", request.workspace), ("-d", request.data),
                                                               ("-m", request.models)) if value)
        exc.message = f"{rec['name']} was removed but not created again: {exc.message}"
        exc.hint = f"your files are untouched; container-create {rec['name']} {request.image} {again}".rstrip()
        raise
    if kept:
        _untag(engine, kept)  # only the extra tag: the new container uses the image
    if start_again and was_running:
        from .sessions import start  # lazy: ds01.sessions, 2 ms

        rt.finder.refresh()
        start(rt, rt.finder.find(rec["name"]))
    return created


def _untag(engine, ref):
    try:
        engine.api.remove_image(ref)
    except engine.errors.APIError:
        pass


def _interface(info):
    value = L.first((info.get("Config") or {}).get("Labels") or {}, L.INTERFACE)
    return value if value in ("atomic", "orchestration") else "atomic"
