"""Man pages: one per command, legacy name and dispatcher; lint-clean; rendered by man(1)."""

import os
import shutil
import subprocess

import pytest

from ds01 import policy, registry
from tests.support.harness import REPO

MAN = REPO / "man"


def pages():
    return sorted(p for p in MAN.glob("man*/*.[157]") if not p.read_text().startswith(".so "))


def test_every_command_legacy_name_alias_and_dispatcher_has_a_page():
    for name in registry.all_names():
        page = MAN / "man1" / f"{name}.1"
        assert page.exists(), name
        text = page.read_text()
        if text.startswith(".so "):  # a link: its target exists
            assert (MAN / text.split()[1]).exists(), name
    assert (MAN / "man5" / "ds01-resource-limits.5").exists() and (MAN / "man7" / "ds01.7").exists()


def test_groff_reports_no_warnings_on_any_page():
    if not shutil.which("groff"):
        pytest.fail("groff is missing: `make system-deps` installs groff-base")
    for page in pages():
        result = subprocess.run(["groff", "-ww", "-man", "-z", str(page)], capture_output=True, text=True)
        assert result.returncode == 0 and result.stderr == "", f"{page}: {result.stderr}"


def render(page):
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100", LANG="C.UTF-8")
    result = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, env=env, cwd=MAN)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_man_renders_a_command_page_with_every_section_and_option():
    text = render(MAN / "man1" / "container-create.1")
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "OUTPUT", "EXIT STATUS", "EXAMPLES",
                    "ENVIRONMENT", "FILES", "SEE ALSO"):
        assert f"\n{heading}\n" in text, heading
    for option in ("--num-gpus", "--gpu-profile", "--cpu-only", "--dry-run", "--workspace", "--json"):
        assert option in text, option
    assert "gpu-allocate --num-gpus 2 | container-create exp2 IMAGE" in text  # the examples carry pipes
    assert "created_at" in text  # the record's keys, from docs/records.md


def test_a_legacy_name_renders_its_commands_page():
    assert "container-remove - Remove stopped containers" in render(MAN / "man1" / "container-cleanup.1")


def test_mlc_pages_list_their_differences_from_aime():
    text = render(MAN / "man1" / "mlc-create.1")
    assert "NOTES" in text and "Differs from AIME" in text


def test_the_policy_page_documents_every_key():
    text = render(MAN / "man5" / "ds01-resource-limits.5")
    for key in (*policy.LIMIT_KEYS, *policy.POLICY_KEYS, *policy.AGGREGATE_KEYS, *policy.TOP_KEYS):
        assert key in text, key


def test_the_overview_names_every_command_and_the_workflow():
    text = render(MAN / "man7" / "ds01.7")
    for command in registry.COMMANDS:
        assert command.name in text
    assert "image-create" in text and "container-list | container-stop" in text
