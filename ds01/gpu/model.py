"""The inventory's shape, whichever backend filled it: GPUs, MIG devices, processes, and slots.

A *slot* is what the allocator hands out: a whole GPU whose MIG mode is off, or one MIG
device. Slot ids follow DS01 (`"0"`, `"2.3"` = GPU 2, MIG device 3); UUIDs reach Docker.
"""

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Process:
    pid: int
    used_memory: int = 0          # bytes
    container: str | None = None  # simulated inventories may say which container a pid is in
    utilization: int | None = None  # % of the device's SMs it used lately, where the driver reports it


@dataclass
class MigDevice:
    index: int                    # MIG device index on its GPU (the `3` of slot `2.3`)
    uuid: str
    gpu_instance_id: int
    compute_instance_id: int
    profile: str                  # e.g. 3g.20gb
    slices: int                   # compute slices of its GPU instance (the `3` of 3g.20gb)
    memory_total: int             # bytes
    memory_used: int = 0
    utilization: int | None = None
    processes: list[Process] = field(default_factory=list)


@dataclass
class Gpu:
    index: int
    uuid: str
    name: str
    memory_total: int
    memory_used: int = 0
    utilization: int | None = None
    compute_capability: str | None = None
    mig_current: bool = False
    mig_pending: bool = False
    mig_slices: int = 7           # slices of the whole GPU (the weight denominator of its MIG devices)
    mig_devices: list[MigDevice] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    persistence: bool | None = None  # the driver's persistence mode; None where it does not say
    temperature: int | None = None  # °C, where the driver reports it
    power_watts: float | None = None  # the board's draw now, where the driver reports it


@dataclass
class Slot:
    id: str
    uuid: str
    gpu: int
    gpu_uuid: str
    type: str                     # "gpu" or "mig"
    profile: str | None
    weight: float                 # GPU-equivalents
    memory_total: int
    memory_used: int
    utilization: int | None
    processes: list[Process]

    @property
    def is_mig(self) -> bool:
        return self.type == "mig"


@dataclass
class Inventory:
    gpus: list[Gpu]
    source: str                   # "nvml", or the simulated file's path
    driver: str | None = None
    cuda_version: str | None = None   # the CUDA version the driver supports, "12.4"

    def slots(self) -> list[Slot]:
        """Allocatable slots in id order. A GPU in MIG mode with no MIG devices offers none."""
        result: list[Slot] = []
        for gpu in self.gpus:
            if not gpu.mig_current:
                result.append(Slot(str(gpu.index), gpu.uuid, gpu.index, gpu.uuid, "gpu", None, 1.0,
                                   gpu.memory_total, gpu.memory_used, gpu.utilization, gpu.processes))
                continue
            for mig in gpu.mig_devices:
                result.append(Slot(f"{gpu.index}.{mig.index}", mig.uuid, gpu.index, gpu.uuid, "mig", mig.profile,
                                   mig.slices / gpu.mig_slices, mig.memory_total, mig.memory_used,
                                   mig.utilization, mig.processes))
        return result

    def profiles(self) -> list[str]:
        """MIG profiles present, in slot order without repeats."""
        return list(dict.fromkeys(s.profile for s in self.slots() if s.profile))

    def records(self) -> list[dict[str, Any]]:
        """The raw inventory as records: one per GPU, its MIG devices nested."""
        result = []
        for gpu in self.gpus:
            record = asdict(gpu)
            record["mig_mode"] = record.pop("mig_current")
            record["mig_mode_pending"] = record.pop("mig_pending")
            record["source"] = self.source
            result.append(record)
        return result
