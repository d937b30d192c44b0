"""Protection: an admin's decision that no lifecycle job stops, removes or frees a container.

It lives in ds01's root-only state dir (`protected.json`, by container ID), written by
`ds01-protect`, which only admins may run. An image, a Dockerfile or a create can never
set it: the protection labels DS01 and AIME used (`aime.mlc.DS01_PROTECTED`, `ds01.protected`)
count only on containers ds01 did not make, which only someone with the Docker socket (root's
equal) can label; on ds01's own containers the create writes them empty.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import Runtime

FILE = "protected.json"


def _state(rt: "Runtime") -> Any:
    from .gpu.state import State  # lazy: ds01.gpu.state, 9 ms

    return State.of(rt)


def load(rt: "Runtime") -> dict[str, Any]:
    """{container ID: {container, user, by, at, reason}} of the protected containers."""
    found = _state(rt).read(FILE, {})
    return {cid: entry for cid, entry in found.items() if isinstance(entry, dict)}


def change(rt: "Runtime", rec: Mapping[str, Any], on: bool, reason: str | None) -> dict[str, Any]:
    """Protect `rec`'s container (or, `on` False, end its protection); returns its protection record. Entries of
    containers that are gone are dropped on the way."""
    info = rt.api.inspect_container(rec["id"])
    state = _state(rt)
    with state.lock():
        protections = state.read(FILE, {})
        live = {c["Id"] for c in rt.api.containers(all=True)}
        protections = {cid: entry for cid, entry in protections.items() if cid in live}
        if on:
            protections[info["Id"]] = {"container": rec["container"], "user": rec["user"], "by": rt.caller.login,
                                       "at": rt.now_iso(), "reason": reason or ""}
        else:
            protections.pop(info["Id"], None)
        state.write(FILE, protections)
    return record(rec, protections.get(info["Id"]))


def record(rec: Mapping[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
    return {"container": rec["container"], "name": rec["name"], "user": rec["user"], "protected": entry is not None,
            "by": (entry or {}).get("by"), "at": (entry or {}).get("at"), "reason": (entry or {}).get("reason")}
