"""Test fixtures: a private dockerd (never the host's), real test users, and Shells that run commands as them.

The helpers themselves live in tests/support/ (test modules never import each other).
"""

import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.support import brokers, sandbox
from tests.support.harness import TEST_CATALOG_IMAGE, USERS, Shell, require, shared_log_dir, user_exists

HOST_EVENT_LOG = "/var/log/ds01/events.jsonl"
HOST_STATE_DIR = "/var/lib/ds01"
# A test that uses any of these needs root, real accounts or the private dockerd: the `system` tier.
SYSTEM_FIXTURES = {"dockerd", "users", "slurm"}


def pytest_collection_modifyitems(config, items):
    """Mark the system tier by what a test uses, so `make test-fast` (-m "not system") needs no root or Docker."""
    for item in items:
        if SYSTEM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.system)


def _host_log_state():
    try:
        info = os.stat(HOST_EVENT_LOG)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def _host_state():
    try:
        return sorted((e.name, e.stat(follow_symlinks=False).st_mtime_ns) for e in os.scandir(HOST_STATE_DIR))
    except OSError:
        return None


@pytest.fixture(scope="session", autouse=True)
def host_state_untouched():
    """No test writes the host's own state dir (claims, caches, bind points): each Shell has its own."""
    before = _host_state()
    yield
    assert _host_state() == before, f"the tests wrote to {HOST_STATE_DIR}"


@pytest.fixture(scope="session", autouse=True)
def host_event_log_untouched():
    """No test, in process or through a command, writes the host's own event log."""
    before = _host_log_state()
    yield
    assert _host_log_state() == before, f"the tests wrote to {HOST_EVENT_LOG}"


@pytest.fixture(scope="session", autouse=True)
def test_brokers():
    """The private ds01d processes the Shells start (tests/support/brokers.py): stopped at the end."""
    if os.geteuid() == 0:
        brokers.reap_stale()
    yield
    brokers.stop_all()


@pytest.fixture(scope="session")
def event_log_dir():
    """The event log the commands of the `sh` Shell write, never the host's /var/log/ds01."""
    root = shared_log_dir(Path(tempfile.mkdtemp(prefix="ds01-events-")))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def state_dir():
    """The state dir of the `sh` Shell's commands (claims, caches, bind points), never the host's."""
    root = Path(tempfile.mkdtemp(prefix="ds01-state-"))
    os.chmod(root, 0o755)
    yield root
    sandbox.unmount_under(root)  # a bind point left by a start cut short: never delete through it
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd():
    reason = sandbox.unavailable_reason()
    if reason:
        require(reason)
    try:
        daemon = sandbox.Dockerd.start()
    except (RuntimeError, OSError) as exc:
        require(f"no private dockerd could be started: {exc}")
    try:
        sandbox.ensure_base_image(daemon.host, progress=lambda m: sys.stderr.write(m + "\n"))
        sandbox.ensure_ml_base_image(daemon.host)
    except BaseException:
        daemon.stop()
        raise
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def slurm(users):
    """A real two-node Slurm on loopback (tests/support/slurm.py), its QOS and accounts from ds01-slurm-generate."""
    from tests.support import slurm as private_slurm

    private_slurm.reap_stale()
    reason = private_slurm.unavailable_reason()
    if reason:
        require(reason)
    cluster = private_slurm.Slurm().start(users)
    sys.stderr.write(f"\nthe private Slurm started in {cluster.started_in:.1f} s\n")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def cluster_nodes(slurm, dockerd, policy_file, event_log_dir, state_dir, shared_tmp):
    """(socket pattern with `{node}`, {node: Broker}): one ds01d per node of the private Slurm, each the node's own
    (DS01_NODE_NAME, its gres.conf and inventory), for every cluster test; and the node's engine for the Epilog,
    as an admin configures it: a root-owned ds01-epilog.conf beside slurm.conf (never the job's environment)."""
    from tests.support.cluster import node_brokers

    epilog_conf = slurm.etc / "ds01-epilog.conf"
    epilog_conf.write_text(f"# the engine ds01's Epilog stops containers on\nDOCKER_HOST={dockerd.host}\n")
    os.chmod(epilog_conf, 0o644)
    try:
        directory = shared_tmp / "cluster-nodes"
        with node_brokers(slurm, dockerd, policy_file, event_log_dir, state_dir, directory) as started:
            yield started
    finally:
        epilog_conf.unlink(missing_ok=True)


@pytest.fixture
def head(slurm, cluster_nodes):
    """The head ds01d's settings (the `extra_env` of sh.run): the cluster and where each node's ds01d listens."""
    from tests.support.cluster import head_env

    return head_env(slurm, cluster_nodes[0])


@pytest.fixture(scope="session")
def client(dockerd):
    import docker

    return docker.DockerClient(base_url=dockerd.host)


@pytest.fixture(scope="session")
def users():
    """Real host accounts (created for the session, removed after): alice, bob and an admin."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        require("test users need root, useradd and setpriv")
    made = {}
    for key, login in USERS.items():
        existed = user_exists(login)
        made[key] = (sandbox.ensure_user(login), existed)
    yield {key: entry for key, (entry, _) in made.items()}
    for entry, existed in made.values():
        if not existed:
            sandbox.remove_user(entry.pw_name)


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


@pytest.fixture
def drop():
    """A directory both test users can reach (what alice hands bob lands here), sticky like /tmp."""
    shared = Path(tempfile.mkdtemp(prefix="ds01-drop-"))
    os.chmod(shared, 0o1777)
    yield shared
    shutil.rmtree(shared, ignore_errors=True)


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
        images: {{allowed: ["ds01-test/*"]}}  # the sandbox's own images
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
            sudo: true
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


@pytest.fixture
def sh(dockerd, users, policy_file, client, event_log_dir, state_dir):
    """A Shell; every container and non-base image is removed after the test."""
    yield Shell(dockerd, policy_file, event_log_dir, {"DS01_STATE_DIR": str(state_dir)})
    for container in client.containers.list(all=True):
        container.remove(force=True)
    for image in client.images.list():
        for tag in image.tags:
            if tag not in (sandbox.BASE_IMAGE, sandbox.ML_BASE_IMAGE):
                client.images.remove(tag, force=True)
    for entry in users.values():  # each test starts with empty workspaces (Dockerfiles live there)
        for directory in ("workspace", "dockerfiles"):
            shutil.rmtree(os.path.join(entry.pw_dir, directory), ignore_errors=True)
    shutil.rmtree(os.path.join(state_dir, "cluster"), ignore_errors=True)  # and no cluster containers (they count)


@pytest.fixture
def offline_sh(users, policy_file, event_log_dir, state_dir):
    """A Shell whose DOCKER_HOST points nowhere: proves a command refused input before touching Docker."""
    return Shell(None, policy_file, event_log_dir, {"DS01_STATE_DIR": str(state_dir)})
