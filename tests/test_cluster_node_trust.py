"""A node's ds01d believes about a job only the kernel (SO_PEERCRED, /proc/PID/cgroup) and the controller.

Each test is an attack a job's owner (or another user's job) could make on the node's ds01d: what its
environment claims, which cgroup it is in, which job it names, a pid that exits and is reused. The
controller's answers are Slurm 22.05.8's own `scontrol show job -d` text (tests/data/slurm/, captured from
a real slurmctld), with the job's id, owner, state, node and GPUs set per case; /proc is a tree in a
temporary directory, except where the test needs the kernel's own behaviour (a real process that exits).
"""

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ds01.cluster import node_trust
from ds01.cluster.fragments import gres_conf
from ds01.cluster.model import Cluster, devices_of
from ds01.cluster.model import Node as ClusterNode
from ds01.cluster.slurm import Completed, ControllerUnreachable, Slurm
from ds01.errors import PERMISSION, PermissionDenied
from ds01.gpu.model import Gpu, Inventory, MigDevice

DATA = Path(__file__).parent / "data" / "slurm"
ALICE, BOB = 1001, 1002
NODE = "n1"


def job(job_id=12, uid=ALICE, state="RUNNING", node=NODE, gres="gpu:a100:1(IDX:0)"):
    """The captured record of a running a100 job (or, not running, the captured pending one), as this case's job."""
    user = {ALICE: "alice", BOB: "bob"}.get(uid, "x")
    name = "scontrol-show-job-d-a100.txt" if state == "RUNNING" else "scontrol-show-job-d-pending.txt"
    text = (DATA / name).read_text()
    text = re.sub(r"^JobId=\d+", f"JobId={job_id}", text)
    text = re.sub(r"UserId=\S+", f"UserId={user}({uid})", text, count=1)
    text = re.sub(r"JobState=\S+", f"JobState={state}", text, count=1)
    text = re.sub(r"(?m)^   NodeList=\S*", f"   NodeList={node}", text) if state == "RUNNING" else text
    text = re.sub(r"(?m)^     Nodes=\S+(.*) GRES=\S+", rf"     Nodes={node}\1 GRES={gres}", text)
    return job_id, text


class Controller:
    """slurmctld as `scontrol show job -d` answers it: the captured text for this case's jobs."""

    def __init__(self, jobs=(), unreachable=False):
        self.jobs = dict(jobs)
        self.unreachable = unreachable
        self.asked: list[list[str]] = []

    def __call__(self, argv, timeout, as_caller):
        self.asked.append(list(argv))
        if self.unreachable:
            lines = (DATA / "scontrol-show-job-unreachable.txt").read_text().splitlines()
            return Completed(tuple(argv), int(lines[-1].partition("=")[2]), "", "\n".join(lines[:-1]))
        job_id = int(argv[-1])
        if job_id not in self.jobs:
            lines = (DATA / "scontrol-show-job-invalid.txt").read_text().splitlines()
            return Completed(tuple(argv), int(lines[-1].partition("=")[2]), "", "\n".join(lines[:-1]))
        return Completed(tuple(argv), 0, self.jobs[job_id], "")


def fake_proc(tmp_path, pid, uid, cgroup, start=4242, environ=""):
    """/proc/PID as the kernel would show it: stat (start time in field 22), status (Uid), cgroup, environ."""
    directory = tmp_path / "proc" / str(pid)
    directory.mkdir(parents=True)
    fields = ["S"] + ["0"] * 18 + [str(start)] + ["0"] * 30
    (directory / "stat").write_text(f"{pid} (ds01 shim) x) {' '.join(fields)}\n")
    ids = "\t".join([str(uid)] * 4)
    (directory / "status").write_text(f"Name:\tshim\nUid:\t{ids}\nGid:\t{ids}\n")
    (directory / "cgroup").write_text(cgroup)
    (directory / "environ").write_text(environ)
    return str(tmp_path / "proc")


def v1(uid, job_id, node=NODE):
    """The cgroup lines of a batch step under cgroup v1 (captured: proc-cgroup-v1-job-a100.txt)."""
    text = (DATA / "proc-cgroup-v1-job-a100.txt").read_text()
    lines = []
    for line in text.splitlines():
        number, controller, path = line.split(":", 2)
        if "/uid_" in path:
            tail = path.split("/job_", 1)[1].split("/", 1)[1]
            path = f"/slurm_{node}/uid_{uid}/job_{job_id}/{tail}"
        lines.append(f"{number}:{controller}:{path}")
    return "\n".join(lines) + "\n"


def trusted(proc, controller, pid=4321, uid=ALICE, node=NODE, **kwargs):
    return node_trust.trusted_job(pid, uid, node, Slurm(runner=controller), proc=proc, **kwargs)


def test_captured_cgroup_of_a_real_batch_job_names_its_job_and_owner():
    text = (DATA / "proc-cgroup-v1-job-a100.txt").read_text()
    found = node_trust.job_of_cgroup(text)
    jobs = (DATA / "jobs.txt").read_text().split(":")[1].split()
    assert found == node_trust.CgroupJob(int(jobs[0]), 1001, "cap1")


@pytest.mark.parametrize("text, expected", [
    ("4:memory:/slurm_n1/uid_1001/job_12/step_batch/task_0\n", node_trust.CgroupJob(12, 1001, "n1")),
    ("4:memory:/slurm/uid_1001/job_12/step_batch/task_0\n", node_trust.CgroupJob(12, 1001, None)),
    ("0::/system.slice/slurmstepd.scope/job_12/step_batch/user/task_0\n", node_trust.CgroupJob(12, None, None)),
    ("0::/system.slice/n1_slurmstepd.scope/job_12/step_0/user/task_0\n", node_trust.CgroupJob(12, None, "n1")),
    ("12:devices:/slurm_gpu-7/uid_4106/job_1/step_extern\n3:cpu:/\n", node_trust.CgroupJob(1, 4106, "gpu-7")),
    ("0::/user.slice/user-1001.slice/session-3.scope\n", None),
    ("4:memory:/docker/job_12\n0::/init.scope\n", None),
    ("2:cpuacct:/\n4:memory:/slurm/uid_1001/job_12\n", node_trust.CgroupJob(12, 1001, None)),
])
def test_cgroup_paths_of_each_layout(text, expected):
    assert node_trust.job_of_cgroup(text) == expected


@pytest.mark.parametrize("text", [
    # cgroup v2: systemd delegates user@UID.service to the user, who may make any subtree there
    "0::/user.slice/user-1001.slice/user@1001.service/app.slice/slurmstepd.scope/job_13/step_batch\n",
    "0::/user.slice/user-1001.slice/user@1001.service/system.slice/n1_slurmstepd.scope/job_13\n",
    # cgroup v1: a named hierarchy (name=systemd) is delegated the same way
    "1:name=systemd:/slurm_n1/uid_1001/job_13/step_batch\n",
    "1:name=systemd:/user.slice/user-1001.slice/user@1001.service/slurm_n1/uid_1001/job_13\n",
    "4:memory:/user.slice/user-1001.slice/slurm_n1/uid_1001/job_13/step_batch\n",
])
def test_a_job_path_the_user_could_make_in_a_delegated_subtree_is_no_job(tmp_path, text):
    assert node_trust.job_of_cgroup(text) is None
    proc = fake_proc(tmp_path, 4321, ALICE, text)
    with pytest.raises(PermissionDenied, match="in no Slurm job"):
        trusted(proc, Controller([job(13, ALICE)]))


def test_a_process_whose_cgroups_name_two_jobs_is_refused():
    with pytest.raises(PermissionDenied):
        node_trust.job_of_cgroup("4:memory:/slurm_n1/uid_1001/job_12/step_batch\n"
                                 "5:devices:/slurm_n1/uid_1001/job_13/step_batch\n")


def test_the_job_environment_claiming_another_job_and_its_gpus_changes_nothing(tmp_path, monkeypatch):
    """alice's job 12 holds GPU 0; its shim claims bob's job 13 and GPU 1 through every variable it has."""
    claims = {"SLURM_JOB_ID": "13", "SLURM_JOBID": "13", "SLURM_JOB_GPUS": "1", "SLURM_STEP_GPUS": "1",
              "CUDA_VISIBLE_DEVICES": "1", "GPU_DEVICE_ORDINAL": "1", "SLURM_JOB_USER": "bob", "SLURM_JOB_UID": "1002",
              "SLURM_JOB_NODELIST": NODE, "SLURM_CONF": str(tmp_path / "forged.conf")}
    for key, value in claims.items():  # in ds01d's own environment too: nothing reads it
        monkeypatch.setenv(key, value)
    environ = "".join(f"{k}={v}\0" for k, v in claims.items())
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 12), environ=environ)
    controller = Controller([job(12, ALICE, gres="gpu:a100:1(IDX:0)"), job(13, BOB, gres="gpu:a100:1(IDX:1)")])
    result = trusted(proc, controller)
    assert (result.job.id, result.uid, result.gpu_indices) == (12, ALICE, (0,))
    assert controller.asked == [["scontrol", "show", "job", "-d", "12"]]


def test_a_pid_in_another_users_job_cgroup_is_refused(tmp_path, caplog):
    """alice's process (uid 1001) sits in bob's job 13 (a cgroup only root could move it to)."""
    proc = fake_proc(tmp_path, 4321, ALICE, v1(BOB, 13))
    controller = Controller([job(13, BOB)])
    with caplog.at_level(logging.WARNING, logger="ds01.cluster"), pytest.raises(PermissionDenied) as refused:
        trusted(proc, controller)
    assert refused.value.code == PERMISSION == 5
    assert "another user's job 13" in refused.value.message
    assert "cluster trust refused" in caplog.text and "cgroup_uid=1002" in caplog.text
    assert controller.asked == []


def test_a_job_whose_owner_is_someone_else_is_refused_on_cgroup_v2(tmp_path):
    """v2 paths carry no uid: the controller's owner must then be the caller."""
    proc = fake_proc(tmp_path, 4321, ALICE, "0::/system.slice/slurmstepd.scope/job_13/step_batch/user/task_0\n")
    with pytest.raises(PermissionDenied, match="not the caller's"):
        trusted(proc, Controller([job(13, BOB)]))


@pytest.mark.parametrize("state", ["PENDING", "COMPLETED", "CANCELLED", "SUSPENDED", "COMPLETING"])
def test_a_job_that_is_not_running_is_refused(tmp_path, state):
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 12))
    with pytest.raises(PermissionDenied, match=f"is {state}, not RUNNING"):
        trusted(proc, Controller([job(12, ALICE, state=state)]))


def test_a_job_running_on_another_node_is_refused(tmp_path):
    proc = fake_proc(tmp_path, 4321, ALICE, "0::/system.slice/slurmstepd.scope/job_12/step_batch/user/task_0\n")
    with pytest.raises(PermissionDenied, match="runs on n2, not on this node"):
        trusted(proc, Controller([job(12, ALICE, node="n2")]))


def test_a_job_of_another_slurmd_on_the_same_host_is_refused(tmp_path):
    """Several slurmd on one host: the cgroup names the node (slurm_n2) and the controller agrees, but this ds01d
    serves n1."""
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 12, node="n2"))
    controller = Controller([job(12, ALICE, node="n2")])
    with pytest.raises(PermissionDenied, match="another node's slurmd"):
        trusted(proc, controller)
    assert controller.asked == []


def test_a_multi_node_job_is_not_a_job_on_this_node(tmp_path):
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 12))
    with pytest.raises(PermissionDenied, match="not on this node"):
        trusted(proc, Controller([job(12, ALICE, node="n[1-2]")]))


def test_a_caller_in_no_job_is_refused(tmp_path):
    proc = fake_proc(tmp_path, 4321, ALICE, "0::/user.slice/user-1001.slice/session-4.scope\n")
    with pytest.raises(PermissionDenied, match="in no Slurm job"):
        trusted(proc, Controller())


def test_a_job_the_controller_does_not_know_is_refused(tmp_path):
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 77))
    with pytest.raises(PermissionDenied, match="knows no job 77"):
        trusted(proc, Controller([job(12, ALICE)]))


def test_an_unreachable_controller_is_unknown_not_a_refusal_or_a_stop(tmp_path):
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 12))
    with pytest.raises(ControllerUnreachable) as unknown:
        trusted(proc, Controller(unreachable=True))
    assert "state unknown" in unknown.value.message


def test_a_process_whose_uid_is_not_the_peers_is_refused(tmp_path):
    """SO_PEERCRED said alice, but the pid now belongs to bob: the pid was reused by another user's process."""
    proc = fake_proc(tmp_path, 4321, BOB, v1(BOB, 13))
    with pytest.raises(PermissionDenied, match="not the one that connected"):
        trusted(proc, Controller([job(13, BOB)]))


def test_a_process_that_started_after_the_connection_is_a_reused_pid(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 12), start=1000 * ticks)
    controller = Controller([job(12, ALICE)])
    with pytest.raises(PermissionDenied, match="pid was reused"):
        trusted(proc, controller, connected_at=990.0)
    assert trusted(proc, controller, connected_at=1000.5).job.id == 12


def test_a_caller_that_exited_is_refused():
    """The real kernel: the peer is gone by the time ds01d reads /proc/PID."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(PermissionDenied, match="gone"):
        node_trust.read_peer(child.pid)


def test_an_open_proc_directory_never_answers_for_a_reused_pid(monkeypatch):
    """The real kernel: ds01d opened /proc/PID, then the process exited; reads through that directory fail
    (they would not describe a new process that got the same pid)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    real_read_at = node_trust._read_at
    calls = []

    def exit_between_reads(directory, name, limit):
        calls.append(name)
        if name == "cgroup":
            child.kill()
            child.wait()
        return real_read_at(directory, name, limit)

    monkeypatch.setattr(node_trust, "_read_at", exit_between_reads)
    with pytest.raises(PermissionDenied, match="gone or unreadable"):
        node_trust.read_peer(child.pid)
    assert calls[:2] == ["stat", "cgroup"]


def test_the_real_process_reads_its_own_kernel_facts():
    me = node_trust.read_peer(os.getpid(), connected_at=node_trust.boot_time_now())
    assert me.uid == os.getuid() and me.cgroup == Path("/proc/self/cgroup").read_text()


# ---------------------------------------------------------------- GPU indices -> UUIDs through gres.conf

def node_inventory():
    mig = [MigDevice(0, "MIG-aaaa", 1, 0, "3g.20gb", 3, 20 << 30),
           MigDevice(1, "MIG-bbbb", 2, 0, "3g.20gb", 3, 20 << 30)]
    return Inventory([Gpu(0, "GPU-0000", "NVIDIA A100-SXM4-40GB", 40 << 30),
                      Gpu(1, "GPU-1111", "NVIDIA A100-SXM4-40GB", 40 << 30, mig_current=True, mig_devices=mig),
                      Gpu(2, "GPU-2222", "NVIDIA A100-SXM4-40GB", 40 << 30)], "test")


def generated_gres_conf(inventory, other=None):
    """gres.conf as ds01-slurm-generate writes it (ds01.cluster.fragments.gres_conf)."""
    nodes = [ClusterNode(NODE, devices_of(inventory, "/dev"), 16, 64000)]
    if other is not None:
        nodes.append(ClusterNode("n2", devices_of(other, "/dev"), 16, 64000))
    return gres_conf(Cluster(nodes, "gpu", "/epilog", False, [], "<test>"))


def test_indices_map_to_uuids_through_the_generated_gres_conf():
    inventory = node_inventory()
    other = Inventory([Gpu(0, "GPU-OTHER", "NVIDIA H100", 80 << 30)], "test")
    text = generated_gres_conf(inventory, other)
    devices = node_trust.parse_gres_conf(text, NODE)
    assert [(d.index, d.type) for d in devices] == [(0, "a100"), (1, "3g.20gb"), (2, "3g.20gb"), (3, "a100")]
    assert node_trust.gpu_uuids([0, 1, 2, 3], text, NODE, inventory) == ["GPU-0000", "MIG-aaaa", "MIG-bbbb", "GPU-2222"]
    assert node_trust.gpu_uuids([0], text, "n2", other) == ["GPU-OTHER"]


def test_the_captured_hand_written_gres_conf_ranges_and_a_lone_cap():
    """The layout of slurm.md (File= ranges, MultipleFiles with one cap), which Slurm 22.05.8 numbered
    IDX 0-1 (a100) and 2-3 (1g.5gb) in the captured jobs."""
    text = (DATA / "gres.conf").read_text()
    devices = node_trust.parse_gres_conf(text, "cap1")
    assert [(d.index, d.type, Path(d.files[0]).name) for d in devices] == [
        (0, "a100", "nvidia0"), (1, "a100", "nvidia1"), (2, "1g.5gb", "nvidia2"), (3, "1g.5gb", "nvidia3")]
    assert [d.index for d in node_trust.parse_gres_conf(text, "cap2")] == [0, 1]


def test_a_job_index_that_gres_conf_does_not_list_gets_nothing():
    inventory = node_inventory()
    with pytest.raises(PermissionDenied, match="GPU index 9"):
        node_trust.gpu_uuids([0, 9], generated_gres_conf(inventory), NODE, inventory)


def test_a_gres_conf_device_the_inventory_lacks_gets_nothing():
    inventory = node_inventory()
    text = generated_gres_conf(inventory)
    smaller = Inventory([inventory.gpus[0]], "test")
    with pytest.raises(PermissionDenied, match="inventory lacks"):
        node_trust.gpu_uuids([1], text, NODE, smaller)


def test_the_uuid_comment_in_gres_conf_is_not_believed():
    """A hand edit swapping the UUID comments changes nothing: the UUID comes from the inventory by minor."""
    inventory = node_inventory()
    text = generated_gres_conf(inventory).replace("GPU-0000", "GPU-XXXX").replace("GPU-2222", "GPU-0000")
    assert node_trust.gpu_uuids([0], text, NODE, inventory) == ["GPU-0000"]


def test_the_whole_decision_gives_the_jobs_devices_only(tmp_path):
    inventory = node_inventory()
    proc = fake_proc(tmp_path, 4321, ALICE, v1(ALICE, 12), environ="CUDA_VISIBLE_DEVICES=0,1,2,3\0")
    result = trusted(proc, Controller([job(12, ALICE, gres="gpu:3g.20gb:1(IDX:2)")]))
    assert node_trust.job_devices(result, generated_gres_conf(inventory), inventory) == ["MIG-bbbb"]
