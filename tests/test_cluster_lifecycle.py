"""A cluster container's life on the private two-node Slurm: its job's memory limit binds it; a stop frees the
job's GPU and the shipped Epilog stops it when nothing of ds01 is left in the job; container-start returns it to
its node with the user's files; container-run runs a command in it on its node and returns the command's code.

As in tests/test_cluster.py: the head's ds01d is the `sh` Shell's broker pointed at the test cluster, and each
node has its own ds01d (sharing the suite's private dockerd) that the job's shim asks.
"""

import os
import shutil
import signal
from pathlib import Path

from tests.support import sandbox
from tests.support import slurm as private_slurm
from tests.support.cluster import create_running, listed, records, wait_job_ended

IMAGE = sandbox.BASE_IMAGE
NODES = private_slurm.NODES
MIB = 1024 * 1024


def each_process(*names):
    """(pid, [bytes of /proc/PID/NAME for each of `names`]) of every process still there when read (root reads all;
    a process that ends meanwhile is passed over)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            read = [Path(f"/proc/{pid}/{name}").read_bytes() for name in names]
        except OSError:
            continue
        yield int(pid), read


def processes_in_job(job_id):
    """(pid, command line) of the processes the kernel places in job `job_id`'s batch step."""
    return [(pid, cmdline.replace(b"\0", b" ").decode(errors="replace"))
            for pid, (cgroup, cmdline) in each_process("cgroup", "cmdline")
            if f"/job_{job_id}/step_batch".encode() in cgroup]


def children_of(parent):
    return [pid for pid, (stat,) in each_process("stat") if int(stat[stat.rindex(b")") + 2:].split()[1]) == parent]


# ---------------------------------------------------------------- 3: limits bind

def test_a_cluster_container_is_oom_killed_at_its_jobs_memory_limit(sh, users, slurm, head, client):
    """alice's limit (memory: 256m) is her job's --mem; the container sits in the job's memory cgroup, so a
    process that allocates 400 MiB in it is killed (137) at the job's limit, and 50 MiB runs."""
    alice = users["alice"]
    rec = create_running(sh, alice, "memory", head)
    try:
        assert slurm.job(rec["job"])["MinMemoryNode"] == "256M"
        parent = client.containers.get(rec["container"]).attrs["HostConfig"]["CgroupParent"]
        assert parent == f"/slurm_{rec['node']}/uid_{alice.pw_uid}/job_{rec['job']}"
        with open(f"/sys/fs/cgroup/memory{parent}/memory.limit_in_bytes") as handle:
            assert int(handle.read()) == 256 * MIB  # the job's cgroup, which Slurm made from --mem
        hog = "head -c {}m /dev/zero | tail > /dev/null"  # tail holds a line without a newline: all of it
        over = sh.run(alice, "container-run", "memory", "--cluster", "--", "sh", "-c", hog.format(400),
                      extra_env=head)
        assert over.returncode == 137, over
        under = sh.run(alice, "container-run", "memory", "--cluster", "--", "sh", "-c", hog.format(50),
                       extra_env=head)
        assert under.returncode == 0, under
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


# ---------------------------------------------------------------- 4: stop, and the Epilog backstop

def node_gpus_allocated(slurm, node):
    """gres/gpu of the node's AllocTRES (`scontrol show node`: what Slurm's jobs hold there)."""
    text = slurm.run(["scontrol", "-o", "show", "node", node]).stdout
    tres = text.split("AllocTRES=", 1)[1].split()[0] if "AllocTRES=" in text else ""
    return next((int(i.split("=")[1]) for i in tres.split(",") if i.startswith("gres/gpu=")), 0)


def test_container_stop_cluster_frees_the_jobs_gpu(sh, users, slurm, head):
    alice = users["alice"]
    rec = create_running(sh, alice, "freed", head, "--num-gpus", "1")
    assert node_gpus_allocated(slurm, rec["node"]) >= 1
    records(sh.run(alice, "container-stop", "freed", "--cluster", "--json", extra_env=head))
    wait_job_ended(slurm, rec["job"])
    private_slurm.wait_until("the GPU to be free", lambda: node_gpus_allocated(slurm, rec["node"]) == 0, timeout=30)


def test_the_epilog_stops_the_container_when_the_shim_is_killed(sh, users, slurm, head, cluster_nodes, client):
    """SIGKILL to the shim in alice's job and to the node ds01d's worker serving it: nothing of ds01 is left to
    stop her container, the job ends, and the shipped Epilog (root, on the node, DOCKER_HOST from the admin's
    ds01-epilog.conf) stops it within seconds; it stays, stopped, on its node."""
    alice = users["alice"]
    rec = create_running(sh, alice, "orphan", head)
    try:
        shims = [pid for pid, argv in processes_in_job(rec["job"]) if "ds01-slurm-shim" in argv]
        assert shims, processes_in_job(rec["job"])
        broker = cluster_nodes[1][rec["node"]]
        workers = children_of(broker.process.pid)
        assert workers
        for pid in [*workers, *shims]:
            os.kill(pid, signal.SIGKILL)
        wait_job_ended(slurm, rec["job"])
        container = client.containers.get(rec["container"])
        private_slurm.wait_until("the Epilog to stop the container",
                                 lambda: container.reload() or container.status != "running", timeout=20,
                                 log=lambda: slurm.log_tail("slurmd"))
        assert container.status == "exited" and container.labels["ds01.node"] == rec["node"]
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


# ---------------------------------------------------------------- 6: start on the same node; run a command

def test_container_start_cluster_returns_to_its_node_with_the_users_files(sh, users, slurm, head, cluster_nodes,
                                                                        client):
    alice = users["alice"]
    rec = create_running(sh, alice, "again", head, "--num-gpus", "1")
    jobs = [rec["job"]]
    try:
        wrote = sh.run(alice, "container-run", "again", "--cluster", "--", "sh", "-c",
                       "echo kept > /var/tmp/marker && id -u", extra_env=head)
        assert wrote.returncode == 0 and wrote.stdout.strip() == str(alice.pw_uid), wrote
        records(sh.run(alice, "container-stop", "again", "--cluster", "--json", extra_env=head))
        wait_job_ended(slurm, rec["job"])
        refused = sh.run(alice, "container-run", "again", "--cluster", "--", "true", extra_env=head)
        assert refused.returncode != 0 and "container-start again --cluster" in refused.stderr, refused

        started = records(sh.run(alice, "container-start", "again", "--cluster", "--json", extra_env=head))[0]
        jobs.append(started["job"])
        assert started["job"] != rec["job"], started
        assert slurm.job(started["job"])["ReqNodeList"] == rec["node"]
        private_slurm.wait_until("the container to run in its new job", lambda: (
            lambda row: row and row["state"] == "RUNNING" and row["status"] == "running")(
            listed(sh, alice, "again", head)), timeout=90,
            log=lambda: f"{listed(sh, alice, 'again', head)}\n{slurm.job(started['job'])}\n" + "\n".join(
                b.log_path.read_text()[-3000:] for b in cluster_nodes[1].values()))
        row = listed(sh, alice, "again", head)
        assert row["node"] == rec["node"] and row["job"] == started["job"], row
        container = client.containers.get(rec["container"])
        assert container.attrs["HostConfig"]["CgroupParent"].endswith(f"/job_{started['job']}")
        assert container.labels["ds01.slurm_job"] == str(started["job"])
        assert len(container.attrs["HostConfig"]["DeviceRequests"][0]["DeviceIDs"]) == 1

        kept = sh.run(alice, "container-run", "again", "--cluster", "--", "cat", "/var/tmp/marker", extra_env=head)
        assert kept.returncode == 0 and kept.stdout.strip() == "kept", kept
        code = sh.run(alice, "container-run", "again", "--cluster", "--", "sh", "-c", "exit 7", extra_env=head)
        assert code.returncode == 7, code
        twice = sh.run(alice, "container-start", "again", "--cluster", extra_env=head)
        assert twice.returncode != 0 and "hint:" in twice.stderr, twice
    finally:
        slurm.run(["scancel", *map(str, jobs)], check=False)


def test_bob_cannot_run_a_command_in_alices_cluster_container(sh, users, slurm, head, client):
    alice, bob = users["alice"], users["bob"]
    rec = create_running(sh, alice, "private", head)
    try:
        for name, code in ((f"private._.{alice.pw_uid}", 2), ("private", 4)):  # not a name of his; none of his
            refused = sh.run(bob, "container-run", name, "--cluster", "--", "touch", "/var/tmp/bob", extra_env=head)
            assert refused.returncode == code and "hint:" in refused.stderr, refused
        # bob's own srun into alice's job is Slurm's to refuse; the node's ds01d never sees a job of his
        step = slurm.as_user(bob, ["srun", f"--jobid={rec['job']}", "--overlap", "true"], check=False)
        assert step.returncode != 0, step
        check = client.containers.get(rec["container"]).exec_run(["test", "-e", "/var/tmp/bob"])
        assert check.exit_code == 1
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)


def test_the_epilog_reads_its_engine_only_from_a_file_only_root_may_write(users, tmp_path):
    """The Epilog's settings beside slurmd's slurm.conf: a file alice owns, or one her group may write, is
    ignored (said on stderr), never sourced; a DOCKER_HOST in the environment it was started with is dropped."""
    import subprocess

    epilog = str(private_slurm.REPO / "etc" / "slurm" / "ds01-epilog")
    conf = tmp_path / "ds01-epilog.conf"
    conf.write_text("DOCKER_HOST=unix:///nonexistent/evil.sock\n$(touch /tmp/ds01-epilog-pwned)\n")
    env = {"SLURM_JOB_ID": "7", "SLURM_CONF": str(tmp_path / "slurm.conf"),
           "DOCKER_HOST": "unix:///nonexistent/from-env.sock", "PATH": "/nonexistent"}

    def run_epilog(uid, mode):
        os.chown(conf, uid, 0)
        os.chmod(conf, mode)
        return subprocess.run(["/bin/sh", "-x", epilog], env=env, capture_output=True, text=True, timeout=60)

    for uid, mode in ((users["alice"].pw_uid, 0o644), (0, 0o664), (0, 0o646)):
        done = run_epilog(uid, mode)
        assert done.returncode == 0 and "ignoring" in done.stderr, done.stderr
        assert "evil.sock" not in done.stderr
    done = run_epilog(0, 0o644)
    assert done.returncode == 0 and "DOCKER_HOST=unix:///nonexistent/evil.sock" in done.stderr, done.stderr
    assert not os.path.exists("/tmp/ds01-epilog-pwned")


def test_a_cluster_container_gets_the_directories_its_create_named_and_never_anothers(sh, users, slurm, head,
                                                                                       client):
    """alice's --workspace and --data reach the node's create (relative to where she typed them, checked with her
    rights there) and come back on a start; bob's private directory named as her --data makes no container."""
    alice, bob = users["alice"], users["bob"]
    mine = Path(alice.pw_dir) / "cluster-project"
    shutil.rmtree(mine, ignore_errors=True)
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "marker").write_text("hers\n")
    private = Path(bob.pw_dir) / "cluster-private"
    private.mkdir(mode=0o700, exist_ok=True)
    for path, owner in ((mine, alice), (mine / "data", alice), (mine / "data" / "marker", alice), (private, bob)):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    rec = records(sh.run(alice, "container-create", "withdata", IMAGE, "--cluster", "--cpu-only", "--wait",
                         f"--workspace={mine}", "--data=data", "--json", extra_env=head, cwd=str(mine)))[0]
    try:
        def seen(what):  # the directories as the container sees them (they are bound through ds01's pins)
            done = sh.run(alice, "container-run", "withdata", "--cluster", "--", "cat", what, extra_env=head)
            return done.returncode, done.stdout
        assert seen("/data/marker") == (0, "hers\n") and seen("/workspace/data/marker") == (0, "hers\n")
        records(sh.run(alice, "container-stop", "withdata", "--cluster", "--json", extra_env=head))
        wait_job_ended(slurm, rec["job"])
        again = records(sh.run(alice, "container-start", "withdata", "--cluster", "--wait", "--json",
                               extra_env=head))[0]
        assert again["status"] == "running" and seen("/data/marker") == (0, "hers\n"), again
        slurm.run(["scancel", str(again["job"])], check=False)
    finally:
        slurm.run(["scancel", str(rec["job"])], check=False)
    stolen = sh.run(alice, "container-create", "stolen", IMAGE, "--cluster", "--cpu-only", "--wait",
                    f"--data={private}", "--json", extra_env=head)
    assert stolen.returncode != 0, stolen
    assert not client.containers.list(all=True, filters={"name": f"stolen._.{alice.pw_uid}"})
