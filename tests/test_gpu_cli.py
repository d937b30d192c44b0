"""GPU allocation end to end: real users, a private dockerd with the fake NVIDIA hook, the example inventory."""

import concurrent.futures
import datetime
import json
import os

import pytest

from tests.support import sandbox
from tests.support.gpulab import EXAMPLE, GpuLab, slot_uuids
from tests.support.harness import user_exists
from tests.support.polling import wait_until

IMAGE = sandbox.BASE_IMAGE
CROWD = [f"ds01t_c{i:02d}" for i in range(40)]
WAITERS = {f"ds01t_w{i}": priority for i, priority in enumerate([10, 50, 30, 40, 20])}


UUIDS = slot_uuids()


@pytest.fixture(scope="session")
def extra_users():
    """The crowd (40 students) and 5 waiters with different priorities."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create users")
    made = {}
    for login in CROWD + list(WAITERS):
        existed = user_exists(login)
        made[login] = (sandbox.ensure_user(login), existed)
    yield {login: entry for login, (entry, _) in made.items()}
    for login, (_, existed) in made.items():
        if not existed:
            sandbox.remove_user(login)


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    return GpuLab(user_tmp, users, dockerd)


def device_ids(client, container):
    requests = client.api.inspect_container(container)["HostConfig"]["DeviceRequests"] or []
    return [d for r in requests for d in r["DeviceIDs"] or []]


def status(lab, who):
    return {r["slot"]: r for r in lab.sh.records(who, "gpu-status")}


# ---------------------------------------------------------------- acceptance 1: no double allocation

def _race(lab, extra_users, client, piped):
    def create(i, login):
        entry = extra_users[login]
        name = f"race{i}"
        if piped and i % 2:
            return login, lab.sh.pipe(entry, ["gpu-allocate"], ["container-create", name, IMAGE])
        return login, lab.sh.run(entry, "container-create", name, IMAGE, "--num-gpus", "1")

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda pair: create(*pair), enumerate(CROWD)))
    codes = sorted(r.returncode for _, r in results)
    assert codes == [0] * 11 + [3] * 29, [r.stderr for _, r in results if r.returncode not in (0, 3)]
    refused = [r.stderr for _, r in results if r.returncode == 3]
    assert all("NO_CAPACITY" in e and "allocator busy" not in e for e in refused), refused
    containers = [c for c in client.containers.list(all=True) if c.name.startswith("race")]
    assert len(containers) == 11
    given = [d for c in containers for d in device_ids(client, c.name)]
    assert sorted(given) == sorted(UUIDS.values())  # every slot once, none twice
    assert not lab.claims()  # every claim was consumed
    # all forty went through one ds01d, which is still up and answers
    broker = lab.sh.broker()
    served = [line for line in broker.log_path.read_text().splitlines() if "): container-create race" in line]
    assert len(served) == 40 and broker.alive() and len(status(lab, extra_users[CROWD[0]])) == 11


def test_forty_users_racing_for_eleven_slots_get_eleven_distinct_slots(lab, extra_users, client):
    _race(lab, extra_users, client, piped=False)


def test_the_race_holds_when_half_of_them_pipe_a_claim(lab, extra_users, client):
    _race(lab, extra_users, client, piped=True)


# ---------------------------------------------------------------- acceptance 2: the wait queue

def test_waiters_are_served_in_priority_order_as_slots_free(lab, extra_users, client, users):
    overrides = "user_overrides:\n" + "".join(f"  {login}: {{priority: {p}}}\n" for login, p in WAITERS.items())
    lab.write(overrides)
    fillers = [client.containers.create(IMAGE, ["true"], name=f"filler{i}", device_requests=[
        {"Driver": "nvidia", "DeviceIDs": [uuid], "Capabilities": [["gpu"]]}]) for i, uuid in enumerate(UUIDS.values())]
    waiting = {login: lab.sh.popen(extra_users[login], "container-create", "job", IMAGE, "--wait")
               for login in WAITERS}
    queue = _until(lambda: len(lab.sh.records(users["alice"], "gpu-queue")) == 5 and
                   lab.sh.records(users["alice"], "gpu-queue"))
    assert [e["user"] for e in queue] == sorted(WAITERS, key=WAITERS.get, reverse=True)
    served = []
    for filler in fillers[:5]:
        filler.remove(force=True)
        done = _until(lambda served=served: [login for login, p in waiting.items()
                                             if p.poll() is not None and login not in served])
        assert len(done) == 1, done
        served += done
        assert waiting[done[0]].returncode == 0, waiting[done[0]].stderr.read()
    assert served == sorted(WAITERS, key=WAITERS.get, reverse=True)
    assert lab.sh.records(users["alice"], "gpu-queue") == []


def test_a_waiter_that_gives_up_leaves_the_queue(lab, users, client):
    for i, uuid in enumerate(UUIDS.values()):
        client.containers.create(IMAGE, ["true"], name=f"filler{i}", device_requests=[
            {"Driver": "nvidia", "DeviceIDs": [uuid], "Capabilities": [["gpu"]]}])
    result = lab.sh.run(users["alice"], "gpu-allocate", "--wait=0.5")
    assert result.returncode == 3 and "within 0.5s" in result.stderr
    assert lab.sh.records(users["alice"], "gpu-queue") == []
    assert json.loads((lab.state / "gpu-queue.json").read_text()) == []


def _until(condition, timeout=120):
    """A condition the system will reach (a waiter's own polling is what we observe)."""
    return wait_until("the condition", condition, timeout=timeout)


# ---------------------------------------------------------------- acceptance 3: quotas

def test_a_student_at_two_gpu_equivalents_cannot_take_a_third(lab, users):
    alice = users["alice"]
    lab.sh.records(alice, "gpu-allocate", "--full-gpu", "--num-gpus", "2")
    result = lab.sh.run(alice, "gpu-allocate", "--full-gpu")
    assert result.returncode == 3
    assert "USER_AT_LIMIT (2/2 GPU-eq)" in result.stderr
    result = lab.sh.run(alice, "gpu-allocate", "--gpu-profile", "1g.5gb")
    assert result.returncode == 3 and "USER_AT_LIMIT" in result.stderr


def test_a_mig_only_user_never_gets_a_whole_gpu(lab, users):
    bob = users["bob"]
    claims = [lab.sh.records(bob, "gpu-allocate")[0] for _ in range(4)]
    assert all(s.startswith(("2.", "3.")) for c in claims for s in c["slots"])
    result = lab.sh.run(bob, "gpu-allocate", "--full-gpu")
    assert result.returncode == 3 and "MIG_ONLY" in result.stderr


def test_a_3g_slice_weighs_three_sevenths(lab, users, client):
    alice = users["alice"]
    rec = lab.sh.records(alice, "container-create", "big", IMAGE, "--gpu-profile", "3g.20gb")[0]
    labels = client.api.inspect_container(rec["container"])["Config"]["Labels"]
    assert labels["aime.mlc.DS01_GPU_EQ"] == "0.4286" and labels["aime.mlc.DS01_GPU_SLOTS"] == "3.0"
    me = lab.sh.records(alice, "gpu-user-status")[0]
    assert me["gpu_eq_used"] == pytest.approx(3 / 7, abs=1e-4) and me["slots"] == ["3.0"]
    assert status(lab, alice)["3.0"]["gpu_eq"] == 0.4286


def test_an_admin_with_null_limits_is_unlimited(lab, users):
    claim = lab.sh.records(users["admin"], "gpu-allocate", "--num-gpus", "11")[0]
    assert sorted(claim["slots"]) == sorted(UUIDS) and claim["gpu_eq"] == pytest.approx(3 + 6 / 7, abs=1e-4)


def test_a_reservation_holds_its_slots_for_its_user_only_inside_its_window(lab, users):
    alice = users["alice"]
    now = datetime.datetime.now(datetime.timezone.utc)

    def window(a, b):
        return [(now + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ") for h in (a, b)]

    start, end = window(-1, 1)
    lab.write(f"""\
        reservations:
          - {{user: {users['admin'].pw_name}, slots: ["0", "1"], start: "{start}", end: "{end}", reason: paper deadline}}
        """)
    result = lab.sh.run(alice, "gpu-allocate", "--full-gpu")
    assert result.returncode == 3 and "NO_CAPACITY" in result.stderr
    rows = status(lab, alice)
    assert rows["0"]["state"] == "reserved" and rows["0"]["reserved_for"] == users["admin"].pw_name
    assert rows["0"]["reservation_reason"] == "paper deadline"
    assert lab.sh.records(users["admin"], "gpu-allocate", "--full-gpu")[0]["slots"] == ["0"]
    start, end = window(-3, -1)
    lab.write(f"""\
        reservations:
          - {{user: {users['admin'].pw_name}, slots: ["0", "1"], start: "{start}", end: "{end}"}}
        """)
    assert lab.sh.records(alice, "gpu-allocate", "--full-gpu")[0]["slots"] == ["1"]


# ---------------------------------------------------------------- acceptance 4: what the container sees

def test_a_gpu_container_sees_its_uuids_and_a_cpu_only_one_sees_void(lab, users, client):
    alice = users["alice"]
    rec = lab.sh.records(alice, "container-create", "gpu", IMAGE, "--num-gpus", "2")[0]
    cpu = lab.sh.records(alice, "container-create", "cpu", IMAGE, "--cpu-only")[0]
    lab.sh.run(alice, "container-start", "gpu", "cpu", check=True)
    uuids = device_ids(client, rec["container"])
    assert len(uuids) == 2 and rec["gpus"] == uuids
    seen = client.containers.get(rec["container"]).exec_run(["printenv", "NVIDIA_VISIBLE_DEVICES"]).output.decode()
    assert seen.strip() == ",".join(uuids)
    labels = client.api.inspect_container(rec["container"])["Config"]["Labels"]
    assert labels["aime.mlc.GPUS"] == "device=" + ";".join(uuids)
    assert labels["aime.mlc.DS01_GPU_UUIDS"] == ";".join(uuids)
    assert not [v for v in labels.values() if "," in v]
    assert client.api.inspect_container(cpu["container"])["HostConfig"]["DeviceRequests"] is None
    seen = client.containers.get(cpu["container"]).exec_run(["printenv", "NVIDIA_VISIBLE_DEVICES"]).output.decode()
    assert seen.strip() == "void"


def test_a_default_create_takes_one_slot_and_says_cpu_only_when_none_is_left(lab, users, client):
    alice = users["alice"]
    rec = lab.sh.records(alice, "container-create", "first", IMAGE)[0]
    assert len(rec["gpus"]) == 1
    for i, uuid in enumerate(u for u in UUIDS.values() if u not in rec["gpus"]):
        client.containers.create(IMAGE, ["true"], name=f"filler{i}", device_requests=[
            {"Driver": "nvidia", "DeviceIDs": [uuid], "Capabilities": [["gpu"]]}])
    result = lab.sh.run(alice, "container-create", "second", IMAGE)
    assert result.returncode == 3 and "--cpu-only" in result.stderr
    assert [c.name for c in client.containers.list(all=True) if c.name.startswith("second")] == []


# ---------------------------------------------------------------- acceptance 5: containers made elsewhere

def test_a_plain_docker_gpu_container_holds_its_slot(lab, users, client):
    client.containers.run(IMAGE, ["sleep", "600"], name="outsider", detach=True, device_requests=[
        {"Driver": "nvidia", "DeviceIDs": [UUIDS["2.3"]], "Capabilities": [["gpu"]]}])
    rows = status(lab, users["alice"])
    assert rows["2.3"]["state"] == "held" and rows["2.3"]["containers"] == ["outsider"]
    assert [s for s, r in rows.items() if r["state"] != "free"] == ["2.3"]
    claims = [lab.sh.records(users["bob"], "gpu-allocate")[0]["slots"][0] for _ in range(6)]
    assert "2.3" not in claims


def test_a_container_given_all_gpus_holds_every_slot_while_it_runs(lab, users, client):
    greedy = client.containers.create(IMAGE, ["sleep", "600"], name="greedy", device_requests=[
        {"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}])
    assert {r["state"] for r in status(lab, users["alice"]).values()} == {"free"}  # created: asks at each start
    greedy.start()
    assert {r["state"] for r in status(lab, users["alice"]).values()} == {"held"}
    result = lab.sh.run(users["alice"], "gpu-allocate")
    assert result.returncode == 3 and "NO_CAPACITY" in result.stderr


# ---------------------------------------------------------------- acceptance 6: bad input

@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_a_bad_gpu_count_is_a_usage_error(offline_sh, users, value):
    for argv in (["container-create", "exp", IMAGE, f"--num-gpus={value}"], ["gpu-allocate", f"--num-gpus={value}"]):
        result = offline_sh.run(users["alice"], *argv)
        assert result.returncode == 2 and "--num-gpus must be a whole number" in result.stderr


def test_an_unknown_profile_lists_the_profiles_present(offline_sh, users):
    env = {"DS01_GPU_INVENTORY": str(EXAMPLE)}
    for argv in (["container-create", "exp", IMAGE, "--gpu-profile", "7g.40gb"],
                 ["gpu-allocate", "--gpu-profile", "7g.40gb"]):
        result = offline_sh.run(users["alice"], *argv, extra_env=env)
        assert result.returncode == 2
        assert "unknown --gpu-profile '7g.40gb'; profiles present: 1g.5gb, 3g.20gb" in result.stderr


def test_a_request_over_the_per_container_cap_names_the_limit(lab, users, client):
    result = lab.sh.run(users["alice"], "container-create", "wide", IMAGE, "--num-gpus", "3")
    assert result.returncode == 3 and "EXCEEDS_CONTAINER_LIMIT (3>2)" in result.stderr
    assert client.containers.list(all=True) == []


def test_cpu_only_excludes_gpu_options(offline_sh, users):
    result = offline_sh.run(users["alice"], "container-create", "x", IMAGE, "--cpu-only", "--num-gpus", "1")
    assert result.returncode == 2 and "--cpu-only cannot be combined with --num-gpus" in result.stderr


# ---------------------------------------------------------------- lock, claims, release, restart

def test_the_allocator_fails_closed_when_the_lock_is_held(lab, users):
    from ds01.gpu.state import State

    text = lab.policy.read_text().replace("lock_timeout_s: 120", "lock_timeout_s: 0.3")
    lab.policy.write_text(text)
    with State(str(lab.state)).lock():  # another allocation in progress
        result = lab.sh.run(users["alice"], "gpu-allocate")
        created = lab.sh.run(users["alice"], "container-create", "locked", IMAGE, "--num-gpus", "1")
    assert result.returncode == 3 and "allocator busy" in result.stderr and result.stdout == ""
    assert created.returncode == 3 and "allocator busy" in created.stderr
    assert lab.claims() == {}
    assert lab.sh.records(users["alice"], "container-list", "-a") == []


def test_claims_are_the_callers_and_can_be_dropped(lab, users, client):
    alice, bob = users["alice"], users["bob"]
    claim = lab.sh.records(alice, "gpu-allocate", "--ttl", "600")[0]
    assert claim["claim"].startswith("claim:") and claim["uuids"] == [UUIDS[claim["slots"][0]]]
    assert status(lab, bob)[claim["slots"][0]]["state"] == "claimed"
    stolen = lab.sh.run(bob, "container-create", "steal", IMAGE, "--claim", claim["claim"])
    assert stolen.returncode == 5 and "belongs to" in stolen.stderr
    assert lab.sh.run(bob, "gpu-release", claim["claim"]).returncode == 5
    released = lab.sh.records(alice, "gpu-release", input=json.dumps(claim) + "\n")
    assert released[0]["released"] and released[0]["kind"] == "claim"
    assert lab.claims() == {}
    gone = lab.sh.run(alice, "container-create", "late", IMAGE, "--claim", claim["claim"])
    assert gone.returncode == 4 and "does not exist or has expired" in gone.stderr


def test_a_released_container_loses_its_slot_and_cannot_start_while_it_is_taken(lab, users, client):
    alice, admin = users["alice"], users["admin"]
    lab.sh.records(alice, "container-create", "mine", IMAGE, "--full-gpu")
    lab.sh.run(alice, "container-start", "mine", check=True)
    running = lab.sh.run(alice, "gpu-release", "mine")
    assert running.returncode == 1 and "container-stop mine" in running.stderr
    lab.sh.run(alice, "container-stop", "mine", check=True)
    assert status(lab, alice)["0"]["state"] == "held"  # a stopped container keeps its slot for a while
    assert lab.sh.records(alice, "gpu-release", "mine")[0]["slots"] == ["0"]
    assert status(lab, alice)["0"]["state"] == "free"
    taken = lab.sh.records(admin, "gpu-allocate", "--full-gpu", "--ttl", "600")[0]
    assert taken["slots"] == ["0"]
    result = lab.sh.run(alice, "container-start", "mine")
    assert result.returncode == 3 and "SLOT_TAKEN" in result.stderr
    assert "container-recreate mine --num-gpus 1" in result.stderr
    lab.sh.run(admin, "gpu-release", taken["claim"], check=True)
    lab.sh.run(alice, "container-start", "mine", check=True)
    assert status(lab, alice)["0"]["containers"] == [f"mine._.{alice.pw_uid}"]


def test_a_stopped_container_past_its_hold_frees_its_slot(lab, users):
    alice = users["alice"]
    lab.write(f"user_overrides:\n  {alice.pw_name}: {{gpu_hold_after_stop_h: 0}}\n")
    lab.sh.records(alice, "container-create", "brief", IMAGE, "--full-gpu")
    lab.sh.run(alice, "container-start", "brief", check=True)
    lab.sh.run(alice, "container-stop", "brief", check=True)
    assert status(lab, alice)["0"]["state"] == "free"
    me = lab.sh.records(alice, "gpu-user-status")[0]
    assert me["stopped_without_gpu"] == [f"brief._.{alice.pw_uid}"] and me["gpu_eq_used"] == 0
    lab.sh.run(alice, "container-start", "brief", check=True)  # its slot is free: it takes it back
    assert status(lab, alice)["0"]["state"] == "held"


def test_gpu_inventory_prints_the_raw_inventory(lab, users):
    records = lab.sh.records(users["alice"], "gpu-inventory")
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert [m["profile"] for m in records[3]["mig_devices"]] == ["3g.20gb", "3g.20gb"]
    assert records[0]["mig_mode"] is False and records[2]["mig_mode"] is True


def test_the_status_table_groups_slots_under_their_gpu(lab, users):
    result = lab.sh.run(users["alice"], "gpu-status", "--table", "--wide", check=True)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SLOT", "TYPE", "PROFILE", "GPU-EQ", "MEMORY", "UTIL%", "STATE", "USERS", "CONTAINERS"]
    gpu3 = lines.index(next(l for l in lines if l.startswith("GPU 3")))
    assert lines[gpu3 + 1].split()[:3] == ["3.0", "mig", "3g.20gb"]


def test_ctrl_c_leaves_the_queue_and_leaves_nothing_behind(lab, users, client):
    import signal

    alice = users["alice"]
    for i, uuid in enumerate(UUIDS.values()):
        client.containers.create(IMAGE, ["true"], name=f"filler{i}", device_requests=[
            {"Driver": "nvidia", "DeviceIDs": [uuid], "Capabilities": [["gpu"]]}])
    waiter = lab.sh.popen(alice, "container-create", "patient", IMAGE, "--wait")
    _until(lambda: lab.sh.records(alice, "gpu-queue"))
    waiter.send_signal(signal.SIGINT)
    assert waiter.wait(timeout=60) == 130
    assert lab.sh.records(alice, "gpu-queue") == []
    assert not [c for c in client.containers.list(all=True) if c.name.startswith("patient")]
    assert not [t for i in client.images.list() for t in i.tags if "patient" in t]  # the account-setup tag is gone


def test_an_image_cannot_claim_gpus_an_owner_or_protection_for_its_containers(lab, users, client):
    """alice's own image carries labels that claim every GPU slot and protection (as `LABEL` lines in her
    Dockerfile would); a --cpu-only container from it holds nothing and is protected from nothing."""
    import io

    alice, bob = users["alice"], users["bob"]
    every = ";".join(UUIDS.values())
    dockerfile = (f"FROM {IMAGE}\nLABEL aime.mlc.DS01_PROTECTED=true aime.mlc.DS01_GPU_UUIDS=\"{every}\" "
                  f"aime.mlc.DS01_GPU_SLOTS=\"{','.join(UUIDS)}\" ds01.protected=true ds01.gpu.uuids=\"{every}\" "
                  f"ds01.user={bob.pw_name} ds01.managed=true ds01.interface=devcontainer\n")
    ref = f"ds01-{alice.pw_uid}/claims:latest"
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True, pull=False)
    made = lab.sh.records(alice, "container-create", "claims", ref, "--cpu-only")[0]
    labels = client.api.inspect_container(made["container"])["Config"]["Labels"]
    assert [labels[k] for k in ("aime.mlc.DS01_PROTECTED", "aime.mlc.DS01_GPU_UUIDS", "ds01.protected",
                                "ds01.gpu.uuids", "ds01.user", "ds01.interface")] == ["", "", "", "", "", ""]
    assert labels["aime.mlc.DS01_GPU_SLOTS"] == ""  # with commas, not turned into ds01's ';' list either
    lab.sh.run(alice, "container-start", "claims", check=True)
    assert all(not row["containers"] for row in status(lab, alice).values())  # no slot held by it
    assert lab.sh.records(bob, "container-create", "mine", IMAGE, "--num-gpus", "1")[0]["gpus"]
    checked = lab.sh.records(users["admin"], "ds01-max-runtime", "--dry-run", "--all", "--json")
    mine = [r for r in checked if r.get("container") == made["container"]]
    assert mine and mine[0]["decision"] != "protected" and mine[0]["interface"] == "atomic"


def test_on_a_terminal_a_create_says_which_slice_it_gave_when_a_whole_gpu_was_free(lab, users, client):
    """Smallest fit gives a 1g.5gb slice while whole GPUs are free: the student is told why, and how to ask for
    a whole one (issue 30); with gpu_allocation.placement: largest they get the whole GPU."""
    alice = users["alice"]
    child = lab.sh.spawn(alice, "container-create", "small", IMAGE, "--num-gpus", "1")
    child.expect("note: you got 1g.5gb \\(slot 2.0\\): the smallest slice that fits")
    child.expect("--full-gpu asks for a whole GPU")
    child.expect(pexpect_eof())
    lab.policy.write_text(lab.policy.read_text().replace("gpu_allocation: {", "gpu_allocation: {placement: largest, "))
    [whole] = lab.sh.records(alice, "container-create", "whole", IMAGE, "--num-gpus", "1")
    uuids = slot_uuids()
    assert whole["gpus"] in ([uuids["0"]], [uuids["1"]])  # a whole GPU, not a slice


def pexpect_eof():
    import pexpect

    return pexpect.EOF
