"""make install and make uninstall (issue 20), run for real in a clean Debian root: a container of the test base
image (Debian bookworm) with man-db, bash-completion and make added, ds01's dependencies from a wheelhouse built
here (the container has no index of its own). There, as an admin would: man, completion, --help, `ds01 version`
and `ds01-doctor --json` work, the PATH gets ds01's commands and not its venv's python, an admin's policy survives
a reinstall, and uninstall leaves nothing but /etc/ds01."""

import json
import os

import pytest

from tests.support import sandbox
from tests.support.harness import REPO

SCRIPT = r"""
set -e
export DEBIAN_FRONTEND=noninteractive PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_NO_CACHE_DIR=1
apt-get update -qq >/dev/null && apt-get install -y -qq man-db bash-completion make >/dev/null
groupadd --system prometheus  # as Debian's prometheus package makes it
snapshot() { find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /var/cache \
    -o -path /var/lib/apt -o -path /var/log -o -path /run -o -name __pycache__ \) -prune -o -print | sort; }
snapshot > /tmp/before
mkdir /tmp/src && tar -C /src --exclude=./.venv -cf - . | tar -C /tmp/src -xf -
make -s -C /tmp/src install PYTHON=/usr/bin/python3 > /tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
cp /etc/ds01/exporter.auth /tmp/auth.first
echo '# the lab policy' > /etc/ds01/resource-limits.yaml.mine
cp /etc/ds01/resource-limits.yaml.mine /etc/ds01/resource-limits.yaml
make -s -C /tmp/src install PYTHON=/usr/bin/python3 > /tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
echo "== man"; man -w container-create
echo "== page"; MANWIDTH=80 man container-create 2>/dev/null | grep -c container-create
echo "== path"; bash -lc 'command -v container-list; command -v python3; command -v ds01-idle-check'
echo "== tab"; bash -lc 'compgen -c container- | sort -u | tr "\n" " "'; echo
echo "== spec"; bash -lic 'complete -p container-stop' 2>/dev/null
echo "== help"; bash -lc 'container-list --help | head -1'
echo "== version"; bash -lc 'ds01 version'
echo "== doctor"; bash -lc 'ds01-doctor --json' || true
echo "== policy"; cat /etc/ds01/resource-limits.yaml
echo "== auth"; stat -c '%U:%G %a' /etc/ds01/exporter.auth; cmp /tmp/auth.first /etc/ds01/exporter.auth && echo kept
echo "== cron"; grep DS01_LIBEXEC= /etc/cron.d/ds01; ls /opt/ds01/current/libexec/ds01/ds01-idle-check
echo "== unit"; grep ExecStart /etc/systemd/system/ds01d.service
echo "== dirs"; stat -c '%n %U:%G %a' /run/ds01 /var/log/ds01 /var/log/ds01/events.jsonl /var/lib/ds01 \
    /var/lib/ds01/jobs
make -s -C /tmp/src uninstall > /tmp/uninstall.log 2>&1 || { cat /tmp/uninstall.log; exit 1; }
snapshot > /tmp/after
echo "== left"; comm -13 /tmp/before /tmp/after
echo "== gone"; comm -23 /tmp/before /tmp/after
echo "== end"
"""


def sections(text):
    found, name = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            name = line[3:]
            found[name] = []
        elif name:
            found[name].append(line)
    return found


@pytest.fixture(scope="module")
def installed(dockerd, client):
    """The script's report from one run in a fresh container of the base image."""
    import docker

    try:
        out = client.containers.run(sandbox.BASE_IMAGE, ["bash", "-c", SCRIPT], network_mode="host", remove=True,
                                    stdout=True, stderr=True, volumes={
                                        str(REPO): {"bind": "/src", "mode": "ro"},
                                        sandbox.wheelhouse(): {"bind": "/wheels", "mode": "ro"}})
    except docker.errors.ContainerError as exc:
        raise AssertionError(exc.stderr.decode() if exc.stderr else str(exc)) from None
    report = sections(out.decode())
    assert "end" in report, out.decode()[-3000:]
    return report


def test_man_completion_help_and_version_work_for_an_admin_after_make_install(installed):
    [page] = installed["man"]  # man finds it (through /usr/local/share/man, linked into the tree in use)
    assert page.startswith("/opt/ds01/") and page.endswith("/man/man1/container-create.1")
    assert int(installed["page"][0]) > 0
    assert installed["path"] == ["/opt/ds01/current/bin/container-list", "/usr/bin/python3",  # not the venv's
                                 "/opt/ds01/current/libexec/ds01/ds01-idle-check"]  # root runs the jobs by hand
    offered = installed["tab"][0].split()
    assert {"container-create", "container-list", "container-stop", "container-stats"} <= set(offered)
    assert installed["spec"] and "container-stop" in installed["spec"][0]
    assert installed["help"] == ["Usage: container-list [OPTIONS]"]
    [line] = installed["version"]
    version = json.loads(line)
    build = os.path.basename(os.path.realpath(version["install_path"]))
    assert version["install_path"].startswith("/opt/ds01/") and build.startswith(version["version"])
    assert version["commit"] and build.endswith(version["commit"])
    records = [json.loads(line) for line in installed["doctor"] if line.startswith("{")]
    assert {r["check"] for r in records} >= {"docker_engine", "policy", "schedule"}
    [policy] = [r for r in records if r["check"] == "policy"]
    assert policy["status"] == "OK"


def test_an_admins_policy_survives_a_reinstall_and_the_system_files_point_through_current(installed):
    assert installed["policy"] == ["# the lab policy"]
    assert installed["auth"] == ["root:prometheus 640", "kept"]  # the exporter's password: made once, Prometheus's
    assert installed["cron"][0] == "DS01_LIBEXEC=/opt/ds01/current/libexec/ds01"
    assert installed["cron"][1] == "/opt/ds01/current/libexec/ds01/ds01-idle-check"
    assert installed["unit"] == ["ExecStart=/opt/ds01/current/libexec/ds01/ds01d"]


def test_install_makes_the_event_log_and_state_dirs_without_systemd(installed):
    """No systemd as PID 1 in the container: make install still makes what tmpfiles.d/ds01.conf says (issue 30:
    /var/log/ds01 was never made, and every event was lost)."""
    group = "adm"
    assert installed["dirs"] == ["/run/ds01 root:root 755", "/var/log/ds01 root:root 755",
                                 f"/var/log/ds01/events.jsonl root:{group} 640", "/var/lib/ds01 root:root 755",
                                 "/var/lib/ds01/jobs root:root 755"]


def test_uninstall_leaves_only_the_policy_the_event_log_and_the_state(installed):
    """/etc/ds01 (the admin's policy), /var/log/ds01 (what ds01-report counts) and /var/lib/ds01 stay
    (docs/admin.md); the snapshot leaves /var/log and /run out."""
    left = [path for path in installed["left"] if path]
    assert left and all(any(path == k or path.startswith(k + "/") for k in ("/etc/ds01", "/var/lib/ds01"))
                        for path in left), left
    assert installed["gone"] == []
