#!/usr/bin/env python3
"""Bench: commands through ds01d as an ordinary user, and in-process as root, against the docker CLI.

A private dockerd with N containers of a bench account, one ds01d (tests/support/brokers.py) with
the example GPU inventory. Medians of R runs, each as ratios to `docker ps -a --format json` run
by root in the same run (create + start against `docker create` + `docker start` of the same image).
Usage: bench/broker.py [-n 100] [-r 15]
"""

import os
import statistics
import sys
import time

from benchlib import (
    BINDIR,
    AsAccount,
    arguments,
    docker_cli,
    ds01_labels,
    engine,
    line,
    median_wall,
    own_image,
    spawn,
    timed,
    workplace,
)

from tests.support import brokers, sandbox

LOGIN = "ds01b_bench"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORY = os.path.join(REPO, "etc", "ds01", "gpus.sim.yaml")
TAB = f"""source {REPO}/completions/ds01.bash
COMP_WORDS=(container-stop ""); COMP_CWORD=1
_ds01_complete
[ "${{#COMPREPLY[@]}}" -gt 0 ]
"""


def as_user(entry, argv):
    return AsAccount(entry, argv)


def pair_median(runs, first, second, env, cleanup):
    """Median seconds of running `first` then `second` (each a function of the run's index)."""
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        timed(first(i), env)
        timed(second(i), env)
        samples.append(time.perf_counter() - start)
        cleanup(i)
    return statistics.median(samples)


def pty_median(argv, env, runs):
    """Median seconds of argv with its stdout on a pseudo-terminal 120 columns wide (a drawn view)."""
    import fcntl
    import pty
    import struct
    import subprocess
    import termios
    import threading

    samples = []
    for _ in range(runs):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        drained = threading.Thread(target=_drain, args=(master,), daemon=True)
        drained.start()
        start = time.perf_counter()
        result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                                **spawn(argv))
        samples.append(time.perf_counter() - start)
        os.close(slave)
        drained.join(timeout=5)
        os.close(master)
        if result.returncode != 0:
            sys.exit(f"bench: {' '.join(argv)} failed: {result.stderr.decode()}")
    return statistics.median(samples)


def _drain(fd):
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


def scrape_median(env, runs, work):
    """Median seconds of one GET /metrics from ds01-exporter with --ttl 0 (every scrape a fresh snapshot), with the
    password it makes in `work` (make install's exporter.auth)."""
    import socket
    import subprocess
    import urllib.request

    from ds01 import exporter
    from ds01.install import exporter_auth

    auth = os.path.join(work, "exporter.auth")
    exporter_auth(auth)  # made once
    header = {"Authorization": exporter.authorization(exporter.read_secret(auth))}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([os.path.join(BINDIR, "ds01-exporter"), "--listen", f"127.0.0.1:{port}", "--ttl", "0",
                               "--auth-file", auth], env=env, stderr=subprocess.PIPE, text=True)
    try:
        while "serving" not in (said := server.stderr.readline()):
            assert said, "ds01-exporter did not start"
        samples = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=header)
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                answer.read()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples[1:])  # the first also imports what the snapshot needs
    finally:
        server.terminate()
        server.wait()


def main():
    args = arguments(__doc__)
    cli = docker_cli()
    entry = sandbox.ensure_user(LOGIN)
    work, logs, policy = workplace(1000)
    state = os.path.join(work, "state")
    with engine() as (host, client):
        uid = entry.pw_uid
        own = own_image(client, entry)
        for i in range(args.containers):  # half of them running: container-stop <TAB> offers those
            made = client.api.create_container(sandbox.BASE_IMAGE, ["sleep", "infinity"], name=f"bench{i}._.{uid}",
                                               labels=ds01_labels(LOGIN, f"bench{i}"))
            if i % 2 == 0:
                client.api.start(made["Id"])
        settings = {"DOCKER_HOST": host, "DS01_STATE_DIR": state, "DS01_LOG_DIR": logs,
                    "DS01_GPU_INVENTORY": INVENTORY, "DS01_CONFIG": policy}
        broker = brokers.Broker(settings).start()
        try:
            root_env = dict(os.environ, **settings, PATH=BINDIR + os.pathsep + os.environ["PATH"])
            user_env = {"PATH": BINDIR + ":/usr/bin:/bin", "HOME": entry.pw_dir, "USER": LOGIN, "LANG": "C.UTF-8",
                        "DS01_SOCKET": broker.socket}
            floor = median_wall([cli, "ps", "-a", "--format", "{{json .}}"], root_env, args.runs)
            print(f"containers: {args.containers}, runs: {args.runs}")
            line("docker ps -a --format json (root)", floor)
            for argv in (["container-list", "-a", "--json"], ["gpu-status", "--json"]):
                command = [os.path.join(BINDIR, argv[0]), *argv[1:]]
                line(f"{' '.join(argv)} via ds01d", median_wall(as_user(entry, command), user_env, args.runs), floor)
                line(f"{' '.join(argv)} in-process", median_wall(command, root_env, args.runs), floor)
            stats_floor = median_wall([cli, "stats", "--no-stream", "--format", "{{json .}}"], root_env,
                                      max(3, args.runs // 3))
            line("docker stats --no-stream (root)", stats_floor)
            stats_command = as_user(entry, [os.path.join(BINDIR, "container-stats"), "--json"])
            line("container-stats --json via ds01d", median_wall(stats_command, user_env, max(3, args.runs // 3)),
                 stats_floor)
            status = median_wall(as_user(entry, [os.path.join(BINDIR, "gpu-status"), "--json"]), user_env, args.runs)
            line("gpu-status --json via ds01d", status)
            line("dashboard --json via ds01d",
                 median_wall(as_user(entry, [os.path.join(BINDIR, "dashboard"), "--json"]), user_env, args.runs),
                 status)
            drawn_status = pty_median(as_user(entry, [os.path.join(BINDIR, "gpu-status")]), user_env, args.runs)
            line("gpu-status on a terminal via ds01d", drawn_status)
            line("dashboard --once on a terminal", pty_median(as_user(entry, [os.path.join(BINDIR, "dashboard"),
                                                                             "--once"]), user_env, args.runs),
                 drawn_status)
            line("true as the account (the runner's own cost)",
                 median_wall(as_user(entry, ["true"]), user_env, args.runs), floor)
            line("bash: container-stop <TAB> via ds01d",
                 median_wall(as_user(entry, ["bash", "-c", TAB]), user_env, args.runs), floor)
            line("ds01-exporter: one scrape, no cache (target 100 ms)", scrape_median(root_env, args.runs, work),
                 floor)

            def remove(i, name):
                client.api.remove_container(name.format(i=i, uid=uid), force=True)

            docker_pair = pair_median(
                args.runs, lambda i: [cli, "create", "--name", f"plain{i}", own, "sleep", "infinity"],
                lambda i: [cli, "start", f"plain{i}"], root_env, lambda i: remove(i, "plain{i}"))
            line("docker create + docker start (root)", docker_pair)
            for image, label in ((own, "own image"), (sandbox.BASE_IMAGE, "with the account setup")):
                ds01_pair = pair_median(
                    args.runs, lambda i, image=image: as_user(entry, [os.path.join(BINDIR, "container-create"),
                                                                      f"c{i}", image, "--cpu-only"]),
                    lambda i: as_user(entry, [os.path.join(BINDIR, "container-start"), f"c{i}"]), user_env,
                    lambda i: remove(i, "c{i}._.{uid}"))
                line(f"container-create + start, {label}", ds01_pair, docker_pair)
                for repo_tag in client.images.list():
                    for tag in repo_tag.tags:
                        if "._." in tag:
                            client.images.remove(tag)
        finally:
            if os.environ.get("BENCH_BROKER_LOG"):
                print(broker.log_tail(400))
            broker.stop()
    bare = median_wall([sys.executable, "-I", "-c", "pass"], os.environ, args.runs)
    print(f"python -I -c pass: {bare * 1000:.1f} ms")


if __name__ == "__main__":
    main()
