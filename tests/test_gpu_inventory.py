"""The GPU inventory: the simulated file, and the NVML backend run against a substituted driver."""

import dataclasses
import textwrap
from pathlib import Path

import pytest

from ds01.gpu import load_inventory, nvml, simulated
from ds01.policy import parse
from ds01.runtime import Runtime
from ds01.schema import PolicyError
from tests.support.fake_pynvml import FakeDriver

EXAMPLE = Path(__file__).resolve().parents[1] / "etc" / "ds01" / "gpus.sim.yaml"


def test_the_shipped_example_has_eleven_slots_with_their_weights():
    inventory = simulated.load(str(EXAMPLE))
    slots = inventory.slots()
    assert [s.id for s in slots] == ["0", "1"] + [f"2.{i}" for i in range(7)] + ["3.0", "3.1"]
    assert [s.type for s in slots[:3]] == ["gpu", "gpu", "mig"]
    weights = {s.id: s.weight for s in slots}
    assert weights["0"] == 1.0
    assert weights["2.4"] == pytest.approx(1 / 7)
    assert weights["3.1"] == pytest.approx(3 / 7)
    assert inventory.profiles() == ["1g.5gb", "3g.20gb"]
    assert all(s.uuid.startswith("MIG-") for s in slots if s.type == "mig")
    assert len({s.uuid for s in slots}) == 11


@pytest.mark.parametrize("body, where, message", [
    ("gpus:\n  - index: 0\n    uuid: GPU-a\n    name: A\n    memory_total: 40g\n    mig_mod: true\n", ":6:",
     "unknown key 'gpus[0].mig_mod' (did you mean 'mig_mode'?)"),
    ("gpus:\n  - index: 0\n    uuid: GPU-a\n    name: A\n  - index: 0\n    uuid: GPU-b\n    name: B\n"
     "    memory_total: 1g\n", ":2:", "'memory_total' is required"),
    ("gpus:\n  - {index: 0, uuid: GPU-a, name: A, memory_total: 1g}\n  - {index: 0, uuid: GPU-b, name: B, "
     "memory_total: 1g}\n", ":3:", "GPU 0 already listed at line 2"),
    ("gpus:\n  - index: 0\n    uuid: GPU-a\n    name: A\n    memory_total: 40g\n    mig_mode: true\n"
     "    mig_devices:\n      - {index: 0, uuid: MIG-a, gpu_instance_id: 1, compute_instance_id: 0, profile: 4g.20gb}\n"
     "      - {index: 1, uuid: MIG-b, gpu_instance_id: 2, compute_instance_id: 0, profile: 4g.20gb}\n",
     ":9:", "MIG devices use 8 slices; GPU 0 has 7"),
    ("gpus:\n  - index: 0\n    uuid: MIG-a\n    name: A\n    memory_total: 40g\n", ":2:", "expected a UUID starting "
                                                                                          "with GPU-"),
    ("gpus:\n  - index: 0\n    uuid: GPU-a\n    name: A\n    memory_total: 40g\n    mig_mode: true\n"
     "    mig_devices:\n      - {index: 0, uuid: MIG-a, gpu_instance_id: 1, compute_instance_id: 0, profile: big}\n",
     ":8:", "expected a MIG profile like 3g.20gb"),
    ("gpus: [\n", ":2:", "not valid YAML"),
])
def test_a_malformed_inventory_names_file_and_line(tmp_path, body, where, message):
    path = tmp_path / "gpus.yaml"
    path.write_text(body)
    with pytest.raises(PolicyError) as caught:
        simulated.load(str(path))
    assert f"{path}{where}" in caught.value.message and message in caught.value.message


def test_the_inventory_comes_from_the_environment_then_the_policy(tmp_path):
    policy = parse(f"gpu: {{inventory: {EXAMPLE}}}\n")
    assert len(Runtime(environ={}, policy=policy).inventory.slots()) == 11
    single = tmp_path / "one.yaml"
    single.write_text("gpus:\n  - {index: 0, uuid: GPU-x, name: T4, memory_total: 16g}\n")
    rt = Runtime(environ={"DS01_GPU_INVENTORY": str(single)}, policy=policy)
    assert [s.uuid for s in rt.inventory.slots()] == ["GPU-x"]


def test_without_a_driver_the_host_has_no_gpus_and_gpu_inventory_says_why(monkeypatch):
    """This machine has no NVIDIA driver: the real pynvml fails to load its library."""
    monkeypatch.setattr(nvml, "_INITIALISED", False)
    assert load_inventory(None).slots() == []
    with pytest.raises(nvml.NvmlUnavailable) as caught:
        load_inventory(None, required=True)
    assert "DS01_GPU_INVENTORY" in caught.value.hint


def _without_simulation_only_facts(inventory):
    for gpu in inventory.gpus:
        for process in gpu.processes + [p for m in gpu.mig_devices for p in m.processes]:
            process.container = None
    return [dataclasses.asdict(g) for g in inventory.gpus]


@pytest.mark.parametrize("names_carry_profile", [True, False])
def test_nvml_backend_reads_what_the_driver_reports(monkeypatch, tmp_path, names_carry_profile):
    """The same facts through NVML as through the file: GPUs, MIG devices, profiles, slices, processes."""
    path = tmp_path / "gpus.yaml"
    path.write_text(EXAMPLE.read_text().replace(
        "    mig_mode: false\n", "    mig_mode: false\n    utilization: 37\n    memory_used: 2g\n"
        "    processes: [{pid: 4242, used_memory: 1g}]\n    persistence_mode: true\n"
        "    temperature: 61\n    power_watts: 212.5\n", 1))
    expected = simulated.load(str(path))
    FakeDriver(expected, names_carry_profile).install(monkeypatch)
    got = nvml.load()
    assert got.source == "nvml" and got.driver == "550.54.15" and got.cuda_version == "12.4"
    assert _without_simulation_only_facts(got) == _without_simulation_only_facts(expected)
    assert [(s.id, s.uuid, s.weight) for s in got.slots()] == [(s.id, s.uuid, s.weight) for s in expected.slots()]
    assert got.gpus[0].processes[0].pid == 4242 and got.gpus[0].utilization == 37
    assert [g.persistence for g in got.gpus[:2]] == [True, None]  # None: the driver does not say
    assert (got.gpus[0].temperature, got.gpus[0].power_watts, got.gpus[2].temperature) == (61, 212.5, None)


def test_nvml_weights_come_from_the_driver_not_a_constant(monkeypatch, tmp_path):
    """An A30 has 4 slices: its 2g.12gb MIG device is half a GPU."""
    path = tmp_path / "a30.yaml"
    path.write_text(textwrap.dedent("""\
        gpus:
          - index: 0
            uuid: GPU-a30
            name: NVIDIA A30
            memory_total: 24g
            mig_mode: true
            mig_slices: 4
            mig_devices:
              - {index: 0, uuid: MIG-a, gpu_instance_id: 1, compute_instance_id: 0, profile: 2g.12gb, memory_total: 12g}
              - {index: 1, uuid: MIG-b, gpu_instance_id: 2, compute_instance_id: 0, profile: 1g.6gb, memory_total: 6g}
        """))
    FakeDriver(simulated.load(str(path)), names_carry_profile=False).install(monkeypatch)
    slots = nvml.load().slots()
    assert [(s.id, s.profile, s.weight) for s in slots] == [("0.0", "2g.12gb", 0.5), ("0.1", "1g.6gb", 0.25)]


def test_a_gpu_in_mig_mode_without_instances_offers_no_slot(tmp_path):
    path = tmp_path / "gpus.yaml"
    path.write_text("gpus:\n  - {index: 0, uuid: GPU-a, name: A, memory_total: 40g, mig_mode: true}\n"
                    "  - {index: 1, uuid: GPU-b, name: B, memory_total: 40g}\n")
    assert [s.id for s in simulated.load(str(path)).slots()] == ["1"]
