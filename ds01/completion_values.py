"""Values for shell completion: `ds01 __complete KIND WORDS...` prints one candidate per line.

Called on every TAB, so it stays small: one engine call for containers or images, no click,
no Docker SDK. Any failure prints nothing (a completion must never print an error).
"""

import functools
import os
import pwd
import sys

from . import projects as P
from .containers import is_listed, owned_by, record
from .dockerapi import DockerAPI
from .errors import Ds01Error
from .runtime import Runtime

# Container states each positional kind offers.
CONTAINER_KINDS = {
    "running": ("running", "paused", "restarting"),
    "stopped": ("created", "exited", "dead", "paused"),
    "inactive": ("created", "exited", "dead"),
    "paused": ("paused",),
    "unpaused": ("running",),
    "containers": None,
}


@functools.cache
def _runtime():
    return Runtime()


def _api():
    return DockerAPI(_runtime().settings.get("docker_host"), timeout=2)


def containers(states):
    from .live_view import reader  # lazy: ds01.live_view, 1 ms

    me = _runtime().caller
    names = []
    for entry in reader(_api()).containers(all=True):  # ds01d's live view, made exact now; else the engine
        if not is_listed(entry):
            continue
        rec = record(entry)
        if owned_by(rec, me) and (states is None or rec["status"] in states):
            names.append(rec["name"])
    return names


def images():
    prefix = f"ds01-{_runtime().caller.uid}/"
    names = set()
    for image in _api().images():
        for tag in image.get("RepoTags") or []:
            if tag.startswith(prefix):
                names.add(tag[len(prefix):].split(":")[0])
    return sorted(names)


def _catalog():
    from .images import catalog  # lazy: ds01.images.catalog, 2 ms

    return catalog.load(_runtime().policy)


def _word_after(words, flags):
    for i, word in enumerate(words[:-1]):
        if word in flags:
            return words[i + 1]
        for flag in flags:
            if flag.startswith("--") and word.startswith(flag + "="):
                return word.split("=", 1)[1]
    return None


def frameworks(words):
    cat = _catalog()
    names = {e.framework for e in cat.entries}
    if words and os.path.basename(words[0]) in ("image-create", "image"):  # image-create's -f takes lower case
        from .images.plan import FIXED_BASES  # lazy: ds01.images.plan, 3 ms

        return sorted({n.lower() for n in names} | set(FIXED_BASES))
    return sorted(names, key=str.lower)


def versions(words):
    cat = _catalog()
    framework = _word_after(words, ("-f", "--framework"))
    if framework is None:  # container-create NAME FRAMEWORK VERSION / mlc-create NAME FRAMEWORK VERSION
        positional = [w for w in words[1:] if not w.startswith("-")]
        framework = positional[-1] if positional else None
    name = cat.framework_name(framework or "")
    return list(dict.fromkeys(e.version for e in cat.entries if e.framework == name))


def archs(words):
    return _catalog().archs()


def profiles(words):
    return _runtime().inventory.profiles()


def gpus(words):
    """GPU indices, for mig-configure."""
    return [str(g.index) for g in _runtime().inventory.gpus]


def users(words):
    """Logins for admin-only USER arguments: the local accounts of people (uid >= 1000)."""
    return sorted(p.pw_name for p in pwd.getpwall() if p.pw_uid >= 1000 and p.pw_uid != 65534)


def projects(words):
    return [p["name"] for p in P.listing(_runtime().caller)]


def images_and_frameworks(words):
    try:
        mine = images()
    except Ds01Error:  # no engine: the catalog still completes
        mine = []
    return mine + frameworks(words)


VALUES = {"images": lambda words: images(), "frameworks": frameworks, "versions": versions, "archs": archs,
          "profiles": profiles, "gpus": gpus, "users": users, "projects": projects,
          "image-or-framework": images_and_frameworks}


def candidates(kind, words):
    if kind in CONTAINER_KINDS:
        return containers(CONTAINER_KINDS[kind])
    return VALUES[kind](words) if kind in VALUES else []


def main(argv):
    if not argv:
        return 0
    try:
        values = candidates(argv[0], argv[1:])
    except Exception:  # noqa: BLE001 - a completion prints nothing rather than an error
        return 0
    sys.stdout.write("".join(f"{v}\n" for v in values))
    return 0
