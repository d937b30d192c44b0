"""What the benches share: a private dockerd with N containers, and median wall times."""

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support import sandbox  # noqa: E402

BINDIR = os.path.dirname(sys.executable)


class AsAccount(list):
    """argv to run as an account: the runner's fork switches to it (setgroups, setgid, setuid) and execs argv,
    so the measure pays no program of its own (setpriv costs 2 ms), as root's floor pays none."""

    def __init__(self, entry, argv):
        super().__init__(argv)
        self.entry = entry

    def spawn(self):
        """subprocess's arguments for the switch."""
        return {"user": self.entry.pw_uid, "group": self.entry.pw_gid,
                "extra_groups": os.getgrouplist(self.entry.pw_name, self.entry.pw_gid)}


def spawn(argv):
    """subprocess's arguments that run argv as its account (AsAccount), or as the runner."""
    return argv.spawn() if isinstance(argv, AsAccount) else {}


def timed(argv, env):
    """(seconds, stdout) of one run of argv, which must succeed."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL, **spawn(argv))
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed: {result.stderr.decode()}")
    return seconds, result.stdout


def median_wall(argv, env, runs):
    """Median seconds of `runs` runs of argv."""
    return statistics.median(timed(argv, env)[0] for _ in range(runs))


def docker_cli():
    found = shutil.which("docker")
    if not found:
        sys.exit("bench: the docker CLI is needed as the floor")
    return found


@contextlib.contextmanager
def engine():
    """(DOCKER_HOST, docker SDK client) of a private dockerd with the base image; stopped afterwards."""
    daemon = sandbox.Dockerd.start()
    try:
        sandbox.ensure_base_image(daemon.host)
        import docker

        yield daemon.host, docker.DockerClient(base_url=daemon.host)
    finally:
        daemon.stop()


def ds01_labels(login, name):
    return {"aime.mlc": login, "aime.mlc.NAME": name, "aime.mlc.USER": login, "aime.mlc.MLC_VERSION": "4",
            "aime.mlc.DS01_MANAGED": "true", "aime.mlc.GPUS": "none",
            "aime.mlc.WORK_MOUNT": f"/home/{login}/workspace/{name}"}


def line(label, seconds, floor=None):
    ratio = f"   ratio {seconds / floor:.2f}x" if floor else ""
    print(f"{label:<34}: {seconds * 1000:7.1f} ms{ratio}")


def arguments(doc, count=("containers", 100), runs=15, more=()):
    """The benches' options: -n (how many `count[0]`), -r (runs), and `more` ((flag, default, help), ...)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc)
    if count:
        parser.add_argument("-n", f"--{count[0]}", type=int, default=count[1])
    for flag, default, text in more:
        parser.add_argument(flag, type=int, default=default, help=text)
    parser.add_argument("-r", "--runs", type=int, default=runs)
    return parser.parse_args()


def workplace(max_containers):
    """(work dir, log dir, policy path) for a bench's ds01d: a directory every account may enter (its state and
    log dirs live there, as /var/lib's do) and a small policy that allows `max_containers` each."""
    work = tempfile.mkdtemp(prefix="ds01-bench-")
    os.chmod(work, 0o755)  # noqa: S103 - ds01d's state and log dirs live here, as /var/lib does
    logs = os.path.join(work, "log")
    os.mkdir(logs)
    policy = os.path.join(work, "resource-limits.yaml")
    with open(policy, "w", encoding="utf-8") as handle:
        handle.write(f"defaults:\n  max_containers_per_user: {max_containers}\n  max_cpus: 1\n  memory: 1g\n"
                     'images: {allowed: ["ds01-test/*"]}\n')
    return work, logs, policy


def own_image(client, entry):
    """The bench account's own image (its account baked in, as image-create labels it); its reference."""
    from ds01.images import context_tar

    own = f"ds01-{entry.pw_uid}/bench:latest"
    text = (f"FROM {sandbox.BASE_IMAGE}\nLABEL aime.mlc.DS01_USER_ID={entry.pw_uid} "
            f"aime.mlc.DS01_GROUP_ID={entry.pw_gid}\n")
    client.images.build(fileobj=context_tar({"Dockerfile": (text, 0o644)}), custom_context=True, tag=own)
    return own

