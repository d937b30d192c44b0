"""Who holds which slot, read from Docker: the device requests of every container, whoever made it.

Docker is the source of truth. A container holds the slots its device requests name while it
runs, and after it stops for its owner's `gpu_hold_after_stop_h` (a created, never-started one
for `created_container_timeout_m`), unless its slots were released early with `gpu-release`.
A request for `all` GPUs or a count (AIME's default `-g all`) names no particular slots, so such
a container holds them only while it runs; starting it asks for all of them again.
Containers ds01 made record their devices in labels written in the same create call as the
device request, so only other containers (AIME, plain docker, compose) are inspected.
"""

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import clock
from .. import labels as L
from ..clock import iso, parse_docker
from ..containers import ACTIVE as RUNNING_STATES  # holds while running, paused or restarting
from ..containers import record as container_record
from ..errors import NotFound

_HEX_ID = re.compile(r"[0-9a-f]{64}")

if TYPE_CHECKING:
    from ..policy import Policy
    from .model import Slot


@dataclass
class Holding:
    id: str
    container: str
    name: str
    user: str | None
    status: str
    devices: list[str]            # device ids as Docker has them (UUIDs, indices, or "all")
    slots: list[str]              # the slot ids those devices cover
    holds: bool
    why: str                      # running / held until … / hold expired … / released …
    until: str | None = None      # when a stopped container's hold ends (ISO), None = indefinitely


def devices_from_inspect(info: dict[str, Any]) -> list[str]:
    """Device ids a container was given: DeviceRequests, else the nvidia runtime's env, else DS01's labels."""
    host = info.get("HostConfig") or {}
    found = []
    for request in host.get("DeviceRequests") or []:
        capabilities = [c for group in request.get("Capabilities") or [] for c in group]
        if request.get("Driver") != "nvidia" and "gpu" not in capabilities:
            continue
        if request.get("DeviceIDs"):
            found += [str(d) for d in request["DeviceIDs"]]
        elif request.get("Count"):
            count = int(request["Count"])
            found.append("all" if count < 0 else f"count:{count}")
    if not found and host.get("Runtime") == "nvidia":
        for variable in (info.get("Config") or {}).get("Env") or []:
            key, _, value = variable.partition("=")
            if key == "NVIDIA_VISIBLE_DEVICES" and value not in ("", "void", "none"):
                found += [v.strip() for v in value.split(",") if v.strip()]
    if not found:
        found = L.gpu_uuids((info.get("Config") or {}).get("Labels") or {})
    return found


def devices_from_labels(labels: dict[str, str]) -> list[str] | None:
    """For containers ds01 made: the devices its labels record, or None when the labels cannot say."""
    if labels.get(L.MANAGED) != "true":
        return None
    if labels.get(L.GPU_UUIDS):
        return L.split_list(labels[L.GPU_UUIDS])
    if labels.get(L.GPUS) == "none":
        return []
    return None


def read_devices(api: Any, entry: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
    """(device ids, inspect result or None) for one `ps` entry: the one reading of a container's GPUs that
    gpu-status and container-list share. A container ds01 made: its labels; any other: inspected."""
    devices = devices_from_labels(entry.get("Labels") or {})
    if devices is not None:
        return devices, None
    info = api.inspect_container(entry["Id"])
    return devices_from_inspect(info), info


def uuids_for(devices: list[str], inventory_slots: "list[Slot]") -> list[str]:
    """The UUIDs of the slots `devices` cover (what gpu-status counts); the devices as given when the
    inventory knows none of them."""
    by_id = {s.id: s.uuid for s in inventory_slots}
    covered = slots_for(devices, inventory_slots)
    return [by_id[s] for s in covered] if covered else devices


def slots_for(devices: list[str], inventory_slots: "list[Slot]") -> list[str]:
    """Slot ids covered by device ids: UUIDs, a GPU's UUID or index (all its slots), `N:M`, `all`, `count:N`."""
    by_uuid = {s.uuid: [s.id] for s in inventory_slots}
    by_gpu: dict[str, list[Any]] = {}
    for slot in inventory_slots:
        by_gpu.setdefault(str(slot.gpu), []).append(slot.id)
        by_uuid.setdefault(slot.gpu_uuid, [])
        if slot.gpu_uuid != slot.uuid:
            by_uuid[slot.gpu_uuid].append(slot.id)
    covered = []
    for device in devices:
        if device == "all":
            covered += [s.id for s in inventory_slots]
        elif device.startswith("count:"):
            for gpu in sorted(by_gpu, key=int)[:int(device[6:])]:
                covered += by_gpu[gpu]
        elif device in by_uuid:
            covered += by_uuid[device]
        elif device in by_gpu:
            covered += by_gpu[device]
        elif re.fullmatch(r"\d+:\d+", device):
            covered.append(device.replace(":", "."))
    return list(dict.fromkeys(c for c in covered if c in {s.id for s in inventory_slots}))


def read(api: Any, policy: "Policy", inventory_slots: "list[Slot]", released: dict[str, Any] | None = None,
         now: datetime.datetime | None = None) -> list[Holding]:
    """Every container that names a GPU, with whether it holds its slots now."""
    now = now or clock.now()
    released = released or {}
    result = []
    for entry in api.containers(all=True):
        status = entry.get("State") or ""
        try:
            devices, info = read_devices(api, entry)
            if devices and info is None and status not in RUNNING_STATES:
                info = api.inspect_container(entry["Id"])
        except NotFound:  # removed since the listing: it holds nothing
            continue
        if not devices:
            continue
        rec = container_record(entry)
        holding = Holding(id=entry["Id"], container=rec["container"], name=rec["name"], user=rec["user"],
                          status=status, devices=devices, slots=slots_for(devices, inventory_slots),
                          holds=True, why="running")
        _decide_hold(holding, info, policy, released.get(entry["Id"]), now)
        result.append(holding)
    return result


def asks_for_any(devices: list[str]) -> bool:
    """True for requests that name no particular GPU (`all`, `count:N`): the runtime picks at each start."""
    return any(d == "all" or d.startswith("count:") for d in devices)


def _decide_hold(holding: Holding, info: dict[str, Any] | None, policy: "Policy", released: dict[str, Any] | None,
                 now: datetime.datetime) -> None:
    if holding.status in RUNNING_STATES:
        return
    if asks_for_any(holding.devices):  # AIME's default `-g all`: never given particular slots to keep
        holding.holds = False
        holding.why = f"{holding.status}; asks for {', '.join(holding.devices)} at each start, holds none meanwhile"
        return
    if released:
        holding.holds, holding.why = False, f"released {released.get('released_at', '')}".strip()
        return
    limits = policy.resolve(holding.user) if holding.user else policy.resolve("")
    state = (info or {}).get("State") or {}
    finished = parse_docker(state.get("FinishedAt"))
    if finished is None:  # created, never started
        since = parse_docker((info or {}).get("Created")) or now
        hold = limits.seconds("created_container_timeout_m")
        what = "created, not started"
    else:
        since = finished
        hold = limits.seconds("gpu_hold_after_stop_h")
        what = "stopped"
    if hold is None:
        holding.why = f"{what}; holds indefinitely"
        return
    until = since + datetime.timedelta(seconds=hold)
    holding.until = iso(until)
    if now < until:
        holding.why = f"{what}; holds until {holding.until}"
    else:
        holding.holds, holding.why = False, f"{what}; hold expired {holding.until}"


def in_a_container(pid: int, container_ids: Iterable[str]) -> bool:
    """True when a host pid runs in a container: one listed, or any docker/containerd cgroup (/proc/PID/cgroup)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return False
    if any(found in container_ids for found in _HEX_ID.findall(text)):
        return True
    return "/docker/" in text or "docker-" in text or "containerd" in text
