"""An AIME user on ds01 (issue 31, items 10-12): the image AIME would pick on an A100 with a CUDA 12.4 driver,
container names kept as typed, and the GPUs of a container made with plain `docker run` shown as gpu-status
sees them."""

import pytest

from tests.support import sandbox
from tests.support.gpulab import GpuLab, slot_uuids
from tests.support.harness import TEST_CATALOG_IMAGE

IMAGE = sandbox.BASE_IMAGE
UUIDS = slot_uuids()


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    """The simulated inventory (4x A100, compute capability 8.0, driver CUDA 12.4) and a catalog where
    Tensorflow 2.16.1 exists only for CUDA_ADA (as in AIME's), Pytorch 2.5.1 for both."""
    import os

    catalog = user_tmp / "ml_images.repo"
    catalog.write_text(f"Tensorflow, 2.16.1, [CUDA_ADA], {TEST_CATALOG_IMAGE}\n"
                       f"Pytorch, 2.5.1, [CUDA_ADA;CUDA_AMPERE], {TEST_CATALOG_IMAGE}\n")
    os.chmod(catalog, 0o644)
    return GpuLab(user_tmp, users, dockerd, extra=f"aime: {{catalog: {catalog}}}\n")


def labels_of(client, container):
    return client.api.inspect_container(container)["Config"]["Labels"]


# ---------------------------------------------------------------- 10: the architecture AIME would pick

def test_mlc_create_takes_aimes_image_when_only_aimes_architecture_has_the_version(lab, users, client):
    alice, sh = users["alice"], lab.sh
    made = sh.run(alice, "mlc-create", "tf", "Tensorflow", "2.16.1", "-g", "0", "-s")
    assert made.returncode == 0, made.stderr
    assert "[tf] ready" in made.stdout
    assert ("mlc-create: note: Tensorflow 2.16.1 has no image for CUDA_AMPERE (compute capability); "
            "using CUDA_ADA, as AIME would (driver CUDA 12.4)") in made.stderr
    assert labels_of(client, f"tf._.{alice.pw_uid}")["aime.mlc.ARCH"] == "CUDA_ADA"
    # where both architectures have it, ds01's choice (the GPUs' own) stands, and nothing is said
    both = sh.run(alice, "mlc-create", "pt", "Pytorch", "2.5.1", "-g", "0", "-s")
    assert both.returncode == 0 and "note" not in both.stderr
    assert labels_of(client, f"pt._.{alice.pw_uid}")["aime.mlc.ARCH"] == "CUDA_AMPERE"
    assert sh.run(alice, "container-remove", "tf", "pt").returncode == 0
    # an architecture the user chose is kept; ds01's own commands keep the GPUs' and name the one that has it
    chosen = sh.run(alice, "mlc-create", "tf", "Tensorflow", "2.16.1", "-arch", "CUDA_AMPERE", "-g", "0", "-s")
    assert chosen.returncode != 0 and "Tensorflow has no image for CUDA_AMPERE" in chosen.stderr
    native = sh.run(alice, "container-create", "tf", "tensorflow", "2.16.1", "--cpu-only")
    assert native.returncode == 4
    assert "hint: Tensorflow exists for: CUDA_ADA (--arch picks one)" in native.stderr
    assert client.containers.list(all=True) == []
    assert sh.run(alice, "container-create", "tf", "tensorflow", "2.16.1", "--cpu-only", "--arch",
                  "CUDA_ADA").returncode == 0


# ---------------------------------------------------------------- 11: names as typed

def test_container_create_keeps_a_name_as_aime_allowed_it(lab, users, client):
    alice, sh = users["alice"], lab.sh
    made = sh.records(alice, "container-create", "MyBox", IMAGE, "--cpu-only")[0]
    assert made["name"] == "MyBox" and made["container"] == f"MyBox._.{alice.pw_uid}"
    assert [r["name"] for r in sh.records(alice, "container-list", "-a")] == ["MyBox"]
    assert sh.run(alice, "container-run", "MyBox", "--keep", "--", "true").returncode == 0
    assert [r["name"] for r in sh.records(alice, "container-list")] == ["MyBox"]
    # a second name that differs only by case is refused, as on a case-insensitive file system
    twin = sh.run(alice, "container-create", "mybox", IMAGE, "--cpu-only")
    assert twin.returncode == 1 and "you already have a container named 'MyBox'" in twin.stderr
    assert len(client.containers.list(all=True)) == 1
    # typed in another case it is still found (there is only one)
    assert sh.run(alice, "container-stop", "MYBOX").returncode == 0
    assert sh.run(alice, "container-remove", "MyBox", "-f").returncode == 0
    assert client.containers.list(all=True) == []
    # bob's MyBox is his own: case-twins across users are no concern
    assert sh.run(users["bob"], "container-create", "MyBox", IMAGE, "--cpu-only").returncode == 0


def test_mlc_create_keeps_the_name_and_a_lowercase_container_is_still_found(lab, users, client):
    alice, sh = users["alice"], lab.sh
    made = sh.run(alice, "mlc-create", "MyBox", "Pytorch", "2.5.1", "-g", "0", "-s")
    assert made.returncode == 0, made.stderr
    assert "[MyBox] ready" in made.stdout
    assert labels_of(client, f"MyBox._.{alice.pw_uid}")["aime.mlc.NAME"] == "MyBox"
    assert "[MyBox]" in sh.run(alice, "mlc-list").stdout
    old = sh.records(alice, "container-create", "legacy", IMAGE, "--cpu-only")[0]
    assert old["container"] == f"legacy._.{alice.pw_uid}"
    assert sh.run(alice, "container-start", "Legacy").returncode == 0  # as DS01 users typed it
    assert sh.run(alice, "container-stop", "legacy").returncode == 0
    bad = sh.run(alice, "container-create", "My#Box", IMAGE, "--cpu-only")
    assert bad.returncode == 2 and "invalid container name" in bad.stderr


# ---------------------------------------------------------------- 12: one reading of a container's GPUs

def test_container_list_shows_the_gpu_of_a_plain_docker_run_as_gpu_status_does(lab, users, client):
    alice, admin, sh = users["alice"], users["admin"], lab.sh
    mig = UUIDS["2.3"]
    client.containers.create(IMAGE, ["true"], name="plain", labels={"ds01.user": alice.pw_name},
                             device_requests=[{"Driver": "nvidia", "DeviceIDs": [mig], "Capabilities": [["gpu"]]}])
    held = {r["slot"]: r for r in sh.records(admin, "gpu-status")}["2.3"]
    assert held["state"] != "free" and held["containers"]
    listed = {r["container"]: r for r in sh.records(admin, "container-list", "-a", "--all-users")}
    assert listed["plain"]["gpus"] == [mig]
    # labels that name other GPUs than its device request: the device request is the truth, for both
    client.containers.create(IMAGE, ["true"], name="liar", labels={"ds01.user": alice.pw_name,
                                                                   "ds01.gpu.uuids": UUIDS["0"]},
                             device_requests=[{"Driver": "nvidia", "DeviceIDs": [UUIDS["2.4"]],
                                               "Capabilities": [["gpu"]]}])
    listed = {r["container"]: r for r in sh.records(admin, "container-list", "-a", "--all-users")}
    assert listed["liar"]["gpus"] == [UUIDS["2.4"]]
    slots = {r["slot"]: r for r in sh.records(admin, "gpu-status")}
    assert slots["0"]["state"] == "free" and slots["2.4"]["state"] != "free"
