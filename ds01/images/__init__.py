"""Users' images: names (`ds01-<uid>/<name>:latest`), where their Dockerfiles live, builds, records.

A build streams its steps; its full log is saved next to the Dockerfile. It reads only images the
caller may use (ds01.access), runs under the caller's limits, and is tagged by ds01 only once it
succeeded and its labels and base were checked, so a failed or refused one leaves the previous image.
"""

import io
import json
import os
import re
import sys
import time
from typing import Any

from .. import access, names
from .. import labels as L
from ..access import OWNED_RE, parse_reference  # noqa: F401 - the names of users' images, used from here
from ..cgroups import PERIOD_US, daemon_cgroups, enforce, sync_dropins
from ..containers import INTERNAL_TAG_RE, iso
from ..errors import Ds01Error, NotFound, PermissionDenied, UsageError
from ..identity import lookup
from ..names import sanitize_username, validate
from ..visible import visible

REPO_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TABLE_COLUMNS = [("name", "NAME"), ("image", "IMAGE"), ("framework", "FRAMEWORK"), ("size_human", "SIZE"),
                 ("created", "CREATED"), ("containers", "CONTAINERS")]  # --wide
NARROW_COLUMNS = [("name", "NAME"), ("framework", "FRAMEWORK"), ("size_human", "SIZE"), ("created", "CREATED"),
                  ("containers", "CONTAINERS")]
LOG_SUFFIX = ".build.log"


def validate_name(name):
    """An image name a user may type: lower-case, usable as a Docker repository component and a container name."""
    normal = validate(name).lower() if name else name  # a repository name is lower-case
    if not normal or not REPO_COMPONENT.match(normal):
        raise UsageError(f"invalid image name {name!r}",
                         hint="lower-case letters and digits, with single '-', '_' or '.' between them")
    return normal


def repository(uid, name):
    return f"ds01-{uid}/{name}"


def reference(uid, name):
    return f"{repository(uid, name)}:latest"




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
    tags = [t for t in summary.get("RepoTags") or [] if t != "<none>:<none>"]
    owned = next((t for t in tags if parse_reference(t) and not is_internal_tag(t)),
                 next((t for t in tags if parse_reference(t)), tags[0] if tags else None))
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
    summaries = api.images()
    containers = api.containers(all=True)
    users: dict[Any, Any] = {}
    result = []
    # (uid, name) -> containers of older builds that only a per-container tag still names
    internal_only: dict[tuple[int, str], list[str]] = {}
    for summary in summaries:
        tags = summary.get("RepoTags") or []
        owned = [parse_reference(t) for t in tags if parse_reference(t)]
        if not owned:
            continue
        uid, name = owned[0]
        if uid != user.uid and not (admin and all_users):
            continue
        labels = summary.get("Labels") or {}
        # the image owner's containers on it: a copy of an image another user also runs (an imported catalog
        # image has its ID) names none of theirs
        using = sorted(base for base, owner in (names.split((c.get("Names") or ["/?"])[0]) for c in containers
                                                if c.get("ImageID") == summary.get("Id"))
                       if owner == uid)
        if all(is_internal_tag(t) for t in tags if parse_reference(t)):
            # an older build a container still runs (its own `NAME._.uid` tag, or `.previous` during a
            # recreate): no image of its own; its containers show under the image's name
            internal_only.setdefault((uid, name), []).extend(using)
            continue
        owner = user if uid == user.uid else users.setdefault(uid, lookup(uid))
        dockerfile = find_dockerfile(owner, name, labels) if owner is not None else labels.get(L.DOCKERFILE)
        # its owner's tags only: the same ID may carry a catalog name and other users' tags, per-container ones
        # among them (`REPO:NAME._.UID` names another user's container)
        theirs = [t for t in tags if (parsed := parse_reference(t)) and parsed[0] == uid]
        result.append(record(dict(summary, RepoTags=theirs), labels, using, dockerfile))
    for rec in result:
        rec["containers"] = sorted(set(rec["containers"]) | set(internal_only.get((rec["uid"], rec["name"]), [])))
    result.sort(key=lambda r: (r["uid"] or 0, r["name"] or ""))
    return result


def is_internal_tag(ref):
    """True for ds01's per-container tags (`<repo>:<name>._.<uid>`, `….previous`): never an image of its own."""
    return bool(INTERNAL_TAG_RE.match(ref or ""))


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
            import shutil  # lazy: shutil, 2 ms

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


def build(rt, dockerfile, tag, buildargs, labels, nocache=False, log_path=None, progress=None):
    """Build `dockerfile` as `tag` for the caller, under their limits; returns the image id. On failure:
    BuildFailed with the failing step and its tail.

    Before Docker is asked: ds01's labels are refused (file:line), and every image the build reads (each
    stage's FROM, COPY --from, ONBUILD triggers of its bases) must be one the caller may use (ds01.access).
    The build runs in the caller's cgroup parent, totals written first, with their memory and CPU; the image
    is tagged only after its labels are checked. The context is the Dockerfile's directory only when the
    Dockerfile copies files in; otherwise just the Dockerfile is sent (a workspace may hold gigabytes).
    """
    from .dockerfile import needs_context, refused_labels  # lazy: ds01.images.dockerfile, 3 ms

    engine = rt.engine
    with open(dockerfile, encoding="utf-8") as handle:
        text = handle.read()
    refused_labels(text, dockerfile)  # only ds01 labels its images, through `labels`
    buildargs = _with_proxies(engine.api, buildargs)  # what Docker substitutes is what ds01 checks
    check_build_images(rt, text, buildargs, dockerfile)
    progress = progress or Progress()
    params = build_limits(rt)
    params.update(nocache=nocache, rm=True, forcerm=True, pull=False)
    if needs_context(text):  # Docker builds the text ds01 checked, never the file the context holds (a link, a race)
        checked = f".ds01-checked-{os.urandom(6).hex()}.Dockerfile"
        context = _directory_context(os.path.dirname(os.path.abspath(dockerfile)), (checked, text))
        params["dockerfile"] = checked
    else:
        context = context_tar({"Dockerfile": (text, 0o644)})
    log = []
    step = None
    step_lines: list[str] = []
    image_id = None
    error = None
    started = time.monotonic()
    try:
        for chunk in _post_build(engine.api, context, params, buildargs, labels):
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
        context.close()
        progress.done()
        if log_path:
            _write_log(log_path, log, time.monotonic() - started)
    if engine.log is not None:
        engine.log("image.build", None, image=tag, ok=not error and bool(image_id), image_id=image_id,
                   seconds=round(time.monotonic() - started, 1), no_cache=nocache,
                   failed_step=f"{step[0]}/{step[1]}" if (error or not image_id) and step else None)
    if not error and image_id:
        try:
            check_built_base(rt, image_id)
            check_built_labels(rt, image_id, labels, text, buildargs)
        except Ds01Error:
            _remove_quietly(engine, image_id)
            raise
    if error or not image_id:
        where = f" at step {step[0]}/{step[1]} ({_short(step[2])})" if step else ""
        tail = "\n".join("    " + l for l in step_lines[-15:])
        message = f"build of {tag} failed{where}: {(error or 'no image was produced').strip()}"
        if tail:
            message += "\n  last output of that step:\n" + tail
        raise BuildFailed(message, hint=(f"full log: {log_path}; " if log_path else "")
                          + "the previous image (if any) is unchanged")
    repository, _, version = tag.rpartition(":")
    engine.api.tag(image_id, repository, version)
    return image_id


def check_build_images(rt, text, buildargs, path):
    """PermissionDenied (path:line) unless the caller may use every image the build of `text` reads."""
    from .dockerfile import image_references, trigger_images  # lazy: ds01.images.dockerfile, 3 ms

    if rt.admin:
        return
    for number, ref in image_references(text, buildargs, path):
        why = access.image_refusal(rt, ref)
        if why is None:
            try:
                triggers = (rt.api.inspect_image(ref).get("Config") or {}).get("OnBuild") or []
            except NotFound:
                triggers = []
            for trigger_ref in trigger_images(triggers, f"{path}:{number}: {ref}"):
                why = access.image_refusal(rt, trigger_ref)
                if why is not None:
                    ref, why = f"{trigger_ref} (an ONBUILD trigger of {ref})", why
                    break
        if why is not None:
            raise PermissionDenied(f"{path}:{number}: you may not build from {ref}: {why}", hint=access.HINT)


def build_limits(rt):
    """The build's container settings from the caller's limits: their cgroup parent (their totals written
    there first, as before a container starts), their memory, memory+swap and CPU quota (no more than their
    total's), shm size; Docker's default build network (a bridge: package installs need one), never the host's.
    Processes: the build API has no pids limit, so the parent's total (aggregate.tasks_max) bounds them."""
    limits = rt.limits(rt.caller.login)
    values = limits.values
    cpus = float(values["max_cpus"])
    if limits.aggregate and limits.aggregate.get("cpu_quota") is not None:  # a child may not exceed its parent
        cpus = min(cpus, float(limits.aggregate["cpu_quota"]) / 100)
    params = {"cgroupparent": limits.slice_name, "memory": int(values["memory"]),
              "memswap": int(values["memory_swap"] if values.get("memory_swap") is not None else values["memory"]),
              "cpuperiod": PERIOD_US, "cpuquota": max(1000, int(cpus * PERIOD_US)), "networkmode": "default"}
    if values.get("shm_size"):
        params["shmsize"] = int(values["shm_size"])
    _write_totals(rt, limits)
    return params


def _write_totals(rt, limits):
    """The caller's aggregate totals on their cgroup parent (the build's too), as sessions.start does."""
    enforcement = rt.policy.section("enforcement")
    if not limits.aggregate or enforcement.get("aggregate_limits") is False:
        return
    if enforcement.get("cgroup_driver") == "systemd":
        sync_dropins(rt, [rt.caller.login])
        return

    enforce(limits.slice_name, limits.aggregate, base=daemon_cgroups(rt.settings.get("docker_host")))


def _directory_context(path, dockerfile):
    """The directory as an uncompressed tar build context, .dockerignore honoured (as the SDK's build does), with
    `dockerfile` (name, text) added as the file Docker builds: exactly the text ds01 read and checked, so a
    Dockerfile that is a link (Docker would resolve it inside the context, to another file) or one rewritten
    after the check is never what runs."""
    from docker import utils  # lazy: docker SDK, 60 ms

    exclude = None
    ignore = os.path.join(path, ".dockerignore")
    if os.path.exists(ignore):
        with open(ignore, encoding="utf-8") as handle:
            exclude = [line.strip() for line in handle.read().splitlines() if line.strip() and line[0] != "#"]
    return utils.tar(path, exclude=exclude, dockerfile=dockerfile, gzip=False)


def _post_build(api, context, params, buildargs, labels):
    """POST /build with the limits the SDK's build() cannot pass (cgroupparent, cpuquota, cpuperiod); the
    decoded progress stream. The image is built untagged: ds01 tags it after checking it."""
    query = dict(params)
    query.update(buildargs=json.dumps(buildargs or {}), labels=json.dumps(labels or {}))
    headers = {"Content-Type": "application/tar"}
    api._set_auth_headers(headers)
    response = api._post(api._url("/build"), data=context, params=query, headers=headers, stream=True,
                         timeout=None)
    return api._stream_helper(response, decode=True)


def _with_proxies(api, buildargs):
    """The build arguments plus the engine client's proxy settings, as the SDK's build() adds them."""
    args = dict(buildargs or {})
    for key, value in api._proxy_configs.get_environment().items():
        args.setdefault(key, value)
    return args


def check_built_base(rt, image_id):
    """PermissionDenied unless the first named image below the built one (its base, as Docker resolved it:
    the classic builder records each step's parent) is one the caller may use. A second line behind the
    Dockerfile check, for the final stage: it holds whatever Docker's parser made of FROM."""
    if rt.admin:
        return
    seen: set[str] = set()
    current = rt.api.inspect_image(image_id).get("Parent") or ""
    while current and current not in seen and len(seen) < 10000:
        seen.add(current)
        info = rt.api.inspect_image(current)
        names = [t for t in info.get("RepoTags") or [] if t != "<none>:<none>"] + list(info.get("RepoDigests") or [])
        if names:
            why = access.image_refusal(rt, current, names)
            if why is None:
                return
            raise PermissionDenied(f"the build ran on {names[0]} ({why}); its image was removed", hint=access.HINT)
        current = info.get("Parent") or ""


def check_built_labels(rt, image_id, labels, text, buildargs):
    """UsageError unless every aime.mlc.* / ds01.* label on the built image is one ds01 set in this build or
    one its base already carried (same value): a LABEL that slipped past the Dockerfile check stops here."""
    from .dockerfile import OWN_LABELS, final_base  # lazy: ds01.images.dockerfile, 3 ms

    built = (rt.api.inspect_image(image_id).get("Config") or {}).get("Labels") or {}
    inherited: dict = {}
    base = final_base(text, buildargs or {})
    if base:
        try:
            inherited = (rt.api.inspect_image(base).get("Config") or {}).get("Labels") or {}
        except (NotFound, Ds01Error):
            inherited = {}
    forged = sorted(key for key, value in built.items() if key.startswith(OWN_LABELS)
                    and labels.get(key, inherited.get(key)) != value)
    if forged:
        raise UsageError("the built image carries labels only ds01 may set: " + ", ".join(visible(k) for k in forged)
                         + "; it was not tagged",
                         hint="remove those LABEL lines (however they are written): ds01 labels the image itself")


def _remove_quietly(engine, image_id):
    try:
        engine.api.remove_image(image_id, noprune=False)
    except engine.errors.APIError:
        pass


def _short(text, width=70):
    return text if len(text) <= width else text[:width - 3] + "..."


def context_tar(files):
    """A build context in memory: {name: (text, mode)} as an uncompressed tar, rewound."""
    import tarfile  # lazy: tarfile, 3 ms

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
    from . import dockerfile as D  # lazy: ds01.images.dockerfile, 3 ms

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
    new_id = build(rt, dockerfile_path, ref, args, labels, nocache=no_cache,
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
    from ..workspace_files import make_workspace  # lazy: ds01.workspace_files, 3 ms

    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        make_workspace(directory, user)
    if os.path.islink(path):
        raise PermissionDenied(f"{path} is a symbolic link; ds01 will not write through it")
    if os.path.exists(path):
        # geteuid(): this process's own rights (a file it may replace), not whether it is served
        if os.stat(path).st_uid not in (os.geteuid(), user.uid):
            raise PermissionDenied(f"{path} belongs to another user")
        with open(path, encoding="utf-8") as old, open(path + ".bak", "w", encoding="utf-8") as backup:
            backup.write(old.read())
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)
    # this process's own rights: only root can give the file to its user
    if os.geteuid() == 0:
        for written in (path, path + ".bak"):
            if os.path.exists(written):
                os.chown(written, user.uid, user.gid)


def missing(ref):
    return NotFound(f"no image {ref}", hint="image-list shows your images; image-create NAME builds one")
