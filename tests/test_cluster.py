"""Cluster containers end to end: container-create/list/stop --cluster on the private two-node Slurm.

The head's ds01d (the `sh` Shell's broker, pointed at the test cluster) submits each container as its caller;
each node has its own ds01d (its node name, gres.conf and GPU inventory, the suite's private dockerd) that the
job's ds01-slurm-shim asks to start the container. The attacks come from real users' own jobs and shells.
"""


import json

from tests.support import sandbox
from tests.support import slurm as private_slurm
from tests.support.cluster import grant, hold_every_a100, job_state, records, wait_job_ended

IMAGE = sandbox.BASE_IMAGE
NODES = private_slurm.NODES


def job_gpu_uuids(slurm, job_id, node):
    """The UUIDs of the GPUs the controller says the job holds (IDX in gres.conf's order: the two whole A100s,
    then the two 1g.5gb MIG devices of GPU 2), by the node's inventory."""
    by_index = {0: f"GPU-{node}-0000", 1: f"GPU-{node}-0001", 2: f"MIG-{node}-0200", 3: f"MIG-{node}-0201"}
    text = slurm.run(["scontrol", "show", "job", "-d", str(job_id)]).stdout
    from ds01.cluster.slurm import parse_show_job

    return sorted(by_index[g.index] for g in parse_show_job(text).gpus)


def test_a_cluster_container_runs_on_its_node_with_exactly_the_jobs_gpus(sh, users, slurm, head, client):
    alice = users["alice"]
    created = records(sh.run(alice, "container-create", "place", IMAGE, "--cluster", "--num-gpus", "1", "--wait",
                             "--json", extra_env=head))
    rec = created[0]
    try:
        assert rec["state"] == "RUNNING" and rec["status"] == "running", rec
        assert rec["node"] in NODES and isinstance(rec["job"], int), rec
        container = client.containers.get(rec["container"])
        host = container.attrs["HostConfig"]
        wanted = job_gpu_uuids(slurm, rec["job"], rec["node"])
        assert len(wanted) == 1
        assert [sorted(r["DeviceIDs"]) for r in host["DeviceRequests"]] == [wanted], host["DeviceRequests"]
        assert host["CgroupParent"] == f"/slurm_{rec['node']}/uid_{alice.pw_uid}/job_{rec['job']}", host
        labels = container.labels
        assert labels["ds01.slurm_job"] == str(rec["job"]) and labels["ds01.node"] == rec["node"]
        assert container.attrs["Config"]["User"].startswith(f"{alice.pw_uid}:")
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


def test_the_jobs_environment_claims_no_gpu_it_does_not_hold(sh, users, slurm, head, client):
    """alice's own job, running the shim with every SLURM_*/CUDA variable claiming all four GPUs of the node (and
    granted, as if the head had submitted it): the container gets the one GPU the controller gave the job."""
    alice = users["alice"]
    shim = str(private_slurm.BIN / "ds01-slurm-shim")
    lies = "SLURM_JOB_GPUS=0,1,2,3,SLURM_STEP_GPUS=0,1,2,3,CUDA_VISIBLE_DEVICES=0,1,2,3,GPU_DEVICE_ORDINAL=0,1,2,3"
    script = f'DS01_SOCKET={head["DS01_CLUSTER_NODE_SOCKET"].replace("{node}", "$SLURMD_NODENAME")} ' \
             f'exec {shim} spoof {IMAGE}'
    submitted = slurm.as_user(alice, ["sbatch", "--parsable", "--hold", "--job-name=spoof", "--gres=gpu:a100:1",
                                      "-c1", "--mem=256", "--chdir=/tmp", "--output=/dev/null",
                                      f"--export=ALL,{lies}", "--wrap", script])
    job_id = int(submitted.stdout.strip().split(";")[0])
    try:
        grant(slurm, job_id)
        labelled = {"label": f"ds01.slurm_job={job_id}"}
        private_slurm.wait_until("alice's spoof container to run", lambda: any(
            c.status == "running" for c in client.containers.list(all=True, filters=labelled)),
            timeout=90, log=lambda: str(slurm.job(job_id)))
        container = client.containers.list(filters={"label": f"ds01.slurm_job={job_id}"})[0]
        node = container.labels["ds01.node"]
        wanted = job_gpu_uuids(slurm, job_id, node)
        assert len(wanted) == 1 and wanted[0].startswith(f"GPU-{node}-"), wanted
        assert [sorted(r["DeviceIDs"]) for r in container.attrs["HostConfig"]["DeviceRequests"]] == [wanted]
    finally:
        slurm.run(["scancel", str(job_id)], check=False)


def test_a_request_beyond_the_free_gpus_is_pending_resources(sh, users, slurm, head):
    """Every A100 of both nodes is held by the admin's jobs: alice's A100 container waits, PENDING Resources,
    and container-list --cluster says so (never "stopped")."""
    admin, alice = users["admin"], users["alice"]
    holders = []
    try:
        hold_every_a100(slurm, admin, holders)
        rec = records(sh.run(alice, "container-create", "queued", IMAGE, "--cluster", "--gpu-profile", "a100",
                             "--json", extra_env=head))[0]
        holders.append(str(rec["job"]))
        assert rec["state"] == "PENDING", rec
        found = {}

        def listed():
            rows = records(sh.run(alice, "container-list", "--cluster", "--json", extra_env=head))
            found.update(next(r for r in rows if r["name"] == "queued"))
            return found.get("reason") not in (None, "None")
        private_slurm.wait_until("Slurm's reason", listed, timeout=60)
        assert found["state"] == "PENDING" and found["reason"] == "Resources", found
        assert found["status"] == "queued" and found["node"] is None and found["job"] == rec["job"], found
    finally:
        slurm.run(["scancel", *holders], check=False)


def test_container_stop_cluster_ends_the_job_and_keeps_the_container_stopped(sh, users, slurm, head, client):
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "stopme", IMAGE, "--cluster", "--cpu-only", "--wait", "--json",
                         extra_env=head))[0]
    assert rec["state"] == "RUNNING" and rec["status"] == "running", rec
    stopped = records(sh.run(alice, "container-stop", "stopme", "--cluster", "--json", extra_env=head))[0]
    assert stopped["job"] == rec["job"] and stopped["status"] in ("exited", "created"), stopped
    assert wait_job_ended(slurm, rec["job"])["JobState"] == "CANCELLED"
    container = client.containers.get(rec["container"])
    assert container.status == "exited" and container.labels["ds01.node"] == rec["node"]
    listed = [r for r in records(sh.run(alice, "container-list", "--cluster", "--json", extra_env=head))
              if r["name"] == "stopme"]
    assert listed and listed[0]["status"] == "exited" and listed[0]["state"] in ("CANCELLED", "ENDED"), listed
    assert container.attrs["State"]["ExitCode"] == 129  # the shim's stop (SIGHUP, ds01's stop signal), not a kill


def test_bob_cannot_cancel_alices_cluster_container(sh, users, slurm, head):
    alice, bob = users["alice"], users["bob"]
    rec = records(sh.run(alice, "container-create", "mine", IMAGE, "--cluster", "--cpu-only", "--json",
                         extra_env=head))[0]
    try:
        refused = sh.run(bob, "container-stop", f"mine._.{alice.pw_uid}", "--cluster", extra_env=head)
        assert refused.returncode != 0, refused
        assert job_state(slurm, rec["job"]) in ("PENDING", "RUNNING", "CONFIGURING")
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


def test_alices_job_cannot_start_or_stop_bobs_container(sh, users, slurm, head, client):
    """alice's own job runs the shim for bob's container (by its full name, and by a job named after it): ds01d
    refuses (exit 5) and bob's running container is untouched."""
    alice, bob = users["alice"], users["bob"]
    sh.run(bob, "container-create", "bobbox", IMAGE, "--cpu-only", check=True)
    sh.run(bob, "container-start", "bobbox", check=True)
    bobs = client.containers.get(f"bobbox._.{bob.pw_uid}")
    shim = str(private_slurm.BIN / "ds01-slurm-shim")
    socket = head["DS01_CLUSTER_NODE_SOCKET"].replace("{node}", "$SLURMD_NODENAME")
    target = f"bobbox._.{bob.pw_uid}"
    ids = []
    for job_name in (target, "bobbox"):
        submitted = slurm.as_user(alice, ["sbatch", "--parsable", "--hold", f"--job-name={job_name}", "-c1",
                                          "--mem=256", "--chdir=/tmp", "--output=/dev/null", "--wrap",
                                          f"DS01_SOCKET={socket} exec {shim} {target} {IMAGE}"])
        ids.append(submitted.stdout.strip().split(";")[0])
        grant(slurm, ids[-1])  # past the grant: the node's own checks refuse it
    for job_id in ids:
        ended = wait_job_ended(slurm, job_id)
        assert ended["ExitCode"] == "5:0", ended
    bobs.reload()
    assert bobs.status == "running" and "ds01.slurm_job" not in bobs.labels


def test_the_shim_run_by_hand_outside_a_job_is_refused(sh, users, head, client):
    alice = users["alice"]
    node_socket = head["DS01_CLUSTER_NODE_SOCKET"].replace("{node}", NODES[0])
    for socket in (node_socket, None):  # the node's ds01d, and the head's
        env = {"DS01_SOCKET": socket} if socket else None
        refused = sh.run(alice, "ds01-slurm-shim", "byhand", IMAGE, extra_env=head, user_env=env)
        assert refused.returncode == 5, refused
        assert "ds01-slurm-shim: error:" in refused.stderr and "hint:" in refused.stderr, refused.stderr
    assert not client.containers.list(all=True, filters={"name": "byhand"})


def test_an_unreachable_controller_lists_unknown_never_stopped(sh, users, slurm, head, user_tmp):
    """The head's ds01d cannot reach slurmctld (a config naming a port nothing listens on): alice's cluster
    container is listed with state "unknown", not as stopped or gone, and its record stays."""
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "far", IMAGE, "--cluster", "--cpu-only", "--json",
                         extra_env=head))[0]
    try:
        dead_port = private_slurm.free_ports(1)[0]
        conf = user_tmp / "slurm.conf"
        conf.write_text(slurm.slurm_conf.read_text().replace(f"SlurmctldPort={slurm.ctld_port}",
                                                             f"SlurmctldPort={dead_port}"))
        cut_off = {**head, "DS01_SLURM_CONF": str(conf)}
        rows = [r for r in records(sh.run(alice, "container-list", "--cluster", "--json", extra_env=cut_off))
                if r["name"] == "far"]
        # the job's state is unknown; the container's status is what its engine says (running, or unknown)
        assert rows and rows[0]["state"] == "unknown" and rows[0]["status"] in ("running", "unknown"), rows
        assert rows[0]["job"] == rec["job"]
        again = [r for r in records(sh.run(alice, "container-list", "--cluster", "--json", extra_env=head))
                 if r["name"] == "far"]
        assert again and again[0]["state"] != "unknown", again
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


def test_an_image_labelled_with_the_job_does_not_make_an_old_container_the_jobs(sh, users, slurm, head, client):
    """alice's own container `old`, made outside any job from an image that carries ds01.slurm_job=<her next
    job's id>: her job named `old` does not start it (it is outside the job's cgroup and GPUs)."""
    alice = users["alice"]
    shim = str(private_slurm.BIN / "ds01-slurm-shim")
    socket = head["DS01_CLUSTER_NODE_SOCKET"].replace("{node}", "$SLURMD_NODENAME")
    held = slurm.as_user(alice, ["sbatch", "--parsable", "--hold", "--job-name=old", "-c1", "--mem=256",
                                 "--chdir=/tmp", "--output=/dev/null", "--wrap",
                                 f"DS01_SOCKET={socket} exec {shim} old {IMAGE}"])
    job_id = held.stdout.strip().split(";")[0]
    try:
        base = client.containers.create(IMAGE, command=["true"])
        base.commit("ds01-test/labelled", "latest", changes=[f"LABEL ds01.slurm_job={job_id}"])
        base.remove()
        sh.run(alice, "container-create", "old", "ds01-test/labelled:latest", "--cpu-only", check=True)
        old = client.containers.get(f"old._.{alice.pw_uid}")
        assert old.labels.get("ds01.slurm_job") == job_id  # the image's label came through
        grant(slurm, job_id)
        ended = wait_job_ended(slurm, job_id)
        assert ended["ExitCode"] != "0:0", ended
        old.reload()
        assert old.status == "created", old.status
    finally:
        slurm.run(["scancel", job_id], check=False)


def test_a_job_the_user_submitted_past_the_head_is_never_served(sh, users, slurm, head, client):
    """alice submits the shim herself, for a container of her own, with Slurm's default time (her QOS's MaxWall,
    not her remaining runtime) and past the head's container count: as it is, marked in the job's Comment (hers
    to write) as ds01's grant, or held and released by her after trying to write the AdminComment herself, the
    node's ds01d refuses it (exit 5) and makes no container."""
    alice = users["alice"]
    shim = str(private_slurm.BIN / "ds01-slurm-shim")
    socket = head["DS01_CLUSTER_NODE_SOCKET"].replace("{node}", "$SLURMD_NODENAME")
    ids = []
    for name, extra in (("selfmade", []), ("selfcomment", ["--comment=ds01:granted"]),
                        ("selfadmin", ["--hold"])):
        submitted = slurm.as_user(alice, ["sbatch", "--parsable", f"--job-name={name}", "-c1", "--mem=256",
                                          "--chdir=/tmp", "--output=/dev/null", *extra, "--wrap",
                                          f"DS01_SOCKET={socket} exec {shim} {name} {IMAGE}"])
        ids.append(submitted.stdout.strip().split(";")[0])
        if name == "selfadmin":
            forged = slurm.as_user(alice, ["scontrol", "update", f"JobId={ids[-1]}", "AdminComment=ds01:granted"],
                                   check=False)
            assert forged.returncode != 0, forged
            slurm.as_user(alice, ["scontrol", "release", ids[-1]])
    for job_id in ids:
        ended = wait_job_ended(slurm, job_id)
        assert ended["ExitCode"] == "5:0", ended
    for name in ("selfmade", "selfcomment", "selfadmin"):
        assert not client.containers.list(all=True, filters={"name": f"{name}._.{alice.pw_uid}"}), name


def test_the_head_grants_each_job_it_submits(sh, users, slurm, head):
    """container-create --cluster: the job's AdminComment (only an operator's to write) carries ds01's word."""
    alice = users["alice"]
    rec = records(sh.run(alice, "container-create", "granted", IMAGE, "--cluster", "--cpu-only", "--wait", "--json",
                         extra_env=head))[0]
    try:
        assert rec["status"] == "running", rec
        listed = json.loads(slurm.run(["squeue", "--json", f"--jobs={rec['job']}"]).stdout)["jobs"][0]
        assert listed["admin_comment"].startswith("ds01:"), listed["admin_comment"]
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)
