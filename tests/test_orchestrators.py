"""container-deploy and container-retire: the researcher's one-step paths, with GPUs and real Docker."""

import io
import json
import os
import zipfile

import pexpect
import pytest

from tests.support import sandbox
from tests.support.gpulab import GpuLab

IMAGE = sandbox.BASE_IMAGE


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    return GpuLab(user_tmp, users, dockerd)


def held(lab, who):
    return {r["slot"]: r["users"] for r in lab.sh.records(who, "gpu-status") if r["state"] != "free"}


def state(client, container):
    return client.api.inspect_container(container)["State"]["Status"]


def test_deploy_creates_and_starts_with_a_gpu_in_the_background_without_a_terminal(lab, users, client):
    alice = users["alice"]
    rec = lab.sh.records(alice, "container-deploy", "exp", IMAGE)[0]
    assert rec["status"] == "running" and len(rec["gpus"]) == 1 and rec["interface"] == "orchestration"
    assert list(held(lab, alice).values()) == [[alice.pw_name]]
    # deploying it again is not an error: it is there and running
    again = lab.sh.records(alice, "container-deploy", "exp")[0]
    assert again["id"] == rec["id"]
    lab.sh.run(alice, "container-stop", "exp", check=True)
    assert lab.sh.records(alice, "container-deploy", "exp")[0]["status"] == "running"
    refused = lab.sh.run(alice, "container-deploy", "x", IMAGE, "--open")
    assert refused.returncode == 2 and "needs a terminal" in refused.stderr
    assert "x._." not in " ".join(c.name for c in client.containers.list(all=True))


def test_deploy_failing_after_create_leaves_no_container_and_no_held_slot(lab, users, client, dockerd):
    alice = users["alice"]
    uuids = [s for s in (lab.sh.records(alice, "gpu-status"))]
    with open(dockerd.broken_gpus, "w") as handle:  # the driver refuses every device at start
        handle.write("\n".join(r["uuid"] for r in uuids) + "\n")
    try:
        failed = lab.sh.run(alice, "container-deploy", "doomed", IMAGE)
    finally:
        os.unlink(dockerd.broken_gpus)
    assert failed.returncode == 1, failed.stderr
    assert "could not be started, so it was removed again" in failed.stderr and "device error" in failed.stderr
    assert not [c for c in client.containers.list(all=True) if c.name.startswith("doomed")]
    assert held(lab, alice) == {}
    assert not os.path.exists(os.path.join(alice.pw_dir, "workspace", "doomed"))  # the empty new workspace too
    assert lab.sh.run(alice, "container-deploy", "doomed", IMAGE).returncode == 0  # and it can be tried again


def test_deploy_dry_run_changes_nothing_and_takes_names_from_a_pipe(lab, users, client):
    alice = users["alice"]
    plan = lab.sh.records(alice, "container-deploy", "plan", IMAGE, "--dry-run")[0]
    assert plan["would"] == "create and start" and plan["gpu_slots"] and plan["image"] == IMAGE
    assert not client.containers.list(all=True) and held(lab, alice) == {}
    for name in ("one", "two"):
        lab.sh.run(alice, "container-create", name, IMAGE, "--cpu-only", check=True)
    started = lab.sh.pipe(alice, ["container-list", "-a"], ["container-deploy", "--background"])
    assert started.returncode == 0, started.stderr
    assert sorted(r.split('"name": "')[1].split('"')[0] for r in started.stdout.splitlines()) == ["one", "two"]
    assert {state(client, f"{n}._.{alice.pw_uid}") for n in ("one", "two")} == {"running"}


def test_deploy_on_a_terminal_opens_a_shell_and_the_guided_mode_explains(lab, users, client):
    alice = users["alice"]
    child = lab.sh.spawn(alice, "container-deploy", "live", IMAGE, "--guided")
    child.expect("Step 1, create")
    child.expect("Press Enter to continue")  # a step that acts without asking waits on a terminal
    child.sendline("")
    child.expect("Step 2, start")
    child.expect("Press Enter to continue")
    child.sendline("")
    child.expect("Step 3, open")
    child.sendline("echo IN=$(id -un)")
    child.expect(f"IN={alice.pw_name}")
    child.sendline("exit")
    child.expect("container stopped")
    child.expect(pexpect.EOF)
    assert state(client, f"live._.{alice.pw_uid}") == "exited"


def test_retire_frees_the_slot_at_once_and_never_touches_the_workspace(lab, users, client):
    alice = users["alice"]
    lab.sh.run(alice, "container-deploy", "thesis", IMAGE, check=True)
    workspace = os.path.join(alice.pw_dir, "workspace", "thesis")
    lab.sh.run(alice, "container-run", "thesis", "--keep", "--", "sh", "-c", "echo results > /workspace/out.txt",
               check=True)
    assert held(lab, alice)
    refused = lab.sh.run(alice, "container-retire", "thesis")  # running, no terminal, no --force
    assert refused.returncode == 1 and "--force" in refused.stderr
    dry = lab.sh.records(alice, "container-retire", "thesis", "--dry-run")[0]
    assert dry["would"][:2] == ["stop", "remove"] and state(client, f"thesis._.{alice.pw_uid}") == "running"
    done = lab.sh.records(alice, "container-retire", "thesis", "--force")[0]
    assert done["status"] == "removed" and done["retired"] and done["gpus_freed"]
    assert held(lab, alice) == {}  # free at once: no hold timer
    assert open(os.path.join(workspace, "out.txt")).read() == "results\n"
    assert not client.containers.list(all=True)


def test_retire_from_a_pipe_takes_only_the_callers_and_asks_on_a_terminal(lab, users, client):
    alice, bob = users["alice"], users["bob"]
    for name in ("a", "b"):
        lab.sh.run(alice, "container-create", name, IMAGE, "--cpu-only", check=True)
    lab.sh.run(bob, "container-create", "theirs", IMAGE, "--cpu-only", check=True)
    child = lab.sh.spawn(alice, "container-retire", "a")
    child.expect(r"Retire a \(created\)")
    child.sendline("n")
    child.expect("kept a")
    child.expect(pexpect.EOF)
    assert state(client, f"a._.{alice.pw_uid}") == "created"
    gone = lab.sh.pipe(alice, ["container-list", "-a"], ["container-retire", "--force"])
    assert gone.returncode == 0 and gone.stdout.count('"status": "removed"') == 2
    assert [c.name for c in client.containers.list(all=True)] == [f"theirs._.{bob.pw_uid}"]


def _wheel(path, name="ds01demo", version="1.0"):
    """A minimal pure-Python wheel, so pip installs offline in the container."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "VALUE = 42\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: ds01-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{f},,\n" for f in files) + f"{dist}/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file, text in {**files, f"{dist}/RECORD": record}.items():
            archive.writestr(file, text)
    path.write_bytes(buffer.getvalue())


def test_retire_save_packages_keeps_what_was_pip_installed_in_the_users_image(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "container-create", "pkg", IMAGE, "--cpu-only", check=True)
    workspace = os.path.join(alice.pw_dir, "workspace", "pkg")
    wheel = f"{workspace}/ds01demo-1.0-py3-none-any.whl"
    from pathlib import Path

    _wheel(Path(wheel))
    os.chmod(wheel, 0o644)
    installed = sh.run(alice, "container-run", "pkg", "--keep", "--", "python3", "-m", "pip", "install", "--user",
                       "--no-index", "--break-system-packages", "/workspace/ds01demo-1.0-py3-none-any.whl")
    assert installed.returncode == 0, installed.stderr
    done = sh.records(alice, "container-retire", "pkg", "--force", "--save-packages")[0]
    assert done["packages_saved"]["added"] == {"ds01demo": "1.0"}
    saved = done["packages_saved"]["image"]
    assert saved == f"ds01-{alice.pw_uid}/pkg:latest"
    labels = client.images.get(saved).labels
    assert not any("GPU" in key and value for key, value in labels.items())  # nothing of the container baked in
    # a new container from the saved image has the package (and needs no account setup)
    sh.run(alice, "container-create", "again", saved, "--cpu-only", check=True)
    check = sh.run(alice, "container-run", "again", "--", "python3", "-c", "import ds01demo; print(ds01demo.VALUE)")
    assert check.returncode == 0 and check.stdout == "42\n", check.stderr
    none = sh.records(alice, "container-retire", "again", "--force", "--save-packages")[0]
    assert none["packages_saved"]["added"] == {} and none["packages_saved"]["image"] is None


def test_retiring_two_containers_of_one_image_with_images_deletes_it_once_and_says_nothing_false(sh, users,
                                                                                               client):
    """`container-retire --all --images`: the second container's image was already deleted by the first's
    retire, and the command warned "kept image …: No such image" about an image it had deleted (issue 30)."""
    alice = users["alice"]
    mine = f"ds01-{alice.pw_uid}/mine"
    client.images.get(IMAGE).tag(mine, "latest")
    for name in ("one", "two"):
        sh.run(alice, "container-create", name, f"{mine}:latest", "--cpu-only", check=True)
    result = sh.run(alice, "container-retire", "--all", "--images", "--force", "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["image_deleted"] for r in records].count(True) == 1
    assert "No such image" not in result.stderr and "kept image" not in result.stderr, result.stderr
    assert not [t for i in client.images.list() for t in i.tags if t.startswith(mine)]
