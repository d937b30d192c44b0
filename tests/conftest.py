"""Test harness: a private dockerd (never the host's), real test users, and helpers to run commands as them."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ds01 import sandbox

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin, where setup.py installed the commands
TEST_CATALOG_IMAGE = sandbox.ML_BASE_IMAGE.rsplit(":", 1)[0]
USERS = {"alice": "ds01t_alice", "bob": "ds01t_bob", "admin": "ds01t_admin"}


@pytest.fixture(scope="session", autouse=True)
def event_log_dir():
    """Every command in the tests logs events here, never to the host's /var/log/ds01."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="ds01-events-"))
    os.chmod(root, 0o1777)
    (root / "events.jsonl").touch()
    os.chmod(root / "events.jsonl", 0o666)
    saved = os.environ.get("DS01_LOG_DIR")
    os.environ["DS01_LOG_DIR"] = str(root)
    yield root
    if saved is None:
        os.environ.pop("DS01_LOG_DIR", None)
    else:
        os.environ["DS01_LOG_DIR"] = saved
    shutil.rmtree(root, ignore_errors=True)


def _require(reason):
    if os.environ.get("DS01_REQUIRE_DOCKER"):
        pytest.fail(f"DS01_REQUIRE_DOCKER is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def dockerd():
    reason = sandbox.unavailable_reason()
    if reason:
        _require(reason)
    try:
        daemon = sandbox.Dockerd.start()
    except (RuntimeError, OSError) as exc:
        _require(f"no private dockerd could be started: {exc}")
    try:
        sandbox.ensure_base_image(daemon.host, progress=lambda m: sys.stderr.write(m + "\n"))
        sandbox.ensure_ml_base_image(daemon.host)
    except BaseException:
        daemon.stop()
        raise
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def client(dockerd):
    import docker

    return docker.DockerClient(base_url=dockerd.host)


@pytest.fixture(scope="session")
def users():
    """Real host accounts (created for the session, removed after): alice, bob and an admin."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        _require("test users need root, useradd and setpriv")
    made = {}
    for key, login in USERS.items():
        existed = _exists(login)
        made[key] = (sandbox.ensure_user(login), existed)
    yield {key: entry for key, (entry, _) in made.items()}
    for key, (entry, existed) in made.items():
        if not existed:
            sandbox.remove_user(entry.pw_name)


def _exists(login):
    import pwd

    try:
        pwd.getpwnam(login)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def shared_tmp():
    """A temp dir the test users can read (pytest's own is private to root); removed at the end."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="ds01-tests-"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def user_tmp(shared_tmp, request):
    path = shared_tmp / request.node.name.replace("[", "_").replace("]", "_")[:60]
    path.mkdir(mode=0o755)
    return path


@pytest.fixture(scope="session")
def data_root(shared_tmp):
    root = shared_tmp / "shared-data"
    root.mkdir(mode=0o755)
    (root / "corpus").mkdir()
    os.chmod(root / "corpus", 0o777)
    return root


@pytest.fixture(scope="session")
def policy_file(shared_tmp, users, data_root):
    """A small policy: alice is a student, bob a researcher (with an override), ds01t_admin an admin."""
    directory = shared_tmp / "policy"
    directory.mkdir(mode=0o755)
    catalog = directory / "ml_images.repo"  # the sandbox's catalog image is the base with pip/apt stand-ins
    catalog.write_text(f"Pytorch, 2.7.1, [CUDA_ADA], {TEST_CATALOG_IMAGE}\n"
                       f"Pytorch, 2.5.1, [CUDA_ADA;CUDA_AMPERE], {TEST_CATALOG_IMAGE}\n"
                       f"Tensorflow, 2.14.0, [CUDA_ADA;CUDA_AMPERE], {TEST_CATALOG_IMAGE}\n")
    os.chmod(catalog, 0o644)
    path = directory / "resource-limits.yaml"
    path.write_text(textwrap.dedent(f"""\
        defaults:
          max_cpus: 1.5
          memory: 256m
          memory_swap: 512m
          shm_size: 64m
          pids_limit: 256
          max_containers_per_user: 3
        default_group: student
        groups:
          student:
            members: [{users['alice'].pw_name}]
          researcher:
            max_cpus: 1
            memory: 384m
            memory_swap: 384m
            members: [{users['bob'].pw_name}]
          admin:
            members: [{users['admin'].pw_name}]
        user_overrides:
          {users['bob'].pw_name}:
            max_containers_per_user: 1
        access_control:
          admin_users: [{users['admin'].pw_name}]
          mount_roots: [{data_root}]
        aime:
          catalog: {catalog}
        """))
    os.chmod(path, 0o644)
    return path


class Shell:
    """Runs installed ds01 commands as a test user against the private engine."""

    def __init__(self, dockerd, policy_file, extra_env=None):
        self.dockerd = dockerd
        self.policy_file = policy_file
        self.extra_env = dict(extra_env or {})

    def env(self, entry, extra=None):
        env = sandbox.user_env(entry, {
            "PATH": f"{BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "DOCKER_HOST": self.dockerd.host if self.dockerd else "unix:///nonexistent/docker.sock",
            "DS01_CONFIG": str(self.policy_file),
            "DS01_LOG_DIR": os.environ["DS01_LOG_DIR"],
            "LANG": "C.UTF-8",
        })
        env.update(self.extra_env)
        env.update(extra or {})
        return env

    def run(self, entry, *argv, input=None, extra_env=None, check=False):
        command = [str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0], *argv[1:]]
        stdin = {} if input is not None else {"stdin": subprocess.DEVNULL}
        result = subprocess.run(sandbox.as_user_command(entry, command), env=self.env(entry, extra_env),
                                input=input, capture_output=True, text=True, cwd="/", timeout=300, **stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} exited {result.returncode}: {result.stderr}")
        return result

    def records(self, entry, *argv, input=None, extra_env=None):
        result = self.run(entry, *argv, input=input, check=True, extra_env=extra_env)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def pipe(self, entry, first, second):
        """`first | second` with real processes, as a shell pipeline runs them; `.left` is first's exit code."""
        left = subprocess.Popen(sandbox.as_user_command(entry, [str(BIN / first[0]), *first[1:]]),
                                env=self.env(entry), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd="/")
        right = subprocess.run(sandbox.as_user_command(entry, [str(BIN / second[0]), *second[1:]]),
                               env=self.env(entry), stdin=left.stdout, capture_output=True, text=True, cwd="/",
                               timeout=300)
        left.stdout.close()
        right.left = left.wait()
        right.left_stderr = left.stderr.read().decode()
        left.stderr.close()
        return right

    def spawn(self, entry, *argv, extra_env=None, timeout=60):
        """Run a command as `entry` in a real pseudo-terminal (pexpect), as a person at a terminal would."""
        pexpect = pytest.importorskip("pexpect")
        command = sandbox.as_user_command(entry, [str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0],
                                                  *argv[1:]])
        return pexpect.spawn(command[0], command[1:], env=self.env(entry, {"TERM": "xterm", **(extra_env or {})}),
                             cwd="/", encoding="utf-8", timeout=timeout, dimensions=(40, 160))

    def popen(self, entry, *argv, extra_env=None):
        """Start a command as `entry` without waiting (stdout/stderr captured)."""
        command = [str(BIN / argv[0]), *argv[1:]]
        return subprocess.Popen(sandbox.as_user_command(entry, command), env=self.env(entry, extra_env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd="/")


@pytest.fixture
def sh(dockerd, users, policy_file, client):
    """A Shell; every container and non-base image is removed after the test."""
    yield Shell(dockerd, policy_file)
    for container in client.containers.list(all=True):
        container.remove(force=True)
    for image in client.images.list():
        for tag in image.tags:
            if tag not in (sandbox.BASE_IMAGE, sandbox.ML_BASE_IMAGE):
                client.images.remove(tag, force=True)
    for entry in users.values():  # each test starts with empty workspaces (Dockerfiles live there)
        for directory in ("workspace", "dockerfiles"):
            shutil.rmtree(os.path.join(entry.pw_dir, directory), ignore_errors=True)


@pytest.fixture
def offline_sh(users, policy_file):
    """A Shell whose DOCKER_HOST points nowhere: proves a command refused input before touching Docker."""
    return Shell(None, policy_file)
