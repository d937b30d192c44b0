"""ds01-slurm-generate's fragments for the shipped policy and the simulated inventory (no Slurm needed)."""

import textwrap

import pytest

from ds01 import policy
from ds01.cluster import fragments
from ds01.cluster.generate import Drift, slurm_generate
from ds01.cluster.model import cluster_of, gpu_type, mig_cap_minors
from ds01.errors import UsageError
from tests.support.harness import REPO

SHIPPED = (REPO / "etc/ds01/resource-limits.yaml").read_text()
CLUSTER = textwrap.dedent(f"""
    cluster:
      partition: lab
      epilog: /opt/ds01/current/etc/slurm/ds01-epilog
      nodes:
        gpu1: {{inventory: {REPO}/etc/ds01/gpus.sim.yaml, address: 10.0.0.1, port: 6818, cpus: 64,
               real_memory: 512g}}
        gpu2: {{inventory: {REPO}/etc/ds01/gpus.sim.yaml, cpus: 64, real_memory: 512g}}
    """)


@pytest.fixture
def shipped(tmp_path):
    path = tmp_path / "resource-limits.yaml"
    path.write_text(SHIPPED + CLUSTER)
    return policy.load(str(path))


def test_nodes_partition_and_every_gpu_type_in_the_slurm_fragment(shipped):
    text = fragments.render(cluster_of(shipped))["slurm-ds01.conf"]
    assert text.startswith(fragments.HEADER)
    lines = text.splitlines()
    assert "GresTypes=gpu" in lines
    assert "AccountingStorageTRES=gres/gpu,gres/gpu:a100,gres/gpu:1g.5gb,gres/gpu:3g.20gb" in lines
    assert ("NodeName=gpu1 NodeAddr=10.0.0.1 Port=6818 CPUs=64 RealMemory=524288 "
            "Gres=gpu:a100:2,gpu:1g.5gb:7,gpu:3g.20gb:2") in lines
    assert "NodeName=gpu2 CPUs=64 RealMemory=524288 Gres=gpu:a100:2,gpu:1g.5gb:7,gpu:3g.20gb:2" in lines
    partition = next(line for line in lines if line.startswith("PartitionName=lab "))
    assert "Nodes=gpu1,gpu2" in partition
    assert "TRESBillingWeights=GRES/gpu:a100=100,GRES/gpu:1g.5gb=14.28,GRES/gpu:3g.20gb=42.85" in partition
    assert "Epilog=/opt/ds01/current/etc/slurm/ds01-epilog" in lines
    assert "PriorityType=priority/multifactor" in lines


def test_gres_conf_whole_gpus_by_minor_and_mig_by_caps(shipped):
    text = fragments.render(cluster_of(shipped))["gres.conf"]
    lines = [line.split("  #")[0] for line in text.splitlines() if line.startswith("NodeName=gpu1 ")]
    assert lines[:2] == ["NodeName=gpu1 Name=gpu Type=a100 File=/dev/nvidia0",
                         "NodeName=gpu1 Name=gpu Type=a100 File=/dev/nvidia1"]
    # GPU 2, GPU instance 7, compute instance 0: the caps of gpu2/gi7/access and gpu2/gi7/ci0/access
    gi, ci = mig_cap_minors(2, 7, 0)
    assert (gi, ci) == (3 + 2 * 135 + 7 * 9, 3 + 2 * 135 + 7 * 9 + 1)
    assert lines[2] == (f"NodeName=gpu1 Name=gpu Type=1g.5gb MultipleFiles=/dev/nvidia2,"
                        f"/dev/nvidia-caps/nvidia-cap{gi},/dev/nvidia-caps/nvidia-cap{ci}")
    assert len(lines) == 11 and "AutoDetect=off" in text.splitlines()
    assert mig_cap_minors(0, 2, 0) == (21, 22)  # Slurm's gres.conf documentation's example


def test_one_qos_per_group_with_the_policy_limits(shipped):
    qos = {q.name: q for q in cluster_of(shipped).qos}
    assert set(qos) == {"student", "researcher", "faculty", "admin"}
    student = qos["student"]  # 2 GPU-equivalents, 2 per container, 24 h, priority 10
    assert student.max_tres_per_user == {"billing": 200, "gres/gpu": 14, "gres/gpu:a100": 2}
    assert student.max_tres_per_job == {"gres/gpu": 2}
    assert (student.max_wall_minutes, student.priority) == (1440, 10)
    assert qos["researcher"].max_wall_minutes == 48 * 60 and qos["researcher"].priority == 20
    assert qos["admin"].max_tres_per_user == {} and qos["admin"].max_tres_per_job == {}
    script = fragments.render(cluster_of(shipped))["sacctmgr.sh"]
    assert ("sacctmgr -i modify qos where name=student set 'Description=Students and course participants' "
            "MaxTRESPerUser=billing=200,gres/gpu=14,gres/gpu:a100=2 MaxTRESPerJob=gres/gpu=2 MaxWall=1440 "
            "Priority=10 Flags=DenyOnLimit") in script


def test_mig_only_group_gets_no_whole_gpus(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("groups:\n  course: {allow_full_gpu: false, members: [carol]}\n" + CLUSTER)
    qos = cluster_of(policy.load(str(path))).qos[0]
    assert qos.max_tres_per_user["gres/gpu:a100"] == 0
    users = fragments.render(cluster_of(policy.load(str(path))))["sacctmgr.sh"]
    assert "sacctmgr -i add user carol Account=course DefaultAccount=course QOS=course DefaultQOS=course" in users


def test_cgroup_conf_leaves_devices_to_ds01_by_default(shipped):
    text = fragments.render(cluster_of(shipped))["cgroup.conf"]
    assert "ConstrainDevices=no" in text.splitlines() and "ConstrainRAMSpace=yes" in text.splitlines()


@pytest.mark.parametrize(("name", "expected"), [
    ("NVIDIA A100-SXM4-40GB", "a100"), ("NVIDIA H100 80GB HBM3", "h100"), ("Tesla V100-SXM2-16GB", "v100"),
    ("NVIDIA GeForce RTX 4090", "rtx4090"), ("NVIDIA RTX A6000", "rtxa6000")])
def test_gpu_type_names(name, expected):
    assert gpu_type(name) == expected


def test_check_names_each_drifted_file_and_writes_nothing(shipped, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(Drift, match="missing"):
        slurm_generate(shipped, str(out), "check")
    assert not out.exists()
    assert {r["state"] for r in slurm_generate(shipped, str(out))} == {"written"}
    assert {r["state"] for r in slurm_generate(shipped, str(out), "check")} == {"ok"}
    (out / "slurm-ds01.conf").write_text((out / "slurm-ds01.conf").read_text() + "MaxJobCount=1\n")
    with pytest.raises(Drift, match=r"slurm-ds01.conf \(differs\)") as caught:
        slurm_generate(shipped, str(out), "check")
    assert caught.value.code == 1 and "gres.conf" not in caught.value.message
    assert {r["state"] for r in slurm_generate(shipped, str(out))} == {"written", "unchanged"}


def test_a_policy_without_cluster_nodes_is_a_usage_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("groups: {}\n")
    with pytest.raises(UsageError, match="no cluster nodes"):
        slurm_generate(policy.load(str(path)), str(tmp_path / "out"))
