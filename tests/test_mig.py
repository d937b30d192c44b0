"""mig-configure: the policy's MIG layout made real through NVML, against the substituted driver.

The driver (tests/support/fake_pynvml.py) carries out the MIG calls and refuses what a real one
refuses; ds01's NVML backend and mig-configure run unchanged against it. Holdings come from the
private dockerd, so a GPU in use is a real container holding it.
"""

import json
import os
import textwrap

import docker
import pytest

from ds01 import runtime
from ds01.cli import mig_configure
from ds01.cli._common import run
from ds01.gpu import mig, mig_layout, nvml, simulated
from ds01.policy import parse
from ds01.schema import PolicyError
from tests.support import sandbox
from tests.support.fake_pynvml import FakeDriver
from tests.support.gpulab import EXAMPLE, GpuLab

ROOT = sandbox.pwd.getpwnam("root")


# ---------------------------------------------------------------- the layout in the policy

def test_a_layout_names_each_gpu_by_index_uuid_or_all_and_off_is_a_whole_gpu():
    policy = parse(textwrap.dedent("""\
        gpu:
          mig_layout:
            0: off
            GPU-a031ee3a-88f9-5885-8085-75c3db9921dc: [3g.20gb, 3g]
            all: [7g.40gb]
        """))
    layout = policy.section("gpu")["mig_layout"]
    gpus = simulated.load(str(EXAMPLE)).gpus
    assert [mig_layout.wanted(layout, g) for g in gpus] == ["off", ["3g.20gb", "3g"], ["7g.40gb"], ["7g.40gb"]]
    assert mig_layout.wanted({"1": "off"}, gpus[0]) is None  # a GPU the layout does not name is left alone


@pytest.mark.parametrize("body, message", [
    ("0: [3c.3g.20gb]", "'3c.3g.20gb' is not a GPU-instance profile like 3g.20gb or 3g"),
    ("0: []", "expected off or a list of MIG profiles"),
    ("0: on", "expected off or a list of MIG profiles"),
    ("gpu0: off", "'gpu0': a GPU is its index, its UUID (GPU-…) or all"),
    ("0: [4g, 4g, 1g]", "is 9 compute slices; no GPU has more than 8"),
])
def test_a_malformed_layout_is_refused_naming_file_line_and_gpu(body, message):
    with pytest.raises(PolicyError) as caught:
        parse(f"gpu:\n  mig_layout:\n    {body}\n", "limits.yaml")
    assert caught.value.message.startswith("limits.yaml:2: gpu.mig_layout: ") and message in caught.value.message


def test_a_short_name_matches_any_profile_of_that_size_without_extensions():
    assert mig_layout.matches(["3g", "3g.20gb"], ["3g.20gb", "3g.20gb"])
    assert not mig_layout.matches(["1g"], ["1g.5gb+me"])
    assert not mig_layout.matches(["3g", "3g"], ["3g.20gb"])
    assert mig_layout.matches("off", "off") and not mig_layout.matches(["7g"], "off")


# ---------------------------------------------------------------- the driver's side

@pytest.fixture
def driver(monkeypatch):
    fake = FakeDriver(simulated.load(str(EXAMPLE)))
    fake.install(monkeypatch)
    return fake


def test_placing_large_instances_first_fits_layouts_the_drivers_own_order_refuses(driver):
    """Three 1g.5gb and a 4g.20gb fit an A100 only with the 4g at slice 0; made in the order written, the
    driver puts the first 1g there and then has no room for the 4g."""
    control = nvml.MigControl(3)
    for instance in control.instances():
        control.destroy(instance)
    profiles = {p.name: p for p in control.profiles()}
    wanted = [profiles["1g.5gb"]] * 3 + [profiles["4g.20gb"]]
    for start in (0, 1, 2):
        control.create(profiles["1g.5gb"], start)
    with pytest.raises(nvml.DriverRefused, match="create 4g.20gb at slice 0: not enough free room"):
        control.create(profiles["4g.20gb"], 0)
    for instance in control.instances():
        control.destroy(instance)
    placed = mig.fit(wanted, 7)
    assert [(p.name, start) for p, start in placed] == [("4g.20gb", 0), ("1g.5gb", 4), ("1g.5gb", 5), ("1g.5gb", 6)]
    for profile, start in placed:
        control.create(profile, start)
    assert driver.layout(3) == ["4g.20gb", "1g.5gb", "1g.5gb", "1g.5gb"]
    assert mig.fit([profiles["4g.20gb"], profiles["3g.20gb"], profiles["1g.5gb"]], 7) is None  # 8 slices
    assert mig.fit([profiles["4g.20gb"]] * 2, 8) is None  # one 4g per GPU, whatever the slices say


def test_the_driver_refuses_what_a_real_one_refuses_and_ds01_says_so(driver):
    from ds01.gpu.model import Process

    gpu = driver.inventory.gpus
    gpu[0].processes.append(Process(pid=4242))
    with pytest.raises(nvml.DriverRefused, match="GPU 0: the driver refused to enable MIG mode: in use"):
        nvml.MigControl(0).set_mode(True)
    with pytest.raises(nvml.DriverRefused, match="disable MIG mode: in use"):
        nvml.MigControl(3).set_mode(False)  # its instances are still there
    gpu[3].mig_devices[0].processes.append(Process(pid=4343))
    busy = nvml.MigControl(3).instances()[0]
    with pytest.raises(nvml.DriverRefused, match=r"destroy 3g.20gb \(GPU instance \d+\): in use"):
        nvml.MigControl(3).destroy(busy)
    profile = next(p for p in nvml.MigControl(2).profiles() if p.name == "2g.10gb")
    with pytest.raises(nvml.DriverRefused, match="not enough free room"):  # seven 1g.5gb fill GPU 2
        nvml.MigControl(2).create(profile, 0)
    assert driver.layout(2) == ["1g.5gb"] * 7 and driver.layout(0) == "off"


# ---------------------------------------------------------------- mig-configure

class Mig:
    """A lab whose GPUs come from the substituted driver, and mig-configure run in-process as root."""

    def __init__(self, user_tmp, users, dockerd, monkeypatch, capsys, driver):
        self.lab = GpuLab(user_tmp, users, dockerd)
        self.driver, self.capsys, self.monkeypatch = driver, capsys, monkeypatch
        self.policy = user_tmp / "nvml.yaml"
        # the command's settings, handed to the Runtime it builds (the GPUs from the driver: no inventory file)
        self.environ = {**{k: v for k, v in os.environ.items() if k != "DS01_GPU_INVENTORY"},
                        **self.lab.sh.settings(), "DS01_CONFIG": str(self.policy),
                        "DS01_STATE_DIR": str(self.lab.state)}

    def layout(self, text, extra=""):
        base = "\n".join(line for line in self.lab.policy.read_text().splitlines()
                         if not line.startswith("gpu: {inventory"))
        self.policy.write_text(base + "\ngpu:\n  mig_layout:\n" + textwrap.indent(textwrap.dedent(text), "    ")
                               + textwrap.dedent(extra))

    def __call__(self, *args):
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as done, runtime.given(self.environ):
            run(mig_configure.cli, ["--json", *args])
        out, err = self.capsys.readouterr()
        return done.value.code, {r["gpu"]: r for r in map(json.loads, out.splitlines())}, err

    def events(self):
        path = self.lab.logs / "events.jsonl"
        return [e for e in map(json.loads, path.read_text().splitlines()) if e["event_type"] == "gpu.mig-configure"]


@pytest.fixture
def lab(user_tmp, users, dockerd, monkeypatch, capsys, driver, client):
    yield Mig(user_tmp, users, dockerd, monkeypatch, capsys, driver)
    for container in client.containers.list(all=True):
        container.remove(force=True)


LAYOUT = """\
    0: [3g.20gb, 2g.10gb, 1g.5gb, 1g.5gb]
    2: off
    3: [4g.20gb, 3g]
    """


def test_a_dry_run_shows_each_gpus_steps_and_asks_nothing_of_the_driver(lab):
    lab.layout(LAYOUT)
    code, records, err = lab("--dry-run")
    assert code == 0, err
    assert sorted(records) == [0, 2, 3]  # GPU 1 is not in the layout
    assert records[0]["action"] == "planned" and records[0]["before"] == "off"
    assert records[0]["steps"] == ["enable MIG mode", "create 3g.20gb", "create 2g.10gb", "create 1g.5gb",
                                   "create 1g.5gb"]
    assert records[2]["steps"] == [f"destroy 1g.5gb (GPU instance {i})" for i in range(7, 14)] + ["disable MIG mode"]
    assert records[3]["steps"][-2:] == ["create 4g.20gb at slice 0", "create 3g.20gb at slice 4"]
    assert all(r["dry_run"] for r in records.values())
    assert lab.driver.calls == [] and lab.events() == []


def test_mig_configure_makes_each_gpu_what_the_layout_says_and_the_slots_follow(lab):
    from ds01.runtime import Runtime

    lab.layout(LAYOUT)
    code, records, err = lab()
    assert code == 0, err
    assert {g: r["action"] for g, r in records.items()} == {0: "configured", 2: "configured", 3: "configured"}
    # the devices enumerate in placement order: the 3g.20gb can only go at slice 4 beside the others
    assert lab.driver.layout(0) == ["2g.10gb", "1g.5gb", "1g.5gb", "3g.20gb"]
    assert lab.driver.layout(2) == "off" and lab.driver.layout(3) == ["4g.20gb", "3g.20gb"]
    assert records[0]["slots"] == ["0.0", "0.1", "0.2", "0.3"] and records[2]["slots"] == ["2"]
    slots = {s.id: s for s in Runtime().inventory.slots()}  # what the allocator hands out now
    assert [round(slots[i].weight * 7) for i in ("0.0", "0.1", "0.2", "0.3", "3.0", "3.1")] == [2, 1, 1, 3, 4, 3]
    assert slots["2"].type == "gpu" and "1" in slots  # GPU 1 untouched
    [event] = [e for e in lab.events() if e["details"]["gpu"] == 3]
    assert event["details"]["before"] == ["3g.20gb", "3g.20gb"] and event["details"]["after"] == ["4g.20gb",
                                                                                                   "3g.20gb"]
    calls = len(lab.driver.calls)
    code, records, _ = lab()
    assert code == 0 and {r["action"] for r in records.values()} == {"unchanged"}
    assert len(lab.driver.calls) == calls  # a second run asks nothing of the driver


def test_a_gpu_in_use_keeps_its_layout_and_the_others_still_change(lab, client):
    """GPU 3: a plain docker container holds 3.1; GPU 0: a host process computes on it; GPU 2: reserved for
    alice now. GPU 1 is free and changes (bob's reservation of it next year is said); the batch exits 3 and
    names each holder."""
    from ds01.gpu.model import Process

    uuid_31 = lab.driver.inventory.gpus[3].mig_devices[1].uuid
    client.containers.run(sandbox.BASE_IMAGE, ["sleep", "infinity"], name="stray", detach=True,
                          network_mode="none", device_requests=[docker.types.DeviceRequest(
                              device_ids=[uuid_31], capabilities=[["gpu"]])])
    lab.driver.inventory.gpus[0].processes.append(Process(pid=os.getpid(), used_memory=1 << 30))
    lab.layout("0: [7g.40gb]\n1: [3g, 3g]\n2: off\n3: off\n", extra=f"""\
        reservations:
          - {{user: {lab.lab.users['alice'].pw_name}, slots: ["2.0"], start: 2020-01-01, end: 2099-01-01}}
          - {{user: {lab.lab.users['bob'].pw_name}, slots: ["1"], start: 2098-01-01, end: 2099-01-01}}
        """)
    code, records, err = lab()
    assert code == 3
    assert list(records) == [1] and lab.driver.layout(1) == ["3g.20gb", "3g.20gb"]
    assert records[1]["later_reservations"] == [{"user": lab.lab.users["bob"].pw_name, "slots": ["1"],
                                                 "start": records[1]["later_reservations"][0]["start"]}]
    assert f"GPU 1: {lab.lab.users['bob'].pw_name}'s reservation from" in err  # its slot "1" is gone now
    assert "GPU 3 is in use, so its layout stays: slot 3.1 held by stray" in err
    assert f"GPU 0 is in use, so its layout stays: slot 0 runs pid {os.getpid()}" in err
    assert "GPU 2 is in use, so its layout stays: slot 2.0 reserved for" in err
    assert lab.driver.layout(0) == "off" and lab.driver.layout(2) == ["1g.5gb"] * 7
    assert lab.driver.layout(3) == ["3g.20gb", "3g.20gb"]
    assert all(call[1] == 1 for call in lab.driver.calls)  # nothing asked of the GPUs in use


def test_a_stopped_container_whose_gpu_is_released_is_named_as_stranded(lab, client):
    from ds01.cli import gpu_release

    uuid_30 = lab.driver.inventory.gpus[3].mig_devices[0].uuid
    client.containers.create(sandbox.BASE_IMAGE, ["true"], name="old", network_mode="none",
                             device_requests=[docker.types.DeviceRequest(device_ids=[uuid_30],
                                                                         capabilities=[["gpu"]])])
    lab.layout("3: [7g]\n")
    code, _, err = lab()
    assert code == 3 and "slot 3.0 held by old" in err  # created, never started: held for a while
    with pytest.raises(SystemExit) as released, runtime.given(lab.environ):
        run(gpu_release.cli, ["old"])
    assert released.value.code == 0
    code, records, err = lab()
    assert code == 0 and records[3]["stranded"] == ["old"] and lab.driver.layout(3) == ["7g.40gb"]
    assert "GPU 3: stopped containers name devices the change replaces: old" in err


def test_a_layout_the_gpu_cannot_hold_changes_nothing(lab):
    lab.layout("3: [4g.20gb, 4g.20gb]\n")
    code, records, err = lab()
    assert code == 2 and records == {}
    assert "GPU 3 (NVIDIA A100-SXM4-40GB) cannot hold 4g.20gb, 4g.20gb at once" in err
    assert "4g.20gb (up to 1)" in err  # the hint lists what the GPU offers
    lab.layout("3: [5g]\n")
    code, _, err = lab()
    assert code == 2 and "has no MIG profile 5g" in err
    assert lab.driver.calls == [] and lab.driver.layout(3) == ["3g.20gb", "3g.20gb"]
    lab.layout("0: [4g, 4g]\n")  # MIG is off: the driver lists profiles only once it is on, then off again
    code, _, err = lab()
    assert code == 2 and "cannot hold 4g, 4g at once; GPU 0 is whole again, as it was" in err
    assert lab.driver.calls == [("mig_mode", 0, True), ("mig_mode", 0, False)] and lab.driver.layout(0) == "off"


def test_a_mode_change_that_waits_for_a_reset_says_so_and_finishes_after_it(lab):
    lab.driver.reset_required = True
    lab.layout("0: [7g.40gb]\n")
    code, records, err = lab()
    assert code == 1 and records[0]["action"] == "pending-reset"
    assert "waits for a GPU reset" in err and "nvidia-smi -r -i 0" in err
    assert lab.driver.layout(0) == "off"
    code, records, _ = lab()
    assert code == 1 and records[0]["action"] == "pending-reset" and records[0]["steps"] == []
    lab.driver.reset(0)
    code, records, err = lab()
    assert code == 0, err
    assert records[0]["action"] == "configured" and lab.driver.layout(0) == ["7g.40gb"]


def test_naming_a_gpu_limits_the_run_and_a_gpu_not_in_the_layout_is_an_error(lab):
    lab.layout(LAYOUT)
    code, records, err = lab("3", "GPU-a031ee3a-88f9-5885-8085-75c3db9921dc", "9")
    assert code == 4 and list(records) == [3]
    assert "GPU GPU-a031ee3a-88f9-5885-8085-75c3db9921dc: the policy's gpu.mig_layout leaves it alone" in err
    assert "no GPU 9 on this host" in err
    assert lab.driver.layout(0) == "off" and lab.driver.layout(3) == ["4g.20gb", "3g.20gb"]


def test_only_admins_change_mig_layouts_and_simulated_gpus_are_only_planned(user_tmp, users, dockerd):
    lab = GpuLab(user_tmp, users, dockerd)
    lab.policy.write_text(lab.policy.read_text().replace(
        f"gpu: {{inventory: {EXAMPLE}}}", f"gpu: {{inventory: {EXAMPLE}, mig_layout: {{3: off}}}}"))
    refused = lab.sh.run(users["alice"], "mig-configure")
    assert refused.returncode == 5 and "mig-configure is for admins only" in refused.stderr
    admin = users["admin"]
    planned = lab.sh.records(admin, "mig-configure", "--dry-run")
    assert [(r["gpu"], r["action"], r["steps"][-1]) for r in planned] == [(3, "planned", "disable MIG mode")]
    applied = lab.sh.run(admin, "mig-configure")
    assert applied.returncode == 1 and "the GPUs here are simulated" in applied.stderr


def test_a_change_the_driver_fails_halfway_goes_back_to_the_old_layout(lab):
    lab.layout("3: [4g.20gb, 3g.20gb]\n")
    lab.driver.fail_after = 1  # the 4g.20gb is made, then the driver fails the 3g.20gb
    code, records, err = lab()
    assert code == 1 and records == {}
    assert "GPU 3: the driver refused to create 3g.20gb at slice 4" in err
    assert "GPU 3 has its old layout again (with new MIG UUIDs)" in err
    assert lab.driver.layout(3) == ["3g.20gb", "3g.20gb"]
    [event] = lab.events()
    assert event["details"]["steps"][-1] == "create 4g.20gb at slice 0" and "error" in event["details"]
    code, records, err = lab()  # the fault is gone: the next run completes the change
    assert code == 0 and lab.driver.layout(3) == ["4g.20gb", "3g.20gb"], err


def test_a_pending_change_the_layout_no_longer_wants_is_called_off(lab):
    lab.driver.reset_required = True
    lab.layout("3: off\n")
    code, records, _ = lab()
    assert code == 1 and records[3]["action"] == "pending-reset" and lab.driver.layout(3) == []
    lab.layout("3: [3g, 3g]\n")  # changed minds before the reset: MIG stays on, with the layout made again
    code, records, err = lab()
    assert code == 0, err
    assert records[3]["steps"][0] == "cancel the pending MIG mode change" and records[3]["action"] == "configured"
    gpu = lab.driver.inventory.gpus[3]
    assert lab.driver.layout(3) == ["3g.20gb", "3g.20gb"] and gpu.mig_pending is True
