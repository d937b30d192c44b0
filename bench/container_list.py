#!/usr/bin/env python3
"""Bench: `container-list -a --json` against `docker ps -a --format '{{json .}}'` on N labelled containers.

Runs in a private dockerd (ds01.sandbox), reports medians and their ratio from the same run.
Usage: bench/container_list.py [-n 100] [-r 15]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ds01 import sandbox  # noqa: E402


def median_wall(argv, env, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--containers", type=int, default=100)
    parser.add_argument("-r", "--runs", type=int, default=15)
    args = parser.parse_args()
    docker_cli = shutil.which("docker")
    if not docker_cli:
        sys.exit("bench: the docker CLI is needed as the floor")
    daemon = sandbox.Dockerd.start()
    try:
        sandbox.ensure_base_image(daemon.host)
        import docker

        client = docker.DockerClient(base_url=daemon.host)
        uid, login = os.getuid(), os.environ.get("USER", "root")
        for i in range(args.containers):
            client.api.create_container(sandbox.BASE_IMAGE, ["bash", "-c", "bash"], name=f"bench{i}._.{uid}", labels={
                "aime.mlc": login, "aime.mlc.NAME": f"bench{i}", "aime.mlc.USER": login, "aime.mlc.MLC_VERSION": "4",
                "aime.mlc.DS01_MANAGED": "true", "aime.mlc.WORK_MOUNT": f"/home/{login}/workspace/bench{i}"})
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        bindir = os.path.dirname(sys.executable)
        floor = median_wall([docker_cli, "ps", "-a", "--format", "{{json .}}"], env, args.runs)
        ours = median_wall([os.path.join(bindir, "container-list"), "-a", "--json"], env, args.runs)
        python = median_wall([sys.executable, "-c", "pass"], env, args.runs)
        print(f"containers: {args.containers}, runs: {args.runs}")
        print(f"docker ps -a --format json : {floor * 1000:7.1f} ms")
        print(f"container-list -a --json   : {ours * 1000:7.1f} ms   ratio {ours / floor:.2f}x")
        print(f"python -c pass             : {python * 1000:7.1f} ms   ratio {python / floor:.2f}x")
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
