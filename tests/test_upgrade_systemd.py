"""ds01-upgrade under a real systemd (issue 20): the restart and the rollback.

A container of the test base image boots systemd as PID 1, with Debian's docker.io as its engine
(no bridge, no iptables, vfs: the suite's own dockerd settings) and the sandbox's fake NVIDIA hook on
the engine's PATH. There, as an admin would: `make install`, `systemctl enable --now ds01d
ds01-exporter`, then ds01-upgrade to a new version (its ds01-doctor --strict is the gate). The unit
files, their sd_notify readiness and the restart are systemd's own, not a stand-in's.
"""

import json
import shlex

import docker
import pytest

from tests.support import sandbox
from tests.support.harness import REPO

IMAGE = "ds01-test/systemd:latest"
BUILD = r"""
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends systemd systemd-sysv dbus docker.io make python3-venv cron \
    >/dev/null 2>&1
mkdir -p /etc/docker
cat > /etc/docker/daemon.json <<'END'
{"bridge": "none", "iptables": false, "ip-forward": false, "ip-masq": false, "storage-driver": "vfs"}
END
cat > /usr/local/bin/nvidia-container-runtime-hook <<'END'
#!/bin/sh
cat >/dev/null
END
chmod 755 /usr/local/bin/nvidia-container-runtime-hook
"""
# every capability but CAP_SYS_RESOURCE, which the suite's own container may not have (--privileged
# would ask for it); what systemd and a nested dockerd need
CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE",
        "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ"]
INSTALL = r"""
set -e
mkdir /tmp/src && tar -C /src --exclude=./.venv -cf - . | tar -C /tmp/src -xf -
make -s -C /tmp/src install PYTHON=/usr/bin/python3 > /tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
printf 'gpu: {inventory: /etc/ds01/gpus.sim.yaml}\naccess_control: {admin_users: [root], ssh_host: gpu1.lab}\n' \
    > /etc/ds01/resource-limits.yaml
systemctl daemon-reload
systemctl enable --now ds01d ds01-exporter
"""
# a checkout of another version; `broken` also makes its ds01d exit at start (its doctor still passes:
# the gate checks the ds01d that runs, the old one)
VERSION = r"""
set -e
cp -a /tmp/src /tmp/src-$1
sed -i "s/^__version__ = .*/__version__ = \"$1\"/" /tmp/src-$1/ds01/__init__.py
if [ "$2" = broken ]; then
    sed -i 's/^def main():/def main():\n    raise SystemExit("a broken build")\n\n\ndef _unused():/' \
        /tmp/src-$1/ds01/cli/ds01d.py
fi
"""


def sh(box, script, *args, check=True):
    result = box.exec_run(["bash", "-c", script, "script", *args], environment={
        "PATH": "/opt/ds01/current/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels", "PIP_NO_CACHE_DIR": "1"})  # no index: the wheelhouse
    text = result.output.decode(errors="replace")
    if check:
        assert result.exit_code == 0, text[-3000:]
    return result.exit_code, text


def until_active(box, unit):
    code, text = sh(box, f"for i in $(seq 100); do s=$(systemctl is-active {unit}); "
                    "[ \"$s\" = activating ] || break; sleep 0.1; done; echo $s", check=False)
    return text.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def box(dockerd, client):
    """The systemd host with ds01 installed and its two services running."""
    made = client.containers.run(sandbox.BASE_IMAGE, ["bash", "-c", BUILD], network_mode="host", detach=True)
    try:
        assert made.wait(timeout=600)["StatusCode"] == 0, made.logs().decode()[-2000:]
        made.commit(repository=IMAGE.split(":")[0], tag="latest")
    finally:
        made.remove(force=True)
    host = client.containers.run(
        IMAGE, ["/lib/systemd/systemd"], detach=True, cap_add=CAPS, cgroupns="private", network_mode="host",
        security_opt=["seccomp=unconfined", "apparmor=unconfined"], tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},
        volumes={str(REPO): {"bind": "/src", "mode": "ro"}, sandbox.wheelhouse(): {"bind": "/wheels", "mode": "ro"}})
    try:
        sh(host, "until [ \"$(systemctl is-system-running)\" = running ] || [ \"$(systemctl is-system-running)\" "
                 "= degraded ]; do sleep 0.1; done")
        assert until_active(host, "docker") == "active", sh(host, "journalctl -u docker -n 20", check=False)[1]
        sh(host, INSTALL)
        yield host
    finally:
        try:
            host.remove(force=True)
        except docker.errors.APIError:
            pass
        client.images.remove(IMAGE, force=True)


def pid_and_tree(box, unit):
    """(main PID, the install tree its interpreter comes from) of a running unit."""
    _, text = sh(box, f"pid=$(systemctl show -p MainPID --value {unit}); echo $pid; tr '\\0' ' ' < /proc/$pid/cmdline")
    pid, cmdline = text.strip().splitlines()
    tree = next(part.split("/")[3] for part in cmdline.split() if part.startswith("/opt/ds01/") and "/venv/" in part)
    return int(pid), tree


def upgrade(box, version):
    code, text = sh(box, f"ds01-upgrade /tmp/src-{shlex.quote(version)} --json 2>/tmp/upgrade.err; echo rc=$?; "
                    "cat /tmp/upgrade.err >&2", check=False)
    lines = text.strip().splitlines()
    rc = int(next(line for line in lines if line.startswith("rc="))[3:])
    record = next(json.loads(line) for line in lines if line.startswith("{"))
    return rc, record, text


def test_an_upgrade_restarts_ds01d_and_the_exporter_on_the_new_build(box):
    assert until_active(box, "ds01d") == "active" and until_active(box, "ds01-exporter") == "active"
    old_pid, old_tree = pid_and_tree(box, "ds01d")
    sh(box, VERSION, "9.0.0")
    rc, record, text = upgrade(box, "9.0.0")
    assert rc == 0 and record["gate"] == "passed" and record["switched"] and record["restarted"], text
    assert record["to"].startswith("9.0.0") and record["from"] == old_tree
    new_pid, new_tree = pid_and_tree(box, "ds01d")
    assert new_pid != old_pid and new_tree == record["to"]  # systemd runs the new build now
    assert pid_and_tree(box, "ds01-exporter")[1] == record["to"]
    assert "9.0.0" in sh(box, "ds01 version")[1]


def test_a_build_whose_ds01d_does_not_start_is_rolled_back_and_the_old_one_serves_again(box):
    sh(box, VERSION, "9.1.0", "broken")
    _, before = pid_and_tree(box, "ds01d")
    rc, record, text = upgrade(box, "9.1.0")
    assert rc != 0 and record["gate"] == "passed" and record["rolled_back"] and not record["switched"], text
    assert "ds01d not active after the restart" in text and "going back to" in text
    assert f"went back to {before}: {record['to']}'s services did not come up under systemd" in text
    assert record["restarted"] is True  # on the old build
    assert until_active(box, "ds01d") == "active"
    assert pid_and_tree(box, "ds01d")[1] == before
    assert sh(box, "basename $(readlink -f /opt/ds01/current)")[1].strip() == before
    code, answer = sh(box, "ds01 version", check=False)
    assert code == 0 and "9.1.0" not in answer
