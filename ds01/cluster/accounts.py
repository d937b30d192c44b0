"""Slurm's accounting database made to match the policy: QOS per group, accounts, users' associations.

`plan` compares what `sacctmgr show -P` reports with what the policy asks and returns only the commands
that change something, so a second --apply runs none. Nothing is removed: a user who left a group keeps
the old association until the admin removes it (their running jobs may still use it).
"""

import re
import subprocess
from typing import Any

from ..errors import Ds01Error
from .fragments import qos_settings, tres_text, user_add
from .model import Cluster

SACCTMGR = "sacctmgr"


def sacctmgr(*args: str) -> str:
    """Run sacctmgr (as the caller: root) and return its output; a failure is an error naming it."""
    try:
        result = subprocess.run([SACCTMGR, *args], capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise Ds01Error("sacctmgr is not installed", hint="apt-get install slurm-client (on the head node)") from None
    except subprocess.TimeoutExpired:
        raise Ds01Error("sacctmgr did not answer in 60 s",
                        hint="is slurmdbd running? ds01-slurm-generate (without --apply) still writes the files") \
            from None
    if result.returncode != 0:
        raise Ds01Error(f"sacctmgr {' '.join(args[:3])} failed: {(result.stderr or result.stdout).strip()}",
                        hint="sacctmgr show cluster must list this cluster (sacctmgr add cluster NAME)")
    return result.stdout


def _rows(text: str, fields: list[str]) -> list[dict[str, str]]:
    return [dict(zip(fields, line.split("|"))) for line in text.splitlines() if line.strip()]


def parse_tres(text: str) -> dict[str, int]:
    found = {}
    for item in filter(None, (text or "").split(",")):
        key, _, value = item.partition("=")
        found[key] = int(value)
    return found


def parse_minutes(text: str) -> int | None:
    """Slurm's time ([D-]HH:MM:SS, MM:SS or minutes) in minutes; empty = no limit."""
    if not text:
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in re.split(r":", clock)]
    if len(parts) == 1:
        minutes = parts[0]
    else:
        while len(parts) < 3:
            parts.insert(0, 0)
        minutes = parts[0] * 60 + parts[1] + (1 if parts[2] else 0)
    return minutes + (int(days) * 1440 if days else 0)


def _set_tres(wanted: dict[str, int], current: dict[str, int]) -> str:
    """A TRES setting that makes `current` equal `wanted` (keys no longer wanted cleared with -1)."""
    return tres_text({**{k: -1 for k in current if k not in wanted}, **wanted})


def plan(cluster: Cluster) -> list[list[str]]:
    """The sacctmgr commands (without `-i`) that make the database say what the policy says."""
    qos_fields = ["name", "description", "maxtrespu", "maxtres", "maxwall", "priority", "flags"]
    qos_now = {r["name"]: r for r in _rows(sacctmgr("-nP", "show", "qos", "format=" + ",".join(qos_fields)),
                                           qos_fields)}
    accounts = {r["account"] for r in _rows(sacctmgr("-nP", "show", "account", "format=account"), ["account"])}
    assoc_fields = ["account", "user", "qos", "defaultqos"]
    assocs = {(r["account"], r["user"]): r for r in _rows(sacctmgr("-nP", "show", "assoc",
                                                                   "format=" + ",".join(assoc_fields)),
                                                           assoc_fields) if r["user"]}
    defaults = {r["user"]: r["account"] for r in _rows(sacctmgr("-nP", "show", "user", "format=user,defaultaccount"),
                                                         ["user", "account"])}
    commands: list[list[str]] = []
    for qos in cluster.qos:
        now = qos_now.get(qos.name)
        if now is None:
            commands.append(["add", "qos", qos.name])
            commands.append(["modify", "qos", "where", f"name={qos.name}", "set", *qos_settings(qos)])
            continue
        changes = []
        if now["description"].lower() != qos.description.lower():  # Slurm keeps it lower-cased
            changes.append(f"Description={qos.description}")
        if parse_tres(now["maxtrespu"]) != qos.max_tres_per_user:
            changes.append(f"MaxTRESPerUser={_set_tres(qos.max_tres_per_user, parse_tres(now['maxtrespu']))}")
        if parse_tres(now["maxtres"]) != qos.max_tres_per_job:
            changes.append(f"MaxTRESPerJob={_set_tres(qos.max_tres_per_job, parse_tres(now['maxtres']))}")
        if parse_minutes(now["maxwall"]) != qos.max_wall_minutes:
            changes.append(f"MaxWall={qos.max_wall_minutes if qos.max_wall_minutes is not None else -1}")
        if int(now["priority"] or 0) != qos.priority:
            changes.append(f"Priority={qos.priority}")
        if "DenyOnLimit" not in now["flags"].split(","):
            changes.append("Flags+=DenyOnLimit")
        if changes:
            commands.append(["modify", "qos", "where", f"name={qos.name}", "set", *changes])
    for qos in cluster.qos:
        if qos.name not in accounts:
            commands.append(["add", "account", qos.name, f"Description=ds01 group {qos.name}", "Organization=ds01"])
        for user in qos.members:
            assoc = assocs.get((qos.name, user))
            if assoc is None:
                commands.append(user_add(user, qos.name))
                continue
            if assoc["qos"] != qos.name or assoc["defaultqos"] != qos.name:
                commands.append(["modify", "user", "where", f"name={user}", f"account={qos.name}", "set",
                                 f"QOS={qos.name}", f"DefaultQOS={qos.name}"])
            if defaults.get(user) != qos.name:
                commands.append(["modify", "user", "where", f"name={user}", "set", f"DefaultAccount={qos.name}"])
    return commands


def apply(cluster: Cluster) -> list[dict[str, Any]]:
    """Run the planned commands with `sacctmgr -i`; one record per command run (none: nothing changed)."""
    records = []
    for command in plan(cluster):
        sacctmgr("-i", *command)
        records.append({"sacctmgr": " ".join(command)})
    return records
