"""What an admin or a script written against DS01 relies on: get_resource_limits.py's flags and output shapes,
and GPU figures that agree with what the allocator then does."""

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.support.harness import Shell, shared_log_dir

EXAMPLE = Path(__file__).resolve().parents[1] / "etc" / "ds01" / "gpus.sim.yaml"


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    """DS01's shapes of policy: a student group with an aggregate, an override for alice, an exemption for bob."""
    state = user_tmp / "state"
    state.mkdir()
    os.chmod(state, 0o755)
    alice, bob, admin = (users[k].pw_name for k in ("alice", "bob", "admin"))
    policy = user_tmp / "resource-limits.yaml"
    policy.write_text(textwrap.dedent(f"""\
        images: {{allowed: ["ds01-test/*"]}}  # the sandbox's own images
        defaults:
          max_gpu_equivalents: 1.0
          max_gpu_slots_per_container: 2
          max_containers_per_user: 3
          memory: 32g
          memory_swap: 32g
          idle_timeout_h: 0.5
          max_runtime_h: 24
          gpu_hold_after_stop_h: 0.25
          container_hold_after_stop_h: null
        default_group: student
        groups:
          student:
            members: [{alice}, {bob}]
            aggregate: {{cpu_quota: 9600%, memory_max: 96G, gpu_limit: 2.0}}
            policies: {{gpu_idle_threshold: 5, idle_detection_window: 3}}
          admin:
            max_gpu_equivalents: null
            max_runtime_h: null
            members: [{admin}]
        user_overrides:
          {alice}:
            max_gpu_equivalents: 3
            priority: 40
        access_control:
          admin_users: [{admin}]
        gpu: {{inventory: {EXAMPLE}}}
        """))
    (user_tmp / "lifecycle-exemptions.yaml").write_text(textwrap.dedent(f"""\
        exemptions:
          - {{username: {bob}, exempt_from: [idle_timeout_h], reason: thesis, approved_by: prof,
              expires_on: 2099-01-01T00:00:00Z}}
        """))
    for path in (policy, user_tmp / "lifecycle-exemptions.yaml"):
        os.chmod(path, 0o644)
    return Shell(dockerd, policy, shared_log_dir(state.parent / "logs"), {"DS01_STATE_DIR": str(state)})


def ds01_answer(sh, who, *argv):
    result = sh.run(who, "get_resource_limits.py", *argv)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# ---------------------------------------------------------------- 3a: get_resource_limits.py's flags

def test_get_resource_limits_answers_each_ds01_flag_in_ds01s_format(lab, users):
    admin, alice, bob = users["admin"], users["alice"].pw_name, users["bob"].pw_name
    assert ds01_answer(lab, admin, alice, "--max-gpus") == "3"  # a whole float prints as an int
    assert ds01_answer(lab, admin, admin.pw_name, "--max-gpus") == "unlimited"
    assert ds01_answer(lab, admin, bob, "--max-mig-per-container") == "2"
    assert ds01_answer(lab, admin, alice, "--priority") == "40"
    assert ds01_answer(lab, admin, bob, "--gpu-hold-time") == "0.25"
    assert ds01_answer(lab, admin, bob, "--container-hold-time") == "never"
    assert ds01_answer(lab, admin, bob, "--idle-timeout") == "0.5"
    assert ds01_answer(lab, admin, admin.pw_name, "--max-runtime") == "None"
    assert ds01_answer(lab, admin, bob, "--allow-full-gpu") == "true"
    assert ds01_answer(lab, admin, bob, "--group") == "student"
    assert ds01_answer(lab, admin, bob, "--docker-args").startswith("--cpus=")
    assert json.loads(ds01_answer(lab, admin, bob, "--aggregate")) == {
        "cpu_quota": "9600%", "memory_max": "96G", "gpu_limit": 2}
    assert ds01_answer(lab, admin, admin.pw_name, "--aggregate") == "null"
    assert ds01_answer(lab, admin, bob, "--aggregate-gpu-limit") == "2.0"  # DS01 printed the YAML float
    assert ds01_answer(lab, admin, admin.pw_name, "--aggregate-gpu-limit") == "unlimited"
    policies = json.loads(ds01_answer(lab, admin, bob, "--lifecycle-policies"))
    assert policies["gpu_idle_threshold"] == 5 and policies["idle_detection_window"] == 3
    assert ds01_answer(lab, admin, bob, "--check-exemption", "idle_timeout_h") == \
        "exempt: Temporary exemption until 2099-01-01T00:00:00Z: thesis"
    assert ds01_answer(lab, admin, alice, "--check-exemption", "idle_timeout_h") == "not_exempt"
    assert json.loads(ds01_answer(lab, admin, bob, "--json")) == {
        "group": "student", "max_gpus": "1", "max_gpus_per_container": "2", "max_containers": "3",
        "cpu_cores": "32", "memory": "32g", "storage_workspace": "N/A", "idle_timeout": "0.5h", "gpu_hold": "0.25h",
        "container_hold": "N/A", "max_runtime": "24h"}


def test_get_resource_limits_keeps_users_to_their_own_and_refuses_two_questions(lab, users):
    alice, bob = users["alice"], users["bob"]
    assert ds01_answer(lab, alice, alice.pw_name, "--max-gpus") == "3"
    other = lab.run(alice, "get_resource_limits.py", bob.pw_name, "--max-gpus")
    assert other.returncode == 5 and other.stdout == ""
    both = lab.run(alice, "get_resource_limits.py", alice.pw_name, "--max-gpus", "--priority")
    assert both.returncode == 2 and both.stdout == ""


# ---------------------------------------------------------------- 3b: the group's GPU total is what you can get

def test_what_a_user_is_told_they_can_get_is_what_the_allocator_gives(lab, users):
    alice = users["alice"]
    held = lab.records(alice, "gpu-allocate", "--full-gpu", "--num-gpus", "2", "--ttl", "600")[0]
    assert len(held["slots"]) == 2
    status = lab.records(alice, "gpu-user-status")[0]
    assert status["gpu_eq_limit"] == 3 and status["aggregate_gpu_limit"] == 2
    assert status["gpu_eq_remaining"] == 0 and status["can_get_now"] == 0
    assert status["limited_by"] == "aggregate.gpu_limit"
    limits = lab.records(alice, "check-limits")[0]
    assert limits["gpu"]["eq_limit"] == 2 and limits["gpu"]["share"] == 1.0
    assert any("GPU limit reached (2/2 GPU-eq, aggregate.gpu_limit)" in w for w in limits["warnings"])
    refused = lab.run(alice, "gpu-allocate", "--gpu-profile", "1g.5gb")
    assert refused.returncode == 3 and "AGGREGATE_GPU_LIMIT" in refused.stderr
