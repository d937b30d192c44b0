"""Who may run each command and pass each option: declared in ds01/registry.py, enforced by ds01d before
anything runs (ds01/authority.py). The table's own consistency is checked here without Docker; the
attacks of issue 29 that the table closes run as a real student through a test ds01d."""

import importlib
import json
import os
import textwrap

import pytest

from ds01 import authority, registry
from ds01.cli._common import standard
from ds01.errors import PermissionDenied
from tests.support import sandbox
from tests.support.gpulab import GpuLab
from tests.support.harness import BIN, REPO

IMAGE = sandbox.BASE_IMAGE


def _options(command):
    cli = standard(importlib.import_module(command.module).cli)
    return {authority.option_name(p) for p in cli.params if p.param_type_name == "option"} | {"--help"}


def test_every_command_and_option_is_classified():
    """A command or option the table does not classify fails here: the next one added is decided, not forgotten."""
    unclassified, stale = [], []
    for command in registry.COMMANDS:
        assert command.who in registry.WHO_TEXT, command.name
        options = _options(command)
        unclassified += [(command.name, o) for o in sorted(options) if command.option_who(o) is None]
        stale += [(command.name, o) for o in (*command.options, *command.admin_options) if o not in options]
        assert not set(command.options) & set(command.admin_options), command.name
        if command.who != registry.ANYONE:
            assert not command.options and not command.admin_options, f"{command.name}: all its options are its own"
    assert unclassified == [] and stale == []


def test_help_and_version_which_anyone_may_ask_of_any_served_command_run_no_body():
    for command in registry.COMMANDS:
        cli = standard(importlib.import_module(command.module).cli)
        ctx = cli.make_context(command.name, [], resilient_parsing=True)
        reading = [p for p in cli.get_params(ctx) if authority.option_name(p) in registry.READING_ONLY]
        assert all(p.is_eager for p in reading) or command.who == registry.ANYONE, command.name


def test_options_that_name_settings_or_other_peoples_things_are_for_admins():
    for command in registry.COMMANDS:
        options = _options(command)
        for option in {"--config", "--user", "--all-users", "--all_users", "--root"} & options:
            assert command.option_who(option) != registry.ANYONE, (command.name, option)


def _refusal(name, *argv, admin=False, root=False):
    try:
        authority.check(authority.resolve(name, list(argv)), admin=lambda: admin, root=root)
    except PermissionDenied as exc:
        return exc.message
    return None


@pytest.mark.parametrize("name, argv", [
    ("container-create", ["big", IMAGE, "--num-gpus", "2", "--config", "/etc/ds01/resource-limits.yaml"]),
    ("container-create", ["big", IMAGE, "--config=/etc/ds01/resource-limits.yaml"]),
    ("container", ["create", "big", IMAGE, "--config", "/p"]),
    ("ds01", ["container", "start", "x", "--config", "/p"]),
    ("container-cleanup", ["x", "--config", "/p"]),  # a legacy name
    ("get-limits", ["--config", "/p"]),
    ("container-list", ["-a", "--all-users"]),
    ("container-list", ["--user=bob"]),
    ("mlc-list", ["-au"]),  # AIME's bundled short flags: -a and --all_users
    ("image-list", ["--all-users"]),
    ("gpu-allocate", ["--user", "bob"]),
    ("ds01-events", ["--user", "bob"]),
    ("ds01-report", []),
    ("ds01-idle-check", ["--dry-run"]),
    ("mig-configure", ["--dry-run"]),
])
def test_a_student_is_refused_before_anything_runs(name, argv):
    assert _refusal(name, *argv) is not None
    assert _refusal(name, *argv, admin=True) is None


def test_what_only_root_runs_and_what_ds01d_does_not_run():
    assert "root only" in _refusal("ds01-upgrade", admin=True)
    assert _refusal("ds01-upgrade", root=True) is None
    assert "in-process" in _refusal("ds01d", root=True) and "in-process" in _refusal("help")
    assert _refusal("ds01-report", "-h") is None and _refusal("ds01-upgrade", "--version") is None
    assert _refusal("ds01-report", "--help", "--month", "2026-11") is not None


@pytest.mark.parametrize("name, argv", [
    ("container-run", ["box", "--", "python", "train.py", "--config", "x.yaml"]),  # the command's own arguments
    ("container-attach", ["box", "--", "ls", "--user", "x"]),
    ("mlc-start", ["box", "--", "env", "--all-users"]),
    ("container-list", ["--", "--config"]),
    ("container", ["--help"]),
    ("ds01", ["container", "list", "-a"]),
    ("image-create", ["x", "--version", "2.5.1"]),  # image-create's own --version (the framework's)
])
def test_an_argument_that_only_looks_like_a_reserved_option_is_not_one(name, argv):
    assert _refusal(name, *argv) is None


# The attacks, as a student through ds01d.


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    return GpuLab(user_tmp, users, dockerd)


@pytest.fixture
def generous_root_policy(user_tmp, users):
    """A root-owned policy that would give anyone everything (like the shipped one make install leaves
    root-owned in the install tree)."""
    path = user_tmp / "generous.yaml"
    path.write_text(textwrap.dedent(f"""\
        images: {{allowed: ["ds01-test/*"]}}
        defaults: {{max_cpus: 64, memory: 64g, memory_swap: 64g, pids_limit: 8192, max_containers_per_user: 50,
                   max_gpu_equivalents: 8, max_gpu_slots_per_container: 8}}
        access_control: {{admin_users: [{users['admin'].pw_name}]}}
        """))
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)
    return path



def test_a_root_owned_policy_named_by_a_student_is_refused_and_changes_nothing(lab, users, client,
                                                                               generous_root_policy):
    """Finding 1: `--config <any root-owned YAML>` gave a student both GPUs (the reserved one too), 2 CPUs,
    32 GiB and 4096 pids, and rewrote their kernel totals at the next start."""
    alice = users["alice"]
    config = str(generous_root_policy)
    big = lab.sh.run(alice, "container-create", "big", IMAGE, "--num-gpus", "2", "--full-gpu", "--config", config)
    assert big.returncode == 5, big.stderr
    assert big.stderr.startswith("container-create: error: --config is for admins only\n  hint: ")
    assert client.containers.list(all=True, filters={"name": "big"}) == [] and lab.claims() == {}
    for variant in (["container-create", "big", IMAGE, f"--config={config}"],
                    ["container", "create", "big", IMAGE, "--cpu-only", "--config", config],
                    ["ds01", "container", "create", "big", IMAGE, "--cpu-only", "--config", config],
                    ["mlc-create", "big", "Pytorch", "2.5.1", "--config", config],
                    ["gpu-allocate", "--num-gpus", "2", "--config", config]):
        tried = lab.sh.run(alice, *variant)
        assert tried.returncode == 5 and "--config is for admins only" in tried.stderr, (variant, tried.stderr)
    assert client.containers.list(all=True, filters={"name": "big"}) == [] and lab.claims() == {}
    mine = lab.sh.records(alice, "container-create", "mine", IMAGE, "--cpu-only")[0]
    started = lab.sh.run(alice, "container-start", "mine", "--config", config)
    assert started.returncode == 5 and not client.containers.get(mine["id"]).attrs["State"]["Running"]
    limits = lab.sh.records(alice, "check-limits")[0]
    assert limits["gpu"]["eq_limit"] == 2.0  # the lab's policy, not the one she named
    admin = lab.sh.run(users["admin"], "check-limits", "--config", config)
    assert admin.returncode == 0, admin.stderr  # an admin still may: read with their own rights, root's file


def test_a_client_that_floods_its_worker_after_the_request_is_cut_off(sh, users):
    """Finding 5: after a valid request the worker read signal lines without bound: 400 MiB with no newline
    grew one root worker to 445 MB. Now a line longer than a signal's ends the connection and the command."""
    alice = users["alice"]
    broker = sh.broker()
    flood = textwrap.dedent("""\
        import os, socket, sys
        sys.path.insert(0, sys.argv[2])
        from ds01.client import request
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[1])
        r, w = os.pipe()  # stdin that never ends: container-stop waits for targets
        os.dup2(r, 0)
        request(s, "container-stop", [], {})
        sent = 0
        try:
            while sent < (256 << 20):
                sent += s.send(b"x" * 65536)
        except OSError as exc:
            print("cut off after", sent, type(exc).__name__)
        answer = s.recv(100)
        print("answer", answer)
        """)
    result = sh.run(alice, "/usr/bin/python3", "-c", flood, broker.socket, str(REPO), timeout=120)
    assert result.stdout.startswith("cut off after "), result.stdout + result.stderr
    sent = int(result.stdout.split()[3])
    assert sent < (16 << 20)  # what the socket buffers hold, never the flood
    assert "the client sent more than a signal line" in broker.log_tail(50)
    assert sh.run(alice, "container-list").returncode == 0  # ds01d serves on


def test_a_client_over_its_share_gets_the_busy_line_and_exit_3(sh, users):
    """Finding 7: at the per-user limit the refused client died with a BrokenPipeError traceback."""
    from ds01 import broker as B

    alice = users["alice"]
    holder = textwrap.dedent("""\
        import json, socket, subprocess, sys
        held = []
        for _ in range(int(sys.argv[2])):  # connected, silent: each holds a worker for its request timeout
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            held.append(s)
        r = subprocess.run(sys.argv[3:], capture_output=True, text=True)
        print(json.dumps([r.returncode, r.stderr]))
        """)
    result = sh.run(alice, "/usr/bin/python3", "-c", holder, sh.broker().socket, str(B.MAX_PER_CALLER),
                    str(BIN / "container-list"))
    code, stderr = json.loads(result.stdout or "[null, null]")
    assert code == 3 and "Traceback" not in stderr, result.stderr + str(stderr)
    assert stderr == ("container-list: error: ds01d is busy with 64 of your commands; try again when they "
                      "finish\n")



def test_the_refusal_is_logged_and_the_worker_runs_nothing(sh, users, client):
    alice = users["alice"]
    result = sh.run(alice, "container-list", "--all-users", "--json")
    assert result.returncode == 5 and result.stdout == ""
    assert result.stderr == ("container-list: error: --all-users is for admins only\n  hint: container-list --help "
                             "lists the options; those marked (admins only) are not yours\n")
    assert "refused: --all-users is for admins only" in sh.broker().log_tail(20)
    assert sh.run(users["admin"], "container-list", "--all-users", "--json").returncode == 0


def test_an_argument_that_is_not_utf8_is_logged_and_answered(sh, users):
    """The review's finding: a Latin-1 byte in an argument killed the worker while it logged the request
    (exit 1, nothing said). It is logged escaped, and the command answers as it would in-process."""
    alice = users["alice"]
    latin1 = os.fsdecode(b"caf\xe9")
    result = sh.run(alice, "container-list", latin1)
    assert result.returncode == 2 and result.stderr.startswith("container-list: error: "), result.stderr
    assert "container-list caf\\udce9" in sh.broker().log_tail(20)
