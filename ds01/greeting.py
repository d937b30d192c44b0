"""The login greeting: one line per user with something to say (their containers, GPU share, a warning), written
ahead of time so that a login only reads a file.

`ds01-greetings` (cron, every few minutes, root) takes one container list, the allocator's
snapshot and the event log's tail, and writes `<greeting_dir>/<uid>` (the user's own, 0400, in a
directory only root writes) for each user with running or stopped containers or held GPUs, and
removes everyone else's. The
profile snippet prints the caller's file on interactive logins: a `cat`, not a Python start, so
the login pays about a millisecond. Turned off by a user with `DS01_GREETING=off` (or
`~/.config/ds01/no-greeting`), for everyone by `greeting: {enabled: false}` in the policy.
"""

import os
from typing import TYPE_CHECKING, Any

from . import events as log
from .atomic import replace_file
from .privilege import root_files
from .visible import visible

if TYPE_CHECKING:
    from .runtime import Runtime


def lines(rt: "Runtime") -> dict[str, tuple[int, str]]:
    """{login: (uid, line)} for every user with something to say."""
    from . import clock  # lazy: ds01.clock, 0.5 ms
    from .containers import is_listed, record  # lazy: ds01.containers, 1 ms
    from .gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 16 ms

    snap = Allocator(rt).snapshot()
    records = [record(e) for e in rt.api.containers(all=True) if is_listed(e)]
    now = rt.now().timestamp()
    warned: dict[str, str] = {}
    recent = log.tail(os.path.join(rt.settings.get("log_dir"), log.FILE_NAME), 200,
                      lambda e: e.get("event_type") == "lifecycle.warn")
    running = {r["container"] for r in records if r["status"] == "running"}
    for event in recent:
        details = event.get("details") or {}
        container = details.get("container")
        try:
            moment = clock.parse_moment(event.get("timestamp") or "").timestamp()
        except ValueError:
            continue
        if container in running and now - moment < 86400 and event.get("user"):
            what = "idle" if details.get("kind") == "idle" else "past its running time"
            stop = f", stops at {details['stop_at']}" if details.get("stop_at") else ""
            name = details.get("name") or str(container).split("._.")[0]
            warned[event["user"]] = f"warning: {name} is {what}{stop}"
    out = {}
    users = {r["user"] for r in records if r["user"]} | {h.user for h in snap.holdings if h.user}
    for user in sorted(users):
        mine = [r for r in records if r["user"] == user]
        uid = next((r["uid"] for r in mine if r["uid"] is not None), None)
        from .identity import lookup  # lazy: ds01.identity, 1 ms

        entry = lookup(user)
        if entry is None or (uid is not None and entry.uid != uid):
            continue  # a deleted account (or one whose uid now belongs to someone else): no greeting file
        uid = entry.uid
        up = sum(1 for r in mine if r["status"] == "running")
        used, slots = snap.usage(user)[:2]
        quota = rt.limits(user)["max_gpu_equivalents"]
        parts = [f"{up} running, {len(mine) - up} stopped" if mine else "no containers"]
        if slots:
            parts.append(f"GPU {','.join(slots)} ({round(used, 4):g}{'' if quota is None else f' of {quota:g}'} "
                         "GPU-eq)")
        if user in warned:
            parts.append(warned[user])
        out[user] = (uid, "ds01: " + "; ".join(parts) + "  (container-list, gpu-user-status)")
    return out


def write(rt: "Runtime", directory: str, enabled: bool = True) -> list[dict[str, Any]]:
    """Write each user's greeting, remove the others'; one record per greeting that changed or went."""
    found = lines(rt) if enabled else {}
    done = []
    with root_files():
        os.makedirs(directory, mode=0o755, exist_ok=True)
        keep = set()
        for user, (uid, line) in found.items():
            path = os.path.join(directory, str(uid))
            keep.add(str(uid))
            try:
                with open(path, encoding="utf-8") as handle:
                    if handle.read() == visible(line) + "\n":
                        continue  # unchanged: nothing written, nothing said
            except OSError:
                pass
            replace_file(path, (visible(line) + "\n").encode(), 0o400, owner=uid)  # the user's alone to read
            done.append({"user": user, "uid": uid, "line": line, "written": True})
        for name in os.listdir(directory):
            if name.isdigit() and name not in keep:
                os.unlink(os.path.join(directory, name))
                done.append({"uid": int(name), "written": False})
    return done
