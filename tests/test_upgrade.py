"""ds01-upgrade (issue 20): a new build beside the old, switched to only when its own ds01-doctor --strict passes on
this host; a new version that refuses the lab's policy leaves the old one in use. Real installs under a
temporary prefix (make install's code), the doctor against the private engine, ds01d and an answering exporter."""

import http.server
import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from ds01 import doctor
from tests.support import sandbox
from tests.support.gpulab import EXAMPLE
from tests.support.harness import REPO

ROOT = sandbox.pwd.getpwnam("root")


SECRET = b"upgrade-test-scrape-password-0123456789"


@pytest.fixture
def exporter():
    """Something answering on the exporter's URL, as ds01-exporter would: to its password only."""
    from ds01.exporter import authorization

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the handler's name is http.server's
            if self.headers.get("Authorization") != authorization(SECRET):
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ds01_build_info 1\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()


def source(tmp, version, policy_refuses=None):
    """A checkout of another version: the repository's files with __version__ set (and, to make a broken build,
    a policy section its schema no longer knows)."""
    copy = tmp / f"src-{version}"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", "__pycache__", "*.egg-info"), symlinks=True)
    init = copy / "ds01" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text()))
    if policy_refuses:
        schema = copy / "ds01" / "policy.py"
        text = schema.read_text()
        assert f'    "{policy_refuses}": Section(' in text
        schema.write_text(text.replace(f'    "{policy_refuses}": Section(', f'    "_{policy_refuses}_gone": Section('))
    return copy


@pytest.fixture
def site(user_tmp, sh, users, exporter):
    """A host for the upgrade: a prefix and system dirs under the test's directory, a policy with no sudo group
    (so the doctor's nosuid check has nothing to say), the shipped cron in the doctor's --root."""
    prefix, etc = user_tmp / "opt" / "ds01", user_tmp / "etc"
    host_root = user_tmp / "root"
    (host_root / "etc" / "cron.d").mkdir(parents=True)
    (host_root / "dev").mkdir()
    (host_root / "proc" / "412").mkdir(parents=True)
    (host_root / "proc" / "412" / "comm").write_text("cron\n")  # the daemon that runs the cron file
    (host_root / "etc" / "ds01").mkdir()
    (host_root / "etc" / "ds01" / "exporter.auth").write_bytes(SECRET + b"\n")  # root's, 0644 umask: narrowed
    os.chmod(host_root / "etc" / "ds01" / "exporter.auth", 0o600)
    shutil.copy(os.path.join(doctor.SHIPPED, "cron.d", "ds01"), host_root / "etc" / "cron.d" / "ds01")
    policy = user_tmp / "lab-policy.yaml"
    policy.write_text(f"greeting: {{enabled: true}}\ngroups:\n  student: {{members: [{users['alice'].pw_name}]}}\n"
                      f"access_control: {{admin_users: [{users['admin'].pw_name}], ssh_host: gpu1.lab.example.org}}\n")
    os.chmod(policy, 0o644)
    env = {**os.environ, **sh.settings(), "DS01_CONFIG": str(policy), "DS01_SOCKET": sh.broker().socket,
           "DS01_GPU_INVENTORY": str(EXAMPLE)}  # GPUs as the driver would report them
    env.pop("DS01_REQUIRE_DOCKER", None)
    args = ["--prefix", str(prefix), "--sysconfdir", str(etc), "--doctor-arg=--root",
            f"--doctor-arg={host_root}", "--doctor-arg=--exporter", f"--doctor-arg={exporter}",
            f"--install-arg=--mandir={user_tmp / 'man'}", f"--install-arg=--bashcompdir={user_tmp / 'bash'}",
            f"--install-arg=--zshcompdir={user_tmp / 'zsh'}"]
    return prefix, etc, env, args


def upgrade(env, args, checkout):
    from tests.support.harness import BIN

    result = subprocess.run([str(BIN / "ds01-upgrade"), str(checkout), "--json", *args], env=env,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_a_new_build_that_passes_its_doctor_becomes_current_and_a_broken_one_leaves_the_old_in_use(
        user_tmp, site):
    prefix, etc, env, args = site
    good, [first] = upgrade(env, args, source(user_tmp, "9.0.0"))
    assert good.returncode == 0, good.stderr + json.dumps(first)
    assert first["gate"] == "passed" and first["switched"] and first["failed"] == []
    assert first["from"] is None and first["to"].startswith("9.0.0")
    assert os.readlink(prefix / "current") == first["to"]
    assert (etc / "cron.d" / "ds01").read_text().count(f"{prefix}/current/libexec/ds01") == 1
    version = subprocess.run([str(prefix / "current" / "bin" / "version"), "--json"], env=env, capture_output=True,
                             text=True, check=True)
    assert json.loads(version.stdout)["version"] == "9.0.0"

    broken, [second] = upgrade(env, args, source(user_tmp, "9.1.0", policy_refuses="greeting"))
    assert broken.returncode == 1 and "stayed on " + first["to"] in broken.stderr
    assert second["gate"] == "failed" and not second["switched"]
    assert [f["check"] for f in second["failed"] if f["status"] == "FAIL"] == ["policy"]
    assert os.readlink(prefix / "current") == first["to"]  # the old build serves on
    assert sorted(os.listdir(prefix)) == sorted([first["to"], "current", "installed-files"])  # no half build
    still = subprocess.run([str(prefix / "current" / "bin" / "version"), "--json"], env=env, capture_output=True,
                           text=True, check=True)
    assert json.loads(still.stdout)["version"] == "9.0.0"


def test_a_user_cannot_upgrade_through_ds01d_to_a_source_of_their_own(user_tmp, users, sh):
    """ds01d's worker is root by uid: the command must look at who the kernel says asked, not at its own euid."""
    alice = users["alice"]
    mine = user_tmp / "alice-src"
    mine.mkdir()
    os.chown(mine, alice.pw_uid, alice.pw_gid)
    tried = sh.run(alice, "ds01-upgrade", str(mine), "--prefix", str(user_tmp / "opt"))
    assert tried.returncode == 5 and "ds01-upgrade: error: ds01-upgrade is for root only" in tried.stderr
    assert not (user_tmp / "opt").exists()
