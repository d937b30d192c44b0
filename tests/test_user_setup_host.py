"""The name students' SSH and VS Code config reach the server by comes from the policy (access_control.ssh_host);
without it, the host's FQDN, with a warning when that is a loopback address (issue 30, item 6)."""

import json
import os
import socket

import pytest

from ds01.ssh_host import is_loopback


def policy_naming(user_tmp, policy_file, name):
    path = user_tmp / "policy.yaml"
    path.write_text(policy_file.read_text().replace("access_control:\n", f"access_control:\n  ssh_host: {name}\n"))
    os.chmod(path, 0o644)
    return str(path)


def written(user, name):
    with open(os.path.join(user.pw_dir, name), encoding="utf-8") as handle:
        return handle.read()


def test_the_policys_ssh_host_is_what_users_config_names(sh, users, user_tmp, policy_file):
    alice = users["alice"]
    config = policy_naming(user_tmp, policy_file, "gpu1.lab.example.org")
    result = sh.run(alice, "user-setup", "--quick", "--no-ssh", "--force", "--json", extra_env={"DS01_CONFIG": config})
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    vscode = written(alice, ".ssh/ds01-vscode.conf")
    assert "HostName gpu1.lab.example.org\n" in vscode and "HostName localhost" not in vscode
    onboarding = written(alice, "ONBOARDING.md")
    assert f"ssh-copy-id {alice.pw_name}@gpu1.lab.example.org" in onboarding
    assert onboarding.startswith("# Getting started on gpu1.lab.example.org\n")


def test_a_loopback_fqdn_without_the_policys_name_is_warned(sh, users):
    alice = users["alice"]
    fqdn = socket.getfqdn()
    if not is_loopback(fqdn):
        pytest.skip(f"this host's name {fqdn} is not a loopback address")
    result = sh.run(alice, "user-setup", "--quick", "--no-ssh", "--force", "--json")
    assert result.returncode == 0, result.stderr
    assert "user-setup: warning: " in result.stderr and "access_control.ssh_host" in result.stderr, result.stderr
    assert "ask an admin" in result.stderr
    steps = {r["step"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert steps["vscode"]["status"] == "warn" and "loopback" in steps["vscode"]["detail"]
    assert f"HostName {fqdn}\n" in written(alice, ".ssh/ds01-vscode.conf")  # still written: the rest holds
