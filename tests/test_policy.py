"""Policy files: resolution order, DS01 compatibility, and errors that name file, line and key."""

import os
import textwrap
from pathlib import Path

import pytest

from ds01 import policy
from ds01.policy import BUILTIN_LIMITS
from ds01.schema import PolicyError


def write(tmp_path, text, name="resource-limits.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


POLICY = """\
    defaults:
      max_cpus: 8
      memory: 32g
      idle_timeout_h: 0.5
    default_group: student
    groups:
      student:
        max_gpu_equivalents: 2.0
        members: [alice, shared]
      researcher:
        max_cpus: 16
        memory: 64g
        priority: 50
        members: [bob, shared]
    user_overrides:
      bob:
        max_runtime_h: 90m
    """


def test_group_limits_apply_on_top_of_defaults(tmp_path):
    limits = policy.load(write(tmp_path, POLICY)).resolve("alice")
    assert limits.group == "student"
    assert limits["max_gpu_equivalents"] == 2.0
    assert limits["max_cpus"] == 8
    assert limits["idle_timeout_h"] == 0.5


def test_an_override_keeps_the_users_group_limits(tmp_path):
    limits = policy.load(write(tmp_path, POLICY)).resolve("bob")
    assert limits.group == "researcher" and limits.override
    assert limits["max_runtime_h"] == 1.5          # from the override, 90m in hours
    assert limits["max_cpus"] == 16                # from the group (DS01 lost these)
    assert limits["priority"] == 50


def test_a_user_in_two_groups_gets_the_first(tmp_path):
    loaded = policy.load(write(tmp_path, POLICY))
    assert loaded.resolve("shared").group == "student"
    assert loaded.groups_listing("shared") == ["student", "researcher"]


def test_unlisted_users_get_the_default_group(tmp_path):
    limits = policy.load(write(tmp_path, POLICY)).resolve("nobody")
    assert (limits.group, limits.group_source) == ("student", "default")


def test_members_files_beside_the_policy(tmp_path):
    path = write(tmp_path, POLICY)
    (tmp_path / "groups").mkdir()
    (tmp_path / "groups" / "researcher.members").write_text("# researchers\ncarol  # PhD\n\n")
    assert policy.load(path).resolve("carol").group == "researcher"


def test_user_overrides_file_wins_over_inline(tmp_path):
    path = write(tmp_path, POLICY)
    (tmp_path / "user-overrides.yaml").write_text("bob:\n  max_runtime_h: 2h\n")
    assert policy.load(path).resolve("bob")["max_runtime_h"] == 2


def test_ldap_logins_match_their_sanitised_member_name(tmp_path):
    path = write(tmp_path, "groups:\n  researcher:\n    members: [h_baker]\n")
    assert policy.load(path).resolve("h.baker@x.lan").group == "researcher"


def test_null_means_unlimited(tmp_path):
    path = write(tmp_path, "defaults:\n  idle_timeout_h: null\n  max_gpu_equivalents: null\n")
    limits = policy.load(path).resolve("x")
    assert limits["idle_timeout_h"] is None and limits.seconds("idle_timeout_h") is None
    assert limits["max_gpu_equivalents"] is None


def test_old_key_names_still_work(tmp_path):
    path = write(tmp_path, "defaults:\n  max_mig_instances: 3\n  cpus: 4\n  max_gpus_per_container: 2\n")
    limits = policy.load(path).resolve("x")
    assert (limits["max_gpu_equivalents"], limits["max_cpus"], limits["max_gpu_slots_per_container"]) == (3, 4, 2)


def test_old_and_new_name_together_is_an_error(tmp_path):
    with pytest.raises(PolicyError, match=r":3: 'defaults.max_gpu_equivalents' sets"):
        policy.load(write(tmp_path, "defaults:\n  max_mig_instances: 3\n  max_gpu_equivalents: 2\n"))


def test_unknown_key_names_file_line_and_suggests(tmp_path):
    path = write(tmp_path, "defaults:\n  max_cpus: 2\ngroups:\n  student:\n    max_cpu: 4\n")
    with pytest.raises(PolicyError) as caught:
        policy.load(path)
    assert str(caught.value) == f"{path}:5: unknown key 'groups.student.max_cpu' (did you mean 'max_cpus'?)"


@pytest.mark.parametrize("text,line,fragment", [
    ("defaults:\n  max_cpus: many\n", 2, "expected a number"),
    ("defaults:\n  memory: lots\n", 2, "not a size"),
    ("defaults:\n\n  idle_timeout_h: soon\n", 3, "not a duration"),
    ("defaults:\n  allow_full_gpu: 1\n", 2, "expected true or false"),
    ("defaults:\n  pids_limit: 2.5\n", 2, "expected an integer"),
    ("defaults: [1, 2]\n", 1, "expected a mapping"),
    ("defaults:\n  max_cpus: 1\n  max_cpus: 2\n", 3, "duplicate key"),
    ("default_group: staff\n", 1, "not a group"),
    ("defaults:\n  memory: [\n", 3, "not valid YAML"),
])
def test_bad_values_name_file_and_line(tmp_path, text, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        policy.load(path)
    assert str(caught.value).startswith(f"{path}:{line}:") and fragment in str(caught.value)


def test_empty_file_and_empty_sections_are_valid(tmp_path):
    assert policy.load(write(tmp_path, "")).resolve("x")["max_cpus"] == BUILTIN_LIMITS["max_cpus"]
    loaded = policy.load(write(tmp_path, "defaults:\ngroups:\nuser_overrides:\npolicies:\n", "b.yaml"))
    assert loaded.resolve("x")["memory"] == BUILTIN_LIMITS["memory"]


def test_missing_explicit_file_is_not_found(tmp_path):
    with pytest.raises(policy.NotFound):
        policy.load(str(tmp_path / "absent.yaml"))


def test_docker_args_and_slice(tmp_path):
    limits = policy.load(write(tmp_path, POLICY)).resolve("alice")
    assert limits.docker_args() == ["--cpus=8", "--memory=32g", "--memory-swap=32g", "--shm-size=16g",
                                    "--pids-limit=4096", "--cgroup-parent=ds01-student-alice.slice",
                                    "--cap-drop=ALL", "--security-opt=no-new-privileges"]


def test_no_shm_size_means_host_ipc(tmp_path):
    limits = policy.load(write(tmp_path, "defaults:\n  shm_size: null\n")).resolve("x")
    assert "--ipc=host" in limits.docker_args()


def test_the_shipped_policy_loads_and_its_defaults_are_the_embedded_ones():
    from tests.support.harness import REPO

    shipped = policy.load(str(REPO / "etc" / "ds01" / "resource-limits.yaml"))
    defaults = shipped.section("defaults")
    for key, value in defaults.items():
        if key != "memory_swap":
            assert BUILTIN_LIMITS[key] == value, key
    assert set(shipped.section("groups")) == {"student", "researcher", "faculty", "admin"}
    assert shipped.resolve("anyone").group == "student"
    assert shipped.resolve("anyone")["max_gpu_equivalents"] == 2.0


@pytest.fixture
def kept_at_once(monkeypatch):
    """Files count as settled at once (they are seconds old on a real host; here, just written)."""
    monkeypatch.setattr(policy, "RACY_S", 0.0)
    monkeypatch.setattr(policy, "_kept", {})


def test_a_kept_policy_is_read_again_when_any_file_it_read_or_looked_for_changes(tmp_path, kept_at_once):
    path = write(tmp_path, POLICY)
    (tmp_path / "groups").mkdir()
    members = tmp_path / "groups" / "researcher.members"
    members.write_text("carol\n")
    first = policy.load_cached(path)
    assert policy.load_cached(path) is first  # nothing changed: no file read
    members.write_text("carol\ndave\n")
    second = policy.load_cached(path)
    assert second.members["researcher"][-2:] == ["carol", "dave"]
    assert policy.load_cached(path) is second
    (tmp_path / "user-overrides.yaml").write_text("dave: {max_cpus: 3}\n")  # a file that was missing
    third = policy.load_cached(path)
    assert third.overrides["dave"]["max_cpus"] == 3
    os.chmod(path, 0o666)  # its mode (the trust check reads it): read again, and refused where root reads it
    if os.geteuid() == 0:
        with pytest.raises(PolicyError, match="refusing the policy"):
            policy.load_cached(path)
    else:
        assert policy.load_cached(path) is not third
    os.chmod(path, 0o644)
    Path(path).write_text(Path(path).read_text().replace("max_cpus: 8", "max_cpus: 9"))  # same size, new text
    assert policy.load_cached(path).resolve("nobody")["max_cpus"] == 9


def test_a_policy_file_changed_within_the_last_seconds_is_never_kept(tmp_path, monkeypatch):
    """A rewrite within one tick of the file's timestamps looks unchanged to a stat: such a file is read again."""
    monkeypatch.setattr(policy, "_kept", {})
    path = write(tmp_path, POLICY)
    assert policy.load_cached(path) is not policy.load_cached(path)
