"""Per-user totals the kernel enforces (issue 18, repro 9): two containers whose memory limits add up to more
than the user's `aggregate.memory_max` cannot both have their memory."""

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
