"""Admin operations (issue 20): versions and help everywhere, suggestions for mistyped verbs, users placed by Unix
groups (NSS, as LDAP's would be), and read-only commands that say when the policy is broken or missing."""

import json
import os
import subprocess
import textwrap

import pytest

from tests.support import sandbox
from tests.support.harness import BIN, REPO

ROOT = sandbox.pwd.getpwnam("root")
LAB_GROUP = "ds01t-mllab"


def test_version_reports_the_build_path_python_and_engine(sh, users):
    alice = users["alice"]
    [record] = sh.records(alice, "version")
    assert record["version"] == __import__("ds01").__version__
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert head.stdout.startswith(record["commit"]) and len(record["commit"]) == 12  # read from .git, no git run
    assert record["install_path"] == str(REPO) and record["python"].count(".") == 2
    engine = sh.records(ROOT, "version")[0]["docker_engine"]
    assert engine and engine[0].isdigit()  # the private dockerd answered
    assert record["docker_engine"] == engine  # through ds01d too
    for argv in (["container-list", "--version"], ["ds01", "version"], ["ds01", "--version"],
                 ["container", "--version"], ["gpu-status", "--version"]):
        [same] = sh.records(alice, *argv)
        assert same == record, argv


def test_h_is_help_everywhere_and_mistyped_verbs_get_a_suggestion(offline_sh, users):
    alice = users["alice"]
    for command in ("container-create", "gpu-status", "ds01-report", "image-list"):
        short = offline_sh.run(alice, command, "-h")
        assert short.returncode == 0 and short.stdout == offline_sh.run(alice, command, "--help").stdout
        assert "--version" in short.stdout
    typo = offline_sh.run(alice, "container", "strat")
    assert typo.returncode == 2 and "did you mean 'start'" in typo.stderr.replace("'stats' or ", "")
    noun = offline_sh.run(alice, "ds01", "contaner", "list")
    assert noun.returncode == 2 and "did you mean 'container'?" in noun.stderr
    far = offline_sh.run(alice, "container", "xyzzy")
    assert far.returncode == 2 and "did you mean" not in far.stderr and "container --help" in far.stderr


def test_help_in_bash_runs_ds01s_help_and_leaves_the_builtins_topics_to_bash(users):
    alice = users["alice"]
    profile = REPO / "etc" / "profile.d" / "ds01.sh"

    def bash(line):
        env = sandbox.user_env(alice, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "DS01_BIN": str(BIN),
                                       "DS01_HOME": str(REPO)})
        return subprocess.run(sandbox.as_user_command(alice, ["bash", "-c", f". {profile}\n{line}"]), env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)

    ours = bash("help --layer gpu")
    assert ours.returncode == 0 and "gpu-allocate" in ours.stdout, ours.stderr
    builtin = bash("help cd")
    assert builtin.returncode == 0 and "Change the shell working directory" in builtin.stdout
    assert bash("help -d pwd").stdout.startswith("pwd - ")


@pytest.fixture
def lab_group(users):
    """A real Unix group with bob in it, as an LDAP group would be through NSS."""
    subprocess.run(["groupdel", LAB_GROUP], capture_output=True)
    subprocess.run(["groupadd", LAB_GROUP], check=True)
    subprocess.run(["gpasswd", "-a", users["bob"].pw_name, LAB_GROUP], check=True, capture_output=True)
    yield LAB_GROUP
    subprocess.run(["groupdel", LAB_GROUP], check=True)


def test_a_policy_group_takes_the_members_of_a_unix_group_and_says_which_rule_placed_a_user(
        tmp_path, users, lab_group, offline_sh):
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    primary = sandbox.grp.getgrgid(alice.pw_gid).gr_name
    path = tmp_path / "resource-limits.yaml"
    path.write_text(textwrap.dedent(f"""\
        default_group: student
        groups:
          student: {{max_cpus: 2}}
          lab: {{max_cpus: 8, unix_group: {lab_group}}}
          own: {{max_cpus: 4, unix_group: {primary}}}
          staff: {{max_cpus: 16, members: [{bob.pw_name}]}}
        access_control: {{admin_users: [{admin.pw_name}]}}
        """))
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)

    def placed(user):
        [record] = offline_sh.records(admin, "resource-limits", user.pw_name, "--json",
                                      extra_env={"DS01_CONFIG": str(path)})
        return record["group"], record["group_source"], record["placed_by"], record["max_cpus"]

    assert placed(bob) == ("lab", "unix_group", f"groups.lab.unix_group: {bob.pw_name} is in the Unix group "
                                                f"{lab_group}", 8)  # the first of lab and staff
    assert placed(alice)[:2] == ("own", "unix_group")  # her primary group
    assert placed(admin) == ("student", "default", f"default_group: student (no group lists {admin.pw_name})", 2)
    warned = offline_sh.run(admin, "resource-limits", bob.pw_name, extra_env={"DS01_CONFIG": str(path)})
    assert "also listed in group 'staff'" in warned.stderr
    subprocess.run(["gpasswd", "-d", bob.pw_name, lab_group], check=True, capture_output=True)
    assert placed(bob)[:3] == ("staff", "member", "groups.staff.members")  # a new process asks NSS again


def test_read_only_commands_warn_once_on_a_broken_or_missing_policy_and_go_on(tmp_path, sh):
    broken = tmp_path / "broken.yaml"
    broken.write_text("defaults:\n  memory: [oops\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(broken, 0o644)
    for argv in (["container-list"], ["gpu-status"], ["resource-limits"], ["image-list"]):
        result = sh.run(ROOT, *argv, "--json", extra_env={"DS01_CONFIG": str(broken)})
        assert result.returncode == 0, (argv, result.stderr)
        assert result.stderr.count("warning: the policy is broken or missing") == 1, (argv, result.stderr)
        assert "broken.yaml:2" in result.stderr or "broken.yaml:3" in result.stderr
    limits = json.loads(sh.run(ROOT, "resource-limits", "--json", extra_env={"DS01_CONFIG": str(broken)}).stdout)
    assert limits["group"] == "default"  # the built-in defaults
    made = sh.run(ROOT, "container-create", "x", sandbox.BASE_IMAGE, extra_env={"DS01_CONFIG": str(broken)})
    assert made.returncode == 1 and "not valid YAML" in made.stderr  # a change never runs on a guess
    missing = sh.run(ROOT, "container-list", "--json", extra_env={"DS01_CONFIG": str(tmp_path / "nope.yaml")})
    assert missing.returncode == 0 and missing.stderr.count("warning:") == 1


def test_the_login_greeting_is_a_line_for_users_with_something_to_say_and_nothing_for_the_rest(
        user_tmp, users, dockerd):
    import datetime

    from ds01 import events
    from tests.support.gpulab import GpuLab

    lab = GpuLab(user_tmp, users, dockerd)
    alice, bob = users["alice"], users["bob"]
    made = lab.sh.records(alice, "container-deploy", "train", sandbox.BASE_IMAGE, "--num-gpus", "1", "--background")[0]
    greetings = user_tmp / "greetings"

    def job():
        return lab.sh.records(ROOT, "ds01-greetings", "--dir", str(greetings))

    [written] = job()
    assert written["user"] == alice.pw_name and written["written"]
    path = greetings / str(alice.pw_uid)
    info = os.stat(path)
    assert (info.st_uid, info.st_mode & 0o777) == (alice.pw_uid, 0o400)
    [slot] = lab.sh.records(alice, "gpu-user-status")[0]["slots"]
    assert path.read_text() == (f"ds01: 1 running, 0 stopped; GPU {slot} (0.1429 of 2 GPU-eq)  "
                                "(container-list, gpu-user-status)\n")
    assert job() == []  # nothing changed: nothing written, nothing logged

    def login(user, **env):
        profile = REPO / "etc" / "profile.d" / "ds01.sh"
        base = sandbox.user_env(user, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                                       "DS01_GREETING_DIR": str(greetings), **env})
        interactive = ["bash", "--norc", "--noprofile", "-i", "-c", f". {profile}"]  # a login's shell has PS1
        return subprocess.run(sandbox.as_user_command(user, interactive), env=base,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True).stdout

    assert login(alice) == path.read_text()
    assert login(bob) == ""  # nothing to say
    assert login(alice, DS01_GREETING="off") == ""
    moment = datetime.datetime.now(datetime.timezone.utc)
    events.Log(str(lab.logs), "ds01-idle-check", clock=lambda: moment)(
        "lifecycle.warn", alice.pw_name, container=made["container"], name="train", kind="idle",
        stop_at="2026-12-02T18:00:00Z")
    [warned] = job()
    assert warned["line"].endswith("; warning: train is idle, stops at 2026-12-02T18:00:00Z  "
                                   "(container-list, gpu-user-status)")
    lab.sh.run(alice, "container-remove", "train", "--force", check=True)
    assert job() == [{"uid": alice.pw_uid, "written": False}] and not path.exists()
    lab.sh.records(alice, "container-create", "notes", sandbox.BASE_IMAGE, "--cpu-only")
    assert job()[0]["line"].startswith("ds01: 0 running, 1 stopped  (")
    off = lab.policy.read_text() + "greeting: {enabled: false}\n"
    lab.policy.write_text(off)
    assert job() == [{"uid": alice.pw_uid, "written": False}] and os.listdir(greetings) == []
    assert lab.sh.run(alice, "ds01-greetings", "--dir", str(greetings)).returncode == 5


def test_no_greeting_is_written_for_an_account_that_is_gone(user_tmp, users, dockerd, client, sh):
    """A container whose owner's account was deleted: no greeting file for that uid, which a new account may
    get next (issue 30: greeting files of deleted users stayed, and a reused uid would read them)."""
    from ds01 import labels as L
    from tests.support.gpulab import GpuLab

    lab = GpuLab(user_tmp, users, dockerd)
    gone_uid = 4242
    assert sandbox.pwd.getpwall() and all(e.pw_uid != gone_uid for e in sandbox.pwd.getpwall())
    client.containers.create(sandbox.BASE_IMAGE, ["true"], name=f"old._.{gone_uid}",
                             labels={L.USER: "ds01t_gone", L.NAME: "old"})
    greetings = user_tmp / "greetings"
    written = lab.sh.records(ROOT, "ds01-greetings", "--dir", str(greetings))
    assert all(r["uid"] != gone_uid and r.get("user") != "ds01t_gone" for r in written), written
    assert not (greetings / str(gone_uid)).exists()
