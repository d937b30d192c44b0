"""The simulated backend: the facts NVML would report, read from a YAML file.

Used where there is no GPU (tests, `make demo`, trying a policy). Malformed files are
errors naming file and line, like the policy.
"""

from typing import Any

from ..schema import Bool, ListOf, Number, Opaque, PolicyError, Section, Size, Text, load_yaml, read_config, validate
from .mig_layout import profile_match
from .model import Gpu, Inventory, MigDevice, Process

PROCESS = Section({
    "pid": Number(integer=True, minimum=1, doc="host pid"),
    "used_memory": Size(nullable=True, doc="GPU memory the process uses"),
    "container": Text(nullable=True, doc="name or id of the container the pid runs in (simulation only)"),
    "utilization": Number(nullable=True, maximum=100, doc="% of the device's SMs the process used lately"),
})
MIG = Section({
    "index": Number(integer=True, doc="MIG device index on its GPU"),
    "uuid": Text(doc="MIG-…"),
    "gpu_instance_id": Number(integer=True),
    "compute_instance_id": Number(integer=True),
    "profile": Text(doc="e.g. 3g.20gb"),
    "slices": Number(integer=True, minimum=1, doc="compute slices (default: from the profile)"),
    "memory_total": Size(doc="default: from the profile"),
    "memory_used": Size(nullable=True),
    "utilization": Number(nullable=True, maximum=100),
    "processes": ListOf(PROCESS),
})
GPU = Section({
    "index": Number(integer=True),
    "uuid": Text(doc="GPU-…"),
    "name": Text(),
    "memory_total": Size(),
    "memory_used": Size(nullable=True),
    "utilization": Number(nullable=True, maximum=100),
    "compute_capability": Opaque(doc="e.g. 8.0"),
    "mig_mode": Bool(doc="MIG mode now"),
    "mig_mode_pending": Bool(doc="MIG mode after the next GPU reset"),
    "persistence_mode": Bool(doc="the driver's persistence mode (unknown when absent)"),
    "temperature": Number(nullable=True, integer=True, doc="°C (unknown when absent)"),
    "power_watts": Number(nullable=True, doc="the board's power draw (unknown when absent)"),
    "mig_slices": Number(integer=True, minimum=1, doc="slices of the whole GPU (7 on A100/H100)"),
    "mig_devices": ListOf(MIG),
    "processes": ListOf(PROCESS),
})
TOP = Section({"driver": Opaque(doc="driver version shown in records"),
               "cuda_version": Opaque(doc="CUDA version the driver supports, e.g. 12.4"), "gpus": ListOf(GPU)})


def load(path: str) -> Inventory:
    text = read_config(path, "simulated GPU inventory",
                       hint="DS01_GPU_INVENTORY or gpu.inventory in the policy names this file")
    return parse(text, path)


def parse(text: str, path: str = "<string>") -> Inventory:
    raw = load_yaml(path, text)
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}:1: a GPU inventory is a mapping with a 'gpus' list")
    data = validate(raw, TOP, path)
    raw_gpus = raw.get("gpus") or []
    seen_index: dict[int, int] = {}
    seen_uuid: dict[str, int] = {}

    def need(item: Any, key: str, where: str) -> None:
        if key not in item:
            raise PolicyError(f"{path}:{getattr(item, 'line', 1)}: {where}: '{key}' is required")

    def unique_uuid(uuid: Any, prefix: str, line: int, where: str) -> None:
        if not uuid.startswith(prefix):
            raise PolicyError(f"{path}:{line}: {where}.uuid: expected a UUID starting with {prefix}, got {uuid!r}")
        if uuid in seen_uuid:
            raise PolicyError(f"{path}:{line}: {where}.uuid: {uuid} already used at line {seen_uuid[uuid]}")
        seen_uuid[uuid] = line

    gpus = []
    for i, (item, raw_item) in enumerate(zip(data.get("gpus") or [], raw_gpus)):
        where, line = f"gpus[{i}]", getattr(raw_item, "line", 1)
        for key in ("index", "uuid", "name", "memory_total"):
            need(raw_item, key, where)
        if item["index"] in seen_index:
            raise PolicyError(f"{path}:{line}: {where}.index: GPU {item['index']} already listed at line "
                              f"{seen_index[item['index']]}")
        seen_index[item["index"]] = line
        unique_uuid(item["uuid"], "GPU-", line, where)
        mig_mode = item.get("mig_mode", False)
        total_slices = item.get("mig_slices", 7)
        migs, used_slices, mig_indexes = [], 0, set()
        for j, (mig, raw_mig) in enumerate(zip(item.get("mig_devices") or [], raw_item.get("mig_devices") or [])):
            mwhere, mline = f"{where}.mig_devices[{j}]", getattr(raw_mig, "line", line)
            if not mig_mode:
                raise PolicyError(f"{path}:{mline}: {mwhere}: MIG devices on a GPU whose mig_mode is not true")
            for key in ("index", "uuid", "profile", "gpu_instance_id", "compute_instance_id"):
                need(raw_mig, key, mwhere)
            if mig["index"] in mig_indexes:
                raise PolicyError(f"{path}:{mline}: {mwhere}.index: MIG device {mig['index']} listed twice")
            mig_indexes.add(mig["index"])
            unique_uuid(mig["uuid"], "MIG-", mline, mwhere)
            match = profile_match(mig["profile"])
            if not match or match.group(3) is None:  # a device's profile names its memory
                raise PolicyError(f"{path}:{mline}: {mwhere}.profile: expected a MIG profile like 3g.20gb, "
                                  f"got {mig['profile']!r}")
            slices = mig.get("slices", int(match.group(2)))
            used_slices += slices
            if used_slices > total_slices:
                raise PolicyError(f"{path}:{mline}: {mwhere}: MIG devices use {used_slices} slices; "
                                  f"GPU {item['index']} has {total_slices}")
            migs.append(MigDevice(
                index=mig["index"], uuid=mig["uuid"], gpu_instance_id=mig["gpu_instance_id"],
                compute_instance_id=mig["compute_instance_id"], profile=mig["profile"], slices=slices,
                memory_total=mig.get("memory_total", int(match.group(3)) * 1024**3),
                memory_used=mig.get("memory_used") or 0, utilization=mig.get("utilization"),
                processes=_processes(mig.get("processes"))))
        capability = item.get("compute_capability")
        gpus.append(Gpu(
            index=item["index"], uuid=item["uuid"], name=item["name"], memory_total=item["memory_total"],
            memory_used=item.get("memory_used") or 0, utilization=item.get("utilization"),
            compute_capability=None if capability is None else str(capability), mig_current=mig_mode,
            mig_pending=item.get("mig_mode_pending", mig_mode), mig_slices=total_slices,
            mig_devices=sorted(migs, key=lambda m: m.index), processes=_processes(item.get("processes")),
            persistence=item.get("persistence_mode"), temperature=item.get("temperature"),
            power_watts=item.get("power_watts")))
    gpus.sort(key=lambda g: g.index)
    driver, cuda = data.get("driver"), data.get("cuda_version")
    return Inventory(gpus=gpus, source=path, driver=None if driver is None else str(driver),
                     cuda_version=None if cuda is None else str(cuda))


def _processes(items: Any) -> list[Process]:
    return [Process(pid=p["pid"], used_memory=p.get("used_memory") or 0, container=p.get("container"),
                    utilization=p.get("utilization"))
            for p in items or []]
