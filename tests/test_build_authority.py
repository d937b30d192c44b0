"""Builds act for the caller and no more (issue 29, findings 3, 6 and 7a), written as a student's attacks:
a build reads only images the student may use, runs inside the student's limits, and yields no image that
carries a label only ds01 may set."""

import os
import shutil

import pytest

from ds01 import cgroups
from tests.support import sandbox
from tests.support.gpulab import GpuLab

pytestmark = pytest.mark.usefixtures("dockerd")

BOBS_TEXT = "bob-only-text"  # what alice must never see


def write_dockerfile(sh, entry, name, text):
    """~/workspace/NAME/Dockerfile written by the user themself."""
    project = os.path.join(entry.pw_dir, "workspace", name)
    sh.run(entry, "mkdir", "-p", project, check=True)
    path = os.path.join(project, "Dockerfile")
    sh.run(entry, "sh", "-c", f"cat > {path}", input=text, check=True)
    return path


@pytest.fixture
def bobs_image(users, client):
    """bob's image with a file only bob may read: what alice wants to build on."""
    from ds01.images import context_tar

    ref = f"ds01-{users['bob'].pw_uid}/thesis:latest"
    text = f"FROM {sandbox.BASE_IMAGE}\nRUN echo {BOBS_TEXT} > /opt/secret && chmod 600 /opt/secret\n"
    image, _ = client.images.build(fileobj=context_tar({"Dockerfile": (text, 0o644)}), custom_context=True,
                                   tag=ref, rm=True, pull=False)
    return ref, image.id


def test_a_build_cannot_use_another_users_image_in_any_spelling(sh, users, client, bobs_image):
    """Finding 3: `--base-image ds01-<bob>/thesis`, or a Dockerfile naming bob's image however it is spelt,
    is refused with exit 5 before Docker is asked; nothing is built, nothing of bob's is printed."""
    alice, (ref, image_id) = users["alice"], bobs_image
    bob_uid = users["bob"].pw_uid
    refused = sh.run(alice, "image-create", "peek", "-f", "custom", "--base-image", ref)
    assert refused.returncode == 5, refused.stderr
    assert "image-create: error:" in refused.stderr and "hint:" in refused.stderr
    assert not os.path.exists(os.path.join(alice.pw_dir, "workspace", "peek", "Dockerfile"))
    spellings = {
        "name": f"FROM {ref}\n",
        "no tag": f"FROM ds01-{bob_uid}/thesis\n",
        "full id": f"FROM {image_id}\n",
        "bare id": f"FROM {image_id.split(':')[1]}\n",
        "short id": f"FROM {image_id.split(':')[1][:12]}\n",
        "docker hub spelling": f"FROM docker.io/ds01-{bob_uid}/thesis:latest\n",
        "platform flag": f"FROM --platform=linux/amd64 {ref}\n",
        "lower-case keyword, continued": f"from \\\n  {ref} \\\n  as base\n",
        "build arg": f"ARG B={ref}\nFROM $B\n",
        "braced build arg": f"ARG B=ds01-{bob_uid}\nFROM ${{B}}/thesis\n",
        "undeclared arg": f"FROM ds01-{bob_uid}/thesis$NOTHING\n",
        "second stage": f"FROM {sandbox.BASE_IMAGE} AS ok\nFROM {ref}\n",
        "copy --from": f"FROM {sandbox.BASE_IMAGE}\nCOPY --from={ref} /opt/secret /tmp/s\n",
        "copy --from by id": f"FROM {sandbox.BASE_IMAGE}\nCOPY --from={image_id} /opt/secret /tmp/s\n",
        "escape directive": f"# escape=`\nFROM `\n  {ref}\n",
        "upper case": f"FROM DS01-{bob_uid}/THESIS\n",
        # `\\` at a line's end is an escaped backslash, not a continuation (Docker's rule): the FROM is its own
        "two backslashes": f"FROM {sandbox.BASE_IMAGE}\nRUN echo x \\\\\nFROM {ref} AS s\n",
        "a form feed after the backslash": f"FROM {sandbox.BASE_IMAGE}\nRUN echo x \\\f\nFROM {ref} AS s\n",
        "a line separator": f"FROM {sandbox.BASE_IMAGE}\nRUN echo x \\\u2028\nFROM {ref} AS s\n",
    }
    for what, head in spellings.items():
        path = write_dockerfile(sh, alice, "peek", head + "RUN cat /opt/secret /tmp/s || true\n")
        result = sh.run(alice, "image-create", "peek", "--dockerfile", path, "--force")
        assert result.returncode == 5, (what, result.returncode, result.stderr)
        assert "image-create: error:" in result.stderr and BOBS_TEXT not in result.stdout + result.stderr, what
        assert "step 1/" not in result.stderr, what  # Docker was never asked
        with pytest.raises(Exception, match="No such image"):
            client.images.get(f"ds01-{alice.pw_uid}/peek:latest")


def test_a_build_may_use_own_and_allowed_images_and_stages(sh, users, client):
    """The same predicate lets through what is the student's: the sandbox base (allowed), their own image,
    and a stage of the same Dockerfile."""
    alice = users["alice"]
    first = write_dockerfile(sh, alice, "first", f"FROM {sandbox.BASE_IMAGE}\nRUN echo mine > /opt/mine\n")
    assert sh.run(alice, "image-create", "first", "--dockerfile", first).returncode == 0
    text = (f"FROM ds01-{alice.pw_uid}/first AS builder\nRUN echo built > /opt/built\n"
            f"FROM builder\nCOPY --from=builder /opt/built /opt/again\nCOPY --from=0 /opt/mine /opt/mine2\n")
    second = write_dockerfile(sh, alice, "second", text)
    result = sh.run(alice, "image-create", "second", "--dockerfile", second)
    assert result.returncode == 0, result.stderr
    out = client.containers.run(f"ds01-{alice.pw_uid}/second", ["cat", "/opt/again", "/opt/mine2"], remove=True)
    assert out.split() == [b"built", b"mine"]
    # the engine records each step's parent: what the after-build check of the base walks
    assert client.images.get(f"ds01-{alice.pw_uid}/second").attrs["Parent"]
    short = client.images.get(f"ds01-{alice.pw_uid}/first").id.split(":")[1][:12]
    third = write_dockerfile(sh, alice, "third", f"FROM {short}\nRUN cat /opt/mine\n")  # her own, by short ID
    assert sh.run(alice, "image-create", "third", "--dockerfile", third).returncode == 0


def test_image_update_and_admins_go_through_the_same_check(sh, users, client, bobs_image):
    """A rebuild of alice's own image after she points its FROM at bob's is refused the same way; an admin
    may build on any image."""
    alice, admin, (ref, _) = users["alice"], users["admin"], bobs_image
    path = write_dockerfile(sh, alice, "mine", f"FROM {sandbox.BASE_IMAGE}\nRUN true\n")
    assert sh.run(alice, "image-create", "mine", "--dockerfile", path).returncode == 0
    sh.run(alice, "sh", "-c", f"cat > {path}", input=f"FROM {ref}\nRUN cat /opt/secret\n", check=True)
    result = sh.run(alice, "image-update", "mine", "--rebuild")
    assert result.returncode == 5 and "image-update: error:" in result.stderr, result.stderr
    assert BOBS_TEXT not in result.stderr
    path = write_dockerfile(sh, admin, "audit", f"FROM {ref}\nRUN cat /opt/secret\n")
    assert sh.run(admin, "image-create", "audit", "--dockerfile", path).returncode == 0


@pytest.mark.parametrize("how", ["onbuild trigger of an allowed base", "continuation", "bom and escape"])
def test_a_label_only_ds01_may_set_never_reaches_a_tagged_image(sh, users, client, how):
    """Finding 7a: the label refusal reads the Dockerfile, which cannot see everything Docker does (here an
    ONBUILD trigger of an image alice may build on). The built image's labels are checked before it is
    tagged; the Dockerfile tricks are refused with file:line before the build."""
    from ds01.images import context_tar

    alice = users["alice"]
    base = "ds01-test/onbuild:latest"  # an image the policy allows (ds01-test/*) that carries a trigger
    text = f"FROM {sandbox.BASE_IMAGE}\nONBUILD LABEL aime.mlc.DS01_PROTECTED=true\n"
    client.images.build(fileobj=context_tar({"Dockerfile": (text, 0o644)}), custom_context=True, tag=base,
                        rm=True, pull=False)
    dockerfile = {
        "onbuild trigger of an allowed base": f"FROM {base}\nRUN true\n",
        "continuation": f"FROM {sandbox.BASE_IMAGE}\nLABEL a\\\nime.mlc.DS01_PROTECTED=true\n",
        "bom and escape": f"\ufeff# escape=`\nFROM {sandbox.BASE_IMAGE}\nLABEL a`\nime.mlc.DS01_PROTECTED=true\n",
    }[how]
    path = write_dockerfile(sh, alice, "forged", dockerfile)
    result = sh.run(alice, "image-create", "forged", "--dockerfile", path)
    assert result.returncode == 2, result.stderr
    assert "aime.mlc.DS01_PROTECTED" in result.stderr
    assert ("not tagged" if how.startswith("onbuild") else f"{path}:") in result.stderr
    with pytest.raises(Exception, match="No such image"):
        client.images.get(f"ds01-{alice.pw_uid}/forged:latest")
    assert not [i for i in client.images.list(all=True)
                if (i.labels or {}).get("aime.mlc.DS01_PROTECTED") == "true"]  # removed, not only untagged


FORK = ("RUN i=0; while [ $i -lt 400 ]; do sleep 120 & i=$((i+1)); done; echo started $i; "
        "kill $(jobs -p) 2>/dev/null; true\n")
HOG = ("RUN python3 -c \"b = bytearray(400 << 20); b[::4096] = b'x' * len(b[::4096]); print('held', 4 * 100)\"\n")


def test_a_build_runs_inside_the_students_limits(user_tmp, users, dockerd, client):
    """Finding 6: a fork bomb and a memory hog in RUN steps meet alice's total of 200 tasks and her 256 MiB."""
    alice = users["alice"]
    lab = GpuLab(user_tmp, users, dockerd, extra=(
        f"user_overrides: {{{alice.pw_name}: {{aggregate: {{memory_max: 300m, tasks_max: 200, cpu_quota: 100%}}}}}}\n"))
    try:
        path = write_dockerfile(lab.sh, alice, "bomb", f"FROM {sandbox.BASE_IMAGE}\n" + FORK)
        bomb = lab.sh.run(alice, "image-create", "bomb", "--dockerfile", path)
        log = open(path + ".build.log", encoding="utf-8").read()
        assert "started 400" not in log, log[-2000:]  # the 200-task total held inside the build: no fork
        assert bomb.returncode != 0  # past it, and the build failed at once
        path = write_dockerfile(lab.sh, alice, "hog", f"FROM {sandbox.BASE_IMAGE}\n" + HOG)
        hog = lab.sh.run(alice, "image-create", "hog", "--dockerfile", path)
        assert hog.returncode != 0 and "held 400" not in hog.stderr, hog.stderr[-2000:]
        enforced = lab.sh.records(alice, "check-limits")[0]["enforced"]
        assert enforced["pids.max"] == "200"  # written before the build, as before a start
    finally:
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(f"ds01-{alice.pw_uid}/"):
                    client.images.remove(tag, force=True)
        lift_totals(dockerd, f"ds01-student-{alice.pw_name}.slice")
        shutil.rmtree(os.path.join(alice.pw_dir, "workspace"), ignore_errors=True)


def lift_totals(dockerd, slice_name):
    """Alice's parent cgroup without totals again, for the tests that follow (their policy sets none)."""
    unlimited = [("cpu", "cpu.cfs_quota_us", "-1"), ("pids", "pids.max", "max"),
                 ("memory", "memory.memsw.limit_in_bytes", "-1"), ("memory", "memory.limit_in_bytes", "-1")]
    if cgroups.is_unified():
        unlimited = [("", "cpu.max", "max"), ("", "pids.max", "max"), ("", "memory.max", "max")]
    base = cgroups.daemon_cgroups(dockerd.host)
    for controller, name, value in unlimited:
        path = os.path.join(cgroups.parent_path(slice_name, controller, base=base), name)
        if os.path.exists(path):
            with open(path, "w", encoding="ascii") as handle:
                handle.write(value)


def test_a_dockerfile_that_is_a_link_builds_what_was_checked_never_its_target_in_the_context(sh, users, client,
                                                                                             bobs_image):
    """The attack the review found: ~/workspace/peek/Dockerfile links to ~/good.Dockerfile (checked: allowed),
    while the context holds home/alice/good.Dockerfile, the file Docker resolved the absolute link to, which
    builds on bob's image and copies his secret out. Docker now gets the checked text itself."""
    alice, (ref, _) = users["alice"], bobs_image
    home = alice.pw_dir
    good = f"FROM {sandbox.BASE_IMAGE}\nCOPY hello /hello\n"
    evil = (f"FROM {ref} AS s\nRUN cat /opt/secret && chmod 644 /opt/secret\nFROM {sandbox.BASE_IMAGE}\n"
            "COPY --from=s /opt/secret /opt/stolen\nCOPY hello /hello\n")
    project = os.path.join(home, "workspace", "peek")
    shadow = os.path.join(project, home.lstrip("/"), "good.Dockerfile")
    script = (f"mkdir -p {os.path.dirname(shadow)} && printf %s '{good}' > {home}/good.Dockerfile && "
              f"printf %s '{evil}' > {shadow} && echo hi > {project}/hello && "
              f"ln -sf {home}/good.Dockerfile {project}/Dockerfile")
    sh.run(alice, "sh", "-c", script, check=True)
    result = sh.run(alice, "image-create", "peek", "--dockerfile", os.path.join(project, "Dockerfile"), "--force")
    log = open(os.path.join(project, "Dockerfile.build.log")).read() if os.path.exists(
        os.path.join(project, "Dockerfile.build.log")) else ""
    assert BOBS_TEXT not in result.stdout + result.stderr + log
    if result.returncode == 0:  # what was built is the checked text: no stage of bob's, no stolen file
        built = client.images.get(f"ds01-{alice.pw_uid}/peek:latest")
        out = client.containers.run(built.id, ["sh", "-c", "ls /opt/stolen 2>&1; cat /hello"], remove=True)
        assert b"No such file" in out and b"hi" in out
