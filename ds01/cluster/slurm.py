"""Slurm, wrapped once: every ds01 call to Slurm's client commands goes through here.

Programs run as argument lists (never a shell), with a plain environment, a timeout and a bound on
what they may print; their answers come back as typed records. Failure is explicit: a controller
(or accounting daemon) that does not answer raises ControllerUnreachable, so a caller reports the
state as *unknown*, never as *stopped* (a job that Slurm could not be asked about is not gone).

The parsers read what Slurm 22.05 prints (captured from a real 22.05.8 in tests/data/slurm/).
Where Slurm 22.05 offers JSON (`squeue`, `sinfo`, `sacct`) ds01 reads JSON: a job's name, comment and
paths are the user's text, and text output cannot be split safely around them. `scontrol` has no --json
in 22.05 (`unrecognized option '--json'`), so `scontrol show job -d` is read by a parser that takes each
field only from the place Slurm prints it.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Ds01Error, NoCapacity, NotFound, PermissionDenied, UsageError
from ..privilege import caller_process

DEFAULT_TIMEOUT = 15.0            # seconds for one client command
OUTPUT_LIMIT = 64 * 1024 * 1024   # bytes of stdout one command may print (a big squeue --json)
ERROR_LIMIT = 64 * 1024           # bytes of stderr kept
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


# ---------------------------------------------------------------- errors

class SlurmError(Ds01Error):
    """Slurm answered, with an error (its own text is in `slurm_text`)."""

    def __init__(self, message: str, hint: str | None = None, code: int | None = None,
                 slurm_text: str = "") -> None:
        super().__init__(message, hint, code)
        self.slurm_text = slurm_text


class ControllerUnreachable(SlurmError):
    """slurmctld (or slurmdbd for accounting) did not answer: every state it would have told is unknown."""


class JobNotFound(NotFound):
    """The controller does not know the job (it never existed, or ended longer ago than MinJobAge)."""


class SubmitRefused(SlurmError):
    """sbatch refused the job: over a QOS/association limit, or no node could ever run it."""


class SubmitInvalid(UsageError):
    """sbatch refused the request itself (an unknown GRES type, partition, QOS or node)."""


# Slurm's words for "could not talk to the daemon" (slurm_strerror texts, 22.05), lowercased.
_UNREACHABLE = (
    "unable to contact slurm controller",
    "socket timed out on send/recv",
    "zero bytes were transmitted or received",
    "connection refused",
    "communication connection failure",
    "could not establish a configuration source",
    "problem talking to the database",
    "failed to open persistent connection",
    "slurmdbd: connection",
    "unable to establish controller machine",
    "no route to host",
    "network is unreachable",
    "connect failure",
)
_NO_SUCH_JOB = ("invalid job id specified", "invalid job id")
_REFUSED = ("job violates accounting/qos policy", "requested node configuration is not available",
            "qosmax", "assocmax", "maxjobs", "job's qos not permitted", "reservation",
            "requested time limit is invalid", "more processors requested than permitted",
            "node count specification invalid", "memory specification can not be satisfied",
            "requested nodes are busy")
_INVALID = ("invalid generic resource", "invalid partition name", "invalid qos specification",
            "invalid node name", "invalid account", "invalid job array", "invalid feature",
            "unrecognized option", "invalid option", "invalid --")


def _mentions(text: str, words: Iterable[str]) -> bool:
    low = text.lower()
    return any(word in low for word in words)


def is_unreachable(text: str) -> bool:
    """Whether Slurm's error text says a daemon could not be reached (as opposed to a refusal)."""
    return _mentions(text, _UNREACHABLE)


# ---------------------------------------------------------------- running

@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


# A runner runs `argv` (as the caller when `as_caller`) within `timeout` seconds and returns what it
# printed. It raises ControllerUnreachable on a timeout and SlurmError when the program is missing.
Runner = Callable[[Sequence[str], float, bool], Completed]


def _read_bounded(proc: subprocess.Popen[bytes], timeout: float, argv: Sequence[str]) -> tuple[bytes, bytes]:
    """stdout and stderr of `proc`, read together until both close; killed past `timeout` or the limits."""
    if proc.stdout is None or proc.stderr is None:
        raise SlurmError(f"{argv[0]}: no pipes to read")
    limits: dict[Any, int] = {proc.stdout: OUTPUT_LIMIT, proc.stderr: ERROR_LIMIT}
    chunks: dict[Any, list[bytes]] = {proc.stdout: [], proc.stderr: []}
    sizes: dict[Any, int] = {proc.stdout: 0, proc.stderr: 0}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for pipe in limits:
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                raise ControllerUnreachable(
                    f"{argv[0]} did not finish in {timeout:g} s: the Slurm controller did not answer (state unknown)",
                    hint="sinfo", slurm_text="timeout")
            for key, _ in selector.select(left):
                stream: Any = key.fileobj
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(stream)
                    continue
                sizes[stream] += len(data)
                if sizes[stream] > limits[stream]:
                    if stream is proc.stderr:  # keep the start of an endless error; stop reading it
                        continue
                    proc.kill()
                    proc.wait()
                    raise SlurmError(f"{argv[0]} printed more than {OUTPUT_LIMIT} bytes; ds01 stopped reading")
                chunks[stream].append(data)
    proc.wait(max(0.1, deadline - time.monotonic()))
    return b"".join(chunks[proc.stdout]), b"".join(chunks[proc.stderr])


def environment(slurm_conf: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment Slurm's commands get: a plain PATH, the caller's identity variables when given, and
    SLURM_CONF when ds01 names the configuration. Nothing else: SBATCH_*/SQUEUE_*/SLURM_* variables change
    what the commands do and print, so none of the invoking process's pass through."""
    env = {"PATH": PLAIN_PATH, "LC_ALL": "C"}
    for key, value in (base or {}).items():
        if key in ("HOME", "USER", "LOGNAME"):
            env[key] = value
    if slurm_conf:
        env["SLURM_CONF"] = slurm_conf
    return env


def subprocess_runner(slurm_conf: str | None = None) -> Runner:
    """The real runner: a child process, as the caller (privilege.caller_process) where asked."""

    def run(argv: Sequence[str], timeout: float, as_caller: bool) -> Completed:
        identity: dict[str, Any] = caller_process() if as_caller else {}
        env = environment(slurm_conf, identity.pop("env", None))
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, cwd="/", close_fds=True, **identity)
        except FileNotFoundError:
            raise SlurmError(f"{argv[0]} is not installed: this host has no Slurm client commands",
                             hint="ds01-doctor") from None
        try:
            out, err = _read_bounded(proc, timeout, argv)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return Completed(tuple(argv), proc.returncode,
                         out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    return run


# ---------------------------------------------------------------- records

@dataclass(frozen=True)
class JobGpu:
    """One GPU a job holds on one node: Slurm's GRES type (None for an untyped `gpu`) and index on that
    node (the IDX of `GRES=gpu:a100:1(IDX:0)`, the position of the device in the node's gres.conf)."""
    type: str | None
    index: int


@dataclass(frozen=True)
class Job:
    id: int
    user: str | None
    uid: int
    state: str                    # RUNNING, PENDING, COMPLETED, CANCELLED, ... (the base state)
    reason: str | None            # why it is pending (Resources, Priority, QOSMaxGRESPerUser, ...); None = none
    node: str | None              # the node list it runs on (one node for a ds01 container); None while pending
    gpus: tuple[JobGpu, ...] = ()  # GPUs held on `node` (empty while pending, or on a multi-node job)
    name: str = ""
    partition: str | None = None
    qos: str | None = None
    gres_by_node: Mapping[str, tuple[JobGpu, ...]] = field(default_factory=dict)
    priority: int | None = None   # squeue's: Slurm starts pending jobs highest first
    submitted: int | None = None  # epoch seconds
    tres: Mapping[str, int] = field(default_factory=dict)  # allocated (running) or requested (pending) TRES
    admin_comment: str | None = None  # only an operator (root: the node's ds01d) can set it; JSON only

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


@dataclass(frozen=True)
class Node:
    name: str
    state: str                    # lowercase base state and flags as Slurm says them: "idle", "mixed", "down+drain"
    gres: str                     # configured, e.g. "gpu:a100:2,gpu:1g.5gb:2"
    gres_used: str                # in use, e.g. "gpu:a100:1(IDX:0),gpu:1g.5gb:0(IDX:N/A)"
    reason: str | None = None     # why it is down or drained (the admin's text)

    def gpus_total(self) -> dict[str | None, int]:
        """GPU counts per type configured on the node."""
        return {item.type: item.count for item in parse_gres(self.gres) if item.name == "gpu"}

    def gpus_used(self) -> list[JobGpu]:
        """The GPUs in use, by type and index."""
        return [JobGpu(item.type, index) for item in parse_gres(self.gres_used) if item.name == "gpu"
                for index in item.indices]

    @property
    def usable(self) -> bool:
        flags = set(self.state.replace("+", " ").replace("*", " ").split())
        return not flags & {"down", "drain", "drained", "draining", "fail", "failing", "not_responding",
                            "unknown", "future", "power_down", "powered_down", "maint", "reserved"}


@dataclass(frozen=True)
class Accounting:
    """One job of `sacct`: who held what, and for how long."""
    id: int
    user: str | None
    uid: int | None               # 22.05's sacct --json names the user only: None there
    name: str
    state: str
    node: str | None
    start: int | None             # epoch seconds; None if it never started
    end: int | None               # epoch seconds; None while running
    elapsed: int                  # seconds
    tres: Mapping[str, int]       # allocated TRES: {"cpu": 1, "mem": 500, "gres/gpu": 1, "gres/gpu:a100": 1, ...}
    admin_comment: str | None = None  # sacct keeps it after the job ends (`comment.administrator`)

    def gpus(self) -> int:
        return self.tres.get("gres/gpu", 0)

    def gpu_hours(self) -> float:
        return self.gpus() * self.elapsed / 3600


@dataclass(frozen=True)
class SubmitRequest:
    """What ds01 asks of sbatch for one container: a one-node batch job running `command` (the shim)."""
    command: Sequence[str]        # the program (an absolute path) and its arguments, quoted into --wrap
    name: str
    gres: Sequence[str] = ()      # e.g. ("gpu:a100:1",)
    cpus: int | None = None
    mem_mb: int | None = None
    time_minutes: int | None = None
    qos: str | None = None
    partition: str | None = None
    account: str | None = None
    node: str | None = None       # -w: return to the node that holds the container's layer
    signal: str | None = None     # e.g. "B:TERM@60": the shim's warning before the time limit
    output: str = "/dev/null"
    chdir: str = "/"
    comment: str | None = None
    hold: bool = False            # submitted held: ds01d grants it (AdminComment) before it may start

    def argv(self) -> list[str]:
        """sbatch's arguments. The caller's environment is not exported (`--export=NONE`, 22.05's way to pass
        only Slurm's own variables; there is no PATH, so the program is named by absolute path), and ds01
        trusts none of the job's variables anyway."""
        if not self.command or not os.path.isabs(self.command[0]):
            raise ValueError(f"the job's program must be an absolute path: {list(self.command)[:1]}")
        argv = ["sbatch", "--parsable", "--export=NONE", f"--job-name={self.name}", "--nodes=1",
                f"--output={self.output}", f"--chdir={self.chdir}", *(["--hold"] if self.hold else [])]
        for gres in self.gres:
            argv.append(f"--gres={gres}")
        for option, value in (("--cpus-per-task", self.cpus), ("--mem", self.mem_mb),
                              ("--time", self.time_minutes), ("--qos", self.qos),
                              ("--partition", self.partition), ("--account", self.account),
                              ("--nodelist", self.node), ("--signal", self.signal),
                              ("--comment", self.comment)):
            if value is not None:
                argv.append(f"{option}={value}")
        argv.append(f"--wrap={shlex.join(self.command)}")
        return argv


# ---------------------------------------------------------------- GRES text

@dataclass(frozen=True)
class GresItem:
    name: str
    type: str | None
    count: int
    indices: tuple[int, ...]


_GRES_ITEM = re.compile(r"^(?P<spec>[^()]+?)(?:\((?P<extra>[^()]*)\))?$")


def _split_top(text: str) -> list[str]:
    """Split on the commas outside parentheses: `gpu:a100:2(IDX:0,1),gpu:1g.5gb:1(IDX:2)`."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip() and part.strip() != "(null)"]


def parse_index_list(text: str) -> tuple[int, ...]:
    """`0`, `0,1`, `2-3`, `0-1,3` -> the indices; `N/A` or empty -> none."""
    text = text.strip()
    if not text or text.upper() == "N/A":
        return ()
    result: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"not a GRES index list: {text!r}")
        result.extend(range(int(low), int(high or low) + 1))
    return tuple(result)


def parse_gres(text: str) -> list[GresItem]:
    """Parse Slurm's GRES strings: `gpu:a100:1(IDX:0)`, `gpu:1g.5gb:2(IDX:2-3)`, `gpu:a100:2(IDX:0,1)`,
    `gpu(IDX:0)`, `gpu:2(IDX:0-1)`, `gpu:a100:2(S:0)` (sockets, no indices), `gres:gpu:a100:1`."""
    items: list[GresItem] = []
    for part in _split_top(text or ""):
        match = _GRES_ITEM.match(part)
        if not match:
            raise ValueError(f"not a GRES: {part!r}")
        fields = match["spec"].split(":")
        if fields[0] == "gres" and len(fields) > 1:  # tres_per_node spells it gres:gpu:...
            fields = fields[1:]
        name, rest = fields[0], fields[1:]
        count: int | None = None
        if rest and rest[-1].isdigit():
            count = int(rest.pop())
        gres_type = ":".join(rest) or None
        indices: tuple[int, ...] = ()
        extra = match["extra"] or ""
        if extra.startswith("IDX:"):
            indices = parse_index_list(extra[4:])
        if count is None:
            count = len(indices) if extra.startswith("IDX:") else 1
        items.append(GresItem(name, gres_type, count, indices))
    return items


def job_gpus(gres_text: str) -> tuple[JobGpu, ...]:
    """The GPUs of one node's GRES string, in index order."""
    return tuple(JobGpu(item.type, index) for item in parse_gres(gres_text) if item.name == "gpu"
                 for index in item.indices)


# ---------------------------------------------------------------- scontrol show job -d (text)

_LINE_KEY = re.compile(r"^\s*([A-Za-z_]+)=")
_OWNER = re.compile(r"^(?P<user>[^()\s]*)\((?P<uid>\d+)\)$")


def _line_fields(line: str) -> dict[str, str]:
    """`A=1 B=2 C=x` -> fields, for the lines whose every value is Slurm's own (no spaces)."""
    result = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            result[key] = value
    return result


def parse_show_job(text: str) -> Job:
    """One job from `scontrol show job -d <id>` (Slurm 22.05's scontrol has no --json).

    The user's own text (job name, comment, work dir, command, paths) shares this format and may hold
    spaces, `Key=` look-alikes and, through sbatch, newlines. So a field counts only where Slurm puts it:
    the record starts `JobId=<n> JobName=` (the name is the rest of that line); UserId, JobState, NodeList
    and MinCPUsNode are read from the one line that *starts* with that key, and a key that starts two lines
    is a forgery (or a format ds01 does not know): the parse fails, which callers treat as a refusal. The
    GPU detail is read only from the `Nodes=` lines between NodeList and MinCPUsNode, a stretch that holds
    nothing but Slurm's own fields (the job name comes before it; paths, command and comments after it).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("JobId="):
        raise SlurmError("scontrol printed no job", slurm_text=text[:500])
    starts: dict[str, list[int]] = {}
    for number, line in enumerate(lines):
        match = _LINE_KEY.match(line)
        if match:
            starts.setdefault(match.group(1), []).append(number)

    def one(key: str) -> int:
        found = starts.get(key, [])
        if len(found) != 1:
            raise SlurmError(f"scontrol's job record has {len(found)} {key} lines; ds01 trusts none of it",
                             slurm_text=text[:500])
        return found[0]

    def fields(key: str) -> dict[str, str]:
        return _line_fields(lines[one(key)])

    head = lines[0]
    job_id = head.split()[0].partition("=")[2]
    if not job_id.isdigit():
        raise SlurmError(f"scontrol printed a job id ds01 cannot read: {job_id!r}")
    name = head.partition(" JobName=")[2]
    owner = fields("UserId").get("UserId", "")
    match = _OWNER.match(owner)
    if not match:
        raise SlurmError(f"scontrol printed an owner ds01 cannot read: {owner!r}")
    state_line = fields("JobState")
    node = fields("NodeList").get("NodeList") or None
    if node == "(null)":
        node = None
    first, last = one("NodeList"), one("MinCPUsNode")
    if len(starts.get("JOB_GRES", [])) > 1 or not first < last:
        raise SlurmError("scontrol's job record is out of Slurm's order; ds01 trusts none of it")
    per_node: dict[str, tuple[JobGpu, ...]] = {}
    for number in starts.get("Nodes", []):
        if first < number < last:
            detail = _line_fields(lines[number])
            if "GRES" in detail:
                per_node[detail["Nodes"]] = per_node.get(detail["Nodes"], ()) + job_gpus(detail["GRES"])
    qos = fields("Priority").get("QOS") if "Priority" in starts else None
    partition = fields("Partition").get("Partition") if "Partition" in starts else None
    reason = state_line.get("Reason")
    return Job(id=int(job_id), user=match["user"] or None, uid=int(match["uid"]),
               state=state_line.get("JobState", "UNKNOWN"), reason=None if reason in (None, "None") else reason,
               node=node, gpus=per_node.get(node, ()) if node else (), name=name,
               partition=partition, qos=qos, gres_by_node=per_node)


def parse_show_node(text: str) -> list[Node]:
    """Nodes from `scontrol show node -d` (records start `NodeName=`; Reason, the admin's text, ends a line)."""
    nodes = []
    for block in re.split(r"\n(?=NodeName=)", text.strip()):
        if not block.startswith("NodeName="):
            continue
        values: dict[str, str] = {}
        for line in block.splitlines():
            stripped = line.strip()
            if stripped.startswith("Reason="):
                values["Reason"] = stripped[len("Reason="):]
                continue
            for key, value in _line_fields(stripped).items():
                values.setdefault(key, value)
        gres_used = values.get("GresUsed", "")
        nodes.append(Node(name=values["NodeName"], state=values.get("State", "UNKNOWN").lower(),
                          gres="" if values.get("Gres") == "(null)" else values.get("Gres", ""),
                          gres_used="" if gres_used == "(null)" else gres_used,
                          reason=values.get("Reason") or None))
    return nodes


# ---------------------------------------------------------------- JSON (squeue, sinfo, sacct)

def _json(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise SlurmError(f"{what} printed no JSON", slurm_text=text[:500]) from None
    if not isinstance(data, dict):
        raise SlurmError(f"{what} printed unexpected JSON")
    errors = [e for e in data.get("errors") or [] if isinstance(e, dict)]
    if errors:
        # 22.05 exits 0 with `"errors": [{"error": "Unspecified error", ...}]` and an empty list when the
        # controller is down: the list is not the queue, and what Slurm would have said is unknown.
        message = "; ".join(str(e.get("description") or e.get("error") or e) for e in errors)
        raise ControllerUnreachable(f"{what} could not ask the Slurm controller (state unknown): {message}",
                                    hint="sinfo", slurm_text=json.dumps(errors)[:500])
    return data


def _state(value: Any) -> str:
    """22.05 prints a job state as a string; later versions as a list of flags (the base state first)."""
    if isinstance(value, list):
        return str(value[0]) if value else "UNKNOWN"
    if isinstance(value, dict):  # sacct: {"current": ..., "reason": ...}
        return _state(value.get("current"))
    return str(value or "UNKNOWN")


def _number(value: Any) -> int | None:
    """A 22.05 number, or a later version's {"set": bool, "infinite": bool, "number": n}."""
    if isinstance(value, dict):
        return int(value["number"]) if value.get("set", True) and "number" in value else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def job_from_json(record: Mapping[str, Any]) -> Job:
    """One job from squeue --json (Slurm 22.05's `v0.0.38` job shape)."""
    nodes = str(record.get("nodes") or "") or None
    reason = record.get("state_reason")
    details = [str(d) for d in record.get("gres_detail") or []]
    per_node: dict[str, tuple[JobGpu, ...]] = {}
    if nodes and len(details) == 1:  # one entry per allocated node, in node order
        per_node[nodes] = job_gpus(details[0])
    job_id = _number(record.get("job_id"))
    uid = _number(record.get("user_id"))
    if job_id is None or uid is None:
        raise SlurmError("Slurm printed a job without an id or owner")
    return Job(id=job_id, user=record.get("user_name") or None, uid=uid, state=_state(record.get("job_state")),
               reason=None if reason in (None, "", "None") else str(reason), node=nodes,
               gpus=per_node.get(nodes, ()) if nodes else (), name=str(record.get("name") or ""),
               partition=record.get("partition") or None, qos=record.get("qos") or None,
               gres_by_node=per_node, priority=_number(record.get("priority")),
               submitted=_number(record.get("submit_time")),
               tres=parse_tres_text(str(record.get("tres_alloc_str") or record.get("tres_req_str") or "")),
               admin_comment=str(record.get("admin_comment") or "") or None)


def parse_tres_text(text: str) -> dict[str, int]:
    """`cpu=1,mem=500M,node=1,billing=1,gres/gpu=1,gres/gpu:a100=1` -> counts (memory in MiB)."""
    units = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    found: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        scale = units.get(value[-1:].upper())
        number = value[:-1] if scale is not None else value
        try:
            found[key] = int(float(number) * (scale or 1))
        except ValueError:
            continue
    return found


@dataclass(frozen=True)
class Qos:
    """One QOS as slurmdbd holds it (`sacctmgr show qos`)."""
    name: str
    priority: int
    max_tres_per_user: Mapping[str, int]
    max_tres_per_job: Mapping[str, int]
    max_wall: str | None          # Slurm's own text ([D-]HH:MM:SS); None = no limit
    flags: tuple[str, ...] = ()


def node_from_json(record: Mapping[str, Any]) -> Node:
    state = record.get("state")
    flags = record.get("state_flags") or []
    if isinstance(state, list):
        words = [str(s).lower() for s in state]
    else:
        words = [str(state or "unknown").lower(), *(str(f).lower() for f in flags)]
    return Node(name=str(record.get("name")), state="+".join(words), gres=str(record.get("gres") or ""),
                gres_used=str(record.get("gres_used") or ""), reason=record.get("reason") or None)


def _administrator(comment: Any) -> str | None:
    """sacct's admin comment: 22.05 prints `"comment": {"administrator": ..., "job": ..., "system": ...}`."""
    return str(comment.get("administrator") or "") or None if isinstance(comment, dict) else None


def accounting_from_json(record: Mapping[str, Any]) -> Accounting:
    times = record.get("time") or {}
    tres: dict[str, int] = {}
    for item in (record.get("tres") or {}).get("allocated") or []:
        key = item.get("type", "")
        if item.get("name"):
            key = f"{key}/{item['name']}"
        tres[key] = int(item.get("count") or 0)
    start, end = _number(times.get("start")), _number(times.get("end"))
    association = record.get("association") or {}
    user = record.get("user") or association.get("user") or None
    return Accounting(id=int(record["job_id"]), user=user, uid=None, name=str(record.get("name") or ""),
                      state=_state(record.get("state")), node=record.get("nodes") or None,
                      start=start or None, end=end or None, elapsed=_number(times.get("elapsed")) or 0,
                      tres=tres, admin_comment=_administrator(record.get("comment")))


@dataclass(frozen=True)
class FairShare:
    """One user association's fair share (`sshare`): Slurm orders equal-QOS jobs by `factor`, 0..1, lower for
    whoever used more of their share (Fair Tree ranks users; 22.05's default)."""
    account: str
    user: str
    raw_shares: int | None
    norm_shares: float | None
    raw_usage: int
    effective_usage: float | None
    factor: float | None


FAIR_SHARE_FIELDS = ("Account", "User", "RawShares", "NormShares", "RawUsage", "EffectvUsage", "FairShare")


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_sshare(text: str) -> list[FairShare]:
    """User rows of `sshare -n -P -a -o <FAIR_SHARE_FIELDS>` (accounts, with no user, are left out). Slurm's
    names hold no `|`, and an account's depth is leading spaces."""
    rows = []
    for line in text.splitlines():
        values = line.split("|")
        if len(values) < len(FAIR_SHARE_FIELDS) or not values[1].strip():
            continue
        account, user, raw_shares, norm_shares, raw_usage, effective, factor = (v.strip() for v in values[:7])
        rows.append(FairShare(account=account, user=user, raw_shares=_number(raw_shares),
                              norm_shares=_float(norm_shares), raw_usage=_number(raw_usage) or 0,
                              effective_usage=_float(effective), factor=_float(factor)))
    return rows


# ---------------------------------------------------------------- the wrapper

class Slurm:
    """Slurm's client commands, as ds01 calls them. `runner` runs a program (as the caller where asked);
    `slurm_conf` names the configuration (None: Slurm's default, /etc/slurm/slurm.conf)."""

    def __init__(self, runner: Runner | None = None, slurm_conf: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.runner = runner or subprocess_runner(slurm_conf)
        self.timeout = timeout

    def _run(self, argv: Sequence[str], as_caller: bool = False) -> Completed:
        done = self.runner(argv, self.timeout, as_caller)
        if done.returncode != 0:
            self._fail(done)
        return done

    @staticmethod
    def _fail(done: Completed) -> None:
        text = (done.stderr or done.stdout).strip()
        first = next((line for line in text.splitlines() if "error" in line.lower()), text[:300])
        what = done.argv[0]
        if is_unreachable(text):
            raise ControllerUnreachable(f"{what}: the Slurm controller did not answer (state unknown): {first}",
                                        hint="sinfo", slurm_text=text)
        if _mentions(text, _NO_SUCH_JOB):
            raise JobNotFound(f"{what}: Slurm knows no such job", hint="squeue --me")
        if what == "sbatch":
            if _mentions(text, _INVALID):
                raise SubmitInvalid(f"Slurm refused the request: {first}", hint="sinfo -o '%N %G'")
            if _mentions(text, _REFUSED):
                raise SubmitRefused(f"Slurm refused the job: {first}", hint="check-limits",
                                    code=NoCapacity.code, slurm_text=text)
        raise SlurmError(f"{what} failed (exit {done.returncode}): {first}", slurm_text=text)

    # -- jobs

    def submit(self, request: SubmitRequest) -> int:
        """Submit as the caller (munge then vouches for their uid, and their association and QOS apply);
        the new job's id."""
        done = self._run(request.argv(), as_caller=True)
        first = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
        job_id = first.split(";")[0]
        if not job_id.isdigit():
            raise SlurmError(f"sbatch printed no job id: {first[:100]!r}", slurm_text=done.stdout[:500])
        return int(job_id)

    def job(self, job_id: int) -> Job:
        """The controller's record of one job (`scontrol show job -d`): owner, state, node, GPU indices.
        JobNotFound when the controller does not know it; ControllerUnreachable when it does not answer."""
        done = self._run(["scontrol", "show", "job", "-d", str(int(job_id))])
        job = parse_show_job(done.stdout)
        if job.id != job_id:
            raise JobNotFound(f"Slurm knows no job {job_id}", hint="squeue --me")
        return job

    def jobs(self, user: str | None = None) -> list[Job]:
        """The controller's queue (`squeue --json`): every pending and running job, or one user's."""
        argv = ["squeue", "--json"]
        if user:
            argv.append(f"--user={user}")
        done = self._run(argv)
        return [job_from_json(j) for j in _json(done.stdout, "squeue").get("jobs") or []]

    def set_admin_comment(self, job_id: int, text: str) -> None:
        """`scontrol update JobId=N AdminComment=TEXT`, as this process (root: an operator). Slurm lets only an
        operator set it, so a user cannot forge what ds01 writes there; it is kept in accounting after the job
        ends, but cannot be changed once the job has finished (JobNotFound-like SlurmError then)."""
        if not text or any(c.isspace() for c in text) or len(text) > 200:
            raise ValueError(f"an admin comment is one short word: {text[:50]!r}")
        self._run(["scontrol", "update", f"JobId={int(job_id)}", f"AdminComment={text}"])

    def queued_job(self, job_id: int) -> Job:
        """One job as `squeue --json` gives it (its AdminComment is read only from JSON: scontrol's text lets a
        job name fake the line). JobNotFound when the controller no longer lists it."""
        done = self._run(["squeue", "--json", f"--jobs={int(job_id)}"])
        for entry in _json(done.stdout, "squeue").get("jobs") or []:
            job = job_from_json(entry)
            if job.id == job_id:
                return job
        raise JobNotFound(f"Slurm lists no job {job_id}", hint="squeue --me")

    def release(self, job_id: int) -> None:
        """`scontrol release JOB`, as this process (root: an operator may release any hold)."""
        self._run(["scontrol", "release", str(int(job_id))])

    def cancel(self, job_id: int, as_caller: bool = True, signal: str | None = None) -> None:
        """`scancel` (as the caller by default: Slurm checks that the job is theirs). A job that is gone or
        already ending is no error (22.05 exits 0 and says nothing for an unknown id)."""
        argv = ["scancel"]
        if signal:
            argv.append(f"--signal={signal}")
        argv.append(str(int(job_id)))
        done = self.runner(argv, self.timeout, as_caller)
        text = done.stderr + done.stdout
        if _mentions(text, ("already completing or completed",)) and not is_unreachable(text):
            return
        if _mentions(text, ("access/permission denied",)):
            raise SlurmError(f"scancel: Slurm refused to cancel job {job_id}: it is not the caller's",
                             code=PermissionDenied.code, slurm_text=text)
        if done.returncode != 0 or "error" in text.lower():
            self._fail(Completed(done.argv, done.returncode or 1, done.stdout, done.stderr))

    # -- nodes

    def nodes(self) -> list[Node]:
        """Every node with its state and GPUs (`sinfo --json`, one record per node)."""
        done = self._run(["sinfo", "--json"])
        by_name: dict[str, Node] = {}
        for record in _json(done.stdout, "sinfo").get("nodes") or []:
            node = node_from_json(record)
            by_name.setdefault(node.name, node)
        return list(by_name.values())

    def node(self, name: str) -> Node:
        """One node (`scontrol show node -d <name>`)."""
        done = self._run(["scontrol", "show", "node", "-d", name])
        for node in parse_show_node(done.stdout):
            if node.name == name:
                return node
        raise NotFound(f"Slurm knows no node {name}", hint="sinfo")

    # -- accounting

    def accounting(self, start: str = "now-7days", end: str | None = None, users: Sequence[str] = (),
                   job_ids: Sequence[int] = ()) -> list[Accounting]:
        """Allocation history from slurmdbd (`sacct --json`, allocations only, every user unless named)."""
        argv = ["sacct", "--json", "-X", f"--starttime={start}"]
        if end:
            argv.append(f"--endtime={end}")
        argv.append(f"--user={','.join(users)}" if users else "--allusers")
        if job_ids:
            argv.append("--jobs=" + ",".join(str(int(j)) for j in job_ids))
        done = self._run(argv)
        return [accounting_from_json(j) for j in _json(done.stdout, "sacct").get("jobs") or []]

    def qos(self, name: str) -> Qos:
        """One QOS's limits from slurmdbd (`sacctmgr show qos`); NotFound when it has none of that name."""
        fields = "name,priority,maxtrespu,maxtres,maxwall,flags"
        done = self._run(["sacctmgr", "-nP", "show", "qos", f"format={fields}"])
        for line in done.stdout.splitlines():
            values = line.split("|")
            if len(values) >= 6 and values[0] == name:
                return Qos(name=name, priority=_number(values[1]) or 0,
                           max_tres_per_user=parse_tres_text(values[2]), max_tres_per_job=parse_tres_text(values[3]),
                           max_wall=values[4] or None, flags=tuple(f for f in values[5].split(",") if f))
        raise NotFound(f"Slurm has no QOS {name!r}", hint="ds01-slurm-generate --apply (admins) makes one per group")

    def fair_share(self, users: Sequence[str] = ()) -> list[FairShare]:
        """Every user association's fair share (`sshare -a`), or the named users'. slurmctld answers it."""
        argv = ["sshare", "-n", "-P", "-o", ",".join(FAIR_SHARE_FIELDS)]
        argv += [f"--users={','.join(users)}"] if users else ["-a"]
        return parse_sshare(self._run(argv).stdout)

    def ping(self) -> bool:
        """Whether the controller answers (`scontrol ping`); never raises for an unreachable one."""
        try:
            done = self.runner(["scontrol", "ping"], self.timeout, False)
        except ControllerUnreachable:
            return False
        return done.returncode == 0 and " is UP" in done.stdout
