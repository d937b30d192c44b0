"""What the cluster tests share: one ds01d per node of the private Slurm, the head's settings, job waits.

A node's ds01d is the node's own (its name, the generated gres.conf, its GPU inventory) and shares the suite's
private dockerd; the head's ds01d is the `sh` Shell's broker with `head_env` as its extra settings.
"""

import contextlib
import json

from tests.support import brokers, sandbox
from tests.support import slurm as private_slurm
from tests.support.harness import Shell

IMAGE = sandbox.BASE_IMAGE
ENDED = ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING")


@contextlib.contextmanager
def node_brokers(slurm, dockerd, policy_file, event_log_dir, state_dir, directory):
    """(socket pattern with `{node}`, {node: Broker}): a ds01d per node, stopped on leaving."""
    directory.mkdir(mode=0o755, exist_ok=True)
    shell = Shell(dockerd, policy_file, event_log_dir, {"DS01_STATE_DIR": str(state_dir)})
    started = {}
    try:
        for node in slurm.nodes:
            settings = shell.settings({"DS01_NODE_NAME": node, "DS01_GRES_CONF": str(slurm.generated / "gres.conf"),
                                       "DS01_GPU_INVENTORY": str(slurm.root / "policy" / f"{node}.yaml"),
                                       "DS01_SLURM_CONF": str(slurm.slurm_conf)})
            started[node] = brokers.Broker(settings, socket=str(directory / f"{node}.sock")).start()
        yield str(directory / "{node}.sock"), started
    finally:
        for broker in started.values():
            broker.stop()


def head_env(slurm, sockets):
    """The head ds01d's settings (the `extra_env` of sh.run): the cluster and where each node's ds01d listens."""
    return {"DS01_SLURM_CONF": str(slurm.slurm_conf), "DS01_CLUSTER_NODE_SOCKET": sockets}


def records(result):
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def job_state(slurm, job_id):
    return slurm.job(job_id).get("JobState")


def wait_job_ended(slurm, job_id):
    private_slurm.wait_until(f"job {job_id} to end", lambda: job_state(slurm, job_id) not in ENDED, timeout=90)
    return slurm.job(job_id)


def grant(slurm, job_id):
    """What the head's ds01d does to each job it submits (held): write its grant into the job's AdminComment and
    release it, as root. Attack tests use it to reach the node's later checks with a job the user shaped."""
    slurm.run(["scontrol", "update", f"JobId={int(job_id)}", "AdminComment=ds01:granted"])
    slurm.run(["scontrol", "release", str(int(job_id))])


def hold_every_a100(slurm, admin, holders):
    """The admin's jobs hold both A100s of every node, running: what makes the next A100 request wait. Each job id
    is added to `holders` as it is submitted, so the caller's `scancel` finds it whatever fails later."""
    for node in private_slurm.NODES:
        held = slurm.as_user(admin, ["sbatch", "--parsable", "-w", node, "--gres=gpu:a100:2", "-c1", "--mem=100",
                                     "--chdir=/tmp", "--output=/dev/null", "--wrap", "sleep 600"])
        holders.append(held.stdout.strip().split(";")[0])
    private_slurm.wait_until("the admin's jobs to run",
                             lambda: all(job_state(slurm, j) == "RUNNING" for j in holders), timeout=60)


@contextlib.contextmanager
def cancelled_after(slurm):
    """A list for the job ids a test makes; each is cancelled on leaving, whatever happened."""
    made = []
    try:
        yield made
    finally:
        if made:
            slurm.run(["scancel", *map(str, made)], check=False)


def create_running(sh, user, name, head, *gpus):
    """`user`'s cluster container `name`, created with --wait (CPU-only unless `gpus` are options) and running on
    its node: its JSON record."""
    rec = records(sh.run(user, "container-create", name, IMAGE, "--cluster", *(gpus or ("--cpu-only",)), "--wait",
                         "--json", extra_env=head))[0]
    assert rec["state"] == "RUNNING" and rec["status"] == "running", rec
    return rec


def listed(sh, user, name, head):
    """The row of `name` in the user's `container-list --cluster` (None when it is not listed)."""
    rows = [r for r in records(sh.run(user, "container-list", "--cluster", "--json", extra_env=head))
            if r["name"] == name]
    return rows[0] if rows else None
