"""container-run / container-attach / container-exit: sessions as a researcher has them, in real terminals."""

import pexpect

from tests.support import sandbox


def create(sh, user, name):
    return sh.records(user, "container-create", name, sandbox.BASE_IMAGE)[0]


def status(client, container):
    return client.api.inspect_container(container)["State"]["Status"]


def test_one_shot_commands_return_their_exit_codes_and_keep_their_words(sh, users, client):
    alice = users["alice"]
    rec = create(sh, alice, "job")
    done = sh.run(alice, "container-run", "job", "--", "sh", "-c", "echo \"$1 and $2\"; exit 3", "-", "two words", "x")
    assert done.returncode == 3 and done.stdout == "two words and x\n"
    who = sh.run(alice, "container-run", "job", "--", "sh", "-c", "id -u; pwd")
    assert who.returncode == 0 and who.stdout.split() == [str(alice.pw_uid), "/workspace"]
    # nothing else ran: the container is stopped again after the command
    assert status(client, rec["container"]) == "exited"


def test_a_shell_runs_as_the_caller_in_workspace_and_the_last_exit_stops_an_idle_container(sh, users, client):
    alice = users["alice"]
    rec = create(sh, alice, "work")
    child = sh.spawn(alice, "container-run", "work")
    child.sendline("echo UID=$(id -u) DIR=$(pwd)")
    child.expect(rf"UID={alice.pw_uid} DIR=/workspace")
    child.sendline("echo PS1=[$PS1]")
    child.expect(r"PS1=\[.+\]")
    assert status(client, rec["container"]) == "running"
    child.sendline("exit")
    child.expect("container stopped")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert status(client, rec["container"]) == "exited"


def test_a_background_process_keeps_the_container_running_after_the_last_session(sh, users, client):
    alice = users["alice"]
    rec = create(sh, alice, "train")
    child = sh.spawn(alice, "container-run", "train")
    child.sendline("nohup sleep 600 >/dev/null 2>&1 & echo STARTED")
    child.expect("STARTED")
    child.sendline("exit")
    child.expect("kept running")
    child.expect(pexpect.EOF)
    assert status(client, rec["container"]) == "running"
    # a second session beside the job is an attach; leaving it keeps the job too
    assert sh.run(alice, "container-attach", "train", "--", "true").returncode == 0
    assert status(client, rec["container"]) == "running"


def test_attach_refuses_a_stopped_container_and_run_needs_a_terminal_for_a_shell(sh, users, client):
    alice = users["alice"]
    rec = create(sh, alice, "idle")
    refused = sh.run(alice, "container-attach", "idle", "--", "true")
    assert refused.returncode == 1 and "not running" in refused.stderr and "container-run idle" in refused.stderr
    no_tty = sh.run(alice, "container-run", "idle")
    assert no_tty.returncode == 2 and "needs a terminal" in no_tty.stderr
    assert status(client, rec["container"]) == "created"  # a usage error changes nothing
    no_name = sh.run(alice, "container-run", "--", "true")
    assert no_name.returncode == 2 and "no container given" in no_name.stderr


def test_with_no_name_a_terminal_gets_a_numbered_pick_list(sh, users, client):
    alice = users["alice"]
    create(sh, alice, "first")
    create(sh, alice, "second")
    child = sh.spawn(alice, "container-run", "--", "sh", "-c", "echo IN=$HOSTNAME-$(id -un)")
    child.expect(r"1\) first")
    child.expect(r"2\) second")
    child.expect("Number")
    child.sendline("2")
    child.expect(rf"IN=.*-{alice.pw_name}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_users_cannot_open_sessions_in_each_others_containers(sh, users):
    create(sh, users["alice"], "mine")
    denied = sh.run(users["bob"], "container-run", f"mine._.{users['alice'].pw_uid}", "--", "true")
    assert denied.returncode == 5


def test_container_exit_explains_leaving_with_the_callers_hold_timers(sh, users):
    rec = sh.records(users["alice"], "container-exit")[0]
    assert "exit" in rec["leave"] and rec["gpu_hold_after_stop_h"] == 0.25
    text = sh.run(users["alice"], "container-exit", "--table").stdout
    assert "Ctrl-D" in text and "keeps its GPU for 0.25 h" in text


def test_legacy_container_open_runs_container_run(sh, users, client):
    alice = users["alice"]
    create(sh, alice, "old")
    done = sh.run(alice, "container-open", "old", "--", "sh", "-c", "exit 7")
    assert done.returncode == 7 and done.stderr == ""  # the deprecation note is for terminals only


def test_a_session_ignores_the_docker_client_settings_and_the_docker_on_the_callers_path(sh, users, user_tmp):
    """alice puts her own `docker` first on PATH and points the client at another config and context: the
    session still runs in her container, through the real client, with none of that."""
    import os

    alice = users["alice"]
    create(sh, alice, "env")
    fake = user_tmp / "bin"
    fake.mkdir()
    marker = user_tmp / "fake-docker-ran"
    (fake / "docker").write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    os.chmod(fake / "docker", 0o755)
    os.chown(user_tmp, alice.pw_uid, -1)
    env = {"PATH": f"{fake}:{sh.env(alice)['PATH']}", "DOCKER_CONTEXT": "evil", "DOCKER_CONFIG": str(user_tmp),
           "TERM": "xterm"}
    done = sh.run(alice, "container-run", "env", "--", "sh", "-c", 'echo "${TERM}|${DOCKER_CONTEXT:-none}"',
                  extra_env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "xterm|none\n"  # the terminal's TERM passes; ds01's and Docker's settings do not
    assert not marker.exists()


def test_the_terminal_size_and_its_changes_reach_a_session_through_ds01d(sh, users, client):
    """The client passes its terminal itself (SCM_RIGHTS) and forwards SIGWINCH to the worker's docker client."""
    alice = users["alice"]
    assert sh.run(alice, "container-create", "win", sandbox.BASE_IMAGE, "--cpu-only").returncode == 0
    child = sh.spawn(alice, "container-run", "win", "--", "bash", "-c",
                     'trap "stty size" WINCH; stty size; while :; do sleep 60 & wait $!; done')
    child.expect("40 160")
    child.setwinsize(30, 100)
    child.expect("30 100")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
