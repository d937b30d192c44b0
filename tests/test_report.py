"""ds01-report: GPU-hours and container-hours per user and group from the event log (issue 19). The known-interval
scenario writes its events with the log's own writer at moments the test clock chooses; the second test reads the
events real commands wrote."""

import csv
import datetime
import io
import os

import pytest

from ds01 import events
from ds01.gpu import simulated
from tests.support import sandbox
from tests.support.gpulab import EXAMPLE, GpuLab

ROOT = sandbox.pwd.getpwnam("root")
T0 = datetime.datetime(2026, 11, 10, 8, 0, tzinfo=datetime.timezone.utc).timestamp()
HOUR = 3600.0


def at(hours):
    return T0 + hours * HOUR


def write_log(lab, users):
    """A morning on the server, event by event, with the same writer the commands use."""
    alice, bob, admin = (users[n].pw_name for n in ("alice", "bob", "admin"))
    a1, a2, b1, x = (f"{n}._.{users[u].pw_uid}" for n, u in (("train", "alice"), ("big", "alice"),
                                                            ("notes", "bob"), ("old", "admin")))

    def log(hours, event_type, user, **details):
        moment = datetime.datetime.fromtimestamp(at(hours), datetime.timezone.utc)
        events.Log(str(lab.logs), "test", clock=lambda: moment)(event_type, user, **details)

    log(-2, "gpu.allocate", admin, container=x, slots=["1"], gpu_eq=1.0)  # began before the window
    log(0, "gpu.allocate", alice, container=a1, slots=["0"], gpu_eq=1.0)
    log(0, "container.start", alice, container=a1, running=True)
    log(0, "gpu.allocate", bob, claim="claim:c1", slots=["2.0"], gpu_eq=0.25,
        expires_at=datetime.datetime.fromtimestamp(at(1), datetime.timezone.utc).isoformat())
    log(1, "gpu.release", admin, container=x, slots=["1"], reason="released")
    log(1, "gpu.allocate", bob, claim="claim:c2", slots=["2.0", "2.1"], gpu_eq=0.5,
        expires_at=datetime.datetime.fromtimestamp(at(3), datetime.timezone.utc).isoformat())
    log(1.5, "gpu.allocate", bob, claim="claim:c2", container=b1, slots=["2.0", "2.1"], gpu_eq=0.5)
    log(1.5, "container.start", bob, container=b1, running=True)
    log(2, "container.stop", alice, container=a1, exit_code=0)
    log(3.5, "container.remove", bob, container=b1, status="running")
    log(5, "gpu.release", alice, container=a1, slots=["0"], reason="hold_expired")
    log(10, "gpu.allocate", alice, container=a2, slots=["0", "1"], gpu_eq=2.0)
    log(10, "container.start", alice, container=a2, running=True)  # still running at the window's end
    with open(lab.logs / "events.jsonl", "a") as handle:
        handle.write('{"event_type": "gpu.allocate", "timestamp": "not a time"}\nnot json\n')


def test_hours_per_user_and_group_match_the_intervals_the_log_records(user_tmp, users, dockerd):
    lab = GpuLab(user_tmp, users, dockerd)
    write_log(lab, users)
    alice, bob, admin = (users[n].pw_name for n in ("alice", "bob", "admin"))
    clock = {"DS01_NOW": str(at(12))}
    window = ("--since", str(at(0)), "--until", str(at(12)))
    rows = {r["user"]: r for r in lab.sh.records(ROOT, "ds01-report", *window, "--json", extra_env=clock)}
    assert set(rows) == {alice, bob, admin}
    # alice: train held 0→5h (1 GPU), ran 0→2h; big holds 2 GPUs and runs from 10h to the window's end
    assert {k: rows[alice][k] for k in ("gpu_hours", "slot_hours", "container_hours", "allocations",
                                        "containers", "group")} == {
        "gpu_hours": 5 + 4, "slot_hours": 5 + 4, "container_hours": 2 + 2, "allocations": 2, "containers": 2,
        "group": "student"}
    # bob: claim c1 expired after 1h (1/4 GPU); c2 for 0.5h, then notes held its slots 1.5→3.5h and ran
    assert rows[bob]["gpu_hours"] == 0.25 + 0.25 + 1.0 and rows[bob]["slot_hours"] == 1 + 1 + 4
    assert rows[bob]["container_hours"] == 2 and rows[bob]["allocations"] == 3 and rows[bob]["group"] == "miguser"
    assert rows[admin]["gpu_hours"] == 1  # held from -2h, clipped to the window's start
    assert [r["user"] for r in rows.values()] == [alice, bob, admin]  # most GPU-hours first

    groups = {r["group"]: r for r in lab.sh.records(ROOT, "ds01-report", *window, "--by", "group",
                                                    extra_env=clock)}
    assert {g: (r["users"], r["gpu_hours"]) for g, r in groups.items()} == {
        "student": (1, 9), "miguser": (1, 1.5), "admin": (1, 1)}

    text = lab.sh.run(ROOT, "ds01-report", *window, "--csv", extra_env=clock, check=True).stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["user"] for r in table] == [alice, bob, admin] and float(table[0]["gpu_hours"]) == 9
    assert table[0]["since"] == "2026-11-10T08:00:00Z"

    month = {r["user"]: r for r in lab.sh.records(ROOT, "ds01-report", "--month", "2026-11", extra_env=clock)}
    assert month[admin]["gpu_hours"] == 3 and month[alice]["gpu_hours"] == 5 + 4
    assert month[alice]["until"] == "2026-11-10T20:00:00Z"  # the month so far: up to now
    assert lab.sh.records(ROOT, "ds01-report", "--month", "2026-10", extra_env=clock) == []


def test_the_report_is_for_admins_and_refuses_a_bad_window(user_tmp, users, dockerd):
    lab = GpuLab(user_tmp, users, dockerd)
    write_log(lab, users)
    refused = lab.sh.run(users["alice"], "ds01-report", "--json")
    assert refused.returncode == 5 and "ds01-report: error: ds01-report is for admins only" in refused.stderr
    for argv in (["--month", "2026-13"], ["--month", "2026-11", "--since", "1d"],
                 ["--since", str(at(2)), "--until", str(at(1))], ["--csv", "--json"]):
        bad = lab.sh.run(ROOT, "ds01-report", *argv)
        assert bad.returncode == 2 and "ds01-report: error:" in bad.stderr, (argv, bad.stderr)


def test_rotated_logs_count_too(user_tmp, users, dockerd):
    """logrotate keeps events.jsonl.1 and compresses older ones: a month spans them."""
    import gzip

    lab = GpuLab(user_tmp, users, dockerd)
    write_log(lab, users)
    log = lab.logs / "events.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    with gzip.open(lab.logs / "events.jsonl.2.gz", "wt") as handle:
        handle.writelines(lines[:4])
    (lab.logs / "events.jsonl.1").write_text("".join(lines[4:9]))
    log.write_text("".join(lines[9:]))
    os.utime(lab.logs / "events.jsonl.2.gz", (at(1), at(1)))
    os.utime(lab.logs / "events.jsonl.1", (at(2), at(2)))
    clock = {"DS01_NOW": str(at(12))}
    rows = {r["user"]: r for r in lab.sh.records(ROOT, "ds01-report", "--since", str(at(0)), extra_env=clock)}
    assert rows[users["alice"].pw_name]["gpu_hours"] == 9 and rows[users["bob"].pw_name]["gpu_hours"] == 1.5


def test_real_commands_at_test_clock_moments_give_the_hours_between_them(user_tmp, users, dockerd):
    """container-deploy, gpu-allocate, container-create --claim, container-stop and container-remove, each run at
    a moment of the test clock (DS01_NOW, which stamps their events), read back as hours."""
    import time

    lab = GpuLab(user_tmp, users, dockerd)
    alice, bob = users["alice"], users["bob"]
    start = float(int(time.time()) - 5 * 3600)

    def when(hours):
        return {"DS01_NOW": str(start + hours * HOUR)}

    made = lab.sh.records(alice, "container-deploy", "train", sandbox.BASE_IMAGE, "--num-gpus", "1",
                          "--background", extra_env=when(0))[0]
    claim = lab.sh.records(bob, "gpu-allocate", extra_env=when(1))[0]
    lab.sh.run(bob, "container-create", "notes", sandbox.BASE_IMAGE, "--claim", claim["claim"], check=True,
               extra_env=when(1.5))
    lab.sh.run(alice, "container-stop", "train", check=True, extra_env=when(2))
    lab.sh.run(alice, "container-remove", "train", check=True, extra_env=when(3))
    lab.sh.run(bob, "container-remove", "notes", check=True, extra_env=when(3.5))
    rows = {r["user"]: r for r in lab.sh.records(ROOT, "ds01-report", "--since", str(start - HOUR), "--json",
                                                 extra_env=when(4))}
    alices, bobs = rows[alice.pw_name], rows[bob.pw_name]
    [uuid] = made["gpus"]
    eq = {s.uuid: s.weight for s in simulated.load(str(EXAMPLE)).slots()}[uuid]
    near = pytest.approx  # the log keeps GPU-equivalents to 4 places (1/7 is 0.1429)
    assert (alices["gpu_hours"], alices["container_hours"], alices["allocations"]) == (near(eq * 3, rel=1e-3), 2, 1)
    assert (bobs["gpu_hours"], bobs["container_hours"], bobs["allocations"]) == (near(claim["gpu_eq"] * 2.5, rel=1e-3),
                                                                                0, 2)
