"""A stand-in for the NVIDIA driver behind pynvml, built from a simulated inventory.

Only the driver's answers are fake: ds01's NVML backend runs unchanged against pynvml's own
module, whose functions are substituted here (the brief: test NVML by substituting pynvml).
"""

import re
from types import SimpleNamespace

import pynvml


class FakeDriver:
    def __init__(self, inventory, names_carry_profile=True):
        self.inventory = inventory
        self.names_carry_profile = names_carry_profile
        self.profile_slices = {}
        for name in dir(pynvml):
            match = re.fullmatch(r"NVML_GPU_INSTANCE_PROFILE_(\d+)_SLICE", name)
            if match:
                self.profile_slices[getattr(pynvml, name)] = int(match.group(1))

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

    def nvmlDeviceGetGpuInstanceProfileInfo(self, handle, profile):
        slices = self.profile_slices.get(profile)
        if slices is None or slices > handle[1].mig_slices or slices in (5, 6, 8):
            raise self._error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(sliceCount=slices, id=profile)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=p.pid, usedGpuMemory=p.used_memory) for p in handle[-1].processes]

    def nvmlDeviceGetProcessUtilization(self, handle, last_seen):
        samples = [SimpleNamespace(pid=p.pid, timeStamp=1_000_000 + i, smUtil=p.utilization, memUtil=0, encUtil=0,
                                   decUtil=0)
                   for i, p in enumerate(handle[-1].processes) if p.utilization is not None]
        if not samples:  # what the driver says with no sample since last_seen
            raise self._error(pynvml.NVML_ERROR_NOT_FOUND)
        return samples
