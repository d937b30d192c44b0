"""container-stats (issue 19): what each running container uses, from its cgroup, with the kernel's limits; GPU use
from NVML's processes (the substituted driver), placed in containers through /proc/PID/cgroup."""

import json
import os
import signal

import pytest

from tests.support import sandbox
from tests.support.gpulab import EXAMPLE, GpuLab
from tests.support.polling import wait_until

ROOT = sandbox.pwd.getpwnam("root")
FILL = 40_000_000


def started(sh, user, name):
    sh.run(user, "container-create", name, sandbox.BASE_IMAGE, "--cpu-only", check=True)
    sh.run(user, "container-start", name, check=True)
    return f"{name}._.{user.pw_uid}"




def docker_memory(client, name):
    """What docker stats shows as memory in use (usage less inactive page cache)."""
    stats = client.api.stats(name, stream=False, one_shot=True)["memory_stats"]
    detail = stats.get("stats") or {}
    return stats["usage"] - detail.get("total_inactive_file", detail.get("inactive_file", 0))


def test_cpu_memory_and_pids_come_with_the_limits_the_kernel_holds_them_to(sh, users, client):
    alice = users["alice"]
    busy, calm = started(sh, alice, "busy"), started(sh, alice, "calm")
    client.containers.get(busy).exec_run(["sh", "-c", "while :; do :; done"], detach=True)
    client.containers.get(calm).exec_run(["sh", "-c", f'x=$(head -c {FILL} /dev/zero | tr "\\0" a); sleep 600'],
                                         detach=True)

    def stats():
        return {r["container"]: r for r in sh.records(alice, "container-stats")}

    wait_until("calm to hold its memory", lambda: stats()[calm]["memory_used"] > FILL)
    rows = stats()
    assert set(rows) == {busy, calm}
    assert rows[busy]["cpu_percent"] > 50 and rows[calm]["cpu_percent"] < 10
    for row in rows.values():  # the policy's defaults: max_cpus 1.5, memory 256m, pids_limit 256
        assert (row["cpu_limit"], row["memory_limit"], row["pids_limit"]) == (1.5, 256 << 20, 256)
        assert row["user"] == alice.pw_name and row["gpus"] == []
    # on the host's network (AIME's --network host) a container has no counters of its own
    assert rows[busy]["pids"] >= 2 and (rows[busy]["net_rx"], rows[busy]["net_tx"]) == (None, None)
    assert rows[calm]["memory_used"] == pytest.approx(docker_memory(client, calm), rel=0.1)
    assert rows[calm]["memory_percent"] == pytest.approx(rows[calm]["memory_used"] / (256 << 20) * 100, abs=0.01)
    table = sh.run(alice, "container-stats", "busy", "--table", check=True).stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "USER", "CPU%"] and table[1].split()[0] == "busy"
    assert len(table) == 2


def test_each_user_sees_their_own_and_admins_see_everyones(sh, users):
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    mine = started(sh, alice, "mine")
    theirs = started(sh, bob, "theirs")
    assert [r["container"] for r in sh.records(bob, "container-stats")] == [theirs]
    refused = sh.run(bob, "container-stats", mine)
    assert refused.returncode == 5 and "container-stats: error:" in refused.stderr
    assert sh.run(alice, "container-stats", "--all-users").returncode == 5
    assert sh.run(alice, "container-stats", "nosuch").returncode == 4
    everyone = {r["container"] for r in sh.records(admin, "container-stats", "--all-users")}
    assert {mine, theirs} <= everyone
    piped = sh.run(alice, "container-stats", input=json.dumps({"container": mine}) + "\n", check=True)
    assert [json.loads(line)["container"] for line in piped.stdout.splitlines()] == [mine]
    sh.run(alice, "container-stop", "mine", check=True)
    assert sh.run(alice, "container-stats", check=True).stdout == ""  # nothing running: no records, exit 0


def test_watch_piped_writes_a_record_per_round_until_interrupted(sh, users):
    alice = users["alice"]
    name = started(sh, alice, "watched")
    process = sh.popen(alice, "container-stats", "--watch", "0.3")
    lines = [process.stdout.readline() for _ in range(3)]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert [json.loads(line)["container"] for line in lines] == [name] * 3
    assert all(json.loads(line)["cpu_percent"] is not None for line in lines)


def test_gpu_columns_place_nvml_processes_in_containers_by_their_cgroup(user_tmp, users, dockerd, client,
                                                                       monkeypatch, capsys):
    """The driver reports host PIDs: alice's training process on the slot she holds, bob's on a slot he does not
    hold, and a host process that is in no container; each lands where /proc/PID/cgroup says."""
    from ds01 import runtime
    from ds01.cli.container_stats import cli
    from ds01.gpu import simulated
    from ds01.gpu.model import Process
    from tests.support.fake_pynvml import FakeDriver

    lab = GpuLab(user_tmp, users, dockerd)
    alice, bob = users["alice"], users["bob"]
    try:
        train = lab.sh.records(alice, "container-deploy", "train", sandbox.BASE_IMAGE, "--num-gpus", "1",
                               "--background")[0]
        notes = started(lab.sh, bob, "notes")
        client.containers.get(train["container"]).exec_run(["sleep", "600"], detach=True)
        trainer = wait_until("the training process", lambda: [int(p[1]) for p in client.api.top(train["container"])[
            "Processes"] if p[-1].startswith("sleep 600")])[0]
        [uuid] = train["gpus"]
        driver = simulated.load(str(EXAMPLE))  # what the substituted driver reports, processes added below
        slots = {s.uuid: s for s in driver.slots()}
        held = slots[uuid]
        other = next(s for s in slots.values() if s.uuid != uuid and s.type == "gpu")
        held.processes.extend([Process(pid=trainer, used_memory=3 << 30, utilization=40),
                               Process(pid=os.getpid(), used_memory=1 << 30)])
        other.processes.append(Process(pid=int(client.api.inspect_container(notes)["State"]["Pid"]),
                                       used_memory=2 << 30))
        FakeDriver(driver).install(monkeypatch)
        policy = user_tmp / "nvml.yaml"  # the lab's policy with its GPUs from the (substituted) driver
        policy.write_text("\n".join(line for line in lab.policy.read_text().splitlines()
                                    if not line.startswith("gpu: {inventory")) + "\n")
        environ = {**{k: v for k, v in os.environ.items() if k != "DS01_GPU_INVENTORY"}, **lab.sh.settings(),
                   "DS01_CONFIG": str(policy), "DS01_STATE_DIR": str(lab.state)}
        capsys.readouterr()
        with runtime.given(environ):  # the command builds its own Runtime: these are its settings
            assert cli.main(["--all-users", "--json"], standalone_mode=False) == 0
        rows = {r["container"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
        assert rows[train["container"]]["gpus"] == [{
            "slot": held.id, "uuid": uuid, "utilization": 40.0, "memory_used": 3 << 30,
            "memory_total": held.memory_total, "processes": 1}]  # the host process is not alice's
        assert rows[notes]["gpus"] == [{"slot": other.id, "uuid": other.uuid, "utilization": None,
                                        "memory_used": 2 << 30, "memory_total": other.memory_total, "processes": 1}]
    finally:
        for container in client.containers.list(all=True):
            container.remove(force=True)
