"""What a container gets at create is decided by the host, never by the user's image, and a create that is
interrupted leaves nothing behind (issue 29: findings 2, 7c and 7d), written as the attacks."""

import fcntl
import grp
import json
import os
import signal
import threading
from types import SimpleNamespace

import pytest

from tests.support import sandbox
from tests.support.gpulab import GpuLab

IMAGE = sandbox.BASE_IMAGE
SECRET = "not for alice"  # noqa: S105 - a file's text


def build(client, tag, *steps):
    """An image FROM the sandbox's base with `steps` (RUN lines) applied, tagged `tag` (the user's own name)."""
    from ds01.images import context_tar

    text = f"FROM {IMAGE}\n" + "".join(f"RUN {step}\n" for step in steps)
    client.images.build(fileobj=context_tar({"Dockerfile": (text, 0o644)}), custom_context=True, tag=tag, rm=True)
    return tag


@pytest.fixture
def guarded(data_root, request):
    """Two files in the shared data area alice mounts: another group's 0660 file and a root:root 0640 one."""
    project = sandbox.ensure_group("ds01t_proj")
    area = data_root / "corpus"
    stem = f"guarded-{abs(hash(request.node.nodeid)):x}"
    group_file, root_file = area / f"{stem}-proj", area / f"{stem}-root"
    for path, gid, mode in ((group_file, project, 0o660), (root_file, 0, 0o640)):
        path.write_text(SECRET + "\n")
        os.chown(path, 0, gid)
        os.chmod(path, mode)
    yield project, group_file, root_file
    group_file.unlink()
    root_file.unlink()


def host_gid(name):
    return grp.getgrnam(name).gr_gid


def inside(sh, user, name, script):
    return sh.run(user, "container-run", name, "--", "sh", "-c", script)


def assert_only_host_groups(sh, alice, name, group_file, root_file):
    ids = inside(sh, alice, name, "id -G")
    assert ids.returncode == 0, ids.stderr
    assert sorted(map(int, ids.stdout.split())) == sorted({alice.pw_gid, host_gid("video")}), ids.stdout
    for path in (group_file, root_file):
        read = inside(sh, alice, name, f"cat /data/{path.name}; echo more >> /data/{path.name}")
        assert SECRET not in read.stdout and "Permission denied" in read.stderr, read.stdout + read.stderr
        assert path.read_text() == SECRET + "\n"


@pytest.mark.parametrize("variant", ["video-is-root", "video-is-the-project-group", "a-group-named-like-the-gid",
                                     "alice-listed-in-root"])
def test_an_images_etc_group_gives_no_supplementary_group(sh, users, client, guarded, data_root, variant):
    """alice's image says `video:x:0:` (or the gid of a group owning 0660 files in the data area, or names a group
    after the host's video gid so Docker's lookup by name finds it first, or lists her in root's group): her
    processes still get only her own gid and the host's video gid, and the other group's 0660 file and a
    root:root 0640 file on her mount stay unreadable and unwritable."""
    alice = users["alice"]
    project, group_file, root_file = guarded
    video = host_gid("video")
    line = {"video-is-root": "video:x:0:",
            "video-is-the-project-group": f"video:x:{project}:",
            "a-group-named-like-the-gid": f"{video}:x:0:",
            "alice-listed-in-root": f"root:x:0:{alice.pw_name}"}[variant]
    image = build(client, f"ds01-{alice.pw_uid}/groups-{variant}:latest",
                  f"grep -v '^video:' /etc/group > /g && printf '%s\\n' '{line}' | cat - /g > /etc/group && rm /g")
    created = sh.run(alice, "container-create", "grp", image, "--cpu-only", "-d", str(data_root / "corpus"))
    assert created.returncode == 0, created.stderr
    started = sh.run(alice, "container-start", "grp")
    assert started.returncode == 0, started.stderr
    assert_only_host_groups(sh, alice, "grp", group_file, root_file)
    names = inside(sh, alice, "grp", "id -Gn; ls -ld /etc /etc/group").stdout
    assert "video" in names and "root root" in names  # the host's gid has the name, in a file only root writes


def test_with_sudo_the_sudo_group_is_the_hosts_gid_too(sh, users, client):
    """bob's group has `sudo: true`; his image says `video:x:0:` and `sudo:x:0:`: his processes get the host's video
    and sudo gids (he is root in that container anyway: Docker's default capabilities, docs/security.md)."""
    bob = users["bob"]
    image = build(client, f"ds01-{bob.pw_uid}/groups-sudo:latest",
                  "sed -i -e 's/^video:x:[0-9]*:/video:x:0:/' -e 's/^sudo:x:[0-9]*:/sudo:x:0:/' /etc/group")
    assert sh.run(bob, "container-create", "gs", image, "--cpu-only").returncode == 0
    assert sh.run(bob, "container-start", "gs").returncode == 0
    ids = inside(sh, bob, "gs", "id -G; id -Gn")
    numbers, names = ids.stdout.splitlines()
    assert sorted(map(int, numbers.split())) == sorted({bob.pw_gid, host_gid("video"), host_gid("sudo")})
    assert {"video", "sudo"} <= set(names.split())


def test_an_etc_group_the_image_leaves_writable_cannot_be_edited_into_a_group(sh, users, client, guarded, data_root):
    """The image makes /, /etc and /etc/group world-writable; alice adds `<video gid>:x:0:` from inside (in place, by
    a new file, or by a new /etc) and opens a new session (every `docker exec` resolves the groups again) and
    restarts the container: still only the host's gids."""
    alice = users["alice"]
    _, group_file, root_file = guarded
    image = build(client, f"ds01-{alice.pw_uid}/groups-writable:latest",
                  "chmod 0777 / /etc && chmod 0666 /etc/group")
    assert sh.run(alice, "container-create", "grw", image, "--cpu-only", "-d", str(data_root / "corpus")
                  ).returncode == 0
    assert sh.run(alice, "container-start", "grw").returncode == 0
    line = f"{host_gid('video')}:x:0:"
    for edit in (f"echo {line} >> /etc/group", f"echo {line} | cat - /etc/group > /etc/g && mv /etc/g /etc/group",
                 f"mv /etc /etc.old && mkdir /etc && cp -a /etc.old/. /etc/ && sed -i '1i {line}' /etc/group"):
        assert inside(sh, alice, "grw", edit).returncode != 0, edit
    assert_only_host_groups(sh, alice, "grw", group_file, root_file)
    assert sh.run(alice, "container-stop", "grw").returncode == 0
    assert sh.run(alice, "container-start", "grw").returncode == 0
    assert_only_host_groups(sh, alice, "grw", group_file, root_file)


def test_an_image_built_by_the_user_cannot_bring_its_own_groups_either(sh, users, client, guarded, data_root):
    """The same attack through image-create: a Dockerfile of alice's names the host's video gid as a group of gid 0
    and makes video gid 0; an image built on it with the account baked in (-t custom --base-image) too."""
    alice = users["alice"]
    _, group_file, root_file = guarded
    dockerfiles = os.path.join(alice.pw_dir, "dockerfiles")
    sh.run(alice, "mkdir", "-p", dockerfiles, check=True)
    path = os.path.join(dockerfiles, "evil.Dockerfile")
    sh.run(alice, "sh", "-c", f"cat > {path}", check=True,
           input=f"FROM {sandbox.ML_BASE_IMAGE}\nRUN sed -i '1i {host_gid('video')}:x:0:' /etc/group && "
                 "sed -i 's/^video:x:[0-9]*:/video:x:0:/' /etc/group\n")
    built = sh.run(alice, "image-create", "evil", "--dockerfile", path)
    assert built.returncode == 0, built.stderr
    baked = sh.run(alice, "image-create", "own", "-t", "custom", "--no-jupyter", "--no-data-science",
                   "--base-image", f"ds01-{alice.pw_uid}/evil:latest")
    assert baked.returncode == 0, baked.stderr[-300:] + sh.broker().log_tail()
    for name in ("evil", "own"):
        created = sh.run(alice, "container-create", name, "--cpu-only", "-d", str(data_root / "corpus"))
        assert created.returncode == 0, created.stderr + sh.broker().log_tail()
        assert sh.run(alice, "container-start", name).returncode == 0
        assert_only_host_groups(sh, alice, name, group_file, root_file)


def test_a_second_container_of_an_image_gets_the_same_groups_from_roots_cache(sh, users, client, guarded, data_root,
                                                                             state_dir):
    """An image with alice's account already (its labels say so, as image-create writes them) whose /etc/group
    names the host's video gid as gid 0 and makes video gid 0, and leaves /etc/group writable. Her first container
    reads the image's group files and keeps them in root's state dir (0600); her second reads nothing of the image
    (no archive read in the engine's log) and is set up the same: only the host's gids, /etc/group root's."""
    import time

    alice = users["alice"]
    _, group_file, root_file = guarded
    image = build(client, f"ds01-{alice.pw_uid}/groups-cached:latest",
                  f"sed -i '1i {host_gid('video')}:x:0:' /etc/group && sed -i 's/^video:x:[0-9]*:/video:x:0:/' "
                  "/etc/group && chmod 0666 /etc/group")
    labelled = f"ds01-{alice.pw_uid}/groups-cached-own:latest"
    from ds01.images import context_tar

    dockerfile = (f"FROM {image}\nLABEL aime.mlc.DS01_USER_ID={alice.pw_uid} "
                  f"aime.mlc.DS01_GROUP_ID={alice.pw_gid}\nRUN useradd -u {alice.pw_uid} -m {alice.pw_name} || true\n")
    client.images.build(fileobj=context_tar({"Dockerfile": (dockerfile, 0o644)}), custom_context=True, tag=labelled,
                        rm=True)
    digest = client.images.get(labelled).id.split(":", 1)[1]
    cache = state_dir / f"image-etc-{digest}.groups.json"
    for name in ("gc1", "gc2"):
        since = time.time()
        created = sh.run(alice, "container-create", name, labelled, "--cpu-only", "-d", str(data_root / "corpus"))
        assert created.returncode == 0, created.stderr
        reads = client.api.events(since=f"{since:.6f}", until=f"{time.time():.6f}", decode=True,
                                  filters={"event": "archive-path", "container": f"{name}._.{alice.pw_uid}"})
        assert (len(list(reads)) > 0) == (name == "gc1")  # the second container's group files came from the cache
        assert cache.stat().st_uid == 0 and cache.stat().st_mode & 0o777 == 0o600
        assert sh.run(alice, "container-start", name).returncode == 0
        assert_only_host_groups(sh, alice, name, group_file, root_file)
        assert "-rw-r--r-- 1 root root" in inside(sh, alice, name, "ls -l /etc/group").stdout


# -------------------------------------------------- 7c: an image's /etc/skel and account files are bounded


@pytest.fixture
def lab(user_tmp, users, dockerd, sh):
    return GpuLab(user_tmp, users, dockerd)


def own_image(client, alice, name, *steps):
    return build(client, f"ds01-{alice.pw_uid}/{name}:latest", *steps)


def watch(client, event, name, act):
    """In a thread: call `act()` at the engine's first `event` about the object called `name` (the engine's own
    event stream: no sleeps). Returns the thread (join it) and a list that holds act's result."""
    import time

    stream = client.api.events(since=f"{time.time():.6f}", decode=True, filters={"event": event})
    seen = []

    def run():
        for found in stream:
            attributes = (found.get("Actor") or {}).get("Attributes") or {}
            if name in (attributes.get("name"), found.get("id")):
                seen.append(act())
                break
        stream.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, seen


def lock_is_free(lab):
    fd = os.open(lab.state / "gpu.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_huge_etc_skel_is_left_out_with_a_warning_read_outside_the_allocator_lock(lab, users, client):
    """alice's image has a 60 MB /etc/skel (one big file; and, in a second image, 2,000 small ones). Her GPU create
    succeeds and says her home starts with only .bashrc; the image's account files are read while the allocator
    lock is free (bob's gpu-allocate is never held up by them); the cache in root's state dir stays small."""
    alice = users["alice"]
    big = own_image(client, alice, "bigskel", "head -c 60000000 /dev/zero > /etc/skel/big.bin")
    many = own_image(client, alice, "manyskel", "mkdir /etc/skel/d && cd /etc/skel/d && seq 2000 | xargs touch")
    for name, image in (("big", big), ("many", many)):
        container = f"{name}._.{alice.pw_uid}"
        reading, free = watch(client, "archive-path", container, lambda: lock_is_free(lab))
        created = lab.sh.run(alice, "container-create", name, image, "--num-gpus", "1")
        reading.join(60)
        assert created.returncode == 0, created.stderr
        assert free == [True]  # the account files are read with the allocator lock free
        assert "your home starts with only .bashrc" in created.stderr and "256 entries, 1 MiB" in created.stderr
        assert lab.sh.run(alice, "container-start", name).returncode == 0
        listing = inside(lab.sh, alice, name, "ls -A ~").stdout.split()
        assert ".bashrc" in listing and "big.bin" not in listing and "d" not in listing
        digest = client.images.get(image).id.split(":", 1)[1]
        cache = lab.state / f"image-etc-{digest}.json"
        assert cache.stat().st_size < 64 << 10  # the account files only: no skel
        again = lab.sh.run(alice, "container-create", name + "2", image, "--cpu-only")
        assert again.returncode == 0 and "your home starts with only .bashrc" in again.stderr  # said from the cache too
        for made in (container, f"{name}2._.{alice.pw_uid}"):
            client.containers.get(made).remove(force=True)


def test_an_oversized_account_file_is_refused_and_leaves_nothing(lab, users, client):
    """An image whose /etc/passwd is 2 MB of lines: the create says so and leaves no container, tag or slot."""
    alice = users["alice"]
    image = own_image(client, alice, "bigpasswd",
                      "seq 100000 | sed 's/.*/user&:x:&:&::\\/home\\/user&:\\/bin\\/sh/' >> /etc/passwd")
    refused = lab.sh.run(alice, "container-create", "bp", image, "--num-gpus", "1")
    assert refused.returncode == 1
    assert "container-create: error: cannot set up your account in" in refused.stderr
    assert "/etc/passwd is larger than 1 MiB" in refused.stderr and "hint: docs/config.md" in refused.stderr
    assert not client.containers.list(all=True, filters={"name": "bp._."})
    assert not [t for i in client.images.list() for t in i.tags if t.endswith(f":bp._.{alice.pw_uid}")]
    assert not [r for r in lab.sh.records(alice, "gpu-status") if r.get("holders") or r.get("user")]


# ---------------------------------------------------------------- 7d: an interrupted create leaves no GPU held


def test_the_rollback_removes_by_name_a_container_whose_id_never_came_back(dockerd, client, users):
    """The create request went out and its answer was lost: the rollback finds the container by its name and
    removes it when its labels are the plan's, and leaves a same-named container with other labels alone."""
    from ds01.engine import Engine

    name = f"lost._.{users['alice'].pw_uid}"
    labels = {"aime.mlc.DS01_CREATED_AT": "2026-12-06T12:00:00Z", "aime.mlc.DS01_GPU_SLOTS": "0.0"}

    def plan(sent):
        return SimpleNamespace(container=name, labels=labels, container_id="", create_sent=sent, pins="",
                               tag_image="")

    engine = Engine(dockerd.host)
    client.containers.create(IMAGE, name=name, labels=labels)
    engine.rollback(plan(sent=False))  # never sent: nothing of this create's can exist
    assert client.containers.list(all=True, filters={"name": name})
    engine.rollback(plan(sent=True))
    assert not client.containers.list(all=True, filters={"name": name})
    client.containers.create(IMAGE, name=name, labels={**labels, "aime.mlc.DS01_CREATED_AT": "earlier"})
    engine.rollback(plan(sent=True))  # another create's container of that name
    assert client.containers.list(all=True, filters={"name": name})


def test_a_container_of_another_image_than_the_one_checked_is_refused_before_its_etc_is_read(dockerd, client,
                                                                                              users):
    """The review's race, made directly: the name a create checked (one image) named another image by the time the
    engine made the container. set_up refuses it before it reads the container's /etc, so nothing of that image is
    cached under the checked image's ID (for every user of it) or written into the container."""
    import time

    from ds01.engine import Engine
    from ds01.errors import Ds01Error

    alice = users["alice"]
    other = build(client, f"ds01-{alice.pw_uid}/moved:latest", "printf 'evil:x:0:nobody\\n' >> /etc/group")
    checked = client.images.get(IMAGE).id
    made = client.containers.create(other, ["true"], name=f"moved._.{alice.pw_uid}")
    plan = SimpleNamespace(image=IMAGE, image_id=checked, account_setup=True, groups={})
    since = time.time()
    try:
        with pytest.raises(Ds01Error, match="changed while your container was being made"):
            Engine(dockerd.host).set_up(made.id, plan, client.api.inspect_container(made.id)["Image"])
        touched = client.api.events(since=f"{since:.6f}", until=f"{time.time():.6f}", decode=True,
                                    filters={"container": made.id})
        assert [e["Action"] for e in touched] == []  # no archive read, no archive written
    finally:
        made.remove(force=True)
        client.images.remove(other)


def _kill_at(lab, users, client, event, how, image):
    """alice's GPU create; at the engine's `event` about it, her client gets `how` (SIGKILL, or SIGTERM, which
    it passes on to its worker). Returns the container's name."""
    from tests.support.brokers import children, worker_exits

    alice = users["alice"]
    broker = lab.sh.broker()
    before = set(children(broker.process.pid))
    name = f"k{event.replace('-', '')}{how}"[:20]
    container = f"{name}._.{alice.pw_uid}"
    holder = {}
    target = f"{image.rsplit(':', 1)[0]}:{container}" if event == "tag" else container
    thread, _ = watch(client, event, target, lambda: os.kill(holder["pid"], how))
    process = lab.sh.popen(alice, "container-create", name, image, "--num-gpus", "1")
    holder["pid"] = process.pid
    thread.join(60)
    process.communicate(timeout=120)
    worker_exits(broker, before)
    return container


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_a_killed_gpu_create_leaves_no_slot_held(lab, users, client, how):
    """alice's client dies (kill -9), or is told to stop (kill -TERM, which it passes on), as ds01 tags the image,
    as Docker makes the container, as its account files are read and as they are written: afterwards no container
    of that create holds a slot, no claim is left, and the next create gets the slot."""
    alice = users["alice"]
    image = own_image(client, alice, "plain", "true")
    for event in ("tag", "create", "archive-path", "extract-to-dir"):
        container = _kill_at(lab, users, client, event, how, image)
        left = client.containers.list(all=True, filters={"name": container})
        if event in ("tag", "create", "archive-path"):
            assert left == [], (event, how)
        for found in left:  # killed as the create finished: a whole container, left as a create leaves it
            assert found.status == "created"
            found.remove(force=True)
        assert lab.claims() == {}
        assert not [t for i in client.images.list() for t in i.tags if t.endswith(":" + container)] or left
    held = [r for r in lab.sh.records(alice, "gpu-status") if json.dumps(r).count(alice.pw_name)]
    assert held == []
    assert lab.sh.records(alice, "container-create", "after", image, "--num-gpus", "2")[0]["gpus"]
