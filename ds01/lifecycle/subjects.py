"""What a lifecycle job looks at: each container once, as a Subject, with its interface and its timers.

A Subject is one container's facts for a run (owner, interface, GPU devices and slots, the
owner's limits, start and finish times). The interface says how it was made, in DS01's order of
rules; it picks the timers: ds01's and AIME's own containers use their owner's limits, others the
policy's `container_types` section, else INTERFACE_TIMERS.
"""

import datetime
import re
from dataclasses import dataclass, field

from .. import labels as L
from ..clock import parse_docker
from ..containers import ContainerRecord, is_listed, record
from ..errors import NotFound
from ..policy import INTERFACE_TIMERS, OWN_INTERFACES

COMPOSE_NAME = re.compile(r"_\d+$")


def interface_of(labels, tracked, name=""):
    """atomic / orchestration (ds01, AIME), devcontainer, compose, jupyter, api, docker, or unknown.

    In DS01's order: a creation-interface label wins; then `ds01.managed=true` or a ds01/DS01/AIME
    container (labels or a `name._.uid` name) is atomic; then VS Code (`vscode-*` names, a
    `devcontainer` label key), compose (its project label, `*_N` names), JupyterHub (`jupyter-*`,
    `jupyterhub-*`, the `hub.jupyter.org/username` label); anything else is docker.
    """
    interface = L.first(labels, L.INTERFACE, L.DS01_INTERFACE, L.DS01_CONTAINER_TYPE)
    if interface:
        interface = str(interface).lower()
        return "devcontainer" if interface == "vscode" else interface
    if tracked or str(labels.get(L.DS01_MANAGED, "")).lower() == "true":
        return "atomic"
    if name.startswith("vscode-") or any(key == "devcontainer" or key.startswith("devcontainer.") for key in labels):
        return "devcontainer"
    if "com.docker.compose.project" in labels or COMPOSE_NAME.search(name):
        return "compose"
    if name.startswith(("jupyter-", "jupyterhub-")) or "hub.jupyter.org/username" in labels:
        return "jupyter"
    return "docker"


@dataclass
class Subject:
    """One container as a job sees it."""

    info: dict
    rec: ContainerRecord
    interface: str  # how it was made: atomic, orchestration, devcontainer, compose, jupyter, docker, …
    devices: list
    slots: list
    limits: object
    started: datetime.datetime | None
    finished: datetime.datetime | None
    created: datetime.datetime | None
    tracked: bool                 # made by ds01, DS01 or AIME (labels or `name._.uid`): the only ones jobs remove
    aime: bool = False            # made by AIME's own mlc: kept unless policies.aime_containers is `ds01`
    state: dict = field(default_factory=dict)  # this job's memory of it

    @property
    def id(self):
        return self.info["Id"]

    @property
    def labels(self):
        return (self.info.get("Config") or {}).get("Labels") or {}

    @property
    def status(self):
        return self.info["State"].get("Status")

    @property
    def user(self):
        return self.rec["user"]

    def workspace(self):
        """The host directory mounted at /workspace, or None: the mount itself, not the label (labels are
        whatever the container's creator wrote)."""
        from ..workspace_files import bind_source  # lazy: ds01.workspace_files, 3 ms

        return bind_source(self.info)


def made_by_aime(labels):
    """True for a container AIME's own `mlc create` made: AIME's labels without ds01's (`aime.mlc.DS01_MANAGED`,
    which every ds01 create sets) or DS01's (`ds01.user`, `ds01.managed`, which DS01's wrapper added)."""
    aime = L.OWNER in labels or L.USER in labels or L.AIME_USERNAME in labels
    ours = labels.get(L.MANAGED) == "true" or L.DS01_USER in labels or L.DS01_MANAGED in labels
    return aime and not ours


def keeps_aime(subject):
    """The job leaves this AIME-made container in place (policies.aime_containers: keep, its owner's policy)."""
    return subject.aime and subject.limits.policies.get("aime_containers", "keep") == "keep"


def read(rt, slots):
    """Every container, inspected once: owner, interface, devices, GPU slots (of `slots`), the owner's limits."""
    from ..gpu.holdings import devices_from_inspect, slots_for  # lazy: ds01.gpu.holdings, 0.5 ms

    result = []
    for entry in rt.api.containers(all=True):
        try:
            info = rt.api.inspect_container(entry["Id"])
        except NotFound:
            continue
        rec = record(info)
        labels = (info.get("Config") or {}).get("Labels") or {}
        tracked = is_listed({"Labels": labels, "Names": [info["Name"]]})
        kind = interface_of(labels, tracked, info["Name"].lstrip("/"))
        if kind == "docker" and not rec["user"]:
            kind = "unknown"  # nobody to tell, no owner's limits: DS01's strictest timers
        devices = devices_from_inspect(info)
        state = info.get("State") or {}
        result.append(Subject(
            info=info, rec=rec, interface=kind, devices=devices, slots=slots_for(devices, slots),
            limits=rt.policy.resolve(rec["user"] or ""),
            started=parse_docker(state.get("StartedAt")), finished=parse_docker(state.get("FinishedAt")),
            created=parse_docker(info.get("Created")), tracked=tracked, aime=made_by_aime(labels)))
    return sorted(result, key=lambda s: s.rec["container"])


def protected(policy, subject, protections=None):
    """Why no job may touch this container, or None: an admin's `ds01-protect` (`protections`, by ID), the
    policy's infrastructure containers, or, on a container ds01 did not make (only someone with the Docker
    socket can label one), a protection label."""
    entry = next((e for cid, e in (protections or {}).items() if cid == subject.info.get("Id")), None)
    if entry is not None:
        why = f": {entry['reason']}" if entry.get("reason") else ""
        return f"protected by {entry.get('by') or 'an admin'} (ds01-protect){why}"
    labels = subject.labels
    monitoring = policy.section("monitoring")
    own = labels.get(L.MANAGED) == "true"  # ds01's create writes these labels itself (empty)
    for key in (L.PROTECTED, L.DS01_PROTECTED, monitoring.get("infrastructure_label")) if not own else ():
        if key and str(labels.get(key, "")).lower() == "true":
            return f"protected by label {key}=true"
    names = set(monitoring.get("infrastructure_containers") or [])
    if names & {subject.rec["container"], subject.rec["name"], subject.info["Name"].lstrip("/")}:
        return "an infrastructure container (monitoring.infrastructure_containers)"
    return None

def timer(policy, subject, key):
    """Seconds of `key` (idle_timeout_h, max_runtime_h, max_pause_time_h) for this container; None = never."""
    if subject.interface in OWN_INTERFACES or key not in INTERFACE_TIMERS["unknown"]:
        return subject.limits.seconds(key)
    configured = policy.section("container_types").get(subject.interface) or {}
    if key in configured:
        value = configured[key]
    else:
        value = INTERFACE_TIMERS.get(subject.interface, INTERFACE_TIMERS["unknown"])[key]
    return None if value is None else value * 3600

def stop_grace(policy, subject):
    """Seconds between the stop signal and SIGKILL: the interface's sigterm_grace_s, else the owner's policy."""
    configured = policy.section("container_types").get(subject.interface) or {}
    if "sigterm_grace_s" in configured:
        return configured["sigterm_grace_s"]
    if subject.interface not in OWN_INTERFACES and subject.interface in INTERFACE_TIMERS:
        return INTERFACE_TIMERS[subject.interface]["sigterm_grace_s"]
    return subject.limits.policies["sigterm_grace_s"]
