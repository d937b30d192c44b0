"""ds01d: the root broker every user's command goes through, so users need no Docker access at all.

One warm process (the library, click and the Docker SDK already imported) accepts connections
on a Unix socket and forks one worker per request. The worker:
- knows its caller only from the kernel (SO_PEERCRED on the connection), never from the request;
- takes the client's stdin, stdout, stderr and working directory as file descriptors
  (SCM_RIGHTS), so pipes, terminals, pick lists and `docker exec` sessions work as in-process;
- replaces its environment with ds01d's own plus the client's terminal variables
  (settings.worker_environment), so DS01_CONFIG, DS01_NOW and the rest are root's choice;
- drops its filesystem rights to the caller's (privilege.act_for) before it touches any path, and
  takes root's back only for the Docker socket, the state dir, the event log and root's config;
- runs the same command implementation (entry.run_named) and exits with its status, which
  ds01d sends back to the client after reaping the worker.

The worker stays root by uid (real, effective and saved), so its caller can neither signal nor
trace it; the client asks for SIGINT, SIGTERM, SIGHUP and SIGWINCH over the connection instead,
and a client that goes away is an interrupt: the command rolls back as it would on Ctrl-C.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import protocol
from .engine import learn_api_version
from .errors import Ds01Error
from .protocol import DEFAULT_SOCKET
from .sd_notify import notify_ready

if TYPE_CHECKING:
    from .identity import User
    from .live_view import View

MAX_PER_CALLER = 64  # workers one uid may have at once: a loop of connects cannot fork-bomb root
MAX_WORKERS = 512


def log(message: str) -> None:
    """One line for journald (ds01d's own stderr; a worker keeps a copy of it)."""
    from .visible import visible

    try:
        os.write(_log_fd, (f"ds01d[{os.getpid()}]: " + visible(message) + "\n").encode(errors="backslashreplace"))
    except OSError:
        pass


_log_fd = 2


def warm_up() -> None:
    """Import what commands need, once, before the first fork (each worker then starts warm)."""
    import importlib

    import click  # noqa: F401
    import docker  # noqa: F401
    import yaml  # noqa: F401

    from . import registry

    for command in registry.COMMANDS:
        importlib.import_module(command.module)
    for name in ("difflib",  # click's suggestion for an unknown option: `-a` is tried as a long one first
                 "ds01.cli.dispatch", "ds01.completion_values", "ds01.containers", "ds01.engine", "ds01.create",
                 "ds01.gpu.allocator", "ds01.policy", "ds01.runtime", "ds01.sessions", "ds01.events", "ds01.entry",
                 "ds01.output", "ds01.visible", "ds01.identity", "ds01.dockerapi", "syslog", "traceback",
                 # the live views' drawing (rich: 25 ms cold), as the SDK is here for the commands that change Docker
                 "ds01.dashboard", "ds01.live", "ds01.container_stats", "rich.console", "rich.table", "rich.text",
                 "rich.live",
                 # what a served read imports on its way (the cluster default: its dataclasses and regexes cost
                 # 2-3 ms in every worker), and the authority's and the live view's
                 "ds01.cluster.model", "ds01.cluster.status", "ds01.authority", "ds01.live_view", "ds01.gpu.holdings",
                 "ds01.cli._cluster", "ds01.gpu.simulated", "ds01.gpu.nvml", "ds01.metrics"):
        importlib.import_module(name)
    time.strptime("2000-01-01T00:00:00", "%Y-%m-%dT%H:%M:%S")  # _strptime's regex, compiled once (live_view._ns)
    from . import privilege

    privilege.filesystem_uid()  # loads libc through ctypes now, not in every worker
    import gc

    gc.collect()
    gc.freeze()


def hold_lock(path: str, mode: int = 0o600) -> int | None:
    """An exclusive flock on `path` (created with `mode`, never opened through a symlink): its fd, or None
    while another process holds it. The lock lasts until every copy of the fd is closed, so a holder
    that dies, even by SIGKILL, leaves no stale lock behind."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def claim(path: str) -> int:
    """ds01d's hold on its socket: `SOCKET.lock` beside it, locked for ds01d's life, with its pid inside.

    A second ds01d on the same socket is refused here, before it touches the first's socket. The file is
    root's and 0600: a user who could open it could hold a lock of their own and keep ds01d from starting."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    lock_path = path + ".lock"
    try:
        fd = hold_lock(lock_path)
        if fd is None:
            holder = _pid_in(lock_path)
            raise Ds01Error(f"another ds01d{f' (pid {holder})' if holder else ''} serves {path}",
                            hint="systemctl status ds01d (stop that one first; one ds01d serves a socket)")
        info = os.fstat(fd)
        # this process's own rights: the lock file must be ds01d's own account's
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            os.close(fd)
            raise Ds01Error(f"{lock_path} is not ds01d's own lock file (not a regular file of root's)",
                            hint=f"remove {lock_path}; ds01d makes it again")
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    except OSError as exc:
        raise Ds01Error(f"cannot lock {lock_path}: {exc.strerror}", hint="ds01d runs as root: systemctl start ds01d") \
            from None
    return fd


def _pid_in(lock_path: str) -> int | None:
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        text = os.read(fd, 32).strip()
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def listen(path: str) -> socket.socket:
    """The socket, mode 0666 in a 0755 directory (anyone may connect; the kernel says who did).

    Called with claim()'s lock held: a socket already at `path` is then a dead ds01d's, and is replaced."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise Ds01Error(f"{path} exists and is not a socket", hint="remove it, or: ds01d --socket OTHER_PATH")
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o111)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o666)  # noqa: S103 - every user connects; the kernel tells ds01d who they are
    sock.listen(128)
    return sock


def identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None: which socket is there, not only that one is."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def peer(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process on the other end, from the kernel."""
    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid, uid, gid


class Broker:
    def __init__(self, sock: socket.socket, overrides: Mapping[str, str] | None = None, lock: int | None = None,
                 view: View | None = None) -> None:
        self.sock = sock
        self.view = view  # live_view.View: the engine's containers, followed here, read by the workers
        self.followed: Any = None  # the view's stream as registered with the selector
        self.lock = lock  # claim()'s fd: a worker closes its copy, so a worker that outlives ds01d holds nothing
        self.overrides = dict(overrides or {})  # ds01d's own flags (--config), as its environment
        self.workers: dict[int, tuple[socket.socket, int, float]] = {}  # pid -> (connection, caller uid, start time)
        self.stopping = False

    def serve(self) -> None:
        """Accept and fork until SIGTERM or SIGINT; then stop accepting and wait for the workers."""
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ, "accept")
        selector.register(wake_r, selectors.EVENT_READ, "signal")
        while not (self.stopping and not self.workers):
            self.follow(selector)
            for key, _ in selector.select(timeout=None if not self.stopping else 1.0):
                if key.data == "accept":
                    self.accept()
                elif key.data == "view" and self.view is not None:
                    self.view.readable()
                else:
                    self.signals(wake_r, selector)
            self.reap()
        signal.set_wakeup_fd(-1)

    def follow(self, selector: selectors.BaseSelector) -> None:
        """Keep the view's event stream in the selector: off when it broke, back (rebuilt) when a retry is due."""
        if self.view is None:
            return
        if self.view.retry_due() and not self.stopping:
            self.view.build()
            learn_api_version(self.view.api.host)  # the engine went away: it may have come back upgraded
        stream = self.view.stream
        if self.followed is not None and self.followed is not stream:
            selector.unregister(self.followed)
            self.followed = None
        if stream is not None and self.followed is None:
            selector.register(stream, selectors.EVENT_READ, "view")
            self.followed = stream

    def signals(self, wake_r: int, selector: selectors.BaseSelector) -> None:
        try:
            received = os.read(wake_r, 512)
        except BlockingIOError:
            return
        if {signal.SIGTERM, signal.SIGINT, signal.SIGHUP} & set(received) and not self.stopping:
            self.stopping = True
            selector.unregister(self.sock)
            self.sock.close()
            log(f"stopping: {len(self.workers)} worker(s) still running")

    def accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        try:
            pid_of_peer, uid, gid = peer(conn)
            connected_at = time.clock_gettime(time.CLOCK_BOOTTIME)  # node_trust: a pid reused after this is not it
            self.reap()  # workers that have exited no longer count, even before their SIGCHLD is read
            busy = sum(1 for _, owner, _ in self.workers.values() if owner == uid)
            if uid != 0 and (busy >= MAX_PER_CALLER or len(self.workers) >= MAX_WORKERS):
                log(f"uid {uid}: refused a request: {busy} of its requests are running")
                conn.sendall(protocol.error_line(f"ds01d is busy with {busy} of your commands; try again when they"
                                                 " finish") + protocol.exit_line(3))
                conn.close()
                return
            self.warm_policy()
            pid = os.fork()
        except OSError as exc:
            log(f"cannot serve a request: {exc}")
            conn.close()
            return
        if pid == 0:
            code = 1
            try:
                self.sock.close()
                if self.lock is not None:
                    os.close(self.lock)  # closing a copy releases nothing; ds01d keeps its lock
                signal.set_wakeup_fd(-1)
                code = work(conn, uid, gid, (pid_of_peer, connected_at), self.overrides)
            except BaseException as exc:  # noqa: BLE001 - a worker never returns into the accept loop
                log(f"worker failed: {type(exc).__name__}: {exc}")
            finally:
                os._exit(code)
        self.workers[pid] = (conn, uid, time.monotonic())

    def warm_policy(self) -> None:
        """Load ds01d's own policy here, kept while its files are unchanged (policy.load_cached): a worker
        inherits it and reads no policy file. A policy that does not load is left for the worker to report."""
        from . import policy, settings

        config = settings.Settings(settings.daemon_environment() | self.overrides).resolve("config")
        try:
            policy.load_cached(None if config.source == settings.DEFAULT else config.value)
        except Exception:  # noqa: BLE001, S110 - the worker loads it again and says why to its caller
            pass

    def reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            entry = self.workers.pop(pid, None)
            if entry is None:
                continue
            conn, uid, started = entry
            code = protocol.exit_code(status)
            try:
                conn.sendall(protocol.exit_line(code))
            except OSError:
                pass  # the client went away
            conn.close()
            log(f"uid {uid}: worker {pid} exited {code} after {1000 * (time.monotonic() - started):.0f} ms")


def _caller(uid: int, gid: int) -> tuple[User, list[int]]:
    from .identity import User, lookup

    user = lookup(uid)
    if user is None:
        return User(login=str(uid), uid=uid, gid=gid, home="/"), [gid]
    return user, os.getgrouplist(user.login, user.gid)


def _listen_for_signals(conn: socket.socket) -> None:
    """The client's signals go to the worker's process group (it and its children, as from a
    terminal); the client going away is an interrupt. A line longer than any `signal N` is a client
    that is not ds01's: it is disconnected and the command interrupted, so a root worker never holds
    more than protocol.MAX_SIGNAL_LINE bytes of what a client sends after its request."""
    try:
        for signum in protocol.signals(conn):
            os.killpg(0, signum)
    except protocol.ProtocolError as exc:
        log(f"{exc}: disconnected, the command interrupted")
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    os.killpg(0, signal.SIGINT)


def _standard_streams() -> None:
    """New sys.std* objects on fds 0-2 (the client's), buffered as Python buffers its own."""
    import io

    def stream(fd: int, mode: str, errors: str, line_buffering: bool) -> io.TextIOWrapper:
        raw = io.open(fd, mode + "b", closefd=False)  # noqa: SIM115, UP020 - the process's own fds
        return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, line_buffering=line_buffering)

    sys.stdin = stream(0, "r", "surrogateescape", False)
    sys.stdout = stream(1, "w", "surrogateescape", os.isatty(1))
    sys.stderr = stream(2, "w", "backslashreplace", True)


def work(conn: socket.socket, uid: int, gid: int, peer_process: tuple[int, float],
         overrides: Mapping[str, str] | None = None) -> int:
    """A worker: one request, for the caller the kernel named; returns the exit status. `peer_process`: the
    client's (pid, CLOCK_BOOTTIME at accept), for the cluster node's trust in a job (ds01/cluster/node_trust.py)."""
    global _log_fd
    from . import privilege, runtime, settings

    os.setsid()  # its own process group: the client's signals reach it and its children, nothing else
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from . import live_view

    live_view.ask()  # the live view's barrier, answered by the engine while this worker sets itself up
    try:
        request, fds = protocol.read_request(conn)
    except (OSError, ValueError) as exc:
        log(f"uid {uid}: bad request: {exc}")
        return 2
    _log_fd = os.dup(2)
    os.set_inheritable(_log_fd, False)
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    user, groups = _caller(uid, gid)
    # The one place a command learns it is served, and for whom: every Runtime this worker builds carries it.
    runtime.serve(runtime.Served(caller=user, pid=peer_process[0], connected_at=peer_process[1]))
    command = request.command
    log(f"{user.login} (uid {uid}): {' '.join([command, *request.argv])}")
    account = {"HOME": user.home, "USER": user.login, "LOGNAME": user.login}
    settings.adopt(settings.worker_environment(settings.daemon_environment() | dict(overrides or {}), request.env,
                                               account))
    privilege.act_for(user, groups)
    try:
        os.fchdir(fds[3])
    except OSError:
        os.chdir("/")
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.umask(request.umask & 0o777)
    _standard_streams()
    sys.argv = [command, *request.argv]
    threading.Thread(target=_listen_for_signals, args=(conn,), daemon=True).start()
    refused = authorize(command, request.argv)
    if refused is not None:
        return refused
    return run(command)


def authorize(command: str, argv: list[str]) -> int | None:
    """The command table's answer for this caller (ds01/authority.py), before any parser or body runs:
    None to go on, else the exit status after the refusal was said on the caller's stderr."""
    from . import authority
    from .cli._common import report
    from .errors import Ds01Error
    from .runtime import Runtime

    try:
        target = authority.resolve(command, argv)
    except KeyError:
        sys.stderr.write(f"{command}: error: ds01d runs ds01's commands only\n  hint: help lists them\n")
        return 2
    try:
        rt = Runtime()
        authority.check(target, admin=lambda: rt.admin, root=rt.root)
    except Ds01Error as exc:
        log(f"refused: {exc.message}")
        report(exc)
        return exc.code
    return None


def run(command: str) -> int:
    from .entry import run_named

    code = 0
    try:
        run_named(command)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        sys.stderr.write(f"{command}: interrupted\n")
        code = 130
    except BaseException as exc:  # noqa: BLE001 - the caller gets one line; the admin the details
        import traceback

        log(f"{command}: internal error: {''.join(traceback.format_exception(exc))}")
        sys.stderr.write(f"{command}: error: internal error ({type(exc).__name__}); logged for the admin\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return code


def main(socket_path: str = DEFAULT_SOCKET, overrides: Mapping[str, str] | None = None,
         notify_socket: str | None = None, docker_host: str | None = None) -> None:
    """ds01d in the foreground: claim the socket, warm up, build the live view of `docker_host`'s containers
    (ds01/live_view.py; None: none), listen, say so, serve; on the way out remove the socket only if it is
    still the one this ds01d bound."""
    lock = claim(socket_path)
    warm_up()
    from . import live_view

    view = live_view.start(docker_host, log) if docker_host else None
    if docker_host:
        learn_api_version(docker_host)
    sock = listen(socket_path)
    bound = identity(socket_path)
    log(f"listening on {socket_path}")
    notify_ready(notify_socket, log)
    try:
        Broker(sock, overrides, lock, view).serve()
    finally:
        if identity(socket_path) == bound:
            try:
                os.unlink(socket_path)
            except OSError:
                pass
        else:
            log(f"left {socket_path} in place: it is not the socket this ds01d bound")
    log("stopped")
