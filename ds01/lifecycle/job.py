"""The frame every lifecycle job shares.

A run: take the job's lock (a second run says so and exits 0), read the clock ($DS01_NOW),
look at every container once (one `ps`, one inspect each), decide per container, act unless
`--dry-run`, and print one record per decision plus a summary. Each action is logged to the
event log and told to the owner. Containers labelled protected, and the policy's
infrastructure containers, are never touched. Per-container memory (idle streaks, warnings
sent, running time) lives in `<state dir>/jobs/<job>.json`, a root-owned directory users
cannot write, so nobody can edit their way out of a timer or hold the lock.
"""

import datetime
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field

from .. import labels as L
from ..errors import Ds01Error, NotFound

# Timers of containers made by tools other than ds01/AIME (DS01's container_types); the policy's
# `container_types` section overrides them. ds01's own containers use their owner's limits.
TYPE_DEFAULTS = {
    "devcontainer": {"idle_timeout_h": None, "max_runtime_h": 168.0, "sigterm_grace_s": 30.0},
    "compose": {"idle_timeout_h": 0.5, "max_runtime_h": 72.0, "sigterm_grace_s": 45.0},
    "docker": {"idle_timeout_h": 0.5, "max_runtime_h": 48.0, "sigterm_grace_s": 60.0},
    "api": {"idle_timeout_h": None, "max_runtime_h": 24.0, "sigterm_grace_s": 30.0},
    # ds01's own: a JupyterHub single-user server (DS01 had no timers of its own for it)
    "jupyter": {"idle_timeout_h": 0.5, "max_runtime_h": 72.0, "sigterm_grace_s": 30.0},
    "unknown": {"idle_timeout_h": 0.25, "max_runtime_h": 24.0, "sigterm_grace_s": 30.0},
}
USER_TYPES = ("atomic", "orchestration")
_COMPOSE_NAME = re.compile(r"_\d+$")
COLUMNS = [("container", "CONTAINER"), ("user", "USER"), ("type", "TYPE"), ("status", "STATUS"),
           ("decision", "DECISION"), ("reason", "REASON")]


class Skip(Exception):
    """The container changed since it was listed (say, started again): leave it this run."""


def container_type(labels, tracked, name=""):
    """atomic / orchestration (ds01, AIME), devcontainer, compose, jupyter, api, docker, or unknown.

    In DS01's order: a creation-interface label wins; then `ds01.managed=true` or a ds01/DS01/AIME
    container (labels or a `name._.uid` name) is atomic; then VS Code (`vscode-*` names, a
    `devcontainer` label key), compose (its project label, `*_N` names), JupyterHub (`jupyter-*`,
    `jupyterhub-*`, the `hub.jupyter.org/username` label); anything else is docker.
    """
    interface = L.first(labels, L.INTERFACE, L.DS01_INTERFACE, "ds01.container_type")
    if interface:
        interface = str(interface).lower()
        return "devcontainer" if interface == "vscode" else interface
    if tracked or str(labels.get(L.DS01_MANAGED, "")).lower() == "true":
        return "atomic"
    if name.startswith("vscode-") or any(key == "devcontainer" or key.startswith("devcontainer.") for key in labels):
        return "devcontainer"
    if "com.docker.compose.project" in labels or _COMPOSE_NAME.search(name):
        return "compose"
    if name.startswith(("jupyter-", "jupyterhub-")) or "hub.jupyter.org/username" in labels:
        return "jupyter"
    return "docker"


@dataclass
class Subject:
    """One container as a job sees it."""

    info: dict
    rec: dict
    type: str
    devices: list
    slots: list
    limits: object
    started: datetime.datetime | None
    finished: datetime.datetime | None
    created: datetime.datetime | None
    tracked: bool                 # made by ds01, DS01 or AIME (labels or `name._.uid`): the only ones jobs remove
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
        from ..workspace_files import bind_source

        return bind_source(self.info)


class Job:
    name = "ds01-job"

    def __init__(self, rt, dry_run=False, out=None, all_containers=False):
        self.rt, self.dry_run, self.out, self.all_containers = rt, dry_run, out, all_containers
        self.counts = {}
        self.errors = 0
        self.checked = 0
        self.now = None
        self.memory = {}
        self._slots = None

    # ---------------------------------------------------------------- a run

    def run(self):
        """One run; the exit code (0 also when another run holds the lock)."""
        from .. import clock

        started = time.monotonic()
        self.now = self.rt.now()
        self.prepare()  # configuration errors stop the run before anything is touched
        lock = self._lock()
        if lock is False:
            sys.stderr.write(f"{self.name}: another run is active; nothing done\n")
            self._emit({"job": self.name, "summary": True, "ran": False, "reason": "another run is active",
                        "dry_run": self.dry_run, "at": clock.iso(self.now)})
            return 0
        try:
            self.memory = self._load_memory()
            self.check()
            if not self.dry_run:
                self._save_memory()
        finally:
            if lock is not None:
                lock.release()
        summary = {"job": self.name, "summary": True, "ran": True, "dry_run": self.dry_run,
                   "at": clock.iso(self.now), "checked": self.checked, "decisions": dict(sorted(self.counts.items())),
                   "errors": self.errors, "seconds": round(time.monotonic() - started, 2)}
        self._emit(summary)
        if self.out is not None and self.out.table:
            self.out.close()
            sys.stderr.write(f"{self.name}: {self.checked} checked; "
                             + ", ".join(f"{n} {d}" for d, n in sorted(self.counts.items())) + "\n")
        return 1 if self.errors else 0

    def prepare(self):
        """Load what the run needs (policy, exemptions); errors here end the run with nothing done."""

    def check(self):  # pragma: no cover - each job defines it
        raise NotImplementedError

    def _emit(self, record):
        if self.out is None:
            return
        if record.get("summary") and self.out.table:
            return
        self.out.emit(record)

    # ---------------------------------------------------------------- lock and memory

    def jobs_dir(self):
        return os.path.join(self.rt.settings.get("state_dir"), "jobs")

    def _ensure_jobs_dir(self):
        directory = self.jobs_dir()
        try:
            parent = os.path.dirname(directory)
            if not os.path.isdir(parent):  # the shared state dir: every user's claims live there (1777, like /tmp)
                os.makedirs(parent, exist_ok=True)
                os.chmod(parent, 0o1777)
            os.makedirs(directory, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise Ds01Error(f"cannot create {directory}: {exc.strerror}", hint="the jobs run as root (cron)") from None
        info = os.lstat(directory)
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise Ds01Error(f"{directory} is not owned by this account or is writable by others; refusing to use it",
                            hint=f"an admin removes it: rm -r {directory} (the jobs recreate it)")
        return directory

    def _lock(self):
        """The job's lock: None in a dry run without write access, False when another run holds it."""
        import portalocker

        try:
            directory = self._ensure_jobs_dir()
        except Ds01Error:
            if self.dry_run:
                return None
            raise
        lock = portalocker.Lock(os.path.join(directory, f"{self.name}.lock"), mode="a", timeout=0,
                                fail_when_locked=True, flags=portalocker.LOCK_EX | portalocker.LOCK_NB)
        try:
            lock.acquire()
        except portalocker.LockException:
            return False
        return lock

    def _memory_path(self):
        return os.path.join(self.jobs_dir(), f"{self.name}.json")

    def _load_memory(self):
        try:
            with open(self._memory_path(), encoding="utf-8") as handle:
                value = json.load(handle)
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _save_memory(self):
        path = self._memory_path()
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.memory, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)

    def remember(self, subjects):
        """This job's memory of each subject (created on first sight); forgets containers that are gone."""
        known = self.memory.setdefault("containers", {})
        live = {s.id for s in subjects}
        for cid in list(known):
            if cid not in live:
                del known[cid]
        for subject in subjects:
            subject.state = known.setdefault(subject.id, {})

    # ---------------------------------------------------------------- containers

    def subjects(self):
        """Every container, inspected once, with owner, type, devices and the owner's limits."""
        from ..containers import is_listed, record
        from ..gpu.holdings import devices_from_inspect, parse_time, slots_for

        slots = self.inventory_slots()
        result = []
        for entry in self.rt.api.containers(all=True):
            try:
                info = self.rt.api.inspect_container(entry["Id"])
            except NotFound:
                continue
            rec = record(info)
            labels = (info.get("Config") or {}).get("Labels") or {}
            tracked = is_listed({"Labels": labels, "Names": [info["Name"]]})
            kind = container_type(labels, tracked, info["Name"].lstrip("/"))
            if kind == "docker" and not rec["user"]:
                kind = "unknown"  # nobody to tell, no owner's limits: DS01's strictest timers
            devices = devices_from_inspect(info)
            state = info.get("State") or {}
            result.append(Subject(
                info=info, rec=rec, type=kind, devices=devices, slots=slots_for(devices, slots),
                limits=self.rt.policy.resolve(rec["user"] or ""),
                started=parse_time(state.get("StartedAt")), finished=parse_time(state.get("FinishedAt")),
                created=parse_time(info.get("Created")), tracked=tracked))
        return sorted(result, key=lambda s: s.rec["container"])

    def inventory_slots(self):
        """The inventory's slots, read once per run (none, with a warning, when it cannot be read)."""
        if self._slots is None:
            try:
                self._slots = self.rt.inventory.slots()
            except Ds01Error as exc:
                sys.stderr.write(f"{self.name}: warning: no GPU inventory: {exc.message}\n")
                self._slots = []
        return self._slots

    def in_scope(self, subject):
        """GPU containers; with --all every container."""
        return self.all_containers or bool(subject.devices)

    def protected(self, subject):
        """Why no job may touch this container, or None."""
        labels = subject.labels
        monitoring = self.rt.policy.section("monitoring")
        for key in (L.PROTECTED, L.DS01_PROTECTED, monitoring.get("infrastructure_label")):
            if key and str(labels.get(key, "")).lower() == "true":
                return f"protected by label {key}=true"
        names = set(monitoring.get("infrastructure_containers") or [])
        if names & {subject.rec["container"], subject.rec["name"], subject.info["Name"].lstrip("/")}:
            return "an infrastructure container (monitoring.infrastructure_containers)"
        return None

    def timer(self, subject, key):
        """Seconds of `key` (idle_timeout_h, max_runtime_h, max_pause_time_h) for this container; None = never."""
        if subject.type in USER_TYPES or key not in TYPE_DEFAULTS["unknown"]:
            return subject.limits.seconds(key)
        configured = self.rt.policy.section("container_types").get(subject.type) or {}
        if key in configured:
            value = configured[key]
        else:
            value = TYPE_DEFAULTS.get(subject.type, TYPE_DEFAULTS["unknown"])[key]
        return None if value is None else value * 3600

    def stop_grace(self, subject):
        """Seconds between the stop signal and SIGKILL: the type's sigterm_grace_s, else the owner's policy."""
        configured = self.rt.policy.section("container_types").get(subject.type) or {}
        if "sigterm_grace_s" in configured:
            return configured["sigterm_grace_s"]
        if subject.type not in USER_TYPES and subject.type in TYPE_DEFAULTS:
            return TYPE_DEFAULTS[subject.type]["sigterm_grace_s"]
        return subject.limits.policies["sigterm_grace_s"]

    # ---------------------------------------------------------------- decisions

    def decide(self, subject, decision, reason, signals=None, action=None, **extra):
        """Record one decision; run `action` unless this is a dry run. Returns the record."""
        record = {"job": self.name, "container": subject.rec["container"], "name": subject.rec["name"],
                  "user": subject.user, "type": subject.type, "status": subject.status, "decision": decision,
                  "reason": reason, "signals": signals or {}, "dry_run": self.dry_run}
        record.update(extra)
        if action is not None and not self.dry_run:
            try:
                action()
            except Skip as exc:
                record["decision"], record["reason"] = "skip", f"changed meanwhile: {exc}"
            except NotFound:
                record["decision"], record["reason"] = "gone", "the container disappeared meanwhile"
            except Exception as exc:  # noqa: BLE001 - one container's failure must not stop the run
                self.errors += 1
                message = getattr(exc, "message", None) or str(exc)
                record["error"] = message
                sys.stderr.write(f"{self.name}: error: {subject.rec['container']}: {decision} failed: {message}\n")
        self.counts[record["decision"]] = self.counts.get(record["decision"], 0) + 1
        self._emit(record)
        return record

    def exempt(self, subject, timer, exemption, otherwise, signals):
        """An `exempt` decision: by a lifecycle exemption, or (`otherwise`) because the timer is null.

        The owner is told once per exemption (DS01 told exempt users nothing): which timer, why,
        and until when. The job's memory keeps who was told of what, across restarts of the container.
        """
        if exemption is None:
            return self.decide(subject, "exempt", otherwise, signals)
        told = self.memory.setdefault("exemptions_told", {}).setdefault(subject.user or "", [])
        key = f"{timer}|{exemption.reason}|{exemption.expires.isoformat() if exemption.expires else 'permanent'}"

        def tell():
            until = (f"until {exemption.expires.strftime('%Y-%m-%d %H:%M UTC')}" if exemption.expires
                     else "with no end date")
            words = {"idle_timeout_h": "stopped when idle", "max_runtime_h": "stopped after a maximum running time",
                     "max_pause_time_h": "stopped after a maximum pause"}[timer]
            self.tell(subject, "lifecycle exemption",
                      f"Your containers are exempt from being {words} ({timer}) {until}: "
                      f"{exemption.reason or 'no reason given'}. After that the usual limits apply again "
                      f"(check-limits shows them).")
            self.log("lifecycle.exempt", subject, timer=timer, reason=exemption.reason,
                     expires=exemption.expires.strftime('%Y-%m-%dT%H:%M:%SZ') if exemption.expires else None)
            told.append(key)

        return self.decide(subject, "exempt", exemption.describe(), signals,
                           action=None if key in told else tell)

    @staticmethod
    def due_warning(subject, percent, levels):
        """The highest warning level (percent of a timer) reached and not yet sent, or None."""
        due = [level for level in levels if percent >= level and level not in subject.state.get("warned", [])]
        return max(due) if due else None

    def mark_warned(self, subject, level, levels):
        """Remember that `level` (and every lower one) was sent, so each is sent once."""
        if not self.dry_run:
            sent = set(subject.state.get("warned", [])) | {lower for lower in levels if lower <= level}
            subject.state["warned"] = sorted(sent)

    def log(self, event_type, subject, **details):
        if not self.dry_run:
            self.rt.log_event(event_type, subject.user, container=subject.rec["container"],
                              name=subject.rec["name"], id=subject.rec["id"], **details)

    def tell(self, subject, title, body, in_container=True):
        """Notify the owner on their terminals and (running containers) in /workspace/.ds01-alerts."""
        from .. import notify

        if self.dry_run:
            return None
        text = notify.banner(title, body, self.now)
        running = in_container and subject.status == "running"
        return notify.deliver(subject.user, subject.rec["uid"], text, subject.info if running else None,
                              self.rt.engine if running else None, **notify.places(self.rt))
