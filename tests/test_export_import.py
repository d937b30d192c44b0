"""container-export / container-import (issue 31, item 8): a container moves between users as one file; the
importer gets a container of their own, checked as container-create checks one, and nothing in the file
(labels, paths, image names) is trusted."""

import io
import json
import os
import pathlib
import tarfile

import pytest

from ds01 import labels as L
from tests.support import sandbox
from tests.support.transfer_files import (
    CHANGE,
    alice_export,
    claiming_tags,
    containers_of,
    forge,
    forge_image_archive,
    handmade,
    on_top,
    saved,
    tar_of,
)

IMAGE = sandbox.BASE_IMAGE
def _image_ids(client):
    return {image.id for image in client.images.list(all=True)}


def test_a_container_moves_from_alice_to_bob_as_bobs_own(sh, users, client, drop):
    alice, bob = users["alice"], users["bob"]
    path = alice_export(sh, alice, drop)
    [made] = sh.records(bob, "container-import", str(path))
    assert made["name"] == "box"
    [box] = containers_of(client, bob)
    assert box.name == f"box._.{bob.pw_uid}" and box.labels[L.USER] == bob.pw_name
    assert box.attrs["Config"]["User"] == f"{bob.pw_uid}:{bob.pw_gid}"
    workspace = box.labels[L.WORK_MOUNT]
    assert workspace.startswith(bob.pw_dir + "/"), workspace  # bob's own workspace, not alice's path
    ran = sh.run(bob, "container-run", "box", "--", "cat", "/tmp/change.txt")
    assert ran.returncode == 0 and CHANGE in ran.stdout, ran.stderr
    # the image is bob's only: no tag of alice's repository or uid was made
    tags = [t for image in client.images.list() for t in image.tags]
    assert not [t for t in tags if f"ds01-{alice.pw_uid}/" in t or f"._.{alice.pw_uid}" in t and "box" not in t]
    assert any(t.startswith(f"ds01-{bob.pw_uid}/box:box._.{bob.pw_uid}") for t in tags), tags
    assert len(containers_of(client, alice)) == 1  # alice's is untouched


def test_mlc_export_and_import_in_aimes_syntax(sh, users, client, drop):
    alice, bob = users["alice"], users["bob"]
    sh.run(alice, "container-create", "ab", IMAGE, "--cpu-only", check=True)
    said = sh.run(alice, "mlc-export", "ab", "setup", str(drop), check=True)
    assert "container exported" in said.stdout
    os.chmod(drop / "setup.ds01-export.tar", 0o644)
    said = sh.run(bob, "mlc-import", "mine", "setup", str(drop))
    assert said.returncode == 0 and "[mine] container imported." in said.stdout, said.stderr
    assert [c.name for c in containers_of(client, bob)] == [f"mine._.{bob.pw_uid}"]


@pytest.mark.parametrize("where", ["manifest", "image layer"])
def test_a_changed_file_is_refused_and_nothing_is_made(sh, users, client, drop, where):
    alice, bob = users["alice"], users["bob"]
    path = alice_export(sh, alice, drop)
    data = path.read_bytes()
    login = alice.pw_name.encode()
    old, new = ((b'"exported_by": "' + login, b'"exported_by": "' + login.upper()) if where == "manifest"
                else (CHANGE.encode(), CHANGE.upper().encode()))
    assert old in data
    path.write_bytes(data.replace(old, new))
    before = _image_ids(client)
    refused = sh.run(bob, "container-import", str(path))
    assert refused.returncode == 1 and "checksum does not match" in refused.stderr, refused.stderr
    assert containers_of(client, bob) == [] and _image_ids(client) == before


def test_a_file_naming_alices_workspace_gives_bob_his_own(sh, users, client, drop):
    """The manifest and labels name /home/alice/workspace/box (they do: alice exported it); a forged file even
    says ds01.user=bob with alice's workspace. bob's container mounts bob's workspace; alice's file stays hers."""
    alice, bob = users["alice"], users["bob"]
    path = alice_export(sh, alice, drop)
    secret = os.path.join(alice.pw_dir, "workspace", "box", "secret.txt")
    with open(secret, "w") as handle:
        handle.write("alice's secret")

    def claim(name, data):
        if name != "ds01-export.json":
            return data
        manifest = json.loads(data)
        manifest["labels"][L.USER] = bob.pw_name
        manifest["labels"][L.WORK_MOUNT] = os.path.dirname(secret)
        manifest["mounts"] = {"/workspace": os.path.dirname(secret), "/data": alice.pw_dir}
        return json.dumps(manifest).encode()

    forged = forge(path, drop / "forged.tar", claim)
    [made] = sh.records(bob, "container-import", str(forged))
    [box] = containers_of(client, bob)
    sources = {m["Destination"]: m for m in box.attrs["Mounts"]}
    assert "/data" not in sources
    assert box.labels[L.WORK_MOUNT].startswith(bob.pw_dir + "/") and alice.pw_dir not in json.dumps(box.labels)
    ran = sh.run(bob, "container-run", "box", "--", "ls", "-A", "/workspace")
    assert ran.returncode == 0 and "secret.txt" not in ran.stdout, ran.stdout


def test_an_image_name_in_the_file_overwrites_no_one_s_image(sh, users, client, drop):
    """The file's image archive claims alice's image name and ds01's base image (manifest.json RepoTags and a
    `repositories` file, which `docker load` would tag): both still name their own images afterwards."""
    alice, bob = users["alice"], users["bob"]
    path = alice_export(sh, alice, drop)
    alices = f"ds01-{alice.pw_uid}/thesis:latest"
    client.images.get(IMAGE).tag(f"ds01-{alice.pw_uid}/thesis", "latest")
    before = {ref: client.images.get(ref).id for ref in (alices, IMAGE)}

    def repositories(dst, entries):
        image_id = os.path.basename(entries[0]["Config"]).removesuffix(".json")
        repos = json.dumps({f"ds01-{alice.pw_uid}/thesis": {"latest": image_id},
                            IMAGE.split(":")[0]: {IMAGE.split(":")[1]: image_id}}).encode()
        info = tarfile.TarInfo("repositories")
        info.size = len(repos)
        dst.addfile(info, io.BytesIO(repos))

    forged = forge_image_archive(path, drop / "renamed.tar",
                                 lambda data: claiming_tags(data, [alices, IMAGE], finish=repositories))
    result = sh.run(bob, "container-import", str(forged))
    assert result.returncode == 0, result.stderr
    assert {ref: client.images.get(ref).id for ref in before} == before
    assert len(containers_of(client, bob)) == 1


def test_an_import_over_the_container_quota_makes_nothing(sh, users, client, drop):
    alice, bob = users["alice"], users["bob"]
    path = alice_export(sh, alice, drop)
    made = 0
    while sh.run(bob, "container-create", f"c{made}", IMAGE, "--cpu-only").returncode == 0:  # up to bob's limit
        made += 1
    before = _image_ids(client)
    refused = sh.run(bob, "container-import", str(path), "box")
    assert refused.returncode == 3 and "CONTAINER_LIMIT" in refused.stderr, refused.stderr
    assert len(containers_of(client, bob)) == made and _image_ids(client) == before


def test_bob_cannot_export_alices_container(sh, users, client, drop):
    alice, bob = users["alice"], users["bob"]
    sh.run(alice, "container-create", "box", IMAGE, "--cpu-only", check=True)
    for target in ("box", f"box._.{alice.pw_uid}"):
        refused = sh.run(bob, "container-export", target, "-o", str(drop / "stolen.tar"))
        assert refused.returncode in (4, 5), refused.stderr
        assert not (drop / "stolen.tar").exists()


def test_import_reads_the_file_with_the_importers_rights(sh, users, client, drop):
    """bob names alice's private export (0600): ds01d, root, must not read it for him."""
    alice, bob = users["alice"], users["bob"]
    path = alice_export(sh, alice, drop)
    os.chmod(path, 0o600)
    refused = sh.run(bob, "container-import", str(path))
    assert refused.returncode == 5 and "cannot read" in refused.stderr, refused.stderr
    assert containers_of(client, bob) == []


def test_with_workspace_carries_the_files_into_the_importers_workspace(sh, users, client, drop):
    alice, bob = users["alice"], users["bob"]
    sh.run(alice, "container-create", "box", IMAGE, "--cpu-only", check=True)
    notes = os.path.join(alice.pw_dir, "workspace", "box", "notes.txt")
    sh.run(alice, "sh", "-c", f"echo thesis-notes > {notes}", check=True)
    path = drop / "box.tar"
    sh.run(alice, "container-export", "box", "-o", str(path), "--with-workspace", check=True)
    os.chmod(path, 0o644)
    sh.run(bob, "container-import", str(path), check=True)
    copied = os.path.join(bob.pw_dir, "workspace", "box", "notes.txt")
    with open(copied) as handle:
        assert handle.read() == "thesis-notes\n"
    assert os.stat(copied).st_uid == bob.pw_uid


def test_a_fifo_or_a_foreign_tar_is_refused_without_a_hang(sh, users, client, drop):
    bob = users["bob"]
    fifo = drop / "pipe"
    os.mkfifo(fifo, 0o666)
    os.chmod(fifo, 0o666)
    refused = sh.run(bob, "container-import", str(fifo), timeout=60)
    assert refused.returncode == 2 and "not a regular file" in refused.stderr, refused.stderr
    other = drop / "other.tar"
    with tarfile.open(other, "w") as archive:
        archive.add("/etc/hostname", arcname="../../etc/passwd")
    os.chmod(other, 0o644)
    refused = sh.run(bob, "container-import", str(other))
    assert refused.returncode == 1 and "unexpected member" in refused.stderr, refused.stderr
    assert containers_of(client, bob) == []


# ---- the file's image must be built on an image the importer may use here (images.allowed, catalog, own) ----

def _imported_rootfs(client, repository, files):
    """`docker import` of a tiny rootfs (a userland ds01 can set an account up in): layers rooted in nothing here."""
    userland = {"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n", "etc/group": b"root:x:0:\n"}
    client.api.import_image_from_data(tar_of({**userland, **files}), repository=repository, tag="latest")
    return client.images.get(f"{repository}:latest")


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*"))


def _nothing_left(sh, client, entry, before_images, state_dir, before_state):
    assert _image_ids(client) == before_images
    assert containers_of(client, entry) == []
    assert _tree(state_dir) == before_state
    assert not [t for image in client.images.list() for t in image.tags if t.startswith(f"ds01-{entry.pw_uid}/")]


def test_an_image_rooted_in_nothing_allowed_is_refused(sh, users, client, drop, state_dir):
    """alice hand-makes a file around a `docker import` of her own rootfs: no image she may use is under it."""
    alice = users["alice"]
    tiny = _imported_rootfs(client, "ds01-scratch/tiny", {"etc/motd": b"not from any allowed base\n"})
    path = handmade(drop / "tiny.tar", saved(client, tiny))
    client.images.remove(tiny.id, force=True)
    before, state = _image_ids(client), _tree(state_dir)
    refused = sh.run(alice, "container-import", str(path))
    assert refused.returncode == 5, refused.stderr
    assert "is not built on an image you may use here" in refused.stderr and "images.allowed" in refused.stderr
    _nothing_left(sh, client, alice, before, state_dir, state)


def test_an_image_built_on_bobs_private_image_is_refused_to_alice(sh, users, client, drop, state_dir):
    """bob's own image (rooted in nothing else on the host) is bob's to build on, not alice's: a file built on it
    is refused to alice and leaves nothing; bob may import the same file (his image is under it)."""
    alice, bob = users["alice"], users["bob"]
    private = _imported_rootfs(client, f"ds01-{bob.pw_uid}/private", {"secret.txt": b"bob's private image\n"})
    built = on_top(client, private, {"evil.txt": b"alice's layer\n"})
    path = handmade(drop / "on-bob.tar", saved(client, built), name="onbob")
    client.images.remove(built.id, force=True)
    before, state = _image_ids(client), _tree(state_dir)
    refused = sh.run(alice, "container-import", str(path))
    assert refused.returncode == 5 and "not built on an image you may use" in refused.stderr, refused.stderr
    _nothing_left(sh, client, alice, before, state_dir, state)
    assert client.images.get(f"ds01-{bob.pw_uid}/private:latest").id == private.id
    said = sh.run(bob, "container-import", str(path))
    assert said.returncode == 0, said.stderr
    assert [c.name for c in containers_of(client, bob)] == [f"onbob._.{bob.pw_uid}"]


def test_a_file_naming_bobs_layers_without_carrying_them_is_refused(sh, users, client, drop, state_dir):
    """`docker load` reuses a layer already on the host without reading it: a file that names bob's private
    layer (built on the allowed base) by its diff ID, with other bytes in its place, must not give alice bob's
    files."""
    alice, bob = users["alice"], users["bob"]
    secret = b"bob's private secret 9931\n"
    private = on_top(client, client.images.get(IMAGE), {"secret.txt": secret})
    private.tag(f"ds01-{bob.pw_uid}/secret", "latest")
    built = on_top(client, private, {"evil.txt": b"alice's layer\n"})
    archive = saved(client, built)
    client.images.remove(built.id, force=True)
    hollow = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, tarfile.open(fileobj=hollow, mode="w") as dst:
        [entry] = json.loads(src.extractfile("manifest.json").read())
        bobs_layer = os.path.normpath(entry["Layers"][len(client.images.get(IMAGE).attrs["RootFS"]["Layers"])])
        members = {info.name: info for info in src}
        while members[bobs_layer].issym():  # <id>/layer.tar -> ../blobs/sha256/<digest>
            link = members[bobs_layer]
            bobs_layer = os.path.normpath(os.path.join(os.path.dirname(link.name), link.linkname))
        for info in src:
            content = src.extractfile(info).read() if info.isreg() else None
            if info.name == bobs_layer:
                content = tar_of({"decoy.txt": b"not bob's\n"})
                info.size = len(content)
            dst.addfile(info, io.BytesIO(content) if content is not None else None)
    path = handmade(drop / "hollow.tar", hollow.getvalue(), name="hollow")
    before, state = _image_ids(client), _tree(state_dir)
    refused = sh.run(alice, "container-import", str(path))
    if refused.returncode == 0:  # what the attack gets without the check
        ran = sh.run(alice, "container-run", "hollow", "--", "cat", "/secret.txt")
        assert secret.decode() not in ran.stdout, "alice read bob's private layer"
    assert refused.returncode == 1 and "does not carry the layer" in refused.stderr, refused.stderr
    _nothing_left(sh, client, alice, before, state_dir, state)


def test_an_image_that_is_exactly_an_allowed_image_is_imported(sh, users, client, drop):
    """The whole layer list is the prefix: a file around the allowed base image itself (already on the host)."""
    alice = users["alice"]
    path = handmade(drop / "base.tar", saved(client, client.images.get(IMAGE)), name="plain")
    said = sh.run(alice, "container-import", str(path))
    assert said.returncode == 0, said.stderr
    assert [c.name for c in containers_of(client, alice)] == [f"plain._.{alice.pw_uid}"]


def test_an_export_shown_as_a_table_names_the_container_and_its_file(sh, users, drop):
    """On a terminal (here: --table) container-export prints its record as a table, as every command does."""
    alice = users["alice"]
    sh.run(alice, "container-create", "box", IMAGE, "--cpu-only", check=True)
    path = drop / "table.tar"
    shown = sh.run(alice, "container-export", "box", "-o", str(path), "--table")
    assert shown.returncode == 0, shown.stderr
    header, row = shown.stdout.splitlines()[:2]
    assert header.split()[:2] == ["NAME", "FILE"] and row.split()[:2] == ["box", str(path)], shown.stdout
