"""The create/start side of cluster containers on the private two-node Slurm: `container-start --cluster --wait`
returns once the container runs; each job's `--time` is the runtime its container has left (slurmdbd's count of its
earlier jobs), a used-up one is refused unless an admin's exemption lets the QOS's MaxWall bind; a policy's
`cluster: {default: true}` makes the container commands mean the cluster (`--no-cluster`: this server); and the
container limit counts cluster containers, queued ones included.

The head's ds01d is a Shell with its own policy (the suite's, changed per test) and state; each node has its own
ds01d, as in tests/test_cluster.py.
"""

import json
import os

import pytest

from tests.support import sandbox
from tests.support import slurm as private_slurm
from tests.support.cluster import hold_every_a100, records, wait_job_ended
from tests.support.harness import Shell

IMAGE = sandbox.BASE_IMAGE
NODES = private_slurm.NODES


@pytest.fixture
def head_with(sh, dockerd, policy_file, event_log_dir, user_tmp):
    """A head ds01d whose policy is the suite's with `edits` ({old text: new text}) and a state of its own; the
    `sh` fixture removes the containers after the test."""
    def make(edits):
        text = policy_file.read_text()
        for old, new in edits.items():
            assert old in text, old
            text = text.replace(old, new)
        directory = user_tmp / "head"
        directory.mkdir(mode=0o755)
        path = directory / "resource-limits.yaml"
        path.write_text(text)
        os.chmod(path, 0o644)
        state = directory / "state"
        state.mkdir(mode=0o755)
        return Shell(dockerd, path, event_log_dir, {"DS01_STATE_DIR": str(state)}), path
    return make


def time_limit(slurm, job_id):
    return slurm.job(job_id)["TimeLimit"]


def ran_at_least(slurm, job_id, seconds):
    """Wait until the controller says job `job_id` has run `seconds` (its RunTime, [D-]HH:MM:SS)."""
    def run_time():
        h, m, s = slurm.job(job_id)["RunTime"].split("-")[-1].split(":")
        return int(h) * 3600 + int(m) * 60 + int(s)
    private_slurm.wait_until(f"job {job_id} to run {seconds} s", lambda: run_time() >= seconds, timeout=seconds + 30)


def stop_and_end(head_sh, user, name, slurm, job_id, head):
    records(head_sh.run(user, "container-stop", name, "--cluster", "--json", extra_env=head))
    wait_job_ended(slurm, job_id)


def ran_and_stopped(shell, user, name, slurm, head, jobs, limit, seconds):
    """`user`'s new CPU-only cluster container `name`, whose first job got `limit` as its --time, ran `seconds` and
    was stopped: its record. The job's id is added to `jobs` (the caller's to cancel) as soon as it is known."""
    rec = records(shell.run(user, "container-create", name, IMAGE, "--cluster", "--cpu-only", "--wait", "--json",
                            extra_env=head))[0]
    jobs.append(rec["job"])
    assert time_limit(slurm, rec["job"]) == limit
    ran_at_least(slurm, rec["job"], seconds)
    stop_and_end(shell, user, name, slurm, rec["job"], head)
    return rec


# ---------------------------------------------------------------- 1: container-start --cluster --wait

def test_container_start_cluster_wait_returns_once_it_runs_on_its_node(sh, users, slurm, head, client):
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "back", IMAGE, "--cluster", "--cpu-only", "--wait", "--json",
                         extra_env=head))[0]
    jobs = [rec["job"]]
    try:
        stop_and_end(sh, alice, "back", slurm, rec["job"], head)
        started = sh.run(alice, "container-start", "back", "--cluster", "--wait=120", "--json", extra_env=head)
        row = records(started)[0]
        jobs.append(row["job"])
        assert row["state"] == "RUNNING" and row["status"] == "running", row
        assert row["node"] == rec["node"] and row["job"] != rec["job"], row
        assert client.containers.get(rec["container"]).status == "running"
        bad = sh.run(alice, "container-start", "back", "--cluster", "--wait=soon", extra_env=head)
        assert bad.returncode == 2 and "--wait" in bad.stderr, bad
    finally:
        slurm.run(["scancel", *map(str, jobs)], check=False)


# ---------------------------------------------------------------- 2: --time is the remaining runtime

def test_each_start_gets_only_the_runtime_its_earlier_jobs_left(head_with, users, slurm, head):
    """alice's max runtime is 3 minutes: her first job gets --time 3; it runs a few seconds, so the next start's
    job gets what is left, rounded down to whole minutes (2), from slurmdbd's count, not from anything of hers."""
    alice = users["alice"]
    shell, _ = head_with({"  student:\n": "  student:\n    max_runtime_h: 3m\n"})
    jobs = []
    try:
        ran_and_stopped(shell, alice, "timed", slurm, head, jobs, "00:03:00", 3)
        again = records(shell.run(alice, "container-start", "timed", "--cluster", "--json", extra_env=head))[0]
        jobs.append(again["job"])
        assert time_limit(slurm, again["job"]) == "00:02:00"
    finally:
        slurm.run(["scancel", *map(str, jobs)], check=False)


def test_a_used_up_runtime_refuses_the_start_until_an_exemption_lets_maxwall_bind(head_with, users, slurm, head):
    """bob's max runtime is 66 s: after 8 s of his first job less than a minute is left, and container-start is
    refused (exit 3, naming the exemption file); an admin's exemption gives him no --time, so his QOS's MaxWall
    (researcher: 48 h) binds, no more."""
    bob = users["bob"]
    shell, policy = head_with({"    max_containers_per_user: 1\n": "    max_containers_per_user: 1\n"
                                                                   "    max_runtime_h: 66s\n"})
    jobs = []
    try:
        rec = ran_and_stopped(shell, bob, "spent", slurm, head, jobs, "00:01:00", 8)
        refused = shell.run(bob, "container-start", "spent", "--cluster", extra_env=head)
        assert refused.returncode == 3, refused
        assert "max runtime" in refused.stderr and "lifecycle-exemptions.yaml" in refused.stderr, refused.stderr
        assert "resource-limits --check-exemption" in refused.stderr, refused.stderr
        # his own files cannot give the time back: only the head's root-written record of his jobs counts
        assert not any(str(rec["job"]) in p for p in os.listdir(bob.pw_dir))
        exemption = policy.parent / "lifecycle-exemptions.yaml"
        exemption.write_text(f"exemptions:\n  - {{username: {bob.pw_name}, exempt_from: [max_runtime_h], "
                             "reason: deadline, expires_on: null}\n")
        os.chmod(exemption, 0o644)
        exempt = records(shell.run(bob, "container-start", "spent", "--cluster", "--json", extra_env=head))[0]
        jobs.append(exempt["job"])
        assert time_limit(slurm, exempt["job"]) == "2-00:00:00"
    finally:
        slurm.run(["scancel", *map(str, jobs)], check=False)


# ---------------------------------------------------------------- 3: cluster: {default: true}

def test_a_policy_default_makes_the_container_commands_mean_the_cluster(head_with, users, slurm, head, client):
    alice = users["alice"]
    shell, _ = head_with({"aime:\n": "cluster: {default: true}\naime:\n"})
    rec = records(shell.run(alice, "container-create", "dflt", IMAGE, "--cpu-only", "--wait", "--json",
                            extra_env=head))[0]
    jobs = [rec["job"]]
    try:
        assert rec["state"] == "RUNNING" and rec["node"] in NODES, rec
        listed = records(shell.run(alice, "container-list", "--json", extra_env=head))
        assert [(r["name"], r["job"]) for r in listed] == [("dflt", rec["job"])], listed
        code = shell.run(alice, "container-run", "dflt", "--", "sh", "-c", "exit 5", extra_env=head)
        assert code.returncode == 5, code
        stopped = records(shell.run(alice, "container-stop", "dflt", "--json", extra_env=head))[0]
        assert stopped["job"] == rec["job"], stopped
        wait_job_ended(slurm, rec["job"])
        started = records(shell.run(alice, "container-start", "dflt", "--wait", "--json", extra_env=head))[0]
        jobs.append(started["job"])
        assert started["state"] == "RUNNING" and started["node"] == rec["node"], started
        # --no-cluster: this server, as without the policy's default
        local = shell.run(alice, "container-create", "here", IMAGE, "--cpu-only", "--no-cluster", "--json",
                          extra_env=head)
        made = records(local)[0]
        assert "job" not in made and client.containers.get(made["container"]).labels.get("ds01.slurm_job") is None
        mine = records(shell.run(alice, "container-list", "-a", "--no-cluster", "--json", extra_env=head))
        assert "here" in [r["name"] for r in mine], mine
    finally:
        slurm.run(["scancel", *map(str, jobs)], check=False)


# ---------------------------------------------------------------- 4: one container count across nodes

def test_a_user_at_the_container_limit_cannot_exceed_it_with_cluster_containers(sh, users, slurm, head, client):
    """alice may have 3 containers. Every A100 is held by the admin's jobs, so her A100 cluster containers wait in
    the queue (no node has made them yet): they count all the same, as does one on this server; the next create,
    --cluster or not, is refused with exit 3 and nothing is submitted."""
    admin, alice = users["admin"], users["alice"]
    holders = []
    try:
        hold_every_a100(slurm, admin, holders)
        sh.run(alice, "container-create", "local", IMAGE, "--cpu-only", check=True, extra_env=head)
        for name in ("q1", "q2"):
            rec = records(sh.run(alice, "container-create", name, IMAGE, "--cluster", "--gpu-profile", "a100",
                                 "--json", extra_env=head))[0]
            holders.append(str(rec["job"]))
            assert rec["state"] == "PENDING", rec
        queue_before = slurm.run(["squeue", "-h", "-o", "%i", f"--user={alice.pw_name}"]).stdout.split()
        for extra in (("--gpu-profile", "a100"), ("--cpu-only",), ("--num-gpus", "1")):
            over = sh.run(alice, "container-create", "q3", IMAGE, "--cluster", *extra, extra_env=head)
            assert over.returncode == 3 and "CONTAINER_LIMIT (3/3)" in over.stderr, over
            assert "hint: container-list -a and container-list --cluster" in over.stderr, over.stderr
        assert slurm.run(["squeue", "-h", "-o", "%i", f"--user={alice.pw_name}"]).stdout.split() == queue_before
        listed = records(sh.run(alice, "container-list", "--cluster", "--json", extra_env=head))
        assert sorted(r["name"] for r in listed) == ["q1", "q2"], listed
    finally:
        slurm.run(["scancel", *holders], check=False)


def test_the_head_record_of_the_jobs_is_not_the_users_to_write(sh, users, slurm, head, state_dir):
    """The list of a container's jobs (what its runtime is counted from) is in the head's root-only record."""
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "owned", IMAGE, "--cluster", "--cpu-only", "--json",
                         extra_env=head))[0]
    try:
        path = state_dir / "cluster" / str(alice.pw_uid) / "owned.json"
        info = os.stat(path)
        assert info.st_uid == 0 and info.st_mode & 0o077 == 0 and os.stat(path.parent).st_mode & 0o077 == 0
        assert json.loads(path.read_text())["jobs"] == [rec["job"]]
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)
