"""Per-user totals the kernel enforces (issue 18, repro 9): two containers whose memory limits add up to more
than the user's `aggregate.memory_max` cannot both have their memory."""

import os

from ds01 import cgroups
from tests.support import sandbox
from tests.support.gpulab import GpuLab

TOUCH = "b = bytearray({mb} << 20); b[::4096] = b'x' * len(b[::4096]); print('held', flush=True)"
HOLD = TOUCH + "; __import__('time').sleep(600)"  # the container's process keeps it; the test kills it


def test_the_kernel_holds_a_users_containers_to_their_memory_total(user_tmp, users, dockerd, client):
    alice = users["alice"]
    lab = GpuLab(user_tmp, users, dockerd, extra=(
        f"user_overrides: {{{alice.pw_name}: {{memory: 256m, memory_swap: 256m, "
        "aggregate: {memory_max: 300m, tasks_max: 200, cpu_quota: 150%}}}\n"))
    for name in ("m1", "m2"):
        lab.sh.records(alice, "container-create", name, sandbox.BASE_IMAGE, "--cpu-only")
    first = lab.sh.popen(alice, "container-run", "m1", "--", "python3", "-c", HOLD.format(mb=200))
    try:
        assert first.stdout.readline().strip() == "held"  # 200 MiB in m1, within both its limit and the total
        enforced = lab.sh.records(alice, "check-limits")[0]["enforced"]  # what the kernel holds alice to
        assert enforced["memory.limit_in_bytes" if not cgroups.is_unified() else "memory.max"] == str(300 << 20)
        assert enforced["pids.max"] == "200"
        cpu = ("cpu.max", "150000 100000") if cgroups.is_unified() else ("cpu.cfs_quota_us", "150000")
        assert enforced[cpu[0]] == cpu[1]  # 150 % of a CPU across all of alice's containers
        second = lab.sh.run(alice, "container-run", "m2", "--", "python3", "-c", TOUCH.format(mb=200))
        # m2's own limit (256 MiB) allows 200, the total does not: the kernel's OOM killer acts inside the
        # parent, on m2's allocation or on m1's holder (the larger), so both never hold their 200 MiB at once
        if second.returncode == 0:
            assert first.wait(timeout=120) != 0
        else:
            assert "held" not in second.stdout
        # (without the total, m1's holder sleeps on and the wait above times out)
    finally:
        first.kill()
        first.wait()
    for name in ("m1", "m2"):
        client.containers.get(f"{name}._.{alice.pw_uid}").remove(force=True)


def test_the_limit_files_and_the_systemd_drop_in_say_the_same_totals():
    aggregate = {"memory_max": 40 << 30, "memory_high": 32 << 30, "cpu_quota": 9600.0, "tasks_max": 4096}
    assert cgroups.limit_files(aggregate, unified=False) == {
        ("memory", "memory.limit_in_bytes"): str(40 << 30), ("memory", "memory.memsw.limit_in_bytes"): str(40 << 30),
        ("memory", "memory.soft_limit_in_bytes"): str(32 << 30),
        ("cpu", "cpu.cfs_period_us"): "100000", ("cpu", "cpu.cfs_quota_us"): "9600000", ("pids", "pids.max"): "4096"}
    assert cgroups.limit_files(aggregate, unified=True)[("", "cpu.max")] == "9600000 100000"
    assert cgroups.slice_dropin(aggregate).splitlines()[1:] == [
        "[Slice]", "CPUQuota=9600%", f"MemoryMax={40 << 30}", f"MemoryHigh={32 << 30}", "TasksMax=4096"]


def test_on_a_systemd_host_each_users_totals_become_a_slice_drop_in_that_systemd_accepts(user_tmp, users, dockerd):
    """`ds01-generate-limits` writes the aggregate totals as each user's slice properties, removes the drop-ins of
    users who have none (only files ds01 wrote), and systemd-analyze verify accepts every slice it wrote."""
    import shutil
    import subprocess

    alice, bob = users["alice"], users["bob"]
    lab = GpuLab(user_tmp, users, dockerd, extra=(
        f"user_overrides: {{{alice.pw_name}: {{aggregate: {{memory_max: 40g, memory_high: 32g, cpu_quota: 400%, "
        "tasks_max: 4096}}}\nenforcement: {cgroup_driver: systemd}\n"))
    out = user_tmp / "units"
    gone = out / "ds01-student-olduser.slice.d"
    gone.mkdir(parents=True)
    (gone / cgroups.DROPIN).write_text(cgroups.slice_dropin({"memory_max": 1 << 30}))
    records = {r["user"]: r for r in lab.sh.records(sandbox.pwd.getpwnam("root"), "ds01-generate-limits",
                                                     "--output", str(out))}
    mine = records[alice.pw_name]
    assert mine["action"] == "written" and mine["slice"] == f"ds01-student-{alice.pw_name}.slice"
    assert open(mine["path"]).read().splitlines()[1:] == [
        "[Slice]", "CPUQuota=400%", f"MemoryMax={40 << 30}", f"MemoryHigh={32 << 30}", "TasksMax=4096"]
    assert records[bob.pw_name]["action"] == "none" and not os.path.exists(records[bob.pw_name]["path"])
    assert records[None]["action"] == "removed" and not gone.exists()
    again = lab.sh.records(sandbox.pwd.getpwnam("root"), "ds01-generate-limits", "--output", str(out))
    assert {r["user"]: r["action"] for r in again}[alice.pw_name] == "unchanged"
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", "--man=no", mine["slice"]], capture_output=True,
                                  text=True, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{out}:"})
        assert verified.returncode == 0 and verified.stderr == "", verified.stderr
    refused = lab.sh.run(alice, "ds01-generate-limits", "--output", str(out))
    assert refused.returncode == 5 and "root only" in refused.stderr


def test_a_slice_drop_in_ds01_did_not_write_is_never_replaced(user_tmp, users, dockerd):
    alice = users["alice"]
    lab = GpuLab(user_tmp, users, dockerd, extra=(
        f"user_overrides: {{{alice.pw_name}: {{aggregate: {{memory_max: 40g}}}}}}\n"))
    out = user_tmp / "units"
    mine = out / f"ds01-student-{alice.pw_name}.slice.d"
    mine.mkdir(parents=True)
    (mine / cgroups.DROPIN).write_text("[Slice]\nMemoryMax=1\n")
    result = lab.sh.run(sandbox.pwd.getpwnam("root"), "ds01-generate-limits", "--output", str(out))
    assert result.returncode == 1 and "was not written by ds01" in result.stderr
    assert (mine / cgroups.DROPIN).read_text() == "[Slice]\nMemoryMax=1\n"
