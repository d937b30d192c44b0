"""The trust boundary, written as the attacks: the test users have no access to the Docker socket and
reach the engine only through ds01d, and nothing they set in their environment, name on the command
line or plant on disk changes what ds01d does for them (docs/security.md lists each attack)."""

import json
import os
import signal
import stat
import subprocess
import textwrap

import pytest

from tests.support import sandbox
from tests.support.brokers import children, worker_exits
from tests.support.gpulab import GpuLab
from tests.support.harness import REPO

IMAGE = sandbox.BASE_IMAGE


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    return GpuLab(user_tmp, users, dockerd)


def running(client, name):
    return client.api.inspect_container(name)["State"]["Running"]


def test_a_user_cannot_connect_to_the_docker_socket(sh, users, dockerd):
    tried = sh.run(users["alice"], "python3", "-c",
                   "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", dockerd.socket)
    assert tried.returncode != 0 and "PermissionError: [Errno 13] Permission denied" in tried.stderr


def test_without_ds01d_a_user_is_told_to_ask_an_admin_for_it(sh, users):
    result = sh.run(users["alice"], "container-list", user_env={"DS01_SOCKET": "/nonexistent/ds01.sock"})
    assert result.returncode == 5 and result.stdout == ""
    assert "container-list: error: ds01d is not running (ask an admin: systemctl start ds01d)" in result.stderr
    helped = sh.run(users["alice"], "help", user_env={"DS01_SOCKET": "/nonexistent/ds01.sock"})
    assert helped.returncode == 0 and "container-create" in helped.stdout  # a reference needs no engine


def test_a_policy_of_the_callers_own_makes_no_one_an_admin(sh, users, client, user_tmp):
    """alice writes a policy naming herself an admin and points DS01_CONFIG, then --config, at it."""
    alice, bob = users["alice"], users["bob"]
    assert sh.run(bob, "container-create", "victim", IMAGE, "--cpu-only").returncode == 0
    assert sh.run(bob, "container-start", "victim").returncode == 0
    evil = user_tmp / "evil.yaml"
    evil.write_text(f"access_control:\n  admin_users: [{alice.pw_name}]\n")
    os.chown(evil, alice.pw_uid, alice.pw_gid)
    target = f"victim._.{bob.pw_uid}"
    by_env = sh.run(alice, "container-stop", target, user_env={"DS01_CONFIG": str(evil)})
    assert by_env.returncode in (4, 5), by_env.stderr
    assert running(client, target)
    wide = sh.run(alice, "container-create", "wide", IMAGE, "--cpu-only", "-w", "/",
                  user_env={"DS01_CONFIG": str(evil)})
    assert wide.returncode != 0 and sh.records(alice, "container-list", "-a") == []
    by_flag = sh.run(alice, "container-stop", target, "--config", str(evil))
    assert by_flag.returncode == 5 and "container-stop: error: --config is for admins only" in by_flag.stderr
    shadow = sh.run(alice, "check-limits", "--config", "/etc/shadow")
    assert shadow.returncode == 5 and "root:" not in shadow.stderr + shadow.stdout
    # an admin may name a policy: read with the admin's own rights, and it must be root's
    admin = users["admin"]
    os.chown(evil, admin.pw_uid, admin.pw_gid)
    by_admin = sh.run(admin, "container-stop", target, "--config", str(evil))
    assert by_admin.returncode == 1 and f"{evil}: refusing the policy: it is owned by uid {admin.pw_uid}" \
        in by_admin.stderr
    shadow = sh.run(admin, "check-limits", "--config", "/etc/shadow")  # read-only: a warning, then the defaults
    assert "/etc/shadow: cannot read: Permission denied" in shadow.stderr
    assert "root:" not in shadow.stderr + shadow.stdout
    assert running(client, target)


def test_the_callers_state_dir_clock_inventory_and_log_dir_are_ignored(lab, users, user_tmp):
    alice = users["alice"]
    mine = user_tmp / "mine"
    mine.mkdir()
    os.chown(mine, alice.pw_uid, alice.pw_gid)
    (mine / "one-gpu.yaml").write_text("gpus:\n  - {index: 0, name: Fake, uuid: GPU-fake, memory_total_mib: 1024}\n")
    own = {"DS01_STATE_DIR": str(mine / "state"), "DS01_NOW": "4102444800", "DS01_LOG_DIR": str(mine / "log"),
           "DS01_GPU_INVENTORY": str(mine / "one-gpu.yaml")}
    claim = lab.sh.records(alice, "gpu-allocate", user_env=own)[0]
    assert list(lab.claims()) == [claim["claim"]]  # in ds01d's state dir
    slots = lab.sh.records(alice, "gpu-status", user_env=own)
    assert len(slots) == 11 and "GPU-fake" not in json.dumps(slots)
    logged = [json.loads(line) for line in (lab.logs / "events.jsonl").read_text().splitlines()]
    assert [e["event_type"] for e in logged] == ["gpu.allocate"]
    assert not logged[0]["timestamp"].startswith("2100")
    assert sorted(p.name for p in mine.iterdir()) == ["one-gpu.yaml"]


def test_users_cannot_lock_forge_or_plant_anything_in_the_state_dir(lab, users):
    alice = users["alice"]
    lab.sh.records(alice, "gpu-allocate")
    state = lab.state
    assert stat.S_IMODE((state / "gpu.lock").stat().st_mode) == 0o600
    for attack in (["flock", "-n", str(state / "gpu.lock"), "true"],
                   ["sh", "-c", f"echo garbage > {state / 'gpu-claims.json'}"],
                   ["mkfifo", str(state / "gpu-released.json")],
                   ["ln", "-s", "/etc/passwd", str(state / "gpu-queue.json")]):
        tried = lab.sh.run(alice, *attack)
        assert tried.returncode != 0 and "denied" in tried.stderr, attack
    assert len(lab.claims()) == 1


def test_a_fifo_a_symlink_or_junk_in_the_state_dir_never_hangs_redirects_or_crashes(lab, users, user_tmp):
    """What a state dir from before ds01d (1777, anyone's files) may still hold, once root owns it."""
    alice = users["alice"]
    os.mkfifo(lab.state / "gpu-released.json")
    status = lab.sh.run(alice, "gpu-status", "--json")  # the runner's timeout would catch a hang
    assert status.returncode == 0 and "ignoring" in status.stderr and "Traceback" not in status.stderr
    target = user_tmp / "roots-file"
    target.write_text("root's\n")
    os.chmod(target, 0o600)
    (lab.state / "gpu-claims.json").symlink_to(target)
    claim = lab.sh.run(alice, "gpu-allocate")
    assert claim.returncode == 0, claim.stderr
    assert target.read_text() == "root's\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not (lab.state / "gpu-claims.json").is_symlink() and len(lab.claims()) == 1
    (lab.state / "gpu-claims.json").write_text("garbage")
    junk = lab.sh.run(alice, "gpu-status")
    assert junk.returncode == 0 and "not JSON" in junk.stderr and "Traceback" not in junk.stderr
    os.chmod(lab.state, 0o1777)
    refused = lab.sh.run(alice, "gpu-allocate")
    assert refused.returncode == 1 and "refusing the state dir" in refused.stderr and "0755" in refused.stderr


def test_a_claim_in_the_state_file_is_held_to_the_callers_limits_when_used(lab, users, client):
    """A claim for all eleven slots (as the 1777 state dir once let a user write) is data, not authority."""
    from tests.support.gpulab import slot_uuids

    alice = users["alice"]
    forged = {"claim:forged": {"user": alice.pw_name, "slots": sorted(slot_uuids()), "expires_at": 4102444800,
                               "created_at": 0}}
    (lab.state / "gpu-claims.json").write_text(json.dumps(forged))
    used = lab.sh.run(alice, "container-create", "greedy", IMAGE, "--claim", "claim:forged")
    assert used.returncode == 3 and "one container may have at most 2" in used.stderr
    assert lab.sh.records(alice, "container-list", "-a") == []


def test_a_requirements_file_that_links_to_the_shadow_file_reads_nothing_of_it(sh, users):
    alice = users["alice"]
    project = os.path.join(alice.pw_dir, "workspace", "linked")
    assert sh.run(alice, "mkdir", "-p", project).returncode == 0
    assert sh.run(alice, "ln", "-sf", "/etc/shadow", os.path.join(project, "requirements.txt")).returncode == 0
    made = sh.run(alice, "image-create", "linked", "--framework", "custom", "--base-image", IMAGE,
                  "-r", "requirements.txt", "--no-build", cwd=project)
    assert made.returncode == 2 and "cannot read requirements file requirements.txt: Permission denied" \
        in made.stderr
    assert "root:" not in made.stdout + made.stderr
    assert not os.path.exists(os.path.join(alice.pw_dir, "workspace", "linked", "Dockerfile"))


def test_the_caller_cannot_signal_the_worker_but_its_client_passes_signals_on(sh, users, client):
    alice = users["alice"]
    assert sh.run(alice, "container-create", "sig", IMAGE, "--cpu-only").returncode == 0
    waiting = sh.popen(alice, "container-run", "sig", "--", "sh", "-c", "echo started; exec sleep 300")
    assert waiting.stdout.readline() == "started\n"
    broker = sh.broker()
    workers = children(broker.process.pid)
    assert workers
    for pid in workers:
        tried = sh.run(alice, "kill", "-TERM", str(pid))
        assert tried.returncode != 0 and "Operation not permitted" in tried.stderr
    waiting.send_signal(signal.SIGINT)
    assert waiting.wait(timeout=60) == 130
    answer = sh.run(alice, "container-list", "-a", "--json")
    assert answer.returncode == 0 and json.loads(answer.stdout.splitlines()[0])["name"] == "sig"


def test_a_config_file_others_may_write_is_refused_even_for_root(sh, users, user_tmp):
    loose = user_tmp / "loose.yaml"
    loose.write_text(textwrap.dedent("""\
        defaults:
          max_cpus: 1
        """))
    os.chmod(loose, 0o666)
    result = sh.run(sandbox.pwd.getpwnam("root"), "resource-limits", "--config", str(loose), "--json")
    assert "refusing the policy: it is writable by others (mode 0666)" in result.stderr
    assert json.loads(result.stdout)["max_cpus"] != 1  # read-only: shown on the defaults, the file never used
    changed = sh.run(sandbox.pwd.getpwnam("root"), "container-create", "x", IMAGE, "--config", str(loose))
    assert changed.returncode == 1 and "refusing the policy: it is writable by others (mode 0666)" in changed.stderr


def test_a_command_imports_nothing_the_caller_planted_and_no_library_before_ds01d(sh, users, user_tmp):
    """PYTHONPATH, PYTHONSTARTUP and a user site-packages each plant a module that leaves a mark: through ds01d
    (the C client) and where the C client hands over to the Python client (no ds01d at the socket)."""
    alice = users["alice"]
    plant = user_tmp / "plant"
    plant.mkdir()
    os.chown(plant, alice.pw_uid, alice.pw_gid)
    site = os.path.join(alice.pw_dir, ".local", "lib", "python3.11", "site-packages")
    code = f"open({str(plant / 'planted')!r}, 'w').write('ran')\n"
    for directory in (plant, site):
        assert sh.run(alice, "mkdir", "-p", str(directory)).returncode == 0
        for module in ("sitecustomize.py", "usercustomize.py", "json.py"):
            assert sh.run(alice, "sh", "-c", f"cat > {directory}/{module}", input=code).returncode == 0
    planting = {"PYTHONPATH": str(plant), "PYTHONSTARTUP": str(plant / "json.py")}
    try:
        listed = sh.run(alice, "container-list", user_env=planting)
        # no ds01d at that socket: the C client hands the command to the Python client, which says so
        handed = sh.run(alice, "container-list", user_env={**planting, "DS01_SOCKET": str(plant / "none.sock")})
    finally:
        sh.run(alice, "rm", "-rf", os.path.join(alice.pw_dir, ".local"))
    assert listed.returncode == 0, listed.stderr
    assert handed.returncode == 5 and "ds01d is not running" in handed.stderr, handed.stderr
    assert not (plant / "planted").exists()
    installed = sh.env(alice)["PATH"].split(":")[0]
    with open(installed + "/container-list", encoding="utf-8") as handle:
        assert handle.readline() == f"#!{installed}/ds01-client\n"  # no interpreter starts before ds01d answers
    with open(installed + "/help", encoding="utf-8") as handle:  # a command never served: the interpreter's
        shebang = handle.readline()
    assert shebang.endswith(" -IS\n")
    heavy = "{'click', 'yaml', 'docker', 'requests', 'urllib3', 'json', 'socket', 'signal', 'enum', 'os'}"
    loaded = sh.run(alice, shebang[2:].split()[0], "-IS", "-c",
                    "import sys; sys.path.insert(0, sys.argv[1]); import ds01.client; "
                    f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy}))", str(REPO))
    assert loaded.stdout.strip() == "[]"


def test_image_list_names_no_other_users_containers_on_a_copy_of_their_image(sh, users, client):
    """bob holds an image with the same ID as the one alice's container runs (an imported copy of a catalog image
    is one): his image-list shows his copy with his own container on it, and neither alice's container nor the
    per-container tag that names it."""
    alice, bob = users["alice"], users["bob"]
    sh.run(alice, "container-create", "private-notes", IMAGE, "--cpu-only", check=True)
    copy_ref = f"ds01-{bob.pw_uid}/copy:latest"
    client.api.tag(IMAGE, f"ds01-{bob.pw_uid}/copy", "latest")
    try:
        sh.run(bob, "container-create", "his", copy_ref, "--cpu-only", check=True)
        [copy] = [r for r in sh.records(bob, "image-list") if r["name"] == "copy"]
    finally:
        sh.run(bob, "container-remove", "his", "--force")
        client.api.remove_image(copy_ref)
    assert copy["containers"] == ["his"] and "private-notes" not in json.dumps(copy)


def test_a_sessions_root_docker_client_never_reads_the_callers_docker_config(sh, users):
    """~/.docker/config.json can name plugin dirs and credential helpers: the client runs as root."""
    alice = users["alice"]
    assert sh.run(alice, "container-create", "cfg", IMAGE, "--cpu-only").returncode == 0
    docker_dir = os.path.join(alice.pw_dir, ".docker")
    assert sh.run(alice, "mkdir", "-p", docker_dir).returncode == 0
    planted = sh.run(alice, "sh", "-c", f"cat > {docker_dir}/config.json",
                     input='{"cliPluginsExtraDirs": ["/home/x"], "detachKeys": "ctrl-q",')
    assert planted.returncode == 0
    try:
        ran = sh.run(alice, "container-run", "cfg", "--", "true")
    finally:
        sh.run(alice, "rm", "-rf", docker_dir)
    assert ran.returncode == 0, ran.stderr
    assert "config" not in ran.stderr.lower()


def test_user_setup_warns_a_user_who_can_still_use_docker_directly(sh, users, dockerd):
    """Moving a lab to ds01d: whoever is still in the socket's group (root, in effect) is told so."""
    import grp

    bob, alice = users["bob"], users["alice"]
    group = "ds01t-docker"
    sandbox.ensure_group(group)
    subprocess.run(["usermod", "-a", "-G", group, bob.pw_name], check=True)
    os.chown(dockerd.socket, 0, grp.getgrnam(group).gr_gid)
    try:
        warned = {r["step"]: r for r in sh.records(bob, "user-setup", "--quick", "--no-ssh")}
        fine = {r["step"]: r for r in sh.records(alice, "user-setup", "--quick", "--no-ssh")}
        roster = {r["step"]: r for r in sh.records(users["admin"], "user-setup", "--quick", "--no-ssh")}
    finally:
        os.chown(dockerd.socket, 0, 0)
        sandbox.remove_group(group)
    assert warned["docker"]["status"] == "warn"
    assert f"gpasswd -d {bob.pw_name} {group}" in warned["docker"]["detail"]
    assert fine["docker"]["status"] == "ok"
    assert roster["docker"]["status"] == "warn" and f"in the {group} group" in roster["docker"]["detail"]
    assert bob.pw_name in roster["docker"]["detail"] and alice.pw_name not in roster["docker"]["detail"]


def test_the_account_setup_runs_nothing_of_the_users_image(sh, users, client):
    """An image whose /bin/sh would do anything as root (here: block for 300 s): the create never runs it. The
    account is written into the new container, which first runs at container-start, as the caller."""
    import time

    from ds01.images import context_tar

    alice = users["alice"]
    text = f"FROM {IMAGE}\nRUN printf '#!/bin/bash\\nexec sleep 300\\n' > /bin/sh.new && chmod 755 /bin/sh.new " \
           "&& mv /bin/sh.new /bin/sh\n"
    client.images.build(fileobj=context_tar({"Dockerfile": (text, 0o644)}), custom_context=True,
                        tag="ds01-test/blocking-setup:latest")
    since = f"{time.time():.6f}"  # after the build's own containers
    rec = sh.records(alice, "container-create", "blk", "ds01-test/blocking-setup:latest", "--cpu-only")[0]
    ran = client.api.events(since=since, until=f"{time.time():.6f}", decode=True, filters={"event": "start"})
    assert list(ran) == []  # no container started, under any name
    sh.run(alice, "container-start", "blk", check=True)
    container = client.containers.get(rec["container"])
    code, out = container.exec_run(["bash", "-c", "whoami; echo $HOME; id -u"], user=f"{alice.pw_uid}:{alice.pw_gid}")
    assert (code, out.decode().split()) == (0, [alice.pw_name, f"/home/{alice.pw_name}", str(alice.pw_uid)])


def test_a_client_killed_while_its_worker_waits_for_the_allocator_leaves_nothing(lab, users, client):
    from ds01.gpu.state import State

    alice = users["alice"]
    broker = lab.sh.broker()
    before = set(children(broker.process.pid))
    with State(str(lab.state)).lock():  # another allocation in progress: the worker waits for the lock
        waiting = lab.sh.popen(alice, "container-create", "locked", IMAGE, "--num-gpus", "1")
        waiting.kill()
        waiting.wait()
        worker_exits(broker, before)
    assert lab.claims() == {} and not client.containers.list(all=True, filters={"name": "locked"})
    assert lab.sh.records(alice, "container-create", "free", IMAGE, "--num-gpus", "1")[0]["gpus"]


def test_ds01d_survives_garbage_silence_and_a_flood_from_one_user(sh, users):
    """A client that sends nonsense, one that connects and says nothing, and more connections than one user
    may have at once: each is refused on its own, and ds01d goes on answering everyone."""
    from ds01 import broker as B

    alice, bob = users["alice"], users["bob"]
    broker = sh.broker()
    path = broker.socket
    before = set(children(broker.process.pid))
    probe = ("import socket, sys\n"
             "conns = []\n"
             "for i in range(int(sys.argv[2])):\n"
             "    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); conns.append(s)\n"
             "print(repr(conns[-1].makefile('rb').read().decode()))\n")
    flooded = sh.run(alice, "python3", "-c", probe, path, str(B.MAX_PER_CALLER + 1))
    over = "'error ds01d is busy with 64 of your commands; try again when they finish\\nexit 3\\n'"
    assert flooded.stdout.splitlines() == [over], flooded.stderr  # the 65th is over alice's share
    assert sh.run(bob, "container-list").returncode == 0  # others are served meanwhile
    worker_exits(broker, before)  # the flood's connections closed: their workers end
    garbage = sh.run(alice, "python3", "-c", "import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
                     "s.connect(sys.argv[1]); s.sendall(b'\\x00\\x00\\x00\\x05junk!')\n"
                     "print(s.recv(100).decode().strip())", path)
    assert garbage.stdout.strip() == "exit 2"  # no fds: a bad request, refused by its worker
    assert sh.run(alice, "container-list").returncode == 0
