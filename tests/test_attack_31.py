"""Attacks on what issue 31 added (export/import, the new commands, AIME's parsing), each run as a real student
account through the test ds01d. See docs/security.md, "DS01 and AIME parity"."""

import io
import json
import os

import pytest

from tests.support import sandbox
from tests.support.transfer_files import (
    alice_export,
    claiming_tags,
    containers_of,
    forge_image_archive,
    handmade,
    on_top,
    saved,
)

IMAGE = sandbox.BASE_IMAGE


@pytest.mark.parametrize("spelling", ["./manifest.json", "/manifest.json", "x/../manifest.json", "d/manifest.json",
                                      "hardlink", "symlink"])
def test_a_manifest_json_spelled_otherwise_in_the_image_archive_retags_no_one_s_image(sh, users, client, drop,
                                                                                      spelling):
    """alice's file carries the image archive's manifest.json as `./manifest.json` (Docker reads it as
    manifest.json) with RepoTags naming bob's image and ds01's base image: `docker load` would move both names
    onto alice's image, so bob's next container-create (and everyone's on the base) runs her files."""
    import tarfile

    alice, bob = users["alice"], users["bob"]
    path = alice_export(sh, alice, drop)
    bobs = f"ds01-{bob.pw_uid}/thesis:latest"
    client.images.get(IMAGE).tag(f"ds01-{bob.pw_uid}/thesis", "latest")
    before = {ref: client.images.get(ref).id for ref in (bobs, IMAGE)}

    def respell(dst, manifest, original):
        if spelling == "d/manifest.json":  # through a directory linked to the archive's root
            link = tarfile.TarInfo("d")
            link.type, link.linkname = tarfile.SYMTYPE, "."
            dst.addfile(link)
        if spelling in ("hardlink", "symlink"):  # the checked manifest, then a link over it
            dst.addfile(manifest, io.BytesIO(original))
            manifest.name = "tags.json"
        else:
            manifest.name = spelling

    def link_over(dst, entries):
        if spelling in ("hardlink", "symlink"):
            link = tarfile.TarInfo("./manifest.json")
            link.type = tarfile.LNKTYPE if spelling == "hardlink" else tarfile.SYMTYPE
            link.linkname = "tags.json"
            dst.addfile(link)

    forged = forge_image_archive(path, drop / "respelled.tar",
                                 lambda data: claiming_tags(data, [bobs, IMAGE], respell, link_over))
    sh.run(alice, "container-import", str(forged), "stolen")
    try:
        assert {ref: client.images.get(ref).id for ref in before} == before
    finally:
        for ref, image_id in before.items():  # put the names back for the tests after this one
            repository, _, tag = ref.rpartition(":")
            client.images.get(image_id).tag(repository, tag)
        client.images.remove(bobs)
    assert not [c for c in containers_of(client, bob)]
    assert os.path.exists(forged)


def test_a_config_named_twice_in_the_image_archive_gives_alice_none_of_bobs_layers(sh, users, client, drop):
    """The first pass keeps at most 16 MiB of the image archive's small files: alice's file names its config
    twice, a harmless one first (listing her own decoy layer, which the file carries) and, after 17 MiB of
    padding, the real one (its digest is the name; it lists bob's private layer by its diff ID). Docker keeps
    the last; the check read the first and passed, and `docker load` reused bob's layer unread (its diff ID is
    all alice needs: as in test_export_import.py::test_a_file_naming_bobs_layers_without_carrying_them_is_refused)."""
    import hashlib
    import tarfile


    alice, bob = users["alice"], users["bob"]
    secret = b"bob's private secret 5120\n"
    base = client.images.get(IMAGE)
    private = on_top(client, base, {"secret.txt": secret})
    private.tag(f"ds01-{bob.pw_uid}/secret", "latest")
    bobs_layer = private.attrs["RootFS"]["Layers"][-1]
    decoy = on_top(client, base, {"decoy.txt": b"alice's own\n"})
    with tarfile.open(fileobj=io.BytesIO(saved(client, decoy))) as src:
        files = {os.path.normpath(i.name): i for i in src}

        def content(name):
            while files[name].issym():
                name = os.path.normpath(os.path.join(os.path.dirname(name), files[name].linkname))
            return src.extractfile(files[name]).read()

        [entry] = json.loads(content("manifest.json"))
        harmless = content(os.path.normpath(entry["Config"]))
        layers = [content(os.path.normpath(layer)) for layer in entry["Layers"]]
    client.images.remove(decoy.id, force=True)
    config = json.loads(harmless)
    config["rootfs"]["diff_ids"][-1] = bobs_layer
    config["config"]["Labels"] = {"made": "by alice"}
    real = json.dumps(config).encode()
    digest = hashlib.sha256(real).hexdigest()
    members = [("manifest.json", json.dumps([{"Config": f"{digest}.json", "RepoTags": None,
                                              "Layers": [f"l{i}.tar" for i in range(len(layers))]}]).encode()),
               (f"{digest}.json", harmless)]
    members += [(f"l{i}.tar", data) for i, data in enumerate(layers)]
    room = (16 << 20) - sum(len(data) for _, data in members if len(data) <= 1 << 20)  # what the check keeps
    members += [(f"pad{i}", b"\0" * min(1 << 20, room - (i << 20))) for i in range(-(-room >> 20))]
    members += [(f"{digest}.json", real)]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as dst:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    path = handmade(drop / "twice.tar", archive.getvalue(), name="twice")
    imported = sh.run(alice, "container-import", str(path))
    try:
        if imported.returncode == 0:
            ran = sh.run(alice, "container-run", "twice", "--", "cat", "/secret.txt")
            assert secret.decode() not in ran.stdout, "alice read bob's private layer"
        assert imported.returncode == 1, imported.stderr
        assert not [c for c in containers_of(client, alice)]
        assert not [i for i in client.images.list() if i.id == f"sha256:{digest}"]
    finally:
        for container in containers_of(client, alice):
            container.remove(force=True)
        for image in client.images.list(all=True):
            if image.id == f"sha256:{digest}":
                client.images.remove(image.id, force=True)
        client.images.remove(f"ds01-{bob.pw_uid}/secret:latest")
