"""A DS01 admin's script calling `get_resource_limits.py USER --FLAG` reads DS01's exact shapes (issue 31, items
7-8): the values and types DS01 printed for its own shipped policy (../shared/reference/ds01-reference.md §3),
while ds01's own name, `resource-limits`, keeps its shapes. Run as the real command, in-process (a TCP engine
address: nothing here asks Docker), by its legacy name."""

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from ds01.units import format_duration, parse_duration

BIN = Path(sys.executable).parent

# DS01's shipped resource-limits.yaml (§3.2), as far as get_resource_limits.py reads it.
DS01_POLICY = """\
defaults:
  max_gpu_equivalents: 1.0
  max_gpu_slots_per_container: 1
  allow_full_gpu: true
  max_cpus: 32
  memory: 32g
  memory_swap: 32g
  shm_size: 16g
  pids_limit: 4096
  max_containers_per_user: 3
  max_runtime_h: 24
  idle_timeout_h: 0.5
  gpu_hold_after_stop_h: 0.25
  container_hold_after_stop_h: 0.5
  max_tasks: 32768
default_group: student
enforcement: {aggregate_limits: true, cgroup_driver: systemd}
groups:
  student:
    members: [stud]
    max_gpu_equivalents: 2.0
    max_gpu_slots_per_container: 2
    aggregate: {cpu_quota: 9600%, memory_max: 96G, memory_high: 86G, tasks_max: 12288, gpu_limit: 2.0}
    policies: {gpu_idle_threshold: 5, cpu_idle_threshold: 2.0, network_idle_threshold: 1048576,
               idle_detection_window: 3}
  researcher:
    members: [res, ovr]
    max_gpu_equivalents: 4.0
    max_gpu_slots_per_container: 3
    max_cpus: 48
    memory: 64g
    memory_swap: 64g
    shm_size: 32g
    max_runtime_h: 48
    idle_timeout_h: 1
    max_containers_per_user: 5
    max_tasks: 65536
    aggregate: {cpu_quota: 24000%, memory_max: 320G, memory_high: 288G, tasks_max: 327680, gpu_limit: 4.0}
    policies: {gpu_idle_threshold: 5, cpu_idle_threshold: 3.0, network_idle_threshold: 1048576,
               idle_detection_window: 4}
  admin:
    members: [adm, RUNNER]
    allow_full_gpu: true
    max_gpu_equivalents: null
    max_gpu_slots_per_container: null
    max_cpus: 64
    memory: 128g
    memory_swap: 128g
    shm_size: 64g
    max_runtime_h: 24
    idle_timeout_h: 1
    gpu_hold_after_stop_h: 1
    max_containers_per_user: 10
    max_tasks: null
user_overrides:
  ovr: {max_gpu_equivalents: 3, priority: 40}
  thesis: {idle_timeout_h: null, max_runtime_h: null}
policies:
  high_demand_threshold: 0.8
  high_demand_idle_reduction: 0.5
  gpu_idle_threshold: 5
  cpu_idle_threshold: 2.0
  network_idle_threshold: 1048576
  idle_detection_window: 3
  grace_period_m: 30
  keepalive_max_duration_h: 24
  sigterm_grace_s: 60
  gpu_hold_after_manual_stop_m: 15
  created_container_timeout_m: 30
access_control:
  admin_users: [RUNNER]
"""


@pytest.fixture(scope="module")
def ds01_policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds01-policy") / "resource-limits.yaml"
    path.write_text(DS01_POLICY.replace("RUNNER", pwd.getpwuid(os.getuid()).pw_name))
    return path


def call(policy, name, *argv):
    """`name argv…` as a script runs it (stdout a pipe), in-process: (stdout without the newline, stderr)."""
    result = subprocess.run([str(BIN / name), *argv], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={**os.environ, "DS01_CONFIG": str(policy), "DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n"), result.stderr


def ds01(policy, *argv):
    out, err = call(policy, "get_resource_limits.py", *argv)
    assert err == ""
    return out


# ---------------------------------------------------------------- one answer per flag, as DS01 printed it

@pytest.mark.parametrize(("user", "flag", "printed"), [
    ("stud", "--max-gpus", "2"),                      # 2.0, a whole float: "2"
    ("adm", "--max-gpus", "unlimited"),
    ("stud", "--max-containers", "3"),
    ("stud", "--max-ram", "32g"),
    ("res", "--max-mig-per-container", "3"),
    ("adm", "--max-mig-per-container", "unlimited"),
    ("stud", "--mig-instances-per-gpu", "1"),
    ("stud", "--allow-full-gpu", "true"),
    ("stud", "--priority", "10"),
    ("stud", "--gpu-hold-time", "0.25"),
    ("stud", "--container-hold-time", "0.5"),
    ("stud", "--idle-timeout", "0.5"),
    ("res", "--idle-timeout", "1"),
    ("thesis", "--idle-timeout", "None"),
    ("stud", "--max-runtime", "24"),
    ("thesis", "--max-runtime", "None"),
    ("stud", "--high-demand-threshold", "0.8"),
    ("stud", "--high-demand-reduction", "0.5"),
    ("stud", "--aggregate-gpu-limit", "2.0"),         # DS01 printed the YAML float
    ("res", "--aggregate-gpu-limit", "4.0"),
    ("adm", "--aggregate-gpu-limit", "unlimited"),
    ("adm", "--aggregate", "null"),
    ("stud", "--group", "student"),
    ("nobody", "--group", "student"),                 # default_group
])
def test_each_flag_prints_what_ds01_printed(ds01_policy, user, flag, printed):
    assert ds01(ds01_policy, user, flag) == printed


def test_docker_args_are_ds01s_flags_only(ds01_policy):
    """A DS01 script runs `docker run $(get_resource_limits.py u --docker-args) …`: nothing ds01 adds."""
    assert ds01(ds01_policy, "stud", "--docker-args") == (
        "--cpus=32 --memory=32g --memory-swap=32g --shm-size=16g --pids-limit=4096 "
        "--cgroup-parent=ds01-student-stud.slice")
    assert ds01(ds01_policy, "res", "--docker-args") == (
        "--cpus=48 --memory=64g --memory-swap=64g --shm-size=32g --pids-limit=4096 "
        "--cgroup-parent=ds01-researcher-res.slice")
    own, _ = call(ds01_policy, "resource-limits", "stud", "--docker-args")
    assert "--cap-drop=ALL" in own  # ds01's own name keeps what ds01 enforces


def test_all_lifecycle_keeps_ds01s_h_keys_and_types(ds01_policy):
    out = ds01(ds01_policy, "stud", "--all-lifecycle")
    assert out == ('{"idle_timeout_h": 0.5, "max_runtime_h": 24, "gpu_hold_after_stop_h": 0.25, '
                   '"container_hold_after_stop_h": 0.5}')
    assert json.loads(ds01(ds01_policy, "thesis", "--all-lifecycle"))["idle_timeout_h"] is None
    assert json.loads(ds01(ds01_policy, "stud", "--all-lifecycle"))["idle_timeout_h"] == 0.5  # the script's read


def test_lifecycle_policies_are_ds01s_five_keys(ds01_policy):
    assert ds01(ds01_policy, "stud", "--lifecycle-policies") == (
        '{"gpu_idle_threshold": 5, "cpu_idle_threshold": 2.0, "network_idle_threshold": 1048576, '
        '"idle_detection_window": 3, "sigterm_grace_s": 60}')
    researcher = json.loads(ds01(ds01_policy, "res", "--lifecycle-policies"))
    assert researcher == {"gpu_idle_threshold": 5, "cpu_idle_threshold": 3.0, "network_idle_threshold": 1048576,
                          "idle_detection_window": 4, "sigterm_grace_s": 60}
    own, _ = call(ds01_policy, "resource-limits", "stud", "--lifecycle-policies")
    assert len(json.loads(own)) > 5  # ds01's own name: every policy key


def test_aggregate_is_the_section_as_ds01_wrote_it(ds01_policy):
    assert ds01(ds01_policy, "stud", "--aggregate") == (
        '{"cpu_quota": "9600%", "memory_max": "96G", "memory_high": "86G", "tasks_max": 12288, "gpu_limit": 2.0}')


def test_json_prints_strings_and_na_where_ds01_did(ds01_policy):
    assert ds01(ds01_policy, "stud", "--json") == json.dumps({
        "group": "student", "max_gpus": "2", "max_gpus_per_container": "2", "max_containers": "3",
        "cpu_cores": "32", "memory": "32g", "storage_workspace": "N/A", "idle_timeout": "0.5h",
        "gpu_hold": "0.25h", "container_hold": "0.5h", "max_runtime": "24h"})
    assert json.loads(ds01(ds01_policy, "adm", "--json")) == {
        "group": "admin", "max_gpus": "unlimited", "max_gpus_per_container": "unlimited", "max_containers": "10",
        "cpu_cores": "64", "memory": "128g", "storage_workspace": "N/A", "idle_timeout": "1h", "gpu_hold": "1h",
        "container_hold": "0.5h", "max_runtime": "24h"}
    out, err = call(ds01_policy, "get_resource_limits.py", "thesis", "--json")  # an override: see below
    thesis = json.loads(out)
    assert (thesis["idle_timeout"], thesis["max_runtime"]) == ("N/A", "unlimited")
    assert thesis["group"] == "student" and '"group": "override"' in err


# ---------------------------------------------------------------- a user override: ds01 layers, DS01 replaced

def test_an_override_user_is_told_what_ds01_would_have_printed(ds01_policy):
    """`ovr` is a researcher with an override. ds01 applies the override on top of the group (48 CPUs, the
    researcher slice); DS01 replaced the group by it (32 CPUs, group `override`). The legacy name prints what ds01
    enforces and says on stderr, every time it differs, what DS01 printed; where both agree it says nothing."""
    out, err = call(ds01_policy, "get_resource_limits.py", "ovr", "--docker-args")
    assert out.startswith("--cpus=48 ") and out.endswith("--cgroup-parent=ds01-researcher-ovr.slice")
    assert "DS01 replaced the group" in err
    assert "--cpus=32 --memory=32g" in err and "--cgroup-parent=ds01-override-ovr.slice" in err
    group, err = call(ds01_policy, "get_resource_limits.py", "ovr", "--group")
    assert group == "researcher" and "DS01 printed: override" in err
    gpus, err = call(ds01_policy, "get_resource_limits.py", "ovr", "--max-gpus")
    assert (gpus, err) == ("3", "")  # the override's own value: the same under both rules


# ---------------------------------------------------------------- durations (§8.2 E)

@pytest.mark.parametrize("text", ["", "  ", "null", "None", "never", "indefinite"])
def test_an_empty_duration_is_unlimited_as_in_ds01(text):
    assert parse_duration(text) is None


def test_minus_one_seconds_reads_unlimited_as_in_ds01():
    assert format_duration(-1) == "unlimited"
    assert [format_duration(s) for s in (3600, 90000, 86400, 1800, 60, 30, 0)] == [
        "1h", "1d 1h", "1d", "30m", "1m", "30s", "0s"]


def test_the_policy_still_refuses_what_is_no_duration():
    with pytest.raises(ValueError):
        parse_duration("abc")
    with pytest.raises(ValueError):
        parse_duration(-5)
