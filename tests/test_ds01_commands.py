"""DS01's commands that had no counterpart: a DS01 user types the name they know and it works (or the
migration table in docs/admin.md says why not). Each runs as a real account through the test ds01d."""

import json
import os
import re
import tarfile

from tests.support import sandbox
from tests.support.harness import REPO

ROOT = sandbox.pwd.getpwnam("root")
REFERENCE = REPO.parent / "shared" / "reference" / "ds01-reference.md"
# Every command DS01 installed (ds01-reference §1 tables and §2.1), as read from the reference at 2cf1a0e.
DS01_COMMANDS = (
    "user-setup", "new-user", "project-init", "new-project", "project-launch", "devcontainer-init",
    "onboarding-create", "container-deploy", "container-retire", "container-create", "container-start",
    "container-run", "container-attach", "container-open", "container-stop", "container-remove", "container-pause",
    "container-unpause", "container-list", "container-stats", "container-exit", "mlc-create",
    "mlc-create-from-image", "image-install", "image-create", "image-list", "image-update", "image-delete",
    "check-limits", "get-limits", "ssh-setup", "vscode-setup", "shell-setup", "devcontainer-check", "gpu-queue",
    "ds01-gpu-queue", "container", "image", "project", "user", "check", "get", "devcontainer", "help", "commands",
    "aliases", "alias-list", "alias-create", "version", "dashboard", "ds01-dashboard", "mig-configure",
    "ds01-mig-partition", "bare-metal-access", "ds01-users", "ds01-logs", "ds01-events", "ds01-workloads",
    "ds01-health", "ds01-health-check", "ds01-gpu", "ds01-containers", "ds01-gpu-util", "ds01-mig-util", "ds01-who",
    "ds01-audit", "ds01-audit-docker", "ds01-audit-container", "ds01-alerts", "ds01-idle", "ds01-backup",
    "ds01-verify-cgroup", "ds01-generate-limits", "monitoring-status", "deploy", "ds01-sync", "docker", "mlc-stats",
)


def _reference_commands(text):
    """The backticked names in the first column of §1's tables and §2.1's (dispatcher file names left out)."""
    section = text[text.index("## 1. COMMANDS"):text.index("### 2.2")]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            for token in re.findall(r"`([^`]+)`", line.split("|")[1]):
                for part in (p.strip() for p in token.split(",")):
                    if re.fullmatch(r"[a-z0-9][a-z0-9._-]*", part) and not part.endswith(".sh") and part not in names:
                        names.append(part)
    return names


def test_every_ds01_command_is_in_the_migration_table():
    if REFERENCE.exists():  # the list above is the reference's (checked where the reference is at hand)
        assert set(_reference_commands(REFERENCE.read_text())) == set(DS01_COMMANDS)
    text = (REPO / "docs" / "admin.md").read_text()
    section = text[text.index("### DS01's commands"):text.index("## What to back up")]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    left = " ".join(row.split("|")[1] for row in rows)
    missing = [name for name in DS01_COMMANDS if not re.search(rf"`{re.escape(name)}(`|\.sh`|\s)", left)]
    assert not missing, f"DS01 commands missing from docs/admin.md's migration table: {missing}"
    for absent in ("bare-metal-access", "docker"):
        row = next(r for r in rows if f"`{absent}`" in r.split("|")[1])
        assert "none, deliberately" in row and "Docker" in row


def _project(sh, user, name):
    sh.run(user, "mkdir", "-p", os.path.join(user.pw_dir, "workspace", name), check=True)
    return os.path.join(user.pw_dir, "workspace", name)


def test_devcontainer_init_writes_a_file_the_user_owns_that_devcontainer_check_accepts(sh, users):
    alice = users["alice"]
    project = _project(sh, alice, "thesis")
    made = sh.run(alice, "devcontainer-init", "thesis", "--extensions", "ms-python.python", "--json")
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    path = os.path.join(project, ".devcontainer", "devcontainer.json")
    assert record["path"] == path and record["ssh_host"] == "ds01-thesis"
    assert os.stat(path).st_uid == alice.pw_uid and os.stat(os.path.dirname(path)).st_uid == alice.pw_uid
    text = open(path, encoding="utf-8").read()
    assert text.startswith("//") and "Connect to Host... -> ds01-thesis" in text
    checked = sh.run(alice, "devcontainer-check", "thesis", "--json")
    assert checked.returncode == 0, checked.stderr
    statuses = {r["key"]: r["status"] for r in map(json.loads, checked.stdout.splitlines())}
    assert "refused" not in statuses.values() and statuses["customizations"] == "ok"
    again = sh.run(alice, "devcontainer", "init", "thesis")  # the dispatcher; an existing file is kept
    assert again.returncode == 2 and "--force" in again.stderr


def test_devcontainer_init_writes_nowhere_outside_the_users_own_workspace(sh, users, user_tmp):
    alice = users["alice"]
    elsewhere = user_tmp / "elsewhere"  # a directory of alice's own, outside her workspace
    elsewhere.mkdir()
    os.chown(elsewhere, alice.pw_uid, alice.pw_gid)
    for name in ("../../tmp", str(elsewhere), "..", "thesis/../../x"):
        refused = sh.run(alice, "devcontainer-init", name)
        assert refused.returncode == 2, (name, refused.stderr)
        assert "devcontainer-init: error:" in refused.stderr and "hint:" in refused.stderr
    workspace = os.path.join(alice.pw_dir, "workspace")
    sh.run(alice, "mkdir", "-p", workspace, check=True)
    sh.run(alice, "ln", "-s", str(elsewhere), os.path.join(workspace, "linked"), check=True)
    linked = sh.run(alice, "devcontainer-init", "linked")
    assert linked.returncode == 2 and "symbolic link" in linked.stderr
    project = _project(sh, alice, "thesis")
    sh.run(alice, "ln", "-s", str(elsewhere), os.path.join(project, ".devcontainer"), check=True)
    inner = sh.run(alice, "devcontainer-init", "thesis", "--force")
    assert inner.returncode == 2 and "symbolic link" in inner.stderr
    assert os.listdir(elsewhere) == []
    os.unlink(os.path.join(project, ".devcontainer"))
    sh.run(alice, "mkdir", os.path.join(project, ".devcontainer"), check=True)
    target = elsewhere / "victim.json"
    sh.run(alice, "sh", "-c", f"echo keep > {target}", check=True)
    sh.run(alice, "ln", "-s", str(target), os.path.join(project, ".devcontainer", "devcontainer.json"), check=True)
    kept = sh.run(alice, "devcontainer-init", "thesis")
    assert kept.returncode == 2 and "exists" in kept.stderr
    forced = sh.run(alice, "devcontainer-init", "thesis", "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_text() == "keep\n"  # the link was replaced, never written through
    assert not os.path.islink(os.path.join(project, ".devcontainer", "devcontainer.json"))


def test_devcontainer_check_reads_comments_and_refuses_what_needs_docker_rights(sh, users):
    alice = users["alice"]
    project = _project(sh, alice, "exp")
    sh.run(alice, "mkdir", os.path.join(project, ".devcontainer"), check=True)
    path = os.path.join(project, ".devcontainer", "devcontainer.json")
    text = """// a DS01-era file
{
  "name": "exp", /* the container */
  "image": "ds01-test/base:latest",
  "runArgs": ["--privileged", "--gpus", "all", "--shm-size=8g",],
  "mounts": ["source=/,target=/host,type=bind"],
  "postCreateCommand": "pip install -r requirements.txt // not a comment",
}
"""
    sh.run(alice, "sh", "-c", f"cat > {path}", input=text, check=True)
    checked = sh.run(alice, "devcontainer-check", path, "--json")
    assert checked.returncode == 1
    assert "devcontainer-check: error:" in checked.stderr and "hint:" in checked.stderr
    statuses = {r["key"]: r["status"] for r in map(json.loads, checked.stdout.splitlines())}
    assert statuses["runArgs --privileged"] == "refused" and statuses["runArgs --gpus"] == "refused"
    assert statuses["mounts"] == "refused" and statuses["runArgs --shm-size=8g"] == "ignored"
    assert statuses["postCreateCommand"] == "ignored" and statuses["name"] == "ok"
    sh.run(alice, "sh", "-c", f"echo '{{not json' > {path}", check=True)
    broken = sh.run(alice, "devcontainer-check", "exp")
    assert broken.returncode == 1 and "not JSON" in broken.stderr


def test_ssh_vscode_and_shell_setup_are_user_setups_steps(sh, users):
    alice = users["alice"]
    ssh_dir = os.path.join(alice.pw_dir, ".ssh")
    sh.run(alice, "rm", "-rf", ssh_dir, check=True)
    verify = sh.records(alice, "ssh-setup", "--verify", "--json")
    assert verify[0]["status"] == "skipped" and not os.path.exists(os.path.join(ssh_dir, "id_ed25519"))
    made = sh.records(alice, "ssh-setup", "--json")
    assert made[0]["status"] == "created"
    assert os.stat(os.path.join(ssh_dir, "id_ed25519")).st_uid == alice.pw_uid
    vscode = sh.records(alice, "vscode-setup", "--json")
    assert vscode[0]["step"] == "vscode" and vscode[0]["status"] in ("ok", "warn")
    conf = os.path.join(ssh_dir, "ds01-vscode.conf")
    assert os.stat(conf).st_uid == alice.pw_uid and "Host ds01\n" in open(conf, encoding="utf-8").read()
    bashrc = os.path.join(alice.pw_dir, ".bashrc")
    before = open(bashrc, encoding="utf-8").read() if os.path.exists(bashrc) else ""
    for _ in range(2):
        fixed = sh.records(alice, "shell-setup", "--fix", "--json")
        assert fixed[0]["status"] in ("ok", "created")
    after = open(bashrc, encoding="utf-8").read() if os.path.exists(bashrc) else ""
    assert after.count("shell-setup puts ds01") <= 1 and after.startswith(before)


def test_image_install_is_image_update_add(sh, users):
    alice = users["alice"]
    missing = sh.run(alice, "image-install", "nothere", "wandb")
    assert missing.returncode == 4 and "image-install: error: no Dockerfile for image nothere" in missing.stderr
    bad = sh.run(alice, "image-install", "nothere", "wandb;rm -rf /")
    assert bad.returncode == 2 and "image-install: error:" in bad.stderr
    sh.run(alice, "image-create", "inst", "--no-jupyter", "-t", "rl", check=True)
    record = sh.records(alice, "image-install", "inst", "wandb", "einops", "--json")[0]
    assert record["added"] == ["wandb", "einops"] and record["built"] is True
    dockerfile = os.path.join(alice.pw_dir, "workspace", "inst", "Dockerfile")
    if not os.path.exists(dockerfile):
        dockerfile = os.path.join(alice.pw_dir, "dockerfiles", "inst.Dockerfile")
    assert "wandb" in open(dockerfile, encoding="utf-8").read()
    system = sh.records(alice, "image", "install", "inst", "ffmpeg", "--system", "--json")[0]
    assert system["added"] == ["ffmpeg"]


def test_ds01_backup_is_roots_and_archives_the_policy_without_following_links(sh, users, user_tmp, state_dir,
                                                                                policy_file):
    alice = users["alice"]
    refused = sh.run(alice, "ds01-backup", "-o", str(user_tmp / "mine.tar.gz"))
    assert refused.returncode == 5 and not (user_tmp / "mine.tar.gz").exists()
    planted = os.path.join(state_dir, "planted-link")
    os.symlink("/etc/shadow", planted)
    try:
        archive = user_tmp / "backup.tar.gz"
        made = sh.run(ROOT, "ds01-backup", "-o", str(archive), "--json")
        assert made.returncode == 0, made.stderr
        record = json.loads(made.stdout)
        assert any("planted-link" in s for s in record["skipped"])
        assert os.stat(archive).st_mode & 0o777 == 0o600
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            policy = tar.extractfile(f"policy/{os.path.basename(policy_file)}").read().decode()
        assert policy == open(policy_file, encoding="utf-8").read()
        assert not any("planted-link" in n or "shadow" in n for n in names)
        again = sh.run(ROOT, "ds01-backup", "-o", str(archive))
        assert again.returncode == 2 and "exists" in again.stderr
    finally:
        os.unlink(planted)


def test_ds01_alerts_shows_a_notice_sent_with_ds01_notify_until_cleared(sh, users):
    alice, bob, admin = users["alice"], users["bob"], users["admin"]
    assert sh.run(alice, "container-create", "box", sandbox.BASE_IMAGE, "--cpu-only").returncode == 0
    assert sh.run(alice, "container-start", "box").returncode == 0
    sent = sh.run(admin, "ds01-notify", alice.pw_name, "--container", f"box._.{alice.pw_uid}", "--title", "maintenance",
                  "GPU 2 goes away at 18:00")
    assert sent.returncode == 0, sent.stderr
    pending = sh.records(alice, "ds01-alerts", "--json")
    assert [(n["container"], n["title"], n["text"]) for n in pending] == [
        ("box", "maintenance", "GPU 2 goes away at 18:00")]
    assert sh.records(bob, "ds01-alerts", "--json") == []
    shown = sh.records(alice, "ds01-alerts", "--clear", "--json")
    assert len(shown) == 1
    assert sh.records(alice, "ds01-alerts", "--json") == []
    workspace = os.path.join(alice.pw_dir, "workspace", "box")
    assert "GPU 2 goes away at 18:00" in open(os.path.join(workspace, ".ds01-alerts.read"), encoding="utf-8").read()
    # A link planted as the alerts file is not read; one planted as the read file is not written through.
    sh.run(alice, "sh", "-c", f"echo '--- ds01: forged (2026-01-01 00:00 UTC) ---' > {workspace}/fake", check=True)
    sh.run(alice, "ln", "-s", f"{workspace}/fake", f"{workspace}/.ds01-alerts", check=True)
    assert sh.records(alice, "ds01-alerts", "--json") == []
    sh.run(alice, "rm", f"{workspace}/.ds01-alerts", f"{workspace}/.ds01-alerts.read", check=True)
    sh.run(alice, "ln", "-s", f"{workspace}/fake", f"{workspace}/.ds01-alerts.read", check=True)
    assert sh.run(admin, "ds01-notify", alice.pw_name, "--container", f"box._.{alice.pw_uid}", "again").returncode == 0
    linked = sh.run(alice, "ds01-alerts", "--clear")
    assert linked.returncode == 1 and "ds01-alerts: error:" in linked.stderr and "hint:" in linked.stderr
    assert "again" not in open(f"{workspace}/fake", encoding="utf-8").read()


def test_root_reaches_the_lifecycle_jobs_by_ds01s_names_and_students_are_refused(sh, users):
    for name, job in (("ds01-idle", "ds01-idle-check"), ("check-idle-containers", "ds01-idle-check"),
                      ("enforce-max-runtime", "ds01-max-runtime"), ("cleanup-stale-containers", "ds01-release-stale")):
        assert f"renamed='{job}'" in (REPO / "bin" / name).read_text()  # bin/: the directory on root's PATH
        refused = sh.run(users["alice"], name)
        assert refused.returncode == 5, (name, refused.stderr)
    ran = sh.run(ROOT, "ds01-idle", "--json")
    assert ran.returncode == 0, ran.stderr
