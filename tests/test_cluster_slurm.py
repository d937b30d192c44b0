"""Slurm, wrapped once: what ds01 reads from Slurm's commands, and how it fails.

The parsers read what a real Slurm 22.05.8 printed (tests/data/slurm/, captured from a private two-node
slurmctld on loopback; see tests/data/slurm/README.md). The runner is real where the behaviour is the
process's own (timeouts, output bounds, the environment, no shell).
"""

import os
import sys
from pathlib import Path

import pytest

from ds01.cluster import slurm
from ds01.cluster.slurm import (
    Completed,
    ControllerUnreachable,
    Job,
    JobGpu,
    JobNotFound,
    Slurm,
    SlurmError,
    SubmitInvalid,
    SubmitRefused,
    SubmitRequest,
)
from ds01.errors import NO_CAPACITY, NOT_FOUND, USAGE

DATA = Path(__file__).parent / "data" / "slurm"
JOBS = [int(j) for j in (DATA / "jobs.txt").read_text().split(":")[1].split()]  # a100, mig, a100x2, pending, short


def text(name):
    return (DATA / name).read_text()


def rc(name):
    """The exit status the capture recorded after the output (`rc=N` as its last line)."""
    return int(text(name).strip().splitlines()[-1].partition("=")[2])


def body(name):
    return "".join(text(name).strip().splitlines(True)[:-1])


class Recorded:
    """A runner that answers from captured outputs and records how it was called."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv, timeout, as_caller):
        self.calls.append((list(argv), as_caller))
        code, out, err = self.answers[argv[0]] if argv[0] in self.answers else self.answers[" ".join(argv[:3])]
        return Completed(tuple(argv), code, out, err)


# ---------------------------------------------------------------- GRES strings

@pytest.mark.parametrize("gres, expected", [
    ("gpu:a100:1(IDX:0)", [JobGpu("a100", 0)]),
    ("gpu:1g.5gb:2(IDX:2-3)", [JobGpu("1g.5gb", 2), JobGpu("1g.5gb", 3)]),
    ("gpu:a100:2(IDX:0,1)", [JobGpu("a100", 0), JobGpu("a100", 1)]),
    ("gpu(IDX:0)", [JobGpu(None, 0)]),
    ("gpu:2(IDX:0-1)", [JobGpu(None, 0), JobGpu(None, 1)]),
    ("gpu:a100:2(IDX:0,1),gpu:1g.5gb:1(IDX:3)", [JobGpu("a100", 0), JobGpu("a100", 1), JobGpu("1g.5gb", 3)]),
    ("gpu:a100:0(IDX:N/A),gpu:1g.5gb:0(IDX:N/A)", []),
    ("gpu:a100:1(IDX:0-1,3)", [JobGpu("a100", 0), JobGpu("a100", 1), JobGpu("a100", 3)]),
])
def test_gres_strings_give_types_and_indices(gres, expected):
    assert list(slurm.job_gpus(gres)) == expected


def test_configured_gres_counts_per_type():
    items = slurm.parse_gres("gpu:a100:2(S:0),gpu:1g.5gb:2")
    assert [(i.type, i.count) for i in items] == [("a100", 2), ("1g.5gb", 2)]


# ---------------------------------------------------------------- scontrol show job -d (text, captured)

def test_show_job_text_of_a_running_a100_job():
    job = slurm.parse_show_job(text("scontrol-show-job-d-a100.txt"))
    assert (job.id, job.user, job.uid, job.state, job.node) == (JOBS[0], "ds01t_alice", 1001, "RUNNING", "cap1")
    assert job.gpus == (JobGpu("a100", 0),) and job.reason is None and job.name == "box-a100"


def test_show_job_text_of_a_mig_job_holding_two_devices():
    job = slurm.parse_show_job(text("scontrol-show-job-d-mig.txt"))
    assert job.gpus == (JobGpu("1g.5gb", 2), JobGpu("1g.5gb", 3)) and job.uid == 1001


def test_show_job_text_of_roots_two_gpu_job_on_the_other_node():
    job = slurm.parse_show_job(text("scontrol-show-job-d-a100x2.txt"))
    assert (job.user, job.uid, job.node) == ("root", 0, "cap2")
    assert [g.index for g in job.gpus] == [0, 1]


def test_show_job_text_of_a_pending_job_says_why_and_holds_nothing():
    job = slurm.parse_show_job(text("scontrol-show-job-d-pending.txt"))
    assert (job.state, job.reason, job.node, job.gpus) == ("PENDING", "Resources", None, ())


def test_a_job_name_forging_an_owner_line_is_not_believed():
    """sbatch -J takes any text; one with a newline and `UserId=root(0)` must not make the job root's."""
    real = text("scontrol-show-job-d-a100.txt")
    forged = real.replace("JobName=box-a100", "JobName=x\n   UserId=bob(1002) GroupId=bob(1002) MCS_label=N/A", 1)
    with pytest.raises(SlurmError, match="UserId lines"):
        slurm.parse_show_job(forged)
    spaced = real.replace("JobName=box-a100", "JobName=x UserId=root(0) JobState=RUNNING", 1)
    job = slurm.parse_show_job(spaced)
    assert (job.uid, job.name) == (1001, "x UserId=root(0) JobState=RUNNING")


# ---------------------------------------------------------------- JSON (captured)

def test_the_controllers_job_record_comes_from_scontrol_show_job_text():
    """22.05's scontrol has no --json (captured: `unrecognized option '--json'`): ds01 reads the text."""
    assert "unrecognized option '--json'" in text("scontrol-json-unsupported.txt")
    run = Recorded({"scontrol": (0, text("scontrol-show-job-d-mig.txt"), "")})
    job = Slurm(runner=run).job(JOBS[1])
    assert (job.id, job.uid, job.state, job.node) == (JOBS[1], 1001, "RUNNING", "cap1")
    assert run.calls == [(["scontrol", "show", "job", "-d", str(JOBS[1])], False)]


def test_gres_lines_outside_slurms_own_stretch_are_not_believed():
    """A forged `Nodes=... GRES=` line in the job name (before NodeList) or in a comment or path (after
    MinCPUsNode) adds no GPU."""
    real = text("scontrol-show-job-d-a100.txt")
    forged_line = "     Nodes=cap1 CPU_IDs=0 Mem=1 GRES=gpu:a100:2(IDX:0-1)"
    forged = real.replace("JobName=box-a100", "JobName=x\n" + forged_line, 1)
    forged = forged.replace("   WorkDir=/tmp", "   WorkDir=/tmp\n" + forged_line, 1)
    assert slurm.parse_show_job(forged).gpus == (JobGpu("a100", 0),)


def test_scontrol_show_node_text():
    nodes = {n.name: n for n in slurm.parse_show_node(text("scontrol-show-node-d.txt"))}
    assert nodes["cap1"].gres == "gpu:a100:2,gpu:1g.5gb:2"
    assert [g.index for g in nodes["cap2"].gpus_used()] == [0, 1]


def test_squeue_json_lists_running_and_pending_jobs():
    run = Recorded({"squeue": (0, text("squeue.json"), "")})
    jobs = {j.id: j for j in Slurm(runner=run).jobs()}
    assert jobs[JOBS[1]].gpus == (JobGpu("1g.5gb", 2), JobGpu("1g.5gb", 3))
    assert (jobs[JOBS[3]].state, jobs[JOBS[3]].reason) == ("PENDING", "Resources")
    assert run.calls == [(["squeue", "--json"], False)]


def test_sinfo_json_gives_each_node_its_gpus_and_use():
    nodes = {n.name: n for n in Slurm(runner=Recorded({"sinfo": (0, text("sinfo.json"), "")})).nodes()}
    assert set(nodes) == {"cap1", "cap2"}
    assert nodes["cap1"].gpus_total() == {"a100": 2, "1g.5gb": 2}
    assert sorted(g.index for g in nodes["cap1"].gpus_used()) == [0, 2, 3]
    assert nodes["cap1"].usable


def test_sacct_json_gives_allocation_history():
    rows = {r.id: r for r in Slurm(runner=Recorded({"sacct": (0, text("sacct.json"), "")})).accounting()}
    done = rows[JOBS[4]]
    assert (done.user, done.state, done.node, done.gpus()) == ("ds01t_alice", "COMPLETED", "cap1", 1)
    assert done.tres.get("gres/gpu:a100") == 1
    assert rows[JOBS[0]].state == "CANCELLED"


# ---------------------------------------------------------------- failure is explicit (captured error texts)

@pytest.mark.parametrize("capture, call", [
    ("squeue-unreachable.txt", lambda s: s.jobs()),
    ("scontrol-show-job-unreachable.txt", lambda s: s.job(12)),
    ("sinfo-unreachable.txt", lambda s: s.nodes()),
    ("sacct-unreachable.txt", lambda s: s.accounting()),
    ("sbatch-unreachable.txt", lambda s: s.submit(SubmitRequest(["/bin/true"], "x"))),
    ("scancel-unreachable.txt", lambda s: s.cancel(12)),
])
def test_an_unreachable_controller_is_unknown_never_stopped(capture, call):
    code = rc(capture)  # 22.05's squeue/sinfo --json exit 0 with an error list in the JSON
    answer = (code, body(capture), "") if code == 0 else (code, "", body(capture))
    run = Recorded({name: answer for name in ("squeue", "scontrol", "sinfo", "sacct", "sbatch", "scancel")})
    with pytest.raises(ControllerUnreachable) as unknown:
        call(Slurm(runner=run))
    assert "unknown" in unknown.value.message


def test_a_job_the_controller_does_not_know():
    answer = (rc("scontrol-show-job-invalid.txt"), "", body("scontrol-show-job-invalid.txt"))
    with pytest.raises(JobNotFound) as missing:
        Slurm(runner=Recorded({"scontrol": answer})).job(999999)
    assert missing.value.code == NOT_FOUND


def test_a_gres_type_no_node_has_is_no_capacity():
    """Captured: `--gres=gpu:h100:1` on a cluster without h100 -> `Requested node configuration is not available`."""
    answer = (rc("sbatch-bad-gres.txt"), "", body("sbatch-bad-gres.txt"))
    with pytest.raises(SubmitRefused) as refused:
        Slurm(runner=Recorded({"sbatch": answer})).submit(SubmitRequest(["/bin/true"], "x", gres=["gpu:h100:1"]))
    assert refused.value.code == NO_CAPACITY


def test_an_invalid_partition_is_a_usage_error():
    err = ("sbatch: error: invalid partition specified: nope\n"
           "sbatch: error: Batch job submission failed: Invalid partition name specified\n")
    with pytest.raises(SubmitInvalid) as refused:
        Slurm(runner=Recorded({"sbatch": (1, "", err)})).submit(SubmitRequest(["/bin/true"], "x", partition="nope"))
    assert refused.value.code == USAGE


def test_a_qos_refusal_is_no_capacity():
    err = ("sbatch: error: QOSMaxGRESPerUser\nsbatch: error: Batch job submission failed: "
           "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)\n")
    with pytest.raises(SubmitRefused) as refused:
        Slurm(runner=Recorded({"sbatch": (1, "", err)})).submit(SubmitRequest(["/bin/true"], "x"))
    assert refused.value.code == NO_CAPACITY


def test_cancelling_a_job_slurm_does_not_know_is_quiet():
    assert rc("scancel-invalid.txt") == 0
    Slurm(runner=Recorded({"scancel": (0, "", body("scancel-invalid.txt"))})).cancel(999999)


def test_cancelling_another_users_job_is_refused_by_slurm():
    answer = (rc("scancel-other-user.txt"), "", body("scancel-other-user.txt"))
    with pytest.raises(SlurmError) as refused:
        Slurm(runner=Recorded({"scancel": answer})).cancel(JOBS[2])
    assert refused.value.code == 5


# ---------------------------------------------------------------- submitting

def test_submit_runs_sbatch_as_the_caller_with_arguments_never_a_shell():
    run = Recorded({"sbatch": (0, "41;cap\n", "")})
    request = SubmitRequest(["/opt/ds01/bin/ds01-slurm-shim", "start", "box; rm -rf ~"], "box; rm -rf ~",
                            gres=["gpu:a100:1"], cpus=4, mem_mb=8000, time_minutes=90, qos="students", node="n1",
                            signal="B:TERM@60")
    assert Slurm(runner=run).submit(request) == 41
    argv, as_caller = run.calls[0]
    assert as_caller is True
    assert argv[:3] == ["sbatch", "--parsable", "--export=NONE"]
    assert "--job-name=box; rm -rf ~" in argv and "--nodelist=n1" in argv and "--gres=gpu:a100:1" in argv
    assert argv[-1] == "--wrap=/opt/ds01/bin/ds01-slurm-shim start 'box; rm -rf ~'"


def test_a_program_without_an_absolute_path_is_not_submitted():
    """--export=NONE leaves the job no PATH: a bare name would not run on the node."""
    with pytest.raises(ValueError, match="absolute path"):
        SubmitRequest(["ds01-slurm-shim"], "x").argv()


def test_submit_without_a_job_id_is_an_error():
    with pytest.raises(SlurmError, match="no job id"):
        Slurm(runner=Recorded({"sbatch": (0, "Submitted batch job 41\n", "")})).submit(SubmitRequest(["/bin/x"], "x"))


# ---------------------------------------------------------------- the real runner

def test_a_command_that_hangs_is_an_unreachable_controller():
    run = slurm.subprocess_runner()
    with pytest.raises(ControllerUnreachable, match="did not finish"):
        run([sys.executable, "-c", "import time; time.sleep(30)"], 0.3, False)


def test_output_past_the_bound_is_not_read(monkeypatch):
    monkeypatch.setattr(slurm, "OUTPUT_LIMIT", 100_000)
    with pytest.raises(SlurmError, match="more than 100000 bytes"):
        slurm.subprocess_runner()([sys.executable, "-c", "print('x' * 10**6)"], 10, False)


def test_the_callers_slurm_variables_never_reach_the_commands(monkeypatch):
    for key in ("SBATCH_GRES", "SLURM_CONF", "SQUEUE_FORMAT", "SLURM_JOB_ID", "LD_PRELOAD"):
        monkeypatch.setenv(key, "/forged")
    done = slurm.subprocess_runner("/etc/ds01-test/slurm.conf")(["env"], 10, False)
    env = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert env["SLURM_CONF"] == "/etc/ds01-test/slurm.conf"
    assert not {"SBATCH_GRES", "SQUEUE_FORMAT", "SLURM_JOB_ID", "LD_PRELOAD"} & set(env)


def test_as_the_caller_outside_a_worker_runs_as_this_process():
    done = slurm.subprocess_runner()(["id", "-u"], 10, True)
    assert done.stdout.strip() == str(os.getuid())


def test_missing_slurm_commands_say_so():
    with pytest.raises(SlurmError, match="not installed"):
        Slurm(runner=slurm.subprocess_runner(), timeout=5)._run(["ds01-no-such-slurm-command"])


def test_job_record_running_property():
    assert Job(1, "a", 1, "RUNNING", None, "n1").running and not Job(1, "a", 1, "PENDING", "Priority", None).running
