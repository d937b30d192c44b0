"""project-init, project-launch and user-setup: the researcher's first day, on a terminal and in scripts."""

import json
import os
import subprocess

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pexpect
import pytest

from tests.support.gpulab import GpuLab


@pytest.fixture
def lab(user_tmp, users, dockerd, sh, policy_file):
    catalog = policy_file.parent / "ml_images.repo"
    return GpuLab(user_tmp, users, dockerd, extra=f"aime: {{catalog: {catalog}}}\n")


def project(user, name):
    return os.path.join(user.pw_dir, "workspace", name)


def test_init_then_launch_builds_the_image_and_starts_a_gpu_container(lab, users, client):
    alice = users["alice"]
    made = lab.sh.records(alice, "project-init", "thesis", "--type", "nlp", "--quick")[0]
    path = project(alice, "thesis")
    assert made["path"] == path and made["image"] == f"ds01-{alice.pw_uid}/thesis:latest" and not made["built"]
    for entry in ("data", "notebooks", "src", "models", "README.md", ".gitignore", "requirements.txt", "Dockerfile"):
        assert os.path.exists(os.path.join(path, entry)), entry
    assert "transformers" in open(os.path.join(path, "requirements.txt")).read().split()
    meta = tomllib.load(open(os.path.join(path, "pyproject.toml"), "rb"))["tool"]["ds01"]
    assert meta["type"] == "nlp" and meta["image"] == made["image"]
    assert os.stat(os.path.join(path, "Dockerfile")).st_uid == alice.pw_uid
    log = subprocess.run(["git", "-C", path, "log", "--format=%s"], capture_output=True, text=True,
                         env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"})
    assert log.stdout.strip() == "New project thesis (project-init)"
    launched = lab.sh.records(alice, "project-launch", "thesis", "--background")[0]
    assert launched["status"] == "running" and len(launched["gpus"]) == 1
    assert launched["workspace"] == path and launched["image"] == made["image"]
    assert client.images.get(made["image"]).labels["aime.mlc.DS01_USER_ID"] == str(alice.pw_uid)
    one_shot = lab.sh.run(alice, "container-run", "thesis", "--", "python3", "-c", "print(1)")
    assert one_shot.returncode == 0 and one_shot.stdout == "1\n"
    failing = lab.sh.run(alice, "container-run", "thesis", "--", "python3", "-c", "raise SystemExit(4)")
    assert failing.returncode == 4


def test_launch_rebuild_reads_requirements_again_and_a_second_init_refuses(lab, users, client):
    alice = users["alice"]
    lab.sh.run(alice, "project-init", "exp", "--type", "rl", "--quick", "--no-git", check=True)
    path = project(alice, "exp")
    assert not os.path.exists(os.path.join(path, ".git"))
    again = lab.sh.run(alice, "project-init", "exp", "--quick")
    assert again.returncode == 1 and "not empty" in again.stderr
    lab.sh.run(alice, "project-launch", "exp", "--background", "--cpu-only", check=True)
    with open(os.path.join(path, "requirements.txt"), "a") as handle:
        handle.write("einops\n")
    lab.sh.run(alice, "project-launch", "exp", "--rebuild", "--cpu-only", check=True)
    assert '"einops"' in open(os.path.join(path, "Dockerfile")).read()
    missing = lab.sh.run(alice, "project-launch", "nothing")
    assert missing.returncode == 4 and "project-init nothing" in missing.stderr
    assert lab.sh.run(alice, "project-launch").returncode == 2  # no name, no terminal: never a question


def test_blank_and_devcontainer_projects(lab, users):
    alice = users["alice"]
    blank = lab.sh.records(alice, "project-init", "empty", "--blank", "--no-git")[0]
    assert blank["files"] == ["pyproject.toml"] and blank["type"] is None
    lab.sh.run(alice, "project-init", "vs", "--quick", "--devcontainer", "--no-git", check=True)
    text = open(os.path.join(project(alice, "vs"), ".devcontainer", "devcontainer.json")).read()
    config = json.loads("\n".join(line for line in text.splitlines() if not line.startswith("//")))
    assert config["image"] == f"ds01-{alice.pw_uid}/vs:latest" and "--cpus=1" in config["runArgs"]
    assert "--memory=256m" in config["runArgs"] and config["workspaceFolder"] == "/workspace"


def test_the_init_wizard_is_answered_through_its_prompts(lab, users):
    alice = users["alice"]
    child = lab.sh.spawn(alice, "project-init", "--guided")
    child.expect("ties the three together")
    child.expect("Project name")
    child.sendline("Bad Name!")
    child.expect("Project name")
    child.sendline("wiz")
    child.expect(r"Project type\?")
    child.expect(r"3\) nlp")
    child.expect("Number")
    child.sendline("2")
    child.expect("Description")
    child.sendline("Seeing things")
    child.expect(r"Include Jupyter\? \[Y/n\]")
    child.sendline("n")
    child.expect(r"Include the data-science set\? \[Y/n\]")
    child.sendline("")
    child.expect("devcontainer")
    child.sendline("n")
    child.expect("first commit")
    child.sendline("y")
    child.expect("Build the image now")
    child.sendline("n")
    child.expect("next: project-launch wiz")
    child.expect(pexpect.EOF)
    meta = tomllib.load(open(os.path.join(project(alice, "wiz"), "pyproject.toml"), "rb"))
    assert meta["tool"]["ds01"]["type"] == "cv" and meta["project"]["description"] == "Seeing things"
    from ds01.images.dockerfile import Blocks

    with open(os.path.join(project(alice, "wiz"), "Dockerfile"), encoding="utf-8") as handle:
        assert Blocks(handle.read()).packages["jupyter"] == []  # asked, answered no
    with open(os.path.join(project(alice, "wiz"), "requirements.txt"), encoding="utf-8") as handle:
        assert {"pandas", "timm"} <= set(handle.read().split())


def test_launch_with_no_name_picks_a_project_on_a_terminal(lab, users, client):
    alice = users["alice"]
    for name in ("alpha", "beta"):
        lab.sh.run(alice, "project-init", name, "--quick", "--no-git", check=True)
    child = lab.sh.spawn(alice, "project-launch", "--background", "--cpu-only")
    child.expect(r"1\) alpha")
    child.expect(r"2\) beta")
    child.expect(r"3\) \(a new project\)")
    child.sendline("2")
    child.expect(pexpect.EOF)
    assert client.containers.get(f"beta._.{alice.pw_uid}").status == "running"


def test_user_setup_checks_and_prepares_and_is_safe_to_run_twice(lab, users):
    alice = users["alice"]
    ssh = os.path.join(alice.pw_dir, ".ssh")
    onboarding = os.path.join(alice.pw_dir, "ONBOARDING.md")
    for leftover in (os.path.join(ssh, "id_ed25519"), os.path.join(ssh, "id_ed25519.pub"), onboarding):
        if os.path.exists(leftover):
            os.unlink(leftover)
    first = {r["step"]: r for r in lab.sh.records(alice, "user-setup")}
    assert first["docker"]["status"] == "ok" and first["workspace"]["status"] in ("ok", "created")
    assert first["ssh"]["status"] == "created" and os.stat(os.path.join(ssh, "id_ed25519")).st_uid == alice.pw_uid
    assert first["limits"]["detail"].startswith("group student: 0/3 containers")
    assert first["onboarding"]["status"] == "created" and "project-launch thesis" in open(onboarding).read()
    key = open(os.path.join(ssh, "id_ed25519.pub")).read()
    second = {r["step"]: r for r in lab.sh.records(alice, "user-setup")}
    assert second["ssh"]["status"] == "ok" and open(os.path.join(ssh, "id_ed25519.pub")).read() == key
    assert second["onboarding"]["status"] == "ok"
    for legacy in (["new-user", "--quick", "--json"], ["user", "new", "--quick", "--json"]):
        assert lab.sh.run(alice, *legacy).returncode == 0


def test_user_setup_on_a_terminal_explains_and_offers_a_first_project(lab, users):
    alice = users["alice"]
    child = lab.sh.spawn(alice, "user-setup", "--no-ssh")
    child.expect("survive when containers are removed")
    child.expect("Remote-SSH")
    child.expect(r"Create a first project now")
    child.sendline("y")
    child.expect("Project name")
    child.sendline("first")
    child.expect(r"Project type\?")
    child.sendline("1")
    child.expect("Description")
    child.sendline("")
    child.expect(r"Include Jupyter\?")
    child.sendline("")
    child.expect(r"Include the data-science set\?")
    child.sendline("")
    child.expect("devcontainer")
    child.sendline("")
    child.expect("first commit")
    child.sendline("n")
    child.expect("Build the image now")
    child.sendline("")
    child.expect(pexpect.EOF)
    assert os.path.isfile(os.path.join(project(alice, "first"), "Dockerfile"))


def test_init_adds_no_jupyter_or_data_science_when_told_not_to(sh, users):
    """Issue 30: project-init adds only what the user asks for (or the policy's defaults name)."""
    from ds01.images.dockerfile import Blocks

    alice = users["alice"]
    sh.run(alice, "project-init", "lean", "--type", "custom", "--no-jupyter", "--no-data-science", "--quick",
           "--no-git", check=True)
    path = project(alice, "lean")
    with open(os.path.join(path, "requirements.txt"), encoding="utf-8") as handle:
        assert [line for line in handle.read().splitlines() if line and not line.startswith("#")] == []
    with open(os.path.join(path, "Dockerfile"), encoding="utf-8") as handle:
        blocks = Blocks(handle.read())
    assert all(packages == [] for phase, packages in blocks.packages.items() if phase != "system")
    sh.run(alice, "project-init", "usual", "--type", "cv", "--quick", "--no-git", check=True)  # DS01's defaults
    with open(os.path.join(project(alice, "usual"), "requirements.txt"), encoding="utf-8") as handle:
        assert {"pandas", "timm"} <= set(handle.read().split())
    with open(os.path.join(project(alice, "usual"), "Dockerfile"), encoding="utf-8") as handle:
        assert Blocks(handle.read()).packages["jupyter"][0] == "jupyter"
