"""A private Docker engine for the demo, the tests and the benchmarks; it never touches the host's own.

It runs its own dockerd (own data-root, exec-root, pidfile and socket; no bridge, no iptables)
with a fake `nvidia-container-runtime-hook` first on its PATH, so GPU device requests
(`--gpus device=GPU-…,MIG-…`) are accepted and set NVIDIA_VISIBLE_DEVICES without a GPU.
The base image is Debian bookworm minbase (bash, useradd, sudo, python3, pip), built once with debootstrap
and cached as a tarball.
"""

import grp
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

BASE_IMAGE = "ds01-test/base:latest"
ML_BASE_IMAGE = "ds01-test/ml-base:latest"
STAND_IN_LOG = "/var/log/ds01-stand-ins/calls.log"
BASE_TARBALL = "bookworm-minbase-v2.tar.gz"

FAKE_HOOK = """#!/bin/sh
# Fake nvidia-container-runtime-hook (ds01 sandbox): accepts the OCI prestart call and does nothing,
# except for devices listed in ../broken-gpus (one UUID per line): those fail as a driver that lost
# the device would ("device error"), so tests can make a container fail to start after create.
state=$(cat)
broken="${0%/*}/../broken-gpus"
[ -s "$broken" ] || exit 0
bundle=$(printf '%s' "$state" | sed -n 's/.*"bundle": *"\\([^"]*\\)".*/\\1/p')
while read -r uuid; do
  [ -n "$uuid" ] || continue
  if grep -q "NVIDIA_VISIBLE_DEVICES=[^\\"]*$uuid" "$bundle/config.json" 2>/dev/null; then
    echo "nvidia-container-cli: device error: $uuid: unknown device" >&2
    exit 1
  fi
done < "$broken"
exit 0
"""


STAND_IN = """#!/bin/sh
# ds01 sandbox stand-in: records this call (one line: tool and arguments) instead of installing
# anything, because the sandbox engine has no network. Tests read the record to see what a build asked for.
mkdir -p "${LOG%/*}"
{ printf '%s' "${0##*/}"; for arg in "$@"; do printf ' %s' "$arg"; done; printf '\\n'; } >> "$LOG"
exit 0
"""

ML_BASE_DOCKERFILE = """FROM {base}
COPY stand-in /usr/local/bin/pip
COPY stand-in /usr/local/bin/pip3
COPY stand-in /usr/local/sbin/apt-get
LABEL org.ds01.sandbox="ml-base"
CMD ["bash"]
"""


def cache_dir():
    return os.environ.get("DS01_TEST_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ds01")


def wheelhouse():
    """ds01's dependencies as wheels, for the container's pip (downloaded once per setup.py)."""
    import hashlib

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "setup.py"), "rb") as setup:
        digest = hashlib.sha256(setup.read()).hexdigest()[:12]
    directory = os.path.join(cache_dir(), f"wheels-{digest}")
    if not os.path.isdir(directory):
        import sys

        partial = directory + ".partial"
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", partial, repo,
                        "setuptools", "wheel"], check=True, capture_output=True, cwd="/")
        os.rename(partial, directory)
    return directory


def unavailable_reason():
    """Why a private dockerd cannot run here, or None."""
    if os.geteuid() != 0:
        return "the private dockerd needs root"
    for tool in ("dockerd", "containerd", "runc"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install docker.io)"
    if not os.path.exists(os.path.join(cache_dir(), BASE_TARBALL)) and not shutil.which("debootstrap"):
        return "debootstrap is not installed and no cached base image exists"
    return None


def ensure_group(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "-f", name], check=True)
        return grp.getgrnam(name).gr_gid


class Dockerd:
    """A running private dockerd; `host` is its DOCKER_HOST."""

    def __init__(self, root, process, owner_lock=None):
        self.root = root
        self.process = process
        self.owner_lock = owner_lock  # marks root as this run's (services.owned_dir): no other run reaps it
        self.socket = os.path.join(root, "docker.sock")
        self.broken_gpus = os.path.join(root, "broken-gpus")  # UUIDs the fake hook refuses at start
        self.host = f"unix://{self.socket}"

    @classmethod
    def start(cls, timeout=60):
        from tests.support.services import owned_dir

        reap_stale()
        root, owner_lock = owned_dir(STALE_PREFIX, "/tmp")
        os.chmod(root, 0o711)
        bindir = os.path.join(root, "bin")
        os.mkdir(bindir)
        hook = os.path.join(bindir, "nvidia-container-runtime-hook")
        with open(hook, "w", encoding="utf-8") as handle:
            handle.write(FAKE_HOOK)
        os.chmod(hook, 0o755)
        env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}")
        env.pop("DOCKER_HOST", None)
        log = open(os.path.join(root, "dockerd.log"), "wb")  # noqa: SIM115 - lives as long as the daemon
        process = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(root, "data"), "--exec-root", os.path.join(root, "exec"),
             "--pidfile", os.path.join(root, "dockerd.pid"), "-H", f"unix://{os.path.join(root, 'docker.sock')}",
             "--group", "root", "--bridge=none", "--iptables=false", "--ip-masq=false",
             "--ip-forward=false", "--userland-proxy=false"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        daemon = cls(root, process, owner_lock)
        daemon.wait_ready(timeout)
        return daemon

    def wait_ready(self, timeout):
        from ds01.dockerapi import DockerAPI
        from ds01.errors import Ds01Error
        from tests.support.polling import wait_until

        api = DockerAPI(self.host, timeout=5)

        def answers():
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"dockerd exited ({self.process.returncode}): {tail}")
            try:
                return api.ping()
            except Ds01Error:
                return False

        try:
            wait_until("the private dockerd to answer", answers, timeout=timeout)
        except AssertionError:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"dockerd did not answer within {timeout}s: {tail}") from None

    def log_tail(self, lines=15):
        try:
            with open(os.path.join(self.root, "dockerd.log"), encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for mount in sorted(mounts_under(self.root), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.owner_lock is not None:
            os.close(self.owner_lock)  # after the dir is gone: no reaper sees it unmarked
            self.owner_lock = None


STALE_PREFIX = "ds01d-"


def reap_stale(parent="/tmp"):
    """Stop the private dockerds a dead run left behind (`parent`/ds01d-*), and remove their directories.

    Only a directory whose owner lock no live run holds (services.owned_dir) is reaped: another suite
    running beside this one keeps its engine. Only a process whose pidfile is in such a directory and
    whose command line names that directory as its data root is stopped: never the host's own engine.
    """
    import glob

    from tests.support.services import claim_abandoned

    for root in glob.glob(os.path.join(parent, STALE_PREFIX + "*")):
        owner_lock = claim_abandoned(root)
        if owner_lock is None:
            continue  # a live run's
        try:
            _stop_daemon_of(root)
            for mount in sorted(mounts_under(root), key=len, reverse=True):
                subprocess.run(["umount", "-l", mount], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
        finally:
            os.close(owner_lock)


def _stop_daemon_of(root):
    """SIGTERM the dockerd whose pidfile and data root are in `root` (its process group), SIGKILL after 30 s."""
    import select

    try:
        with open(os.path.join(root, "dockerd.pid"), encoding="ascii") as handle:
            pid = int(handle.read().strip())
        exited = os.pidfd_open(pid)  # from here on, `pid` cannot be reused under us
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
        if os.path.join(root, "data").encode() not in argv:
            return
        os.killpg(os.getpgid(pid), signal.SIGTERM)
        if not select.select([exited], [], [], 30)[0]:
            signal.pidfd_send_signal(exited, signal.SIGKILL)
    except OSError:
        pass  # it exited meanwhile
    finally:
        os.close(exited)


def mounts_under(root):
    """Mount points at or below `root` (dockerd leaves e.g. exec/netns/default mounted)."""
    prefix = os.path.realpath(root).rstrip("/") + "/"
    found = []
    with open("/proc/mounts", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[1].replace("\\040", " ")
            if point.startswith(prefix):
                found.append(point)
    return found


def build_base_tarball(progress=print):
    """debootstrap bookworm minbase (+ sudo, passwd, python3 with pip) into a cached tarball; returns its path."""
    directory = cache_dir()
    tarball = os.path.join(directory, BASE_TARBALL)
    if os.path.exists(tarball):
        return tarball
    os.makedirs(directory, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ds01-debootstrap-", dir=directory)
    try:
        progress("building the base image with debootstrap (once; cached in %s) ..." % directory)
        rootfs = os.path.join(work, "rootfs")
        mirror = os.environ.get("DS01_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        result = subprocess.run(["debootstrap", "--variant=minbase", "--include=sudo,passwd,python3-pip", "bookworm",
                                 rootfs, mirror],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(os.path.join(rootfs, cache), ignore_errors=True)
            os.makedirs(os.path.join(rootfs, cache), exist_ok=True)
        partial = tarball + ".partial"
        subprocess.run(["tar", "-C", rootfs, "-czf", partial, "."], check=True)
        os.replace(partial, tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def ensure_base_image(host, ref=BASE_IMAGE, progress=print):
    """Load the cached base image into the engine at `host` (docker import) unless it is there."""
    from ds01.dockerapi import DockerAPI
    from ds01.errors import NotFound

    api = DockerAPI(host)
    try:
        api.inspect_image(ref)
        return False
    except NotFound:
        pass
    tarball = build_base_tarball(progress)
    import docker

    client = docker.DockerClient(base_url=host, timeout=600)
    repository, tag = ref.rsplit(":", 1)
    client.api.import_image_from_file(tarball, repository=repository, tag=tag,
                                      changes=['CMD ["bash"]', "ENV LANG=C.UTF-8"])
    api.inspect_image(ref)
    return True


def ensure_ml_base_image(host, ref=ML_BASE_IMAGE, base=BASE_IMAGE):
    """The base image plus recording stand-ins for pip and apt-get: what a catalog image is in the sandbox."""
    import docker

    from ds01.images import context_tar

    client = docker.DockerClient(base_url=host, timeout=600)
    try:
        client.images.get(ref)
        return False
    except docker.errors.ImageNotFound:
        pass
    stand_in = STAND_IN.replace("$LOG", STAND_IN_LOG).replace("${LOG%/*}", os.path.dirname(STAND_IN_LOG))
    context = context_tar({"Dockerfile": (ML_BASE_DOCKERFILE.format(base=base), 0o644), "stand-in": (stand_in, 0o755)})
    client.images.build(fileobj=context, custom_context=True, tag=ref, rm=True, pull=False)
    return True


def ensure_user(login, uid=None, groups=()):
    """A real host account for the demo/tests (created if missing); left out of every group that could reach
    an engine: the private dockerd's socket is root's (0660 root:root), so users reach it through ds01d only."""
    for group in groups:
        ensure_group(group)
    try:
        entry = pwd.getpwnam(login)
    except KeyError:
        args = ["useradd", "-m", "-U", "-s", "/bin/bash"]
        if uid is not None:
            args += ["-u", str(uid)]
        if groups:
            args += ["-G", ",".join(groups)]
        subprocess.run(args + [login], check=True, capture_output=True)
        entry = pwd.getpwnam(login)
    for group in groups:
        subprocess.run(["usermod", "-a", "-G", group, login], check=True, capture_output=True)
    return entry


def remove_user(login):
    """Remove the account, its home and its own group (useradd -U made one)."""
    subprocess.run(["userdel", "-r", login], capture_output=True)
    remove_group(login)


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def remove_group(name):
    if group_exists(name):
        subprocess.run(["groupdel", name], capture_output=True)


def unmount_under(root):
    for point in sorted(mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def as_user_command(entry, argv):
    """argv that runs `argv` as the account `entry` (a pwd entry) with its supplementary groups."""
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--"] + list(argv)


def user_env(entry, base_env):
    env = dict(base_env)
    env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    env.pop("SUDO_UID", None)
    env.pop("SUDO_USER", None)
    env.pop("SUDO_GID", None)
    return env
