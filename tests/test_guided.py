"""DS01's teaching flags as a switching student types them: --info (the full help), --concepts (the ideas
before running anything) and --guided (step by step, pausing only on a terminal)."""

import importlib
import os
import re

import pytest
from click.testing import CliRunner

from ds01 import authority, concepts, registry
from ds01.cli._common import standard
from ds01.errors import PermissionDenied
from tests.support import sandbox

# The commands DS01 gives --info/--concepts (ds01-reference.md §1-2) that ds01 has: every one answers them.
DS01_INFO = ("project-init", "project-launch", "container-deploy", "container-retire", "container-create",
             "container-start", "container-stop", "container-remove", "container-pause", "container-list",
             "container-stats", "container-exit", "image-create", "image-list", "image-update", "help",
             "ds01-events")
# The commands DS01 gives --guided that ds01 has.
DS01_GUIDED = ("project-init", "project-launch", "container-deploy", "container-retire", "container-create",
               "container-start", "container-run", "container-attach", "container-stop", "container-remove",
               "container-pause", "container-unpause", "container-list", "container-stats", "container-exit",
               "image-create", "image-list", "image-update", "image-delete", "ds01-events")


def _cli(name):
    command = registry.by_name()[name][0]
    return command, standard(importlib.import_module(command.module).cli)


def _invoke(name, *argv):
    command, cli = _cli(name)
    return CliRunner().invoke(cli, list(argv), prog_name=name)


@pytest.mark.parametrize("name", DS01_INFO)
def test_info_is_the_full_help_with_examples_who_and_the_concepts(name):
    command, cli = _cli(name)
    result = _invoke(name, "--info")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {name}")
    assert "Who may run it: " in result.output
    if cli.epilog and "Examples:" in cli.epilog:
        assert "Examples:" in result.output
    for idea in command.concepts:
        assert concepts.CONCEPTS[idea][0] in result.output


@pytest.mark.parametrize("name", DS01_INFO)
def test_concepts_explains_the_commands_ideas_and_runs_nothing(name):
    command, _ = _cli(name)
    result = _invoke(name, "--concepts")
    assert result.exit_code == 0, result.output
    assert command.concepts, f"{name} names no concepts in the command table"
    for idea in command.concepts:
        title, text = concepts.CONCEPTS[idea]
        assert title in result.output and " ".join(text.split()[:4]) in " ".join(result.output.split())


def test_every_concept_the_table_names_has_a_text():
    named = {idea for command in registry.COMMANDS for idea in command.concepts}
    assert named - set(concepts.CONCEPTS) == set()


def test_the_container_ideas_are_explained_as_ds01_does_them():
    text = concepts.render(["image", "workspace", "gpu-slot", "mig", "limits"])
    for said in ("ds01-<uid>/NAME:latest", "/workspace", "MIG slice", "check-limits", "gpu-status"):
        assert said in " ".join(text.split()), said


@pytest.mark.parametrize("name", DS01_GUIDED)
def test_guided_is_accepted_where_ds01_had_it(name):
    command, cli = _cli(name)
    assert any("--guided" in p.opts for p in cli.params), name
    assert command.option_who("--guided") == registry.ANYONE


def test_mlc_create_keeps_aimes_info():
    _, cli = _cli("mlc-create")
    info = [p for p in cli.params if "--info" in p.opts]
    assert len(info) == 1 and "-i" in info[0].opts  # AIME's: the frameworks and versions


def test_info_and_concepts_of_an_admin_command_are_for_anyone_and_run_nothing():
    """Read-only like --help: a student may read ds01-upgrade's help, never run it or pass its options."""
    for option in ("--info", "--concepts"):
        authority.check(authority.resolve("ds01-upgrade", [option]), admin=lambda: False, root=False)
        with pytest.raises(PermissionDenied):
            authority.check(authority.resolve("ds01-upgrade", [option, "--no-restart"]), admin=lambda: False,
                            root=False)
    result = _invoke("ds01-upgrade", "--info", "/nonexistent/build")  # eager: printed before SOURCE is read
    assert result.exit_code == 0 and "Who may run it: root only" in result.output


def test_a_generic_guided_run_without_a_terminal_explains_and_runs_without_asking():
    result = _invoke("container-exit", "--guided")  # CliRunner: stdin is not a terminal
    assert result.exit_code == 0, result.output
    assert "== Step 1: the ideas behind container-exit ==" in result.output
    assert "Press Enter" not in result.output and "Run it now?" not in result.output


# ------------------------------------------------------------------ as a student, through ds01d


def test_a_guided_container_create_on_a_terminal_asks_each_setting_and_makes_that_container(sh, users, client):
    alice = users["alice"]
    child = sh.spawn(alice, "container-create", "--guided", timeout=120)
    child.expect("what a container is")
    child.expect("Press Enter to continue")
    child.sendline("")
    child.expect("the container's name")
    child.expect("Container name")
    child.sendline("Bad Name!")  # refused, asked again: nothing made
    child.expect("invalid container name")
    child.expect("Container name")
    child.sendline("guided1")
    child.expect(r"(\d)\) other")
    other = child.match.group(1)
    child.expect(r"Image \[1-\d\]")
    child.sendline(other)
    child.expect("Image:")
    child.sendline(sandbox.BASE_IMAGE)
    child.expect("A GPU slot is a whole GPU or a MIG slice")
    child.expect(r"GPU or CPU only \[1-2\]")
    child.sendline("2")
    child.expect("Workspace directory")
    child.sendline("~/workspace/elsewhere")
    child.expect(r"create guided1 from .* with no GPU \(CPU only\)")
    child.expect(r"Create it now\?")
    child.sendline("y")
    child.expect("start it with: container-start guided1")
    child.expect(__import__("pexpect").EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    record = next(r for r in sh.records(alice, "container-list", "-a", "--json") if r["name"] == "guided1")
    assert record["image"] == sandbox.BASE_IMAGE and record["gpus"] == [] and record["status"] == "created"
    assert record["workspace"] == os.path.join(alice.pw_dir, "workspace", "elsewhere")
    info = client.api.inspect_container(f"guided1._.{alice.pw_uid}")
    assert "NVIDIA_VISIBLE_DEVICES=void" in info["Config"]["Env"]
    assert os.path.isdir(os.path.join(alice.pw_dir, "workspace", "elsewhere"))


def test_a_guided_create_answered_no_changes_nothing(sh, users, client):
    alice = users["alice"]
    child = sh.spawn(alice, "container-create", "kept", sandbox.BASE_IMAGE, "--cpu-only", "--guided")
    child.expect("Press Enter to continue")
    child.sendline("")
    child.expect("Container name")
    child.sendline("")  # the NAME given is the default
    child.expect("Image")
    child.sendline("")
    child.expect("Workspace directory")
    child.sendline("")
    child.expect(r"Create it now\?")
    child.sendline("n")
    child.expect("cancelled; nothing was changed")
    child.expect(__import__("pexpect").EOF)
    assert not client.containers.list(all=True, filters={"name": "kept"})
    assert not os.path.exists(os.path.join(alice.pw_dir, "workspace", "kept"))


@pytest.mark.parametrize("argv", [("container-create", "plain", sandbox.BASE_IMAGE, "--cpu-only", "--guided"),
                                  ("container-list", "--guided")])
def test_guided_without_a_terminal_never_pauses_and_does_its_work(sh, users, client, argv):
    """A script or CI job passing --guided (stdin not a terminal): the explanations, the defaults, no wait."""
    alice = users["alice"]
    result = sh.run(alice, *argv, timeout=60)  # stdin is /dev/null; a pause would hang until the timeout
    assert result.returncode == 0, result.stderr
    assert "== Step 1" in result.stderr and "Press Enter" not in result.stderr
    if argv[0] == "container-create":
        assert re.search(r'"name": "plain"', result.stdout)
        assert client.api.inspect_container(f"plain._.{alice.pw_uid}")["State"]["Status"] == "created"
