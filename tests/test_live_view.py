"""ds01d's live view of the engine's containers (issue 34): a served `container-list` answers from it, and the
answer is what the engine says at that moment, whoever changed the engine, however, and even when the view's
event stream breaks."""

import ctypes
import json
import os
import socket
import subprocess

from ds01.live_view import human_duration
from tests.support import sandbox
from tests.support.gpulab import GpuLab, slot_uuids
from tests.support.polling import wait_until

ROOT = sandbox.pwd.getpwnam("root")
ALL = ("container-list", "-a", "--all-users", "--json")
S = 10**9


def test_status_durations_read_as_go_units_writes_them():
    cases = {0: "Less than a second", S - 1: "Less than a second", S: "1 second", 59 * S: "59 seconds",
             60 * S: "About a minute", 119 * S: "About a minute", 120 * S: "2 minutes", 3599 * S: "59 minutes",
             3600 * S: "About an hour", 5399 * S: "About an hour", 5400 * S: "2 hours", 47 * 3600 * S: "47 hours",
             48 * 3600 * S: "2 days", 14 * 86400 * S: "2 weeks", 60 * 86400 * S: "2 months",
             730 * 86400 * S: "2 years", -5 * S: "Less than a second"}
    assert {ns: human_duration(ns) for ns in cases} == cases


def docker(sh, *argv):
    """The docker CLI as root against the suite's private engine: behind ds01's back."""
    return subprocess.run(["docker", *argv], env={"DOCKER_HOST": sh.dockerd.host, "PATH": os.environ["PATH"]},
                          capture_output=True, text=True, check=True).stdout.strip()


def records(sh, entry, *argv, extra_env=None):
    return [json.loads(line) for line in sh.run(entry, *argv, check=True, extra_env=extra_env).stdout.splitlines()
            if line.strip()]


def assert_exact(sh, users, extra_env=None, tries=10):
    """Every served read (the admin's whole list, each owner's own) equals the engine's answer, asked by root
    in-process on either side of it. The status text moves with the clock ("Up 1 second"): a read is compared
    when the engine said the same before and after it (else it is asked again), never after a sleep."""
    images = ("image-list", "--json")
    reads = [(users["admin"], ALL, ALL), (users["admin"], (*images, "--all-users"), (*images, "--all-users"))]
    reads += [(users[k], ("container-list", "-a", "--json"), (*ALL, "--user", users[k].pw_name))
              for k in ("alice", "bob")]
    reads += [(users[k], images, None) for k in ("alice", "bob")]
    def asked(entry, argv, engines):
        """Root's own answer; for a user's own image-list, the same command through a ds01d that asks the engine."""
        if engines:
            return records(sh, ROOT, *engines, extra_env=extra_env)
        return records(sh, entry, *argv, extra_env={**(extra_env or {}), **OFF})

    for entry, argv, engines in reads:
        for _ in range(tries):
            before = asked(entry, argv, engines)
            served = records(sh, entry, *argv, extra_env=extra_env)
            after = asked(entry, argv, engines)
            if before == after:
                assert served == before, f"{entry.pw_name}'s {' '.join(argv)}"
                break
        else:
            raise AssertionError(f"the engine's answer kept moving for {entry.pw_name}")


def following(sh, extra_env=None):
    broker = sh.broker(extra_env)
    return "following the engine's events" in broker.log_path.read_text()


def test_every_state_reads_as_docker_ps_writes_it(sh, users):
    alice = users["alice"]
    assert following(sh), "ds01d keeps no live view"
    uid = alice.pw_uid
    base = sandbox.BASE_IMAGE
    docker(sh, "create", "--name", f"made._.{uid}", base, "true")
    docker(sh, "run", "-d", "--name", f"up._.{uid}", base, "sleep", "infinity")
    docker(sh, "run", "-d", "--name", f"frozen._.{uid}", base, "sleep", "infinity")
    docker(sh, "pause", f"frozen._.{uid}")
    docker(sh, "run", "-d", "--name", f"failed._.{uid}", base, "sh", "-c", "exit 7")
    assert docker(sh, "wait", f"failed._.{uid}") == "7"
    docker(sh, "run", "-d", "--name", f"ok._.{uid}", "--health-cmd", "true", "--health-interval", "1s", base,
           "sleep", "infinity")
    docker(sh, "run", "-d", "--name", f"ill._.{uid}", "--health-cmd", "false", "--health-interval", "1s",
           "--health-retries", "1", base, "sleep", "infinity")
    docker(sh, "run", "-d", "--name", f"loop._.{uid}", "--restart", "always", base, "sh", "-c", "exit 3")

    def texts():
        return {r["name"]: r["status_text"] for r in records(sh, ROOT, *ALL)}

    wait_until("the restarting and health states", lambda: (t := texts())["loop"].startswith("Restarting (3)")
               and "(healthy)" in t["ok"] and "(unhealthy)" in t["ill"])
    assert_exact(sh, users)
    shown = {r["name"]: r["status_text"] for r in records(sh, alice, "container-list", "-a", "--json")}
    assert shown["made"] == "Created" and shown["failed"].startswith("Exited (7) ")
    assert shown["up"].startswith("Up ") and shown["frozen"].endswith(" (Paused)")
    ps = dict(line.split("\t") for line in docker(sh, "ps", "-a", "--format", "{{.Names}}\t{{.Status}}").splitlines())
    assert {n.split("._.")[0] for n in ps} == set(shown)  # what docker ps lists, ds01 lists: no more, no fewer
    # A paused container's clock runs on, in the view as in the engine: unpaused, it is "Up" again.
    docker(sh, "unpause", f"frozen._.{uid}")
    docker(sh, "stop", "-t", "0", f"loop._.{uid}")
    assert_exact(sh, users)


def test_a_served_list_is_exact_after_every_change_whoever_made_it(sh, users):
    alice, bob = users["alice"], users["bob"]
    assert following(sh), "ds01d keeps no live view"
    base = sandbox.BASE_IMAGE
    made = {}
    steps = [
        lambda: sh.run(alice, "container-create", "a1", base, check=True),
        lambda: docker(sh, "run", "-d", "--name", f"behind._.{alice.pw_uid}", base, "sleep", "infinity"),
        lambda: sh.run(alice, "container-start", "a1", check=True),
        lambda: sh.run(bob, "container-create", "b1", base, check=True),
        lambda: docker(sh, "create", "--name", f"other._.{bob.pw_uid}", base, "sleep", "infinity"),
        lambda: docker(sh, "stop", "-t", "0", f"behind._.{alice.pw_uid}"),
        lambda: docker(sh, "start", f"other._.{bob.pw_uid}"),
        lambda: docker(sh, "rename", f"other._.{bob.pw_uid}", f"renamed._.{bob.pw_uid}"),
        lambda: docker(sh, "rm", "-f", f"behind._.{alice.pw_uid}"),
        lambda: sh.run(alice, "container-stop", "a1", check=True),
        lambda: docker(sh, "rm", "-f", f"renamed._.{bob.pw_uid}"),
        lambda: sh.run(alice, "container-remove", "a1", check=True),
        lambda: docker(sh, "tag", base, "ds01-test/moved:latest"),
        lambda: docker(sh, "run", "-d", "--name", f"tagged._.{alice.pw_uid}", "ds01-test/moved:latest", "sleep",
                       "infinity"),
        lambda: docker(sh, "rmi", "ds01-test/moved:latest"),  # the list now names its image by ID
        lambda: docker(sh, "tag", base, f"ds01-{alice.pw_uid}/behind:latest"),  # an image of hers, made by root
        lambda: docker(sh, "commit", f"tagged._.{alice.pw_uid}", f"ds01-{bob.pw_uid}/committed:latest"),
        # an image with no name: the engine logs only the container's commit
        lambda: made.setdefault("unnamed", docker(sh, "commit", f"tagged._.{alice.pw_uid}")),
        lambda: docker(sh, "rmi", f"ds01-{alice.pw_uid}/behind:latest", f"ds01-{bob.pw_uid}/committed:latest",
                       made["unnamed"]),
        lambda: sh.run(bob, "container-remove", "b1", check=True),
        lambda: docker(sh, "rm", "-f", f"tagged._.{alice.pw_uid}"),
    ]
    for step in steps:
        step()
        assert_exact(sh, users)
    assert following(sh) and "live view off" not in sh.broker().log_path.read_text()


def _events_socket(pid):
    """A copy of ds01d's connection to the engine's event stream (its one connected socket while idle), taken
    with pidfd_getfd as root: shutting it down is the engine going away under the view."""
    libc = ctypes.CDLL(None, use_errno=True)
    states = {}
    with open("/proc/net/unix") as table:
        for row in list(table)[1:]:
            fields = row.split()
            states[fields[6]] = fields[5]  # inode -> state (03: connected)
    candidates = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:[") and states.get(target[8:-1]) == "03":
            candidates.append(int(fd))
    assert len(candidates) == 1, f"ds01d's connected sockets: {candidates}"
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(438, pidfd, candidates[0], 0)  # pidfd_getfd
        assert copy >= 0, os.strerror(ctypes.get_errno())
    finally:
        os.close(pidfd)
    return socket.socket(fileno=copy)


def test_a_broken_event_stream_falls_back_to_the_engine_and_stays_exact(sh, users):
    alice = users["alice"]
    own = {"DS01_LIVE_VIEW": "on"}  # a ds01d of its own: the others' views stay whole
    broker = sh.broker(own)
    assert following(sh, own), "ds01d keeps no live view"
    sh.run(alice, "container-create", "kept", sandbox.BASE_IMAGE, check=True, extra_env=own)
    assert_exact(sh, users, own)
    stream = _events_socket(broker.process.pid)
    stream.shutdown(socket.SHUT_RDWR)
    stream.close()
    docker(sh, "run", "-d", "--name", f"after._.{alice.pw_uid}", sandbox.BASE_IMAGE, "sleep", "infinity")
    assert_exact(sh, users, own)
    wait_until("ds01d saying its view is off", lambda: "live view off" in broker.log_path.read_text())
    docker(sh, "rm", "-f", f"after._.{alice.pw_uid}")
    sh.run(alice, "container-remove", "kept", check=True, extra_env=own)
    assert_exact(sh, users, own)
    assert broker.log_path.read_text().count("live view off") == 1


OFF = {"DS01_LIVE_VIEW": "off"}  # a ds01d that asks the engine for every read: the answer before issue 34


def test_every_served_read_answers_the_same_from_the_view_as_from_the_engine(sh, user_tmp, users, dockerd):
    """gpu-status, gpu-user-status, check-limits, dashboard --json, image-list and one TAB of container-stop read
    ds01d's view; each prints, byte for byte, what the same command prints when ds01d asks the engine, for every
    caller, with GPU holders made by ds01 and behind its back (a container with a device request, which the view
    inspected).
    (`sh`: its teardown removes the lab's containers.)"""
    lab = GpuLab(user_tmp, users, dockerd)
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    assert following(lab.sh), "ds01d keeps no live view"
    lab.sh.records(alice, "container-deploy", "train", sandbox.BASE_IMAGE, "--num-gpus", "1", "--background")
    lab.sh.run(bob, "container-create", "notes", sandbox.BASE_IMAGE, "--cpu-only", check=True)
    uuid = sorted(slot_uuids().values())[-1]
    docker(lab.sh, "create", "--name", f"behind._.{bob.pw_uid}", "--gpus", f"device={uuid}", sandbox.BASE_IMAGE,
           "sleep", "infinity")
    docker(lab.sh, "run", "-d", "--name", f"plain._.{alice.pw_uid}", sandbox.BASE_IMAGE, "sleep", "infinity")
    reads = [("gpu-status", "--json"), ("gpu-user-status", "--json"), ("check-limits", "--json", "--no-sample"),
             ("dashboard", "--json"), ("ds01", "__complete", "running"), ("ds01", "__complete", "stopped"),
             ("container-list", "-a", "--json"), ("image-list", "--json")]
    for entry in (alice, bob, admin):
        for argv in reads:
            for _ in range(10):
                before = lab.sh.run(entry, *argv, check=True, extra_env=OFF).stdout
                served = lab.sh.run(entry, *argv, check=True).stdout
                after = lab.sh.run(entry, *argv, check=True, extra_env=OFF).stdout
                if before == after:
                    assert served == before, f"{entry.pw_name}'s {' '.join(argv)}"
                    break
            else:
                raise AssertionError(f"{entry.pw_name}'s {' '.join(argv)} kept moving")
    docker(lab.sh, "rm", "-f", f"behind._.{bob.pw_uid}", f"plain._.{alice.pw_uid}")
    served = lab.sh.run(bob, "gpu-status", "--json", check=True).stdout
    assert "behind" not in served
    assert served == lab.sh.run(bob, "gpu-status", "--json", check=True, extra_env=OFF).stdout
