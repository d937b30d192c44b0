#!/usr/bin/env python3
"""Bench: `container-list -a --json` against `docker ps -a --format '{{json .}}'` on N labelled containers.

Runs in a private dockerd (tests/support/sandbox.py), reports medians and their ratio from the same run.
Usage: bench/container_list.py [-n 100] [-r 15]
"""

import os
import sys

from benchlib import BINDIR, arguments, docker_cli, ds01_labels, engine, line, median_wall

from tests.support import sandbox


def main():
    args = arguments(__doc__)
    cli = docker_cli()
    with engine() as (host, client):
        uid, login = os.getuid(), os.environ.get("USER", "root")
        for i in range(args.containers):
            client.api.create_container(sandbox.BASE_IMAGE, ["bash", "-c", "bash"], name=f"bench{i}._.{uid}",
                                        labels=ds01_labels(login, f"bench{i}"))
        env = dict(os.environ, DOCKER_HOST=host)
        floor = median_wall([cli, "ps", "-a", "--format", "{{json .}}"], env, args.runs)
        print(f"containers: {args.containers}, runs: {args.runs}")
        line("docker ps -a --format json", floor)
        line("container-list -a --json", median_wall([os.path.join(BINDIR, "container-list"), "-a", "--json"], env,
                                                      args.runs), floor)
        line("python -c pass", median_wall([sys.executable, "-c", "pass"], env, args.runs), floor)


if __name__ == "__main__":
    main()
