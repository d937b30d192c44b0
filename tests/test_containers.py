"""Containers on a real (private) Docker engine, driven through the installed commands as real users."""

import json
import os
import subprocess
import sys

import pytest

from tests.support import sandbox

AIME_KEYS = ["aime.mlc", "aime.mlc.NAME", "aime.mlc.USER", "aime.mlc.ARCH", "aime.mlc.MLC_VERSION",
             "aime.mlc.WORK_MOUNT", "aime.mlc.DATA_MOUNT", "aime.mlc.MODELS_MOUNT", "aime.mlc.FRAMEWORK",
             "aime.mlc.GPUS"]


STARTS = 200  # starts raced against the swap (issue 18: "hundreds of times")
BASE_TAGS = sorted([sandbox.BASE_IMAGE, sandbox.ML_BASE_IMAGE])  # the sandbox's own images, always present


def create(sh, user, name, *extra):
    return sh.records(user, "container-create", name, sandbox.BASE_IMAGE, *extra)[0]


def test_create_applies_every_limit_and_the_aime_labels(sh, users, client, data_root):
    alice = users["alice"]
    rec = create(sh, alice, "exp1", "-d", str(data_root / "corpus"))
    assert rec["status"] == "created" and rec["user"] == alice.pw_name and rec["container"] == f"exp1._.{alice.pw_uid}"
    info = client.api.inspect_container(rec["container"])
    host = info["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Memory"] == 256 * 1024**2
    assert host["MemorySwap"] == 512 * 1024**2
    assert host["ShmSize"] == 64 * 1024**2
    assert host["PidsLimit"] == 256
    assert host["CgroupParent"] == "ds01-student-ds01t_alice.slice"
    assert host["NetworkMode"] == "host" and not host["Privileged"]
    assert {u["Name"]: u["Hard"] for u in host["Ulimits"]}["stack"] == 67108864
    config = info["Config"]
    assert config["User"] == f"{alice.pw_uid}:{alice.pw_gid}"
    assert config["WorkingDir"] == "/workspace" and config["Tty"] and config["OpenStdin"]
    assert config["Cmd"] == ["bash", "-c", "bash"]
    assert config["Image"] == f"ds01-test/base:exp1._.{alice.pw_uid}"
    assert "NVIDIA_VISIBLE_DEVICES=void" in config["Env"]
    labels = config["Labels"]
    workspace = os.path.join(alice.pw_dir, "workspace", "exp1")
    assert {k: labels[k] for k in AIME_KEYS} == {
        "aime.mlc": alice.pw_name, "aime.mlc.NAME": "exp1", "aime.mlc.USER": alice.pw_name,
        "aime.mlc.ARCH": "CUDA_ADA", "aime.mlc.MLC_VERSION": "4", "aime.mlc.WORK_MOUNT": workspace,
        "aime.mlc.DATA_MOUNT": str(data_root / "corpus"), "aime.mlc.MODELS_MOUNT": "-",
        "aime.mlc.FRAMEWORK": "custom", "aime.mlc.GPUS": "none"}
    assert labels["aime.mlc.DS01_MANAGED"] == "true" and labels["aime.mlc.DS01_GROUP"] == "student"
    assert labels["aime.mlc.DS01_CREATED_AT"].endswith("Z") and labels["aime.mlc.DS01_INTERFACE"] == "atomic"
    assert not [k for k, v in labels.items() if "," in v]
    assert os.stat(workspace).st_uid == alice.pw_uid
    # AIME's mlc finds containers with these filters
    assert [c.name for c in client.containers.list(all=True, filters={"label": f"aime.mlc={alice.pw_name}"})] == [
        rec["container"]]


def test_inside_the_container_the_user_is_the_caller_with_no_way_to_root(sh, users, client):
    alice = users["alice"]
    create(sh, alice, "shell")
    sh.run(alice, "container-start", "shell", check=True)
    container = client.containers.get(f"shell._.{alice.pw_uid}")
    code, out = container.exec_run(["bash", "-lc", "id -u; id -g; whoami; pwd; grep -E '^(CapBnd|CapAmb|NoNewPrivs)' "
                                    "/proc/self/status"], user=f"{alice.pw_uid}:{alice.pw_gid}")
    assert code == 0
    assert out.decode().split() == [str(alice.pw_uid), str(alice.pw_gid), alice.pw_name, "/workspace",
                                    "CapBnd:", "0000000000000000", "CapAmb:", "0000000000000000", "NoNewPrivs:", "1"]
    code, out = container.exec_run(["bash", "-lc", "sudo -n true"], user=f"{alice.pw_uid}:{alice.pw_gid}")
    assert code == 1 and b"image-update IMAGE --add-system PACKAGE --recreate" in out  # what to do instead
    code, _ = container.exec_run(["/usr/bin/sudo", "-n", "true"], user=f"{alice.pw_uid}:{alice.pw_gid}")
    assert code != 0  # the real sudo, called by its path, cannot gain anything either
    assert [p[-1] for p in container.top()["Processes"]] == ["bash"]  # PID 1 is a single bash (AIME's open rule)
    detailed = sh.records(alice, "container-list", "--detailed")[0]
    assert (detailed["user_id"], detailed["capabilities"], detailed["no_new_privileges"]) == (
        f"{alice.pw_uid}:{alice.pw_gid}", [], True)
    workspace = os.path.join(alice.pw_dir, "workspace", "shell")
    assert detailed["profile"] == (f"uid {alice.pw_uid}:{alice.pw_gid}, caps: none, no-new-privileges: yes, "
                                   f"sudo: off, mounts: /workspace={workspace} (rw)")


def test_a_setuid_root_shell_cannot_be_made_through_a_container(sh, users):
    """Issue 18's repro 1: sudo cp /bin/bash into the bind-mounted workspace, chmod 4755, run it on the host."""
    alice = users["alice"]
    create(sh, alice, "ax")
    attack = sh.run(alice, "container-run", "ax", "--", "sh", "-c",
                    "sudo -n cp /bin/bash /workspace/rootbash && sudo -n chmod 4755 /workspace/rootbash")
    assert attack.returncode != 0
    planted = os.path.join(alice.pw_dir, "workspace", "ax", "rootbash")
    assert not os.path.exists(planted) or os.stat(planted).st_uid != 0
    # and the user's own setuid copy (a plain cp and chmod) runs as the user, not as root
    sh.run(alice, "container-run", "ax", "--", "sh", "-c", "cp /bin/bash /workspace/mine && chmod 4755 /workspace/mine",
           check=True)
    ran = sh.run(alice, os.path.join(alice.pw_dir, "workspace", "ax", "mine"), "-p", "-c", "id -u")
    assert ran.stdout.strip() == str(alice.pw_uid)


def test_pip_install_user_works_without_root(sh, users):
    """A wheel built here (no index is reachable), installed with pip --user inside a container that has no
    sudo, no capabilities and no-new-privileges, then imported."""
    import zipfile

    alice = users["alice"]
    create(sh, alice, "pip")
    wheel = os.path.join(alice.pw_dir, "workspace", "pip", "hello_ds01-1.0-py3-none-any.whl")
    files = {"hello_ds01.py": "GREETING = 'hello from a user wheel'\n",
             "hello_ds01-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: hello-ds01\nVersion: 1.0\n",
             "hello_ds01-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                               "Tag: py3-none-any\n"}
    files["hello_ds01-1.0.dist-info/RECORD"] = "".join(f"{name},,\n" for name in files) + \
        "hello_ds01-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    os.chown(wheel, alice.pw_uid, alice.pw_gid)
    ran = sh.run(alice, "container-run", "pip", "--", "sh", "-c",
                 "pip install -q --user --no-index --break-system-packages /workspace/" + os.path.basename(wheel)
                 + " && python3 -c 'import hello_ds01; print(hello_ds01.GREETING)'")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "hello from a user wheel"


def test_a_user_cannot_run_another_users_image_by_name_or_by_id(sh, users, client):
    """Issue 18's repro 6: `container-create peek --image ds01-<bob>/thesis:latest` read what bob baked in."""
    alice, bob = users["alice"], users["bob"]
    bobs = f"ds01-{bob.pw_uid}/thesis:latest"
    holder = client.containers.create(sandbox.BASE_IMAGE, ["true"])
    image_id = holder.commit(f"ds01-{bob.pw_uid}/thesis", "latest").id  # bob's alone: no other name
    holder.remove()
    for ref in (bobs, image_id, image_id.split(":")[1][:12]):
        refused = sh.run(alice, "container-create", "peek", ref, "--cpu-only")
        assert refused.returncode == 5 and f"it is {bob.pw_name}'s image" in refused.stderr, refused.stderr
    unknown = sh.run(alice, "container-create", "peek", "busybox:latest", "--cpu-only")
    assert unknown.returncode == 5 and "nor allowed by the policy" in unknown.stderr  # refused before any pull
    assert not client.containers.list(all=True, filters={"name": "peek"})
    assert sh.records(bob, "container-create", "mine", bobs, "--cpu-only")[0]["image"] == bobs
    assert sh.records(users["admin"], "container-create", "look", bobs, "--cpu-only")[0]["image"] == bobs
    assert sh.records(alice, "container-create", "cat", "pytorch", "--cpu-only")[0]["name"] == "cat"  # the catalog's


def test_a_private_directory_under_a_mount_root_is_not_mountable_by_others(sh, users, data_root):
    """Issue 18's repro 2: `-d /srv/data/bob_private` (bob's 0700) was accepted because it is under a mount root."""
    alice, bob = users["alice"], users["bob"]
    private = data_root / "bob_private"
    private.mkdir(mode=0o700)
    os.chown(private, bob.pw_uid, bob.pw_gid)
    (private / "secret.txt").write_text("bob's\n")
    refused = sh.run(alice, "container-create", "ax", sandbox.BASE_IMAGE, "-d", str(private), "--cpu-only")
    assert refused.returncode == 5 and "you cannot open it yourself" in refused.stderr
    shared = data_root / "readonly"
    shared.mkdir(mode=0o755)  # readable by all, writable by root only: not alice's to mount read-write
    refused = sh.run(alice, "container-create", "ax", sandbox.BASE_IMAGE, "-d", str(shared), "--cpu-only")
    assert refused.returncode == 5 and "you cannot write it" in refused.stderr
    assert sh.records(bob, "container-create", "own", sandbox.BASE_IMAGE, "-d", str(private),
                      "--cpu-only")[0]["name"] == "own"


def test_a_workspace_swapped_for_a_symlink_after_create_is_not_mounted(sh, users, client):
    """Issue 18's repro 3: `mv ~/workspace/tw tw.old; ln -s /home/bob ~/workspace/tw; container-start tw`."""
    alice, bob = users["alice"], users["bob"]
    create(sh, alice, "tw")
    workspace = os.path.join(alice.pw_dir, "workspace", "tw")
    sh.run(alice, "sh", "-c", f"mv {workspace} {workspace}.old && ln -s {bob.pw_dir} {workspace}", check=True)
    started = sh.run(alice, "container-start", "tw")
    assert started.returncode == 5 and f"now leads to {bob.pw_dir}" in started.stderr
    assert client.containers.get(f"tw._.{alice.pw_uid}").status == "created"
    sh.run(alice, "sh", "-c", f"rm {workspace} && mv {workspace}.old {workspace}", check=True)
    sh.run(alice, "container-start", "tw", check=True)  # the directory back: it starts


def test_a_started_container_has_its_workspace_and_the_host_keeps_no_mount_of_it(sh, users, client, state_dir):
    """The workspace is mounted from a bind point ds01 fills only while it starts the container: inside, it is
    alice's directory both ways; after the start no mount of it is left on the host, and a start that bypasses
    ds01 (`docker start`) gets an empty directory alice cannot even write, never hers."""
    alice = users["alice"]
    create(sh, alice, "pin")
    workspace = os.path.join(alice.pw_dir, "workspace", "pin")
    sh.run(alice, "sh", "-c", f"echo from-host > {workspace}/host.txt", check=True)
    sh.run(alice, "container-start", "pin", check=True)
    container = client.containers.get(f"pin._.{alice.pw_uid}")
    code, out = container.exec_run(["sh", "-c", "cat /workspace/host.txt && echo from-inside > /workspace/in.txt"],
                                   user=f"{alice.pw_uid}:{alice.pw_gid}")
    assert (code, out.decode()) == (0, "from-host\n")
    assert open(os.path.join(workspace, "in.txt")).read() == "from-inside\n"
    assert sandbox.mounts_under(state_dir) == []
    sources = {m["Destination"]: m["Source"] for m in container.attrs["Mounts"]}
    assert sources["/workspace"] == f"{state_dir}/mounts/pin._.{alice.pw_uid}/workspace"
    detailed = sh.records(alice, "container-list", "--detailed")[0]
    assert detailed["workspace"] == workspace and detailed["mounts"]["/workspace"] == workspace
    assert f"/workspace={workspace} (rw)" in detailed["profile"]
    container.kill()
    container.wait()
    container.start()  # as root, past ds01
    code, out = container.exec_run(["sh", "-c", "ls -A /workspace; touch /workspace/x"],
                                   user=f"{alice.pw_uid}:{alice.pw_gid}")
    assert code != 0 and "host.txt" not in out.decode() and "Permission denied" in out.decode()
    container.kill()
    sh.run(alice, "container-remove", "pin", check=True)
    assert not os.path.exists(os.path.join(state_dir, "mounts", f"pin._.{alice.pw_uid}"))


def test_a_first_create_on_a_new_host_makes_the_state_dir_it_needs(users, dockerd, policy_file, event_log_dir,
                                                                     user_tmp, client):
    """No /var/lib/ds01 yet (a fresh install): the first create makes it, with its bind points, and starts."""
    from tests.support.harness import Shell

    alice = users["alice"]
    state = user_tmp / "new" / "state"
    fresh = Shell(dockerd, policy_file, event_log_dir, {"DS01_STATE_DIR": str(state)})
    made = fresh.records(alice, "container-create", "first", sandbox.BASE_IMAGE, "--cpu-only")[0]
    fresh.run(alice, "container-start", "first", check=True)
    assert (state / "mounts" / made["container"]).is_dir() and oct(state.stat().st_mode & 0o777) == "0o755"
    client.containers.get(made["container"]).remove(force=True)


SWAPPER = """
import os, sys
workspace, target = sys.argv[1:3]
away, link = workspace + ".away", workspace + ".link"
os.symlink(target, link)
print("swapping", flush=True)
while True:  # the directory and a symlink to bob's private directory change places, as fast as they can
    os.rename(workspace, away)
    os.rename(link, workspace)
    os.rename(workspace, link)
    os.rename(away, workspace)
"""


def test_a_workspace_swapped_for_a_symlink_in_a_tight_loop_never_mounts_anything_else(sh, users, client):
    """Issue 18, item 2: while alice swaps her workspace and a symlink to bob's private directory in a tight
    loop, hundreds of her starts each mount her own directory or refuse; not one shows bob's file."""
    alice, bob = users["alice"], users["bob"]
    private = os.path.join(bob.pw_dir, "private")
    sh.run(bob, "sh", "-c", f"mkdir -p {private} && chmod 700 {private} && echo secret > {private}/secret.txt",
           check=True)
    create(sh, alice, "race")
    workspace = os.path.join(alice.pw_dir, "workspace", "race")
    sh.run(alice, "sh", "-c", f"echo mine > {workspace}/mine.txt", check=True)
    container = client.containers.get(f"race._.{alice.pw_uid}")
    swapper = subprocess.Popen(sandbox.as_user_command(alice, [sys.executable, "-c", SWAPPER, workspace, private]),
                               stdout=subprocess.PIPE, text=True)
    outcomes = {"mounted": 0, "refused": 0}
    try:
        assert swapper.stdout.readline() == "swapping\n"
        for _ in range(STARTS):
            started = sh.run(alice, "container-start", "race")
            if started.returncode != 0:
                assert started.returncode in (4, 5), started.stderr + sh.broker().log_tail(40)
                outcomes["refused"] += 1
                continue
            container.reload()
            seen = os.listdir(f"/proc/{container.attrs['State']['Pid']}/root/workspace")
            assert seen == ["mine.txt"], seen
            outcomes["mounted"] += 1
            container.kill()
            container.wait()
    finally:
        swapper.kill()
        swapper.wait()
    assert outcomes["mounted"] and outcomes["refused"], outcomes  # the swap did race the starts


def test_a_group_the_policy_gives_sudo_has_it(sh, users, client):
    bob = users["bob"]  # researcher: `sudo: true`
    create(sh, bob, "root")
    sh.run(bob, "container-start", "root", check=True)
    code, out = client.containers.get(f"root._.{bob.pw_uid}").exec_run(
        ["bash", "-lc", "sudo -n id -u"], user=f"{bob.pw_uid}:{bob.pw_gid}")
    assert (code, out.decode().strip()) == (0, "0")
    detailed = sh.records(bob, "container-list", "--detailed")[0]
    assert detailed["capabilities"] == ["default"] and "sudo: on" in detailed["profile"]


def test_an_existing_uid_in_the_image_still_gives_the_callers_login(sh, users, client):
    alice = users["alice"]
    squatter = client.containers.run(sandbox.BASE_IMAGE, ["useradd", "-m", "-u", str(alice.pw_uid), "olduser"],
                                     detach=True, network_mode="host")
    assert squatter.wait()["StatusCode"] == 0
    squatter.commit("ds01-test/collide", "latest")
    squatter.remove()
    sh.records(alice, "container-create", "collide", "ds01-test/collide:latest")
    sh.run(alice, "container-start", "collide", check=True)
    code, out = client.containers.get(f"collide._.{alice.pw_uid}").exec_run(
        ["whoami"], user=f"{alice.pw_uid}:{alice.pw_gid}")
    assert (code, out.decode().strip()) == (0, alice.pw_name)


def test_an_image_with_the_user_baked_in_needs_no_setup(sh, users, client):
    alice = users["alice"]
    create(sh, alice, "first")
    # Save it (its account is in its own layer) labelled as ds01's image builder does.
    client.containers.get(f"first._.{alice.pw_uid}").commit(
        "ds01-test/baked", "latest", changes=[f"LABEL aime.mlc.DS01_USER_ID={alice.pw_uid}",
                                              f"LABEL aime.mlc.DS01_GROUP_ID={alice.pw_gid}"])
    plan = sh.records(alice, "container-create", "second", "ds01-test/baked:latest", "--dry-run")[0]
    own = f"ds01-test/baked:second._.{alice.pw_uid}"  # its own tag of the same image: no setup, no copy
    assert plan["user_setup"] is False and plan["run_image"] == own
    rec = sh.records(alice, "container-create", "second", "ds01-test/baked:latest")[0]
    info = client.api.inspect_container(rec["container"])
    assert info["Config"]["Image"] == own and info["Image"] == client.images.get("ds01-test/baked:latest").id
    sh.run(alice, "container-remove", "second", check=True)
    client.images.get("ds01-test/baked:latest")  # a shared image is never removed with a container


def test_dry_run_prints_the_plan_and_changes_nothing(sh, users, client):
    alice = users["alice"]
    plan = sh.records(alice, "container-create", "dry", sandbox.BASE_IMAGE, "--dry-run")[0]
    assert plan["container"] == f"dry._.{alice.pw_uid}" and plan["user_setup"] is True
    assert plan["memory"] == 256 * 1024**2 and plan["cgroup_parent"] == "ds01-student-ds01t_alice.slice"
    assert client.containers.list(all=True) == []
    assert not os.path.exists(os.path.join(alice.pw_dir, "workspace", "dry"))


def test_a_failed_create_leaves_nothing_behind(sh, users, client, policy_file, user_tmp):
    alice = users["alice"]
    broken = user_tmp / "tiny.yaml"
    broken.write_text(policy_file.read_text().replace("memory: 256m", "memory: 1m").replace("memory_swap: 512m",
                                                                                             "memory_swap: 2m"))
    result = sh.run(alice, "container-create", "broken", sandbox.BASE_IMAGE, extra_env={"DS01_CONFIG": str(broken)})
    assert result.returncode == 1 and "container-create: error:" in result.stderr
    assert client.containers.list(all=True) == []
    assert sorted(t for i in client.images.list() for t in i.tags) == BASE_TAGS
    assert not os.path.exists(os.path.join(alice.pw_dir, "workspace", "broken"))


def test_the_container_quota_counts_stopped_containers(sh, users):
    bob = users["bob"]  # override: max_containers_per_user 1
    create(sh, bob, "one")
    result = sh.run(bob, "container-create", "two", sandbox.BASE_IMAGE)
    assert result.returncode == 3 and "CONTAINER_LIMIT (1/1)" in result.stderr


def test_a_second_container_with_the_same_name_is_refused(sh, users):
    alice = users["alice"]
    create(sh, alice, "dup")
    result = sh.run(alice, "container-create", "dup", sandbox.BASE_IMAGE)
    assert result.returncode == 1 and "already have a container named 'dup'" in result.stderr


def test_gpu_requests_wait_for_the_gpu_allocator(sh, users, client):
    alice = users["alice"]
    assert sh.run(alice, "container-create", "g", sandbox.BASE_IMAGE, "--num-gpus", "1").returncode == 3
    assert sh.run(alice, "container-create", "g", sandbox.BASE_IMAGE, "--num-gpus", "0").returncode == 2
    assert client.containers.list(all=True) == []


@pytest.mark.parametrize("name", ["a;b", "../x", "-lead", "x" * 64, "a b", "$(id)", "ümlaut"])
def test_invalid_names_are_refused_before_docker(offline_sh, users, name):
    result = offline_sh.run(users["alice"], "container-create", "--", name, sandbox.BASE_IMAGE)
    assert result.returncode == 2 and "invalid container name" in result.stderr
    assert "cannot reach" not in result.stderr


def test_mounts_outside_home_and_mount_roots_are_refused(sh, users, client):
    alice = users["alice"]
    for flag, path in (("-d", "/etc"), ("-m", "/var/lib"), ("-w", "/opt/elsewhere")):
        result = sh.run(alice, "container-create", "m", sandbox.BASE_IMAGE, flag, path)
        assert result.returncode == 5, result.stderr
        assert "outside what you may mount" in result.stderr
    assert client.containers.list(all=True) == []


def pipe(sh, user, first, second):
    result = sh.pipe(user, first, second)
    assert result.left == 0, result.left_stderr
    return result


def test_list_stop_remove_compose_through_pipes(sh, users, client):
    alice = users["alice"]
    for name in ("p1", "p2"):
        create(sh, alice, name)
    started = sh.records(alice, "container-start", input="p1\n")
    assert [r["status"] for r in started] == ["running"]
    sh.records(alice, "container-start", input=json.dumps([{"name": "p2"}]))
    assert sorted(r["name"] for r in sh.records(alice, "container-list")) == ["p1", "p2"]
    stopped = pipe(sh, alice, ["container-list"], ["container-stop"])
    assert stopped.returncode == 0, stopped.stderr
    assert sorted((json.loads(line)["name"], json.loads(line)["status"]) for line in stopped.stdout.splitlines()) == [
        ("p1", "exited"), ("p2", "exited")]
    assert sh.records(alice, "container-list") == []
    removed = pipe(sh, alice, ["container-list", "-a"], ["container-remove"])
    assert removed.returncode == 0, removed.stderr
    assert client.containers.list(all=True) == []
    assert sorted(t for i in client.images.list() for t in i.tags) == BASE_TAGS
    assert os.path.isdir(os.path.join(alice.pw_dir, "workspace", "p1"))  # workspaces are never removed
    empty = pipe(sh, alice, ["container-list"], ["container-stop"])
    assert (empty.returncode, empty.stdout) == (0, "")


def test_users_cannot_touch_each_others_containers_but_admins_can(sh, users, client):
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    create(sh, alice, "mine")
    sh.run(alice, "container-start", "mine", check=True)
    full = f"mine._.{alice.pw_uid}"
    for command in ("container-stop", "container-remove", "container-start"):
        result = sh.run(bob, command, full)
        assert result.returncode == 5 and "belongs to ds01t_alice" in result.stderr
    assert client.containers.get(full).status == "running"
    assert sh.records(bob, "container-list", "-a") == []
    assert sh.run(bob, "container-list", "--all-users").returncode == 5
    assert [r["container"] for r in sh.records(admin, "container-list", "--all-users")] == [full]
    assert [r["container"] for r in sh.records(admin, "container-list", "--user", alice.pw_name)] == [full]
    assert sh.run(admin, "container-stop", full).returncode == 0
    assert sh.run(admin, "container-remove", full).returncode == 0
    assert client.containers.list(all=True) == []


def test_a_batch_reports_every_target_and_exits_with_the_worst_code(sh, users, client):
    alice = users["alice"]
    create(sh, alice, "real")
    sh.run(alice, "container-start", "real", check=True)
    result = sh.run(alice, "container-stop", "ghost", "real")
    assert result.returncode == 4
    assert "no container 'ghost'" in result.stderr
    assert [json.loads(line)["name"] for line in result.stdout.splitlines()] == ["real"]
    assert client.containers.get(f"real._.{alice.pw_uid}").status == "exited"


def test_remove_refuses_a_running_container_unless_forced(sh, users, client):
    alice = users["alice"]
    create(sh, alice, "busy")
    sh.run(alice, "container-start", "busy", check=True)
    result = sh.run(alice, "container-remove", "busy")
    assert result.returncode == 1 and "container-stop busy" in result.stderr
    assert client.containers.get(f"busy._.{alice.pw_uid}").status == "running"
    assert sh.run(alice, "container-cleanup", "busy", "--force").returncode == 0  # the legacy name
    assert client.containers.list(all=True) == []


def test_stop_all_and_remove_all_act_only_on_the_callers_containers(sh, users, client):
    alice, admin = users["alice"], users["admin"]
    create(sh, alice, "a1")
    create(sh, admin, "keep")
    sh.run(alice, "container-start", "a1", check=True)
    sh.run(admin, "container-start", "keep", check=True)
    assert sh.run(alice, "container-stop", "-a").returncode == 0
    assert sh.run(alice, "container-remove", "-a").returncode == 0
    assert [c.name for c in client.containers.list(all=True)] == [f"keep._.{admin.pw_uid}"]
    assert client.containers.get(f"keep._.{admin.pw_uid}").status == "running"


def test_legacy_aime_and_ds01_containers_are_listed_and_owned(sh, users, client):
    alice = users["alice"]
    login, uid = alice.pw_name, alice.pw_uid
    client.api.create_container(sandbox.BASE_IMAGE, ["bash"], name=f"v4._.{uid}", labels={
        "aime.mlc": login, "aime.mlc.NAME": "v4", "aime.mlc.USER": login, "aime.mlc.ARCH": "CUDA_ADA",
        "aime.mlc.MLC_VERSION": "4", "aime.mlc.WORK_MOUNT": "workspace/", "aime.mlc.DATA_MOUNT": "-",
        "aime.mlc.MODELS_MOUNT": "-", "aime.mlc.FRAMEWORK": "Pytorch-2.7.1", "aime.mlc.GPUS": "device=GPU-x1"})
    client.api.create_container(sandbox.BASE_IMAGE, ["bash"], name=f"v3._.{uid}", labels={
        "aime.mlc": login, "aime.mlc.USER": login, "aime.mlc.NAME": "v3", "aime.mlc.VERSION": "3",
        "aime.mlc.DATA_MOUNT": "", "aime.mlc.FRAMEWORK": "Tensorflow-2.9.1"})
    client.api.create_container(sandbox.BASE_IMAGE, ["bash"], name="oldbox", labels={
        "aime.mlc": login, "aime.mlc.USER": login, "aime.mlc.FRAMEWORK": "Pytorch-1.8"})
    client.api.create_container(sandbox.BASE_IMAGE, ["bash"], name=f"proj._.{uid}", labels={
        "ds01.user": login, "ds01.managed": "true", "ds01.framework": "pytorch-2.5",
        "ds01.gpu.uuids": "GPU-a,GPU-b", "ds01.interface": "orchestration", "maintainer": "x, y"})
    client.api.create_container(sandbox.BASE_IMAGE, ["bash"], name="someone-elses-plain")
    listed = {r["name"]: r for r in sh.records(alice, "container-list", "-a")}
    assert set(listed) == {"v4", "v3", "oldbox", "proj"}
    assert all(r["user"] == login and r["status"] == "created" for r in listed.values())
    assert listed["v4"]["gpus"] == ["GPU-x1"] and listed["v4"]["framework"] == "Pytorch-2.7.1"
    assert listed["proj"]["gpus"] == ["GPU-a", "GPU-b"] and listed["proj"]["managed"] is True
    assert listed["proj"]["interface"] == "orchestration" and listed["proj"]["uid"] == uid
    assert listed["oldbox"]["container"] == "oldbox" and listed["oldbox"]["uid"] == uid
    # Old containers are the user's to operate, by name.
    assert sh.run(alice, "container-remove", "oldbox", "v3").returncode == 0
    assert sorted(r["name"] for r in sh.records(alice, "container-list", "-a")) == ["proj", "v4"]


def test_start_resumes_a_paused_container_and_stop_stops_it(sh, users, client):
    alice = users["alice"]
    create(sh, alice, "nap")
    sh.run(alice, "container-start", "nap", check=True)
    container = client.containers.get(f"nap._.{alice.pw_uid}")
    container.pause()
    assert [r["status"] for r in sh.records(alice, "container-start", "nap")] == ["running"]
    container.pause()
    assert [r["status"] for r in sh.records(alice, "container-stop", "nap")] == ["exited"]


def test_space_syntax_and_legacy_names_act_like_the_command(sh, users):
    alice = users["alice"]
    create(sh, alice, "sp")
    assert sh.records(alice, "ds01", "container", "list", "-a") == sh.records(alice, "container-list", "-a")
    assert sh.run(alice, "container", "stop", "nothere").returncode == sh.run(alice, "container-stop",
                                                                               "nothere").returncode == 4
    removed = sh.records(alice, "container", "cleanup", "sp")  # DS01's old name, through the dispatcher
    assert [(r["name"], r["status"]) for r in removed] == [("sp", "removed")]
    assert sh.records(alice, "container-list", "-a") == []


def test_control_characters_in_a_containers_labels_never_reach_the_terminal_raw(sh, users, client):
    """A container made outside ds01 (with Docker access, as AIME's mlc does) names itself with escapes:
    clear the screen, retitle the terminal, and a newline to forge a second row."""
    alice = users["alice"]
    evil = "x\x1b[2J\x1b]0;owned\x07\nFAKE ROW\u202e"
    client.containers.create(sandbox.BASE_IMAGE, ["true"], name=f"evil._.{alice.pw_uid}",
                             labels={"aime.mlc": alice.pw_name, "aime.mlc.USER": alice.pw_name,
                                     "aime.mlc.NAME": evil, "aime.mlc.FRAMEWORK": "\x1b[31mred"})
    for argv in (["container-list", "-a", "--table"], ["mlc-list"]):
        result = sh.run(alice, *argv)
        assert result.returncode == 0, result.stderr
        assert not any(c in result.stdout for c in "\x1b\x07\u202e"), argv
        assert "x\\e[2J\\e]0;owned\\x07\\nFAKE ROW\\u202e" in result.stdout, argv
        assert not any(line.startswith("FAKE ROW") for line in result.stdout.splitlines()), argv
    record = sh.records(alice, "container-list", "-a", "--json")[0]
    assert record["name"] == evil  # the data itself is kept as it is: only what reaches a terminal is escaped


def fits(result, width=80):
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(len(line) <= width for line in lines), "\n".join(lines)
    return lines


def test_tables_fit_80_columns_and_never_show_internal_tags(sh, users, client):
    """Issue 30: container-list, image-list on an 80-column terminal; the per-container tags (`NAME._.uid`,
    `.previous` after container-recreate) are never an image of their own nor a container's IMAGE."""
    alice, admin = users["alice"], users["admin"]
    mine = f"ds01-{alice.pw_uid}/tablefit:latest"
    sh.run(alice, "image-create", "tablefit", "--base-image", sandbox.BASE_IMAGE, check=True)
    name = "experiment-with-a-rather-long-container-name"
    sh.run(alice, "container-create", name, "tablefit", check=True)
    sh.run(alice, "container-recreate", name, check=True)
    sh.run(alice, "image-create", "tablefit", "--base-image", sandbox.ML_BASE_IMAGE, "--force", check=True)
    listed = sh.records(alice, "container-list", "-a")
    assert [r["image"] for r in listed] == [mine]
    images = sh.records(alice, "image-list")
    assert [(r["name"], r["image"], r["containers"]) for r in images] == [("tablefit", mine, [name])]
    terminal = {"COLUMNS": "80"}
    for who, argv in ((alice, ["container-list", "-a"]), (admin, ["container-list", "-a", "--all-users"]),
                      (alice, ["container-list", "-a", "--detailed"]), (alice, ["image-list"]),
                      (admin, ["image-list", "-a"])):
        lines = fits(sh.run(who, *argv, "--table", user_env=terminal))
        assert not any("._." in line for line in lines), lines
    wide = sh.run(alice, "container-list", "-a", "--table", "--wide", user_env=terminal).stdout.splitlines()
    assert "WORKSPACE" in wide[0] and max(map(len, wide)) > 80 and mine in wide[1]


def test_gpu_status_fits_80_columns(user_tmp, users, dockerd, sh):
    from tests.support.gpulab import GpuLab

    lab = GpuLab(user_tmp, users, dockerd)
    lab.sh.run(users["alice"], "container-create", "a-long-experiment-name-for-the-table", sandbox.ML_BASE_IMAGE,
               "--num-gpus", "2", check=True)
    lines = fits(lab.sh.run(users["alice"], "gpu-status", "--table", user_env={"COLUMNS": "80"}))
    assert lines[0].startswith("SLOT") and any(line.startswith("GPU 0") for line in lines)
    wide = lab.sh.run(users["alice"], "gpu-status", "--table", "--wide").stdout.splitlines()
    assert "GPU-EQ" in wide[0] and max(map(len, wide)) > 80
