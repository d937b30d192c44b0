"""The private multi-node Slurm (tests/support/slurm.py) and ds01-slurm-generate against a real slurmctld.

Each test asks Slurm what a user or an admin would: are the nodes up with their GPUs, does alice's job land
where she asked and show in accounting, does her group's cap hold her second GPU, do the generated files and
the QOS stay as generated, and does nothing of a test cluster outlive it.
"""

import os
import re

import pytest

from tests.support import slurm as private_slurm
from tests.support.harness import require

JOB = ["--chdir=/tmp", "--output=/dev/null", "-c1", "--mem=100", "--wrap", "sleep 300"]


def submit(slurm, entry, *args):
    result = slurm.as_user(entry, ["sbatch", "--parsable", *args, *JOB], check=False)
    return result


def wait_state(slurm, job_id, states):
    found = {}

    def probe():
        found.update(slurm.job(job_id))
        return found.get("JobState") in states or (found.get("JobState") == "PENDING"
                                                   and found.get("Reason") not in ("None", "Priority", None))
    private_slurm.wait_until(f"job {job_id} in {states}", probe, timeout=60)
    return found


def test_two_nodes_are_idle_with_their_gpus(slurm):
    states = slurm.node_states()
    assert set(states) >= {"n1", "n2"}, states
    for node in ("n1", "n2"):
        state, gres = states[node]
        assert state == "idle", states
        assert "gpu:a100:2" in gres and "gpu:1g.5gb:2" in gres, gres


def test_alice_job_runs_on_the_node_she_asked_for_and_is_accounted(slurm, users):
    result = submit(slurm, users["alice"], "-w", "n2", "--gres=gpu:a100:1")
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip().split(";")[0]
    try:
        job = wait_state(slurm, job_id, ("RUNNING",))
        assert job["JobState"] == "RUNNING", job
        assert job["NodeList"] == "n2"
        assert job["UserId"].startswith(users["alice"].pw_name + "(")
        assert "gres/gpu:a100=1" in job["TRES"].split(","), job["TRES"]
        sacct = ["sacct", "-a", "-X", "-n", "-P", "-o", "jobid,user,nodelist,alloctres,qos", "-j", job_id]
        row = []

        def accounted():  # the start record reaches slurmdbd a moment after the job starts
            row[:] = (slurm.run(sacct).stdout.splitlines() or [""])[0].split("|")
            return len(row) == 5 and "gres/gpu:a100=1" in row[3].split(",")
        private_slurm.wait_until("sacct to list the job's GPU", accounted, timeout=30)
        assert row[1] == users["alice"].pw_name and row[2] == "n2", row
        assert row[4] == "student", row  # her group's QOS, the association's default
    finally:
        slurm.run(["scancel", job_id], check=False)


def test_a_second_gpu_beyond_the_group_cap_waits_or_is_refused(slurm, users):
    """alice's group (student) holds one GPU-equivalent: a second whole GPU must not start."""
    first = submit(slurm, users["alice"], "--gres=gpu:a100:1")
    assert first.returncode == 0, first.stderr
    first_id = first.stdout.strip().split(";")[0]
    ids = [first_id]
    try:
        assert wait_state(slurm, first_id, ("RUNNING",))["JobState"] == "RUNNING"
        second = submit(slurm, users["alice"], "--gres=gpu:a100:1")
        if second.returncode != 0:  # DenyOnLimit refuses at submit
            assert "QOSMax" in second.stderr or "Job violates accounting/QOS policy" in second.stderr, second.stderr
            return
        ids.append(second.stdout.strip().split(";")[0])
        job = wait_state(slurm, ids[1], ("RUNNING",))
        assert job["JobState"] == "PENDING", job
        assert re.fullmatch(r"QOSMax(GRES|Billing)PerUser", job["Reason"]), job["Reason"]
        print("alice's second GPU job:", job["JobState"], job["Reason"])
        # bob (researcher, two GPU-equivalents) is not held by alice's cap
        bob = submit(slurm, users["bob"], "--gres=gpu:a100:1")
        assert bob.returncode == 0, bob.stderr
        ids.append(bob.stdout.strip().split(";")[0])
        assert wait_state(slurm, ids[2], ("RUNNING",))["JobState"] == "RUNNING"
    finally:
        slurm.run(["scancel", *ids], check=False)


def test_generated_files_check_clean_then_drift_after_a_hand_edit(slurm):
    check = slurm.generate("--check")
    assert check.returncode == 0, check.stderr
    gres = slurm.generated / "gres.conf"
    original = gres.read_text()
    try:
        gres.write_text(original.replace("Type=a100", "Type=h100", 1))
        (slurm.generated / "cgroup.conf").rename(slurm.generated / "cgroup.conf.moved")
        drifted = slurm.generate("--check")
        assert drifted.returncode == 1, drifted
        assert f"{gres} (differs)" in drifted.stderr and "cgroup.conf (missing)" in drifted.stderr, drifted.stderr
        assert "ds01-slurm-generate: error:" in drifted.stderr and "hint:" in drifted.stderr
        assert gres.read_text() != original  # --check writes nothing
    finally:
        gres.write_text(original)
        (slurm.generated / "cgroup.conf.moved").rename(slurm.generated / "cgroup.conf")
    assert slurm.generate("--check").returncode == 0


def test_apply_twice_changes_nothing_the_second_time(slurm):
    show = ["sacctmgr", "-nP", "show", "qos", "format=name,maxtrespu,maxtres,maxwall,priority,flags"]
    before = slurm.run(show).stdout
    student = next(line.split("|") for line in before.splitlines() if line.startswith("student|"))
    assert set(student[1].split(",")) == {"billing=100", "gres/gpu:a100=1", "gres/gpu=7"}, student
    assert student[2:] == ["gres/gpu=2", "1-00:00:00", "10", "DenyOnLimit"], student
    again = slurm.generate("--apply", "--json")
    assert again.returncode == 0, again.stderr
    assert '"nothing changed"' in again.stdout and '"applied"' not in again.stdout, again.stdout
    assert slurm.run(show).stdout == before
    # an admin's hand change to a ds01 QOS is put back, and only that
    slurm.run(["sacctmgr", "-i", "modify", "qos", "where", "name=student", "set", "MaxWall=60", "Priority=99"])
    fixed = slurm.generate("--apply", "--json")
    assert fixed.returncode == 0 and fixed.stdout.count('"applied"') == 1, fixed.stdout
    assert slurm.run(show).stdout == before


@pytest.mark.system
def test_teardown_leaves_no_daemon_and_the_reaper_stops_a_dead_runs(tmp_path):
    """A cluster stopped leaves no process naming its dir; one whose run died (its lock free) is reaped at the
    next start, and a live run's beside it is left alone."""
    reason = private_slurm.unavailable_reason()
    if reason:
        require(reason)
    stopped = private_slurm.Slurm(parent=tmp_path)
    stopped.start_munge()
    assert private_slurm.processes_under(stopped.root)
    stopped.stop()
    assert not private_slurm.processes_under(stopped.root) and not stopped.root.exists()

    dead, live = private_slurm.Slurm(parent=tmp_path), private_slurm.Slurm(parent=tmp_path)
    try:
        dead.start_munge()
        live.start_munge()
        os.close(dead.owner_lock)  # its run died: the lock is free
        dead.owner_lock = None
        private_slurm.reap_stale(tmp_path)
        assert not private_slurm.processes_under(dead.root) and not dead.root.exists()
        assert private_slurm.processes_under(live.root) and live.root.exists()
    finally:
        for cluster in (dead, live):
            if cluster.root.exists() and cluster.owner_lock is not None:
                cluster.stop()
