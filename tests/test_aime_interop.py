"""What a user switching from AIME MLC meets: ds01 working on containers AIME made, and AIME's tools on ds01's."""

import os

import pytest

from tests.support import sandbox
from tests.support.aime import aime_container
from tests.support.gpulab import SMALL_CONTAINERS, lab_shell, whole_gpus

UUIDS = ["GPU-a0000000-0000-4000-8000-000000000000", "GPU-a1111111-1111-4111-8111-111111111111"]


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    """A two-GPU host (simulated inventory), a state dir, and a policy: alice may hold one GPU."""
    return lab_shell(user_tmp, dockerd, whole_gpus(UUIDS, "A100", "40g"), users["admin"], SMALL_CONTAINERS + """\
  max_containers_per_user: 4
  max_gpu_equivalents: 1
  max_gpu_slots_per_container: 1
""")


def state(client, ref):
    return client.api.inspect_container(ref)["State"]


# ---------------------------------------------------------------- a: stopping a shell that ignores SIGTERM

def test_an_aime_container_stops_on_its_shells_hangup_not_after_the_timeout(lab, users, client):
    alice, sh = users["alice"], lab
    box = aime_container(client, alice, "ab2")
    assert state(client, box)["Running"]
    # -t 60 without --force: were SIGTERM sent (ignored by PID 1), this would fail after a minute
    stopped = sh.run(alice, "container-stop", "ab2", "-t", "60")
    assert stopped.returncode == 0, stopped.stderr
    assert state(client, box)["ExitCode"] == 129  # ended by SIGHUP (128 + 1), not SIGKILL (137)
    client.api.start(box)
    assert sh.run(alice, "mlc-stop", "ab2", "-s").returncode == 0
    assert state(client, box)["ExitCode"] == 129
    ran = sh.run(alice, "container-run", "ab2", "--", "true")  # starts it, runs, then the auto-stop
    assert ran.returncode == 0, ran.stderr
    assert not state(client, box)["Running"] and state(client, box)["ExitCode"] == 129


def test_a_stop_that_comes_while_the_shell_is_still_starting_follows_up_with_a_hangup(lab, users, client):
    alice, sh = users["alice"], lab
    # PID 1 catches nothing for its first 3 s (as `bash -c "…; bash"` before its interactive bash is up)
    box = client.api.create_container(sandbox.BASE_IMAGE, ["sh", "-c", "sleep 3; exec bash -i"],
                                      name=f"slow._.{alice.pw_uid}", tty=True, stdin_open=True,
                                      labels={"aime.mlc": alice.pw_name, "aime.mlc.USER": alice.pw_name,
                                              "aime.mlc.NAME": "slow"}, user=f"{alice.pw_uid}:{alice.pw_gid}")
    client.api.start(box["Id"])
    stopped = sh.run(alice, "container-stop", "slow", "-t", "60")
    assert stopped.returncode == 0, stopped.stderr
    assert state(client, box["Id"])["ExitCode"] == 129


def test_a_container_whose_pid1_handles_sigterm_still_gets_sigterm(sh, users, client):
    alice = users["alice"]
    script = 'trap "echo cleaned up; exit 0" TERM; while :; do sleep 0.2; done'
    box = client.api.create_container(sandbox.BASE_IMAGE, ["sh", "-c", script], name=f"trapper._.{alice.pw_uid}",
                                      labels={"aime.mlc": alice.pw_name, "aime.mlc.USER": alice.pw_name,
                                              "aime.mlc.NAME": "trapper"}, user=f"{alice.pw_uid}:{alice.pw_gid}")
    client.api.start(box["Id"])
    assert sh.run(alice, "container-stop", "trapper", "-t", "60").returncode == 0
    assert state(client, box["Id"])["ExitCode"] == 0 and b"cleaned up" in client.api.logs(box["Id"])


# ---------------------------------------------------------------- c: names with capitals

def test_a_container_aime_named_with_capitals_is_found_as_typed(lab, users, client):
    alice, sh = users["alice"], lab
    box = aime_container(client, alice, "MyBox")
    assert [r["name"] for r in sh.records(alice, "container-list")] == ["MyBox"]
    stopped = sh.records(alice, "container-stop", "MyBox")
    assert [(r["name"], r["status"]) for r in stopped] == [("MyBox", "exited")]
    assert sh.run(alice, "mlc-start", "MyBox", "-s").returncode == 0
    assert state(client, box)["Running"]
    assert sh.run(alice, "container-stop", f"MyBox._.{alice.pw_uid}").returncode == 0
    # another case finds the caller's one container of that name (ds01 refuses a case-twin beside it)
    assert sh.records(alice, "container-stop", "mybox")[0]["name"] == "MyBox"
    assert sh.run(users["bob"], "container-stop", "mybox").returncode == 4  # only among the caller's own
    assert sh.run(alice, "container-create", "Bad Name", sandbox.BASE_IMAGE, "--cpu-only").returncode == 2


# ---------------------------------------------------------------- d: AIME's remove and the user's own image

def test_removing_a_ds01_container_the_aime_way_keeps_the_users_image(lab, users, client):
    alice, sh = users["alice"], lab
    own = f"ds01-{alice.pw_uid}/thesis"
    holder = client.containers.create(sandbox.BASE_IMAGE, ["true"])  # an image-create image: account baked in
    holder.commit(own, "latest", changes=[f"LABEL aime.mlc.DS01_USER_ID={alice.pw_uid}",
                                          f"LABEL aime.mlc.DS01_GROUP_ID={alice.pw_gid}"])
    holder.remove()
    rec = sh.records(alice, "container-create", "thesis", "--cpu-only")[0]
    image = client.api.inspect_container(rec["container"])["Config"]["Image"]
    assert image == f"{own}:thesis._.{alice.pw_uid}"
    # mlc remove: `docker container rm`, then `docker image rm` of the container's image reference
    client.api.remove_container(rec["container"])
    client.api.remove_image(image)
    assert client.images.get(f"{own}:latest").tags == [f"{own}:latest"]
    again = sh.records(alice, "container-create", "thesis", "--cpu-only")[0]  # and ds01's own remove
    assert sh.run(alice, "container-remove", again["name"]).returncode == 0
    assert client.images.get(f"{own}:latest").tags == [f"{own}:latest"]


def test_removing_a_legacy_container_named_like_a_tag_keeps_the_image_it_ran(lab, users, client):
    """An AIME v1-style container (no `._.uid`) named `latest`, from bob's `ds01-<bob>/thesis:latest`: its
    image reference ends with `:latest` but is not its own tag, so alice's remove keeps bob's image."""
    alice, bob, sh = users["alice"], users["bob"], lab
    bobs = f"ds01-{bob.pw_uid}/thesis:latest"
    client.images.get(sandbox.BASE_IMAGE).tag(bobs)
    client.api.create_container(bobs, ["bash"], name="latest", labels={
        "aime.mlc": alice.pw_name, "aime.mlc.USER": alice.pw_name, "aime.mlc.VERSION": "1"})
    removed = sh.run(alice, "container-remove", "latest")
    assert removed.returncode == 0, removed.stderr
    assert not client.containers.list(all=True, filters={"name": "latest"})
    assert client.images.get(bobs)  # still there


# ---------------------------------------------------------------- e, f: listings and the architecture label

def test_mlc_list_shows_sizes_and_ds01_labelled_containers_like_aime(lab, users, client):
    alice, sh = users["alice"], lab
    client.api.create_container(sandbox.BASE_IMAGE, ["bash"], name=f"old._.{alice.pw_uid}", labels={
        "ds01.user": alice.pw_name, "ds01.name": "old", "ds01.managed": "true", "ds01.framework": "pytorch-2.5",
        "ds01.arch": "CUDA_AMPERE", "ds01.work_mount": f"{alice.pw_dir}/workspace/old",
        "ds01.data_mount": "/srv/data", "ds01.models_mount": "-"})
    lines = sh.run(alice, "mlc-list", "-a").stdout.split("\n")
    assert lines[1].split() == ["CONTAINER", "FRAMEWORK", "STATUS", "USER", "SIZE", "ARCHITECTURE", "WORKSPACE",
                                "DATA", "MODELS"]
    cells = lines[2].split()
    assert cells[:2] == ["[old]", "pytorch-2.5"] and alice.pw_name in cells
    assert "0B" in cells and "(virtual" in lines[2]  # nothing written yet: AIME prints 0B (virtual …)
    assert cells[-4:] == ["CUDA_AMPERE", "~/workspace/old", "/srv/data", "-"]


def test_container_list_shows_the_gpus_an_aime_container_holds(lab, users, client):
    alice, sh = users["alice"], lab
    aime_container(client, alice, "allgpu", gpus="all", start=False)
    aime_container(client, alice, "onegpu", gpus=f"device={UUIDS[1]}", start=False)
    listed = {r["name"]: r["gpus"] for r in sh.records(alice, "container-list", "-a")}
    assert listed == {"allgpu": UUIDS, "onegpu": [UUIDS[1]]}


def test_a_container_is_labelled_with_the_architecture_detected_on_this_host(lab, users, client, user_tmp):
    alice, sh = users["alice"], lab
    inventory = user_tmp / "gpus.yaml"
    inventory.write_text(inventory.read_text().replace("memory_total: 40g", "memory_total: 40g, "
                                                                            "compute_capability: '8.0'"))
    rec = sh.records(alice, "container-create", "arch", sandbox.BASE_IMAGE, "--cpu-only")[0]
    labels = client.api.inspect_container(rec["container"])["Config"]["Labels"]
    assert labels["aime.mlc.ARCH"] == "CUDA_AMPERE"  # an A100 (8.0), not the CUDA_ADA default


# ---------------------------------------------------------------- b: AIME's default `-g all`

def test_an_all_gpus_container_holds_nothing_until_it_runs_and_its_refusal_names_a_command_that_works(
        lab, users, client):
    alice, bob, sh = users["alice"], users["bob"], lab
    workspace = os.path.join(alice.pw_dir, "workspace", "ab1")
    os.makedirs(workspace, exist_ok=True)
    os.chown(workspace, alice.pw_uid, alice.pw_gid)
    with open(os.path.join(workspace, "notes.txt"), "w") as handle:
        handle.write("kept\n")
    box = aime_container(client, alice, "ab1", gpus="all", start=False, workspace=workspace)
    # never started: it holds no slot, so nobody is locked out for its 30 minutes
    assert {r["state"] for r in sh.records(alice, "gpu-status")} == {"free"}
    claim = sh.records(bob, "gpu-allocate", "--ttl", "600")[0]
    sh.run(bob, "gpu-release", claim["claim"], check=True)
    # starting it asks for every slot (2), over alice's cap of 1 per container and her quota of 1 GPU
    refused = sh.run(alice, "container-start", "ab1")
    assert refused.returncode == 3 and "EXCEEDS_CONTAINER_LIMIT" in refused.stderr
    assert "container-recreate ab1 --num-gpus 1" in refused.stderr
    assert not state(client, box)["Running"]
    assert sh.run(alice, "mlc-start", "ab1", "-s").returncode == 3  # every way in says the same
    # the command the hint names
    made = sh.records(alice, "container-recreate", "ab1", "--num-gpus", "1")
    assert [r["name"] for r in made] == ["ab1"]
    info = client.api.inspect_container(f"ab1._.{alice.pw_uid}")
    assert [d for r in info["HostConfig"]["DeviceRequests"] for d in r["DeviceIDs"]] in ([UUIDS[0]], [UUIDS[1]])
    assert sh.records(alice, "container-list", "-a", "--detailed")[0]["mounts"]["/workspace"] == workspace
    assert info["Config"]["Image"] == f"{sandbox.BASE_IMAGE.rsplit(':', 1)[0]}:ab1._.{alice.pw_uid}"
    assert not [t for i in client.images.list() for t in i.tags if t.endswith(".previous")]
    started = sh.records(alice, "container-start", "ab1")
    assert [r["status"] for r in started] == ["running"]
    ran = sh.run(alice, "container-run", "ab1", "--", "cat", "/workspace/notes.txt")
    assert ran.stdout == "kept\n"
    held = [r for r in sh.records(alice, "gpu-status") if r["state"] == "held"]
    assert len(held) == 1 and held[0]["users"] == [alice.pw_name]


def test_an_all_gpus_container_started_outside_ds01_holds_every_slot_while_it_runs(lab, users, client):
    alice, bob, sh = users["alice"], users["bob"], lab
    box = aime_container(client, alice, "greedy", gpus="all")
    assert {r["state"] for r in sh.records(bob, "gpu-status")} == {"held"}
    assert sh.run(bob, "gpu-allocate").returncode == 3
    client.api.stop(box, timeout=0)
    assert {r["state"] for r in sh.records(bob, "gpu-status")} == {"free"}


def test_when_the_quota_is_used_the_hint_offers_a_container_without_a_gpu(lab, users, client):
    alice, sh = users["alice"], lab
    sh.records(alice, "gpu-allocate", "--ttl", "600")  # alice's one GPU
    aime_container(client, alice, "ab3", gpus="all", start=False)
    refused = sh.run(alice, "container-start", "ab3")
    assert refused.returncode == 3 and "container-recreate ab3 --cpu-only" in refused.stderr
    assert sh.run(alice, "container-recreate", "ab3", "--num-gpus", "1").returncode == 3  # checked first ...
    assert client.api.inspect_container(f"ab3._.{alice.pw_uid}")["HostConfig"]["DeviceRequests"]  # ... unchanged
    assert sh.run(alice, "container-recreate", "ab3", "--cpu-only").returncode == 0
    assert sh.records(alice, "container-start", "ab3")[0]["status"] == "running"
