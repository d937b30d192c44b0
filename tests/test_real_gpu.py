"""The NVML backend against the machine's real GPUs (`make test-gpu`; issue 30). Everywhere else ds01 meets only
the substituted pynvml and the simulated inventory; here it meets the driver. Read-only: nothing here changes MIG
mode or any GPU setting. Without a GPU that NVML can see, every test skips and says why."""

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from ds01.gpu import nvml
from tests.support.polling import wait_until

pytestmark = pytest.mark.gpu


def _inventory_or_reason():
    try:
        inventory = nvml.load()
    except nvml.NvmlUnavailable as exc:
        return None, f"NVML is not available here: {exc.message}"
    if not inventory.gpus:
        return None, "NVML answers but reports no GPU"
    return inventory, None


INVENTORY, REASON = _inventory_or_reason()
needs_gpu = pytest.mark.skipif(INVENTORY is None, reason=REASON or "")


@needs_gpu
def test_the_inventory_names_every_gpu_with_its_uuid_memory_and_readings():
    for gpu in INVENTORY.gpus:
        assert re.fullmatch(r"GPU-[0-9a-f-]{36}", gpu.uuid), gpu.uuid
        assert gpu.name and gpu.memory_total > 0 and 0 <= gpu.memory_used <= gpu.memory_total
        assert gpu.utilization is None or 0 <= gpu.utilization <= 100
        assert gpu.temperature is None or 0 < gpu.temperature < 120
        assert gpu.power_watts is None or 0 < gpu.power_watts < 2000
        assert isinstance(gpu.mig_current, bool) and isinstance(gpu.mig_pending, bool)
        for device in gpu.mig_devices:  # MIG is read, never changed
            assert re.fullmatch(r"\d+g\.\d+gb(\+\w+)?", device.profile) and device.uuid.startswith("MIG-")
    smi = shutil.which("nvidia-smi")
    if smi:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, check=True).stdout
        assert sorted(re.findall(r"UUID: (GPU-[0-9a-f-]+)", listed)) == sorted(g.uuid for g in INVENTORY.gpus)


@needs_gpu
def test_the_slots_are_the_whole_gpus_and_the_mig_devices():
    slots = INVENTORY.slots()
    expected = sum(len(g.mig_devices) if g.mig_current else 1 for g in INVENTORY.gpus)
    assert len(slots) == expected and len({s.uuid for s in slots}) == expected


CUDA_CONTEXT = textwrap.dedent("""\
    import ctypes, sys, time
    cuda = ctypes.CDLL("libcuda.so.1")
    device, context = ctypes.c_int(), ctypes.c_void_p()
    assert cuda.cuInit(0) == 0 and cuda.cuDeviceGet(ctypes.byref(device), 0) == 0
    assert cuda.cuCtxCreate_v2(ctypes.byref(context), 0, device) == 0
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.read()
    """)


@needs_gpu
def test_a_process_with_a_cuda_context_is_counted_on_its_gpu():
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        pytest.skip("no libcuda.so.1: the driver's CUDA library is not installed")
    gpu = next((g for g in INVENTORY.gpus if not g.mig_current), None)
    if gpu is None:
        pytest.skip("every GPU is in MIG mode: a context on GPU 0 lands on a MIG device")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu.uuid}
    holder = subprocess.Popen([sys.executable, "-c", CUDA_CONTEXT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert holder.stdout.readline() == "ready\n"
        def listed():  # the driver lists a new context within a moment
            found = [g for g in nvml.load().gpus if g.uuid == gpu.uuid][0]
            return found if holder.pid in {p.pid for p in found.processes} else None

        found = wait_until("the driver to list the CUDA context", listed, timeout=30)
        assert next(p for p in found.processes if p.pid == holder.pid).used_memory > 0
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@needs_gpu
def test_gpu_inventory_and_gpu_status_report_the_real_gpus(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults: {max_gpu_equivalents: null}\n")
    env = {**os.environ, "DS01_CONFIG": str(policy), "DS01_STATE_DIR": str(tmp_path / "state"),
           "DS01_LOG_DIR": str(tmp_path / "log")}
    env.pop("DS01_GPU_INVENTORY", None)
    bindir = os.path.dirname(sys.executable)
    listed = subprocess.run([os.path.join(bindir, "gpu-inventory"), "--json"], capture_output=True, text=True,
                            env=env, check=True)
    uuids = {json.loads(line)["uuid"] for line in listed.stdout.splitlines()}
    assert {g.uuid for g in INVENTORY.gpus} <= uuids
    status = subprocess.run([os.path.join(bindir, "gpu-status"), "--json"], capture_output=True, text=True,
                            env=env)
    if status.returncode != 0 and "Docker" in status.stderr:
        pytest.skip(f"gpu-status needs a Docker engine here: {status.stderr.strip()}")
    slots = [json.loads(line) for line in status.stdout.splitlines()]
    assert {s["uuid"] for s in slots} == {s.uuid for s in INVENTORY.slots()}


@needs_gpu
def test_the_exporters_gpu_families_carry_the_real_readings(tmp_path, monkeypatch):
    from prometheus_client import generate_latest

    from ds01 import exporter

    policy = tmp_path / "policy.yaml"
    policy.write_text("defaults: {}\n")
    monkeypatch.delenv("DS01_GPU_INVENTORY", raising=False)
    text = generate_latest(exporter.registry(str(policy), ttl=0)).decode()
    for gpu in INVENTORY.gpus:
        if gpu.temperature is not None:
            assert re.search(rf'ds01_gpu_temperature_celsius{{[^}}]*uuid="{gpu.uuid}"[^}}]*}} ', text), text[:2000]
        if gpu.power_watts is not None:
            assert re.search(rf'ds01_gpu_power_watts{{[^}}]*uuid="{gpu.uuid}"', text)
