"""The lifecycle jobs on a cluster node act through Slurm: an idle cluster container is stopped by cancelling its job
(root's `scancel`), so the shim stops it through ds01's stop path and Slurm frees the GPU; the max-runtime job leaves
cluster containers to Slurm's --time. A container's `ds01.slurm_job` label counts only where its cgroup parent is that
job's cgroup: a label any image (or anyone with Docker) can write names no job.

The jobs run as root on a node (its name, its GPU inventory, the test Slurm), under a fake clock (DS01_NOW) and with
their own state dir, as tests/test_lifecycle.py runs them.
"""

import json
import time

import docker
import pytest

from ds01 import labels as L
from tests.support import sandbox
from tests.support import slurm as private_slurm
from tests.support.cluster import records, wait_job_ended

IMAGE = sandbox.BASE_IMAGE
HOUR = 3600


@pytest.fixture
def job_state(tmp_path):
    """The lifecycle jobs' own state dir (their memory under a fake clock stays out of the suite's)."""
    directory = tmp_path / "jobs-state"
    directory.mkdir(mode=0o755)
    return directory


def run_job(sh, slurm, node, state, name, at, *args):
    """A lifecycle job as root on `node` (as cron runs it there) at Unix time `at`; its decisions by container."""
    root = sandbox.pwd.getpwnam("root")
    env = {"DS01_NOW": str(at), "DS01_NODE_NAME": node, "DS01_SLURM_CONF": str(slurm.slurm_conf),
           "DS01_GPU_INVENTORY": str(slurm.root / "policy" / f"{node}.yaml"), "DS01_STATE_DIR": str(state)}
    result = sh.run(root, name, "--json", *args, extra_env=env)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines and lines[-1].get("summary"), result.stderr + result.stdout
    return result.returncode, {r["container"]: r for r in lines if not r.get("summary")}, result.stderr


def idle_checks(sh, slurm, node, state, t0):
    """The idle check's window of checks (3 by default), the last one hours later: past the idle timeout."""
    for at in (t0, t0 + 1):
        run_job(sh, slurm, node, state, "ds01-idle-check", at)
    return run_job(sh, slurm, node, state, "ds01-idle-check", t0 + 3 * HOUR)


def sacct_state(slurm, job_id):
    done = slurm.run(["sacct", "-X", "-n", "-P", "-o", "State", "-j", str(job_id)], check=False)
    return done.stdout.strip().split(" ")[0]


def gpu_of(sh, user, head, job_id):
    rows = records(sh.run(user, "gpu-status", "--cluster", "--json", extra_env=head))
    return [r["slot"] for r in rows if job_id in r["jobs"]], {r["slot"]: r["state"] for r in rows}


def test_an_idle_cluster_container_is_stopped_by_cancelling_its_job(sh, users, slurm, head, client, job_state):
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "dozing", IMAGE, "--cluster", "--num-gpus", "1", "--wait",
                         "--json", extra_env=head))[0]
    try:
        assert rec["state"] == "RUNNING" and rec["status"] == "running", rec
        held, _ = gpu_of(sh, alice, head, rec["job"])
        assert len(held) == 1, held
        t0 = time.time()

        # max runtime is Slurm's --time in cluster mode: the job says so and leaves the container running
        code, runtime, _ = run_job(sh, slurm, rec["node"], job_state, "ds01-max-runtime", t0 + 1000 * HOUR)
        mine = runtime[rec["container"]]
        assert code == 0 and mine["decision"] == "skip" and "--time" in mine["reason"], mine
        assert mine["slurm_job"] == rec["job"]
        assert client.containers.get(rec["container"]).status == "running"

        code, decided, stderr = idle_checks(sh, slurm, rec["node"], job_state, t0)
        stop = decided[rec["container"]]
        assert code == 0 and stop["decision"] == "stop" and stop["slurm_job"] == rec["job"], (stop, stderr)
        assert f"cancelling Slurm job {rec['job']}" in stop["reason"]

        wait_job_ended(slurm, rec["job"])
        private_slurm.wait_until("sacct to record the job's end",
                                 lambda: sacct_state(slurm, rec["job"]) in ("CANCELLED", "COMPLETED"), timeout=30)
        container = client.containers.get(rec["container"])
        private_slurm.wait_until("the shim to stop the container",
                                 lambda: container.reload() or container.status != "running", timeout=30)
        assert container.status == "exited"  # stopped and kept on its node
        _, states = gpu_of(sh, alice, head, rec["job"])
        assert all(states[slot] == "free" for slot in held), states
        listed = [r for r in records(sh.run(alice, "container-list", "--cluster", "--json", extra_env=head))
                  if r["name"] == "dozing"]
        assert listed and listed[0]["status"] == "exited", listed
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)
        sh.run(alice, "container-remove", "dozing", "--cluster", "--force", extra_env=head)


def test_a_label_naming_alices_job_does_not_make_the_idle_check_cancel_it(sh, users, slurm, head, client,
                                                                         job_state):
    """A container bob's image (or anyone with Docker) labels with alice's running job, on this node or hers, is
    judged as the plain container it is (stopped by Docker, and held to the max runtime); alice's job, on another
    node, is that node's to judge and keeps running."""
    alice, bob = users["alice"], users["bob"]
    rec = records(sh.run(alice, "container-create", "victim", IMAGE, "--cluster", "--num-gpus", "1", "--wait",
                         "--json", extra_env=head))[0]
    other = next(n for n in slurm.nodes if n != rec["node"])
    forged = []
    try:
        for node in (rec["node"], other):
            forged.append(client.containers.run(
                IMAGE, ["sleep", "infinity"], name=f"forged-{node}._.{bob.pw_uid}", detach=True, init=True,
                user=f"{bob.pw_uid}:{bob.pw_gid}",
                labels={L.USER: bob.pw_name, L.NAME: f"forged-{node}", "ds01.slurm_job": str(rec["job"]),
                        "ds01.node": node},
                device_requests=[docker.types.DeviceRequest(device_ids=[f"GPU-{other}-0001"],
                                                            capabilities=[["gpu"]])]))
        t0 = time.time()
        _, runtime, _ = run_job(sh, slurm, other, job_state, "ds01-max-runtime", t0 + 1000 * HOUR, "--dry-run")
        assert runtime[rec["container"]]["decision"] == "skip"  # Slurm's --time ends alice's job
        for container in forged:  # a label does not escape the max runtime
            assert runtime[container.name]["decision"] == "stop", runtime[container.name]
        code, decided, stderr = idle_checks(sh, slurm, other, job_state, t0)
        assert code == 0, stderr
        assert decided[rec["container"]]["decision"] == "skip", decided[rec["container"]]
        assert f"node {rec['node']}" in decided[rec["container"]]["reason"]
        for container in forged:
            mine = decided[container.name]
            assert mine["decision"] == "stop" and "slurm_job" not in mine, mine
            container.reload()
            assert container.status == "exited"
        assert slurm.job(rec["job"])["JobState"] == "RUNNING"
        assert client.containers.get(rec["container"]).status == "running"
    finally:
        for container in forged:
            container.remove(force=True)
        slurm.run(["scancel", str(rec["job"])], check=False)
        wait_job_ended(slurm, rec["job"])
        sh.run(alice, "container-remove", "victim", "--cluster", "--force", extra_env=head)
