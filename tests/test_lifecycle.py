"""The lifecycle jobs against real Docker, driven by a fake clock (DS01_NOW): idle reclaim, max runtime,
hold timers, locks, dry runs, notifications and the event log."""

import json
import os
import textwrap
import time

import portalocker
import pytest

from ds01 import labels as L
from ds01.clock import parse_docker as parse_time
from tests.support import sandbox
from tests.support.lifelab import IMAGE, MINUTE, UUID, LifeLab


@pytest.fixture
def life(user_tmp, users, dockerd, client, sh):
    return LifeLab(user_tmp, users, dockerd, client)


def status(container):
    container.reload()
    return container.status


# ---------------------------------------------------------------- acceptance 1 and 6: idle reclaim

def test_an_idle_gpu_container_is_warned_at_80_and_95_percent_then_stopped(life, users, client):
    alice, bob = users["alice"], users["bob"]
    ws = life.workspace(alice, "idle")
    idle = life.container(alice, "idle", ["sleep", "infinity"], slot="0", workspace=ws)
    busy = life.container(alice, "busy", ["sh", "-c", "yes > /dev/null"], slot="1")
    dev = life.container(alice, "dev", ["sleep", "infinity"], slot="2.0", labels={L.INTERFACE: "devcontainer"})
    exempt = life.container(bob, "long", ["sleep", "infinity"], slot="2.1")
    deployed = life.sh.records(alice, "container-deploy", "dep", IMAGE, "--num-gpus", "1", "--background")[0]
    t0 = max(life.started(c) for c in (idle, busy, dev, exempt))
    t0 = max(t0, parse_time(client.api.inspect_container(deployed["container"])["State"]["StartedAt"]).timestamp())

    def at(minutes):
        return t0 + minutes * MINUTE

    first = life.decisions("ds01-idle-check", at(1))
    assert first["idle"]["decision"] == "idle" and first["idle"]["reason"].startswith("idle check 1 of 2")
    assert first["busy"]["decision"] == "active" and "CPU" in first["busy"]["reason"]
    assert first["busy"]["signals"]["processes"] == 1 and first["busy"]["signals"]["process_names"] == ["yes"]
    assert first["dev"]["decision"] == "exempt" and "devcontainer" in first["dev"]["reason"]
    assert first["long"]["decision"] == "exempt" and "thesis deadline" in first["long"]["reason"]
    assert first["dep"]["type"] == "orchestration"
    assert life.decisions("ds01-idle-check", at(11))["idle"]["decision"] == "grace"
    assert life.decisions("ds01-idle-check", at(41))["idle"]["decision"] == "idle"
    warn80 = life.decisions("ds01-idle-check", at(50))
    assert warn80["idle"]["decision"] == "warn" and "80 % warning" in warn80["idle"]["reason"]
    assert life.decisions("ds01-idle-check", at(52))["idle"]["decision"] == "idle"  # warned once, not again
    warn95 = life.decisions("ds01-idle-check", at(59))
    assert warn95["idle"]["decision"] == "warn" and "95 % warning" in warn95["idle"]["reason"]
    assert status(idle) == "running"
    keep_alive = ws / ".keep-alive"
    keep_alive.touch()
    os.utime(keep_alive, (at(62) - 3 * 3600, at(62) - 3 * 3600))  # older than keepalive_max_duration_h (2h)
    stop = life.decisions("ds01-idle-check", at(62))
    assert stop["idle"]["decision"] == "stop" and "ignored" in stop["idle"]["reason"]
    assert stop["dep"]["decision"] == "stop" and stop["dep"]["removed"] is True
    assert status(idle) == "exited"
    assert not client.containers.list(all=True, filters={"name": deployed["container"]})  # deploy's: removed
    for survivor in (busy, dev, exempt):
        assert status(survivor) == "running"
    assert {r["name"]: r["decision"] for r in stop.values()}["busy"] == "active"
    # what alice saw: her terminal and the alerts file in the container's workspace
    terminal = (life.ttys / "pts/1").read_text()
    assert "idle: it will be stopped at" in terminal and "touch /workspace/.keep-alive" in terminal
    assert "idle for 58m" in terminal and "It is being stopped now" in terminal
    alerts = (ws / ".ds01-alerts").read_text()
    assert alerts.count("--- ds01: idle idle: it will be stopped at") == 2 and "It is being stopped now" in alerts
    # the event log, through ds01-events as alice
    seen = life.sh.records(alice, "ds01-events", "--since", "1h",  # a user's own, without --user (admins')
                           extra_env={"DS01_LOG_DIR": str(life.logs)})
    about_idle = [(e["event_type"], e["details"].get("percent")) for e in seen if e["details"].get("name") == "idle"]
    assert about_idle == [("lifecycle.warn", 80), ("lifecycle.warn", 95), ("container.idle-stop", None)]
    assert [e["event_type"] for e in seen if e["details"].get("name") == "dep"][-2:] == [
        "container.idle-stop", "container.remove"]
    assert all(e["source"] == "ds01-idle-check" for e in seen if e["details"].get("name") == "idle")


def _to_warning(life, box):
    """Idle checks up to the 80 % warning of `box` (idle_timeout_h 1, window 2, grace 30m); its start time."""
    t0 = life.started(box)
    life.job("ds01-idle-check", t0 + 60)
    life.job("ds01-idle-check", t0 + 31 * MINUTE)
    warned = life.decisions("ds01-idle-check", t0 + 50 * MINUTE)[box.labels[L.NAME]]
    assert warned["decision"] == "warn" and "80 % warning" in warned["reason"]
    return t0


def test_a_warning_is_not_work_the_next_check_right_after_it_still_sees_idle(life, users, client):
    alice = users["alice"]
    ws = life.workspace(alice, "quiet")
    box = life.container(alice, "quiet", ["sleep", "infinity"], slot="0", workspace=ws)
    t0 = _to_warning(life, box)
    assert client.api.inspect_container(box.id)["ExecIDs"] is None  # nothing ran inside the container
    alerts = ws / ".ds01-alerts"
    assert "80 %" not in alerts.read_text() and "idle: it will be stopped at" in alerts.read_text()
    assert (alerts.stat().st_uid, alerts.stat().st_gid) == (alice.pw_uid, alice.pw_gid)
    right_after = life.decisions("ds01-idle-check", t0 + 51 * MINUTE)["quiet"]  # real gap: the job's own run time
    assert right_after["decision"] == "idle", right_after["reason"]
    assert right_after["signals"]["cpu_percent"] < 0.5


def test_a_symlink_planted_as_the_alerts_file_is_not_followed(life, users, user_tmp):
    alice = users["alice"]
    ws = life.workspace(alice, "trick")
    target = user_tmp / "root-only"
    target.write_text("root's\n")
    os.chmod(target, 0o644)
    os.symlink(target, ws / ".ds01-alerts")  # what alice can do in her own workspace
    os.lchown(ws / ".ds01-alerts", alice.pw_uid, alice.pw_gid)
    box = life.container(alice, "trick", ["sleep", "infinity"], slot="0", workspace=ws)
    _to_warning(life, box)
    assert target.read_text() == "root's\n"
    assert "idle: it will be stopped at" in (life.ttys / "pts/1").read_text()  # the terminal still got it


def test_without_a_workspace_mount_the_alert_and_keep_alive_go_through_the_engine(life, users, client):
    import io
    import tarfile

    alice = users["alice"]
    box = life.container(alice, "nomount", ["sleep", "infinity"], slot="0", working_dir="/workspace")
    t0 = _to_warning(life, box)
    assert client.api.inspect_container(box.id)["ExecIDs"] is None
    stream, _ = client.api.get_archive(box.id, "/workspace/.ds01-alerts")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        assert (member.uid, member.gid) == (alice.pw_uid, alice.pw_gid)
        assert b"idle: it will be stopped at" in tar.extractfile(member).read()
    keep = io.BytesIO()
    with tarfile.open(fileobj=keep, mode="w") as tar:  # alice touches /workspace/.keep-alive inside
        info = tarfile.TarInfo(".keep-alive")
        info.mtime = int(t0 + 55 * MINUTE)
        tar.addfile(info, io.BytesIO(b""))
    client.api.put_archive(box.id, "/workspace", keep.getvalue())
    kept = life.decisions("ds01-idle-check", t0 + 62 * MINUTE)["nomount"]
    assert kept["decision"] == "keep-alive" and "honoured until" in kept["reason"]
    assert status(box) == "running"


def test_gpu_use_keeps_a_container_active_whole_gpu_by_utilisation_mig_by_its_processes(life, users):
    alice = users["alice"]
    whole = life.container(alice, "whole", ["sleep", "infinity"], slot="0")
    mig = life.container(alice, "mig", ["sleep", "infinity"], slot="2.0")
    life.set_inventory(u0="60", p20="[{pid: 99999, used_memory: 2g, container: mig._.%d}]" % alice.pw_uid)
    t0 = max(life.started(whole), life.started(mig))
    first = life.decisions("ds01-idle-check", t0 + 60)
    assert first["whole"]["decision"] == "active" and first["whole"]["signals"]["gpu"][0]["utilization"] == 60
    assert first["mig"]["decision"] == "active"
    assert first["mig"]["signals"]["gpu"][0] == {"slot": "2.0", "utilization": None, "processes": 1,
                                                 "memory_used": 2 * 1024**3, "active": True}
    life.set_inventory(u0="2")  # below gpu_idle_threshold (5), and the MIG process is gone
    again = life.decisions("ds01-idle-check", t0 + 120)
    assert again["whole"]["decision"] == "idle" and again["mig"]["decision"] == "idle"


def _keep_alive_at(life, entry, name, mtime):
    """An idle GPU container past its idle window and grace, whose .keep-alive is dated mtime(t0); (box, t0)."""
    ws = life.workspace(entry, name)
    box = life.container(entry, name, ["sleep", "infinity"], slot="1", workspace=ws)
    t0 = life.started(box)
    life.job("ds01-idle-check", t0 + 60)
    life.job("ds01-idle-check", t0 + 31 * MINUTE)
    keep_alive = ws / ".keep-alive"
    keep_alive.touch()
    os.utime(keep_alive, (mtime(t0), mtime(t0)))
    return box, t0


def test_a_fresh_keep_alive_postpones_the_stop_and_is_logged(life, users):
    box, t0 = _keep_alive_at(life, users["alice"], "ka", lambda t0: t0 + 50 * MINUTE)
    kept = life.decisions("ds01-idle-check", t0 + 65 * MINUTE)["ka"]
    assert kept["decision"] == "keep-alive" and "honoured until" in kept["reason"]
    assert status(box) == "running"
    assert [e["details"]["name"] for e in life.events(event_type="lifecycle.keep-alive")] == ["ka"]
    stopped = life.decisions("ds01-idle-check", t0 + 50 * MINUTE + 2 * 3600 + 60)["ka"]  # 2h after the touch
    assert stopped["decision"] == "stop"
    assert status(box) == "exited"


def test_the_owner_cannot_stall_the_jobs_by_stopping_every_process_they_may_signal(life, users, client):
    """alice SIGSTOPs every process she may signal, in a loop, while root's idle check reads her .keep-alive
    and writes her notices. The check used to fork a helper that took her uid; she stopped it and the job
    waited forever, so no idle GPU was reclaimed again for anyone (issue 29, finding 4)."""
    import signal
    import subprocess

    alice = users["alice"]
    box, t0 = _keep_alive_at(life, alice, "stall", lambda t0: t0 + 50 * MINUTE)
    stopper = subprocess.Popen(sandbox.as_user_command(alice, ["/usr/bin/python3", "-c", textwrap.dedent("""\
        import os, signal
        while True:
            try:
                os.kill(-1, signal.SIGSTOP)
            except OSError:
                pass
        """)]), stdin=subprocess.DEVNULL)
    try:
        for at in (t0 + 65 * MINUTE, t0 + 66 * MINUTE, t0 + 50 * MINUTE + 2 * 3600 + 60):
            checked = life.job("ds01-idle-check", at, check=False, timeout=60)
            assert checked.returncode == 0, checked.stderr
            decided = {r.get("name"): r for r in map(json.loads, checked.stdout.splitlines())}["stall"]
            assert decided["decision"] == ("stop" if at > t0 + 2 * 3600 else "keep-alive"), decided
        assert stopper.poll() is None  # the attack ran the whole time
    finally:
        stopper.send_signal(signal.SIGKILL)
        stopper.wait()
    assert status(box) == "exited"
    alerts = (life.directory / f"ws-{alice.pw_name}-stall" / ".ds01-alerts").read_text()
    assert "stopped" in alerts


def test_a_keep_alive_dated_in_the_future_counts_from_the_check_that_first_saw_it(life, users):
    """`touch -d 2099-01-01 ~/workspace/x/.keep-alive` was honoured until 2099 (issue 18, repro 10)."""
    box, t0 = _keep_alive_at(life, users["alice"], "far", lambda t0: 4070908800)  # 2099-01-01
    kept = life.decisions("ds01-idle-check", t0 + 65 * MINUTE)["far"]
    assert kept["decision"] == "keep-alive" and "(in the future), counted from" in kept["reason"]
    stopped = life.decisions("ds01-idle-check", t0 + 65 * MINUTE + 2 * 3600 + 60)["far"]  # keepalive_max: 2h
    assert stopped["decision"] == "stop" and "ignored" in stopped["reason"]
    assert status(box) == "exited"


def test_a_process_that_only_exists_is_no_work(life, users):
    """`tail -f /dev/null` counted as an active process forever (issue 18, repro 10); `yes` still counts."""
    alice = users["alice"]
    idle = life.container(alice, "tail", ["sh", "-c", "tail -f /dev/null"], slot="0")
    busy = life.container(alice, "yes", ["sh", "-c", "yes > /dev/null"], slot="1")
    t0 = max(life.started(idle), life.started(busy))
    life.job("ds01-idle-check", t0 + 60)
    second = life.decisions("ds01-idle-check", t0 + 2 * 60)
    assert second["tail"]["decision"] == "grace" and second["tail"]["signals"]["processes"] == 0  # idle, in grace
    assert second["yes"]["decision"] == "active" and second["yes"]["signals"]["process_names"] == ["yes"]


def test_cpu_only_containers_are_checked_where_the_policy_says_so(life, users):
    """Cron runs the jobs without --all: CPU-only containers were never stopped (issue 18, repro 10). DS01's default
    stays (GPU containers only); `policies: {cpu_only_containers: true}` brings them in."""
    alice = users["alice"]
    box = life.container(alice, "cpu", ["sleep", "infinity"])
    t0 = life.started(box)
    assert "cpu" not in life.decisions("ds01-max-runtime", t0 + 11 * 3600)
    life.policy.write_text(life.policy.read_text().replace("  keepalive_max_duration_h: 2\n",
                                                           "  keepalive_max_duration_h: 2\n  cpu_only_containers: true\n"))
    stopped = life.decisions("ds01-max-runtime", t0 + 11 * 3600)["cpu"]
    assert stopped["decision"] == "stop" and status(box) == "exited"


def test_high_demand_halves_the_idle_timeout(life, users):
    alice = users["alice"]
    boxes = [life.container(alice, f"hd{slot.replace('.', '')}", ["sleep", "infinity"], slot=slot)
             for slot in ("0", "1", "2.0", "2.1", "3")]
    life.policy.write_text(life.policy.read_text().replace("high_demand_threshold: 1.0", "high_demand_threshold: 0.8"))
    t0 = max(life.started(b) for b in boxes)
    life.job("ds01-idle-check", t0 + 60)
    life.job("ds01-idle-check", t0 + 20 * MINUTE)
    result = life.decisions("ds01-idle-check", t0 + 32 * MINUTE)  # idle 31m of 60m/2
    assert {r["decision"] for r in result.values()} == {"stop"}
    assert result["hd0"]["signals"]["high_demand"] == pytest.approx(5 / 6, abs=0.001)
    assert result["hd0"]["signals"]["timeout_s"] == 1800


# ---------------------------------------------------------------- acceptance 2: the stop signal's grace

def test_a_container_that_traps_sigterm_gets_its_grace_time_and_exits_cleanly(life, users, client):
    alice = users["alice"]
    script = 'trap "sleep 2; echo cleaned up; exit 0" TERM; while :; do sleep 0.2; done'
    box = life.container(alice, "trap", ["sh", "-c", script], slot="1",
                         labels={"com.docker.compose.project": "exp", L.INTERFACE: "compose"})
    t0 = life.started(box)
    decision = life.decisions("ds01-max-runtime", t0 + 61 * MINUTE)["trap"]  # compose: max_runtime_h 1
    assert decision["decision"] == "stop" and decision["type"] == "compose"
    box.reload()
    assert box.attrs["State"]["ExitCode"] == 0, box.logs()
    assert b"cleaned up" in box.logs()
    [event] = life.events(event_type="container.runtime-stop")
    assert event["details"]["timeout_s"] == 20 and event["details"]["exit_code"] == 0


# ---------------------------------------------------------------- acceptance 3: max runtime across restarts

def test_max_runtime_counts_running_time_across_a_stop_and_start(life, users, client):
    alice = users["alice"]
    box = life.container(alice, "long", ["sleep", "infinity"], slot="1")
    s1 = life.started(box)
    hour = 3600
    first = life.decisions("ds01-max-runtime", s1 + 8 * hour)["long"]
    assert first["decision"] == "warn" and "75 % warning" in first["reason"]
    box.stop(timeout=0)
    box.start()
    s2 = life.started(box)
    second = life.decisions("ds01-max-runtime", s2 + 1.5 * hour)["long"]  # 8h + 1.5h = 95 %
    assert second["decision"] == "warn" and "90 % warning" in second["reason"]
    assert second["signals"]["runs"] == 2
    assert life.decisions("ds01-max-runtime", s2 + 1.9 * hour)["long"]["decision"] == "ok"
    stop = life.decisions("ds01-max-runtime", s2 + 2.1 * hour)["long"]  # 10.1h in all; 2.1h since the restart
    assert stop["decision"] == "stop" and stop["signals"]["running_s"] >= 10 * hour
    assert status(box) == "exited"
    assert [e["details"].get("percent") for e in life.events(event_type="lifecycle.warn")] == [75, 90]
    assert "has run for" in (life.ttys / "pts/1").read_text()


def test_a_container_paused_longer_than_max_pause_time_is_stopped(life, users):
    alice = users["alice"]
    box = life.container(alice, "frozen", ["sleep", "infinity"], slot="1")
    t0 = life.started(box)
    box.pause()
    assert life.decisions("ds01-max-runtime", t0 + 60)["frozen"]["decision"] == "ok"
    stopped = life.decisions("ds01-max-runtime", t0 + 62 * MINUTE)["frozen"]
    assert stopped["decision"] == "stop" and "paused for 1h" in stopped["reason"]
    assert status(box) == "exited"
    assert life.events(event_type="container.pause-stop")[0]["user"] == alice.pw_name


# ---------------------------------------------------------------- acceptance 4: hold timers

def test_a_created_but_never_started_container_survives_until_its_timeout(life, users, client):
    alice = users["alice"]
    rec = life.sh.records(alice, "container-create", "fresh", IMAGE, "--num-gpus", "1")[0]
    created = parse_time(client.api.inspect_container(rec["container"])["Created"]).timestamp()
    kept = life.decisions("ds01-release-stale", created + 29 * MINUTE)["fresh"]
    assert kept["decision"] == "keep" and "removed after 30m" in kept["reason"]
    assert client.containers.list(all=True, filters={"name": rec["container"]})
    removed = life.decisions("ds01-release-stale", created + 31 * MINUTE)["fresh"]
    assert removed["decision"] == "remove"
    assert not client.containers.list(all=True, filters={"name": rec["container"]})
    [event] = life.events(event_type="container.remove")
    assert event["details"]["reason"] == "created_never_started" and event["user"] == alice.pw_name


def test_what_a_killed_create_or_a_docker_rm_left_is_cleared_after_a_grace(life, users, client):
    """A create killed mid-way leaves the container's own image tag and its bind-point directory; `docker rm`
    leaves the cached account files of an image that is then deleted. ds01-release-stale removes the first two
    once they have been leftovers for an hour (a create in progress has them for a moment), the cache at once,
    and never what a live container uses."""
    alice = users["alice"]
    live = life.sh.records(alice, "container-create", "live", IMAGE, "--cpu-only")[0]
    life.sh.run(alice, "container-start", "live", check=True)
    ghost = f"ghost._.{alice.pw_uid}"
    repository = IMAGE.rsplit(":", 1)[0]
    client.api.tag(IMAGE, repository, ghost)
    pins = life.state / "mounts" / ghost
    os.makedirs(pins / "workspace", mode=0o700)
    cache = life.state / ("image-etc-" + "0" * 64 + ".json")
    cache.write_text("{}")
    groups_cache = life.state / ("image-etc-" + "1" * 64 + ".groups.json")  # only an image's group files
    groups_cache.write_text("{}")
    t0 = time.time()

    def leftovers(at):
        records = [r for r in life.job("ds01-release-stale", at) if not r.get("summary") and r["container"] is None]
        return {r["signals"]["leftover"]: r["decision"] for r in records}

    assert leftovers(t0) == {"bind_points": "keep", "image_tag": "keep", "account_cache": "remove"}
    assert pins.exists() and f"{repository}:{ghost}" in client.images.get(IMAGE).tags
    assert not cache.exists() and not groups_cache.exists()
    assert leftovers(t0 + 61 * MINUTE) == {"bind_points": "remove", "image_tag": "remove"}
    assert not pins.exists() and f"{repository}:{ghost}" not in client.images.get(IMAGE).tags
    assert leftovers(t0 + 62 * MINUTE) == {}
    assert client.containers.get(live["container"]).status == "running"
    assert f"{repository}:{live['container']}" in client.images.get(IMAGE).tags


def test_a_stopped_container_loses_its_slot_after_the_gpu_hold_then_is_removed(life, users, client):
    alice, bob = users["alice"], users["bob"]
    life.inventory_path.write_text("gpus:\n  - {index: 0, uuid: %s, name: A100, memory_total: 40g}\n" % UUID["0"])
    rec = life.sh.records(alice, "container-create", "held", IMAGE, "--num-gpus", "1")[0]
    life.sh.run(alice, "container-start", "held", check=True)
    life.sh.run(alice, "container-stop", "held", check=True)
    finished = parse_time(client.api.inspect_container(rec["container"])["State"]["FinishedAt"]).timestamp()
    assert life.decisions("ds01-release-stale", finished + 59 * MINUTE)["held"]["decision"] == "keep"
    refused = life.sh.run(bob, "container-create", "mine", IMAGE, "--num-gpus", "1")
    assert refused.returncode == 3  # the only GPU is still alice's
    released = life.decisions("ds01-release-stale", finished + 61 * MINUTE)["held"]
    assert released["decision"] == "release" and "the container is kept" in released["reason"]
    assert client.containers.list(all=True, filters={"name": rec["container"]})
    assert life.sh.records(bob, "container-create", "mine", IMAGE, "--num-gpus", "1")[0]["gpus"] == [UUID["0"]]
    again = life.decisions("ds01-release-stale", finished + 90 * MINUTE)["held"]
    assert again["decision"] == "keep" and again["signals"]["gpu_released"] is True
    removed = life.decisions("ds01-release-stale", finished + 121 * MINUTE)["held"]
    assert removed["decision"] == "remove"
    assert not client.containers.list(all=True, filters={"name": rec["container"]})
    assert [e["details"]["reason"] for e in life.events(user=alice.pw_name, event_type="gpu.release")] == [
        "hold_expired"]
    assert "no longer holds GPU slot(s) 0" in (life.ttys / "pts/1").read_text()


def test_protected_and_infrastructure_containers_are_never_touched(life, users, client):
    alice = users["alice"]
    protected = life.container(alice, "guarded", ["sleep", "infinity"], slot="1", labels={L.PROTECTED: "true"})
    infra = client.containers.run(IMAGE, ["sleep", "infinity"], name="ds01-prometheus", detach=True,
                                  device_requests=[__import__("docker").types.DeviceRequest(
                                      device_ids=[UUID["3"]], capabilities=[["gpu"]])])
    life.policy.write_text(life.policy.read_text() + "monitoring:\n  infrastructure_containers: [ds01-prometheus]\n")
    t0 = max(life.started(protected), life.started(infra))
    for minutes in (1, 31, 200, 700):
        for job in ("ds01-idle-check", "ds01-max-runtime"):
            found = {r["container"]: r for r in life.job(job, t0 + minutes * MINUTE) if not r.get("summary")}
            assert found[protected.name]["decision"] == "protected"
            assert found["ds01-prometheus"]["decision"] == "protected"
    protected.stop(timeout=0)
    found = {r["container"]: r for r in life.job("ds01-release-stale", t0 + 10 * 3600) if not r.get("summary")}
    assert found[protected.name]["decision"] == "protected"
    assert status(protected) == "exited" and status(infra) == "running"


def test_protection_is_an_admins_decision_never_a_users(life, users, client):
    """Issue 18, item 3: an admin's `ds01-protect` keeps the jobs away from alice's ds01 container until
    `--off`; alice cannot protect her own, and a protection label on a container ds01 made counts for nothing."""
    alice, admin = users["alice"], users["admin"]
    rec = life.sh.records(alice, "container-deploy", "thesis", IMAGE, "--num-gpus", "1", "--background")[0]
    started = parse_time(client.api.inspect_container(rec["container"])["State"]["StartedAt"]).timestamp()
    legacy = life.container(alice, "legacy", ["sleep", "infinity"], slot="2.0",
                            labels={L.MANAGED: "true", L.PROTECTED: "true"})  # an older ds01's create let this by
    late = max(started, life.started(legacy)) + 700 * MINUTE  # past alice's max runtime
    assert life.decisions("ds01-max-runtime", late, "--dry-run")["legacy"]["decision"] == "stop"

    refused = life.sh.run(alice, "ds01-protect", rec["container"], "--reason", "mine")
    assert refused.returncode == 5 and "is for admins only" in refused.stderr
    assert life.decisions("ds01-max-runtime", late, "--dry-run")["thesis"]["decision"] == "stop"
    [made] = life.sh.records(admin, "ds01-protect", rec["container"], "--reason", "defence on Friday")
    assert made["protected"] is True and made["by"] == admin.pw_name
    assert life.sh.records(admin, "ds01-protect", "--list") == [made]
    for job in ("ds01-idle-check", "ds01-max-runtime"):
        decided = life.decisions(job, late)["thesis"]
        assert decided["decision"] == "protected" and "defence on Friday" in decided["reason"]
    assert client.containers.get(rec["container"]).status == "running"
    [ended] = life.sh.records(admin, "ds01-protect", "--off", rec["container"])
    assert ended["protected"] is False and life.sh.records(admin, "ds01-protect", "--list") == []
    assert life.decisions("ds01-max-runtime", late, "--dry-run")["thesis"]["decision"] == "stop"


# ---------------------------------------------------------------- acceptance 5: one run at a time, dry runs

@pytest.mark.parametrize("job", ["ds01-idle-check", "ds01-max-runtime", "ds01-release-stale"])
def test_one_run_at_a_time(life, users, job):
    """A second run while one is active exits 0, says so, and does nothing."""
    alice = users["alice"]
    box = life.container(alice, "busy", ["sleep", "infinity"], slot="1")
    box.stop(timeout=0) if job == "ds01-release-stale" else None
    jobs = life.state / "jobs"
    jobs.mkdir(mode=0o755)
    flags = portalocker.LOCK_EX | portalocker.LOCK_NB
    with portalocker.Lock(str(jobs / f"{job}.lock"), mode="a", timeout=0, flags=flags):
        result = life.job(job, life.started(box) + 100 * 3600, check=False)
    assert result.returncode == 0
    assert f"{job}: another run is active; nothing done" in result.stderr
    [summary] = [json.loads(line) for line in result.stdout.splitlines()]
    assert summary["ran"] is False
    assert status(box) == ("exited" if job == "ds01-release-stale" else "running")
    assert life.events() == []
    after = life.job(job, life.started(box) + 100 * 3600)  # the lock is free again: this run works
    assert after[-1]["ran"] is True


def test_dry_runs_report_what_they_would_do_and_change_nothing(life, users, client):
    alice = users["alice"]
    ws = life.workspace(alice, "dry")
    idle = life.container(alice, "dry", ["sleep", "infinity"], slot="0", workspace=ws)
    stale = life.container(alice, "old", ["true"], slot="1", labels={L.DS01_USER: alice.pw_name})  # DS01's: removed
    stale.wait()
    t0 = life.started(idle)
    life.job("ds01-idle-check", t0 + 60)
    life.job("ds01-idle-check", t0 + 31 * MINUTE)
    memory = (life.state / "jobs" / "ds01-idle-check.json").read_bytes()
    events_before = life.events()
    late = t0 + 11 * 3600
    would = {
        "ds01-idle-check": life.decisions("ds01-idle-check", late, "--dry-run")["dry"],
        "ds01-max-runtime": life.decisions("ds01-max-runtime", late, "--dry-run")["dry"],
        "ds01-release-stale": life.decisions("ds01-release-stale", late, "--dry-run")["old"],
    }
    assert {job: r["decision"] for job, r in would.items()} == {
        "ds01-idle-check": "stop", "ds01-max-runtime": "stop", "ds01-release-stale": "remove"}
    assert all(r["dry_run"] for r in would.values())
    assert status(idle) == "running" and status(stale) == "exited"
    assert (life.state / "jobs" / "ds01-idle-check.json").read_bytes() == memory
    assert not (life.state / "jobs" / "ds01-max-runtime.json").exists()
    assert life.events() == events_before
    assert not (ws / ".ds01-alerts").exists() and (life.ttys / "pts/1").read_text() == ""
    assert life.decisions("ds01-idle-check", late)["dry"]["decision"] == "stop"  # the real run acts
    assert status(idle) == "exited"


def test_a_malformed_exemptions_file_stops_the_job_before_it_acts(life, users):
    alice = users["alice"]
    box = life.container(alice, "safe", ["sleep", "infinity"], slot="1")
    (life.directory / "lifecycle-exemptions.yaml").write_text("exemptions:\n  - username: x\n    exempt_from: [naps]\n")
    result = life.job("ds01-idle-check", life.started(box) + 100 * 3600, check=False)
    assert result.returncode == 1
    assert "lifecycle-exemptions.yaml:2: exemptions[0].exempt_from: unknown timer 'naps'" in result.stderr
    assert status(box) == "running"


# ---------------------------------------------------------------- the event log: every change

def test_every_change_is_logged_with_the_owner_and_who_acted(life, users):
    alice, admin = users["alice"], users["admin"]
    life.sh.records(alice, "container-create", "logged", IMAGE, "--num-gpus", "1")
    life.sh.run(alice, "container-start", "logged", check=True)
    life.sh.run(alice, "container-pause", "logged", check=True)
    life.sh.run(alice, "container-unpause", "logged", check=True)
    life.sh.run(admin, "container-stop", f"logged._.{alice.pw_uid}", check=True)
    assert life.sh.run(alice, "container-create", "toomany", IMAGE, "--num-gpus", "5").returncode == 3
    life.sh.run(alice, "container-remove", "logged", check=True)
    mine = life.events(user=alice.pw_name)
    assert [e["event_type"] for e in mine] == [
        "gpu.allocate", "container.create", "container.start", "container.pause", "container.unpause",
        "container.stop", "gpu.reject", "container.remove"]
    from ds01.events import TYPES

    assert {e["event_type"] for e in life.events()} <= set(TYPES)  # only the documented types
    stop = next(e for e in mine if e["event_type"] == "container.stop")
    assert stop["details"]["by"] == admin.pw_name and stop["source"] == "container-stop"
    assert all(set(e) == {"timestamp", "event_type", "schema_version", "user", "source", "details"} for e in mine)


def test_a_command_whose_event_cannot_be_written_still_succeeds(life, users, client):
    alice = users["alice"]
    result = life.sh.run(alice, "container-create", "unlogged", IMAGE, extra_env={"DS01_LOG_DIR": "/proc/ds01"})
    assert result.returncode == 0
    assert "container-create: warning: could not write the event log /proc/ds01/events.jsonl" in result.stderr
    assert client.containers.list(all=True, filters={"name": f"unlogged._.{alice.pw_uid}"})


def test_cpu_only_containers_are_checked_only_with_all(life, users):
    alice = users["alice"]
    box = life.container(alice, "cpu", ["sleep", "infinity"])
    t0 = life.started(box)
    assert "cpu" not in life.decisions("ds01-idle-check", t0 + 60)
    assert life.decisions("ds01-idle-check", t0 + 120, "--all")["cpu"]["signals"]["gpu_active"] is None


def test_the_jobs_are_for_admins(life, users):
    result = life.sh.run(users["alice"], "ds01-idle-check", "--dry-run")
    assert result.returncode == 5 and "admins only" in result.stderr


# ---------------------------------------------------------------- cron, logrotate, tmpfiles

def _cron_jobs():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "etc" / "cron.d" / "ds01").read_text()
    jobs = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or "=" in line.split()[0]:
            continue
        minute, hour, dom, month, dow, user, *command = line.split()
        jobs.append((minute, (hour, dom, month, dow), user, command))
    return text, jobs


def _minutes(field):
    span, _, step = field.partition("/")
    start, _, end = span.partition("-")
    return set(range(int(start), int(end or start) + 1 if not step else int(end or 59) + 1, int(step or 1)))


def test_cron_runs_each_job_as_root_on_minutes_of_its_own():
    from ds01 import registry

    _, jobs = _cron_jobs()
    names = [command[0].rsplit("/", 1)[-1] for _, _, _, command in jobs]
    lifecycle = {c.name for c in registry.COMMANDS if c.layer == "lifecycle" and c.name != "ds01-notify"}
    assert sorted(names) == sorted(lifecycle)
    taken = {}
    for (minute, when, user, command), name in zip(jobs, names):
        assert user == "root" and when == ("*", "*", "*", "*") and "--json" in command
        for m in _minutes(minute):
            assert m not in taken, f"{name} and {taken[m]} both start at minute {m}"
            taken[m] = name
    assert _minutes("2-59/10") == {2, 12, 22, 32, 42, 52}


def test_logrotate_covers_every_log_cron_and_the_commands_write():
    from pathlib import Path

    etc = Path(__file__).resolve().parents[1] / "etc"
    rotated = (etc / "logrotate.d" / "ds01").read_text()
    _, jobs = _cron_jobs()
    for _, _, _, command in jobs:
        assert command[-1] in rotated
    assert "/var/log/ds01/events.jsonl {" in rotated and "create 0640 root adm" in rotated
    tmpfiles = (etc / "tmpfiles.d" / "ds01.conf").read_text()
    assert "f /var/log/ds01/events.jsonl   0640 root adm" in tmpfiles
    assert "d /var/lib/ds01                0755 root root" in tmpfiles and "1777" not in tmpfiles


def test_a_first_job_run_creates_a_state_dir_only_root_writes_and_users_work_through_ds01d(life, users):
    import stat

    fresh = life.directory / "fresh-state"
    result = life.sh.run(life.root, "ds01-release-stale", "--json", extra_env={"DS01_STATE_DIR": str(fresh)})
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o755 and fresh.stat().st_uid == 0
    assert stat.S_IMODE((fresh / "jobs").stat().st_mode) == 0o755
    claim = life.sh.run(users["alice"], "gpu-allocate", "--json", extra_env={"DS01_STATE_DIR": str(fresh)})
    assert claim.returncode == 0, claim.stderr
    assert stat.S_IMODE((fresh / "gpu-claims.json").stat().st_mode) == 0o644
    assert (fresh / "gpu-claims.json").stat().st_uid == 0


def test_container_types_follow_ds01s_detection_rules(life, users, client):
    alice = users["alice"]
    made = {
        "vscode-thesis": {},
        "plainbox": {"devcontainer.metadata": "[]"},
        "proj_web_1": {},
        "jupyter-alice": {},
        "notebook": {"hub.jupyter.org/username": alice.pw_name},
        "legacy": {"ds01.managed": "true"},
        "adhoc": {},
    }
    for name, labels in made.items():
        client.containers.run(IMAGE, ["sleep", "infinity"], name=name, labels=labels, detach=True)
    types = {r["container"]: r["type"] for r in life.job("ds01-idle-check", 0, "--all", "--dry-run")
             if not r.get("summary")}
    assert types == {"vscode-thesis": "devcontainer", "plainbox": "devcontainer", "proj_web_1": "compose",
                     "jupyter-alice": "jupyter", "notebook": "jupyter", "legacy": "atomic", "adhoc": "unknown"}


def test_an_exempt_user_is_told_once_per_exemption_what_and_until_when(life, users, client):
    bob = users["bob"]
    ws = life.workspace(bob, "long")
    box = life.container(bob, "long", ["sleep", "infinity"], slot="1", workspace=ws)
    t0 = life.started(box)
    assert life.decisions("ds01-idle-check", t0 + 60, "--dry-run")["long"]["decision"] == "exempt"
    assert not (ws / ".ds01-alerts").exists()  # a dry run tells nobody
    for minutes in (1, 11, 21):
        assert life.decisions("ds01-idle-check", t0 + minutes * MINUTE)["long"]["decision"] == "exempt"
    box.restart(timeout=0)
    assert life.decisions("ds01-idle-check", life.started(box) + 60)["long"]["decision"] == "exempt"
    alerts = (ws / ".ds01-alerts").read_text()
    assert alerts.count("lifecycle exemption") == 1
    assert "exempt from being stopped when idle (idle_timeout_h) until 2099-01-01 00:00 UTC: thesis deadline" in alerts
    [event] = life.events(event_type="lifecycle.exempt")
    assert event["user"] == bob.pw_name and event["details"]["expires"] == "2099-01-01T00:00:00Z"
