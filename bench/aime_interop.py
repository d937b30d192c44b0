#!/usr/bin/env python3
"""Bench: what ds01 costs containers AIME made, against the Docker CLI in the same run.

1. Stopping one (PID 1 an interactive bash, no stop signal of its own): `docker stop` (the
   floor AIME's `mlc stop` uses: SIGTERM, ignored, then SIGKILL after 10 s) against
   `container-stop` (SIGHUP, which that shell ends on).
2. The CPU a notice costs the container: a `docker exec` that appends the text (what ds01 did
   before) against `ds01-notify --container` (written from outside). Read from the engine's CPU
   counter of the container, per notice, over R notices each.
Runs as root in a private dockerd. Usage: bench/aime_interop.py [-r 5]
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import BINDIR, arguments, docker_cli, engine, line, timed

from tests.support import sandbox

NAME = "aimebox"


def aime_container(client, workspace):
    labels = {"aime.mlc": "root", "aime.mlc.NAME": NAME, "aime.mlc.USER": "root", "aime.mlc.MLC_VERSION": "4"}
    created = client.api.create_container(
        sandbox.BASE_IMAGE, ["bash", "-c", "true; bash"], name=f"{NAME}._.0", labels=labels, tty=True,
        stdin_open=True, working_dir="/workspace",
        host_config=client.api.create_host_config(binds={workspace: {"bind": "/workspace", "mode": "rw"}}))
    return created["Id"]


def cpu_ns(client, cid):
    return client.api.stats(cid, stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]["total_usage"]


def cpu_per_notice(client, cid, deliver, runs):
    """Median CPU nanoseconds the container used across one delivery."""
    used = []
    for _ in range(runs):
        before = cpu_ns(client, cid)
        deliver()
        time.sleep(0.2)  # the engine's counter is read from the cgroup; let the exec's exit settle
        used.append(cpu_ns(client, cid) - before)
    return statistics.median(used)


def main():
    args = arguments(__doc__, count=None, runs=5)
    if os.geteuid() != 0:
        sys.exit("bench: runs as root (the private dockerd)")
    cli = docker_cli()
    with engine() as (host, client), tempfile.TemporaryDirectory() as state:
        env = dict(os.environ, DOCKER_HOST=host, DS01_STATE_DIR=state, DS01_LOG_DIR=state, DS01_CONFIG="/dev/null",
                   DS01_UTMP="/dev/null")
        workspace = os.path.join(state, "ws")
        os.mkdir(workspace)
        cid = aime_container(client, workspace)
        floor, ours = [], []
        for _ in range(args.runs):
            client.api.start(cid)
            floor.append(timed([cli, "stop", cid], env)[0])
            client.api.start(cid)
            ours.append(timed([os.path.join(BINDIR, "container-stop"), NAME, "--json"], env)[0])
        print(f"stopping a container AIME made, runs: {args.runs}")
        line("docker stop", statistics.median(floor))
        line("container-stop", statistics.median(ours), statistics.median(floor))
        client.api.start(cid)
        script = 'printf "%s\\n" "$1" >> /workspace/.ds01-alerts'

        def by_exec():
            subprocess.run([cli, "exec", cid, "sh", "-c", script, "notice", "a notice"], env=env, check=True)

        def by_ds01():
            timed([os.path.join(BINDIR, "ds01-notify"), "root", "a notice", "--container", NAME, "--json"], env)

        quiet = cpu_per_notice(client, cid, lambda: None, args.runs)
        exec_cost = cpu_per_notice(client, cid, by_exec, args.runs)
        ds01_cost = cpu_per_notice(client, cid, by_ds01, args.runs)
        print(f"CPU the container spends per notice (median of {args.runs}):")
        print(f"{'nothing sent (baseline)':<34}: {quiet / 1e6:7.2f} ms")
        print(f"{'docker exec (before)':<34}: {exec_cost / 1e6:7.2f} ms")
        print(f"{'ds01-notify --container (now)':<34}: {ds01_cost / 1e6:7.2f} ms")
        client.api.remove_container(cid, force=True)


if __name__ == "__main__":
    main()
