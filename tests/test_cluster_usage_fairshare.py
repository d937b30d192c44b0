"""Reading the cluster: `dashboard --cluster` (nodes, GPUs, the queue in Slurm's order, fair share, your cluster
containers; "unknown" and exit 1 when the controller is silent), and fair share ordering two waiting students.

The fair-share test uses the usage the earlier cluster test files left: this file's name sorts after theirs, and
the fixture recomputes fair share every minute (PriorityCalcPeriod=1), so it asks `sshare` (never sleeps) until the
heavy student's factor is below the light one's. Alice (a student) ran GPU jobs in those files; bob is a student in
Slurm too (an association the fixture adds) who never ran one as a student. Run alone, the test first gives alice a
few seconds of GPU use and waits for Slurm's next recomputation (up to a minute).
"""

import pytest

from tests.support import sandbox
from tests.support import slurm as private_slurm
from tests.support.cluster import cancelled_after, records

IMAGE = sandbox.BASE_IMAGE
NODE = private_slurm.NODES[0]
STUDENT = "student"
SMALL = ["-c1", "--mem=100", "--chdir=/tmp", "--output=/dev/null", "--time=5"]  # a job's CPU and memory, not a node's


@pytest.fixture
def jobs(slurm):
    """Job ids to cancel at the end."""
    with cancelled_after(slurm) as made:
        yield made


def student_shares(slurm):
    """{user: (raw usage, fair-share factor)} of the student account's associations, as `sshare` says."""
    done = slurm.run(["sshare", "-n", "-P", "-a", "-A", STUDENT, "-o", "Account,User,RawUsage,FairShare"])
    shares = {}
    for line in done.stdout.splitlines():
        account, user, usage, factor = (line.split("|") + ["", "", "", ""])[:4]
        if account.strip() == STUDENT and user:
            shares[user] = (int(usage or 0), float(factor or 0))
    return shares


def submit(slurm, entry, gres, node, jobs, account=(f"--account={STUDENT}", f"--qos={STUDENT}")):
    """A plain batch job of `entry`'s holding a GPU of `gres` on `node` (in the student account and QOS)."""
    done = slurm.as_user(entry, ["sbatch", "--parsable", *account, f"--gres={gres}", f"--nodelist={node}", *SMALL,
                                 "--wrap", "sleep 300"])
    job = int(done.stdout.strip().split(";")[0])
    jobs.append(job)
    return job


def test_fair_share_starts_the_lighter_students_job_first(sh, users, slurm, head, jobs):
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    heavy, light = alice.pw_name, bob.pw_name
    if student_shares(slurm).get(heavy, (0, 0))[0] == 0:  # run alone: no earlier GPU use of alice's to count
        slurm.as_user(alice, ["sbatch", "--wait", "--gres=gpu:1", *SMALL, "--wrap", "sleep 3"], timeout=120)
    private_slurm.wait_until("Slurm to rank the heavy student below the light one", lambda: (
        lambda s: heavy in s and light in s and s[heavy][0] > 0 and s[heavy][1] < s[light][1])(student_shares(slurm)),
        timeout=150, log=lambda: str(student_shares(slurm)))

    # both of NODE's whole A100s busy (the admin's jobs), then two equal-QOS requests for one: alice's first
    blockers = [submit(slurm, admin, "gpu:a100:1", NODE, jobs, account=()) for _ in range(2)]
    private_slurm.wait_until("the blockers to run",
                             lambda: all(slurm.job(j)["JobState"] == "RUNNING" for j in blockers), timeout=60)
    first = submit(slurm, alice, "gpu:a100:1", NODE, jobs)
    second = submit(slurm, bob, "gpu:a100:1", NODE, jobs)
    waiting = {j: slurm.job(j) for j in (first, second)}
    assert all(job["JobState"] == "PENDING" for job in waiting.values()), waiting

    queue = [r["job"] for r in records(sh.run(alice, "gpu-queue", "--cluster", "--json", extra_env=head))]
    assert queue.index(second) < queue.index(first), queue  # bob's, submitted later, is ahead
    view = records(sh.run(admin, "dashboard", "--cluster", "--json", extra_env=head))[0]
    assert [r["job"] for r in view["queue"]].index(second) < [r["job"] for r in view["queue"]].index(first)
    factors = {r["user"]: r["fairshare"] for r in view["fairshare"] if r["account"] == STUDENT}
    assert factors[heavy] < factors[light], view["fairshare"]
    own = records(sh.run(alice, "dashboard", "--cluster", "--json", extra_env=head))[0]
    assert {r["user"] for r in own["fairshare"]} == {heavy}, own["fairshare"]  # her own share only

    slurm.run(["scancel", str(blockers[0])])  # one A100 frees: the light student's job starts on it
    private_slurm.wait_until("one of the two to start", lambda: "RUNNING" in (
        slurm.job(first)["JobState"], slurm.job(second)["JobState"]), timeout=60)
    assert slurm.job(second)["JobState"] == "RUNNING"
    assert slurm.job(first)["JobState"] == "PENDING"


def test_dashboard_cluster_shows_nodes_gpus_queue_and_your_cluster_containers(sh, users, slurm, head, user_tmp):
    alice, bob = users["alice"], users["bob"]
    rec = records(sh.run(alice, "container-create", "board", IMAGE, "--cluster", "--num-gpus", "1", "--wait",
                         "--json", extra_env=head))[0]
    try:
        view = records(sh.run(alice, "dashboard", "--cluster", "--json", extra_env=head))[0]
        assert {n["node"] for n in view["nodes"]} == set(slurm.nodes), view["nodes"]
        assert sum(n["gpus"] for n in view["nodes"]) == len(view["gpus"]) == 4 * len(slurm.nodes)
        held = [g for g in view["gpus"] if rec["job"] in g["jobs"]]
        assert len(held) == 1 and held[0]["node"] == rec["node"] and held[0]["state"] == "held", held
        assert held[0]["containers"] == [rec["container"]] and held[0]["users"] == [alice.pw_name]
        mine = [c for c in view["containers"] if c["name"] == "board"]
        assert mine == [{"name": "board", "node": rec["node"], "job": rec["job"], "state": "RUNNING",
                         "reason": None, "status": "running", "image": mine[0]["image"]}], view["containers"]
        theirs = records(sh.run(bob, "dashboard", "--cluster", "--json", extra_env=head))[0]
        assert not [c for c in theirs["containers"] if c["name"] == "board"]  # her containers are hers
        terminal = sh.spawn(alice, "dashboard", "--cluster", "--once", extra_env=head)
        terminal.expect(r"q or Ctrl-C quits")
        frame = terminal.before
        assert "Nodes" in frame and rec["node"] in frame and "Fair share" in frame and "board" in frame, frame
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)

    dead_port = private_slurm.free_ports(1)[0]
    conf = user_tmp / "slurm.conf"
    conf.write_text(slurm.slurm_conf.read_text().replace(f"SlurmctldPort={slurm.ctld_port}",
                                                         f"SlurmctldPort={dead_port}"))
    for output in ("--json", "--once"):
        silent = sh.run(alice, "dashboard", "--cluster", output, extra_env={**head, "DS01_SLURM_CONF": str(conf)})
        assert silent.returncode == 1, silent
        assert "dashboard: error:" in silent.stderr and "unknown" in silent.stderr and "hint:" in silent.stderr
        assert silent.stdout == "", silent.stdout  # no nodes, no GPUs, no empty queue
