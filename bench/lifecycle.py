#!/usr/bin/env python3
"""Bench: one lifecycle job run over N running containers, against `docker stats --no-stream` (the floor:
one CPU sample of every running container, which the engine takes about a second for).

ds01-idle-check's first run samples each container for about a second (in parallel); later runs
use one-shot stats and the previous reading. Runs as root in a private dockerd.
Usage: bench/lifecycle.py [-n 20] [-r 5]
"""

import os
import sys
import tempfile

from benchlib import BINDIR, arguments, docker_cli, ds01_labels, engine, line, median_wall, timed

from tests.support import sandbox


def main():
    args = arguments(__doc__, count=("containers", 20), runs=5)
    if os.geteuid() != 0:
        sys.exit("bench: the lifecycle jobs run as root")
    cli = docker_cli()
    with engine() as (host, client), tempfile.TemporaryDirectory() as state:
        login = os.environ.get("USER", "root")
        for i in range(args.containers):
            client.containers.run(sandbox.BASE_IMAGE, ["sleep", "infinity"], name=f"bench{i}._.0", detach=True,
                                  labels=ds01_labels(login, f"bench{i}"))
        env = dict(os.environ, DOCKER_HOST=host, DS01_STATE_DIR=state, DS01_LOG_DIR=state, DS01_CONFIG="/dev/null")
        floor = median_wall([cli, "stats", "--no-stream", "--format", "{{json .}}"], env, args.runs)
        idle = [os.path.join(BINDIR, "ds01-idle-check"), "--all", "--json"]
        print(f"running containers: {args.containers}, runs: {args.runs}")
        line("docker stats --no-stream", floor)
        line("ds01-idle-check --all (first run)", timed(idle, env)[0], floor)
        line("ds01-idle-check --all (later runs)", median_wall(idle, env, args.runs), floor)
        line("ds01-max-runtime --all", median_wall([os.path.join(BINDIR, "ds01-max-runtime"), "--all", "--json"],
                                                   env, args.runs), floor)
        line("ds01-release-stale", median_wall([os.path.join(BINDIR, "ds01-release-stale"), "--json"], env,
                                               args.runs), floor)


if __name__ == "__main__":
    main()
