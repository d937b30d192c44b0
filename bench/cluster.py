#!/usr/bin/env python3
"""Bench: cluster mode (issue 32) on a private Slurm, as ratios to Slurm's own commands in the same run.

It starts what the tests start (tests/support): a private dockerd, three bench accounts, a real Slurm of
2 nodes (tests/support/slurm.py), one ds01d per node and the head's ds01d; later a 10-node Slurm for
gpu-status alone. Every ds01 command runs as an ordinary account through the head's ds01d, every floor as the
same account. Measured:
- `container-create NAME IMAGE --cluster --cpu-only --wait` to a running container, against the single-server
  `container-create NAME IMAGE --cpu-only` + `container-start NAME` (same image, same account);
- `gpu-status --cluster --json` on 2 and 10 nodes, against `sinfo --json` + `scontrol show node` (and against
  `sinfo --json` + `squeue --json`, the two calls it makes);
- submission throughput of N creates without --wait against N raw `sbatch` of a trivial job, with the partition
  DOWN so nothing starts while they are timed; full-run throughput of F creates (until every container runs)
  against F raw `sbatch` jobs until every job runs;
- where one --wait create's time goes (slurmctld's and slurmd's log lines, the engine's timestamps).
Everything it started is stopped and removed. Root only.
Usage: bench/cluster.py [-n 200] [-r 7] [--full 10] [--big 10]
"""

import datetime
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

from benchlib import BINDIR, arguments, engine, timed

from tests.support import brokers, sandbox
from tests.support import slurm as private_slurm

IMAGE = sandbox.BASE_IMAGE
LOGINS = {"alice": "ds01b_alice", "bob": "ds01b_bob", "admin": "ds01b_admin"}
INVENTORY = os.path.join(private_slurm.REPO, "etc", "ds01", "gpus.sim.yaml")
POLL = 0.05  # between two looks at the engine or the queue while timing a full run


def head_policy(path, users):
    """The head's ds01 policy: the fixture Slurm's groups (each a QOS), room for every bench container."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"""images: {{allowed: ["ds01-test/*"]}}
defaults: {{max_cpus: 1, memory: 256m, max_containers_per_user: 1000, max_runtime_h: 24}}
default_group: student
groups:
  student: {{members: [{users['alice'].pw_name}]}}
  researcher: {{members: [{users['bob'].pw_name}]}}
  admin: {{members: [{users['admin'].pw_name}]}}
""")
    os.chmod(path, 0o644)


class Bench:
    """One Slurm, its node ds01ds and the head's ds01d, and the bench account's commands against them."""

    def __init__(self, work, host, users, nodes):
        self.work, self.host, self.users = work, host, users
        self.alice = users["alice"]
        self.slurm = private_slurm.Slurm(nodes=nodes).start(users)
        self.started = []
        try:
            sockets = os.path.join(self.slurm.root, "ds01-nodes")
            os.mkdir(sockets)
            os.chmod(sockets, 0o755)  # noqa: S103 - the jobs' shims, run as the account, reach the nodes' ds01d
            base = {"DOCKER_HOST": host, "DS01_CONFIG": os.path.join(work, "resource-limits.yaml"),
                    "DS01_LOG_DIR": os.path.join(work, "log"), "DS01_STATE_DIR": os.path.join(work, "state"),
                    "DS01_SLURM_CONF": str(self.slurm.slurm_conf)}
            if len(nodes) <= 2:  # the 10-node Slurm serves gpu-status only: no node runs a container
                for node in nodes:
                    self.started.append(brokers.Broker({
                        **base, "DS01_NODE_NAME": node, "DS01_GRES_CONF": str(self.slurm.generated / "gres.conf"),
                        "DS01_GPU_INVENTORY": str(self.slurm.root / "policy" / f"{node}.yaml")},
                        socket=os.path.join(sockets, f"{node}.sock")).start())
            self.head = brokers.Broker({**base, "DS01_GPU_INVENTORY": INVENTORY,
                                        "DS01_CLUSTER_NODE_SOCKET": os.path.join(sockets, "{node}.sock")}).start()
            self.started.append(self.head)
        except BaseException:
            self.stop()
            raise
        self.env = sandbox.user_env(self.alice, {"PATH": f"{BINDIR}:{private_slurm.PATH}", "LANG": "C.UTF-8",
                                                 "DS01_SOCKET": self.head.socket,
                                                 "SLURM_CONF": str(self.slurm.slurm_conf)})

    def argv(self, command, *args):
        found = os.path.join(BINDIR, command)
        return sandbox.as_user_command(self.alice, [found if os.path.exists(found) else command, *args])

    def run(self, command, *args):
        """(seconds, stdout) of one command as the bench account."""
        return timed(self.argv(command, *args), self.env)

    def median(self, runs, *commands):
        """Median seconds of running `commands` (each a tuple of argv words) one after another."""
        samples = []
        for _ in range(runs):
            samples.append(sum(self.run(*c)[0] for c in commands))
        return statistics.median(samples)

    def sbatch(self, *args):
        return ("sbatch", "--parsable", "--export=NONE", "-c1", "--mem=256", "--qos=student", "--chdir=/tmp",
                "--output=/dev/null", *args)

    def cancel_all(self):
        """Cancel every job of the bench account and wait until the controller has let them all go."""
        self.slurm.run(["scancel", f"--user={self.alice.pw_name}"], check=False)
        private_slurm.wait_until("the bench's jobs to end", lambda: not self.slurm.run(
            ["squeue", "-h", "-o", "%i"], check=False).stdout.split(), timeout=180)

    def queued(self, count):
        """Check that the controller holds `count` pending jobs of the bench account."""
        held = self.slurm.run(["squeue", "-h", "-t", "PENDING", "-u", self.alice.pw_name, "-o", "%i"]).stdout.split()
        if len(held) != count:
            sys.exit(f"bench: {count} submitted, {len(held)} queued")

    def partition(self, state):
        self.slurm.run(["scontrol", "update", "PartitionName=gpu", f"State={state}"])

    def stop(self):
        for broker in reversed(self.started):
            broker.stop()
        self.started.clear()
        self.slurm.stop()


def line(label, seconds, floor=None, unit="ms"):
    ratio = f"  {seconds / floor:6.2f}x" if floor else ""
    value = f"{seconds * 1000:9.1f} ms" if unit == "ms" else f"{seconds:9.1f} {unit}"
    print(f"  {label:<58} {value}{ratio}", flush=True)


def gpu_status(bench, runs, nodes):
    floor = bench.median(runs, ("sinfo", "--json"), ("scontrol", "show", "node"))
    calls = bench.median(runs, ("sinfo", "--json"), ("squeue", "--json"))
    status = bench.median(runs, ("gpu-status", "--cluster", "--json"))
    line(f"sinfo --json + scontrol show node ({nodes} nodes): floor", floor)
    line(f"sinfo --json + squeue --json ({nodes} nodes)", calls, floor)
    line(f"gpu-status --cluster --json ({nodes} nodes)", status, floor)
    return status / floor


def creates(bench, client, runs):
    """Medians of single-server create + start and of cluster create --wait, interleaved run by run."""
    single, cluster, gaps, last = [], [], [], None
    uid = bench.alice.pw_uid
    for i in range(-1, runs):  # run -1 warms both paths (the image's account files are read once per image)
        start = time.perf_counter()
        bench.run("container-create", f"s{i + 1}", IMAGE, "--cpu-only")
        bench.run("container-start", f"s{i + 1}")
        took = time.perf_counter() - start
        client.api.remove_container(f"s{i + 1}._.{uid}", force=True)
        began = time.time()
        start = time.perf_counter()
        _, out = bench.run("container-create", f"w{i + 1}", IMAGE, "--cluster", "--cpu-only", "--wait", "--json")
        waited = time.perf_counter() - start
        record = json.loads(out.splitlines()[0])
        if record["state"] != "RUNNING" or record["status"] != "running":
            sys.exit(f"bench: the cluster container did not run: {record}")
        last = (began, began + waited, record)
        gaps.append(allocated_after(bench, record["job"]))
        bench.run("container-stop", f"w{i + 1}", "--cluster")
        if i >= 0:
            single.append(took)
            cluster.append(waited)
    floor = statistics.median(single)
    line("container-create + container-start (single server): floor", floor)
    line("container-create --cluster --wait, to running", statistics.median(cluster), floor)
    print(f"    (runs: single {', '.join(f'{s * 1000:.0f}' for s in single)} ms; "
          f"cluster {', '.join(f'{s * 1000:.0f}' for s in cluster)} ms)")
    print(f"    (Slurm's submit to allocate, each cluster run: {', '.join(f'{g * 1000:.0f}' for g in gaps[1:])} ms)")
    return statistics.median(cluster) / floor, last


def slurm_stamp(text):
    """Seconds since the epoch of a Slurm log line's `[YYYY-MM-DDTHH:MM:SS.mmm]` (local time)."""
    found = re.match(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\]", text)
    return datetime.datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp() if found else None


def slurm_marks(bench, job, node):
    """(seconds, what) of slurmctld's and slurmd's log lines about `job`: submitted, allocated, launched."""
    wanted = (("slurmctld", rf"_slurm_rpc_submit_batch_job: JobId={job}\b", "slurmctld has the job (sbatch)"),
              ("slurmctld", rf"(sched: Allocate|backfill: Started) JobId={job}\b", "slurmctld allocates a node"),
              (f"slurmd-{node}", rf"Launching batch job {job}\b", "slurmd launches the batch step"))
    marks = []
    for log, pattern, label in wanted:
        path = bench.slurm.root / "log" / f"{log}.log"
        for text in path.read_text(errors="replace").splitlines():
            if re.search(pattern, text) and slurm_stamp(text):
                marks.append((slurm_stamp(text), label))
                break
    return marks


def allocated_after(bench, job):
    """Seconds between the controller's receipt of `job` and its allocation (its log lines)."""
    marks = slurm_marks(bench, job, "n1")
    return marks[1][0] - marks[0][0] if len(marks) >= 2 else float("nan")


def engine_stamp(text):
    """Seconds since the epoch of the engine's RFC 3339 time with nanoseconds."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    stamp = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp() + float("0." + (fraction or "0"))


def profile(bench, client, last):
    """Where the last --wait create's time went: Slurm's log lines about its job, the engine's times."""
    began, ended, record = last
    job = record["job"]
    marks = [(began, "the client starts"), *slurm_marks(bench, job, record["node"])]
    attrs = client.api.inspect_container(record["container"])
    marks.append((engine_stamp(attrs["Created"]), "the node's ds01d has created the container"))
    marks.append((engine_stamp(attrs["State"]["StartedAt"]), "the container is started"))
    marks.append((ended, "the client returns (RUNNING seen)"))
    print(f"  one create --wait (job {job} on {record['node']}), ms from the client's start (Slurm logs: 1 ms):")
    previous = began
    for stamp, label in sorted(marks):
        print(f"    {(stamp - began) * 1000:8.1f}  (+{(stamp - previous) * 1000:7.1f})  {label}")
        previous = stamp


def submissions(bench, count):
    """Submission throughput with the partition DOWN (jobs queue, none starts), raw sbatch then ds01."""
    bench.partition("DOWN")
    try:
        start = time.perf_counter()
        for _ in range(count):
            bench.run(*bench.sbatch("--job-name=raw", "--wrap", "true"))
        raw = time.perf_counter() - start
        bench.queued(count)
        bench.cancel_all()
        start = time.perf_counter()
        for i in range(count):
            bench.run("container-create", f"q{i}", IMAGE, "--cluster", "--cpu-only")
        ds01 = time.perf_counter() - start
        bench.queued(count)
        bench.cancel_all()
    finally:
        bench.partition("UP")
    line(f"{count} raw sbatch (trivial job), submitted", count / raw, unit="jobs/s")
    line(f"{count} container-create --cluster (no --wait), submitted", count / ds01, unit="jobs/s")
    print(f"    ratio of times: {ds01 / raw:.2f}x (raw {raw:.1f} s, ds01 {ds01:.1f} s)")
    return ds01 / raw


def full_runs(bench, client, count):
    """Seconds from the first submission until all `count` raw jobs run, and until all `count` containers run."""
    squeue = ["squeue", "-h", "-t", "RUNNING", "-u", bench.alice.pw_name, "-o", "%i"]
    start = time.perf_counter()
    for _ in range(count):
        bench.run(*bench.sbatch("--job-name=raw", "--wrap", "sleep 600"))
    while len(bench.slurm.run(squeue, check=False).stdout.split()) < count:
        time.sleep(POLL)  # a look at the queue: the controller sends no event
    raw = time.perf_counter() - start
    bench.cancel_all()
    labelled = {"label": "ds01.slurm_job", "status": "running"}
    start = time.perf_counter()
    for i in range(count):
        bench.run("container-create", f"f{i}", IMAGE, "--cluster", "--cpu-only")
    submitted = time.perf_counter() - start
    while len(client.api.containers(filters=labelled)) < count:
        time.sleep(POLL)  # a look at the engine
    ds01 = time.perf_counter() - start
    bench.cancel_all()
    line(f"{count} raw sbatch (sleep), until all run", count / raw, unit="jobs/s")
    line(f"{count} container-create --cluster, until all containers run", count / ds01, unit="jobs/s")
    print(f"    ratio of times: {ds01 / raw:.2f}x (raw {raw:.1f} s; ds01 {ds01:.1f} s, of which submitting "
          f"{submitted:.1f} s)")
    return ds01 / raw


def main():
    args = arguments(__doc__, count=("creates", 200), runs=7,
                     more=(("--full", 10, "creates run to the end"), ("--big", 10, "nodes of the second Slurm")))
    if os.geteuid() != 0:
        sys.exit("bench: root only (a private dockerd, Slurm and accounts)")
    private_slurm.reap_stale()
    reason = private_slurm.unavailable_reason()
    if reason:
        sys.exit(f"bench: {reason}")
    existed = {key: _exists(login) for key, login in LOGINS.items()}
    users = {key: sandbox.ensure_user(login) for key, login in LOGINS.items()}
    work = tempfile.mkdtemp(prefix="ds01-bench-")
    os.chmod(work, 0o755)  # noqa: S103 - ds01d's state and log dirs live here, as /var/lib does
    try:
        for sub in ("state", "log"):
            os.mkdir(os.path.join(work, sub))
            os.chmod(os.path.join(work, sub), 0o755)  # noqa: S103 - as /var/lib/ds01 and /var/log/ds01 are
        events = os.path.join(work, "log", "events.jsonl")
        open(events, "a").close()
        os.chmod(events, 0o640)
        head_policy(os.path.join(work, "resource-limits.yaml"), users)
        with engine() as (host, client):
            print(f"cluster bench: {os.cpu_count()} CPUs, runs {args.runs}, creates {args.creates}, "
                  f"full {args.full}, nodes 2 and {args.big}", flush=True)
            figures = {}
            bench = Bench(work, host, users, private_slurm.NODES)
            try:
                print(f"Slurm, {len(bench.slurm.nodes)} nodes, up in {bench.slurm.started_in:.1f} s")
                figures["gpu-status 2"] = gpu_status(bench, args.runs, 2)
                figures["create --wait"], last = creates(bench, client, args.runs)
                profile(bench, client, last)
                bench.cancel_all()
                figures["submit"] = submissions(bench, args.creates)
                figures["full"] = full_runs(bench, client, args.full)
            finally:
                bench.stop()
                for container in client.containers.list(all=True):
                    container.remove(force=True)
            bench = Bench(work, host, users, [f"n{i}" for i in range(1, args.big + 1)])
            try:
                print(f"Slurm, {len(bench.slurm.nodes)} nodes, up in {bench.slurm.started_in:.1f} s")
                figures[f"gpu-status {args.big}"] = gpu_status(bench, args.runs, args.big)
            finally:
                bench.stop()
            print("ratios: " + ", ".join(f"{k} {v:.2f}x" for k, v in figures.items()))
    finally:
        sandbox.unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
        for key, entry in users.items():
            if not existed[key]:
                sandbox.remove_user(entry.pw_name)


def _exists(login):
    import pwd

    try:
        pwd.getpwnam(login)
        return True
    except KeyError:
        return False


if __name__ == "__main__":
    main()
