"""The ideas ds01's commands touch, explained once: `--concepts`, `--info` and `--guided` show them for the
command at hand (each command names its concepts in the command table, ds01/registry.py).

DS01 taught these before a student ran anything; the texts here say what ds01 itself does."""

import textwrap
from collections.abc import Iterable

# name -> (title, text). Plain sentences, one paragraph each; wrapped when shown.
CONCEPTS = {
    "image": (
        "Image vs container",
        "An image is a read-only template: an operating system, CUDA and a framework, plus your packages. "
        "Yours are named ds01-<uid>/NAME:latest and are built from ~/workspace/NAME/Dockerfile "
        "(image-create, image-update). A container is one running copy of an image; many containers can "
        "come from one image. Packages you install inside a container are lost when it is removed: put them "
        "in the image (image-update NAME --add PKG) to keep them."),
    "container": (
        "Container",
        "A container is your own isolated machine on the server, made from an image. It is created "
        "(container-create), started (container-start, or container-run for a shell), stopped and removed "
        "(container-retire does both and frees the GPU). You call it NAME; on the host its full name is "
        "NAME._.<uid>, so AIME's mlc commands see it too. Only you (and admins) can see or enter it."),
    "workspace": (
        "Workspace",
        "Your files live on the host in ~/workspace/NAME and appear inside the container at /workspace "
        "(-w/--workspace chooses another directory of yours). They survive stopping, removing and "
        "recreating the container: keep code, data and results there. -d/--data and -m/--models mount "
        "further directories of yours at /data and /models. Anything written elsewhere in the container "
        "goes when the container goes."),
    "gpu-slot": (
        "GPU slot",
        "A GPU slot is what one container holds: a whole GPU or one MIG slice of a GPU. container-create "
        "asks for one slot by default (--num-gpus N for more, --gpu-profile for a slice size, --full-gpu for "
        "whole GPUs only, --cpu-only for none). The slot is yours from create until the container is removed, "
        "or until the hold time after a stop runs out; gpu-status shows every slot and who holds it."),
    "mig": (
        "MIG (Multi-Instance GPU)",
        "MIG splits one A100/H100-class GPU into isolated slices, each with its own memory and compute, "
        "named by profile (1g.10gb, 3g.40gb, ...). A slice counts as a fraction of a GPU against your quota. "
        "The layout of each GPU is the admins' choice (the policy's gpu.mig_layout, applied by "
        "mig-configure); gpu-inventory lists the slices this host has."),
    "limits": (
        "Limits and quota",
        "Every container gets your group's limits from the lab's policy: CPUs, memory, /dev/shm and "
        "processes per container; on top, how many containers you may have (stopped ones count) and how "
        "many GPU-equivalents you may hold at once (a full GPU is 1, a MIG slice a fraction). A request "
        "over a limit is refused before anything changes (exit 3). check-limits shows your limits next to "
        "what you use now."),
    "lifecycle": (
        "Lifecycle: idle, runtime and holds",
        "Cron jobs keep GPUs moving: a GPU container idle for your idle timeout is warned, then stopped; a "
        "container running longer than your maximum runtime is stopped; a stopped container keeps its GPU "
        "for the GPU hold time, then is removed after the container hold time (your workspace stays). "
        "check-limits shows your timers; ds01-events shows what happened."),
    "cpu-only": (
        "CPU-only containers",
        "--cpu-only makes a container that sees no GPU at all (NVIDIA_VISIBLE_DEVICES=void): it holds no "
        "slot, counts nothing against your GPU quota and is not stopped for GPU idleness. Use it for "
        "preparing data, writing code or anything that does not need CUDA."),
    "catalog": (
        "Frameworks and the AIME catalog",
        "A FRAMEWORK name (pytorch, tensorflow) with an optional VERSION picks a ready-made image from "
        "AIME's catalog for this host's GPU architecture (image-catalog lists them). image-create builds "
        "your own image FROM one of them, adding Jupyter, data-science and use-case packages."),
    "dockerfile": (
        "Dockerfile",
        "A Dockerfile is the recipe of an image: a base (FROM) and the steps that add packages. ds01 writes "
        "yours to ~/workspace/NAME/Dockerfile, in phases (Jupyter, data science, use case, your packages); "
        "image-update edits and rebuilds it. Builds run for you through ds01d: you need no Docker access."),
    "project": (
        "Project",
        "A project is a directory ~/workspace/NAME with its code, requirements.txt, pyproject.toml, a "
        "Dockerfile and (by default) git. project-init makes it; project-launch builds its image "
        "ds01-<uid>/NAME:latest when needed and deploys a container that mounts the project at /workspace."),
    "session": (
        "Sessions",
        "container-run NAME gives you a shell (or runs one command) in the container, starting it if "
        "needed; container-attach enters one that is already running. When the last session of an "
        "otherwise idle container ends, ds01 stops the container (its GPU hold then starts); --keep keeps it "
        "running. Processes you started in the background keep it running."),
    "pause": (
        "Pause",
        "container-pause freezes every process of a container; container-unpause resumes them. A paused "
        "container still holds its GPU slot and its memory, so pause only for short breaks; the policy may "
        "stop a container paused for too long."),
    "claim": (
        "GPU claims and the queue",
        "gpu-allocate claims slots before a container exists (plumbing: pipe it into container-create, "
        "or pass --claim ID); an unused claim expires. With --wait, a request that finds no free slot joins "
        "the queue (priority, then arrival) instead of failing; gpu-queue shows it."),
    "records": (
        "Records and pipes",
        "Every command prints records: a table on a terminal, one JSON object per line when piped (--json "
        "and --table force one). Commands that act on containers or images read those records on stdin, so "
        "they compose: container-list | container-stop. With no NAME on a terminal, they offer a numbered "
        "pick list; without a terminal they never wait for input."),
    "aime": (
        "AIME MLC compatibility",
        "The mlc-* commands take AIME MLC's syntax and print its tables, with ds01's checks and limits. "
        "Containers made either way carry AIME's labels, so AIME's own mlc tools and ds01's commands can "
        "list, open, stop and remove the same containers."),
    "ds01d": (
        "ds01d",
        "No user has Docker access: every command reaches Docker through ds01d, a root service that learns "
        "who is calling from the kernel, runs the command with that user's own file rights and the lab's "
        "policy, and ignores the caller's environment. That is why you can only see and touch your own "
        "containers, images and files."),
    "policy": (
        "The policy",
        "One YAML file (/etc/ds01/resource-limits.yaml) holds the lab's defaults, groups, user overrides, "
        "GPU layout and lifecycle timers. Admins edit it; resource-limits shows what it resolves to for a "
        "user, and ds01-doctor checks the host against it."),
    "events": (
        "Events",
        "Each change ds01 makes (a create, a stop, a GPU given or taken back, a warning) is one line in "
        "the event log; ds01-events shows yours, filtered by type, container and time."),
}


def known(names):
    """The names among `names` that have a text (a test keeps the command table's names all known)."""
    return [name for name in names if name in CONCEPTS]


def render(names: "Iterable[str]", width: int = 78) -> str:
    """The texts of `names`, titled and wrapped for a terminal (plain text: also fine piped)."""
    blocks = []
    for name in known(names):
        title, text = CONCEPTS[name]
        blocks.append(f"{title}\n" + textwrap.fill(text, width=width, initial_indent="  ", subsequent_indent="  "))
    return "\n\n".join(blocks)
