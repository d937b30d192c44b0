"""Pure logic, no Docker and no root: the create plan, the idle helpers and the timers by interface."""

import datetime
import os

import pytest

from ds01 import create_plan as create
from ds01 import labels as L
from ds01.errors import PermissionDenied, UsageError
from ds01.lifecycle import idle, subjects
from ds01.policy import INTERFACE_TIMERS, docker_terms, parse
from ds01.runtime import Runtime
from tests.support.gpulab import EXAMPLE

LIMITS = "defaults: {max_cpus: 1, memory: 1g, memory_swap: 2g, shm_size: 64m, pids_limit: 100}\n"


def runtime(tmp_path, extra=""):
    policy = parse(LIMITS + f"access_control: {{mount_roots: [{tmp_path}]}}\n" + extra, str(tmp_path / "p.yaml"))
    return Runtime(environ={"DS01_NOW": "2026-11-23T14:30:00Z", "DS01_GPU_INVENTORY": str(EXAMPLE)}, policy=policy)


def test_a_plan_turns_the_callers_limits_into_the_containers_host_config(tmp_path):
    rt = runtime(tmp_path)
    plan = create.plan(rt, "Thesis", "ds01-1000/thesis:latest", workspace=str(tmp_path / "ws"))
    uid = os.getuid()
    assert (plan.name, plan.container, plan.uid) == ("Thesis", f"Thesis._.{uid}", uid)  # as typed, as AIME
    config = plan.host_config()
    assert config["nano_cpus"] == 1_000_000_000 and config["network_mode"] == "host"
    assert (config["mem_limit"], config["memswap_limit"], config["shm_size"]) == (1 << 30, 2 << 30, 64 << 20)
    assert config["pids_limit"] == 100 and config["cgroup_parent"] == rt.limits(rt.caller.login).slice_name
    assert plan.labels[L.CREATED_AT] == "2026-11-23T14:30:00Z"  # the command's clock
    assert plan.labels[L.ARCH] == "CUDA_AMPERE"  # the A100s of the simulated inventory
    assert plan.create_workspace and plan.workspace == str(tmp_path / "ws")
    # an image without the caller's account gets it written into the container, which runs from its own tag
    # (a tag may have capitals, a repository may not: `ds01-1000/thesis:Thesis._.<uid>`)
    assert plan.account_setup and plan.tag_image == plan.run_image == f"ds01-1000/thesis:Thesis._.{uid}"


def test_the_host_config_and_resource_limits_docker_args_say_the_same_limits(tmp_path):
    rt = runtime(tmp_path)
    limits = rt.limits(rt.caller.login)
    assert limits.docker_args() == ["--cpus=1", "--memory=1g", "--memory-swap=2g", "--shm-size=64m",
                                    "--pids-limit=100", f"--cgroup-parent={limits.slice_name}", "--cap-drop=ALL",
                                    "--security-opt=no-new-privileges"]
    plan = create.plan(rt, "t", "img:latest", workspace=str(tmp_path / "ws"))
    assert {k: plan.host_config()[k] for k, _, _ in docker_terms(limits.values, limits.slice_name)} == \
        {k: v for k, v, _ in docker_terms(limits.values, limits.slice_name)}


def test_sudo_is_off_by_default_and_a_group_may_have_it_or_named_capabilities(tmp_path):
    rt = runtime(tmp_path)
    plan = create.plan(rt, "t", "img:latest", workspace=str(tmp_path / "ws"))
    config = plan.host_config()
    assert config["cap_drop"] == ["ALL"] and config["security_opt"] == ["no-new-privileges"]
    assert config["group_add"] == [str(g) for g in create.host_groups(["video"]).values()]  # the host's gids
    assert "cap_add" not in config
    assert config["binds"][create.SUDO_SHIM] == {"bind": "/usr/local/bin/sudo", "mode": "ro"}
    assert plan.record()["sudo"] is False
    rt = runtime(tmp_path, "user_overrides: {%s: {sudo: true, capabilities: [cap_sys_ptrace]}}\n"
                 % rt.caller.login)
    plan = create.plan(rt, "t", "img:latest", workspace=str(tmp_path / "ws"))
    config = plan.host_config()
    assert "cap_drop" not in config and "security_opt" not in config and config["cap_add"] == ["SYS_PTRACE"]
    assert config["group_add"] == [str(g) for g in create.host_groups(["video", "sudo"]).values()]
    assert create.SUDO_SHIM not in config["binds"]
    assert rt.limits(rt.caller.login).docker_args()[-1] == "--cap-add=SYS_PTRACE"
    from ds01.schema import PolicyError

    with pytest.raises(PolicyError, match="not a capability name"):
        runtime(tmp_path, "groups: {g: {capabilities: ['ALL']}}\n")


def test_no_shm_limit_means_the_hosts_ipc(tmp_path):
    rt = runtime(tmp_path, "groups: {g: {shm_size: null}}\ndefault_group: g\n")
    config = create.plan(rt, "t", "img:latest", workspace=str(tmp_path / "ws")).host_config()
    assert config["ipc_mode"] == "host" and "shm_size" not in config


def test_an_image_with_the_account_needs_no_setup_and_runs_from_a_second_tag(tmp_path):
    rt = runtime(tmp_path)
    labels = {L.USER_ID: str(os.getuid()), L.GROUP_ID: str(os.getgid())}
    plan = create.plan(rt, "t", "ds01-1/x:latest", workspace=str(tmp_path / "ws"), image_labels=labels)
    assert not plan.account_setup and plan.tag_image == plan.run_image == f"ds01-1/x:t._.{os.getuid()}"


def test_a_mount_docker_cannot_express_or_the_engines_socket_is_refused_by_the_plan(tmp_path):
    rt = runtime(tmp_path)
    with pytest.raises(UsageError):
        create.plan(rt, "t", "img:latest", workspace=str(tmp_path / "a,b"))
    with pytest.raises(PermissionDenied):  # whoever asks, admins too
        create.plan(rt, "t", "img:latest", workspace=str(tmp_path / "ws"), data="/var/run/docker.sock")


@pytest.mark.parametrize("args, work", [
    ("python train.py", True), ("-bash", False), ("/bin/sh -c true", False), ("sleep infinity", False),
    ("tmux new -s x", False), ("", False), ("/usr/bin/nvidia-smi", True),
])
def test_shells_sleeps_and_init_shims_are_not_work(args, work):
    assert idle.counts_as_work(args) is work


def test_cpu_percent_between_two_readings():
    assert idle.cpu_percent((2_000, 20_000, 2), (1_000, 10_000, 2)) == 20.0  # 10 % of the host, two CPUs
    assert idle.cpu_percent((2_000, 20_000, 2), None) is None  # a first reading: nothing to compare
    assert idle.cpu_percent((500, 20_000, 2), (1_000, 10_000, 2)) is None  # a restarted container


def test_host_network_traffic_is_not_the_containers():
    assert idle.received_bytes({"networks": None}) is None
    assert idle.received_bytes({"networks": {"eth0": {"rx_bytes": 5}, "eth1": {"rx_bytes": 7}}}) == 12


def subject(policy, interface, user="alice"):
    return subjects.Subject(info={"Id": "x", "Name": "/x", "State": {}}, rec={"user": user, "container": "x",
                            "name": "x"}, interface=interface, devices=[], slots=[], limits=policy.resolve(user),
                            started=datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc), finished=None,
                            created=None, tracked=interface == "atomic")


def test_timers_by_interface_own_containers_use_the_owners_limits_others_the_defaults_or_the_policy():
    policy = parse("defaults: {idle_timeout_h: 3, max_runtime_h: 10}\ncontainer_types: {compose: {max_runtime_h: 5}}\n")
    assert subjects.timer(policy, subject(policy, "atomic"), "idle_timeout_h") == 3 * 3600
    assert subjects.timer(policy, subject(policy, "compose"), "max_runtime_h") == 5 * 3600  # the policy's
    assert subjects.timer(policy, subject(policy, "compose"), "idle_timeout_h") == \
        INTERFACE_TIMERS["compose"]["idle_timeout_h"] * 3600  # DS01's built-in
    assert subjects.timer(policy, subject(policy, "devcontainer"), "idle_timeout_h") is None  # never idle-stopped
    assert subjects.stop_grace(policy, subject(policy, "docker")) == INTERFACE_TIMERS["docker"]["sigterm_grace_s"]


@pytest.mark.parametrize("labels, name, interface", [
    ({"aime.mlc.DS01_INTERFACE": "orchestration"}, "p._.1", "orchestration"),
    ({}, "x._.1000", "atomic"),
    ({}, "vscode-abc", "devcontainer"),
    ({"com.docker.compose.project": "p"}, "web", "compose"),
    ({}, "svc_2", "compose"),
    ({}, "jupyter-alice", "jupyter"),
    ({}, "random", "docker"),
])
def test_the_interface_follows_ds01s_rules(labels, name, interface):
    assert subjects.interface_of(labels, name.endswith("._.1000") or "._." in name, name) == interface
