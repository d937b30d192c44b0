"""What a user switching from AIME MLC meets: ds01 working on containers AIME made, and AIME's tools on ds01's."""

import os
import textwrap

import pytest

from ds01 import sandbox
from tests.conftest import Shell

UUIDS = ["GPU-a0000000-0000-4000-8000-000000000000", "GPU-a1111111-1111-4111-8111-111111111111"]


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    """A two-GPU host (simulated inventory), a state dir, and a policy: alice may hold one GPU."""
    state = user_tmp / "state"
    state.mkdir()
    os.chmod(state, 0o1777)
    inventory = user_tmp / "gpus.yaml"
    inventory.write_text("gpus:\n" + "".join(
        f"  - {{index: {i}, uuid: {u}, name: A100, memory_total: 40g}}\n" for i, u in enumerate(UUIDS)))
    policy = user_tmp / "resource-limits.yaml"
    policy.write_text(textwrap.dedent(f"""\
        defaults:
          max_cpus: 1
          memory: 256m
          memory_swap: 256m
          max_containers_per_user: 4
          max_gpu_equivalents: 1
          max_gpu_slots_per_container: 1
        access_control:
          admin_users: [{users['admin'].pw_name}]
        gpu: {{inventory: {inventory}}}
        """))
    for path in (inventory, policy):
        os.chmod(path, 0o644)
    return Shell(dockerd, policy, {"DS01_STATE_DIR": str(state)})


def aime_container(client, entry, name, gpus=None, start=True, image=sandbox.BASE_IMAGE, workspace=None):
    """A container made the way AIME's `mlc create` makes one: `-it`, `bash -c "…; bash"` as PID 1, no StopSignal."""
    login, uid = entry.pw_name, entry.pw_uid
    labels = {"aime.mlc": login, "aime.mlc.NAME": name, "aime.mlc.USER": login, "aime.mlc.VERSION": "4",
              "aime.mlc.ARCH": "CUDA_AMPERE", "aime.mlc.WORK_MOUNT": f"{entry.pw_dir}/workspace",
              "aime.mlc.DATA_MOUNT": "-", "aime.mlc.MODELS_MOUNT": "-", "aime.mlc.FRAMEWORK": "Pytorch-2.7.1",
              "aime.mlc.GPUS": gpus or "all"}
    host = {"network_mode": "host"}
    if gpus is not None:
        import docker

        count = -1 if gpus == "all" else None
        ids = None if gpus == "all" else gpus[len("device="):].split(",")
        host["device_requests"] = [docker.types.DeviceRequest(count=count, device_ids=ids, capabilities=[["gpu"]])]
    if workspace:
        host["binds"] = {str(workspace): {"bind": "/workspace", "mode": "rw"}}
    created = client.api.create_container(image, ["bash", "-c", "true; bash"], name=f"{name}._.{uid}", labels=labels,
                                          user=f"{uid}:{entry.pw_gid}", tty=True, stdin_open=True,
                                          working_dir="/workspace",
                                          host_config=client.api.create_host_config(**host))
    if start:
        client.api.start(created["Id"])
    return created["Id"]


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


def test_a_container_whose_pid1_handles_sigterm_still_gets_sigterm(sh, users, client):
    alice = users["alice"]
    script = 'trap "echo cleaned up; exit 0" TERM; while :; do sleep 0.2; done'
    box = client.api.create_container(sandbox.BASE_IMAGE, ["sh", "-c", script], name=f"trapper._.{alice.pw_uid}",
                                      labels={"aime.mlc": alice.pw_name, "aime.mlc.USER": alice.pw_name,
                                              "aime.mlc.NAME": "trapper"}, user=f"{alice.pw_uid}:{alice.pw_gid}")
    client.api.start(box["Id"])
    assert sh.run(alice, "container-stop", "trapper", "-t", "60").returncode == 0
    assert state(client, box["Id"])["ExitCode"] == 0 and b"cleaned up" in client.api.logs(box["Id"])
