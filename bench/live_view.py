#!/usr/bin/env python3
"""Bench: ds01d's live view (issue 34). Served reads with the view and without it (DS01_LIVE_VIEW=off: every read
asks the engine), against the docker CLI by root, in one run.

A private dockerd with N containers of a bench account (half running), the example GPU inventory, two ds01d (one
of each kind); medians of R runs as the bench account (switched to in the runner's fork), as ratios to the floor:
`container-list -a --json` and `gpu-status --json` against `docker ps -a --format json`, one bash TAB of
`container-stop`, `image-list --json` against `docker images`, one fresh `ds01-exporter` scrape (its own view, and
off), `container-create` + `container-start` of the account's own image against `docker create` + `docker start`;
then BIG containers in all (the others created, not started) and `container-list -a --json` against `docker ps -a`
again, with how each grew.
Usage: bench/live_view.py [-n 100] [-r 21] [--big 1000]
"""

import os

from benchlib import BINDIR, arguments, docker_cli, ds01_labels, engine, line, median_wall, own_image, workplace
from broker import INVENTORY, TAB, as_user, pair_median, scrape_median

from tests.support import brokers, sandbox

LOGIN = "ds01b_bench"


def make(client, uid, start, stop, running):
    for i in range(start, stop):
        made = client.api.create_container(sandbox.BASE_IMAGE, ["sleep", "infinity"], name=f"bench{i}._.{uid}",
                                           labels=ds01_labels(LOGIN, f"bench{i}"))
        if running(i):
            client.api.start(made["Id"])


def main():
    args = arguments(__doc__, runs=21, more=(("--big", 1000, "containers in all for the second list"),))
    cli = docker_cli()
    entry = sandbox.ensure_user(LOGIN)
    work, logs, policy = workplace(5000)
    with engine() as (host, client):
        uid = entry.pw_uid
        own = own_image(client, entry)
        make(client, uid, 0, args.containers, lambda i: i % 2 == 0)
        settings = {"DOCKER_HOST": host, "DS01_STATE_DIR": os.path.join(work, "state"), "DS01_LOG_DIR": logs,
                    "DS01_GPU_INVENTORY": INVENTORY, "DS01_CONFIG": policy}
        kinds = (("view", brokers.Broker(settings).start()),
                 ("engine", brokers.Broker({**settings, "DS01_LIVE_VIEW": "off"}).start()))
        try:
            root_env = dict(os.environ, **settings, PATH=BINDIR + os.pathsep + os.environ["PATH"])
            envs = {kind: {"PATH": BINDIR + ":/usr/bin:/bin", "HOME": entry.pw_dir, "USER": LOGIN, "LANG": "C.UTF-8",
                           "DS01_SOCKET": broker.socket} for kind, broker in kinds}
            ps = [cli, "ps", "-a", "--format", "{{json .}}"]
            listing = as_user(entry, [os.path.join(BINDIR, "container-list"), "-a", "--json"])
            floor = median_wall(ps, root_env, args.runs)
            print(f"containers: {args.containers}, runs: {args.runs}")
            line("docker ps -a --format json (root)", floor)
            listed = {}
            for kind, _ in kinds:
                listed[kind] = median_wall(listing, envs[kind], args.runs)
                line(f"container-list -a --json, {kind}", listed[kind], floor)
            for kind, _ in kinds:
                line(f"gpu-status --json, {kind}",
                     median_wall(as_user(entry, [os.path.join(BINDIR, "gpu-status"), "--json"]), envs[kind],
                                 args.runs), floor)
            for kind, _ in kinds:
                line(f"bash: container-stop <TAB>, {kind}", median_wall(as_user(entry, ["bash", "-c", TAB]),
                                                                       envs[kind], args.runs))
            images_floor = median_wall([cli, "images", "--format", "{{json .}}"], root_env, args.runs)
            line("docker images --format json (root)", images_floor)
            for kind, _ in kinds:
                line(f"image-list --json, {kind}",
                     median_wall(as_user(entry, [os.path.join(BINDIR, "image-list"), "--json"]), envs[kind],
                                 args.runs), images_floor)
            for kind, off in (("view", {}), ("engine", {"DS01_LIVE_VIEW": "off"})):
                line(f"ds01-exporter scrape, --ttl 0, {kind}", scrape_median({**root_env, **off}, args.runs, work))
            line("true as the account (the runner's own cost)", median_wall(as_user(entry, ["true"]), envs["view"],
                                                                     args.runs))

            def remove(name):
                client.api.remove_container(name, force=True)

            docker_pair = pair_median(args.runs, lambda i: [cli, "create", "--name", f"plain{i}", own, "sleep",
                                                            "infinity"],
                                      lambda i: [cli, "start", f"plain{i}"], root_env, lambda i: remove(f"plain{i}"))
            line("docker create + docker start (root)", docker_pair)
            for kind, _ in kinds:
                ds01_pair = pair_median(
                    args.runs, lambda i: as_user(entry, [os.path.join(BINDIR, "container-create"), f"c{i}", own,
                                                         "--cpu-only"]),
                    lambda i: as_user(entry, [os.path.join(BINDIR, "container-start"), f"c{i}"]), envs[kind],
                    lambda i: remove(f"c{i}._.{uid}"))
                line(f"container-create + start, own image, {kind}", ds01_pair, docker_pair)

            make(client, uid, args.containers, args.big, lambda i: False)
            big_floor = median_wall(ps, root_env, args.runs)
            print(f"containers: {args.big} ({args.containers // 2} running), runs: {args.runs}")
            line("docker ps -a --format json (root)", big_floor)
            print(f"  docker ps grew {big_floor / floor:.2f}x from {args.containers}")
            for kind, _ in kinds:
                big = median_wall(listing, envs[kind], args.runs)
                line(f"container-list -a --json, {kind}", big, big_floor)
                print(f"  grew {big / listed[kind]:.2f}x from {args.containers}")
        finally:
            for _, broker in kinds:
                broker.stop()


if __name__ == "__main__":
    main()
