"""image-update's menu on a terminal (issue 33, item 5: the questions moved from the library into the command;
what a user sees and what lands in the Dockerfile must not change)."""

import os

import pytest

from tests.support import sandbox

pytestmark = pytest.mark.usefixtures("dockerd")


def _menu(sh, user, name):
    pexpect = pytest.importorskip("pexpect")
    from tests.support.harness import BIN

    argv = sandbox.as_user_command(user, [str(BIN / "image-update"), name])
    child = pexpect.spawn(argv[0], argv[1:], env=sh.env(user), cwd="/", encoding="utf-8", timeout=60,
                          dimensions=(40, 160))
    child.expect("What do you want to do\\?")
    child.expect(r"Choice \[1-8\]")
    return pexpect, child


def _dockerfile(user, name):
    with open(os.path.join(user.pw_dir, "workspace", name, "Dockerfile"), encoding="utf-8") as handle:
        return handle.read()


def test_the_menu_adds_pip_packages_and_asks_before_rebuilding(sh, users):
    from ds01.images.dockerfile import Blocks

    alice = users["alice"]
    sh.run(alice, "image-create", "menu", "--no-jupyter", "--no-build", check=True)
    pexpect, child = _menu(sh, alice, "menu")
    child.sendline("2")
    child.expect("pip packages to add")
    child.sendline("einops")
    child.expect(r"Rebuild the image now\? \[Y/n\]")
    child.sendline("n")
    child.expect("not rebuilt; image-update menu --rebuild builds it")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "einops" in Blocks(_dockerfile(alice, "menu")).packages["additional"]


def test_the_menu_lists_packages_and_a_bad_package_from_it_changes_nothing(sh, users):
    alice = users["alice"]
    sh.run(alice, "image-create", "menu2", "--no-jupyter", "--no-build", "-p", "wandb", check=True)
    before = _dockerfile(alice, "menu2")
    pexpect, child = _menu(sh, alice, "menu2")
    child.sendline("1")
    child.expect("additional.*wandb")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    pexpect, child = _menu(sh, alice, "menu2")
    child.sendline("2")
    child.expect("pip packages to add")
    child.sendline("x; rm -rf /")
    child.expect("image-update: error: added")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert _dockerfile(alice, "menu2") == before
