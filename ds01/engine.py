"""Changes to Docker, through the docker SDK: create (with AIME's user setup), start, stop, remove.

Every step is checked; a failed create leaves no setup container and no image tag behind.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from . import labels as L
from .errors import Ds01Error, NotFound
from .names import split
from .privilege import root_files

if TYPE_CHECKING:
    from typing import Protocol

    from .images.account_layer import Cache, Etc, Layer

    class _LogEvent(Protocol):
        """The event log writer (Runtime.log_event)."""

        def __call__(self, event_type: str, user: str | None = ..., **details: Any) -> object: ...

    class _Plan(Protocol):
        """What the engine reads and writes of a ds01.create_plan.Plan (which imports this module: a Protocol,
        not the class, keeps the import graph free of a cycle)."""

        name: str
        container: str
        login: str
        uid: int
        gid: int
        image: str
        run_image: str
        account_setup: bool
        tag_image: str
        labels: dict[str, str]
        environment: dict[str, str]
        groups: dict[str, int]
        command: list[str]
        stop_signal: str
        gpus: list[dict[str, Any]]
        image_id: str
        pins: str
        create_sent: bool
        container_id: str

        @property
        def sudoers_file(self) -> str: ...

        @property
        def sudo(self) -> bool: ...

        def user_mounts(self) -> dict[str, str]: ...

        def host_config(self) -> dict[str, Any]: ...

T = TypeVar("T")


def image_repository(ref: str) -> str:
    """The repository part of an image reference: `a/b:tag` -> `a/b`, `reg:5000/a` -> `reg:5000/a`."""
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def is_own_tag(image: str, container: str) -> bool:
    """True when `image` is the per-container tag `<repo>:<container>` of a `name._.uid` container."""
    repository = image_repository(image)
    return split(container)[1] is not None and image == f"{repository}:{container}" and bool(repository)


SIGHUP, SIGTERM = 1, 15


def caught_signals(pid: int | str | None) -> set[int] | None:
    """Signal numbers the process `pid` (a host pid, as Docker reports State.Pid) has handlers for; None if unknown."""
    if not pid:
        return None
    try:
        with open(f"/proc/{int(pid)}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("SigCgt:"):
                    mask = int(line.split()[1], 16)
                    return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    except (OSError, ValueError):
        return None
    return None


DEFAULT_HOST = "unix:///var/run/docker.sock"
_API_VERSIONS: dict[str, str] = {}  # docker_host -> its engine's API version, learned by ds01d before it forks


def learn_api_version(host: str) -> None:
    """Ask the engine at `host` its API version, in ds01d (at start, and when its live view is rebuilt after the
    engine went away): a worker's Engine then skips the SDK's own /version round trip (about 10 ms a command)."""
    from .dockerapi import DockerAPI  # lazy: ds01.dockerapi, 2 ms

    try:
        _API_VERSIONS[host] = str(DockerAPI(host, timeout=5).get("/version")["ApiVersion"])
    except (Ds01Error, OSError, KeyError, TypeError, ValueError):
        _API_VERSIONS.pop(host, None)  # the SDK asks for itself


def _connect_with_root_rights() -> None:
    """In a ds01d worker, the SDK's Unix-socket connections are opened with root's rights (the engine
    is root's to reach; everything else the worker opens uses its caller's): one wrapper, once."""
    from docker.transport import unixconn  # lazy: docker.transport, 68 ms

    original = unixconn.UnixHTTPConnection.connect
    if getattr(original, "ds01_root_rights", False):
        return

    def connect(self: Any) -> None:  # self: the SDK's UnixHTTPConnection (untyped)
        with root_files():
            original(self)

    connect.ds01_root_rights = True  # type: ignore[attr-defined]
    unixconn.UnixHTTPConnection.connect = connect


class Engine:
    """The docker SDK client (imported lazily: it is slow to import).

    Every change is written to the event log through `log` (set by the Runtime), after it succeeded.
    """

    log: _LogEvent | None = None  # the event log writer (Runtime sets it)
    etc_cache: Cache | None = None  # images' account files by image ID (account_layer.Cache; Runtime sets it)

    def __init__(self, host: str | None = None) -> None:
        """`host` is the docker_host setting (the SDK reads no DOCKER_* variable itself)."""
        import docker  # lazy: docker, 61 ms

        self._errors = self.errors = docker.errors
        _connect_with_root_rights()
        try:
            with root_files():
                self.client = docker.DockerClient(base_url=host or DEFAULT_HOST, timeout=600,
                                                  version=_API_VERSIONS.get(host or DEFAULT_HOST, "auto"))
        except docker.errors.DockerException as exc:
            raise Ds01Error(f"cannot reach the Docker engine: {exc}",
                            hint="is dockerd running? DOCKER_HOST selects another engine") from None
        self.api = self.client.api

    def _event(self, event_type: str, info: dict[str, Any], **details: Any) -> None:
        """Log `event_type` about the container `info` (an inspect result) for its owner."""
        if self.log is None:
            return
        from .containers import record  # lazy: ds01.containers, 0.9 ms

        rec = record(info)
        self.log(event_type, rec["user"], container=rec["container"], name=rec["name"], id=rec["id"], **details)

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except self._errors.NotFound as exc:
            raise NotFound(f"{what}: {exc.explanation or exc}") from None
        except self._errors.APIError as exc:
            raise Ds01Error(f"{what}: {exc.explanation or exc}") from None

    # -- images

    def image(self, ref: str) -> tuple[str, dict[str, str], list[str]]:
        """(image ID, labels, tags) of `ref`."""
        info = self._call(f"inspect image {ref}", self.api.inspect_image, ref)
        return info["Id"], (info.get("Config") or {}).get("Labels") or {}, info.get("RepoTags") or []

    def ensure_image(self, ref: str,
                     progress: Callable[[str], object] | None = None) -> tuple[str, dict[str, str], list[str]]:
        """(image ID, labels, tags) of `ref`, pulling it when it is not present locally."""
        try:
            return self.image(ref)
        except NotFound:
            pass
        if progress:
            progress(f"pulling {ref} ...")
        try:
            for _ in self.api.pull(ref, stream=True, decode=True):
                pass
        except (self._errors.APIError, self._errors.DockerException) as exc:
            raise NotFound(f"image {ref} is not present and could not be pulled: {exc}",
                           hint="build it with image-create, or check the name with docker images") from None
        return self.image(ref)

    def remove_image(self, ref: str) -> None:
        self._call(f"remove image {ref}", self.api.remove_image, ref)
        if self.log is not None:
            self.log("image.remove", None, image=ref)

    # -- containers

    def set_up(self, cid: str, plan: _Plan, made_from: str, warn: Callable[[str], object] | None = None) -> None:
        """Outside the allocator lock (it reads the image): write into the created container `cid` the caller's
        account, home and sudoers drop-in when the image lacks them (ds01.images.account_layer), and in every
        case the supplementary groups ds01 gives with the host's gids. Then the create is logged.

        `made_from`: the image the engine made `cid` from (its inspection's Image). It must be the image the plan
        checked (plan.image_id), whose account files the cache keeps by that ID: a tag moved in between (by the
        caller, through another create) is refused, never cached under the other image's ID."""
        from .images import account_layer as A  # lazy: ds01.images.account_layer, 31 ms

        if plan.image_id and made_from != plan.image_id:
            raise Ds01Error(f"{plan.image} changed while your container was being made",
                            hint="run container-create again")

        try:
            if plan.account_setup:
                made = self._account_layer(cid, plan)
            else:
                made = A.group_layer(self._group_etc(cid, plan), plan.groups)
        except A.BadImage as exc:
            raise Ds01Error(f"cannot set up your account in {plan.image}: {exc}",
                            hint="ds01 needs an image with a Linux userland (/etc/passwd)") from None
        except A.TooLarge as exc:
            raise Ds01Error(f"cannot set up your account in {plan.image}: {exc}",
                            hint="docs/config.md gives the bounds on an image's account files") from None
        self._call("write your account into the container", self.api.put_archive, cid, "/", made.tar)
        for warning in made.warnings:
            if warn is not None:
                warn(warning)
        if self.log is not None:
            self.log("container.create", plan.login, container=plan.container, name=plan.name, id=cid[:12],
                     image=plan.run_image, gpus=[g["uuid"] for g in plan.gpus],
                     interface=plan.labels.get(L.INTERFACE))

    def _account_layer(self, cid: str, plan: _Plan) -> Layer:
        from .images import account_layer as A  # lazy: ds01.images.account_layer, 31 ms

        account = A.Account(plan.login, plan.uid, plan.gid, plan.name, plan.sudoers_file, sudo=plan.sudo)
        cached = self.etc_cache.get(plan.image_id) if self.etc_cache is not None else None
        if cached is None:
            cached = self._etc(cid, A.ACCOUNT_FILES, skel=True)
            if self.etc_cache is not None:
                self.etc_cache.put(plan.image_id, *cached)
        etc, warnings = cached
        home = A.existing_home(etc, account)
        bashrc = None
        if home is not None:
            try:
                bashrc = self._file(cid, home + "/.bashrc")
            except (NotFound, A.TooLarge):
                bashrc = b""
        made = A.layer(etc, account, bashrc, groups=plan.groups)
        made.warnings[:0] = warnings
        return made

    def _group_etc(self, cid: str, plan: _Plan) -> Etc:
        """The image's group files, as the new container `cid` has them: from the cache of the image's account
        files (its ID names its content) when either kind is there, else read from `cid` (two archive reads, about
        45 ms each) and kept."""
        from .images import account_layer as A  # lazy: ds01.images.account_layer, 31 ms

        for kind in ("", "groups"):
            cached = self.etc_cache.get(plan.image_id, kind) if self.etc_cache is not None else None
            if cached is not None:
                return {name: cached[0][name] for name in A.GROUP_FILES if name in cached[0]}
        etc = self._etc(cid, A.GROUP_FILES)[0]
        if self.etc_cache is not None:
            self.etc_cache.put(plan.image_id, etc, kind="groups")
        return etc

    def _etc(self, cid: str, names: Iterable[str], skel: bool = False) -> tuple[Etc, list[str]]:
        """(etc, warnings): the image's /etc/NAME files and, with `skel`, /etc/skel, each read up to its bound
        (account_layer: a larger account file is refused, a larger skel is left out with a warning)."""
        from .images import account_layer as A  # lazy: ds01.images.account_layer, 31 ms

        archives: list[bytes] = []
        for name in names:
            try:
                archives.append(self._archive(cid, f"/etc/{name}", A.MAX_ACCOUNT_FILE + 1024))
            except NotFound:
                continue
        etc = A.read_etc(*archives)
        if not skel:
            return etc, []
        try:
            etc.update(A.read_etc(self._archive(cid, "/etc/skel", A.MAX_SKEL_BYTES)))
        except NotFound:
            pass
        except A.TooLarge:
            return etc, [A.SKEL_SKIPPED]
        return etc, []

    def _archive(self, cid: str, path: str, limit: int) -> bytes:
        """The engine's tar of `path` in the container; account_layer.TooLarge past `limit` bytes, after reading
        no more than that."""
        from .images.account_layer import bounded  # lazy: ds01.images.account_layer, 23 ms

        stream, _ = self._call(f"read {path} of the image", self.api.get_archive, cid, path)
        try:
            return bounded(stream, limit, path)
        finally:
            stream.close()

    def _file(self, cid: str, path: str) -> bytes:
        import tarfile  # lazy: tarfile, 2 ms

        from .images.account_layer import MAX_ACCOUNT_FILE  # lazy: ds01.images.account_layer, 23 ms

        with tarfile.open(fileobj=io.BytesIO(self._archive(cid, path, MAX_ACCOUNT_FILE)), mode="r:") as tar:
            member = tar.next()
            handle = tar.extractfile(member) if member is not None and member.isreg() else None
            return handle.read() if handle is not None else b""

    def prepare(self, plan: _Plan) -> None:
        """Everything before the container itself: its own tag on the image (AIME's per-container image)."""
        if plan.tag_image:
            repo, tag = plan.tag_image.rsplit(":", 1)
            # the image the plan checked, by ID: a name may have moved since
            self._call(f"tag {plan.image} as {plan.tag_image}", self.api.tag, plan.image_id or plan.image, repo, tag)

    def discard(self, plan: _Plan) -> None:
        """Undo `prepare` after the container could not be made (the tag goes; the image it named stays)."""
        if plan.tag_image:
            self._quietly(self.api.remove_image, plan.tag_image)

    def create(self, plan: _Plan) -> str:
        """Create the container described by `plan` (ds01.create.Plan, prepared); returns its id. Only the
        container: `set_up` writes the account, outside the allocator lock. On any failure (an interrupt too)
        it is rolled back, also when Docker made it but its answer never came (`rollback`)."""
        from .mount_pins import make_points  # lazy: ds01.mount_pins, 9 ms

        try:
            if plan.pins:  # empty until a start through ds01 fills them (ds01.mount_pins)
                make_points(plan.pins, list(plan.user_mounts()))
            host_config = self.api.create_host_config(**plan.host_config())
            plan.create_sent = True
            created = self.api.create_container(
                plan.run_image, command=plan.command, name=plan.container, user=f"{plan.uid}:{plan.gid}",
                working_dir="/workspace", tty=True, stdin_open=True, labels=plan.labels,
                environment=plan.environment, stop_signal=plan.stop_signal, entrypoint=[], host_config=host_config)
            plan.container_id = created["Id"]
        except self._errors.APIError as exc:  # Docker answered: it made nothing
            plan.create_sent = False
            self.rollback(plan)
            if isinstance(exc, self._errors.NotFound):
                raise NotFound(f"create container: {exc.explanation or exc}") from None
            raise Ds01Error(f"create container: {exc.explanation or exc}") from None
        except BaseException:
            self.rollback(plan)
            raise
        return plan.container_id

    def rollback(self, plan: _Plan) -> None:
        """Undo a create of `plan` at whatever point it stopped: the container (by its id, or by its name when the
        request went out and no id came back, if its labels are this plan's), its bind points and its tag."""
        from .mount_pins import discard  # lazy: ds01.mount_pins, 9 ms

        cid = plan.container_id
        if not cid and plan.create_sent:
            try:
                info = self.api.inspect_container(plan.container)
            except Exception:  # noqa: BLE001 - not there (or the engine is gone): nothing of ours to remove
                info = None
            labels = ((info or {}).get("Config") or {}).get("Labels") or {}
            if info is not None and all(labels.get(k) == v for k, v in plan.labels.items()):
                cid = info["Id"]
        if cid:
            self._quietly(self.api.remove_container, cid, force=True)
        plan.container_id, plan.create_sent = "", False
        if plan.pins:
            self._quietly(discard, plan.pins)
        self.discard(plan)

    def start(self, ref: str) -> None:
        self._call(f"start {ref}", self.api.start, ref)
        info = self._call(f"inspect {ref}", self.api.inspect_container, ref)
        state = info["State"]
        self._event("container.start", info, running=bool(state.get("Running")))
        if not state.get("Running"):
            logs = self.api.logs(ref, tail=10).decode(errors="replace").strip()
            raise Ds01Error(f"{ref} exited right after starting (exit {state.get('ExitCode')}): "
                            f"{logs or state.get('Error')}")

    def pause(self, ref: str) -> None:
        self._call(f"pause {ref}", self.api.pause, ref)
        self._event("container.pause", self._call(f"inspect {ref}", self.api.inspect_container, ref))

    def unpause(self, ref: str) -> None:
        self._call(f"unpause {ref}", self.api.unpause, ref)
        self._event("container.unpause", self._call(f"inspect {ref}", self.api.inspect_container, ref))

    def stop(self, ref: str, timeout: float = 10, force: bool = False, event: str = "container.stop",
             **details: Any) -> int:
        """Send the container's stop signal and wait `timeout` s; with `force`, kill it after that.

        Returns the exit code. Without `force`, a container still running after the timeout is an error.
        `event` and `details` say why in the event log (the lifecycle jobs pass theirs).
        """
        info = self._call(f"inspect {ref}", self.api.inspect_container, ref)
        signal = self.stop_signal(info)
        code = self._stop(ref, info, signal, timeout, force)
        info = self._call(f"inspect {ref}", self.api.inspect_container, ref)
        code = info["State"].get("ExitCode") if code is None else code
        self._event(event, info, exit_code=code, timeout_s=timeout, signal=signal, **details)
        return code

    @staticmethod
    def stop_signal(info: Mapping[str, Any]) -> str:
        """The signal that ends this container cleanly.

        Its own StopSignal, except where that is SIGTERM (Docker's default), PID 1 does not catch
        SIGTERM and does catch SIGHUP. The kernel delivers a signal to a PID namespace's init only
        when init handles it, so an interactive bash as PID 1 (AIME's and DS01's containers) never
        sees SIGTERM: `docker stop` waits out its timeout and SIGKILLs it (exit 137). That shell
        ends on SIGHUP, as when its terminal closes, and passes it on to its jobs.
        """
        signal = (info.get("Config") or {}).get("StopSignal") or "SIGTERM"
        if signal.upper() not in ("SIGTERM", "TERM", "15"):
            return signal
        caught = caught_signals(info["State"].get("Pid"))
        if caught is not None and SIGTERM not in caught and SIGHUP in caught:
            return "SIGHUP"
        return signal

    def _stop(self, ref: str, info: Mapping[str, Any], signal: str, timeout: float, force: bool) -> int | None:
        if info["State"].get("Paused"):  # a frozen process cannot handle its stop signal: thaw it first
            self._call(f"unpause {ref}", self.api.unpause, ref)
        if not info["State"].get("Running") and not info["State"].get("Paused"):
            return None
        if not self._signal(ref, signal):
            return None
        code = self._wait_for_stop(ref, info, signal, timeout)
        if code is not None or not force:
            if code is None:
                raise Ds01Error(f"{ref} did not stop within {timeout}s after {signal}",
                                hint="--force kills it after the timeout; -t sets the timeout")
            return code
        try:
            self.api.kill(ref, signal="SIGKILL")
        except self._errors.APIError as exc:
            if "is not running" not in str(exc.explanation or exc):
                raise Ds01Error(f"kill {ref}: {exc.explanation or exc}") from None
        return self._wait(ref, 30)

    def _signal(self, ref: str, signal: str) -> bool:
        """Send `signal`; False when the container had stopped already."""
        try:
            self.api.kill(ref, signal=signal)
        except self._errors.APIError as exc:
            if "is not running" in str(exc.explanation or exc):
                return False
            raise Ds01Error(f"signal {ref}: {exc.explanation or exc}") from None
        return True

    def _wait_for_stop(self, ref: str, info: Mapping[str, Any], signal: str, timeout: float) -> int | None:
        """`_wait`, but when SIGTERM went to a shell still starting up (`bash -c "…; bash"` before its
        interactive bash has set its handlers), SIGHUP follows as soon as PID 1 catches it."""
        if signal.upper() not in ("SIGTERM", "TERM", "15"):
            return self._wait(ref, timeout)
        deadline = time.monotonic() + timeout
        while True:
            code = self._wait(ref, min(0.5, max(0.0, deadline - time.monotonic())))
            if code is not None or time.monotonic() >= deadline:
                return code
            if self.stop_signal(info) == "SIGHUP":
                if not self._signal(ref, "SIGHUP"):
                    return self._wait(ref, 1)
                return self._wait(ref, max(0.0, deadline - time.monotonic()))

    def _wait(self, ref: str, timeout: float) -> int | None:
        """The exit code once the container stops, or None when it still runs after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                code: int = self.api.wait(ref, timeout=max(0.1, deadline - time.monotonic()))["StatusCode"]
                return code
            except self._errors.APIError as exc:
                raise Ds01Error(f"stop {ref}: {exc.explanation or exc}") from None
            except Exception:  # noqa: BLE001 - requests' ReadTimeout / ConnectionError: still running
                if time.monotonic() >= deadline:
                    return None

    def remove(self, ref: str, force: bool = False, volumes: bool = False, **details: Any) -> str | None:
        """Remove the container, then its image only if that image is its own per-container tag: the tag is
        exactly the container's `name._.uid` (a legacy name such as `latest` never names its own image).
        `volumes`: also the anonymous volumes Docker made for it (`docker rm -v`; named volumes stay)."""
        info = self._call(f"inspect {ref}", self.api.inspect_container, ref)
        name = info["Name"].lstrip("/")
        image = info["Config"].get("Image") or ""
        self._call(f"remove {name}", self.api.remove_container, info["Id"], force=force, v=volumes)
        self._event("container.remove", info, status=info["State"].get("Status"), **details)
        from .mount_pins import available, discard, pins_of  # lazy: ds01.mount_pins, 9 ms

        pins = pins_of(info)
        if pins and available():
            self._quietly(discard, pins)
        if is_own_tag(image, name):
            try:
                self.api.remove_image(image)
            except self._errors.APIError as exc:
                return f"kept image {image}: {exc.explanation or exc}"
        return None

    @staticmethod
    def _quietly(fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # noqa: BLE001, S110 - best-effort cleanup after an error already being reported
            pass
