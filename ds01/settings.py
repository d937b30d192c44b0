"""Every value ds01 takes from its surroundings, in one table, read in one place, each with where it came from.

This module is the only reader of the process environment. `Runtime` builds one `Settings` per
command from the environment, the command's own arguments (`--config`) and the policy file; the rest
of ds01 asks it. Each resolved value says its source (argument, environment, config or default), so a
privileged side can refuse what an unprivileged caller's environment tried to set. The man pages'
ENVIRONMENT section is rendered from `TABLE`.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .protocol import PASSED, PASSED_PREFIXES

ARGUMENT, ENVIRONMENT, CONFIG, DEFAULT = "argument", "environment", "config", "default"


@dataclass(frozen=True)
class Setting:
    name: str
    env: tuple[str, ...]  # variables read, the first one set wins
    default: object
    doc: str
    config: tuple[str, ...] = ()  # (section, key) in the policy file, below the environment
    documented: bool = True  # listed in the man pages' ENVIRONMENT


TABLE = (
    Setting("config", ("DS01_CONFIG",), "/etc/ds01/resource-limits.yaml",
            "the policy file (default /etc/ds01/resource-limits.yaml; --config overrides it)"),
    Setting("docker_host", ("DOCKER_HOST",), "unix:///var/run/docker.sock",
            "the Docker engine to use (default unix:///var/run/docker.sock)"),
    Setting("state_dir", ("DS01_STATE_DIR",), "/var/lib/ds01",
            "GPU claims, reservations and the allocator lock (default /var/lib/ds01; the policy's paths.state_dir)",
            config=("paths", "state_dir")),
    Setting("gpu_inventory", ("DS01_GPU_INVENTORY",), None,
            "a simulated GPU inventory (YAML) instead of NVML, for tests and demos (the policy's gpu.inventory)",
            config=("gpu", "inventory")),
    Setting("arch", ("MLC_ARCH",), None, "the catalog architecture, as for AIME's mlc (--arch overrides it)"),
    Setting("log_dir", ("DS01_LOG_DIR",), "/var/log/ds01",
            "where events.jsonl is written and read (default /var/log/ds01; the policy's paths.log_dir)",
            config=("paths", "log_dir")),
    Setting("now", ("DS01_NOW",), None,
            "the time the lifecycle jobs and ds01-events use (Unix seconds or ISO 8601; tests)"),
    Setting("utmp", ("DS01_UTMP",), "/var/run/utmp", "the login records notices are sent by (default /var/run/utmp; "
                                                     "tests)"),
    Setting("tty_dir", ("DS01_TTY_DIR",), "/dev", "where the terminals named in utmp are (default /dev; tests)"),
    Setting("socket", ("DS01_SOCKET",), "/run/ds01/ds01.sock",
            "the ds01d socket the commands use (default /run/ds01/ds01.sock); read by the client, so pointing it "
            "elsewhere fools only its own caller"),
    Setting("greeting_dir", ("DS01_GREETING_DIR",), "/run/ds01/greetings",
            "where ds01-greetings writes each user's login line (default /run/ds01/greetings)"),
    Setting("editor", ("VISUAL", "EDITOR"), None, "the editor image-update --edit opens (VISUAL, then EDITOR)"),
    Setting("no_color", ("NO_COLOR",), None, "set to anything: tables without colour"),
    Setting("slurm_conf", ("DS01_SLURM_CONF",), None,
            "the slurm.conf ds01's Slurm commands use (SLURM_CONF for them; default Slurm's own)"),
    Setting("node_name", ("DS01_NODE_NAME",), None,
            "this node's Slurm name, for the cluster shim's node trust (default the short host name)"),
    Setting("gres_conf", ("DS01_GRES_CONF",), "/etc/slurm/gres.conf",
            "the node's gres.conf: a job's GPU indices to devices (default /etc/slurm/gres.conf)"),
    Setting("slurm_shim", ("DS01_SLURM_SHIM",), None,
            "the ds01-slurm-shim path a cluster job runs (default the one installed beside ds01)"),
    Setting("cluster_node_socket", ("DS01_CLUSTER_NODE_SOCKET",), None,
            "the nodes' ds01d socket as a cluster job reaches it ({node}: the node's name; default ds01d's own)"),
    Setting("live_view", ("DS01_LIVE_VIEW",), "on",
            "ds01d: `off` to list containers from the engine on every read instead of its live view (bench, debugging)",
            documented=False),
    Setting("notify_socket", ("NOTIFY_SOCKET",), None, "systemd's readiness socket (ds01d says READY=1 on it)",
            documented=False),
    Setting("sudo_uid", ("SUDO_UID",), None, "under sudo, the account that ran it, which is then the caller",
            documented=False),
    Setting("home", ("HOME",), "/", "the home of a caller without a passwd entry", documented=False),
)
BY_NAME = {s.name: s for s in TABLE}
# What a shell in a container inherits from the caller's terminal (never ds01's own settings).
SESSION_PASS = ("DISPLAY", "NCCL_P2P_LEVEL", "TERM", "COLORTERM", "LANG")
# The caller's variables a ds01d worker takes from its client: the wire protocol's one list (the client sends
# only these); everything else a worker knows comes from ds01d's own environment and root-owned files.
CLIENT_PASS = PASSED
CLIENT_PASS_PREFIXES = PASSED_PREFIXES
# Variables of ds01d's own environment a worker never keeps: its caller is the kernel's answer.
DAEMON_ONLY = ("SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND", "LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET")
CHILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Resolved:
    name: str
    value: Any
    source: str  # ARGUMENT, ENVIRONMENT, CONFIG or DEFAULT
    origin: str  # the variable, the flag, the policy key, or "built in"


class Settings:
    """One command's settings. `environ` is copied once; `policy` (a Policy, or a callable giving one) is
    read only for settings that have a policy key, and only when asked."""

    def __init__(self, environ: Mapping[str, str] | None = None, arguments: Mapping[str, Any] | None = None,
                 policy: Any = None) -> None:
        source = os.environ if environ is None else environ
        names = {v for s in TABLE for v in s.env} | set(SESSION_PASS)
        self._environ = {k: source[k] for k in names if source.get(k)}
        self._arguments = {k: v for k, v in (arguments or {}).items() if v not in (None, "")}
        self._policy = policy
        self._cache: dict[str, Resolved] = {}

    def resolve(self, name: str) -> Resolved:
        """The value of `name` and where it came from: argument, then environment, then policy, then default."""
        if name in self._cache:
            return self._cache[name]
        setting = BY_NAME[name]
        found: Resolved | None = None
        if name in self._arguments:
            found = Resolved(name, self._arguments[name], ARGUMENT, name)
        for variable in setting.env:
            if found is None and variable in self._environ:
                found = Resolved(name, self._environ[variable], ENVIRONMENT, variable)
        if found is None and setting.config and self._policy is not None:
            policy = self._policy() if callable(self._policy) else self._policy
            section, key = setting.config
            value = policy.section(section).get(key)
            if value not in (None, ""):
                found = Resolved(name, value, CONFIG, f"{policy.path}: {section}.{key}")
        if found is None:
            found = Resolved(name, setting.default, DEFAULT, "built in")
        self._cache[name] = found
        return found

    def get(self, name: str) -> Any:
        return self.resolve(name).value

    def source(self, name: str) -> str:
        return self.resolve(name).source

    def session_environment(self) -> dict[str, str]:
        """The caller's terminal variables a shell in a container gets (`docker exec -e`)."""
        return {k: self._environ[k] for k in SESSION_PASS if k in self._environ}

    def docker_cli_environment(self, home: str) -> dict[str, str]:
        """The whole environment of the `docker` client a session runs: a fixed PATH, the caller's home,
        and the terminal variables. Nothing else of the caller's (DOCKER_CONFIG, DOCKER_CONTEXT, …)
        reaches it; the engine is named by `--host` from the docker_host setting."""
        return {"PATH": CHILD_PATH, "HOME": home, **self.session_environment()}

    def records(self) -> list[dict[str, Any]]:
        """Every setting as a record (name, value, source, origin), for diagnostics."""
        return [vars(self.resolve(s.name)) | {"env": list(s.env)} for s in TABLE]


def worker_environment(daemon: Mapping[str, str], client: Mapping[str, str],
                       account: Mapping[str, str]) -> dict[str, str]:
    """A ds01d worker's environment: ds01d's own (root's choice), minus what names a caller, plus the
    caller's account (HOME, USER, LOGNAME from passwd, so `~` is theirs) and the client's terminal
    variables (CLIENT_PASS); nothing else of the client's."""
    passed = {k: v for k, v in client.items() if isinstance(k, str) and isinstance(v, str)
              and (k in CLIENT_PASS or k.startswith(CLIENT_PASS_PREFIXES)) and "\0" not in v}
    return {k: v for k, v in daemon.items() if k not in DAEMON_ONLY} | dict(account) | passed


def adopt(environ: Mapping[str, str]) -> None:
    """Make `environ` this process's environment (a ds01d worker, before it runs a command)."""
    os.environ.clear()
    os.environ.update(environ)


def in_ci() -> bool:
    """Whether this runs under CI (`CI` set, as CI services and the caller's own shell say): nothing waits for a
    person then. A caller's CI reaches a worker (CLIENT_PASS): it only stops their own prompts."""
    return bool(os.environ.get("CI"))


def daemon_environment() -> dict[str, str]:
    return dict(os.environ)
