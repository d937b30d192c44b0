"""ds01-doctor: each check says OK on a host set up right, and each one's failure, built here for real, is a
WARN or FAIL with a hint (issue 20, item 3)."""

import ast
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest

from ds01 import doctor, gpu_engine
from ds01.install import exporter_auth
from ds01.registry import by_name
from tests.support import sandbox

ROOT = sandbox.pwd.getpwnam("root")
CLOSED = "http://127.0.0.1:9/metrics"  # the discard port: nothing answers there
SHIPPED_CRON = os.path.join(doctor.SHIPPED, "cron.d", "ds01")


SIM_INVENTORY = os.path.join(doctor.SHIPPED, "ds01", "gpus.sim.yaml")
PATH_RE = re.compile(r"(?<![\w:/])/[\w.+-]+(?:/[\w.+-]+)+")


@pytest.fixture
def host_root(user_tmp):
    """A host's files as the doctor reads them (--root): etc/cron.d/ds01 as shipped, a cron daemon among the
    processes (proc/PID/comm), no /dev/nvidia*."""
    root = user_tmp / "root"
    (root / "etc" / "cron.d").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "proc" / "1").mkdir(parents=True)
    (root / "proc" / "1" / "comm").write_text("tini\n")
    (root / "proc" / "412").mkdir()
    (root / "proc" / "412" / "comm").write_text("cron\n")
    shutil.copy(SHIPPED_CRON, root / "etc" / "cron.d" / "ds01")
    return root


def diagnose(sh, *args, extra_env=None, user=ROOT, root=None, exporter=CLOSED):
    """(exit code, {check: record}) of one run as root (in-process, as an admin runs it). Every message names
    each path once."""
    argv = ["ds01-doctor", "--json", "--exporter", exporter, *(["--root", str(root)] if root else []), *args]
    result = sh.run(user, *argv, extra_env={"DS01_SOCKET": sh.broker().socket, **(extra_env or {})})
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    for record in records:
        paths = PATH_RE.findall(record["message"])
        assert len(paths) == len(set(paths)), f"a path said twice: {record['message']}"
    return result.returncode, {r["check"]: r for r in records}


def test_every_check_answers_and_the_test_host_passes_what_it_should(sh, host_root):
    code, found = diagnose(sh, root=host_root)
    assert list(found) == [name for name, _ in doctor.CHECKS]
    assert all(set(r) == {"check", "status", "message", "hint", "details"} for r in found.values())
    ok = ["docker_engine", "nvidia_toolkit", "cgroup_driver", "docker_socket", "mig_layout", "device_nodes",
          "state_dirs", "policy", "group_members", "ds01d", "schedule"]
    assert {name: found[name]["status"] for name in ok} == dict.fromkeys(ok, "OK"), found
    assert found["nvidia_toolkit"]["details"]["hook"].endswith("/bin/nvidia-container-runtime-hook")
    # the test policy gives bob's group sudo, and his home is on a filesystem without nosuid
    assert found["nosuid"]["status"] == "WARN" and "group researcher (sudo: true) is root-equivalent" in \
        found["nosuid"]["message"]
    assert found["exporter"]["status"] == "WARN" and found["exporter"]["hint"]
    assert code == 0  # warnings only
    strict, _ = diagnose(sh, "--strict", root=host_root)
    assert strict == 1


def test_an_engine_that_does_not_answer_fails_and_the_other_checks_still_run(sh, host_root):
    code, found = diagnose(sh, root=host_root, extra_env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert code == 1 and found["docker_engine"]["status"] == "FAIL" and found["docker_engine"]["hint"]
    assert found["cgroup_driver"]["status"] == "WARN" and found["docker_disk"]["status"] == "WARN"
    assert found["policy"]["status"] == "OK"


SERVER = """
import os, socket, sys
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
os.chmod(path, int(sys.argv[2], 8))
os.chown(path, 0, int(sys.argv[3]))
server.listen(8)
print("listening", flush=True)
while True:
    server.accept()[0].close()
"""


@pytest.fixture
def fake_engine(user_tmp):
    """A socket whose server is a plain process (PATH without NVIDIA's hook): who answers, with what modes."""
    started = []

    def start(mode="0660", gid=0):
        path = str(user_tmp / f"engine-{len(started)}.sock")
        process = subprocess.Popen([sys.executable, "-c", SERVER, path, mode, str(gid)], stdout=subprocess.PIPE,
                                   text=True, env={"PATH": "/usr/bin:/bin"})
        started.append(process)
        assert process.stdout.readline() == "listening\n"
        return f"unix://{path}"

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_an_engine_without_nvidias_hook_on_its_path_fails_a_gpu_host(sh, host_root, fake_engine):
    """No GPU container can start there (`could not select device driver "nvidia"`): a FAIL where there are
    GPUs to give out, a WARN where there are none."""
    engine = fake_engine()
    code, found = diagnose(sh, root=host_root, extra_env={"DOCKER_HOST": engine, "DS01_GPU_INVENTORY": SIM_INVENTORY})
    check = found["nvidia_toolkit"]
    assert code == 1 and check["status"] == "FAIL", check
    assert "not on the engine's PATH" in check["message"] and "nvidia-container-toolkit" in check["hint"]
    empty = host_root / "no-gpus.yaml"
    empty.write_text("driver: \"550.54.15\"\ngpus: []\n")
    os.chmod(empty, 0o644)
    _, found = diagnose(sh, root=host_root, extra_env={"DOCKER_HOST": engine, "DS01_GPU_INVENTORY": str(empty)})
    assert found["nvidia_toolkit"]["status"] == "WARN", found["nvidia_toolkit"]


def test_a_docker_socket_others_can_reach_fails(sh, users, host_root, fake_engine):
    alice = users["alice"]
    _, found = diagnose(sh, root=host_root, extra_env={"DOCKER_HOST": fake_engine("0666")})
    assert found["docker_socket"]["status"] == "FAIL" and "open to everyone" in found["docker_socket"]["message"]
    _, found = diagnose(sh, root=host_root, extra_env={"DOCKER_HOST": fake_engine("0660", alice.pw_gid)})
    assert found["docker_socket"]["status"] == "FAIL" and alice.pw_name in found["docker_socket"]["details"]["members"]


def policy_with(user_tmp, policy_file, extra):
    path = user_tmp / "policy.yaml"
    path.write_text(policy_file.read_text() + textwrap.dedent(extra))
    os.chmod(path, 0o644)
    return str(path)


def test_a_cgroup_driver_the_engine_does_not_use_and_a_full_disk_are_warned(sh, user_tmp, policy_file, host_root):
    config = policy_with(user_tmp, policy_file, "enforcement: {cgroup_driver: systemd}\n"
                                                "doctor: {min_free_percent: 100}\n")
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_CONFIG": config})
    assert found["cgroup_driver"]["status"] == "WARN" and "cgroup_driver: cgroupfs" in found["cgroup_driver"]["hint"]
    assert found["docker_disk"]["status"] in ("WARN", "FAIL") and found["docker_disk"]["details"]["free_percent"] < 100


def test_gpus_without_persistence_or_with_a_pending_mig_change_are_warned(sh, user_tmp, host_root):
    example = open(os.path.join(doctor.SHIPPED, "ds01", "gpus.sim.yaml")).read()
    path = user_tmp / "gpus.yaml"
    path.write_text(example.replace("    mig_mode: false\n", "    mig_mode: false\n    persistence_mode: false\n", 1))
    os.chmod(path, 0o644)
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_GPU_INVENTORY": str(path)})
    assert found["nvml"]["status"] == "WARN" and found["nvml"]["details"]["persistence_off"] == [0]
    path.write_text(example.replace("    mig_mode: false\n", "    mig_mode: false\n    mig_mode_pending: true\n", 1))
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_GPU_INVENTORY": str(path)})
    assert found["nvml"]["status"] == "WARN" and "MIG mode change is pending" in found["nvml"]["message"]
    path.write_text(example)
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_GPU_INVENTORY": str(path)})
    assert found["nvml"]["status"] == "OK" and "4 GPU(s), driver 550.54.15" in found["nvml"]["message"]


def test_gpus_that_differ_from_the_policys_mig_layout_are_warned(sh, user_tmp, host_root):
    example = os.path.join(doctor.SHIPPED, "ds01", "gpus.sim.yaml")
    policy = user_tmp / "limits.yaml"
    policy.write_text(f"gpu:\n  inventory: {example}\n  mig_layout: {{0: off, 2: [1g.5gb, 1g, 1g, 1g, 1g, 1g, 1g], "
                      "3: [3g, 3g]}\n")
    os.chmod(policy, 0o644)
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_CONFIG": str(policy)})
    assert found["mig_layout"]["status"] == "OK", found["mig_layout"]
    policy.write_text(f"gpu:\n  inventory: {example}\n  mig_layout: {{1: [7g], 3: [4g.20gb, 3g.20gb]}}\n")
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_CONFIG": str(policy)})
    check = found["mig_layout"]
    assert check["status"] == "WARN" and sorted(check["details"]["differ"]) == ["1", "3"]
    assert "GPU 3 is [3g.20gb, 3g.20gb], the layout says [4g.20gb, 3g.20gb]" in check["message"]
    assert "mig-configure" in check["hint"]


def test_nvidia_device_nodes_everyone_may_write_are_warned(sh, host_root):
    node = host_root / "dev" / "nvidia0"
    os.mknod(node, 0o020666, os.makedev(1, 3))  # a character device, as the driver makes them
    os.chmod(node, 0o666)
    _, found = diagnose(sh, root=host_root)
    assert found["device_nodes"]["status"] == "WARN" and found["device_nodes"]["details"]["open_to_all"] == [
        "nvidia0 (0666)"] and "NVreg_DeviceFileMode" in found["device_nodes"]["hint"]
    os.chmod(node, 0o660)
    _, found = diagnose(sh, root=host_root)
    assert found["device_nodes"]["status"] == "OK"


def test_only_the_mounts_of_a_sudo_group_that_are_not_nosuid_are_named(sh, users, user_tmp, policy_file, host_root,
                                                                         data_root):
    """bob's group has sudo: of its mount roots, the nosuid one is safe, the other (and his home) are named."""
    safe = user_tmp / "nosuid"
    safe.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,size=1m", "tmpfs", str(safe)], check=True)
    try:
        text = policy_file.read_text().replace(f"mount_roots: [{data_root}]", f"mount_roots: [{safe}, {data_root}]")
        config = policy_with(user_tmp, policy_file, "")
        open(config, "w").write(text)
        _, found = diagnose(sh, root=host_root, extra_env={"DS01_CONFIG": config})
    finally:
        subprocess.run(["umount", "-l", str(safe)], check=False)
    assert found["nosuid"]["details"]["exposed"] == {"researcher": [str(data_root), users["bob"].pw_dir]}


def test_a_state_dir_others_may_write_fails(sh, user_tmp, host_root):
    state = user_tmp / "open-state"
    state.mkdir()
    os.chmod(state, 0o777)
    code, found = diagnose(sh, root=host_root, extra_env={"DS01_STATE_DIR": str(state)})
    assert code == 1 and found["state_dirs"]["status"] == "FAIL" and "writable by others" in found["state_dirs"][
        "message"]


def test_a_broken_policy_fails_and_unknown_members_are_warned(sh, user_tmp, policy_file, host_root):
    broken = user_tmp / "broken.yaml"
    broken.write_text("defaults: {max_cpus: lots}\n")
    os.chmod(broken, 0o644)
    code, found = diagnose(sh, root=host_root, extra_env={"DS01_CONFIG": str(broken)})
    assert code == 1 and found["policy"]["status"] == "FAIL" and "max_cpus" in found["policy"]["message"]
    assert found["docker_engine"]["status"] == "OK"  # the rest ran, on the defaults
    text = policy_file.read_text().replace("members: [ds01t_bob]", "members: [ds01t_bob, nosuchuser9]")
    config = policy_with(user_tmp, policy_file, "")
    open(config, "w").write(text)
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_CONFIG": config})
    assert found["group_members"]["status"] == "WARN" and found["group_members"]["details"]["missing"] == {
        "researcher": ["nosuchuser9"]}


def test_ds01d_not_listening_fails(sh, host_root):
    code, found = diagnose(sh, root=host_root, extra_env={"DS01_SOCKET": "/nonexistent/ds01.sock"})
    assert code == 1 and found["ds01d"]["status"] == "FAIL" and "systemctl enable --now ds01d" in found["ds01d"]["hint"]


def test_a_schedule_no_daemon_runs_fails(sh, host_root):
    """/etc/cron.d/ds01 with no cron daemon running (or timers without systemd as PID 1): the jobs never run."""
    shutil.rmtree(host_root / "proc" / "412")
    code, found = diagnose(sh, root=host_root)
    check = found["schedule"]
    assert code == 1 and check["status"] == "FAIL" and "no cron daemon" in check["message"], check
    (host_root / "proc" / "977").mkdir()
    (host_root / "proc" / "977" / "comm").write_text("crond\n")  # cronie, busybox
    _, found = diagnose(sh, root=host_root)
    assert found["schedule"]["status"] == "OK", found["schedule"]
    shutil.rmtree(host_root / "proc" / "977")
    (host_root / "etc" / "cron.d" / "ds01").unlink()
    timers = host_root / "etc" / "systemd" / "system"
    timers.mkdir(parents=True)
    (timers / "ds01-idle-check.timer").write_text("[Timer]\nOnCalendar=*:0/10\n")  # an admin's own timer
    _, found = diagnose(sh, root=host_root)
    assert found["schedule"]["status"] == "FAIL" and "systemd is not running" in found["schedule"]["message"]
    (host_root / "run" / "systemd" / "system").mkdir(parents=True)  # sd_booted(): systemd is PID 1
    _, found = diagnose(sh, root=host_root)
    assert found["schedule"]["status"] == "WARN" and "differ from the shipped" in found["schedule"]["message"]


def test_an_edited_schedule_is_warned_a_missing_one_fails(sh, host_root):
    cron = host_root / "etc" / "cron.d" / "ds01"
    cron.write_text(cron.read_text().replace("2-59/10", "2-59/60"))
    _, found = diagnose(sh, root=host_root)
    assert found["schedule"]["status"] == "WARN" and "differs from the shipped" in found["schedule"]["message"]
    cron.unlink()
    _, found = diagnose(sh, root=host_root)
    assert found["schedule"]["status"] == "FAIL" and "not scheduled" in found["schedule"]["message"]


def test_an_exporter_that_answers_with_ds01_metrics_is_ok(sh, host_root):
    (host_root / "etc" / "ds01").mkdir()
    exporter_auth(str(host_root / "etc" / "ds01" / "exporter.auth"))  # the password it asks for (issue 29)

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = b"# TYPE ds01_build_info gauge\nds01_build_info{version=\"x\"} 1\n"
            self.send_response(200 if self.headers.get("Authorization") else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _, found = diagnose(sh, root=host_root, exporter=f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
    assert found["exporter"]["status"] == "OK"


def test_only_admins_run_it_and_ds01_health_is_its_old_name(sh, users, host_root):
    refused = sh.run(users["alice"], "ds01-doctor", "--json")
    assert refused.returncode == 5 and "for admins" in refused.stderr
    code, found = diagnose(sh, root=host_root, user=users["admin"])
    assert found["docker_engine"]["status"] == "OK"
    assert found["nvidia_toolkit"]["status"] == "OK", found["nvidia_toolkit"]  # ds01d's worker reads the engine
    legacy = sh.run(ROOT, "ds01-health", "--json", "--exporter", CLOSED, "--root", str(host_root),
                    extra_env={"DS01_SOCKET": sh.broker().socket})
    assert [json.loads(line)["check"] for line in legacy.stdout.splitlines()] == list(found)


COMMANDS = set(by_name())
# Commands a hint may name that are the host's, not ds01's.
SYSTEM_COMMANDS = {"systemctl", "service", "chmod", "chown", "install", "apt-get", "diff", "make", "gpasswd",
                   "nvidia-smi", "docker", "mount", "cron", "modprobe", "getent"}


def hints_in_source():
    """Every hint the doctor can give: the text of each Check's hint argument in ds01/doctor.py (an f-string's
    fields read as X; `a or b` gives both)."""
    tree = ast.parse(open(doctor.__file__, encoding="utf-8").read())

    def texts(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.JoinedStr):
            return ["".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)]
        if isinstance(node, ast.BoolOp):
            return [t for value in node.values for t in texts(value)]
        if isinstance(node, ast.Name):  # a constant of the doctor's, or of ds01.gpu_engine's
            value = getattr(doctor, node.id, None) or getattr(gpu_engine, node.id, None)
            return [value] if isinstance(value, str) else []
        return []  # exc.hint: another module's own error, with its own hint

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Check":
            hint = node.args[3] if len(node.args) > 3 else next((k.value for k in node.keywords if k.arg == "hint"),
                                                                  None)
            found += texts(hint) if hint is not None else []
    return found


def named_commands(hint):
    """(command, its options) for each command a hint names: a word that is a ds01 command or a system one."""
    words = re.findall(r"[\w./=-]+", hint)
    named = []
    for i, word in enumerate(words):
        if word in COMMANDS or word in SYSTEM_COMMANDS:
            options = []
            for following in words[i + 1:]:
                if not following.startswith("-"):
                    break
                options.append(following.split("=", 1)[0])
            named.append((word, options))
    return named


def test_every_hint_names_a_command_that_exists_with_options_it_takes(sh):
    hints = hints_in_source()
    assert len(hints) > 20
    for hint in hints:
        named = named_commands(hint)
        assert named, f"the hint names no command: {hint!r}"
        for command, options in named:
            if command in SYSTEM_COMMANDS:
                continue
            result = sh.run(ROOT, command, *options, "--help")
            assert result.returncode == 0, f"{hint!r}: {command} {' '.join(options)}: {result.stderr.strip()}"


def test_the_table_fits_the_terminal_and_says_everything(sh, host_root):
    """On an 80-column terminal (COLUMNS) the message and hint columns wrap: no line is wider, no word is lost."""
    _, found = diagnose(sh, root=host_root)
    assert len(max(found.values(), key=lambda r: len(r["message"]))["message"]) > 80  # it needs wrapping
    for width in (80, 100):
        table = sh.run(ROOT, "ds01-doctor", "--table", "--exporter", CLOSED, "--root", str(host_root),
                       extra_env={"DS01_SOCKET": sh.broker().socket, "COLUMNS": str(width)}).stdout
        assert table.startswith("CHECK")
        assert max(len(line) for line in table.splitlines()) <= width, table
        words = set(table.split())
        for record in found.values():  # a word wider than its column is broken, the others stay whole
            for text in (record["message"], record["hint"] or ""):
                assert {w for w in text.split() if len(w) <= 12} <= words, text


def test_the_name_users_reach_the_server_by_is_warned_when_it_is_loopback(sh, user_tmp, policy_file, host_root):
    import socket

    fqdn = socket.getfqdn()
    if not all(ip.startswith("127.") or ip == "::1" for *_, (ip, *_) in socket.getaddrinfo(fqdn, None)):
        pytest.skip(f"this host's name {fqdn} is not a loopback address")
    _, found = diagnose(sh, root=host_root)
    check = found["ssh_host"]
    assert check["status"] == "WARN" and fqdn in check["message"] and "loopback" in check["message"], check
    assert "access_control.ssh_host" in check["hint"]
    config = policy_with(user_tmp, policy_file, "")
    open(config, "w").write(policy_file.read_text().replace("access_control:\n",
                                                            "access_control:\n  ssh_host: gpu1.lab.example.org\n"))
    _, found = diagnose(sh, root=host_root, extra_env={"DS01_CONFIG": config})
    assert found["ssh_host"]["status"] == "OK" and "gpu1.lab.example.org" in found["ssh_host"]["message"]


@pytest.fixture
def plain_engine():
    """A second private dockerd, started without NVIDIA's hook on its PATH (as on a host without the toolkit)."""
    import tempfile

    if not shutil.which("dockerd"):
        pytest.skip("dockerd is not installed")
    root = tempfile.mkdtemp(prefix="ds01-plain-engine-", dir="/tmp")
    os.chmod(root, 0o711)
    log = open(os.path.join(root, "dockerd.log"), "wb")  # noqa: SIM115 - lives as long as the daemon
    process = subprocess.Popen(
        ["dockerd", "--data-root", os.path.join(root, "data"), "--exec-root", os.path.join(root, "exec"),
         "--pidfile", os.path.join(root, "dockerd.pid"), "-H", f"unix://{os.path.join(root, 'docker.sock')}",
         "--group", "root", "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
         "--userland-proxy=false"],
        stdout=log, stderr=subprocess.STDOUT, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        start_new_session=True)
    engine = sandbox.Dockerd(root, process)
    engine.wait_ready(60)
    try:
        yield engine
    finally:
        engine.stop()
        log.close()


def test_gpus_are_not_given_out_by_an_engine_that_cannot_use_them(sh, users, plain_engine, client):
    """container-create asks for a GPU on an engine without the NVIDIA runtime (the image is there): refused
    (exit 3) before any slot is held or container made, with the admin's fix and --cpu-only."""
    import docker

    base = client.images.get(sandbox.BASE_IMAGE).save(named=True)
    docker.DockerClient(base_url=plain_engine.host).images.load(base)
    alice = users["alice"]
    settings = {"DOCKER_HOST": plain_engine.host, "DS01_GPU_INVENTORY": SIM_INVENTORY}
    for gpu_args in ([], ["--num-gpus", "1"], ["--gpu-profile", "1g.5gb"], ["--full-gpu"]):
        refused = sh.run(alice, "container-create", "train", sandbox.BASE_IMAGE, *gpu_args, extra_env=settings)
        assert refused.returncode == 3, (gpu_args, refused.stderr)
        assert "container-create: error: " in refused.stderr and "cannot give containers GPUs" in refused.stderr
        hint = refused.stderr.split("hint: ", 1)[1]
        assert "--cpu-only" in hint and "nvidia-container-toolkit" in hint, hint
    claim = sh.run(alice, "gpu-allocate", extra_env=settings)
    assert claim.returncode == 3 and "cannot give containers GPUs" in claim.stderr, claim.stderr
    held = sh.records(alice, "gpu-status", "--json", extra_env=settings)
    assert alice.pw_name not in json.dumps(held) and all(r["state"] == "free" for r in held), held
    assert not plain_engine_containers(plain_engine)
    cpu_only = sh.run(alice, "container-create", "notes", sandbox.BASE_IMAGE, "--cpu-only", extra_env=settings)
    assert cpu_only.returncode == 0, cpu_only.stderr  # the way the hint names still works


def plain_engine_containers(engine):
    from ds01.dockerapi import DockerAPI

    return DockerAPI(engine.host).get("/containers/json", all="1")
