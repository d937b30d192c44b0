#!/usr/bin/env python3
"""Bench: `image-list --json` against `docker images --format '{{json .}}'`,
and `image-catalog` against `python -c pass`.

N user images (tags of the base image, each labelled as image-create labels it) and N containers
using them, in a private dockerd (tests/support/sandbox.py); medians and ratios from the same run.
Usage: bench/images.py [-n 50] [-r 15]
"""

import os
import sys

from benchlib import BINDIR, arguments, docker_cli, ds01_labels, engine, line, median_wall

from ds01.images import context_tar
from tests.support import sandbox


def main():
    args = arguments(__doc__, count=("images", 50))
    cli = docker_cli()
    with engine() as (host, client):
        uid, login = os.getuid(), os.environ.get("USER", "root")
        for i in range(args.images):
            # A one-layer build per image, so each has its own id and labels (as image-create makes them).
            text = (f"FROM {sandbox.BASE_IMAGE}\nLABEL aime.mlc.MAINTAINER={login} aime.mlc.FRAMEWORK=Pytorch-2.7.1 "
                    f"aime.mlc.DS01_USER_ID={uid} bench.index={i}\n")
            client.images.build(fileobj=context_tar({"Dockerfile": (text, 0o644)}), custom_context=True,
                                tag=f"ds01-{uid}/img{i}:latest")
            client.api.create_container(f"ds01-{uid}/img{i}:latest", ["bash"], name=f"img{i}._.{uid}",
                                        labels=ds01_labels(login, f"img{i}"))
        env = dict(os.environ, DOCKER_HOST=host)
        floor = median_wall([cli, "images", "--format", "{{json .}}"], env, args.runs)
        print(f"images: {args.images} (+{args.images} containers), runs: {args.runs}")
        line("docker images --format json", floor)
        line("image-list --json", median_wall([os.path.join(BINDIR, "image-list"), "--json"], env, args.runs), floor)
        line("image-catalog --json --arch CUDA_ADA",
             median_wall([os.path.join(BINDIR, "image-catalog"), "--json", "--arch", "CUDA_ADA"], env, args.runs),
             floor)
        line("python -c pass", median_wall([sys.executable, "-c", "pass"], env, args.runs), floor)


if __name__ == "__main__":
    main()
