"""The AIME `mlc-*` front-ends: AIME's syntax and output over ds01's checks, on the private engine."""

import re

import pexpect

from tests.support import sandbox


def mlc_create(sh, user, name, *extra):
    return sh.run(user, "mlc-create", name, "Pytorch", "2.7.1", "-s", *extra)


def test_mlc_create_then_mlc_list_in_aimes_format_and_container_list_as_a_record(sh, users, client):
    alice = users["alice"]
    made = mlc_create(sh, alice, "x")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().endswith("[x] ready. Open the container with: mlc open x")
    listing = sh.run(alice, "mlc-list")
    assert listing.returncode == 0
    lines = listing.stdout.split("\n")
    assert lines[0] == "" and lines[-2:] == ["", ""]  # a blank line before and after, as AIME prints
    assert re.fullmatch(r"CONTAINER\s+FRAMEWORK\s+STATUS {3}", lines[1])  # AIME's padding kept, the last column too
    assert re.fullmatch(r"\[x\]\s+Pytorch-2\.7\.1\s+Created  ", lines[2])
    assert lines[1].index("FRAMEWORK") == len("CONTAINER") + 2  # width = longest + 2
    rec = sh.records(alice, "container-list", "-a")[0]
    assert rec["name"] == "x" and rec["framework"] == "Pytorch-2.7.1" and rec["container"] == f"x._.{alice.pw_uid}"
    labels = client.api.inspect_container(rec["container"])["Config"]["Labels"]
    assert labels["aime.mlc.WORK_MOUNT"] == f"{alice.pw_dir}/workspace"  # AIME's default workspace


def test_mlc_list_columns_follow_aimes_flags(sh, users, data_root):
    alice, bob = users["alice"], users["bob"]
    assert mlc_create(sh, alice, "a1", "-d", str(data_root / "corpus")).returncode == 0
    assert mlc_create(sh, bob, "b1").returncode == 0
    full = sh.run(alice, "mlc-list", "-a").stdout.split("\n")
    assert full[1].split() == ["CONTAINER", "FRAMEWORK", "STATUS", "USER", "SIZE", "ARCHITECTURE", "WORKSPACE",
                               "DATA", "MODELS"]
    assert "[b1]" not in "\n".join(full)  # -a is still only the caller's containers
    row = full[2]
    assert alice.pw_name in row and "CUDA_ADA" in row and "~/workspace" in row and str(data_root / "corpus") in row
    others = sh.run(alice, "mlc-list", "-w", "-arch", "-au")  # every user's: admins only, as container-list's
    assert others.returncode == 5 and "--all_users is for admins only" in others.stderr and others.stdout == ""
    picked = sh.run(users["admin"], "mlc-list", "-w", "-arch", "-au").stdout.split("\n")
    assert picked[1].split() == ["CONTAINER", "FRAMEWORK", "STATUS", "USER", "ARCHITECTURE", "WORKSPACE"]
    assert {"[a1]", "[b1]"} <= {line.split()[0] for line in picked[2:] if line}


def test_mlc_list_with_no_containers_says_how_to_create_one(sh, users):
    empty = sh.run(users["alice"], "mlc-list")
    assert empty.returncode == 0
    assert empty.stdout == "\nThere are no containers. Create the first one using:\nmlc create container_name\n\n"


def test_mlc_create_script_mode_refuses_bad_input_without_creating(sh, users, client):
    alice = users["alice"]
    missing = sh.run(alice, "mlc-create", "y", "-s")
    assert missing.returncode == 1 and "NAME FRAMEWORK VERSION" in missing.stderr  # AIME's exit 1
    unknown = sh.run(alice, "mlc-create", "y", "Pytorch", "9.9", "-s")
    assert unknown.returncode == 1 and "versions for CUDA_ADA" in unknown.stderr
    nodir = sh.run(alice, "mlc-create", "y", "Pytorch", "2.7.1", "-d", "/nonexistent/dir", "-s")
    assert nodir.returncode == 1 and "does not exist" in nodir.stderr  # AIME exits 0 here
    devices = sh.run(alice, "mlc-create", "y", "Pytorch", "2.7.1", "-g", "device=0", "-s")
    assert devices.returncode == 1 and "no GPU slot 0" in devices.stderr  # this host has none
    assert client.containers.list(all=True) == []


def test_mlc_start_stop_remove_and_open_work_on_the_callers_containers(sh, users, client):
    alice = users["alice"]
    assert mlc_create(sh, alice, "life").returncode == 0
    tag = f"life._.{alice.pw_uid}"
    ran = sh.run(alice, "mlc-start", "life", "sh", "-c", "exit 1", "-s")
    assert ran.returncode == 1  # the command's words stay words; its code comes back
    assert client.api.inspect_container(tag)["State"]["Running"]  # 0 and 1: started, as AIME counts them
    stopped = sh.run(alice, "mlc-stop", "life", "-s")
    assert stopped.returncode == 0 and "[life] container stopped." in stopped.stdout
    again = sh.run(alice, "mlc-stop", "life", "-s")
    assert again.returncode == 0 and "All containers are stopped" in again.stdout  # AIME: nothing to stop
    started = sh.run(alice, "mlc-start", "life", "-s")
    assert started.returncode == 0 and "mlc open life" in started.stdout
    running = sh.run(alice, "mlc-remove", "life", "-s")
    assert running.returncode == 1 and client.containers.list(all=True)
    sh.run(alice, "mlc-stop", "life", "-f", check=True)
    removed = sh.run(alice, "mlc-remove", "life", "-s")
    assert removed.returncode == 0 and "[life] container removed." in removed.stdout
    assert client.containers.list(all=True) == []
    assert sandbox.ML_BASE_IMAGE in [t for i in client.images.list() for t in i.tags]  # the catalog image stays


def test_mlc_open_gives_a_shell_and_stops_the_container_on_exit(sh, users, client):
    alice = users["alice"]
    assert mlc_create(sh, alice, "op").returncode == 0
    child = sh.spawn(alice, "mlc-open", "op")
    child.sendline("echo WHO=$(id -u)")
    child.expect(f"WHO={alice.pw_uid}")
    child.sendline("exit")
    child.expect(r"\[op\] container shell closed successfully")
    child.expect(r"\[op\] container stopped")
    child.expect(pexpect.EOF)
    assert client.api.inspect_container(f"op._.{alice.pw_uid}")["State"]["Status"] == "exited"


def test_mlc_stats_lists_only_the_callers_running_containers(sh, users):
    alice, bob = users["alice"], users["bob"]
    for user, name in ((alice, "s1"), (bob, "s2")):
        assert mlc_create(sh, user, name).returncode == 0
        sh.run(user, "mlc-start", name, "-s", check=True)
    stats = sh.run(alice, "mlc-stats")
    lines = stats.stdout.splitlines()
    assert lines[:2] == ["", "Current stats of the running containers:"]  # AIME's leading blank line
    assert lines[2].startswith("CONTAINER") and "MEM USAGE / LIMIT" in lines[2]
    assert [line.split()[0] for line in lines[3:] if line] == ["[s1]"]
    assert lines[3].split()[3] == "/" and lines[3].split()[4].endswith("MiB")  # 256m limit, as docker stats shows


def test_mlc_dispatcher_runs_the_front_ends(sh, users):
    listing = sh.run(users["alice"], "mlc", "list")
    assert listing.returncode == 0 and "There are no containers" in listing.stdout
    help_text = sh.run(users["alice"], "mlc", "--help").stdout
    assert all(verb in help_text for verb in ("create", "open", "list", "start", "stop", "remove", "stats"))


def test_mlc_open_without_a_terminal_refuses_before_starting_and_start_detach_runs_in_the_background(sh, users,
                                                                                                      client):
    alice = users["alice"]
    assert mlc_create(sh, alice, "bg").returncode == 0
    tag = f"bg._.{alice.pw_uid}"
    refused = sh.run(alice, "mlc-open", "bg", "-s")
    assert refused.returncode == 1 and "needs a terminal" in refused.stderr
    assert client.api.inspect_container(tag)["State"]["Status"] == "created"  # refused before anything started
    detached = sh.run(alice, "mlc-start", "bg", "-d", "sleep", "300", "-s")
    assert detached.returncode == 0
    top = client.api.top(tag)
    assert any("sleep 300" in " ".join(row) for row in top["Processes"])
