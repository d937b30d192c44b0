"""A stand-in for the NVIDIA driver behind pynvml, built from a simulated inventory.

Only the driver's answers are fake: ds01's NVML backend runs unchanged against pynvml's own
module, whose functions are substituted here (the brief: test NVML by substituting pynvml).
It also carries out MIG changes (mode, GPU and compute instances) and refuses what a real
driver refuses: a busy GPU or instance, a placement that overlaps, a profile that does not fit,
a mode change while instances exist. GPU-instance profiles follow the A100's table.
"""

import ctypes
import itertools
import uuid as uuidlib
from dataclasses import dataclass, field
from types import SimpleNamespace

import pynvml

from ds01.gpu.model import MigDevice

GIB = 1024**3


@dataclass
class FakeProfile:
    number: int        # NVML_GPU_INSTANCE_PROFILE_* (what GetGpuInstanceProfileInfo takes)
    id: int            # the driver's profile id (what Create takes)
    name: str
    slices: int
    memory_mb: int
    count: int
    size: int          # memory slices of a placement
    starts: tuple


@dataclass
class FakeComputeInstance:
    id: int
    slices: int
    device: MigDevice


@dataclass
class FakeGpuInstance:
    id: int
    profile: FakeProfile
    start: int
    compute: list = field(default_factory=list)

    def span(self):
        return set(range(self.start, self.start + self.profile.size))


def a100_profiles(gpu):
    """The A100's GPU-instance profiles, memory scaled to this GPU (40 GB: 1g.5gb ... 7g.40gb)."""
    unit = 5 if gpu.memory_total <= 48 * GIB else 10
    mb = {1: unit * 973, 2: unit * 1971, 4: unit * 3994, 8: unit * 8038}
    table = [
        (pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE, 19, f"1g.{unit}gb", 1, mb[1], 7, 1, tuple(range(7))),
        (pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1, 20, f"1g.{unit}gb+me", 1, mb[1], 1, 1, tuple(range(7))),
        (pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2, 15, f"1g.{2 * unit}gb", 1, mb[2], 4, 2, (0, 2, 4, 6)),
        (pynvml.NVML_GPU_INSTANCE_PROFILE_2_SLICE, 14, f"2g.{2 * unit}gb", 2, mb[2], 3, 2, (0, 2, 4)),
        (pynvml.NVML_GPU_INSTANCE_PROFILE_3_SLICE, 9, f"3g.{4 * unit}gb", 3, mb[4], 2, 4, (0, 4)),
        (pynvml.NVML_GPU_INSTANCE_PROFILE_4_SLICE, 5, f"4g.{4 * unit}gb", 4, mb[4], 1, 4, (0,)),
        (pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE, 0, f"7g.{8 * unit}gb", 7, mb[8], 1, 8, (0,)),
    ]
    return [FakeProfile(*row) for row in table if row[3] <= gpu.mig_slices]


COMPUTE_PROFILES = {getattr(pynvml, f"NVML_COMPUTE_INSTANCE_PROFILE_{n}_SLICE"): n for n in (1, 2, 3, 4, 7)}


class FakeDriver:
    def __init__(self, inventory, names_carry_profile=True, reset_required=False):
        """`reset_required`: a MIG mode change waits for a GPU reset (`reset`), as where the driver cannot
        reset the GPU itself."""
        self.inventory = inventory
        self.names_carry_profile = names_carry_profile
        self.reset_required = reset_required
        self.calls = []  # the changes asked of the driver, in order, refused ones included
        self.handles = {}  # address -> the GPU or compute instance a ctypes handle stands for
        self.addresses = itertools.count(0x1000)
        self.made = itertools.count(1)
        self.instances = {gpu.index: self._instances_of(gpu) for gpu in inventory.gpus}
        self.fail_after = None  # a driver fault: after this many GPU-instance creates the next one fails (once)

    def install(self, monkeypatch):
        from ds01.gpu import nvml

        monkeypatch.setattr(nvml, "_INITIALISED", False)
        for name in dir(self):
            if name.startswith("nvml"):
                monkeypatch.setattr(pynvml, name, getattr(self, name))

    # -- handles are ("gpu", gpu) or ("mig", gpu, mig)

    @staticmethod
    def _error(code):
        return pynvml.NVMLError(code)

    def nvmlInit(self):
        return None

    def nvmlSystemGetDriverVersion(self):
        return self.inventory.driver

    def nvmlSystemGetCudaDriverVersion(self):
        if self.inventory.cuda_version is None:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        major, minor = self.inventory.cuda_version.split(".")
        return int(major) * 1000 + int(minor) * 10

    def nvmlDeviceGetCount(self):
        return len(self.inventory.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", self.inventory.gpus[index])

    def nvmlDeviceGetUUID(self, handle):
        return handle[-1].uuid

    def nvmlDeviceGetName(self, handle):
        if handle[0] == "mig":
            return f"{handle[1].name} MIG {handle[2].profile}" if self.names_carry_profile else handle[1].name
        return handle[1].name

    def nvmlDeviceGetMemoryInfo(self, handle):
        device = handle[-1]
        return SimpleNamespace(total=device.memory_total, used=device.memory_used,
                               free=device.memory_total - device.memory_used)

    def nvmlDeviceGetUtilizationRates(self, handle):
        if handle[-1].utilization is None:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=handle[-1].utilization, memory=0)

    def nvmlDeviceGetCudaComputeCapability(self, handle):
        major, minor = (handle[1].compute_capability or "0.0").split(".")
        return int(major), int(minor)

    def nvmlDeviceGetPersistenceMode(self, handle):
        if handle[1].persistence is None:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return pynvml.NVML_FEATURE_ENABLED if handle[1].persistence else pynvml.NVML_FEATURE_DISABLED

    def nvmlDeviceGetTemperature(self, handle, sensor):
        if handle[1].temperature is None or sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return handle[1].temperature

    def nvmlDeviceGetPowerUsage(self, handle):
        if handle[1].power_watts is None:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return int(handle[1].power_watts * 1000)

    def nvmlDeviceGetMigMode(self, handle):
        gpu = handle[1]
        return int(gpu.mig_current), int(gpu.mig_pending)

    def nvmlDeviceGetMaxMigDeviceCount(self, handle):
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle, index):
        for mig in handle[1].mig_devices:
            if mig.index == index:
                return ("mig", handle[1], mig)
        raise self._error(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetGpuInstanceId(self, handle):
        return handle[2].gpu_instance_id

    def nvmlDeviceGetComputeInstanceId(self, handle):
        return handle[2].compute_instance_id

    def nvmlDeviceGetAttributes(self, handle):
        mig = handle[2]
        return SimpleNamespace(gpuInstanceSliceCount=mig.slices, computeInstanceSliceCount=mig.slices,
                               memorySizeMB=mig.memory_total // 1024**2, multiprocessorCount=14 * mig.slices)

    def nvmlDeviceGetGpuInstanceProfileInfo(self, handle, profile, version=2):
        gpu = handle[1]
        if not gpu.mig_current:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        for p in a100_profiles(gpu):
            if p.number == profile:
                return SimpleNamespace(id=p.id, sliceCount=p.slices, instanceCount=p.count, memorySizeMB=p.memory_mb,
                                       name=f"MIG {p.name}".encode())
        raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=p.pid, usedGpuMemory=p.used_memory) for p in handle[-1].processes]

    def nvmlDeviceGetProcessUtilization(self, handle, last_seen):
        samples = [SimpleNamespace(pid=p.pid, timeStamp=1_000_000 + i, smUtil=p.utilization, memUtil=0, encUtil=0,
                                   decUtil=0)
                   for i, p in enumerate(handle[-1].processes) if p.utilization is not None]
        if not samples:  # what the driver says with no sample since last_seen
            raise self._error(pynvml.NVML_ERROR_NOT_FOUND)
        return samples

    # -- MIG changes. GPU and compute instance handles are ctypes pointers, as the real ones are, so that
    # ds01 can read them out of the arrays the listing calls fill.

    def _instances_of(self, gpu):
        """The inventory's MIG devices as GPU instances (one per gpu_instance_id), placed where they fit."""
        profiles = a100_profiles(gpu)
        groups = {}
        for device in gpu.mig_devices:
            groups.setdefault(device.gpu_instance_id, []).append(device)
        result, used = [], set()
        for gi_id, devices in sorted(groups.items(), key=lambda item: -item[1][0].slices):
            wanted = devices[0]
            profile = next((p for p in profiles if p.name == wanted.profile.split("c.", 1)[-1]), None) or next(
                p for p in profiles if p.slices == wanted.slices)
            start = next((s for s in profile.starts if not used & set(range(s, s + profile.size))), profile.starts[0])
            used |= set(range(start, start + profile.size))
            instance = FakeGpuInstance(gi_id, profile, start)
            instance.compute = [FakeComputeInstance(d.compute_instance_id, d.slices, d) for d in devices]
            result.append(instance)
        return result

    def _handle(self, kind, thing):
        address = next(self.addresses)
        self.handles[address] = thing
        return ctypes.cast(ctypes.c_void_p(address), kind)

    def _thing(self, handle):
        thing = self.handles.get(ctypes.cast(handle, ctypes.c_void_p).value)
        if thing is None:
            raise self._error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return thing

    def _gpu_of(self, instance):
        for gpu in self.inventory.gpus:
            if instance in self.instances[gpu.index]:
                return gpu
        raise self._error(pynvml.NVML_ERROR_INVALID_ARGUMENT)  # a destroyed instance's stale handle

    def _sync(self, gpu):
        """The MIG devices the driver enumerates now: one per compute instance, in placement order."""
        devices = [ci.device for gi in sorted(self.instances[gpu.index], key=lambda g: g.start) for ci in gi.compute]
        for index, device in enumerate(devices):
            device.index = index
        gpu.mig_devices = devices

    @staticmethod
    def _fill(array, count_ref, items):
        if array is not None:
            for i, item in enumerate(items):
                array[i] = item
        count_ref.contents.value = len(items)

    def _busy(self, gpu):
        return gpu.processes or any(d.processes for d in gpu.mig_devices)

    def reset(self, index):
        """A GPU reset (nvidia-smi -r): a pending MIG mode takes effect."""
        gpu = self.inventory.gpus[index]
        gpu.mig_current = gpu.mig_pending
        self.instances[index] = []
        self._sync(gpu)

    def nvmlDeviceSetMigMode(self, handle, mode):
        gpu, on = handle[1], mode == pynvml.NVML_DEVICE_MIG_ENABLE
        self.calls.append(("mig_mode", gpu.index, on))
        if on == gpu.mig_current:  # nothing to do, or a pending change called off
            gpu.mig_pending = on
            return pynvml.NVML_SUCCESS
        if self._busy(gpu) or self.instances[gpu.index]:
            raise self._error(pynvml.NVML_ERROR_IN_USE)
        gpu.mig_pending = on
        if self.reset_required:
            return pynvml.NVML_ERROR_RESET_REQUIRED
        self.reset(gpu.index)
        return pynvml.NVML_SUCCESS

    def _profile(self, gpu, profile_id):
        if not gpu.mig_current:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        for p in a100_profiles(gpu):
            if p.id == profile_id:
                return p
        raise self._error(pynvml.NVML_ERROR_INVALID_ARGUMENT)

    def nvmlDeviceGetGpuInstancePossiblePlacements(self, handle, profile_id, placements_ref, count_ref):
        p = self._profile(handle[1], profile_id)
        self._fill(placements_ref, count_ref, [pynvml.c_nvmlGpuInstancePlacement_t(s, p.size) for s in p.starts])
        return pynvml.NVML_SUCCESS

    def nvmlDeviceGetGpuInstances(self, handle, profile_id, instances_ref, count_ref):
        gpu = handle[1]
        p = self._profile(gpu, profile_id)
        self._fill(instances_ref, count_ref, [self._handle(pynvml.c_nvmlGpuInstance_t, gi)
                                              for gi in self.instances[gpu.index] if gi.profile.id == p.id])
        return pynvml.NVML_SUCCESS

    def nvmlDeviceCreateGpuInstanceWithPlacement(self, handle, profile_id, placement_ref):
        gpu = handle[1]
        placement = placement_ref.contents
        self.calls.append(("create_gpu_instance", gpu.index, profile_id, placement.start))
        p = self._profile(gpu, profile_id)
        if self.fail_after is not None:
            self.fail_after -= 1
            if self.fail_after < 0:
                self.fail_after = None
                raise self._error(pynvml.NVML_ERROR_UNKNOWN)
        if placement.start not in p.starts or placement.size != p.size:
            raise self._error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        existing = self.instances[gpu.index]
        taken = set().union(*(gi.span() for gi in existing)) if existing else set()
        same = sum(1 for gi in existing if gi.profile.id == p.id)
        slices = sum(gi.profile.slices for gi in existing) + p.slices
        if taken & set(range(placement.start, placement.start + p.size)) or same >= p.count or slices > gpu.mig_slices:
            raise self._error(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES)
        gi_id = next(i for i in itertools.count(1) if all(gi.id != i for gi in existing))
        instance = FakeGpuInstance(gi_id, p, placement.start)
        existing.append(instance)
        return self._handle(pynvml.c_nvmlGpuInstance_t, instance)

    def nvmlGpuInstanceGetInfo(self, gi_handle):
        gi = self._thing(gi_handle)
        return SimpleNamespace(device=None, id=gi.id, profileId=gi.profile.id,
                               placement=SimpleNamespace(start=gi.start, size=gi.profile.size))

    def nvmlGpuInstanceGetComputeInstanceProfileInfo(self, gi_handle, profile, eng_profile, version=2):
        gi = self._thing(gi_handle)
        slices = COMPUTE_PROFILES.get(profile)
        shared = pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED
        if slices is None or slices > gi.profile.slices or eng_profile != shared:
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(id=profile, sliceCount=slices, instanceCount=gi.profile.slices // slices,
                               name=f"MIG {slices}c.{gi.profile.name}".encode())

    def nvmlGpuInstanceGetComputeInstances(self, gi_handle, profile_id, instances_ref, count_ref):
        gi = self._thing(gi_handle)
        slices = COMPUTE_PROFILES.get(profile_id)
        self._fill(instances_ref, count_ref, [self._handle(pynvml.c_nvmlComputeInstance_t, (gi, ci))
                                              for ci in gi.compute if ci.slices == slices])
        return pynvml.NVML_SUCCESS

    def nvmlGpuInstanceCreateComputeInstance(self, gi_handle, profile_id):
        gi = self._thing(gi_handle)
        gpu = self._gpu_of(gi)
        self.calls.append(("create_compute_instance", gpu.index, gi.id, profile_id))
        slices = COMPUTE_PROFILES.get(profile_id)
        if slices is None or slices > gi.profile.slices:
            raise self._error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if sum(ci.slices for ci in gi.compute) + slices > gi.profile.slices:
            raise self._error(pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES)
        ci_id = next(i for i in itertools.count(0) if all(ci.id != i for ci in gi.compute))
        name = gi.profile.name if slices == gi.profile.slices else f"{slices}c.{gi.profile.name}"
        device = MigDevice(index=0, uuid=f"MIG-{uuidlib.uuid5(uuidlib.NAMESPACE_URL, f'{gpu.uuid}/{next(self.made)}')}",
                           gpu_instance_id=gi.id, compute_instance_id=ci_id, profile=name, slices=gi.profile.slices,
                           memory_total=gi.profile.memory_mb * 1024**2, utilization=0)
        compute = FakeComputeInstance(ci_id, slices, device)
        gi.compute.append(compute)
        self._sync(gpu)
        return self._handle(pynvml.c_nvmlComputeInstance_t, (gi, compute))

    def nvmlComputeInstanceDestroy(self, ci_handle):
        gi, ci = self._thing(ci_handle)
        gpu = self._gpu_of(gi)
        self.calls.append(("destroy_compute_instance", gpu.index, gi.id, ci.id))
        if ci not in gi.compute:
            raise self._error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if ci.device.processes:
            raise self._error(pynvml.NVML_ERROR_IN_USE)
        gi.compute.remove(ci)
        self._sync(gpu)
        return pynvml.NVML_SUCCESS

    def nvmlGpuInstanceDestroy(self, gi_handle):
        gi = self._thing(gi_handle)
        gpu = self._gpu_of(gi)
        self.calls.append(("destroy_gpu_instance", gpu.index, gi.id))
        if gi.compute:
            raise self._error(pynvml.NVML_ERROR_IN_USE)
        self.instances[gpu.index].remove(gi)
        return pynvml.NVML_SUCCESS

    def layout(self, index):
        """What the GPU is now, as a test compares it: off, or its MIG devices' profiles in slot order."""
        gpu = self.inventory.gpus[index]
        return [d.profile for d in gpu.mig_devices] if gpu.mig_current else "off"
