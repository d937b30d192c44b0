#!/usr/bin/env python3
"""Bench: `gpu-allocate`, `gpu-release` and `gpu-status` against `docker ps -a` with N containers present.

The containers are ds01 ones (labels say which GPUs they have, none are inspected) plus, with
--unlabelled K, K plain `docker create --gpus` ones that must each be inspected. The example
inventory (etc/ds01/gpus.sim.yaml) stands in for NVML.
Usage: bench/gpu_allocator.py [-n 100] [--unlabelled 10] [-r 15]
"""

import json
import os
import statistics
import sys
import tempfile

from benchlib import BINDIR, arguments, docker_cli, ds01_labels, engine, line, median_wall, timed

from tests.support import sandbox

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    args = arguments(__doc__, more=(("--unlabelled", 10, "of those, plain docker GPU containers"),))
    cli = docker_cli()
    from ds01.gpu import simulated

    inventory = os.path.join(REPO, "etc", "ds01", "gpus.sim.yaml")
    uuids = [s.uuid for s in simulated.load(inventory).slots()]
    with engine() as (host, client), tempfile.TemporaryDirectory() as state:
        uid, login = os.getuid(), os.environ.get("USER", "root")
        for i in range(args.containers):
            if i < args.unlabelled:  # a plain docker container on one MIG slice of GPU 2
                client.api.create_container(sandbox.BASE_IMAGE, ["true"], name=f"plain{i}",
                                            host_config=client.api.create_host_config(device_requests=[
                                                {"Driver": "nvidia", "DeviceIDs": [uuids[2 + i % 7]],
                                                 "Capabilities": [["gpu"]]}]))
            else:
                client.api.create_container(sandbox.BASE_IMAGE, ["bash"], name=f"bench{i}._.{uid}",
                                            labels=ds01_labels(login, f"bench{i}"))
        env = dict(os.environ, DOCKER_HOST=host, DS01_GPU_INVENTORY=inventory, DS01_STATE_DIR=state,
                   DS01_CONFIG=os.path.join(REPO, "etc", "ds01", "resource-limits.yaml"))
        floor = median_wall([cli, "ps", "-a", "--format", "{{json .}}"], env, args.runs)
        allocations, releases = [], []
        for _ in range(args.runs):  # allocate then release, so the quota never runs out
            seconds, out = timed([os.path.join(BINDIR, "gpu-allocate"), "--json"], env)
            allocations.append(seconds)
            releases.append(timed([os.path.join(BINDIR, "gpu-release"), json.loads(out)["claim"]], env)[0])
        allocate, release = statistics.median(allocations), statistics.median(releases)
        status = median_wall([os.path.join(BINDIR, "gpu-status"), "--json"], env, args.runs)
        print(f"containers: {args.containers} ({args.unlabelled} plain docker GPU containers), runs: {args.runs}")
        line("docker ps -a --format json", floor)
        line("gpu-allocate --json", allocate, floor)
        line("gpu-release CLAIM", release, floor)
        line("gpu-status --json", status, floor)
        line("python -c pass", median_wall([sys.executable, "-c", "pass"], env, args.runs), floor)


if __name__ == "__main__":
    main()
