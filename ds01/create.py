"""Creating one container: what a user asks (`CreateRequest`), checked whole before Docker changes, then made
under the allocator lock and rolled back on any failure or signal.

The plan is ds01.create_plan, the image ds01.image_choice, the mounts ds01.mounts.
"""

import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from . import names
from .containers import ContainerRecord, record
from .create_plan import Plan, plan
from .errors import Ds01Error, NoCapacity, UsageError
from .image_choice import check_image, framework_like, is_image_id, resolve_image


def check_container_quota(rt, records, limits):
    """NoCapacity when the user already has max_containers_per_user containers (stopped ones count)."""
    cap = limits["max_containers_per_user"]
    if cap is None:
        return
    mine = [r for r in records if r["user"] == rt.caller.login or r["uid"] == rt.caller.uid]
    if len(mine) >= cap:
        raise NoCapacity(f"CONTAINER_LIMIT ({len(mine)}/{cap}): you already have {len(mine)} containers",
                         hint="remove one with container-remove NAME (container-list -a shows them all)")


# ---------------------------------------------------------------- the operation: create one container

@dataclass
class CreateRequest:
    """What a user asks container-create for (every front-end builds one: container-create, mlc-create,
    container-deploy, container-recreate, image-update --recreate)."""

    name: str
    image: str | None = None          # an image reference, or a catalog FRAMEWORK name
    version: str | None = None        # the FRAMEWORK's version
    arch: str | None = None           # the catalog architecture (default: detected)
    workspace: str | None = None
    data: str | None = None
    models: str | None = None
    cpu_only: bool = False
    num_gpus: int | None = None
    gpu_profile: str | None = None
    full_gpu: bool = False
    claim: str | None = None          # a gpu-allocate claim id to consume
    wait: float | None = None         # seconds to queue for a slot (0 = indefinitely), None = do not wait

    def gpu_options(self):
        """The GPU options given, by their flags (for messages)."""
        return [flag for flag, value in (("--num-gpus", self.num_gpus), ("--gpu-profile", self.gpu_profile),
                                         ("--full-gpu", self.full_gpu), ("--claim", self.claim),
                                         ("--wait", self.wait is not None)) if value]

    def check(self):
        """UsageError for requests that contradict themselves, before anything is read or changed."""
        given = self.gpu_options()
        if self.cpu_only and given:
            raise UsageError(f"--cpu-only cannot be combined with {given[0]}")
        if self.gpu_profile and self.full_gpu:
            raise UsageError("--gpu-profile (a MIG slice) and --full-gpu (a whole GPU) exclude each other")
        if self.claim and (self.num_gpus or self.gpu_profile or self.full_gpu or self.wait is not None):
            raise UsageError("a claim already names its slots: drop --num-gpus, --gpu-profile, --full-gpu and --wait")
        if self.version and not framework_like(self.image):
            raise UsageError(f"unexpected extra argument {self.version!r}",
                             hint=f"a VERSION follows a FRAMEWORK name: container-create {self.name} pytorch 2.7.1")


@dataclass
class Created:
    """What create_container did: the container's record (or, in a dry run, the plan's) and the plan."""

    record: ContainerRecord | dict[str, Any]
    plan: Plan


def create_container(rt, request, interface="atomic", dry_run=False, replacing=None):
    """Create the caller's container as `request` asks: limits, account, GPU slots; left created.

    Everything is checked before Docker changes; a failure leaves no container, tag or workspace.
    """
    request.check()
    request.name = names.validate(request.name)
    allocator = None
    if not request.cpu_only:
        from .gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms
        from .gpu.choice import check_profile  # lazy: ds01.gpu.choice, 4 ms

        allocator = Allocator(rt)
        check_profile(allocator.inventory, request.gpu_profile)  # bad input is refused before Docker is touched
    user = rt.caller
    image, framework_label, arch_label = resolve_image(rt, request)
    # `replacing` (a container id): a recreate asks, before it removes that container, whether the new one
    # would be made: checked as if the old one were already gone (its name, its count, its GPU slots)
    # the engine's list, never the live view: a recreate or a cluster restart removed a container in this same
    # worker a moment ago, after the moment the view's first barrier covers
    existing = {r["container"]: r for r in rt.finder.records()
                if not (replacing and r["id"] and replacing.startswith(r["id"]))}  # records carry short ids
    container = names.container_name(request.name, user.uid)
    clash = existing.get(container) or next(  # `mybox` beside `MyBox`: refused (names.same)
        (r for r in existing.values() if r["uid"] == user.uid and names.same(names.split(r["container"])[0],
                                                                             request.name)), None)
    if clash is not None:
        raise Ds01Error(f"you already have a container named {clash['name']!r} ({clash['status']})",
                        hint=f"container-remove {clash['name']}, or choose another name")
    limits = rt.limits(user.login)
    check_container_quota(rt, existing.values(), limits)
    allocator, gpu_request, preview = _gpu_request(rt, allocator, request, exclude=replacing)
    engine = rt.engine
    by_id = is_image_id(image)
    if not by_id:
        check_image(rt, image)  # before a pull
    image_id, image_labels, tags = engine.ensure_image(image, progress=rt.progress)
    if by_id:  # one of its names must be allowed
        check_image(rt, image, tags)
    made_plan = plan(rt, request.name, image, workspace=request.workspace, data=request.data, models=request.models,
                     interface=interface, image_labels=image_labels, framework=framework_label, arch=arch_label)
    made_plan.image_id = image_id
    if dry_run:
        if preview:
            made_plan.assign_gpus(preview)
        return Created(made_plan.record(), made_plan)
    from .workspace_files import make_workspace  # lazy: ds01.workspace_files, 3 ms

    made: list[str] = []

    def make(slots):  # under the allocator lock: only the container itself
        made_plan.assign_gpus(slots)
        return engine.create(made_plan)

    try:
        with signals_interrupt():
            made = make_workspace(made_plan.workspace, user) if made_plan.create_workspace else []
            engine.prepare(made_plan)
            if allocator is None:
                cid = engine.create(made_plan)
            elif request.claim:
                cid = allocator.consume_claim(user.login, _claim_key(request.claim), make, label=container)
            else:
                cid = allocator.allocate(user.login, gpu_request, make, wait=request.wait, progress=rt.progress,
                                         label=container)
            info = rt.api.inspect_container(cid)
            engine.set_up(cid, made_plan, info.get("Image") or "", warn=rt.warn)  # reads the image: outside the lock
            created = Created(record(info), made_plan)
    except BaseException:
        _undo(engine, made_plan, made)
        raise
    if gpu_request is not None and not gpu_request.profile and not gpu_request.full and sys.stderr.isatty():
        _say_placement(rt, allocator, made_plan)
    return created


def _say_placement(rt, allocator, made_plan):
    """On a terminal: which slice the caller got, and that a whole GPU was free, when smallest fit chose."""
    from .gpu.choice import bigger_free  # lazy: ds01.gpu.choice, 4 ms

    if "/largest" in allocator.strategy or not made_plan.gpus:
        return
    snap = allocator.snapshot()
    chosen = [snap.by_id[g["slot"]] for g in made_plan.gpus if g["slot"] in snap.by_id]
    bigger = bigger_free(snap, rt.caller.login, rt.limits(rt.caller.login), chosen)
    if bigger is not None:
        given = ", ".join(f"{s.profile} (slot {s.id})" for s in chosen)
        rt.progress(f"note: you got {given}: the smallest slice that fits, so whole GPUs stay free for those who "
                    f"ask for one; GPU {bigger.gpu} is free now: --full-gpu asks for a whole GPU")


def _undo(engine, made_plan, made):
    """Roll the create back with the client's signals held off; a signal that lands before they are is caught
    and the (idempotent) rollback runs again."""
    while True:
        try:
            with signals_deferred():
                engine.rollback(made_plan)
                for directory in reversed(made):
                    try:
                        os.rmdir(directory)
                    except OSError:
                        pass
            return
        except KeyboardInterrupt:
            continue


INTERRUPTS = ("SIGINT", "SIGTERM", "SIGHUP")  # the signals a client passes on (ds01.client.FORWARDED, SIGWINCH aside)


def _set_handlers(handler):
    """Install `handler` for INTERRUPTS; returns the old ones (none outside the main thread: Python's rule)."""
    import signal  # lazy: signal, 0.8 ms

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {name: signal.signal(getattr(signal, name), handler) for name in INTERRUPTS}


def _restore(saved):
    import signal  # lazy: signal, 0.8 ms

    for name, handler in saved.items():
        signal.signal(getattr(signal, name), handler)


class signals_interrupt:  # noqa: N801 - used as a `with` statement
    """For a create: SIGTERM and SIGHUP (a client's `kill`, passed on by ds01d) interrupt it as SIGINT does, so
    it rolls back instead of dying between Docker's create and the rollback."""

    def __enter__(self):
        def interrupt(_signum, _frame):
            raise KeyboardInterrupt

        self.saved = _set_handlers(interrupt)

    def __exit__(self, *exc):
        _restore(self.saved)


class signals_deferred:  # noqa: N801 - used as a `with` statement
    """For a rollback: the client's further signals wait until it is done (the exception it undoes goes on)."""

    def __enter__(self):
        self.saved = _set_handlers(lambda _signum, _frame: None)

    def __exit__(self, *exc):
        _restore(self.saved)

def _claim_key(claim_id):
    return claim_id if claim_id.startswith("claim:") else "claim:" + claim_id


def check_engine_gpus(rt):
    """NoCapacity when the engine cannot start GPU containers (no NVIDIA hook on its PATH), before any slot is
    held: a GPU handed out there only fails at start. An engine whose PATH cannot be read is given the benefit."""
    from .gpu_engine import TOOLKIT_FIX, gpu_engine  # lazy: ds01.gpu_engine, 2 ms

    if gpu_engine(rt.settings.get("docker_host")).missing:
        raise NoCapacity("the Docker engine cannot give containers GPUs: the NVIDIA container toolkit is not on its "
                         "PATH", hint=f"--cpu-only creates a container without a GPU; an admin fixes the engine "
                                      f"({TOOLKIT_FIX}; ds01-doctor shows it)")


def _gpu_request(rt, allocator, request, exclude=None):
    """(allocator, allocation request, slots a dry run would show) for this create; (None, None, []) for CPU-only."""
    if allocator is None:
        return None, None, []
    from .gpu.choice import Request, choose  # lazy: ds01.gpu.choice, 4 ms

    given = request.gpu_options()
    if not given and not allocator.inventory.slots():
        rt.progress("this host has no GPU ds01 can give out: creating a CPU-only container")
        return None, None, []
    check_engine_gpus(rt)
    if request.claim:
        return allocator, None, []
    wanted = Request(request.num_gpus or 1, request.gpu_profile, request.full_gpu)
    try:  # a quick answer before the account setup; the decision itself is made under the lock
        preview = choose(allocator.snapshot(exclude=exclude), rt.caller.login, rt.limits(rt.caller.login), wanted,
                         allocator.strategy)
    except NoCapacity as exc:
        if request.wait is not None and getattr(exc, "reason", None) in (
                "NO_CAPACITY", "USER_AT_LIMIT", "AGGREGATE_GPU_LIMIT"):
            return allocator, wanted, []
        if not given:
            exc.hint = "--cpu-only creates a container without a GPU; --wait queues for one"
        allocator.log_reject(rt.caller.login, exc, wanted)
        raise
    return allocator, wanted, preview

