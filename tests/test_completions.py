"""Tab completion in real bash and zsh: the completion scripts loaded, the words driven, the replies read."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.support import sandbox
from tests.support.harness import REPO

BASH = f"""source {REPO}/completions/ds01.bash
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
_ds01_complete
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
# zsh's completion builtins exist only inside a completion widget: compadd and _files are
# recorded instead, so the real _ds01 function runs with zsh's own words/CURRENT semantics.
ZSH = f"""typeset -a _added
compadd() {{ [[ $1 == -- ]] && shift; _added+=("$@") }}
_files() {{ _added+=("<files $*>") }}
compdef() {{ : }}
source {REPO}/completions/_ds01
words=("$@"); CURRENT=$#
_ds01
print -l -- $_added
"""


def complete(sh, user, shell, *words, extra_env=None):
    """What TAB offers after `words` (the last word is the one being completed), as `user` would see it."""
    if not shutil.which(shell):
        pytest.fail(f"{shell} is missing: `make system-deps` installs it")
    script = BASH if shell == "bash" else ZSH
    argv = sandbox.as_user_command(user, [shell, "-c", script, shell, *words])
    result = subprocess.run(argv, env=sh.env(user, extra_env), capture_output=True, text=True, cwd="/",
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0, result.stderr
    offered = [line for line in result.stdout.splitlines() if line]
    if shell == "zsh":  # zsh filters by the typed prefix itself; do what it would
        offered = [o for o in offered if o.startswith(words[-1])]
    return sorted(offered)


@pytest.fixture
def three_states(sh, users, client):
    """alice: `up` running, `new` created, `old` exited; bob: `bobs` running."""
    alice, bob = users["alice"], users["bob"]
    for user, name in ((alice, "up"), (alice, "new"), (alice, "old"), (bob, "bobs")):
        sh.records(user, "container-create", name, sandbox.BASE_IMAGE)
    sh.run(alice, "container-start", "up", "old", check=True)
    sh.run(alice, "container-stop", "old", check=True)
    sh.run(bob, "container-start", "bobs", check=True)
    return alice


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_container_commands_offer_only_the_callers_containers_in_the_states_they_accept(sh, three_states, shell):
    alice = three_states
    assert complete(sh, alice, shell, "container-stop", "") == ["up"]
    assert complete(sh, alice, shell, "container-start", "") == ["new", "old"]
    assert complete(sh, alice, shell, "container-remove", "") == ["new", "old"]
    assert complete(sh, alice, shell, "container-run", "") == ["new", "old", "up"]
    assert complete(sh, alice, shell, "container-stop", "-t", "5", "") == ["up"]  # an option's value is skipped
    assert complete(sh, alice, shell, "container", "stop", "") == ["up"]  # through the dispatchers too
    assert complete(sh, alice, shell, "ds01", "container", "stop", "") == ["up"]
    assert complete(sh, alice, shell, "mlc-stop", "") == ["up"]
    assert complete(sh, alice, shell, "container-cleanup", "o") == ["old"]  # legacy names complete like theirs


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_options_frameworks_versions_profiles_and_verbs(sh, users, shell):
    alice = users["alice"]
    assert complete(sh, alice, shell, "image-create", "--framework", "") == ["jax", "pytorch", "pytorch-cpu",
                                                                               "tensorflow"]
    assert complete(sh, alice, shell, "mlc-create", "x", "") == ["Pytorch", "Tensorflow"]
    assert complete(sh, alice, shell, "container-create", "x", "pytorch", "") == ["2.5.1", "2.7.1"]
    assert complete(sh, alice, shell, "container-stop", "--ti") == ["--timeout"]
    assert complete(sh, alice, shell, "container", "") == [
        "attach", "cleanup", "create", "deploy", "exit", "export", "import", "list", "open", "pause", "recreate",
        "remove", "retire", "run", "start", "stats", "stop", "unpause"]
    assert complete(sh, alice, shell, "project", "") == ["init", "launch"]
    assert "mlc" in complete(sh, alice, shell, "ds01", "")
    inventory = {"DS01_GPU_INVENTORY": str(REPO / "etc" / "ds01" / "gpus.sim.yaml")}
    profiles = complete(sh, alice, shell, "container-create", "x", "--gpu-profile", "", extra_env=inventory)
    assert profiles and all("g." in p for p in profiles)
    assert complete(sh, alice, shell, "mig-configure", "", extra_env=inventory) == ["0", "1", "2", "3"]
    assert alice.pw_name in complete(sh, alice, shell, "resource-limits", "ds01t")


def test_profile_d_puts_the_commands_on_path_and_loads_bash_completion(users, tmp_path):
    venv_bin = os.path.dirname(sys.executable)
    script = f"""PS1='$ '; PATH=/usr/bin:/bin
. {REPO}/etc/profile.d/ds01.sh
. {REPO}/etc/profile.d/ds01.sh   # twice, as nested login shells do: PATH gets it once
command -v container-list; complete -p container-stop mlc-list; echo "$PATH" """
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                            env={"DS01_HOME": str(REPO), "DS01_BIN": venv_bin, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == f"{venv_bin}/container-list"
    assert out[1] == "complete -o bashdefault -F _ds01_complete container-stop"
    assert out[-1].split(":").count(venv_bin) == 1


def test_the_zsh_snippet_registers_completion_after_compinit(users, tmp_path):
    venv_bin = os.path.dirname(sys.executable)
    script = f"""autoload -Uz compinit && compinit -u -d {tmp_path}/zcompdump
source {REPO}/etc/zsh/ds01.zsh
print -r -- ${{_comps[container-stop]}} ${{_comps[mlc]}}; whence -p container-list"""
    result = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True,
                            env={"DS01_HOME": str(REPO), "DS01_BIN": venv_bin, "HOME": str(tmp_path),
                                 "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["_ds01 _ds01", f"{venv_bin}/container-list"]
