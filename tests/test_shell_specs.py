"""The shell specs (tests/shell/*.bats), run by bats-core as a real test user against the test ds01d.

Each `@test` in a .bats file is one pytest test here, so `make test` reports them one by one. bats runs as
alice with exactly the environment her shell would have (the Shell's: ds01's bin/ on PATH, DS01_SOCKET),
plus where the checkout is and the names of the sandbox's images and of the other test accounts.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import sandbox
from tests.support.harness import BIN, REPO

SPECS = Path(__file__).parent / "shell"
TEST_LINE = re.compile(r'^@test\s+(["\'])(.+?)\1\s*\{\s*$')


def specs():
    """(file, test name) of every @test, in file order."""
    found = []
    for path in sorted(SPECS.glob("*.bats")):
        for line in path.read_text().splitlines():
            match = TEST_LINE.match(line.strip())
            if match:
                found.append(pytest.param(path, match.group(2), id=f"{path.stem}: {match.group(2)}"))
    return found


def bats():
    """bats-core from the venv (the `test` extra installs it), else the host's."""
    venv = Path(BIN) / "bats"
    path = str(venv) if venv.exists() else shutil.which("bats")
    if not path:
        pytest.fail("bats is missing: `make deps` installs bats-core into the venv")
    return path


def test_every_spec_file_has_tests():
    """A .bats file whose tests this runner cannot see would pass by running nothing."""
    files = sorted(SPECS.glob("*.bats"))
    assert files
    seen = {param.values[0] for param in specs()}
    assert set(files) == seen
    for path in files:  # every `@test` line is one this runner parses
        assert path.read_text().count("@test ") == sum(1 for p in specs() if p.values[0] == path), path


@pytest.mark.parametrize("spec,name", specs())
def test_shell_spec(sh, users, shared_tmp, spec, name):
    alice = users["alice"]
    scratch = shared_tmp / f"bats-{os.getpid()}-{abs(hash(name))}"
    scratch.mkdir(mode=0o700)
    os.chown(scratch, alice.pw_uid, alice.pw_gid)
    env = sh.env(alice, {
        "TMPDIR": str(scratch), "BATS_TMPDIR": str(scratch), "DS01_REPO": str(REPO), "DS01_TEST_BIN": str(BIN),
        "BASE_IMAGE": sandbox.BASE_IMAGE, "OTHER_USER": users["bob"].pw_name,
    })
    command = sandbox.as_user_command(alice, [bats(), "--tap", "--filter", f"^{re.escape(name)}$", str(spec)])
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=str(scratch),
                            stdin=subprocess.DEVNULL, timeout=300)
    ran = [line for line in result.stdout.splitlines() if re.match(r"^(not )?ok \d", line)]
    assert len(ran) == 1, f"bats ran {len(ran)} tests for {name!r}:\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0 and ran[0].startswith("ok"), f"{result.stdout}\n{result.stderr}"
