#!/usr/bin/env python3
"""Bench: one TAB in bash (`container-stop <TAB>`, dynamic) with N containers, against `docker ps -a`.

The target is an absolute one: a completion must answer within 150 ms. Medians from the same run.
Usage: bench/completion.py [-n 100] [-r 15]
"""

import os

from benchlib import BINDIR, arguments, docker_cli, ds01_labels, engine, line, median_wall

from tests.support import sandbox

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAB = f"""source {REPO}/completions/ds01.bash
COMP_WORDS=(container-stop ""); COMP_CWORD=1
_ds01_complete
[ "${{#COMPREPLY[@]}}" -gt 0 ]
"""


def main():
    args = arguments(__doc__)
    cli = docker_cli()
    with engine() as (host, client):
        uid, login = os.getuid(), os.environ.get("USER", "root")
        for i in range(args.containers):
            created = client.api.create_container(sandbox.BASE_IMAGE, ["sleep", "infinity"], name=f"bench{i}._.{uid}",
                                                  labels=ds01_labels(login, f"bench{i}"))
            if i % 2 == 0:
                client.api.start(created["Id"])
        env = dict(os.environ, DOCKER_HOST=host, PATH=BINDIR + os.pathsep + os.environ["PATH"])
        floor = median_wall([cli, "ps", "-a", "--format", "{{json .}}"], env, args.runs)
        print(f"containers: {args.containers} (half running), runs: {args.runs}")
        line("docker ps -a --format json", floor)
        tab = median_wall(["bash", "-c", TAB], env, args.runs)
        line("bash: container-stop <TAB>", tab, floor)
        line("ds01 __complete running", median_wall(["ds01", "__complete", "running"], env, args.runs), floor)
        print(f"TAB answered in {tab * 1000:.0f} ms (target: under 150 ms): {'ok' if tab < 0.150 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
