"""The frame every lifecycle job shares.

A run: take the job's lock (a second run says so and exits 0), read the clock ($DS01_NOW),
look at every container once (one `ps`, one inspect each), decide per container, act unless
`--dry-run`, and print one record per decision plus a summary. Each action is logged to the
event log and told to the owner. Containers labelled protected, and the policy's
infrastructure containers, are never touched. Per-container memory (idle streaks, warnings
sent, running time) lives in `<state dir>/jobs/<job>.json`, a root-owned directory users
cannot write, so nobody can edit their way out of a timer or hold the lock.
"""

import contextlib
import json
import sys
import time

from .. import clock, notify
from ..atomic import replace_file
from ..errors import Ds01Error, NotFound
from ..privilege import root_files
from ..protection import load
from ..statedir import LockBusy, StateDir, held
from . import subjects

COLUMNS = [("container", "CONTAINER"), ("user", "USER"), ("interface", "INTERFACE"), ("status", "STATUS"),
           ("decision", "DECISION"), ("reason", "REASON")]


class Skip(Exception):
    """The container changed since it was listed (say, started again): leave it this run."""


class Job:
    name = "ds01-job"

    def __init__(self, rt, dry_run=False, out=None, all_containers=False):
        self.rt, self.dry_run, self.out, self.all_containers = rt, dry_run, out, all_containers
        self.counts = {}
        self.errors = 0
        self.checked = 0
        self.now = rt.now()  # read again when a run starts
        self.memory = {}
        self._slots = None
        self._protections = None

    # ---------------------------------------------------------------- a run

    def run(self):
        """One run; the exit code (0 also when another run holds the lock)."""
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
                lock.close()
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

    @property
    def statedir(self):
        return StateDir.of(self.rt)

    def _lock(self):
        """The job's lock (a context to close): None in a dry run without write access, False when another run
        holds it (one try, no wait)."""
        try:
            with root_files():
                self.statedir.ensure_jobs()
        except Ds01Error:
            if self.dry_run:
                return None
            raise
        lock = contextlib.ExitStack()
        try:
            lock.enter_context(held(self.statedir.job_lock(self.name), timeout=0))
        except LockBusy:
            return False
        return lock

    def _memory_path(self):
        return self.statedir.job_memory(self.name)

    def _load_memory(self):
        return self.statedir.read_job_memory(self.name)

    def _save_memory(self):
        with root_files():
            replace_file(self._memory_path(), json.dumps(self.memory, indent=1, sort_keys=True).encode(), 0o644)

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
        """Every container, inspected once (subjects.read)."""
        return subjects.read(self.rt, self.inventory_slots())

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
        """GPU containers; CPU-only ones too where the owner's policy says so (`cpu_only_containers`) or with --all."""
        return self.all_containers or bool(subject.devices) or bool(subject.limits.policies["cpu_only_containers"])

    def protected(self, subject):
        if self._protections is None:
            self._protections = load(self.rt)
        return subjects.protected(self.rt.policy, subject, self._protections)

    def timer(self, subject, key):
        return subjects.timer(self.rt.policy, subject, key)

    def stop_grace(self, subject):
        return subjects.stop_grace(self.rt.policy, subject)

    # ---------------------------------------------------------------- decisions

    def decide(self, subject, decision, reason, signals=None, action=None, **extra):
        """Record one decision; run `action` unless this is a dry run. Returns the record."""
        record = {"job": self.name, "container": subject.rec["container"], "name": subject.rec["name"],
                  "user": subject.user, "interface": subject.interface, "type": subject.interface,
                  "status": subject.status, "decision": decision,
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
        if self.dry_run:
            return None
        text = notify.banner(title, body, self.now)
        running = in_container and subject.status == "running"
        return notify.deliver(subject.user, subject.rec["uid"], text, subject.info if running else None,
                              self.rt.engine if running else None, **notify.places(self.rt))
