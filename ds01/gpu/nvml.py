"""The NVML backend: the inventory read through nvidia-ml-py, once per process, no nvidia-smi; and
MIG layouts changed through NVML's MIG calls (MigControl, for mig-configure).

MIG weights come from the driver (a MIG device's GPU-instance slices over the largest
GPU-instance profile of its GPU), not from a hard-coded 7.
"""

import ctypes
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pynvml

from ..errors import Ds01Error
from .model import Gpu, Inventory, MigDevice, Process

PROFILE_IN_NAME = re.compile(r"(\d+c\.)?\d+g\.\d+gb(\+\w+)?")
_INITIALISED = False


class NvmlUnavailable(Ds01Error):
    """No NVIDIA driver here (or it cannot be used): the host has no GPUs ds01 can give out."""


def _nvml() -> Any:
    global _INITIALISED

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


# ---------------------------------------------------------------- changing MIG layouts (root)

@dataclass(frozen=True)
class InstanceProfile:
    """A GPU-instance profile as this GPU's driver offers it."""

    id: int                       # the driver's profile id (nvidia-smi mig -lgip's ID)
    name: str                     # 3g.20gb
    slices: int                   # compute slices
    memory_mb: int
    count: int                    # how many instances of it the whole GPU can hold
    placements: tuple[int, ...]   # memory-slice starts the driver allows
    size: int                     # memory slices each placement spans


@dataclass(frozen=True)
class Instance:
    """A GPU instance that exists now, with its compute instances."""

    handle: Any
    id: int
    profile: InstanceProfile
    start: int
    compute: tuple[Any, ...]


class DriverRefused(Ds01Error):
    """The NVIDIA driver said no; the message says to what, and the driver's words."""


class MigControl:
    """One GPU's MIG layout through NVML's MIG calls: its mode, GPU instances and their compute instances.
    Each change is made the way nvidia-smi mig makes it, one driver call at a time; a refusal is a DriverRefused."""

    def __init__(self, index: int) -> None:
        self.nv = _nvml()
        self.index = index
        self.handle = self.nv.nvmlDeviceGetHandleByIndex(index)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        nv = self.nv
        try:
            return fn(*args)
        except nv.NVMLError as exc:
            said = {nv.NVML_ERROR_IN_USE: "in use (a process or an instance still uses it)",
                    nv.NVML_ERROR_INSUFFICIENT_RESOURCES: "not enough free room on the GPU",
                    nv.NVML_ERROR_NO_PERMISSION: "only root may change MIG layouts",
                    nv.NVML_ERROR_NOT_SUPPORTED: "not supported here (is MIG mode on? does the GPU have MIG?)",
                    nv.NVML_ERROR_INVALID_ARGUMENT: "not a valid request for this GPU"}.get(exc.value, str(exc))
            raise DriverRefused(f"GPU {self.index}: the driver refused to {what}: {said}") from None

    def mode(self) -> tuple[bool, bool]:
        """(MIG mode now, MIG mode after the next GPU reset)."""
        current, pending = self.nv.nvmlDeviceGetMigMode(self.handle)
        return current == self.nv.NVML_DEVICE_MIG_ENABLE, pending == self.nv.NVML_DEVICE_MIG_ENABLE

    def set_mode(self, on: bool) -> bool:
        """Switch MIG mode; True when it is in effect now, False when it waits for a GPU reset."""
        nv = self.nv
        status = self._call(f"{'enable' if on else 'disable'} MIG mode", nv.nvmlDeviceSetMigMode, self.handle,
                            nv.NVML_DEVICE_MIG_ENABLE if on else nv.NVML_DEVICE_MIG_DISABLE)
        return status == nv.NVML_SUCCESS and self.mode()[0] == on

    def profiles(self) -> list[InstanceProfile]:
        """The GPU-instance profiles this GPU offers (MIG mode must be on), smallest first."""
        nv, found = self.nv, {}
        for number in range(nv.NVML_GPU_INSTANCE_PROFILE_COUNT):
            info = _optional(nv.nvmlDeviceGetGpuInstanceProfileInfo, self.handle, number)
            if info is None or not int(info.instanceCount) or int(info.id) in found:
                continue
            count = ctypes.c_uint(0)
            self._call("list placements", nv.nvmlDeviceGetGpuInstancePossiblePlacements, self.handle, info.id,
                       None, ctypes.pointer(count))
            places = (nv.c_nvmlGpuInstancePlacement_t * max(count.value, 1))()
            self._call("list placements", nv.nvmlDeviceGetGpuInstancePossiblePlacements, self.handle, info.id,
                       places, ctypes.pointer(count))
            starts = tuple(int(places[i].start) for i in range(count.value))
            size = int(places[0].size) if count.value else 0
            name = _text(getattr(info, "name", b"")).removeprefix("MIG ").strip()
            memory = int(info.memorySizeMB)
            found[int(info.id)] = InstanceProfile(
                id=int(info.id), name=name or f"{int(info.sliceCount)}g.{math.ceil(memory / 1024)}gb",
                slices=int(info.sliceCount), memory_mb=memory, count=int(info.instanceCount), placements=starts,
                size=size)
        return sorted(found.values(), key=lambda p: (p.slices, p.memory_mb, p.name))

    def _compute_profiles(self, gpu_instance: Any) -> list[Any]:
        nv, result = self.nv, []
        for number in range(nv.NVML_COMPUTE_INSTANCE_PROFILE_COUNT):
            info = _optional(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo, gpu_instance, number,
                             nv.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
            if info is not None and int(info.instanceCount):
                result.append(info)
        return result

    def instances(self, profiles: list[InstanceProfile] | None = None) -> list[Instance]:
        """Every GPU instance now, compute instances included (also those no MIG device shows: a GPU instance
        left without a compute instance by an interrupted change)."""
        nv, result = self.nv, []
        for profile in profiles if profiles is not None else self.profiles():
            handles = (nv.c_nvmlGpuInstance_t * profile.count)()
            count = ctypes.c_uint(0)
            self._call("list GPU instances", nv.nvmlDeviceGetGpuInstances, self.handle, profile.id, handles,
                       ctypes.pointer(count))
            for i in range(count.value):
                info = self._call("describe a GPU instance", nv.nvmlGpuInstanceGetInfo, handles[i])
                compute: list[Any] = []
                for ci_profile in self._compute_profiles(handles[i]):
                    cis = (nv.c_nvmlComputeInstance_t * int(ci_profile.instanceCount))()
                    ci_count = ctypes.c_uint(0)
                    self._call("list compute instances", nv.nvmlGpuInstanceGetComputeInstances, handles[i],
                               ci_profile.id, cis, ctypes.pointer(ci_count))
                    compute += [cis[j] for j in range(ci_count.value)]
                result.append(Instance(handle=handles[i], id=int(info.id), profile=profile,
                                       start=int(info.placement.start), compute=tuple(compute)))
        return sorted(result, key=lambda instance: instance.start)

    def destroy(self, instance: Instance) -> None:
        """Its compute instances, then the GPU instance (the driver refuses while a process uses it)."""
        what = f"destroy {instance.profile.name} (GPU instance {instance.id})"
        for compute in instance.compute:
            self._call(what, self.nv.nvmlComputeInstanceDestroy, compute)
        self._call(what, self.nv.nvmlGpuInstanceDestroy, instance.handle)

    def create(self, profile: InstanceProfile, start: int) -> None:
        """A GPU instance of `profile` at memory slice `start`, and one compute instance spanning it (what
        nvidia-smi mig -cgi P -C makes): one MIG device. A compute instance that fails takes its GPU instance back."""
        nv = self.nv
        what = f"create {profile.name} at slice {start}"
        placement = nv.c_nvmlGpuInstancePlacement_t(start, profile.size)
        gpu_instance = self._call(what, nv.nvmlDeviceCreateGpuInstanceWithPlacement, self.handle, profile.id,
                                  ctypes.pointer(placement))
        try:
            whole = [p for p in self._compute_profiles(gpu_instance) if int(p.sliceCount) == profile.slices]
            if not whole:
                raise DriverRefused(f"GPU {self.index}: {profile.name} offers no compute instance spanning it")
            self._call(what, nv.nvmlGpuInstanceCreateComputeInstance, gpu_instance, whole[0].id)
        except DriverRefused:
            _optional(nv.nvmlGpuInstanceDestroy, gpu_instance)
            raise
