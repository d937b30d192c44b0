"""container-list: the caller's containers as records, from one engine query."""

from typing import Any

import click

from ..containers import ACTIVE, NARROW_COLUMNS, TABLE_COLUMNS, is_listed, owned_by, record, table
from ..errors import Ds01Error, NotFound, PermissionDenied
from ..gpu.holdings import read_devices, uuids_for
from ..live_view import reader
from ..output import terminal_width
from ..runtime import Runtime
from ._cluster import cluster_option, wants_cluster
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  container-list                      your running containers
  container-list -a | container-stop  stop all of yours
  container-list --all-users --json   every user's (admins)
  container-list --wide               every column whole (user, full image, GPU UUIDs, dates, workspace)
See also: container-create, container-stop, container-remove""")
@click.option("-a", "--all", "all_states", is_flag=True, help="All states, not only running.")
@click.option("--all-users", is_flag=True, help="Every user's containers.")
@click.option("--user", "user", metavar="USER", help="That user's containers.")
@click.option("-d", "--detailed", is_flag=True, help="Add limits and mounts from docker inspect.")
@click.option("--wide", is_flag=True, help="The table with every column, nothing shortened (default: fits the "
                                           "terminal).")
@cluster_option("Your cluster containers (Slurm jobs): node, job, state, reason; 'unknown' while the controller "
                "does not answer")
@output_options
@config_option
def cli(all_states, all_users, user, detailed, wide, cluster, json_flag, table_flag, config):
    """List containers: by default your running ones."""
    rt = Runtime(config, read_only=True)
    if wants_cluster(rt, cluster):
        return _cluster_list(rt, all_users, json_flag, table_flag)

    if (all_users or user) and not rt.admin:
        raise PermissionDenied("only admins can list other users' containers",
                               hint="container-list -a shows all of yours")
    if detailed:
        columns = DETAILED_COLUMNS
    elif wide:
        columns = TABLE_COLUMNS
    else:
        columns = NARROW_COLUMNS[:1] + [("user", "USER")] + NARROW_COLUMNS[1:] if all_users or user else NARROW_COLUMNS
    out = new_output(json_flag, table_flag, columns)
    out.renderer = lambda rows: table(rows, columns, wide, terminal_width(out.stream), rt.caller.uid)
    out.emit_all(_records(rt, all_users, all_states, user, detailed))
    out.close(empty="no containers" + ("" if all_states else " running (container-list -a shows all states)"))


def _records(rt, all_users, all_states, user, detailed):
    gpus = GpuLookup(rt)
    api = reader(rt.api)  # ds01d's live view, made exact now (ds01/live_view.py); else the engine
    for entry in api.containers(all=True):
        if not all_states and entry.get("State") not in ACTIVE:
            continue
        if not is_listed(entry):
            continue
        rec = record(entry)
        if user:
            if rec["user"] != user:
                continue
        elif not all_users and not owned_by(rec, rt.caller):
            continue
        try:  # the GPUs as gpu-status reads them: ds01's own labels, else the device requests
            devices, info = read_devices(api, entry)
        except NotFound:  # removed since the listing
            continue
        rec["gpus"] = gpus.uuids(devices) if info is not None else devices
        yield {**rec, **_details(info or api.inspect_container(entry["Id"]))} if detailed else rec


def _cluster_list(rt, all_users, json_flag, table_flag):
    from ..cluster.containers import CLUSTER_COLUMNS, list_records  # lazy: ds01.cluster.containers, 7 ms

    out = new_output(json_flag, table_flag, CLUSTER_COLUMNS)
    for rec in list_records(rt, all_users):
        out.emit(rec)
    out.close(empty="no cluster containers")


DETAILED_COLUMNS = [("name", "NAME"), ("status", "STATUS"), ("gpus", "GPUS"), ("profile", "PROFILE")]


class GpuLookup:
    """A container's devices as UUIDs of the slots they cover (what gpu-status counts: AIME's `-g all` is
    every slot), the inventory read once and only if needed."""

    def __init__(self, rt):
        self.rt, self._slots = rt, None

    def uuids(self, devices):
        if not devices:
            return []
        if self._slots is None:
            try:
                self._slots = self.rt.inventory.slots()
            except Ds01Error:
                self._slots = []
        return uuids_for(devices, self._slots)


def _details(info: dict[str, Any]) -> dict[str, Any]:
    from ..mount_pins import sources  # lazy: ds01.mount_pins, 8 ms

    host = info.get("HostConfig") or {}
    mounts = info.get("Mounts") or []
    return {
        "user_id": (info.get("Config") or {}).get("User") or "0:0",
        "capabilities": _capabilities(host),
        "no_new_privileges": _no_new_privileges(host),
        "privileged": bool(host.get("Privileged")),
        "profile": _profile(info, host, mounts),
        "cpus": (host.get("NanoCpus") or 0) / 1e9 or None,
        "memory": host.get("Memory") or None,
        "shm_size": host.get("ShmSize") or None,
        "pids_limit": host.get("PidsLimit") or None,
        "cgroup_parent": host.get("CgroupParent") or None,
        "mounts": {**{m["Destination"]: m["Source"] for m in mounts}, **sources(info)},
        "gpu_devices": [d for r in host.get("DeviceRequests") or [] for d in (r.get("DeviceIDs") or [])],
    }


def _capabilities(host):
    """The capabilities the container's processes can have: [] with --cap-drop=ALL, else Docker's defaults
    ("default") plus what was added."""
    dropped = {c.upper().removeprefix("CAP_") for c in host.get("CapDrop") or []}
    added = sorted(c.upper().removeprefix("CAP_") for c in host.get("CapAdd") or [])
    if host.get("Privileged"):
        return ["ALL"]
    return added if "ALL" in dropped else ["default", *added]


def _no_new_privileges(host):
    return any(o.startswith("no-new-privileges") and not o.endswith(":false") for o in host.get("SecurityOpt") or [])


def _profile(info, host, mounts):
    """One line for people: who the container runs as, what it may gain, what it sees of the host."""
    from ..mount_pins import sources  # lazy: ds01.mount_pins, 8 ms

    user = (info.get("Config") or {}).get("User") or "0:0 (root)"
    caps = _capabilities(host)
    nnp = _no_new_privileges(host)
    sudo = "off" if nnp or any(m.get("Destination") == "/usr/local/bin/sudo" for m in mounts) else "on"
    known = sources(info)
    shown = ", ".join(f"{m['Destination']}={known.get(m['Destination'], m['Source'])} "
                      f"({'rw' if m.get('RW') else 'ro'})"
                      for m in mounts if m.get("Destination") != "/usr/local/bin/sudo")
    return (f"uid {user}, caps: {'+'.join(caps) if caps else 'none'}, "
            f"no-new-privileges: {'yes' if nnp else 'no'}, sudo: {sudo}, mounts: {shown or 'none'}")


def main():
    run(cli)
