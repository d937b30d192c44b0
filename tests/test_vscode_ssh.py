"""VS Code's way in without Docker access: Remote-SSH with `RemoteCommand container-run NAME`, against a
real sshd on a loopback port (its own host key and config; users' keys in a directory of its own)."""

import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from tests.support import sandbox
from tests.support.harness import BIN, require
from tests.support.services import start_notified

SSHD = "/usr/sbin/sshd"


@pytest.fixture
def sshd(sh, users):
    """(port, key path, broker socket): sshd as root on 127.0.0.1, alice's key authorised; sessions get the
    test ds01d's socket as DS01_SOCKET (a real host uses the default /run/ds01/ds01.sock)."""
    if not os.path.exists(SSHD):
        require("sshd (openssh-server) is not installed")
    alice = users["alice"]
    root = tempfile.mkdtemp(prefix="ds01-sshd-")
    os.chmod(root, 0o755)  # noqa: S103 - sshd reads the user's authorized keys as the user
    keys = os.path.join(root, "keys")
    os.mkdir(keys, 0o755)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(root, "host_ed25519")],
                   check=True)
    client_dir = os.path.join(root, "alice")
    os.mkdir(client_dir, 0o700)
    os.chown(client_dir, alice.pw_uid, alice.pw_gid)
    key = os.path.join(client_dir, "id_ed25519")
    sh.run(alice, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key, check=True)
    shutil.copy(key + ".pub", os.path.join(keys, alice.pw_name))
    os.chmod(os.path.join(keys, alice.pw_name), 0o644)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = sh.broker()
    config = os.path.join(root, "sshd_config")  # StrictModes no: the keys sit under /tmp, in root's own dir
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root}/host_ed25519\nPidFile {root}/sshd.pid\n"
                     f"AuthorizedKeysFile {keys}/%u\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                     f"UsePAM yes\nStrictModes no\nAllowUsers {alice.pw_name}\nSetEnv DS01_SOCKET={broker.socket}\n")
    log_path = os.path.join(root, "sshd.log")
    env = {"PATH": "/usr/bin"}  # Debian's sshd says READY=1 on NOTIFY_SOCKET
    daemon, ready = start_notified([SSHD, "-D", "-e", "-f", config], env, root, log_path, 30)
    if not ready:
        daemon.kill()
        daemon.wait()
        pytest.fail(f"sshd did not start: {open(log_path, encoding='utf-8', errors='replace').read()[-2000:]}")
    yield port, key
    daemon.terminate()
    daemon.wait(timeout=30)
    shutil.rmtree(root, ignore_errors=True)


def ssh_argv(port, key, *more):
    return ["ssh", "-p", str(port), "-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", *more]


def test_ssh_with_a_remote_command_runs_in_the_users_container_with_its_exit_status(sh, users, sshd):
    alice = users["alice"]
    port, key = sshd
    assert sh.run(alice, "container-create", "vs", sandbox.BASE_IMAGE, "--cpu-only").returncode == 0
    run = f"{BIN}/container-run vs --"
    who = sh.run(alice, *ssh_argv(port, key, "-F", "/dev/null", "-o", f"RemoteCommand={run} id -u",
                                  f"{alice.pw_name}@127.0.0.1"))
    assert who.returncode == 0, who.stderr
    assert who.stdout.strip() == str(alice.pw_uid)
    failed = sh.run(alice, *ssh_argv(port, key, "-F", "/dev/null", "-o", f"RemoteCommand={run} sh -c 'exit 7'",
                                     f"{alice.pw_name}@127.0.0.1"))
    assert failed.returncode == 7


def test_the_block_user_setup_writes_opens_a_shell_in_the_container(sh, users, sshd, user_tmp, policy_file):
    """What VS Code does with `ds01-NAME` from ~/.ssh/ds01-vscode.conf, as written (HostName from the policy's
    access_control.ssh_host): a terminal session in the container."""
    import pexpect

    alice = users["alice"]
    port, key = sshd
    assert sh.run(alice, "container-create", "vs", sandbox.BASE_IMAGE, "--cpu-only").returncode == 0
    policy = user_tmp / "policy.yaml"
    policy.write_text(policy_file.read_text().replace("access_control:\n", "access_control:\n  ssh_host: 127.0.0.1\n"))
    os.chmod(policy, 0o644)
    steps = {r["step"]: r for r in sh.records(alice, "user-setup", "--quick", "--no-ssh",
                                              extra_env={"DS01_CONFIG": str(policy)})}
    assert steps["vscode"]["status"] == "ok" and "1 container" in steps["vscode"]["detail"]
    written = os.path.join(alice.pw_dir, ".ssh", "ds01-vscode.conf")
    text = open(written, encoding="utf-8").read()
    assert "Host ds01-vs\n" in text and f"RemoteCommand {BIN}/container-run vs\n" in text
    assert os.stat(written).st_uid == alice.pw_uid
    assert "HostName 127.0.0.1\n" in text
    child = sh.spawn(alice, *ssh_argv(port, key, "-tt", "-F", written, "ds01-vs"))
    child.sendline("echo in-$(hostname)-as-$(id -u); exit 3")
    child.expect(f"in-.*-as-{alice.pw_uid}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
