"""What one command invocation needs, each piece loaded on first use (so a command pays only for what it uses)."""

import functools
import os
import sys

_peer = None  # in a ds01d worker: (pid, CLOCK_BOOTTIME s at accept) of the client that connected (SO_PEERCRED)


def peer():
    """The connected client process as the kernel named it, for the cluster's node trust; None in-process."""
    return _peer


def set_peer(pid, connected_at):
    global _peer
    _peer = (pid, connected_at)


class Runtime:
    def __init__(self, config=None, settings=None, environ=None, policy=None, read_only=False):
        """`config` is the --config flag; `settings` (or `environ`, a mapping) replaces the process environment,
        and `policy`, an already loaded Policy, the policy file. A `read_only` command reads the policy at once
        and says (once, on stderr) when it is broken or missing, then goes on with the built-in defaults."""
        from .settings import Settings

        if policy is not None:
            self.__dict__["policy"] = policy  # the cached_property's slot
        self.read_only = read_only
        self.settings = settings or Settings(environ, {"config": config}, policy=lambda: self.policy)
        if read_only:
            self.policy  # noqa: B018 - the warning comes first, before the command's output

    @functools.cached_property
    def policy(self):
        import contextlib

        from . import policy
        from .errors import Ds01Error
        from .privilege import root_files
        from .settings import ARGUMENT, DEFAULT

        config = self.settings.resolve("config")
        if config.source == ARGUMENT:
            self._may_name_a_policy()
        # ds01d's own policy with root's rights; a --config the caller named, with the caller's own
        # (and, like every policy a privileged ds01 reads, it must be root's: schema.read_trusted)
        try:
            with contextlib.nullcontext() if config.source == ARGUMENT else root_files():
                loaded = policy.load(None if config.source == DEFAULT else config.value)
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

    def _may_name_a_policy(self):
        """Only an admin (by ds01d's own policy) names the policy: ds01d refuses --config to anyone else
        before a command runs (ds01/authority.py); this holds even for a path that forgets to ask."""
        from .errors import PermissionDenied
        from .identity import is_admin
        from .privilege import acting_for

        if acting_for() is None:
            return  # in-process: the caller's own rights decide what they can read
        from . import policy
        from .privilege import root_files
        from .settings import DEFAULT, Settings

        daemons = Settings().resolve("config")  # ds01d's own environment: root's choice
        with root_files():
            own = policy.load(None if daemons.source == DEFAULT else daemons.value)
        if not is_admin(self.caller, own):
            raise PermissionDenied("--config is for admins only: ds01d uses the lab's policy",
                                   hint="resource-limits shows the limits that policy gives you")

    @functools.cached_property
    def caller(self):
        from .identity import caller

        return caller(self.settings.get("sudo_uid"), self.settings.get("home"))

    def now(self):
        """The time decisions use: the real clock, or the `now` setting (DS01_NOW) in tests."""
        from . import clock

        return clock.now(self.settings.get("now"))

    def now_iso(self):
        from . import clock

        return clock.iso(self.now())

    @functools.cached_property
    def admin(self):
        from .identity import is_admin

        return is_admin(self.caller, self.policy)

    def limits(self, login):
        return self.policy.resolve(login)

    @functools.cached_property
    def inventory(self):
        """The host's GPUs (simulated when configured, else NVML; none without a driver)."""
        from .gpu import load_inventory
        from .privilege import root_files

        with root_files():
            return load_inventory(self.settings.get("gpu_inventory"))

    @functools.cached_property
    def api(self):
        from .dockerapi import DockerAPI

        return DockerAPI(self.settings.get("docker_host"))

    @functools.cached_property
    def engine(self):
        from .engine import Engine
        from .gpu.state import State
        from .images.account_layer import Cache

        engine = Engine(self.settings.get("docker_host"))
        engine.log = self.log_event
        engine.etc_cache = Cache(State.of(self))
        return engine

    @functools.cached_property
    def events(self):
        """The event log writer: this command's name as source, the caller as actor."""
        from . import events

        source = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ds01"
        return events.Log(self.settings.get("log_dir"), source, self.caller.login, clock=self.now)

    def log_event(self, event_type, user=None, **details):
        """Append to the event log; never fails the command (a problem is said once on stderr)."""
        return self.events(event_type, user, **details)

    @functools.cached_property
    def finder(self):
        from .containers import Finder

        return Finder(self.api, self.caller, self.admin)

    def refresh(self):
        """Forget what changes while a live view runs (the GPUs' readings, the container list)."""
        self.__dict__.pop("inventory", None)
        if "finder" in self.__dict__:
            self.finder.refresh()

    def warn(self, message):
        """A warning for people, always (the command goes on)."""
        from .output import warn

        warn(message)

    def progress(self, message):
        """Progress for people: only on a terminal."""
        if sys.stderr.isatty():
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
