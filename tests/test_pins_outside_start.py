"""A ds01 container started outside ds01 (AIME's `mlc open`/`mlc start`, root's `docker start`, a restart
policy after a reboot) got its bind points empty (ds01.mount_pins): the next ds01 action on it restarts it
with them filled, with the same checks as any start, and says so; never another user's files."""

import os
import subprocess

from tests.support import sandbox


def docker(dockerd, *argv):
    """Root's Docker CLI on the test engine, as AIME's mlc.py runs it (`docker start NAME`, `docker exec ...`)."""
    return subprocess.run(["docker", "--host", dockerd.host, *argv], capture_output=True, text=True, timeout=120,
                          check=True, env={"PATH": os.environ["PATH"], "HOME": "/root"}).stdout


def stopped_container(sh, user, name):
    """`name` made and started by ds01 as `user`, with a file in its workspace, then stopped."""
    sh.records(user, "container-create", name, sandbox.BASE_IMAGE, "--cpu-only")
    workspace = os.path.join(user.pw_dir, "workspace", name)
    sh.run(user, "sh", "-c", f"echo mine > {workspace}/mine.txt", check=True)
    sh.run(user, "container-start", name, check=True)
    sh.run(user, "container-stop", name, check=True)
    return f"{name}._.{user.pw_uid}", workspace


def inside(client, container, path="/workspace"):
    """What root sees at `path` in the running container."""
    return sorted(os.listdir(f"/proc/{client.containers.get(container).attrs['State']['Pid']}/root{path}"))


def test_container_run_after_a_docker_start_by_root_shows_the_workspace(sh, users, client, dockerd, state_dir):
    """Issue 31, item 2: AIME's `mlc open` runs `docker start NAME`; ds01's container-run then found an empty,
    unreadable /workspace ("Permission denied") until ds01 restarted the container."""
    alice = users["alice"]
    container, _ = stopped_container(sh, alice, "outside")
    docker(dockerd, "start", container)  # as root, past ds01 (what mlc.py does)
    assert inside(client, container) == []  # the empty bind point: all a start past ds01 can get
    ran = sh.run(alice, "container-run", "outside", "--", "ls", "/workspace")
    assert ran.returncode == 0 and ran.stdout.split() == ["mine.txt"], ran.stdout + ran.stderr
    assert "started outside ds01" in ran.stderr and "restart" in ran.stderr
    assert sandbox.mounts_under(state_dir) == []  # nothing of alice's kept on the host


def test_every_ds01_action_on_it_fills_the_pins_and_a_filled_one_is_left_alone(sh, users, client, dockerd):
    """container-attach and container-start on a running container that got empty pins restart it with them;
    one ds01 started (pins filled) is never restarted."""
    alice = users["alice"]
    container, _ = stopped_container(sh, alice, "attachme")
    docker(dockerd, "start", container)
    attached = sh.run(alice, "container-attach", "attachme", "--keep", "--", "ls", "/workspace")
    assert attached.returncode == 0 and attached.stdout.split() == ["mine.txt"], attached.stdout + attached.stderr
    started_at = client.containers.get(container).attrs["State"]["StartedAt"]
    again = sh.run(alice, "container-attach", "attachme", "--keep", "--", "ls", "/workspace")
    assert again.stdout.split() == ["mine.txt"] and "outside" not in again.stderr
    assert client.containers.get(container).attrs["State"]["StartedAt"] == started_at  # not restarted
    sh.run(alice, "container-stop", "attachme", check=True)
    docker(dockerd, "start", container)
    sh.run(alice, "container-start", "attachme", check=True)
    assert inside(client, container) == ["mine.txt"]


def test_a_container_with_work_running_in_it_is_not_restarted_under_it(sh, users, client, dockerd):
    """An AIME session (`docker exec` after the outside start) still runs: ds01 refuses rather than kill it,
    and says how to get the workspace."""
    alice = users["alice"]
    container, _ = stopped_container(sh, alice, "busy")
    docker(dockerd, "start", container)
    docker(dockerd, "exec", "-d", "-u", f"{alice.pw_uid}:{alice.pw_gid}", container, "sleep", "600")
    refused = sh.run(alice, "container-run", "busy", "--", "ls", "/workspace")
    assert refused.returncode == 1 and "container-stop busy" in refused.stderr, refused.stderr
    assert "sleep 600" in docker(dockerd, "top", container)  # the work goes on
    client.containers.get(container).kill()


def test_a_path_swapped_between_the_stop_and_the_outside_start_never_mounts_another_users_files(
        sh, users, client, dockerd):
    """Attack: alice stops her container, puts a symlink to bob's files in place of her workspace (or of a
    directory above it), and gets root (or an AIME user) to `docker start` it; the next ds01 action must not
    restart it with bob's files. Refused, and the container is left as it was."""
    alice, bob = users["alice"], users["bob"]
    shared = os.path.join(bob.pw_dir, "private-pins")  # bob's alone (0700)
    sh.run(bob, "sh", "-c", f"mkdir -p {shared}/swapped && echo bobs > {shared}/bob.txt "
           f"&& echo bobs > {shared}/swapped/bob.txt && chmod 700 {shared}", check=True)
    container, workspace = stopped_container(sh, alice, "swapped")
    top = os.path.dirname(workspace)
    for swap, undo in [(f"mv {workspace} {workspace}.old && ln -s {shared} {workspace}",
                        f"rm {workspace} && mv {workspace}.old {workspace}"),
                       (f"mv {top} {top}.old && ln -s {shared} {top}", f"rm {top} && mv {top}.old {top}")]:
        sh.run(alice, "sh", "-c", swap, check=True)
        assert "bob.txt" in os.listdir(workspace)  # alice's path now leads to bob's private files
        docker(dockerd, "start", container)
        for command in (["container-run", "swapped", "--", "ls", "/workspace"],
                        ["container-attach", "swapped", "--", "ls", "/workspace"],
                        ["container-start", "swapped"]):
            refused = sh.run(alice, *command)
            assert refused.returncode == 5 and "bob.txt" not in refused.stdout, refused.stdout + refused.stderr
            assert "symlink" in refused.stderr, refused.stderr
            assert inside(client, container) == []  # still the empty bind point: nothing was restarted
        client.containers.get(container).kill()
        sh.run(alice, "sh", "-c", undo, check=True)
    ran = sh.run(alice, "container-run", "swapped", "--", "ls", "/workspace")
    assert ran.stdout.split() == ["mine.txt"], ran.stdout + ran.stderr


def test_mlc_open_on_a_container_an_aime_mlc_open_started_has_the_workspace(sh, users, client, dockerd):
    """AIME's `mlc open` started it (`docker start`), the shell left, it kept running with nothing in it:
    ds01's mlc-open restarts it with its workspace and the shell sees the files."""
    import pexpect

    alice = users["alice"]
    container, _ = stopped_container(sh, alice, "aimeopen")
    docker(dockerd, "start", container)
    child = sh.spawn(alice, "mlc-open", "aimeopen")
    child.expect("started outside ds01")
    child.sendline("ls /workspace; echo DONE")
    child.expect("mine.txt")
    child.expect("DONE")
    child.sendline("exit")
    child.expect(r"\[aimeopen\] container stopped")
    child.expect(pexpect.EOF)
