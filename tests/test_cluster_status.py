"""The read side of cluster mode, end to end on the private two-node Slurm: gpu-status, gpu-queue,
check-limits and ds01-report with --cluster, as real users through the head's ds01d.

Each node has two A100s (GRES indices 0, 1) and two 1g.5gb MIG devices (2, 3). The fixture's policy: alice is a
student (1 GPU-equivalent: at most one A100, QOS priority 0), bob a researcher (2, priority 20), the admin's
group has no cap (priority 100). Every QOS has DenyOnLimit.
"""

import time

import pytest

from tests.support import sandbox
from tests.support import slurm as private_slurm
from tests.support.cluster import cancelled_after, records

IMAGE = sandbox.BASE_IMAGE
NODES = private_slurm.NODES
HOLD = ["-c1", "--mem=100", "--chdir=/tmp", "--output=/dev/null"]


@pytest.fixture
def jobs(slurm):
    """Job ids a test made; cancelled after it, whatever happened."""
    with cancelled_after(slurm) as made:
        yield made
    if made:
        private_slurm.wait_until("the test's jobs to end", lambda: not set(map(str, made)) & set(
            slurm.run(["squeue", "-h", "-o", "%i"], check=False).stdout.split()), timeout=90)


def submit(slurm, entry, *options, command="sleep 600"):
    done = slurm.as_user(entry, ["sbatch", "--parsable", *options, *HOLD, "--wrap", command])
    return int(done.stdout.strip().split(";")[0])


def state(slurm, job_id):
    return slurm.job(job_id).get("JobState")


def wait_state(slurm, job_id, wanted, timeout=90):
    private_slurm.wait_until(f"job {job_id} to be {wanted}", lambda: state(slurm, job_id) == wanted,
                             timeout=timeout, log=lambda: str(slurm.job(job_id)))


def hold_every_a100(slurm, admin, jobs):
    """The admin's jobs hold all four A100s, one job per GPU."""
    for node in NODES:
        for _ in range(2):
            jobs.append(submit(slurm, admin, "-w", node, "--gres=gpu:a100:1"))
    private_slurm.wait_until("the admin's jobs to run", lambda: all(state(slurm, j) == "RUNNING" for j in jobs),
                             timeout=60)


def test_a_mig_request_lands_on_a_mig_node_with_exactly_its_mig_device_and_gpu_status_shows_it(
        sh, users, slurm, head, client, jobs):
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "migbox", IMAGE, "--cluster", "--gpu-profile", "1g.5gb",
                         "--wait", "--json", extra_env=head))[0]
    jobs.append(rec["job"])
    assert rec["state"] == "RUNNING" and rec["node"] in NODES, rec
    held = slurm.run(["scontrol", "show", "job", "-d", str(rec["job"])]).stdout
    from ds01.cluster.slurm import parse_show_job

    gpus = parse_show_job(held).gpus
    assert [g.type for g in gpus] == ["1g.5gb"] and gpus[0].index in (2, 3), held
    wanted = {2: f"MIG-{rec['node']}-0200", 3: f"MIG-{rec['node']}-0201"}[gpus[0].index]
    host = client.containers.get(rec["container"]).attrs["HostConfig"]
    assert [r["DeviceIDs"] for r in host["DeviceRequests"]] == [[wanted]], host["DeviceRequests"]
    # every user sees it in gpu-status --cluster: that MIG device held by alice's job and container
    rows = records(sh.run(users["bob"], "gpu-status", "--cluster", "--json", extra_env=head))
    assert {(r["node"], r["type"]) for r in rows} == {(n, t) for n in NODES for t in ("a100", "1g.5gb")}
    assert len(rows) == 4 * len(NODES)
    mine = [r for r in rows if r["jobs"] == [rec["job"]]]
    assert len(mine) == 1, rows
    assert mine[0]["node"] == rec["node"] and mine[0]["gpu"] == gpus[0].index and mine[0]["state"] == "held"
    assert mine[0]["profile"] == "1g.5gb" and mine[0]["gpu_eq"] == pytest.approx(1 / 7, abs=1e-3)
    assert mine[0]["users"] == [alice.pw_name] and mine[0]["containers"] == [rec["container"]]


def test_gpu_status_cluster_shows_a_down_node_as_down_and_a_silent_controller_as_unknown(
        sh, users, slurm, head, user_tmp):
    alice = users["alice"]
    slurm.run(["scontrol", "update", f"nodename={NODES[1]}", "state=down", "reason=ds01-test"])
    try:
        rows = records(sh.run(alice, "gpu-status", "--cluster", "--json", extra_env=head))
        down = [r for r in rows if r["node"] == NODES[1]]
        assert len(down) == 4 and all(r["state"] == "down" and "down" in r["node_state"] for r in down), down
        assert all(r["node_reason"] == "ds01-test" for r in down)
    finally:
        slurm.run(["scontrol", "update", f"nodename={NODES[1]}", "state=resume"])
    dead_port = private_slurm.free_ports(1)[0]
    conf = user_tmp / "slurm.conf"
    conf.write_text(slurm.slurm_conf.read_text().replace(f"SlurmctldPort={slurm.ctld_port}",
                                                         f"SlurmctldPort={dead_port}"))
    cut_off = {**head, "DS01_SLURM_CONF": str(conf)}
    # each silent answer costs Slurm's own connect retries (about 8 s): every command once, one of them as a table
    for command, output in ((["gpu-status", "--cluster"], "--table"), (["gpu-queue", "--cluster"], "--json"),
                            (["check-limits", "--cluster"], "--json")):
        silent = sh.run(alice, *command, output, extra_env=cut_off)
        assert silent.returncode == 1, silent
        assert f"{command[0]}: error:" in silent.stderr and "unknown" in silent.stderr, silent.stderr
        assert "hint:" in silent.stderr and "free" not in silent.stdout, silent


def test_a_request_beyond_the_free_gpus_waits_for_resources_in_container_list_and_gpu_queue(
        sh, users, slurm, head, jobs):
    admin, alice = users["admin"], users["alice"]
    hold_every_a100(slurm, admin, jobs)
    rec = records(sh.run(alice, "container-create", "waiter", IMAGE, "--cluster", "--gpu-profile", "a100",
                         "--json", extra_env=head))[0]
    jobs.append(rec["job"])

    def reason_of(command):
        rows = records(sh.run(alice, *command, "--cluster", "--json", extra_env=head))
        return next((r.get("reason") for r in rows if r.get("job") == rec["job"]), "missing")
    private_slurm.wait_until("Slurm's reason", lambda: reason_of(["container-list"]) not in (None, "None"),
                             timeout=60)
    assert reason_of(["container-list"]) == "Resources"
    queued = records(sh.run(alice, "gpu-queue", "--cluster", "--json", extra_env=head))
    mine = [r for r in queued if r["job"] == rec["job"]]
    assert mine and mine[0]["reason"] == "Resources" and mine[0]["user"] == alice.pw_name, queued
    assert mine[0]["container"] == rec["container"] and mine[0]["num_gpus"] == 1 and mine[0]["gpu_type"] == "a100"


def test_a_user_over_their_groups_cap_waits_on_the_qos_or_is_refused_with_exit_3(sh, users, slurm, head, jobs):
    """alice (one GPU-equivalent) runs one A100: a second waits with the QOS's reason, two at once are refused
    at submit (DenyOnLimit) with exit 3 and a hint to check-limits, and check-limits --cluster shows 1 of 1."""
    alice = users["alice"]
    first = records(sh.run(alice, "container-create", "capone", IMAGE, "--cluster", "--gpu-profile", "a100",
                           "--wait", "--json", extra_env=head))[0]
    jobs.append(first["job"])
    assert first["state"] == "RUNNING", first
    second = records(sh.run(alice, "container-create", "captwo", IMAGE, "--cluster", "--gpu-profile", "a100",
                            "--json", extra_env=head))[0]
    jobs.append(second["job"])

    def reason():
        rows = records(sh.run(alice, "gpu-queue", "--cluster", "--json", extra_env=head))
        return next((r["reason"] for r in rows if r["job"] == second["job"]), None)
    private_slurm.wait_until("the QOS reason", lambda: reason() not in (None, "None"), timeout=60)
    assert reason() in ("QOSMaxGRESPerUser", "QOSMaxBillingPerUser"), reason()
    refused = sh.run(alice, "container-create", "capboth", IMAGE, "--cluster", "--gpu-profile", "a100",
                     "--num-gpus", "2", extra_env=head)
    assert refused.returncode == 3, refused
    assert "container-create: error:" in refused.stderr and "hint:" in refused.stderr
    assert "check-limits" in refused.stderr.split("hint:", 1)[1], refused.stderr
    limits = records(sh.run(alice, "check-limits", "--cluster", "--json", extra_env=head))[0]
    assert limits["user"] == alice.pw_name and limits["qos"] == "student"
    a100 = next(r for r in limits["per_user"] if r["tres"] == "gres/gpu:a100")
    assert a100["limit"] == 1 and a100["used"] == 1 and a100["share"] == 1.0, limits
    assert limits["running"] == [first["job"]]
    assert [p["job"] for p in limits["pending"]] == [second["job"]]
    table = sh.run(alice, "check-limits", "--cluster", "--table", extra_env=head)
    assert table.returncode == 0 and "gres/gpu:a100" in table.stdout and "1 / 1" in table.stdout, table
    other = sh.run(alice, "check-limits", users["bob"].pw_name, "--cluster", extra_env=head)
    assert other.returncode == 5, other


def test_of_two_waiting_users_the_policy_favours_starts_first(sh, users, slurm, head, jobs):
    """Every A100 is held; alice (priority 0) asks first, bob (researcher, priority 20) second. gpu-queue --cluster
    lists bob first, and when one A100 frees, bob's container starts and alice's still waits."""
    admin, alice, bob = users["admin"], users["alice"], users["bob"]
    hold_every_a100(slurm, admin, jobs)
    holders = list(jobs)
    first = records(sh.run(alice, "container-create", "early", IMAGE, "--cluster", "--gpu-profile", "a100",
                           "--json", extra_env=head))[0]
    jobs.append(first["job"])
    second = records(sh.run(bob, "container-create", "late", IMAGE, "--cluster", "--gpu-profile", "a100",
                            "--json", extra_env=head))[0]
    jobs.append(second["job"])
    queued = [r["job"] for r in records(sh.run(alice, "gpu-queue", "--cluster", "--json", extra_env=head))]
    assert queued.index(second["job"]) < queued.index(first["job"]), queued
    slurm.run(["scancel", str(holders[0])])
    wait_state(slurm, second["job"], "RUNNING")
    assert state(slurm, first["job"]) == "PENDING"


def test_ds01_report_cluster_hours_equal_saccts_for_the_jobs_the_test_ran(sh, users, slurm, head, jobs):
    admin, alice, bob = users["admin"], users["alice"], users["bob"]
    private_slurm.wait_until("an empty queue", lambda: not slurm.run(["squeue", "-h"]).stdout.strip(), timeout=90)
    since = int(time.time()) + 1
    private_slurm.wait_until("the next second", lambda: time.time() >= since, timeout=5)
    ran = [submit(slurm, alice, "--gres=gpu:a100:1", command="sleep 3"),
           submit(slurm, bob, "--gres=gpu:1g.5gb:1", command="sleep 2"),
           submit(slurm, bob, "--gres=gpu:a100:2", command="sleep 2")]
    jobs.extend(ran)
    for job_id in ran:
        private_slurm.wait_until(f"job {job_id} to end", lambda j=job_id: state(slurm, j) == "COMPLETED",
                                 timeout=90)
    until = int(time.time()) + 1
    private_slurm.wait_until("the window's end", lambda: time.time() >= until, timeout=5)
    listed = slurm.run(["sacct", "-X", "-n", "-P", "-a", "-j", ",".join(map(str, ran)),
                        "-o", "user,elapsedraw,alloctres"]).stdout
    expected = {}
    for line in listed.splitlines():
        user, elapsed, tres = line.split("|")
        counts = dict(item.split("=") for item in tres.split(","))
        row = expected.setdefault(user, {"slot_hours": 0.0, "gpu_hours": 0.0, "container_hours": 0.0})
        row["slot_hours"] += int(counts["gres/gpu"]) * int(elapsed) / 3600
        row["gpu_hours"] += (int(counts.get("gres/gpu:a100", 0)) + int(counts.get("gres/gpu:1g.5gb", 0)) / 7) \
            * int(elapsed) / 3600
        row["container_hours"] += int(elapsed) / 3600
    assert set(expected) == {alice.pw_name, bob.pw_name}, listed
    window = ["--since", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
              "--until", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))]
    rows = {r["user"]: r for r in records(sh.run(admin, "ds01-report", "--cluster", *window, "--json",
                                                 extra_env=head))}
    assert set(rows) == set(expected), rows
    for user, want in expected.items():
        for key, value in want.items():
            assert rows[user][key] == pytest.approx(value, abs=1e-4), (user, key, rows[user], want)
    assert rows[bob.pw_name]["allocations"] == 2 and rows[bob.pw_name]["group"] == "researcher"
    refused = sh.run(alice, "ds01-report", "--cluster", extra_env=head)
    assert refused.returncode == 5, refused


def test_tres_text_and_mig_shares_read_as_slurm_prints_them():
    from ds01.cluster.slurm import parse_tres_text
    from ds01.cluster.status import gpu_eq

    assert parse_tres_text("cpu=1,mem=1.5G,node=1,billing=114,gres/gpu=2,gres/gpu:a100=1,gres/gpu:1g.5gb=1") == {
        "cpu": 1, "mem": 1536, "node": 1, "billing": 114, "gres/gpu": 2, "gres/gpu:a100": 1, "gres/gpu:1g.5gb": 1}
    assert parse_tres_text("") == {} and parse_tres_text("mem=500M,bad=x") == {"mem": 500}
    assert gpu_eq("a100") == 1.0 and gpu_eq(None) == 1.0 and gpu_eq("3g.20gb") == round(3 / 7, 4)
