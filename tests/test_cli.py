"""The command contract outside Docker: resource-limits, errors, exit codes, output modes, generated files."""

import json
import os
import shutil

from ds01 import generate, registry
from tests.support.harness import BIN, REPO


def test_resource_limits_record_for_the_caller(offline_sh, users):
    record = offline_sh.records(users["alice"], "resource-limits")[0]
    assert record["user"] == "ds01t_alice" and record["group"] == "student"
    assert record["max_cpus"] == 1.5 and record["memory"] == 256 * 1024**2
    assert record["slice"] == "ds01-student-ds01t_alice.slice"


def test_resource_limits_docker_args_field_and_group(offline_sh, users):
    bob = users["bob"]
    run = offline_sh.run
    assert run(bob, "resource-limits", "--docker-args").stdout.strip() == (
        "--cpus=1 --memory=384m --memory-swap=384m --shm-size=64m --pids-limit=256 "
        "--cgroup-parent=ds01-researcher-ds01t_bob.slice")
    assert run(bob, "resource-limits", "--field", "max_containers_per_user").stdout.strip() == "1"
    assert run(bob, "resource-limits", "--field", "idle_timeout_h").stdout.strip() == "0.5"
    assert run(bob, "resource-limits", "--group").stdout.strip() == "researcher"
    unknown = run(bob, "resource-limits", "--field", "nonsense")
    assert unknown.returncode == 2 and "unknown field" in unknown.stderr


def test_the_legacy_script_name_still_answers(offline_sh, users):
    result = offline_sh.run(users["bob"], "get_resource_limits.py", "--group")
    assert (result.returncode, result.stdout.strip()) == (0, "researcher")
    # bob has a user override: DS01 replaced his group by it, and the legacy name says what DS01 printed
    assert result.stderr.endswith("DS01 replaced the group by it. DS01 printed: override\n")


def test_only_admins_see_other_users_limits(offline_sh, users):
    denied = offline_sh.run(users["alice"], "resource-limits", "ds01t_bob")
    assert denied.returncode == 5 and denied.stderr.startswith("resource-limits: error: only admins")
    allowed = offline_sh.records(users["admin"], "resource-limits", "ds01t_bob")
    assert allowed[0]["group"] == "researcher"


def test_table_when_asked_json_when_piped(offline_sh, users):
    table = offline_sh.run(users["alice"], "resource-limits", "--table").stdout.splitlines()
    assert table[0].split() == ["KEY", "VALUE"] and ["memory", "256m"] in [line.split() for line in table]
    piped = offline_sh.run(users["alice"], "resource-limits").stdout
    assert json.loads(piped)["group"] == "student"


def test_a_bad_policy_is_reported_with_file_and_line(offline_sh, users, user_tmp):
    bad = user_tmp / "bad.yaml"
    bad.write_text("defaults:\n  max_cpus: 2\n  memroy: 4g\n")
    result = offline_sh.run(users["admin"], "resource-limits", "--config", str(bad))  # --config: admins only
    assert result.returncode == 0  # a read-only command says so and shows the defaults (tests/test_admin_ops.py)
    assert result.stderr.startswith(f"resource-limits: warning: the policy is broken or missing: {bad}:3: unknown "
                                    "key 'defaults.memroy' (did you mean")
    made = offline_sh.run(users["admin"], "container-create", "x", "img", "--config", str(bad))
    assert made.returncode == 1
    assert made.stderr.startswith(f"container-create: error: {bad}:3: unknown key 'defaults.memroy' (did you mean")


def test_usage_errors_exit_2_in_the_contract_format(offline_sh, users):
    result = offline_sh.run(users["alice"], "container-list", "--bogus")
    assert result.returncode == 2 and result.stderr.startswith("container-list: error: No such option")


def test_an_unreachable_engine_is_a_clear_failure(offline_sh, users):
    result = offline_sh.run(users["alice"], "container-list")
    assert result.returncode == 1 and "cannot reach the Docker engine" in result.stderr


def test_bad_target_names_are_refused_before_docker(offline_sh, users):
    for command in ("container-stop", "container-start", "container-remove"):
        result = offline_sh.run(users["alice"], command, "bad;name")
        assert result.returncode == 2 and "invalid container name" in result.stderr, result.stderr


def test_every_registered_command_has_help_with_examples_and_see_also():
    """In process, with click's CliRunner (as sqlite-utils tests its commands)."""
    import importlib

    from click.testing import CliRunner

    from ds01.registry import by_name

    runner = CliRunner()
    for name, (command, _) in by_name().items():
        result = runner.invoke(importlib.import_module(command.module).cli, ["--help"], prog_name=name)
        assert result.exit_code == 0, name
        assert result.output.startswith(f"Usage: {name} ") and "Examples:" in result.output, name
        assert "See also:" in result.output, name


def test_every_registered_name_is_installed_and_runs():
    """The one subprocess check: every name is an executable on PATH, and one of them answers."""
    import subprocess

    from ds01.registry import by_name

    missing = [name for name in by_name() if not os.access(BIN / name, os.X_OK)]
    assert missing == []
    result = subprocess.run([str(BIN / "container-list"), "--help"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL,  # a TCP engine: in-process for an unprivileged runner too
                            env={**os.environ, "DOCKER_HOST": "tcp://127.0.0.1:9"})
    assert result.returncode == 0 and result.stdout.startswith("Usage: container-list ")


def test_generated_files_match_the_registry():
    assert generate.main(["--check", "--root", str(REPO)]) == 0


def test_a_command_missing_from_the_registry_is_drift(tmp_path, monkeypatch, capsys):
    for directory in generate.generated_dirs():
        shutil.copytree(REPO / directory, tmp_path / directory)
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    (tmp_path / "bin" / "container-frobnicate").write_text("#!/bin/sh\n")
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    (tmp_path / "bin" / "container-frobnicate").unlink()
    assert generate.main(["--check", "--root", str(tmp_path)]) == 0
    monkeypatch.setattr(registry, "COMMANDS", tuple(c for c in registry.COMMANDS if c.name != "container-run"))
    capsys.readouterr()
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    drift = capsys.readouterr().err
    for path in ("bin/container-run", "bin/container-open", "man/man1/container-run.1", "man/man1/container.1"):
        assert path in drift


def test_dispatchers_list_their_verbs_and_refuse_unknown_ones(offline_sh, users):
    alice = users["alice"]
    listing = offline_sh.run(alice, "container")
    assert listing.returncode == 0
    verbs = [line.split()[0] for line in listing.stdout.splitlines() if line.startswith("  ")]
    assert verbs == ["deploy", "retire", "create", "recreate", "start", "run", "attach", "exit", "stop", "pause",
                     "unpause", "remove", "list", "stats", "export", "import"]  # legacy names hidden
    assert offline_sh.run(alice, "container", "--help").stdout == listing.stdout
    assert "image" in offline_sh.run(alice, "ds01").stdout
    unknown = offline_sh.run(alice, "container", "bogus")
    assert unknown.returncode == 2 and unknown.stderr.startswith("container: error: unknown verb 'bogus'")
    assert offline_sh.run(alice, "ds01", "nothing", "list").returncode == 2


def test_dispatchers_run_the_command_with_its_exit_code_and_name(offline_sh, users):
    alice = users["alice"]
    direct = offline_sh.run(alice, "container-stop", "--bogus")
    for argv in (("container", "stop", "--bogus"), ("ds01", "container", "stop", "--bogus")):
        via = offline_sh.run(alice, *argv)
        assert (via.returncode, via.stderr) == (direct.returncode, direct.stderr) == (2, direct.stderr)
    help_text = offline_sh.run(alice, "ds01", "image", "create", "--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: image-create")
    deploy = offline_sh.run(alice, "container", "deploy", "--help")
    assert deploy.returncode == 0 and deploy.stdout.startswith("Usage: container-deploy [OPTIONS] [NAME] [IMAGE]")
    for legacy, target in (("get-limits", "check-limits"), ("new-project", "project-init"),
                           ("new-user", "user-setup")):
        shown = offline_sh.run(alice, legacy, "--help")
        assert shown.returncode == 0 and shown.stdout == offline_sh.run(alice, target, "--help").stdout.replace(
            f"Usage: {target}", f"Usage: {legacy}"), legacy


def test_help_lists_every_command_by_layer_with_its_other_names(offline_sh, users):
    alice = users["alice"]
    records = offline_sh.records(alice, "help", "--json", "--host")
    assert [r["name"] for r in records] == [c.name for c in registry.COMMANDS]
    run = next(r for r in records if r["name"] == "container-run")
    assert run["legacy"] == ["container-open"] and run["space"] == "container run" and run["available"]
    text = offline_sh.run(alice, "commands", "--table", "--host")
    assert text.returncode == 0 and text.stderr == ""  # an alias, not a deprecated name
    sections = [line for line in text.stdout.splitlines() if line and not line.startswith(" ")]
    assert sections[:4] == ["Wizards: guided, step by step", "Orchestrators: several steps in one",
                            "Atomic commands: one thing each, composable with pipes", "GPU slots"]
    assert "container-remove" in text.stdout and "container-cleanup (old)" in text.stdout


def test_help_inside_a_container_says_which_commands_are_host_only(offline_sh, users):
    alice = users["alice"]
    inside = offline_sh.records(alice, "alias-list", "--json", "--inside")
    assert {r["name"] for r in inside if r["available"]} == {"container-exit", "help"}
    text = offline_sh.run(alice, "help", "--table", "--inside").stdout
    assert text.startswith("You are inside a container") and "container-list" in text and "(host)" in text
    one = offline_sh.run(alice, "help", "container-stop")
    assert one.returncode == 0 and one.stdout.startswith("Usage: container-stop")


def test_commands_call_library_functions_never_each_other():
    """A command parses, calls the library and renders: no command module imports another one."""
    import ast

    cli_dir = REPO / "ds01" / "cli"
    commands = {p.stem for p in cli_dir.glob("*.py") if not p.stem.startswith("_")}
    found = []
    for path in sorted(cli_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported = [node.module] if node.module else [alias.name for alias in node.names]
                found += [f"{path.name} imports {name}" for name in imported if name.split(".")[0] in commands]
    assert found == []


def test_the_fast_tier_passes_for_an_unprivileged_account(users):
    """`make test-fast` needs no root, no Docker and no ds01d: run as a test user, it passes (issue 30)."""
    import subprocess
    import sys

    from tests.support import sandbox

    alice = users["alice"]
    result = subprocess.run(sandbox.as_user_command(alice, [sys.executable, "-m", "pytest", "-q", "-p",
                                                            "no:cacheprovider", "-m", "not system", "tests"]),
                            capture_output=True, text=True, cwd=str(REPO), stdin=subprocess.DEVNULL, timeout=300,
                            env={"PATH": os.environ["PATH"], "HOME": alice.pw_dir, "LANG": "C.UTF-8",
                                 "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout.splitlines()[-1]
