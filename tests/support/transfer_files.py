"""What the export/import tests share: alice's exported container (in the `drop` fixture's directory, which both
test users reach) and files forged from it with checksums that match (test modules never import each other)."""

import hashlib
import io
import json
import os
import tarfile

from ds01 import labels as L
from tests.support import sandbox

IMAGE = sandbox.BASE_IMAGE
CHANGE = "alice-was-here-4711"


def alice_export(sh, alice, drop, *more):
    """alice's container `box` with a change in its own files, exported; the file handed to bob (readable)."""
    sh.run(alice, "container-create", "box", IMAGE, "--cpu-only", check=True)
    sh.run(alice, "container-run", "box", "--", "sh", "-c", f"echo {CHANGE} > /tmp/change.txt", check=True)
    path = drop / "box.tar"
    sh.run(alice, "container-export", "box", "-o", str(path), *more, check=True)
    os.chmod(path, 0o644)
    return path


def members(path):
    with tarfile.open(path) as archive:
        return [(info.name, archive.extractfile(info).read()) for info in archive]


def forge(path, out, change):
    """A file with members changed by `change(name, data)` and SHA256SUMS recomputed: a checksum that matches."""
    return write_export(out, [(name, change(name, data)) for name, data in members(path) if name != "SHA256SUMS"])


def forge_image_archive(path, out, change):
    """forge() changing only the file's image archive (a `docker save`): `change(data)` gives its new bytes."""
    return forge(path, out, lambda name, data: change(data) if name == "image.tar" else data)


def claiming_tags(data, tags, place=None, finish=None):
    """The image archive `data` with its manifest.json's RepoTags set to `tags`: the names `docker load` would move
    onto the file's image. `place(dst, manifest, original)` may add members before the changed manifest and rename
    it (`original`: its bytes as saved); `finish(dst, entries)` adds members after the last."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=inner, mode="w") as dst:
        entries = None
        for info in src:
            content = src.extractfile(info).read() if info.isreg() else None
            if info.name == "manifest.json":
                original, entries = content, json.loads(content)
                entries[0]["RepoTags"] = tags
                content = json.dumps(entries).encode()
                if place is not None:
                    place(dst, info, original)
                info.size = len(content)
            dst.addfile(info, io.BytesIO(content) if content is not None else None)
        if finish is not None:
            finish(dst, entries)
    return inner.getvalue()


def write_export(out, kept):
    """An export file of the (name, bytes) members `kept`, with their SHA256SUMS, readable by the other user."""
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in kept).encode()
    with tarfile.open(out, "w") as archive:
        for name, data in [*kept, ("SHA256SUMS", sums)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    os.chmod(out, 0o644)
    return out


def handmade(out, image_archive, name="evil"):
    """A file in the documented format, made by hand around `image_archive` (a `docker save`)."""
    manifest = json.dumps({"format": "ds01-container-export", "version": 1, "name": name,
                           "request": {"cpu_only": True}, "mounts": {}, "labels": {}}).encode()
    return write_export(out, [("ds01-export.json", manifest), ("image.tar", image_archive)])


def tar_of(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
    return buffer.getvalue()


def on_top(client, image, files):
    """`image` with one more layer holding `files` (what a build or a container's commit makes)."""
    container = client.containers.create(image.id, command=["/none"])
    try:
        container.put_archive("/", tar_of(files))
        return client.images.get(container.commit().id)
    finally:
        container.remove(force=True)


def saved(client, image):
    """The `docker save` archive of `image`."""
    return b"".join(client.api.get_image(image.id))


def containers_of(client, entry):
    """The containers ds01 made for `entry` (by the owner label ds01 writes)."""
    return [c for c in client.containers.list(all=True) if c.labels.get(L.USER) == entry.pw_name]
