"""The NVML backend: the inventory read through nvidia-ml-py, once per process, no nvidia-smi.

MIG weights come from the driver (a MIG device's GPU-instance slices over the largest
GPU-instance profile of its GPU), not from a hard-coded 7.
"""

import math
import re
from collections.abc import Callable
from typing import Any

from ..errors import Ds01Error
from .model import Gpu, Inventory, MigDevice, Process

PROFILE_IN_NAME = re.compile(r"(\d+c\.)?\d+g\.\d+gb(\+\w+)?")
_INITIALISED = False


class NvmlUnavailable(Ds01Error):
    """No NVIDIA driver here (or it cannot be used): the host has no GPUs ds01 can give out."""


def _nvml() -> Any:
    global _INITIALISED
    import pynvml

    if not _INITIALISED:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(f"NVML is not available: {exc}",
                                  hint="no NVIDIA driver? Set DS01_GPU_INVENTORY to simulate GPUs") from None
        _INITIALISED = True
    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional(fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """Facts some GPUs or drivers do not report (utilisation under MIG, for one) are None, not errors."""
    import pynvml

    try:
        return fn(*args)
    except pynvml.NVMLError:
        return default


def _processes(nv: Any, handle: Any) -> list[Process]:
    found = _optional(nv.nvmlDeviceGetComputeRunningProcesses, handle, default=[]) or []
    if not found:
        return []
    # per-process SM use of the last samples (the newest per pid); drivers without it (most MIG) say nothing
    samples = _optional(nv.nvmlDeviceGetProcessUtilization, handle, 0, default=[]) or []
    latest: dict[int, Any] = {}
    for sample in samples:
        if int(sample.pid) not in latest or int(sample.timeStamp) > int(latest[int(sample.pid)].timeStamp):
            latest[int(sample.pid)] = sample
    return [Process(pid=int(p.pid), used_memory=int(p.usedGpuMemory or 0),
                    utilization=int(latest[int(p.pid)].smUtil) if int(p.pid) in latest else None) for p in found]


def _total_slices(nv: Any, handle: Any) -> int:
    """Slices of the whole GPU: the slice count of its largest GPU-instance profile (7 on A100/H100)."""
    best = 0
    for profile in range(nv.NVML_GPU_INSTANCE_PROFILE_COUNT):
        info = _optional(nv.nvmlDeviceGetGpuInstanceProfileInfo, handle, profile)
        if info is not None:
            best = max(best, int(info.sliceCount))
    return best or 7


def _profile(nv: Any, mig_handle: Any, attributes: Any) -> str:
    match = PROFILE_IN_NAME.search(_text(_optional(nv.nvmlDeviceGetName, mig_handle, default="")))
    if match:
        return match.group(0)
    gi, ci = int(attributes.gpuInstanceSliceCount), int(attributes.computeInstanceSliceCount)
    memory = math.ceil(int(attributes.memorySizeMB) / 1024)
    return f"{gi}g.{memory}gb" if ci == gi else f"{ci}c.{gi}g.{memory}gb"


def _mig_devices(nv: Any, handle: Any) -> list[MigDevice]:
    devices = []
    for index in range(nv.nvmlDeviceGetMaxMigDeviceCount(handle)):
        try:
            mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, index)
        except nv.NVMLError_NotFound:
            continue  # an unused MIG index
        attributes = nv.nvmlDeviceGetAttributes(mig)
        memory = _optional(nv.nvmlDeviceGetMemoryInfo, mig)
        utilization = _optional(nv.nvmlDeviceGetUtilizationRates, mig)
        devices.append(MigDevice(
            index=index, uuid=_text(nv.nvmlDeviceGetUUID(mig)),
            gpu_instance_id=int(nv.nvmlDeviceGetGpuInstanceId(mig)),
            compute_instance_id=int(nv.nvmlDeviceGetComputeInstanceId(mig)),
            profile=_profile(nv, mig, attributes), slices=int(attributes.gpuInstanceSliceCount),
            memory_total=int(memory.total) if memory else int(attributes.memorySizeMB) * 1024**2,
            memory_used=int(memory.used) if memory else 0,
            utilization=int(utilization.gpu) if utilization else None,
            processes=_processes(nv, mig)))
    return devices


def load() -> Inventory:
    nv = _nvml()
    gpus = []
    for index in range(nv.nvmlDeviceGetCount()):
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        memory = nv.nvmlDeviceGetMemoryInfo(handle)
        utilization = _optional(nv.nvmlDeviceGetUtilizationRates, handle)
        capability = _optional(nv.nvmlDeviceGetCudaComputeCapability, handle)
        mig_current, mig_pending = _optional(nv.nvmlDeviceGetMigMode, handle, default=(0, 0))
        mig_on = mig_current == nv.NVML_DEVICE_MIG_ENABLE
        persistence = _optional(nv.nvmlDeviceGetPersistenceMode, handle)
        temperature = _optional(nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU)
        power = _optional(nv.nvmlDeviceGetPowerUsage, handle)  # milliwatts
        gpus.append(Gpu(
            index=index, uuid=_text(nv.nvmlDeviceGetUUID(handle)), name=_text(nv.nvmlDeviceGetName(handle)),
            memory_total=int(memory.total), memory_used=int(memory.used),
            utilization=int(utilization.gpu) if utilization else None,
            compute_capability=f"{capability[0]}.{capability[1]}" if capability else None,
            mig_current=mig_on, mig_pending=mig_pending == nv.NVML_DEVICE_MIG_ENABLE,
            mig_slices=_total_slices(nv, handle) if mig_on else 7,
            mig_devices=_mig_devices(nv, handle) if mig_on else [],
            processes=[] if mig_on else _processes(nv, handle),
            persistence=None if persistence is None else persistence == nv.NVML_FEATURE_ENABLED,
            temperature=None if temperature is None else int(temperature),
            power_watts=None if power is None else int(power) / 1000))
    driver = _optional(nv.nvmlSystemGetDriverVersion)
    cuda = _optional(nv.nvmlSystemGetCudaDriverVersion)  # 12040 for CUDA 12.4
    return Inventory(gpus=gpus, source="nvml", driver=None if driver is None else _text(driver),
                     cuda_version=None if cuda is None else f"{int(cuda) // 1000}.{int(cuda) % 1000 // 10}")
