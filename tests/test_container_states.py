"""Pause/unpause, pick lists on the lifecycle commands, and check-limits, as a user sees them."""

import json

import pexpect

from tests.support import sandbox


def create(sh, user, name, *extra):
    return sh.records(user, "container-create", name, sandbox.BASE_IMAGE, *extra)[0]


def status(client, container):
    return client.api.inspect_container(container)["State"]["Status"]


def test_pause_freezes_and_unpause_resumes_and_all_acts_on_only_the_callers(sh, users, client):
    alice, bob = users["alice"], users["bob"]
    a = create(sh, alice, "a")
    b = create(sh, alice, "b")
    theirs = create(sh, bob, "b")
    for rec in (a, b):
        sh.run(alice, "container-start", rec["name"], check=True)
    sh.run(bob, "container-start", "b", check=True)
    paused = sh.records(alice, "container-pause", "-a")
    assert sorted(r["name"] for r in paused) == ["a", "b"] and {r["status"] for r in paused} == {"paused"}
    assert status(client, theirs["container"]) == "running"
    # pausing again is not an error; a stopped container cannot be paused
    assert sh.records(alice, "container-pause", "a")[0]["status"] == "paused"
    resumed = sh.records(alice, "container-unpause", "a")
    assert resumed[0]["status"] == "running" and status(client, b["container"]) == "paused"
    piped = sh.pipe(alice, ["container-list", "--json"], ["container-unpause"])
    assert piped.returncode == 0 and status(client, b["container"]) == "running"
    sh.run(alice, "container-stop", "a", check=True)
    refused = sh.run(alice, "container-pause", "a")
    assert refused.returncode == 1 and "only a running container" in refused.stderr
    assert sh.run(alice, "container-unpause", f"b._.{bob.pw_uid}").returncode == 5


def test_lifecycle_commands_offer_a_pick_list_of_the_states_they_accept(sh, users, client):
    alice = users["alice"]
    up = create(sh, alice, "up")
    down = create(sh, alice, "down")
    sh.run(alice, "container-start", "up", check=True)
    child = sh.spawn(alice, "container-stop", "--json")
    child.expect(r"1\) up")
    child.expect("Number")
    output = child.before
    child.sendline("1")
    child.expect(pexpect.EOF)
    assert "down" not in output  # only running containers are offered
    assert status(client, up["container"]) == "exited"
    child = sh.spawn(alice, "container-start", "--json")
    child.expect(r"1\) down")
    child.expect(r"2\) up")
    child.sendline("1")
    child.expect(pexpect.EOF)
    assert status(client, down["container"]) == "running"
    child = sh.spawn(alice, "container-pause")
    child.expect(r"1\) down")
    child.sendline("1")
    child.expect(pexpect.EOF)
    assert status(client, down["container"]) == "paused"


def test_without_a_terminal_no_lifecycle_command_waits_for_input(sh, users):
    alice = users["alice"]
    create(sh, alice, "x")
    for command in ("container-stop", "container-start", "container-remove", "container-pause",
                    "container-unpause", "check-limits"):
        done = sh.run(alice, command)  # stdin is /dev/null: no targets, no question, no hang
        assert done.returncode == 0, (command, done.stderr)


def test_check_limits_puts_use_next_to_the_limits(sh, users):
    alice = users["alice"]
    create(sh, alice, "one")
    create(sh, alice, "two")
    sh.run(alice, "container-start", "one", check=True)
    record = sh.records(alice, "check-limits")[0]
    assert record["user"] == alice.pw_name and record["group"] == "student"
    assert record["containers"] == {"count": 2, "running": 1, "limit": 3, "share": round(2 / 3, 4)}
    assert record["cpu"]["allocated"] == 1.5 and record["cpu"]["per_container"] == 1.5
    assert record["memory"]["allocated"] == 256 * 1024**2 and record["memory"]["in_use"] > 0
    assert record["lifecycle"]["gpu_hold_after_stop_h"] == 0.25
    by_name = {c["name"]: c for c in record["per_container"]}
    assert by_name["one"]["status"] == "running" and by_name["one"]["memory_in_use"] > 0
    assert by_name["two"]["memory_in_use"] is None
    table = sh.run(alice, "check-limits", "--table").stdout
    assert "Containers" in table and "2 / 3" in table and "[#############.......]" in table
    assert "removed after stopped for" in table and "30 min" in table


def test_check_limits_of_another_user_is_for_admins_and_legacy_names_work(sh, users):
    alice, admin = users["alice"], users["admin"]
    denied = sh.run(alice, "check-limits", users["bob"].pw_name)
    assert denied.returncode == 5 and "only admins" in denied.stderr
    seen = sh.records(admin, "check-limits", alice.pw_name, "--no-sample")[0]
    assert seen["user"] == alice.pw_name and seen["containers"]["count"] == 0
    for argv in (["get-limits"], ["check", "limits"], ["get", "limits"], ["user", "limits"]):
        done = sh.run(alice, *argv, "--json")
        assert done.returncode == 0 and json.loads(done.stdout)["user"] == alice.pw_name, argv
