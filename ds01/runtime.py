"""What one command invocation needs, each piece loaded on first use (so a command pays only for what it uses).

Whether the command is served is a fact a `Runtime` is given when it is built, never a question it asks its
surroundings: ds01d's worker says so once (`serve`) before it runs the command, and every `Runtime` that
process builds carries it as `rt.served` (None in-process). Code asks `rt.served`, `rt.caller` and `rt.root`,
never the environment, a global or the effective uid, whether and for whom it acts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import Ds01Error, PermissionDenied
from .gpu import load_inventory
from .output import warn
from .privilege import root_files
from .settings import ARGUMENT, DEFAULT, Settings

if TYPE_CHECKING:
    import datetime

    from .containers import Finder
    from .dockerapi import DockerAPI
    from .engine import Engine
    from .events import Log
    from .gpu.model import Inventory
    from .identity import User
    from .policy import Limits, Policy


@dataclass(frozen=True)
class Served:
    """ds01d serves this command for `caller`, the account the kernel named (SO_PEERCRED), whose client process
    was `pid` when ds01d accepted the connection at `connected_at` (CLOCK_BOOTTIME seconds): the cluster's node
    trust checks that process (a pid reused after that moment is not it)."""

    caller: User
    pid: int
    connected_at: float


SERVING: Served | None = None  # set once, by ds01d's worker (`serve`), before the command runs
_environ: Mapping[str, str] | None = None  # `given`: what in-process Runtimes read, not the process environment


def serve(served: Served) -> None:
    """A ds01d worker, once, before it runs its command: every Runtime this process builds serves `served`."""
    global SERVING
    SERVING = served


@contextlib.contextmanager
def given(environ: Mapping[str, str]) -> Iterator[None]:
    """Runtimes a command builds inside the block read `environ` instead of the process environment: how a test
    hands its settings to a command it runs in-process (the command builds its own Runtime)."""
    global _environ
    saved, _environ = _environ, dict(environ)
    try:
        yield
    finally:
        _environ = saved


class Runtime:
    read_only: bool
    settings: Settings
    served: Served | None  # ds01d serves this command (for whom, from which process); None in-process
    root: bool  # the caller has root's powers (a worker's own root acts for its caller and does not count)

    def __init__(self, config: str | None = None, settings: Settings | None = None,
                 environ: Mapping[str, str] | None = None, policy: Policy | None = None, read_only: bool = False,
                 served: Served | None = None) -> None:
        """`config` is the --config flag; `settings` (or `environ`, a mapping) replaces the process environment,
        and `policy`, an already loaded Policy, the policy file. A `read_only` command reads the policy at once
        and says (once, on stderr) when it is broken or missing, then goes on with the built-in defaults.
        `served`: ds01d serves this command (default: what the worker said with `serve`, else in-process)."""
        if policy is not None:
            self.__dict__["policy"] = policy  # the cached_property's slot
        self.read_only = read_only
        self.served = served if served is not None else SERVING
        # Served: whether the caller the kernel named is root. In-process the caller's rights are this
        # process's own rights, so its effective uid answers (root, or a command run through sudo).
        self.root = self.served.caller.uid == 0 if self.served is not None else os.geteuid() == 0
        self.settings = settings or Settings(environ if environ is not None else _environ, {"config": config},
                                             policy=lambda: self.policy)
        if read_only:
            self.policy  # noqa: B018 - the warning comes first, before the command's output

    @functools.cached_property
    def policy(self) -> Policy:
        from . import policy  # lazy: ds01.policy, 2 ms

        config = self.settings.resolve("config")
        if config.source == ARGUMENT:
            self._may_name_a_policy()
        # ds01d's own policy with root's rights; a --config the caller named, with the caller's own
        # (and, like every policy a privileged ds01 reads, it must be root's: schema.read_trusted)
        try:
            if config.source == ARGUMENT:  # a path the caller named: read afresh, with their rights
                loaded = policy.load(config.value)
            else:
                with root_files():
                    loaded = policy.load_cached(None if config.source == DEFAULT else config.value)
        except Ds01Error as exc:
            if not self.read_only:
                raise
            self.warn(f"the policy is broken or missing: {exc.message}; this shows the built-in defaults")
            sys.stderr.write("  hint: ds01-doctor checks the policy; an admin fixes it\n")
            return policy.Policy(path="<embedded defaults>", data={})
        if self.read_only and loaded.path == "<embedded defaults>":
            self.warn(f"no policy at {policy.DEFAULT_PATH}: the built-in defaults apply")
            sys.stderr.write("  hint: an admin installs one (make install puts the shipped one there)\n")
        return loaded

    def _may_name_a_policy(self) -> None:
        """Only an admin (by ds01d's own policy) names the policy: ds01d refuses --config to anyone else
        before a command runs (ds01/authority.py); this holds even for a path that forgets to ask."""
        if self.served is None:
            return  # in-process: the caller's own rights decide what they can read
        from . import policy  # lazy: ds01.policy, 2 ms
        from .identity import is_admin  # lazy: ds01.identity, 0.6 ms

        daemons = Settings().resolve("config")  # ds01d's own environment: root's choice
        with root_files():
            own = policy.load_cached(None if daemons.source == DEFAULT else daemons.value)
        if not is_admin(self.caller, own, self.root):
            raise PermissionDenied("--config is for admins only: ds01d uses the lab's policy",
                                   hint="resource-limits shows the limits that policy gives you")

    @functools.cached_property
    def caller(self) -> User:
        """The person running the command: the one ds01d serves, else this process's account (or sudo's caller)."""
        if self.served is not None:
            return self.served.caller
        from .identity import caller  # lazy: ds01.identity, 0.6 ms

        return caller(self.settings.get("sudo_uid"), self.settings.get("home"))

    def now(self) -> datetime.datetime:
        """The time decisions use: the real clock, or the `now` setting (DS01_NOW) in tests."""
        from . import clock  # lazy: ds01.clock, 0.5 ms

        return clock.now(self.settings.get("now"))

    def now_iso(self) -> str:
        from . import clock  # lazy: ds01.clock, 0.5 ms

        return clock.iso(self.now())

    @functools.cached_property
    def admin(self) -> bool:
        from .identity import is_admin  # lazy: ds01.identity, 0.6 ms

        return is_admin(self.caller, self.policy, self.root)

    def limits(self, login: str) -> Limits:
        return self.policy.resolve(login)

    @functools.cached_property
    def inventory(self) -> Inventory:
        """The host's GPUs (simulated when configured, else NVML; none without a driver)."""
        with root_files():
            return load_inventory(self.settings.get("gpu_inventory"))

    @functools.cached_property
    def api(self) -> DockerAPI:
        from .dockerapi import DockerAPI  # lazy: ds01.dockerapi, 2 ms

        return DockerAPI(self.settings.get("docker_host"))

    @functools.cached_property
    def engine(self) -> Engine:
        from .engine import Engine  # lazy: ds01.engine, 3 ms
        from .gpu.state import State  # lazy: ds01.gpu.state, 9 ms
        from .images.account_layer import Cache  # lazy: ds01.images.account_layer, 17 ms

        engine = Engine(self.settings.get("docker_host"))
        engine.log = self.log_event
        engine.etc_cache = Cache(State.of(self))
        return engine

    @functools.cached_property
    def events(self) -> Log:
        """The event log writer: this command's name as source, the caller as actor."""
        from . import events  # lazy: ds01.events, 1 ms

        source = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ds01"
        return events.Log(self.settings.get("log_dir"), source, self.caller.login, clock=self.now)

    def log_event(self, event_type: str, user: str | None = None, **details: Any) -> Any:
        """Append to the event log; never fails the command (a problem is said once on stderr)."""
        return self.events(event_type, user, **details)

    @functools.cached_property
    def finder(self) -> Finder:
        from .containers import Finder  # lazy: ds01.containers, 1 ms

        return Finder(self.api, self.caller, self.admin)

    def refresh(self) -> None:
        """Forget what changes while a live view runs (the GPUs' readings, the container list)."""
        self.__dict__.pop("inventory", None)
        if "finder" in self.__dict__:
            self.finder.refresh()

    def warn(self, message: str) -> None:
        """A warning for people, always (the command goes on)."""
        warn(message)

    def progress(self, message: str) -> None:
        """Progress for people: only on a terminal."""
        if sys.stderr.isatty():
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
