"""The head knows a cluster container only from Slurm and its own records, and removes it on its node.

The node's ds01d (root: a Slurm operator) writes the container's state into the job's AdminComment
(`ds01:running:<id>`, `ds01:exited:<code>`), which the job's owner cannot set; the head's `container-list --cluster`
reads it from `squeue --json` (and `sacct --json` once the job has gone), never from an engine. So a head whose
Docker host does not exist still creates, lists, stops, starts and removes cluster containers.
`container-remove/-retire NAME --cluster` removes the container on its node through a short job of the caller's
pinned there, whose shim asks that node's ds01d (which trusts only the kernel and the controller).
"""

import json
import sys
from pathlib import Path

import docker

from tests.support import sandbox
from tests.support import slurm as private_slurm
from tests.support.cluster import create_running, listed, records, wait_job_ended

IMAGE = sandbox.BASE_IMAGE
SHIM = str(Path(sys.executable).parent / "ds01-slurm-shim")


def admin_comment(slurm, job_id):
    """The job's AdminComment as squeue --json prints it (root's view, as the head reads it)."""
    jobs = json.loads(slurm.run(["squeue", "--json"]).stdout)["jobs"]
    return next((j.get("admin_comment") for j in jobs if j["job_id"] == int(job_id)), None)


def exists(client, container):
    try:
        client.containers.get(container)
        return True
    except docker.errors.NotFound:
        return False


# ---------------------------------------------------------------- 1: the AdminComment only an operator writes

def test_a_user_cannot_forge_the_admin_comment_of_her_own_job(sh, users, slurm, head):
    """alice writes `ds01:running:...` into her own job's AdminComment: Slurm refuses (an operator's field), so
    the head never believes a container runs because its owner said so."""
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "forged", IMAGE, "--cluster", "--cpu-only", "--json",
                         extra_env=head))[0]
    try:
        forgeries = ("ds01:running:0123456789ab", "ds01:exited:0")
        for key, value in zip(("admincomment", "AdminComment"), forgeries):
            forged = slurm.as_user(alice, ["scontrol", "update", f"jobid={rec['job']}", f"{key}={value}"], check=False)
            assert forged.returncode != 0 and "permission denied" in forged.stderr.lower(), forged
        assert admin_comment(slurm, rec["job"]) not in forgeries
        assert (listed(sh, alice, "forged", head) or {}).get("id") != "0123456789ab"
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)
        sh.run(alice, "container-remove", "forged", "--cluster", "--force", extra_env=head)


# ---------------------------------------------------------------- 2, 3: the head learns it all from Slurm

def test_a_head_without_docker_creates_lists_stops_starts_and_removes(sh, users, slurm, head, client):
    alice = users["alice"]
    rec = create_running(sh, alice, "headless", head)
    jobs = [rec["job"]]
    try:
        container = client.containers.get(rec["container"])
        assert rec["id"] == container.id[:12] and rec["node"] == container.labels["ds01.node"], rec
        assert admin_comment(slurm, rec["job"]) == f"ds01:running:{container.id[:12]}"
        row = listed(sh, alice, "headless", head)
        assert row["status"] == "running" and row["id"] == container.id[:12], row

        stopped = records(sh.run(alice, "container-stop", "headless", "--cluster", "--json", extra_env=head))[0]
        assert stopped["status"] == "exited" and stopped["state"] not in ("RUNNING", "COMPLETING"), stopped
        container.reload()
        assert container.status == "exited"
        row = listed(sh, alice, "headless", head)
        assert row["status"] == "exited" and row["node"] == rec["node"], row

        started = records(sh.run(alice, "container-start", "headless", "--cluster", "--json", extra_env=head))[0]
        jobs.append(started["job"])
        private_slurm.wait_until("the container to run in its new job", lambda: (
            lambda r: r and r["state"] == "RUNNING" and r["status"] == "running")(
            listed(sh, alice, "headless", head)), timeout=90)
        row = listed(sh, alice, "headless", head)
        assert row["node"] == rec["node"] and row["job"] == started["job"], row
        assert row["id"] == client.containers.get(rec["container"]).id[:12], row

        removed = records(sh.run(alice, "container-retire", "headless", "--cluster", "--json", extra_env=head))[0]
        assert removed["status"] == "removed" and removed["retired"] is True, removed
        assert wait_job_ended(slurm, started["job"])["JobState"] == "CANCELLED"
        assert not exists(client, rec["container"])
        assert listed(sh, alice, "headless", head) is None
    finally:
        slurm.run(["scancel", *map(str, jobs)], check=False)


def test_a_job_that_ended_before_its_container_ran_is_gone_not_exited(sh, users, slurm, head):
    alice = users["alice"]
    missing = f"ds01-{alice.pw_uid}/never-built:latest"  # hers by name, so the head submits; no node has it
    rec = records(sh.run(alice, "container-create", "never", missing, "--cluster", "--cpu-only", "--json",
                         extra_env=head))[0]
    wait_job_ended(slurm, rec["job"])
    row = listed(sh, alice, "never", head)
    assert row["status"] == "gone" and row["id"] is None, row
    removed = records(sh.run(alice, "container-remove", "never", "--cluster", "--json", extra_env=head))[0]
    assert removed["status"] == "removed"
    assert listed(sh, alice, "never", head) is None


# ---------------------------------------------------------------- 4: remove on its node

def test_container_remove_cluster_refuses_a_running_one_and_force_cancels_it(sh, users, slurm, head, client):
    alice = users["alice"]
    rec = create_running(sh, alice, "rmrun", head)
    try:
        refused = sh.run(alice, "container-remove", "rmrun", "--cluster", extra_env=head)
        assert refused.returncode == 1 and "hint: container-stop rmrun --cluster" in refused.stderr, refused
        assert exists(client, rec["container"]) and listed(sh, alice, "rmrun", head)["status"] == "running"
        removed = records(sh.run(alice, "container-remove", "rmrun", "--cluster", "--force", "--json",
                                 extra_env=head))[0]
        assert removed["status"] == "removed" and removed["node"] == rec["node"], removed
        assert not exists(client, rec["container"])
        assert listed(sh, alice, "rmrun", head) is None
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


def test_a_node_slurm_cannot_use_keeps_the_container_and_its_record(sh, users, slurm, head, client):
    """Her container's node is drained (an admin's maintenance; down is refused the same way, Node.usable):
    container-remove --cluster refuses (exit 1, naming the node), removes nothing and keeps the record."""
    alice = users["alice"]
    rec = create_running(sh, alice, "rmdown", head)
    node = rec["node"]
    try:
        records(sh.run(alice, "container-stop", "rmdown", "--cluster", "--json", extra_env=head))
        wait_job_ended(slurm, rec["job"])
        slurm.run(["scontrol", "update", f"NodeName={node}", "State=DRAIN", "Reason=ds01-remove-test"])
        refused = sh.run(alice, "container-remove", "rmdown", "--cluster", extra_env=head)
        assert refused.returncode == 1 and f"on node {node}" in refused.stderr and "hint:" in refused.stderr, refused
        assert exists(client, rec["container"])
        assert listed(sh, alice, "rmdown", head)["node"] == node
    finally:
        slurm.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], check=False)
        slurm.run(["scancel", str(rec["job"])], check=False)
    private_slurm.wait_until(f"{node} to be back", lambda: slurm.run(
        ["sinfo", "-h", "-n", node, "-o", "%t"]).stdout.strip() in ("idle", "mix"), timeout=60)
    removed = records(sh.run(alice, "container-remove", "rmdown", "--cluster", "--json", extra_env=head))[0]
    assert removed["status"] == "removed" and not exists(client, rec["container"])


def test_bob_cannot_remove_alices_cluster_container(sh, users, slurm, head, client, cluster_nodes):
    """bob asks the head (by her name and her container's full name) and, from his own jobs on her node named
    like her container, the node's ds01d: nothing of alice's goes, running or stopped."""
    alice, bob = users["alice"], users["bob"]
    rec = create_running(sh, alice, "victim", head)
    full = f"victim._.{alice.pw_uid}"
    try:
        for name in ("victim", full):
            for command in (("container-remove", name, "--cluster", "--force"),
                            ("container-retire", name, "--cluster")):
                refused = sh.run(bob, *command, extra_env=head)
                assert refused.returncode != 0, refused
        socket = cluster_nodes[0].replace("{node}", rec["node"])

        def bobs_job(job_name, target):
            return slurm.as_user(bob, ["srun", f"--nodelist={rec['node']}", f"--job-name={job_name}", "-c1",
                                       "--mem=64", "--chdir=/tmp", "--quiet", "/usr/bin/env", f"DS01_SOCKET={socket}",
                                       SHIM, "--remove", target], check=False)

        records(sh.run(alice, "container-stop", "victim", "--cluster", "--json", extra_env=head))
        wait_job_ended(slurm, rec["job"])
        for job_name, target in (("victim", "victim"), ("victim", full), (full, full)):
            attempt = bobs_job(job_name, target)
            assert attempt.returncode != 0, attempt
        assert exists(client, rec["container"])
        # alice's own job, but her container runs in another job: a running container is never removed
        again = records(sh.run(alice, "container-start", "victim", "--cluster", "--json", extra_env=head))[0]
        private_slurm.wait_until("victim to run again", lambda: (listed(sh, alice, "victim", head) or {}).get(
            "status") == "running", timeout=90)
        own = slurm.as_user(alice, ["srun", f"--nodelist={rec['node']}", "--job-name=victim", "-c1", "--mem=64",
                                    "--chdir=/tmp", "--quiet", "/usr/bin/env", f"DS01_SOCKET={socket}", SHIM,
                                    "--remove", "victim"], check=False)
        assert own.returncode == 5, own
        assert client.containers.get(rec["container"]).status == "running"
        slurm.run(["scancel", str(again["job"])], check=False)
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)
        sh.run(alice, "container-remove", "victim", "--cluster", "--force", extra_env=head)


def test_a_container_already_gone_from_its_node_is_forgotten(sh, users, slurm, head, client):
    """The node's ds01d answers that alice has no such container there (an admin removed it): the head drops its
    record, with a warning, instead of keeping a container that no longer exists forever."""
    alice = users["alice"]
    rec = create_running(sh, alice, "rmgone", head)
    try:
        records(sh.run(alice, "container-stop", "rmgone", "--cluster", "--json", extra_env=head))
        wait_job_ended(slurm, rec["job"])
        client.containers.get(rec["container"]).remove()
        removed = sh.run(alice, "container-remove", "rmgone", "--cluster", "--json", extra_env=head)
        assert removed.returncode == 0 and "no longer on" in removed.stderr, removed
        assert listed(sh, alice, "rmgone", head) is None
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


def test_the_head_reads_only_what_ds01_wrote_in_the_admin_comment():
    """22.05's shapes: squeue --json `admin_comment`, sacct --json `comment.administrator`; any other text (an
    admin's own note) says nothing about a container."""
    from ds01.cluster.containers import parse_container_comment
    from ds01.cluster.slurm import accounting_from_json, job_from_json

    data = Path(__file__).parent / "data" / "slurm"
    queued = json.loads((data / "squeue.json").read_text())["jobs"][0]
    assert job_from_json(queued).admin_comment is None
    assert job_from_json(dict(queued, admin_comment="ds01:running:0123456789ab")).admin_comment == \
        "ds01:running:0123456789ab"
    accounted = json.loads((data / "sacct.json").read_text())["jobs"][0]
    assert accounting_from_json(accounted).admin_comment is None
    kept = dict(accounted, comment={"administrator": "ds01:exited:137", "job": None, "system": None})
    assert parse_container_comment(accounting_from_json(kept).admin_comment) == ("exited", "137")
    for other in ("", "maintenance: moved", "ds01:running:", "ds01:running:ab cd", "ds01:stopped:1",
                  "ds01:running:../../x"):
        assert parse_container_comment(other) is None, other
