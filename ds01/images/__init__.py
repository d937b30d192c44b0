"""Users' images: names (`ds01-<uid>/<name>:latest`), where their Dockerfiles live, builds, records.

A build goes through the docker SDK and streams its steps; its full log is saved next to the
Dockerfile. Docker tags only a successful build, so a failed one leaves the previous image.
"""

import os
import re
import sys
import time
from typing import Any

from .. import labels as L
from ..errors import Ds01Error, NotFound, PermissionDenied, UsageError

REPO_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
OWNED_RE = re.compile(r"^ds01-(\d+)/([^:@]+)(?::([^@]+))?$")
TABLE_COLUMNS = [("name", "NAME"), ("image", "IMAGE"), ("framework", "FRAMEWORK"), ("size_human", "SIZE"),
                 ("created", "CREATED"), ("containers", "CONTAINERS")]
LOG_SUFFIX = ".build.log"


def validate_name(name):
    """An image name a user may type: lower-case, usable as a Docker repository component and a container name."""
    from ..names import validate

    normal = validate(name) if name else name
    if not normal or not REPO_COMPONENT.match(normal):
        raise UsageError(f"invalid image name {name!r}",
                         hint="lower-case letters and digits, with single '-', '_' or '.' between them")
    return normal


def repository(uid, name):
    return f"ds01-{uid}/{name}"


def reference(uid, name):
    return f"{repository(uid, name)}:latest"


def parse_reference(ref):
    """(uid, name) of a ds01 image reference, or None for any other image."""
    match = OWNED_RE.match(ref)
    return (int(match.group(1)), match.group(2)) if match else None


def target(ref, user):
    """The image reference a user means: `demo` -> `ds01-<uid>/demo:latest`; full references unchanged."""
    if "/" in ref or ":" in ref:
        return ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
    return reference(user.uid, validate_name(ref))


def check_access(ref, user, admin):
    """PermissionDenied unless `ref` is the user's own ds01 image (admins may touch any)."""
    owned = parse_reference(ref)
    if admin:
        return
    if owned is None or owned[0] != user.uid:
        raise PermissionDenied(f"{ref} is not one of your images",
                               hint=f"your images are named ds01-{user.uid}/NAME (image-list shows them)")


def workspace_dockerfile(user, name):
    return os.path.join(user.home, "workspace", name, "Dockerfile")


def legacy_dockerfile(user, name):
    return os.path.join(user.home, "dockerfiles", f"{name}.Dockerfile")


def find_dockerfile(user, name, labels=None):
    """The Dockerfile of image `name`: the path the image recorded, ~/workspace/NAME, then DS01's ~/dockerfiles."""
    recorded = (labels or {}).get(L.DOCKERFILE)
    for path in (recorded, workspace_dockerfile(user, name), legacy_dockerfile(user, name)):
        if path and os.path.isfile(path):
            return path
    return None


def human_size(size):
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1000
    return f"{size:.1f}TB"


def record(summary, labels, containers, dockerfile=None):
    """The image record (docs/records.md) from an `/images/json` entry."""
    from ..containers import iso

    tags = [t for t in summary.get("RepoTags") or [] if t != "<none>:<none>"]
    owned = next((t for t in tags if parse_reference(t)), tags[0] if tags else None)
    parsed = parse_reference(owned) if owned else None
    size = int(summary.get("Size") or 0)
    return {
        "name": parsed[1] if parsed else owned,
        "image": owned,
        "tags": tags,
        "user": labels.get(L.MAINTAINER),
        "uid": parsed[0] if parsed else None,
        "id": (summary.get("Id") or "").split(":")[-1][:12],
        "size": size,
        "size_human": human_size(size),
        "created": iso(summary.get("Created")),
        "framework": labels.get(L.FRAMEWORK),
        "base_image": labels.get(L.BASE_IMAGE),
        "dockerfile": dockerfile,
        "containers": containers,
    }


def list_images(api, user, admin=False, all_users=False):
    """Records of the caller's images (every ds01 image for admins with `all_users`), sorted by name."""
    from .. import names
    from ..identity import lookup

    summaries = api.images()
    containers = api.containers(all=True)
    users: dict[Any, Any] = {}
    result = []
    for summary in summaries:
        tags = summary.get("RepoTags") or []
        owned = [parse_reference(t) for t in tags if parse_reference(t)]
        if not owned:
            continue
        uid, name = owned[0]
        if uid != user.uid and not (admin and all_users):
            continue
        labels = summary.get("Labels") or {}
        using = sorted(names.split((c.get("Names") or ["/?"])[0])[0] for c in containers
                       if c.get("ImageID") == summary.get("Id"))
        owner = user if uid == user.uid else users.setdefault(uid, lookup(uid))
        dockerfile = find_dockerfile(owner, name, labels) if owner is not None else labels.get(L.DOCKERFILE)
        result.append(record(summary, labels, using, dockerfile))
    result.sort(key=lambda r: (r["uid"] or 0, r["name"] or ""))
    return result


class BuildFailed(Ds01Error):
    pass


class Progress:
    """Build progress on stderr: one rewritten status line on a terminal, plain step lines otherwise."""

    def __init__(self, stream=None, quiet=False):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.active = False

    def step(self, number, total, instruction):
        if self.quiet:
            return
        text = f"step {number}/{total}: " + " ".join(instruction.split())
        if self.tty:
            import shutil

            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.stream.write("\r\033[K" + text[:width])
            self.active = True
        else:
            self.stream.write(text[:200] + "\n")
        self.stream.flush()

    def done(self):
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.active = False


STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def build(engine, dockerfile, tag, buildargs, labels, nocache=False, log_path=None, progress=None):
    """Build `dockerfile` as `tag`; returns the image id. On failure: BuildFailed with the failing step and its tail.

    The context is the Dockerfile's directory only when the Dockerfile copies files in;
    otherwise just the Dockerfile is sent (a workspace may hold gigabytes of data).
    """
    from .dockerfile import needs_context, refused_labels

    with open(dockerfile, encoding="utf-8") as handle:
        text = handle.read()
    refused_labels(text, dockerfile)  # only ds01 labels its images, through `labels`
    progress = progress or Progress()
    kwargs = dict(tag=tag, buildargs=buildargs, labels=labels, nocache=nocache, rm=True, forcerm=True,
                  decode=True, pull=False)
    if needs_context(text):
        kwargs.update(path=os.path.dirname(os.path.abspath(dockerfile)), dockerfile=os.path.basename(dockerfile))
    else:
        kwargs.update(fileobj=context_tar({"Dockerfile": (text, 0o644)}), custom_context=True)
    log = []
    step = None
    step_lines: list[str] = []
    image_id = None
    error = None
    started = time.monotonic()
    try:
        for chunk in engine.api.build(**kwargs):
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    log.append(line)
                    match = STEP_RE.match(line)
                    if match:
                        step = (int(match.group(1)), int(match.group(2)), match.group(3))
                        step_lines = []
                        progress.step(*step)
                    elif line.strip():
                        step_lines.append(line)
                        built = re.match(r"^Successfully built ([0-9a-f]+)", line)
                        if built:
                            image_id = built.group(1)
            elif "aux" in chunk and isinstance(chunk["aux"], dict) and chunk["aux"].get("ID"):
                image_id = chunk["aux"]["ID"]
            elif "error" in chunk:
                error = chunk.get("error") or str(chunk.get("errorDetail"))
                log.append("ERROR: " + error)
    except engine.errors.APIError as exc:
        error = str(exc.explanation or exc)
        log.append("ERROR: " + error)
    except engine.errors.DockerException as exc:
        error = str(exc)
        log.append("ERROR: " + error)
    finally:
        progress.done()
        if log_path:
            _write_log(log_path, log, time.monotonic() - started)
    if engine.log is not None:
        engine.log("image.build", None, image=tag, ok=not error and bool(image_id), image_id=image_id,
                   seconds=round(time.monotonic() - started, 1), no_cache=nocache,
                   failed_step=f"{step[0]}/{step[1]}" if (error or not image_id) and step else None)
    if error or not image_id:
        where = f" at step {step[0]}/{step[1]} ({_short(step[2])})" if step else ""
        tail = "\n".join("    " + l for l in step_lines[-15:])
        message = f"build of {tag} failed{where}: {(error or 'no image was produced').strip()}"
        if tail:
            message += "\n  last output of that step:\n" + tail
        raise BuildFailed(message, hint=(f"full log: {log_path}; " if log_path else "")
                          + "the previous image (if any) is unchanged")
    return image_id


def _short(text, width=70):
    return text if len(text) <= width else text[:width - 3] + "..."


def context_tar(files):
    """A build context in memory: {name: (text, mode)} as an uncompressed tar, rewound."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, (text, mode) in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _write_log(path, lines, seconds):
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + f"\n# build took {seconds:.1f}s\n")
    except OSError as exc:
        sys.stderr.write(f"warning: could not save the build log to {path}: {exc.strerror}\n")


def build_user_image(rt, name, ref, dockerfile_path, no_cache=False, framework=None):
    """Build the caller's Dockerfile as `ref` with their account's build arguments; returns the new id.

    ds01 writes every aime.mlc.* label itself, through the build (the Dockerfile may set none): where it
    came from, the base, the maintainer, the framework (`framework`, else the previous build's, else
    custom) and, when the Dockerfile has ds01's account block, the uid and gid baked in. The image `ref`
    named before is removed when nothing uses it any more.
    """
    from ..names import sanitize_username
    from . import dockerfile as D

    user = rt.caller
    with open(dockerfile_path, encoding="utf-8") as handle:
        text = handle.read()
    previous = image_id(rt.engine, ref)
    before = (rt.engine.api.inspect_image(previous).get("Config") or {}).get("Labels") or {} if previous else {}
    labels = {L.CUSTOM_IMAGE: ref, L.MAINTAINER: L.clean(user.login), L.CREATED_AT: rt.now_iso(),
              L.BASE_IMAGE: L.clean(D.base_image(text) or ""), L.DOCKERFILE: L.clean(dockerfile_path),
              L.FRAMEWORK: L.clean(framework or before.get(L.FRAMEWORK) or "custom")}
    if D.bakes_account(text):
        labels.update({L.USER_ID: str(user.uid), L.GROUP_ID: str(user.gid)})
    args = D.build_args(user.login, user.uid, user.gid, f"{sanitize_username(user.login)}_no_password", name)
    rt.progress(f"building {ref} from {dockerfile_path} ...")
    new_id = build(rt.engine, dockerfile_path, ref, args, labels, nocache=no_cache,
                   log_path=dockerfile_path + LOG_SUFFIX)
    if previous and previous != new_id:
        try:
            rt.engine.api.remove_image(previous)
        except rt.engine.errors.APIError:
            pass  # still used by a container: it stays until that container goes
    return new_id


def image_id(engine, ref):
    """The id of `ref`, or None when there is no such image."""
    try:
        return engine.api.inspect_image(ref)["Id"]
    except engine.errors.ImageNotFound:
        return None


def save_dockerfile(path, text, user):
    """Write a user's Dockerfile atomically, the previous version kept as `.bak`, owned by the user.

    Refuses to write through a symlink or into someone else's file.
    """
    from ..workspace_files import make_workspace

    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        make_workspace(directory, user)
    if os.path.islink(path):
        raise PermissionDenied(f"{path} is a symbolic link; ds01 will not write through it")
    if os.path.exists(path):
        if os.stat(path).st_uid not in (os.geteuid(), user.uid):
            raise PermissionDenied(f"{path} belongs to another user")
        with open(path, encoding="utf-8") as old, open(path + ".bak", "w", encoding="utf-8") as backup:
            backup.write(old.read())
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)
    if os.geteuid() == 0:
        for written in (path, path + ".bak"):
            if os.path.exists(written):
                os.chown(written, user.uid, user.gid)


def missing(ref):
    return NotFound(f"no image {ref}", hint="image-list shows your images; image-create NAME builds one")
