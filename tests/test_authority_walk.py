"""Every command and every option in the command table, run as a student with hostile values through a test ds01d.

Generated from ds01/registry.py: the next command or option added is walked without anyone remembering to,
and one the table does not classify fails here. alice (a student) names bob's running and stopped
containers, his image, his claim and his private directory, a root-owned 0600 file, a root-owned policy
that would make her an admin with huge limits, absurd sizes and names with control characters. Each call
is either refused (exit 2, 4 or 5; exactly 5 where the table says the command or option is not hers) or
acts only on alice's own things within her limits: what changed in Docker and in the state dir is
checked, not only the exit code. The calls go through ds01d with the client library itself, as anyone
can connect to the socket and name any command, served in-process-only ones included.
"""

import importlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

from ds01 import authority, registry
from ds01.cli._common import standard
from tests.support import sandbox
from tests.support.gpulab import EXAMPLE, GpuLab
from tests.support.harness import REPO, TEST_CATALOG_IMAGE

IMAGE = sandbox.BASE_IMAGE
ANSI = "x\x1b[2Jy\x07\rz"  # a name or text with control characters (clear screen, bell, carriage return)
ABSURD = "999999999"
STREAMS = {"--watch", "-w", "--follow", "--edit"}  # options that run until interrupted (an editor: until it is left)
STREAMING_COMMANDS = {"dashboard"}
TIMEOUT_S, STREAM_TIMEOUT_S = 30, 4
EXIT_REFUSED = (2, 4, 5)
# alice's limits in the walk's policy (GpuLab's student)
ALICE_CPUS, ALICE_MEMORY, ALICE_PIDS, ALICE_CONTAINERS, ALICE_EQ, ALICE_SLOTS = 1, 256 * 1024**2, 256, 3, 2.0, 2
# A client of ds01d, exactly as the installed commands are: a caller may send any command name to the socket.
CLIENT = ("import sys; sys.path.insert(0, sys.argv[1]); name, module = sys.argv[2:4]; del sys.argv[1:4]; "
          "from ds01.client import main; main(name, module)")
PLAIN = "(bob's plain names)"  # a case: bob's things by the names he types, which mean alice's own to her
CONTAINER_KINDS = {"containers", "running", "unpaused", "stopped", "inactive", "paused"}
PATH_NAMES = {"--workspace", "--data", "--models", "--root", "--output", "--dir", "--prefix", "--sysconfdir",
              "--destdir", "--socket", "--auth-file", "--project"}


# ------------------------------------------------------------------ the cases, from the table


def _cli(command):
    return standard(importlib.import_module(command.module).cli)


def _params(command):
    """(options, positionals) of a command as its own parser has them; --help included."""
    cli = _cli(command)
    ctx = cli.make_context(command.name, [], resilient_parsing=True)  # context_settings apply (-h)
    params = cli.get_params(ctx)
    return ([p for p in params if p.param_type_name == "option"],
            [p for p in params if p.param_type_name == "argument"])


def _cases():
    cases = []
    for command in registry.COMMANDS:
        cases.append(pytest.param(command.name, None, id=f"{command.name}"))
        if set(command.args) & (CONTAINER_KINDS | {"images"}):
            cases.append(pytest.param(command.name, PLAIN, id=f"{command.name}-plain-names"))
        for param in _params(command)[0]:
            option = authority.option_name(param)
            cases.append(pytest.param(command.name, option, id=f"{command.name}{option}"))
    return cases


# ------------------------------------------------------------------ the world: bob's things, root's things


@dataclass
class World:
    lab: GpuLab
    alice: object
    bob: object
    running: str  # bob's containers (full names)
    stopped: str
    image: str  # bob's image
    claim: str  # bob's GPU claim
    private: Path  # bob's 0700 directory, with a 0600 secret and a Dockerfile
    bob_secret: str
    root_file: Path  # root's 0600 file
    root_secret: str
    policy: Path  # root-owned, 0644: alice an admin, huge limits
    slot_weight: dict  # slot id or uuid -> (uuid, GPU-equivalents)
    mine_image: str  # the id of alice's own image `mine` (made again after a case deleted or rebuilt it)
    dockerfile: str  # the Dockerfile of alice's `mine`


@pytest.fixture(scope="module")
def world(shared_tmp, users, dockerd, client):
    directory = shared_tmp / "authority-walk"
    directory.mkdir(mode=0o755)
    catalog = directory / "ml_images.repo"  # the sandbox's catalog image is the base with pip/apt stand-ins
    catalog.write_text(f"Pytorch, 2.7.1, [CUDA_ADA;CUDA_AMPERE], {TEST_CATALOG_IMAGE}\n")
    os.chmod(catalog, 0o644)
    lab = GpuLab(directory, users, dockerd, extra=f"aime: {{catalog: {catalog}}}\n")
    alice, bob = users["alice"], users["bob"]
    for entry in (alice, bob):
        _clean_home(entry)
    sh = lab.sh
    sh.run(bob, "container-create", "victim", IMAGE, "--num-gpus", "1", check=True)
    sh.run(bob, "container-start", "victim", check=True)
    sh.run(bob, "container-create", "parked", IMAGE, "--cpu-only", check=True)
    parked = f"parked._.{bob.pw_uid}"
    image = f"ds01-{bob.pw_uid}/thesis:latest"
    client.containers.get(parked).commit(repository=f"ds01-{bob.pw_uid}/thesis", tag="latest")
    claim = sh.records(bob, "gpu-allocate", "--num-gpus", "1", "--ttl", "7200")[0]["claim"]
    sh.run(alice, "container-create", "mine", IMAGE, "--cpu-only", check=True)
    dockerfile = f"FROM {IMAGE}\n"

    bob_secret = "BOB-SECRET-" + secrets.token_hex(8)
    private = Path(bob.pw_dir) / "private"
    shutil.rmtree(private, ignore_errors=True)  # another module's test may have left one of its own
    private.mkdir(mode=0o700)
    (private / "secret.txt").write_text(bob_secret + "\n")
    (private / "Dockerfile").write_text(f"FROM {image}\nRUN cat {private / 'secret.txt'}\n")
    (private / "requirements.txt").write_text(bob_secret + "\n")
    for path in (private, *private.iterdir()):
        os.chown(path, bob.pw_uid, bob.pw_gid)
        os.chmod(path, 0o700 if path.is_dir() else 0o600)

    root_dir = directory / "roots"
    root_dir.mkdir(mode=0o755)
    root_secret = "ROOT-SECRET-" + secrets.token_hex(8)
    root_file = root_dir / "secret"
    root_file.write_text(root_secret + "\n")
    os.chmod(root_file, 0o600)
    shipped = yaml.safe_load((REPO / "etc" / "ds01" / "resource-limits.yaml").read_text())
    shipped["defaults"].update(max_gpu_equivalents=99, max_gpu_slots_per_container=11, max_cpus=64, memory="512g",
                               memory_swap="512g", pids_limit=1000000, max_containers_per_user=99)
    shipped["groups"] = {"student": {"members": [alice.pw_name]}}
    shipped["access_control"] = {"admin_users": [alice.pw_name]}
    shipped["images"] = {"allowed": ["*"]}
    shipped["gpu"] = {"inventory": str(EXAMPLE)}
    policy = root_dir / "resource-limits.yaml"
    policy.write_text(yaml.safe_dump(shipped))
    os.chmod(policy, 0o644)

    from ds01.gpu import simulated

    slots = simulated.load(str(EXAMPLE)).slots()
    weights = {**{s.uuid: (s.uuid, s.weight) for s in slots}, **{s.id: (s.uuid, s.weight) for s in slots}}
    world = World(lab, alice, bob, f"victim._.{bob.pw_uid}", parked, image, claim, private, bob_secret, root_file,
                  root_secret, policy, weights, "", dockerfile)
    clean_alice(world, client)
    yield world
    for container in client.containers.list(all=True):
        container.remove(force=True)
    for tag in (t for i in client.images.list() for t in i.tags):
        if tag not in (sandbox.BASE_IMAGE, sandbox.ML_BASE_IMAGE):
            client.images.remove(tag, force=True)
    for entry in (alice, bob):
        _clean_home(entry)
    shutil.rmtree(private, ignore_errors=True)


def _clean_home(entry):
    for name in ("workspace", "dockerfiles"):
        shutil.rmtree(os.path.join(entry.pw_dir, name), ignore_errors=True)


# ------------------------------------------------------------------ hostile values


def _positional_values(world, command, positionals, case):
    """A value for each positional, by its completion kind (the table's `args`; the last repeats): bob's things
    by their full names (case None), by the names bob types (PLAIN), or, for an option's case, alice's own
    container and image and a new name, so that the option itself is reached."""
    bob = world.bob
    hostile = case is None
    values = []
    for index in range(len(positionals)):
        kind = command.args[min(index, len(command.args) - 1)] if command.args else ""
        if kind in ("containers", "running", "unpaused"):
            value = {None: world.running, PLAIN: "victim"}.get(case, "mine")
        elif kind in ("stopped", "inactive", "paused"):
            value = {None: world.stopped, PLAIN: "parked"}.get(case, "mine")
        elif kind == "images":
            value = {None: world.image, PLAIN: "thesis"}.get(case, "mine")
        elif kind == "image-or-framework":
            value = world.image if hostile else IMAGE
        elif kind == "users":
            value = bob.pw_name
        elif kind == "gpus":
            value = "0"
        elif kind in ("frameworks", "versions"):
            value = ANSI if hostile else {"frameworks": "Pytorch", "versions": "2.7.1"}[kind]
        elif kind == "projects":
            value = f"../../{bob.pw_name}/private" if hostile else "walk"
        else:
            value = ANSI if hostile else "walk"
        if command.name == "ds01-upgrade":
            value = str(world.private)
        if index and kind in CONTAINER_KINDS:  # a COMMAND run in a container: it must not reach bob's or root's
            values += ["cat", str(world.private / "secret.txt"), str(world.root_file)]
        else:
            values.append(value)
    return values


def _option_values(world, option, param):
    """The option and a hostile value for it, by its name, then by its type."""
    if param.is_flag or param.count or getattr(param, "is_bool_flag", False):
        return [option]
    by_name = {
        "--config": str(world.policy), "--user": world.bob.pw_name, "--image": world.image,
        "--base-image": world.image, "--claim": world.claim, "--container": world.running,
        "--num-gpus": ABSURD, "--num_gpus": ABSURD, "--wait": ABSURD, "--ttl": ABSURD, "--gpu-profile": "7g.40gb",
        "--requirements": str(world.root_file), "--dockerfile": str(world.private / "Dockerfile"),
        "--doctor-arg": f"--config={world.policy}", "--install-arg": f"--prefix={world.private}",
        "--listen": "0.0.0.0:1", "--exporter": "http://127.0.0.1:1/", "--field": ANSI,
        "--packages": f"$(cat {world.private / 'secret.txt'})", "--add": f"$(cat {world.root_file})",
        "--system": "x; cat /etc/shadow", "--add-system": "x; cat /etc/shadow", "--remove": ANSI,
    }
    if option in by_name:
        return [option, by_name[option]]
    if isinstance(param.type, click.Choice):
        return [option, param.type.choices[-1]]
    if isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType)):
        return [option, ABSURD]
    metavar = (param.metavar or "").upper()
    if option in PATH_NAMES or option.endswith("_dir") or any(m in metavar for m in ("PATH", "DIR", "FILE")):
        return [option, str(world.private)]
    return [option, ANSI]


def _argv(world, command, option):
    options, positionals = _params(command)
    argv = _positional_values(world, command, positionals, option if option in (None, PLAIN) else "option")
    if option not in (None, PLAIN):
        param = next(p for p in options if authority.option_name(p) == option)
        given = _option_values(world, option, param)
        argv = given + argv  # options first: a trailing COMMAND... positional would take them as its words
    return argv


# ------------------------------------------------------------------ running a call as alice


@dataclass
class Call:
    argv: list
    returncode: int | None  # None: it ran until interrupted
    stdout: str
    stderr: str


def _call(world, command, argv, timeout):
    sh, alice = world.lab.sh, world.alice
    process = subprocess.Popen(
        sandbox.as_user_command(alice, [sys.executable, "-I", "-c", CLIENT, str(REPO), command.name,
                                        command.module, *argv]),
        env=sh.env(alice), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd="/", errors="replace")
    try:
        out, err = process.communicate(timeout=timeout)
        return Call(argv, process.returncode, out, err)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # the client passes it to its worker, which ends as for ^C
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        return Call(argv, None, out, err)


# ------------------------------------------------------------------ what must not change, what must hold


def _tree(root):
    """Every entry under `root`: type, mode, owner, size, and a file's content."""
    found = {}
    for path in [Path(root), *sorted(Path(root).rglob("*"))]:
        info = path.lstat()
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) and info.st_size < 65536 else None
        found[str(path)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
                            info.st_size, content)
    return found


def _alice_owns(world, name):
    return name.lstrip("/").endswith(f"._.{world.alice.pw_uid}")


def _alice_tag(world, tag):
    return tag.startswith(f"ds01-{world.alice.pw_uid}/") or tag.endswith(f"._.{world.alice.pw_uid}")


def _state_file(world, name):
    path = world.lab.state / name
    try:
        return json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None


def _others_state(world):
    """The state dir's records that are not alice's (claims, releases, the queue)."""
    alice = world.alice.pw_name
    others: dict[str, object] = {}
    for name in ("gpu-claims.json", "gpu-released.json", "gpu-queue.json"):
        data = _state_file(world, name)
        if isinstance(data, dict):
            others[name] = {k: v for k, v in data.items() if not (isinstance(v, dict) and v.get("user") == alice)}
        elif isinstance(data, list):
            others[name] = [v for v in data if not (isinstance(v, dict) and v.get("user") == alice)]
        else:
            others[name] = data
    return others


def snapshot(world, client):
    """Everything alice must not change: other users' containers and images, bob's files, root's files, the
    state dir's records of others."""
    containers = {}
    for summary in client.api.containers(all=True):
        info = client.api.inspect_container(summary["Id"])
        if _alice_owns(world, info["Name"]):
            continue
        state = info["State"]
        containers[info["Name"]] = (info["Id"], state["Status"], state["Paused"], state["StartedAt"],
                                    state["FinishedAt"], info["Image"], info["Config"]["Labels"],
                                    json.dumps(info["HostConfig"], sort_keys=True))
    images = {tag: image["Id"] for image in client.api.images() for tag in image.get("RepoTags") or ()
              if not _alice_tag(world, tag)}
    return {"containers": containers, "images": images, "bob_home": _tree(world.bob.pw_dir),
            "roots": _tree(world.root_file.parent), "state": _others_state(world)}


def alice_limits_hold(world, client):
    """alice's containers and claims, against her limits in the walk's policy."""
    alice = world.alice
    mine = [client.api.inspect_container(c["Id"]) for c in client.api.containers(all=True)
            if _alice_owns(world, c["Names"][0])]
    assert len(mine) <= ALICE_CONTAINERS, [c["Name"] for c in mine]
    held = set()
    allowed_sources = (alice.pw_dir + "/", str(world.lab.state) + "/")
    for info in mine:
        host, name = info["HostConfig"], info["Name"]
        cpus = host["NanoCpus"] / 1e9 if host.get("NanoCpus") else (host.get("CpuQuota") or 0) / (
            host.get("CpuPeriod") or 100000)
        assert 0 < cpus <= ALICE_CPUS, (name, host.get("NanoCpus"), host.get("CpuQuota"))
        assert 0 < host["Memory"] <= ALICE_MEMORY, (name, host["Memory"])
        assert host["PidsLimit"] and 0 < host["PidsLimit"] <= ALICE_PIDS, (name, host["PidsLimit"])
        assert not host["Privileged"] and not host.get("CapAdd"), (name, host["Privileged"], host.get("CapAdd"))
        assert info["Config"]["User"] == f"{alice.pw_uid}:{alice.pw_gid}", (name, info["Config"]["User"])
        for mount in info.get("Mounts") or ():
            source = mount.get("Source") or ""
            assert mount["Type"] != "bind" or source.startswith(allowed_sources) or not _under_others(
                world, source), (name, source)
        devices = [d for r in host.get("DeviceRequests") or () for d in r.get("DeviceIDs") or ()]
        assert all(r.get("Count") in (0, None) for r in host.get("DeviceRequests") or ()), (name, "GPU count")
        assert len(devices) <= ALICE_SLOTS, (name, devices)
        held |= {world.slot_weight.get(d, (d, 1.0)) for d in devices}
    claims = _state_file(world, "gpu-claims.json") or {}
    for claim in claims.values():
        if isinstance(claim, dict) and claim.get("user") == alice.pw_name:
            assert len(claim.get("slots") or ()) <= ALICE_SLOTS, claim
            held |= {world.slot_weight.get(s, (s, 1.0)) for s in claim.get("slots") or ()}
    assert sum(weight for _, weight in held) <= ALICE_EQ + 1e-9, sorted(held)


def _under_others(world, source):
    """True for a host path alice must not get in a container: bob's home, root's files, the policy."""
    real = os.path.realpath(source)
    return any(real == p or real.startswith(p + "/") for p in (world.bob.pw_dir, str(world.root_file.parent),
                                                               "/root", "/etc", "/var/lib/ds01"))


def clean_alice(world, client):
    """alice's containers, images, claims and files, as they were before the case: her stopped container and
    image `mine` (with its Dockerfile), nothing else."""
    alice = world.alice
    mine, mine_image = f"mine._.{alice.pw_uid}", f"ds01-{alice.pw_uid}/mine:latest"
    for summary in client.api.containers(all=True):
        name = summary["Names"][0].lstrip("/")
        if not _alice_owns(world, name):
            continue
        if name != mine:
            client.api.remove_container(summary["Id"], force=True)
        elif summary["State"] in ("running", "paused", "restarting"):
            client.api.kill(summary["Id"])
    for image in client.api.images():
        for tag in image.get("RepoTags") or ():
            kept = tag.endswith(f":{mine}") or (tag == mine_image and image["Id"] == world.mine_image)
            if _alice_tag(world, tag) and not kept:
                client.api.remove_image(tag, force=True)
    for name in ("gpu-claims.json", "gpu-released.json", "gpu-queue.json"):
        data = _state_file(world, name)
        if isinstance(data, dict) and any(_of(alice, v) for v in data.values()):
            _write_state(world, name, {k: v for k, v in data.items() if not _of(alice, v)})
        elif isinstance(data, list) and any(_of(alice, v) for v in data):
            _write_state(world, name, [v for v in data if not _of(alice, v)])
    _clean_home(alice)
    workspace = Path(alice.pw_dir) / "workspace"
    for path in (workspace, workspace / "mine"):
        path.mkdir(exist_ok=True)
        os.chown(path, alice.pw_uid, alice.pw_gid)
    (workspace / "mine" / "Dockerfile").write_text(world.dockerfile)
    os.chown(workspace / "mine" / "Dockerfile", alice.pw_uid, alice.pw_gid)
    if not any(c["Names"][0].lstrip("/") == mine for c in client.api.containers(all=True)):
        world.lab.sh.run(alice, "container-create", "mine", IMAGE, "--cpu-only", check=True)
    if not any(image["Id"] == world.mine_image and mine_image in (image.get("RepoTags") or ())
               for image in client.api.images()):
        world.mine_image = client.api.commit(mine, repository=f"ds01-{alice.pw_uid}/mine", tag="latest")["Id"]


def _of(entry, record):
    return isinstance(record, dict) and record.get("user") == entry.pw_name


def _write_state(world, name, data):
    path = world.lab.state / name
    mode = stat.S_IMODE(path.stat().st_mode)
    temporary = path.with_suffix(".walk")
    temporary.write_text(json.dumps(data))
    os.chmod(temporary, mode)
    os.replace(temporary, path)


# ------------------------------------------------------------------ the walk


@pytest.mark.parametrize(("name", "option"), _cases())
def test_a_student_gets_nothing_beyond_their_own_things_from_any_command_or_option(world, client, name, option):
    command = registry.by_name()[name][0]
    level = command.who if option in (None, PLAIN) else command.option_who(option)
    assert level is not None, f"{name} {option}: the command table does not classify this option (registry.py)"
    if option in authority.READING_ONLY and command.served:
        level = registry.ANYONE  # --help and --version: any command's, for anyone (ds01d's rule)
    refused = level != registry.ANYONE or not command.served
    argv = _argv(world, command, option)
    before = snapshot(world, client)
    streams = option in STREAMS or name in STREAMING_COMMANDS
    call = _call(world, command, argv, STREAM_TIMEOUT_S if streams else TIMEOUT_S)
    said = call.stdout + call.stderr
    try:
        shown = f"{name} {argv!r} -> {call.returncode}\n{call.stderr[-2000:]}"
        if refused:
            assert call.returncode == 5, shown
            assert call.stderr.startswith(f"{name}: error: ") and "\n  hint: " in call.stderr, shown
        else:
            assert call.returncode is not None or streams, f"hung: {shown}"
        assert "internal error" not in said and "Traceback" not in said, shown
        assert world.bob_secret not in said and world.root_secret not in said, f"leaked: {shown}"
        assert snapshot(world, client) == before, shown
        alice_limits_hold(world, client)
    finally:
        clean_alice(world, client)


def test_an_option_the_table_does_not_classify_fails_the_walk():
    """What makes the walk fail for a new option: the table's answer for it is None (checked before the call)."""
    command = registry.by_name()["container-list"][0]
    assert command.option_who("--surely-not-an-option") is None
    assert command.option_who("--all") == registry.ANYONE and command.option_who("--all-users") == registry.ADMIN
