"""DS01's flags on ds01's commands (issue 31, item 5): each means what it meant on DS01, run as a student
through ds01d, or is refused with a hint naming ds01's way where the meaning cannot be kept.

The table of choices is docs/admin.md, "Flags from DS01".
"""

import io
import os

import pytest

from tests.support import sandbox
from tests.support.gpulab import EXAMPLE, GpuLab
from tests.support.harness import TEST_CATALOG_IMAGE

IMAGE = sandbox.BASE_IMAGE


def ref(entry, name):
    return f"ds01-{entry.pw_uid}/{name}:latest"


def names(client):
    return sorted(c.name.split("._.")[0] for c in client.containers.list(all=True))


def tags(client):
    return {t for image in client.images.list() for t in image.tags}


def dockerfile(entry, name):
    return os.path.join(entry.pw_dir, "workspace", name, "Dockerfile")


# ---------------------------------------------------------------- container-remove


def test_remove_images_deletes_the_callers_own_image_once_no_container_uses_it(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "image-create", "exp", "--no-jupyter", check=True)
    for name in ("one", "two"):
        sh.run(alice, "container-create", name, "exp", check=True)
    sh.run(alice, "container-create", "base", IMAGE, check=True)
    image_id = client.images.get(ref(alice, "exp")).id
    kept = sh.run(alice, "container-remove", "one", "--images")
    assert kept.returncode == 0, kept.stderr
    assert names(client) == ["base", "two"] and client.images.get(image_id)  # two's image is not deleted
    sh.run(alice, "container-start", "two", check=True)
    shared = sh.run(alice, "container-remove", "base", "-i")  # the shared base image is not hers
    assert shared.returncode == 0 and "only your own ds01-<uid>/ images are deleted" in shared.stderr
    assert IMAGE in tags(client)
    gone = sh.records(alice, "container-remove", "two", "--images", "--force")
    assert ref(alice, "exp") not in tags(client) and not [i for i in client.images.list() if i.id == image_id]
    assert gone[0]["status"] == "removed"
    assert os.path.exists(dockerfile(alice, "exp"))  # the Dockerfile (project source) stays


def test_remove_dry_run_says_what_would_go_and_changes_nothing(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "container-create", "keep", IMAGE, check=True)
    before = client.containers.get(next(c.id for c in client.containers.list(all=True)))
    plan = sh.records(alice, "container-remove", "keep", "--dry-run", "--images", "--volumes")
    assert plan[0]["would"][0] == "remove" and any(w.startswith("delete image") for w in plan[0]["would"])
    assert names(client) == ["keep"] and client.containers.get(before.id).status == "created"
    sh.run(alice, "container-start", "keep", check=True)
    refused = sh.run(alice, "container-remove", "keep", "--dry-run")
    assert refused.returncode == 1 and "container-stop keep first" in refused.stderr
    assert sh.records(alice, "container-remove", "keep", "--dry-run", "--force")[0]["would"][:2] == ["kill", "remove"]
    assert client.containers.get(before.id).status == "running"


def test_remove_volumes_takes_the_containers_anonymous_volumes_and_nothing_else(sh, users, client):
    alice = users["alice"]
    client.images.build(fileobj=io.BytesIO(f"FROM {IMAGE}\nVOLUME /scratch\n".encode()),
                        tag="ds01-test/with-volume:latest", rm=True)
    client.volumes.create("someone-elses-data")  # DS01's -v pruned every unused volume on the host
    try:
        sh.run(alice, "container-create", "vol", "ds01-test/with-volume:latest", check=True)
        sh.run(alice, "container-create", "plain", "ds01-test/with-volume:latest", check=True)

        def anonymous(name):
            info = next(c for c in client.containers.list(all=True) if c.name.startswith(name + "._."))
            return [m["Name"] for m in info.attrs["Mounts"] if m["Type"] == "volume"]

        vol, plain = anonymous("vol"), anonymous("plain")
        assert len(vol) == 1 and len(plain) == 1
        removed = sh.records(alice, "container-remove", "vol", "-v", "--skip-removal-confirm", "--skip-save-prompt")
        assert removed[0]["volumes_removed"] == vol
        existing = {v.name for v in client.volumes.list()}
        assert vol[0] not in existing and plain[0] in existing and "someone-elses-data" in existing
        sh.run(alice, "container-remove", "plain", check=True)  # without -v Docker keeps it, as before
        assert plain[0] in {v.name for v in client.volumes.list()}
    finally:
        for volume in client.volumes.list():
            if volume.name == "someone-elses-data" or len(volume.name) == 64:
                volume.remove(force=True)


# ---------------------------------------------------------------- container-stop, container-retire


def test_stop_verbose_says_what_the_hold_timers_do_and_keep_container_keeps_it(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "container-create", "exp", IMAGE, check=True)
    sh.run(alice, "container-start", "exp", check=True)
    stopped = sh.run(alice, "container-stop", "exp", "-v", "--keep-container")
    assert stopped.returncode == 0, stopped.stderr
    assert "exp is exited: it holds no GPU; it is removed after" in stopped.stderr
    assert "container-remove exp frees everything now" in stopped.stderr
    assert [c.status for c in client.containers.list(all=True)] == ["exited"]


def test_retire_skip_initial_confirm_retires_a_running_container_without_the_question(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "container-create", "exp", IMAGE, check=True)
    sh.run(alice, "container-start", "exp", check=True)
    refused = sh.run(alice, "container-retire", "exp")  # no terminal, no --force: as before
    assert refused.returncode == 1 and names(client) == ["exp"]
    child = sh.spawn(alice, "container-retire", "exp", "--skip-initial-confirm")
    child.expect("retired exp")
    child.expect(pytest.importorskip("pexpect").EOF)
    child.close()
    assert child.exitstatus == 0 and "Retire exp" not in child.before
    assert names(client) == []


# ---------------------------------------------------------------- container-deploy


def test_deploy_image_and_framework_options_are_the_image_argument(sh, users, client):
    alice = users["alice"]
    rec = sh.records(alice, "container-deploy", "byimage", "--image", IMAGE, "--cpu-only", "--background")[0]
    assert rec["status"] == "running" and rec["image"] == IMAGE
    rec = sh.records(alice, "container-deploy", "byfw", "--framework", "pytorch", "--cpu-only", "--background")[0]
    assert rec["status"] == "running" and rec["framework"].lower().startswith("pytorch")
    assert client.containers.get(rec["container"]).attrs["Config"]["Image"].split(":")[0] in (
        TEST_CATALOG_IMAGE.split(":")[0], f"ds01-{alice.pw_uid}/byfw")
    for argv, code, text in (
            (["x", "--framework", "nosuch", "--cpu-only"], 4, "image-catalog lists the frameworks"),
            (["x", "--framework", IMAGE, "--cpu-only"], 2, "container-deploy NAME --image"),
            (["x", IMAGE, "--image", "other/image", "--cpu-only"], 2, "give one of IMAGE, --image and --framework"),
            (["x", "--image", IMAGE, "--framework", "pytorch"], 2, "give one of")):
        refused = sh.run(alice, "container-deploy", *argv, "--background")
        assert refused.returncode == code and text in refused.stderr, (argv, refused.stderr)
    assert names(client) == ["byfw", "byimage"]


# ---------------------------------------------------------------- container-stats


def test_stats_w_watches_and_no_trunc_never_cuts_a_line(sh, users):
    alice = users["alice"]
    sh.run(alice, "container-create", "exp", IMAGE, check=True)
    sh.run(alice, "container-start", "exp", check=True)
    child = sh.spawn(alice, "container-stats", "-w", "--no-trunc")
    child.setwinsize(24, 50)  # narrower than the table: with --no-trunc its last column still shows
    child.expect(r"UTIL%/MEM")
    child.expect("exp")
    child.send("q")
    child.expect(pytest.importorskip("pexpect").EOF)
    child.close()
    assert child.exitstatus == 0


# ---------------------------------------------------------------- images


def test_image_list_detailed_size_and_all(sh, users):
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    sh.run(alice, "image-create", "a1", "--no-jupyter", check=True)
    sh.run(bob, "image-create", "b1", "--no-jupyter", check=True)
    detailed = sh.run(alice, "image-list", "-d", "--table")
    assert detailed.returncode == 0, detailed.stderr
    header, row = detailed.stdout.splitlines()[:2]
    assert "DOCKERFILE" in header and "ID" in header and dockerfile(alice, "a1") in row
    assert "SIZE" in sh.run(alice, "image-list", "-s", "--table", check=True).stdout.splitlines()[0]
    assert [r["name"] for r in sh.records(alice, "image-list", "--size")] == ["a1"]
    refused = sh.run(alice, "image-list", "--all")  # every user's images: an admin's view
    assert refused.returncode == 5 and "--all-users is for admins only" in refused.stderr
    everyone = sh.records(admin, "image-list", "--all")
    assert {(r["user"], r["name"]) for r in everyone} == {(alice.pw_name, "a1"), (bob.pw_name, "b1")}


def test_image_delete_all_deletes_every_image_of_the_caller_and_keeps_dockerfiles(sh, users, client):
    alice, bob = users["alice"], users["bob"]
    for name in ("a1", "a2"):
        sh.run(alice, "image-create", name, "--no-jupyter", check=True)
    sh.run(bob, "image-create", "b1", "--no-jupyter", check=True)
    for argv in (["a1", "--all"], ["a1", "--keep-dockerfile", "--delete-dockerfile"]):
        refused = sh.run(alice, "image-delete", *argv)
        assert refused.returncode == 2 and "hint:" in refused.stderr
    assert {ref(alice, "a1"), ref(alice, "a2"), ref(bob, "b1")} <= tags(client)
    one = sh.records(alice, "image-delete", "a1", "--keep-dockerfile")
    assert one[0]["status"] == "deleted" and os.path.exists(dockerfile(alice, "a1"))
    sh.run(alice, "image-create", "a1", "--dockerfile", dockerfile(alice, "a1"), check=True)  # the kept one
    deleted = sh.records(alice, "image-delete", "--all")
    assert sorted(r["name"] for r in deleted) == ["a1", "a2"]
    assert ref(bob, "b1") in tags(client) and not {ref(alice, "a1"), ref(alice, "a2")} & tags(client)
    assert os.path.exists(dockerfile(alice, "a2"))
    assert sh.run(alice, "image-delete", "--all").returncode == 0  # none left: nothing to do


def test_image_delete_all_asks_for_yes_on_a_terminal(sh, users, client):
    alice = users["alice"]
    sh.run(alice, "image-create", "a1", "--no-jupyter", check=True)
    pexpect = pytest.importorskip("pexpect")
    child = sh.spawn(alice, "image-delete", "--all")
    child.expect("Type yes")
    child.sendline("y")
    child.expect("nothing deleted")
    child.expect(pexpect.EOF)
    assert ref(alice, "a1") in tags(client)
    child = sh.spawn(alice, "image-delete", "--all")
    child.expect("Type yes")
    child.sendline("yes")
    child.expect(pexpect.EOF)
    assert ref(alice, "a1") not in tags(client)


# ---------------------------------------------------------------- check-limits, help, mig-configure


def test_check_limits_verbose_shows_processes_in_use(sh, users):
    alice = users["alice"]
    sh.run(alice, "container-create", "exp", IMAGE, check=True)
    sh.run(alice, "container-start", "exp", check=True)
    plain = sh.run(alice, "check-limits", "--table", check=True).stdout
    verbose = sh.run(alice, "check-limits", "-v", "--table", check=True).stdout
    assert "TASKS/LIMIT" not in plain and "TASKS/LIMIT" in verbose
    row = next(line for line in verbose.splitlines() if line.strip().startswith("exp "))
    assert "/256" in row  # the policy's pids_limit, next to the tasks running now
    record = sh.records(alice, "check-limits", "--verbose")[0]
    assert record["per_container"][0]["pids_in_use"] >= 1


def test_help_full_lists_options_and_admin_only_what_is_for_admins(sh, users):
    alice = users["alice"]
    full = sh.run(alice, "help", "--full", "--host", "--table", check=True).stdout
    assert "--skip-removal-confirm" in full and "(admins) Every user's containers" in full
    admin = sh.run(alice, "help", "--admin", "--host", "--table", check=True).stdout
    assert "mig-configure" in admin and "--all-users" in admin
    assert "\n  container-run " not in admin and "--skip-removal-confirm" not in admin
    records = sh.records(alice, "help", "--admin", "--host")
    assert all(r["who"] != "anyone" or r["options"] for r in records)


def test_mig_configure_takes_yes_and_refuses_what_the_policy_decides(user_tmp, users, dockerd):
    lab = GpuLab(user_tmp, users, dockerd)
    lab.policy.write_text(lab.policy.read_text().replace(
        f"gpu: {{inventory: {EXAMPLE}}}", f"gpu: {{inventory: {EXAMPLE}, mig_layout: {{3: off}}}}"))
    admin = users["admin"]
    planned = lab.sh.records(admin, "mig-configure", "-y", "--dry-run")
    assert [(r["gpu"], r["action"]) for r in planned] == [(3, "planned")]
    for argv, hint in ((["--profile", "1g.10gb"], "set gpu.mig_layout (e.g. all: [1g.10gb, ...])"),
                       (["--reset"], "gpu.mig_layout: {all: off}"),
                       (["--force"], "gpu-status shows who holds it")):
        refused = lab.sh.run(admin, "mig-configure", *argv)
        assert refused.returncode == 2 and hint in refused.stderr, refused.stderr
        assert refused.stdout == ""
    assert lab.sh.run(users["alice"], "mig-configure", "-y").returncode == 5


def test_no_docker_client_needed_for_the_refusals(offline_sh, users):
    """Contradictory flags are refused before anything is read (a DOCKER_HOST that points nowhere)."""
    alice = users["alice"]
    refused = offline_sh.run(alice, "image-delete", "x", "--keep-dockerfile", "--delete-dockerfile")
    assert refused.returncode == 2 and "contradict" in refused.stderr
    refused = offline_sh.run(alice, "container-deploy", "x", "--image", "a", "--framework", "b")
    assert refused.returncode == 2

