#!/usr/bin/env python3
"""Bench: `container-list -a --json` through ds01d with its live view (issue 34) and without it
(DS01_LIVE_VIEW=off: every read asks the engine), against `docker ps -a --format json` by root, in one run.

A private dockerd with N containers of a bench account (half running); two ds01d, one of each kind; medians of
R runs of each, as the bench account (setpriv) and as ratios to the floor.
Usage: bench/live_view.py [-n 100] [-r 15]
"""

import os
import tempfile

from benchlib import BINDIR, arguments, docker_cli, ds01_labels, engine, line, median_wall

from tests.support import brokers, sandbox

LOGIN = "ds01b_bench"


def main():
    args = arguments(__doc__)
    cli = docker_cli()
    entry = sandbox.ensure_user(LOGIN)
    work = tempfile.mkdtemp(prefix="ds01-bench-")
    os.chmod(work, 0o755)  # noqa: S103 - ds01d's state and log dirs live here, as /var/lib does
    logs = os.path.join(work, "log")
    os.mkdir(logs)
    with engine() as (host, client):
        uid = entry.pw_uid
        for i in range(args.containers):
            made = client.api.create_container(sandbox.BASE_IMAGE, ["sleep", "infinity"], name=f"bench{i}._.{uid}",
                                               labels=ds01_labels(LOGIN, f"bench{i}"))
            if i % 2 == 0:
                client.api.start(made["Id"])
        settings = {"DOCKER_HOST": host, "DS01_STATE_DIR": os.path.join(work, "state"), "DS01_LOG_DIR": logs}
        started = [brokers.Broker(settings).start(), brokers.Broker({**settings, "DS01_LIVE_VIEW": "off"}).start()]
        try:
            root_env = dict(os.environ, **settings, PATH=BINDIR + os.pathsep + os.environ["PATH"])
            floor = median_wall([cli, "ps", "-a", "--format", "{{json .}}"], root_env, args.runs)
            print(f"containers: {args.containers}, runs: {args.runs}")
            line("docker ps -a --format json (root)", floor)
            command = [os.path.join(BINDIR, "container-list"), "-a", "--json"]
            for label, broker in (("live view", started[0]), ("engine (DS01_LIVE_VIEW=off)", started[1])):
                env = {"PATH": BINDIR + ":/usr/bin:/bin", "HOME": entry.pw_dir, "USER": LOGIN, "LANG": "C.UTF-8",
                       "DS01_SOCKET": broker.socket}
                line(f"container-list -a --json via ds01d, {label}",
                     median_wall(sandbox.as_user_command(entry, command), env, args.runs), floor)
        finally:
            for broker in started:
                broker.stop()


if __name__ == "__main__":
    main()
