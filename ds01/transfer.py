"""Moving a container between users or servers: container-export writes one file, container-import makes a
container from it for whoever imports it.

The file is a plain tar (readable with `tar tf`; `sha256sum -c SHA256SUMS` checks it by hand):

    ds01-export.json   the manifest: name, labels, GPU request, mounts (paths only): DATA, never trusted
    image.tar          `docker save` of the container committed (AIME's `docker commit`), saved by ID: no tags
    workspace.tar      only with --with-workspace: the workspace's files, read as its owner
    SHA256SUMS         sha256 of each member above, in sha256sum's format; checked before anything is made

Why import trusts nothing in it: the file is the importer's to edit. So it is opened with the importer's
own file rights (ds01d acts for them), every read is bounded, the checksum is checked in a first pass
before Docker is told anything, and then:
- the image goes to Docker's /images/load as a tag-less archive ds01 writes itself (manifest.json's
  RepoTags dropped, no index.json/repositories), so a name inside the file cannot retag anyone's image;
  what Docker loaded must be the image ID the first pass read, and it is then tagged only under the
  importer's own repository `ds01-<uid>/NAME:imported-<id>`; every layer it names must be in the file with
  that content (docker load reuses a layer already on the host unread), and an image on this host the
  importer may use must be a prefix of its layers (_usable_base): what you may not build on you may not import;
- the container is made by create_container (the importer's quota, limits, mounts, image rule, GPU);
- paths in the manifest are never mounted: the importer's own workspace is used (or -w/-d/-m, checked as
  container-create checks them); workspace data is unpacked as the importer, into a new or empty
  directory of theirs, regular files and directories only.
"""

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import stat
import tarfile
import time
from dataclasses import dataclass, field

from . import labels as L
from . import names
from .errors import Ds01Error, NotFound, PermissionDenied, UsageError
from .recreate import same_gpus

FORMAT = "ds01-container-export"
VERSION = 1
MANIFEST, IMAGE, WORKSPACE, SUMS = "ds01-export.json", "image.tar", "workspace.tar", "SHA256SUMS"
MEMBERS = (MANIFEST, IMAGE, WORKSPACE, SUMS)  # in this order; WORKSPACE optional
MAX_MANIFEST = 1 << 20
MAX_SUMS = 4096
MAX_INNER_MANIFEST = 1 << 20  # the image archive's own manifest.json, and its config
MAX_SMALL_MEMBERS = 16 << 20  # what the first pass keeps of the image archive's small files (configs)
MAX_FILE = 1 << 40  # a sanity bound on what is read (Docker's own disk is the real limit)
CHUNK = 1 << 20
PROGRESS_EVERY = 256 << 20
SUFFIX = ".ds01-export.tar"
_HEX = re.compile(r"^[0-9a-f]{64}$")


def default_file(name):
    return f"{name}{SUFFIX}"


# ---------------------------------------------------------------- export

@dataclass
class Exported:
    path: str
    record: dict = field(default_factory=dict)


def export_container(rt, name, path=None, with_workspace=False):
    """Write the caller's container `name` to `path` (created, never overwritten, with the caller's rights)."""
    from .mount_pins import sources  # lazy: ds01.mount_pins, 8 ms

    rec = rt.finder.find(name)
    if rec.get("uid") not in (None, rt.caller.uid) and not rt.admin:
        raise PermissionDenied(f"{rec['name']} is not your container", hint="container-list shows yours")
    info = rt.api.inspect_container(rec["id"])
    labels = (info.get("Config") or {}).get("Labels") or {}
    mounts = sources(info)
    path = path or default_file(rec["name"])
    out = _create_output(path)
    api = rt.engine.api
    committed = None
    try:
        rt.progress(f"committing {rec['name']} (its files as they are now) ...")
        committed = api.commit(info["Id"])["Id"]
        size = (api.inspect_image(committed) or {}).get("Size") or 0
        manifest = {
            "format": FORMAT, "version": VERSION, "name": rec["name"], "exported_by": rt.caller.login,
            "exported_at": rt.now_iso(), "labels": {k: v for k, v in labels.items() if isinstance(v, str)},
            "request": same_gpus(rt, info), "mounts": mounts, "image": {"id": committed, "size": size,
                                                                      "from": L.first(labels, L.IMAGE) or ""},
            "with_workspace": bool(with_workspace and mounts.get("/workspace")),
        }
        sums = []
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            sums.append(_add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode()))
            with _spool(path) as spool:
                _copy_counted(api.get_image(committed, chunk_size=CHUNK), spool, rt, "image")
                sums.append(_add_spooled(archive, IMAGE, spool))
            if manifest["with_workspace"]:
                with _spool(path) as spool:
                    _tar_workspace(mounts["/workspace"], spool)
                    sums.append(_add_spooled(archive, WORKSPACE, spool))
            _add_bytes(archive, SUMS, "".join(f"{digest}  {member}\n" for member, digest in sums).encode())
        out.close()
    except BaseException:
        out.close()
        _remove_quietly(path)
        raise
    finally:
        if committed:
            _remove_image(rt, committed)
    if rt.engine.log is not None:
        rt.engine.log("container.export", rt.caller.login, container=rec["container"], name=rec["name"],
                      file=os.path.abspath(path))
    return Exported(path, {"name": rec["name"], "file": os.path.abspath(path), "image_size": size,
                           "with_workspace": manifest["with_workspace"], "mounts": mounts})


def _create_output(path):
    """The output file, new, opened with this process's (the caller's) rights; never follows a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists", hint="container-export NAME -o ANOTHER_FILE") from None
    except OSError as exc:
        raise PermissionDenied(f"cannot write {path}: {exc.strerror}",
                               hint="-o a file in a directory of yours") from None
    return os.fdopen(fd, "wb")


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _spool(path):
    """An unnamed temporary file next to the output (the caller's disk and quota, the caller's rights)."""
    import tempfile  # lazy: tempfile, 3 ms

    return tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(path)))


def _copy_counted(chunks, spool, rt, what):
    for chunk in _Progress(rt, what).counted(chunks):
        spool.write(chunk)


def _add_bytes(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    archive.addfile(info, io.BytesIO(data))
    return name, hashlib.sha256(data).hexdigest()


def _add_spooled(archive, name, spool):
    digest = hashlib.sha256()
    spool.seek(0)
    for chunk in iter(lambda: spool.read(CHUNK), b""):
        digest.update(chunk)
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = spool.tell(), int(time.time()), 0o644
    spool.seek(0)
    archive.addfile(info, spool)
    return name, digest.hexdigest()


def _tar_workspace(directory, spool):
    """The workspace as a tar, read with this process's (its owner's) rights: files, directories, symlinks."""
    def keep(info):
        return info if info.isreg() or info.isdir() or info.issym() else None

    with tarfile.open(fileobj=spool, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        try:
            archive.add(directory, arcname=".", filter=keep)
        except OSError as exc:
            raise PermissionDenied(f"cannot read the workspace {directory}: {exc.strerror}",
                                   hint="export without --with-workspace, or make its files readable") from None


# ---------------------------------------------------------------- import

@dataclass
class Checked:
    """What the first pass read: the manifest (data), the image ID the file holds, the members' sums."""

    manifest: dict
    image_id: str
    sums: dict
    identity: tuple


def import_container(rt, path, name=None, request=None):
    """Make a container for the caller from the file at `path`; create_container's Created.

    `request`: a CreateRequest with the caller's options (workspace, data, models, GPU); its image is set here.
    """
    from .create import CreateRequest, check_container_quota, create_container  # lazy: ds01.create, 9 ms
    from .create_plan import plan  # lazy: ds01.create_plan, 9 ms

    request = request or CreateRequest(name="")
    fd = _open_input(path)
    with os.fdopen(fd, "rb") as handle:
        checked = _verify(handle, path)
        manifest = checked.manifest
        request.name = name or _exported_name(manifest)
        _apply_request(request, manifest.get("request"))
        request.check()
        # what create would refuse without the image, before Docker is told anything (the image comes last)

        request.name = names.validate(request.name)
        existing = {r["container"]: r for r in rt.finder.records()}
        if names.container_name(request.name, rt.caller.uid) in existing:
            raise Ds01Error(f"you already have a container named {request.name!r}",
                            hint=f"container-import FILE ANOTHER_NAME, or container-remove {request.name}")
        check_container_quota(rt, existing.values(), rt.limits(rt.caller.login))
        planned = plan(rt, request.name, f"ds01-{rt.caller.uid}/{request.name}:imported",
                       workspace=request.workspace, data=request.data, models=request.models)
        restore = WORKSPACE in checked.sums
        if restore:
            _check_empty(planned.workspace)
        _refuse_foreign_image(rt, checked.image_id)
        handle.seek(0)
        if _identity(os.fstat(handle.fileno())) != checked.identity:
            raise Ds01Error(f"{path} changed while it was read: nothing imported", hint="import it again")
        stream = _members(handle, path)
        tag, existed, base = _load(rt, stream, checked, request.name)
        request.image = tag
        try:
            created = create_container(rt, request)
        except BaseException:
            _unload(rt, tag, checked.image_id, existed)
            raise
        _untag(rt, tag)
        if restore:
            _restore_workspace(stream, planned.workspace)
    if rt.engine.log is not None:
        rt.engine.log("container.import", rt.caller.login, name=request.name, image=checked.image_id, base=base or "",
                      exported_by=str(manifest.get("exported_by") or "")[:64])
    return created


def _open_input(path):
    """The file, opened with this process's (the caller's) rights; only a regular file (a FIFO would hang)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"no file {path}", hint="container-export NAME -o FILE writes one") from None
    except OSError as exc:
        raise PermissionDenied(f"cannot read {path}: {exc.strerror}", hint="import a file you can read") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UsageError(f"{path} is not a regular file", hint="container-export NAME -o FILE writes one")
    if info.st_size > MAX_FILE:
        os.close(fd)
        raise UsageError(f"{path} is larger than ds01 reads ({MAX_FILE >> 30} GiB)")
    os.set_blocking(fd, True)
    return fd


def _identity(info):
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _refuse(path, why):
    return Ds01Error(f"{path} is not a container export ds01 can read: {why}; nothing imported",
                     hint="container-export NAME -o FILE writes one")


def _members(handle, path):
    """(TarInfo, reader) of each member, in the order and kinds the format allows."""
    try:
        with tarfile.open(fileobj=handle, mode="r|") as archive:
            expected = list(MEMBERS)
            for info in archive:
                if info.name not in expected or not info.isreg():
                    raise _refuse(path, f"unexpected member {info.name[:80]!r}")
                del expected[:expected.index(info.name) + 1]
                yield info, archive.extractfile(info)
    except tarfile.TarError as exc:
        raise _refuse(path, f"not a readable tar ({exc})") from None


def _read_bounded(reader, limit, what, path):
    data = reader.read(limit + 1)
    if len(data) > limit:
        raise _refuse(path, f"{what} larger than {limit} bytes")
    return data


class _Hashing(io.RawIOBase):
    """A reader that hashes what passes through it."""

    def __init__(self, reader):
        self.reader, self.digest = reader, hashlib.sha256()

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.reader.read(len(buffer))
        self.digest.update(data)
        buffer[:len(data)] = data
        return len(data)

    def drain(self):
        for _ in iter(lambda: self.read(CHUNK), b""):
            pass
        return self.digest.hexdigest()


def _verify(handle, path):
    """First pass: every member's sha256 against SHA256SUMS, the manifest parsed, the image's ID read."""
    sums, digests, manifest = None, {}, None
    image_id: str | None = None
    image_error: Ds01Error | None = None
    for info, reader in _members(handle, path):
        if info.name == MANIFEST:
            data = _read_bounded(reader, MAX_MANIFEST, "the manifest", path)
            digests[MANIFEST] = hashlib.sha256(data).hexdigest()
            manifest = data
        elif info.name == SUMS:
            sums = _read_bounded(reader, MAX_SUMS, SUMS, path)
        else:
            hashing = _Hashing(reader)
            if info.name == IMAGE:
                try:
                    image_id = _image_id(io.BufferedReader(hashing, CHUNK), path)
                except Ds01Error as exc:  # said after the checksum: a changed file is "changed", first
                    image_error = exc
            digests[info.name] = hashing.drain()
    if manifest is None or sums is None or (image_id is None and image_error is None):
        raise _refuse(path, f"{MANIFEST}, {IMAGE} and {SUMS} are all needed")
    listed = {}
    for line in sums.decode("ascii", "replace").splitlines():
        digest, _, member = line.partition("  ")
        listed[member] = digest
    if listed != digests:
        raise Ds01Error(f"{path}: the checksum does not match (the file was changed or damaged since it was "
                        "exported): nothing imported", hint="export it again (container-export NAME -o FILE)")
    try:
        parsed = json.loads(manifest)
    except ValueError:
        raise _refuse(path, "its manifest is not JSON") from None
    if not isinstance(parsed, dict) or parsed.get("format") != FORMAT or parsed.get("version") != VERSION:
        raise _refuse(path, f"not a {FORMAT} version {VERSION}")
    if image_error is not None or image_id is None:
        raise image_error or _refuse(path, f"no image in {IMAGE}")
    return Checked(parsed, image_id, digests, _identity(os.fstat(handle.fileno())))


def _image_id(reader, path):
    """The one image an image archive holds: the sha256 of its config (the image's ID), once every layer the
    config lists is in the archive with exactly that content (sha256 of the layer tar = its diff ID).

    Why the layers are hashed here: `docker load` skips a layer whose chain is already on the host without
    reading it, so a file could name another user's private layers by their diff IDs and get them, reused
    from the host, without carrying them. A file that carries every layer it names brings only its own."""
    digests: dict[str, str] = {}
    links: dict[str, str] = {}
    small: dict[str, bytes] = {}
    kept = 0
    try:
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            for info in archive:
                name = _archive_name(info.name)
                for seen in (links, digests, small):  # a member replaces one of its name, as Docker's extraction does
                    seen.pop(name, None)
                if info.issym():
                    links[name] = _archive_name(os.path.join(os.path.dirname(name), info.linkname))
                if not info.isreg():
                    continue
                member = archive.extractfile(info)
                if member is None:
                    continue
                digest, head = hashlib.sha256(), b""
                for chunk in iter(functools.partial(member.read, CHUNK), b""):
                    digest.update(chunk)
                    if info.size <= MAX_INNER_MANIFEST and kept + info.size <= MAX_SMALL_MEMBERS:
                        head += chunk
                digests[name] = digest.hexdigest()
                if len(head) == info.size:
                    small[name], kept = head, kept + info.size
    except tarfile.TarError as exc:
        raise _refuse(path, f"its image is not a readable archive ({exc})") from None
    if "manifest.json" not in small:
        raise _refuse(path, "its image archive has no manifest.json")
    config_path, layers = _archive_entry(small["manifest.json"], path)

    def resolve(ref):
        ref = _archive_name(str(ref))
        for _ in range(8):  # docker save links <id>/layer.tar to blobs/sha256/<digest>
            ref = links.get(ref, ref)
        return ref

    image_id = _config_id(config_path, digests.get(resolve(config_path)), path)
    try:
        diff_ids = json.loads(small[resolve(config_path)])["rootfs"]["diff_ids"]
    except (KeyError, ValueError, TypeError):
        raise _refuse(path, "its image's config lists no layers") from None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
        raise _refuse(path, "its image's config and manifest list different layers")
    for diff_id, layer in zip(diff_ids, layers, strict=True):
        if f"sha256:{digests.get(resolve(layer))}" != diff_id:
            raise _refuse(path, f"its image does not carry the layer {str(diff_id)[:80]!r} it names (every "
                                "layer must be in the file, uncompressed, as docker save writes it)")
    return image_id


def _archive_entry(data, path):
    """(config path, layer paths) of the one image in an image archive's manifest.json."""
    try:
        entries = json.loads(data) if len(data) <= MAX_INNER_MANIFEST else []
        [entry] = entries
        config, layers = entry["Config"], entry.get("Layers") or []
        if not isinstance(layers, list):
            raise TypeError
    except (ValueError, TypeError, KeyError, AttributeError):  # ValueError: not JSON, or not one entry
        raise _refuse(path, "its image archive must hold exactly one image") from None
    return config, layers


def _config_id(config, content_digest, path):
    digest = os.path.basename(str(config)).removesuffix(".json")
    if not _HEX.match(digest) or content_digest != digest:
        raise _refuse(path, "its image's config is not named by its digest")
    return "sha256:" + digest


def _exported_name(manifest):
    name = manifest.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError("the file names no container", hint="container-import FILE NAME")
    return name


def _apply_request(request, wanted):
    """The file's GPU request, as data, where the importer gave none: only the four known keys, checked."""
    if request.gpu_options() or request.cpu_only or not isinstance(wanted, dict):
        return
    if wanted.get("cpu_only") is True:
        request.cpu_only = True
        return
    count = wanted.get("num_gpus")
    request.num_gpus = count if isinstance(count, int) and 1 <= count <= 64 else None
    profile = wanted.get("gpu_profile")
    request.gpu_profile = profile if isinstance(profile, str) and re.match(r"^[0-9a-z.]{1,32}$", profile) else None
    request.full_gpu = wanted.get("full_gpu") is True and not request.gpu_profile


def _check_empty(directory):
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PermissionDenied(f"cannot read the workspace {directory}: {exc.strerror}") from None
    if entries:
        raise UsageError(f"the workspace {directory} is not empty: the file's workspace files would mix with yours",
                         hint="container-import FILE NAME --workspace NEW_DIR (a new or empty directory)")


def _refuse_foreign_image(rt, image_id):
    """An image the engine already has under that ID must be one the caller may use (as a build base)."""
    from .access import image_refusal  # lazy: ds01.access, 1 ms

    try:
        rt.api.inspect_image(image_id)
    except NotFound:
        return
    why = image_refusal(rt, image_id)
    if why is not None:
        raise PermissionDenied(f"the file's image is already on this host as an image you may not use: {why}",
                               hint="image-list shows your images")


def _load(rt, stream, checked, name):
    """Second pass: the image to Docker as a tag-less archive; (the importer's tag on it, whether it existed)."""
    try:
        rt.api.inspect_image(checked.image_id)
        existed = True
    except NotFound:
        existed = False
    image_reader = None
    for info, reader in stream:
        if info.name == IMAGE:
            image_reader = reader
            break
    if image_reader is None:
        raise _refuse("the file", "its image went missing")
    api = rt.engine.api
    before = set(api.images(all=True, quiet=True))  # a mismatch removes only what this load added
    loaded = []
    rt.progress(f"loading the image ({checked.manifest.get('image', {}).get('size', 0) >> 20} MiB) ...")
    try:
        for message in _post_load(api, _tagless(io.BufferedReader(_Plain(image_reader), CHUNK), rt)):
            if message.get("error") or message.get("errorDetail"):
                raise Ds01Error(f"Docker could not load the file's image: {message.get('error')}")
            found = re.search(r"Loaded image ID: (sha256:[0-9a-f]{64})", str(message.get("stream") or ""))
            if found:
                loaded.append(found.group(1))
    except BaseException:
        if not existed:
            _remove_image(rt, checked.image_id)
        raise
    if loaded != [checked.image_id]:
        for image in loaded:
            if image not in before:
                _remove_image(rt, image)
        raise Ds01Error("the file's image changed while it was imported: nothing imported", hint="import it again")
    try:
        base = _usable_base(rt, checked.image_id)
    except BaseException:
        if not existed:
            _remove_image(rt, checked.image_id)
        raise
    repo, tag = f"ds01-{rt.caller.uid}/{name}", f"imported-{checked.image_id[7:19]}"
    api.tag(checked.image_id, repo, tag)
    return f"{repo}:{tag}", existed, base


def _usable_base(rt, image_id):
    """The name of the image on this host, one the caller may use, whose layers are the longest prefix of the
    loaded image's (diff IDs: content hashes, checked against the file's layers in the first pass). An image a
    user may not run, they may not build on either: importing is building on whatever the file was built on.
    PermissionDenied when no such image is on this host. Admins may use any image: None for them."""
    from .access import familiar, image_refusal  # lazy: ds01.access, 1 ms

    if rt.admin:
        return None
    layers = ((rt.api.inspect_image(image_id).get("RootFS") or {}).get("Layers")) or []
    best = None
    for summary in rt.engine.api.images():
        names = [n for n in (summary.get("RepoTags") or []) + (summary.get("RepoDigests") or [])
                 if n and not n.startswith("<none>")]
        if not names:  # the image just loaded has none (unless it was here already); a nameless one is no one's
            continue
        if image_refusal(rt, summary["Id"], tags=names) is not None:
            continue
        try:
            theirs = (rt.api.inspect_image(summary["Id"]).get("RootFS") or {}).get("Layers") or []
        except NotFound:
            continue
        if theirs and layers[:len(theirs)] == theirs and (best is None or len(theirs) > best[0]):
            usable = [n for n in names if familiar(n.split("@", 1)[0])]
            best = (len(theirs), sorted(usable)[0] if usable else summary["Id"])
    if best is None:
        raise PermissionDenied("the image in the file is not built on an image you may use here: nothing imported",
                               hint="an admin can add its base image to this host (docker pull, or image-catalog's "
                                    "catalog) and allow it (images.allowed in the policy); image-catalog and "
                                    "image-list show what you may use")
    return best[1]


def _post_load(api, archive):
    """Docker's /images/load, its errors as ds01's (the SDK's load_image skips the status check)."""
    import docker  # lazy: docker SDK, 60 ms

    try:
        response = api._post(api._url("/images/load"), data=archive, params={"quiet": True}, stream=True)
        api._raise_for_status(response)
        yield from api._stream_helper(response, decode=True)
    except docker.errors.APIError as exc:
        raise Ds01Error(f"Docker could not load the file's image: {exc.explanation or exc}",
                        hint="export it again (container-export NAME -o FILE)") from None


class _Plain(io.RawIOBase):
    def __init__(self, reader):
        self.reader = reader

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.reader.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _tagless(reader, rt):
    """The image archive again, with no name in it: manifest.json without RepoTags; no index.json, repositories
    or oci-layout (the files `docker load` takes names from)."""
    progress = _Progress(rt, "image")
    links: set[str] = set()
    try:
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            for info in archive:
                # by the name Docker reads (`./manifest.json`, `/manifest.json` are manifest.json), never through a
                # linked directory (`d -> .`, then `d/manifest.json`), never a link named like a naming file
                name = _archive_name(info.name)
                through = any(name.startswith(link + "/") for link in links)
                if info.issym():
                    links.add(name)
                if through or name in NAMING or not (info.isreg() or info.isdir() or info.issym()) or (
                        name == "manifest.json" and not info.isreg()):
                    continue
                member = archive.extractfile(info) if info.isreg() else None
                if name == "manifest.json" and member is not None:
                    yield _untagged_manifest(member.read(MAX_INNER_MANIFEST + 1), info.mtime)
                    continue
                yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
                if member is not None:
                    yield from progress.counted(iter(functools.partial(member.read, CHUNK), b""))
                    yield _padding(info.size)
    except tarfile.TarError as exc:
        raise _refuse("the file", f"its image is not a readable archive ({exc})") from None
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


NAMING = ("repositories", "index.json", "oci-layout")  # the files `docker load` takes names from, with manifest.json


def _archive_name(name):
    """A member's path as Docker's load reads it: relative to the archive's root, `.`, `..` and `//` resolved."""
    return os.path.normpath("/" + name).lstrip("/")


def _untagged_manifest(data, mtime):
    """manifest.json's header and text with every RepoTags emptied."""
    entries = json.loads(data)
    for entry in entries:
        entry["RepoTags"] = None
    text = json.dumps(entries).encode()
    clean = tarfile.TarInfo("manifest.json")
    clean.size, clean.mode, clean.mtime = len(text), 0o644, mtime
    return clean.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + text + _padding(len(text))


class _Progress:
    """`WHAT: N MiB` on stderr every PROGRESS_EVERY bytes (rt.progress: only on a terminal)."""

    def __init__(self, rt, what):
        self.rt, self.what, self.done, self.said = rt, what, 0, 0

    def counted(self, chunks):
        for chunk in chunks:
            self.done += len(chunk)
            if self.done - self.said >= PROGRESS_EVERY:
                self.said = self.done
                self.rt.progress(f"  {self.what}: {self.done >> 20} MiB")
            yield chunk


def _padding(size):
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def _untag(rt, ref):
    with contextlib.suppress(Exception):  # an extra tag of the importer's own
        rt.engine.api.remove_image(ref)


def _remove_image(rt, image_id):
    with contextlib.suppress(Exception):  # in use or tagged elsewhere meanwhile: then it is not ours to remove
        rt.engine.api.remove_image(image_id)


def _unload(rt, tag, image_id, existed):
    _untag(rt, tag)
    if not existed:
        _remove_image(rt, image_id)


def _restore_workspace(stream, directory):
    """Unpack workspace.tar into `directory` with this process's (the importer's) rights: directories and regular
    files only, every path below `directory`, opened component by component without following a symlink."""
    found = []
    for info, reader in stream:
        if info.name == WORKSPACE:
            found.append(reader)
            break
    if not found:
        return
    os.makedirs(directory, exist_ok=True)
    top = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        archive = tarfile.open(fileobj=io.BufferedReader(_Plain(found[0]), CHUNK), mode="r|")  # noqa: SIM115
        for member in archive:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if not parts or ".." in parts or not (member.isreg() or member.isdir()):
                continue
            parent = _open_dirs(top, parts[:-1])
            try:
                if member.isdir():
                    _mkdir_at(parent, parts[-1], member.mode)
                else:
                    _write_at(parent, parts[-1], member.mode, archive.extractfile(member))
            finally:
                if parent != top:
                    os.close(parent)
    finally:
        os.close(top)


def _open_dirs(top, parts):
    fd = top
    for part in parts:
        _mkdir_at(fd, part, 0o755)
        nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        if fd != top:
            os.close(fd)
        fd = nxt
    return fd


def _mkdir_at(fd, name, mode):
    try:
        os.mkdir(name, mode & 0o777 | 0o700, dir_fd=fd)
    except FileExistsError:
        pass


def _write_at(fd, name, mode, source):
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777 | 0o600,
                  dir_fd=fd)
    with os.fdopen(out, "wb") as target:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            target.write(chunk)
