"""The one client: what every bin/ command is when ds01d is reachable, and nothing else.

It sends the command's name, its arguments and a few terminal variables over ds01d's socket,
with its stdin, stdout, stderr and working directory as file descriptors (SCM_RIGHTS); the
worker uses them directly, so pipes, terminals and interactive sessions behave as in-process.
SIGINT, SIGTERM, SIGHUP and SIGWINCH are passed on; the exit status is the worker's. Who is
calling is not part of the request: ds01d asks the kernel (SO_PEERCRED).

Kept small on purpose: it imports only the interpreter's built-in C modules (posix, _socket,
_signal), not even os, json or socket (whose enum and re imports cost 10 ms), so a command costs one
interpreter start and one fork in a warm process. Its interpreter runs with -I -S (the shebang
`make deps` writes, with ds01's own directory put on sys.path), so user site-packages, .pth
files and PYTHON* variables inject nothing, and `site` loads only for an in-process run.

The wire format, and what of the caller's environment goes with it, is ds01/protocol.py's.

Without a broker, root and members of the docker group run the command in-process, as before
ds01d existed (tests, the demo, admins); anyone else is told to ask for ds01d.
"""

import posix as os  # the C module under os: os itself costs 1.2 ms with -S, a tenth of the client
import sys

from . import protocol
from .protocol import DEFAULT_SOCKET, SOCKET_VARIABLE

DEFAULT_DOCKER = "/var/run/docker.sock"
NOT_RUNNING = 5
TYPE_CHECKING = False  # not typing's: the client imports no more than it must (mypy reads the block)
if TYPE_CHECKING:  # names for the annotations only (quoted)
    from collections.abc import Mapping, Sequence
    from typing import Any
AF_UNIX, SOCK_STREAM = 1, 1


def _std_fds() -> tuple[list[int], list[int]]:
    """fds 0, 1 and 2, with /dev/null for any that is closed (the worker always gets three)."""
    fds: list[int] = []
    opened: list[int] = []
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            null = os.open("/dev/null", mode)
            fds.append(null)
            opened.append(null)
    return fds, opened


def request(sock: "Any", command: str, argv: "Sequence[str]", environ: "Mapping[str, str]") -> None:
    """Send the request; the caller's fds go with its first byte."""
    fds, opened = _std_fds()
    try:
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        cwd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    umask = os.umask(0o022)
    os.umask(umask)
    frame = protocol.encode(command, list(argv), umask, protocol.passed_environment(environ))
    protocol.send_request(sock, frame, [*fds, cwd])
    for fd in (cwd, *opened):
        os.close(fd)


def connect(path: str) -> "Any":
    import _socket

    sock = _socket.socket(AF_UNIX, SOCK_STREAM | os.O_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def remote(sock: "Any", command: str, argv: "Sequence[str]", environ: "Mapping[str, str]") -> int:
    """Run through ds01d; returns the worker's exit status."""
    import _signal

    def forward(signum: int, _frame: object) -> None:
        try:
            sock.sendall(protocol.signal_line(signum))
        except OSError:
            pass

    for signum in protocol.FORWARDED:
        _signal.signal(signum, forward)
    try:
        request(sock, command, argv, environ)
    except OSError:
        pass  # ds01d answered before reading it all (busy): its answer is still there to read
    code = protocol.read_exit(sock, lambda text: sys.stderr.write(f"{command}: error: {text}\n"))
    if code is None:
        sys.stderr.write(f"{command}: error: ds01d closed the connection without an exit status\n"
                         "  hint: an admin finds why in `journalctl -u ds01d`\n")
        return 1
    return code


def docker_reachable(environ: "Mapping[str, str]") -> bool:
    """True when this process could speak to the engine itself (root, or in the socket's group)."""
    if os.geteuid() == 0:  # this process's own rights (the client is never served)
        return True
    host = environ.get("DOCKER_HOST") or "unix://" + DEFAULT_DOCKER
    if not host.startswith("unix://"):
        return True  # a TCP engine: whoever can reach it, can
    return os.access(host[len("unix://"):], os.R_OK | os.W_OK)


def in_process(name: str, module: str, renamed: str | None) -> None:
    from ds01.entry import run

    run(name, module, renamed)


def main(name: str, module: str, renamed: str | None = None, local: bool = False) -> None:
    """A bin/ command: through ds01d when it answers, else in-process when this caller may.

    Root always runs in-process (its DS01_* variables are the tests', the demo's and admins'
    way to point ds01 elsewhere). `local` commands (help, reference) need no engine.
    """
    environ = {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
               for k, v in os.environ.items()}
    if os.geteuid() == 0 or local:  # this process's own rights: root reaches the engine itself
        return in_process(name, module, renamed)
    sock = connect(environ.get(SOCKET_VARIABLE) or DEFAULT_SOCKET)
    if sock is None:
        if docker_reachable(environ):
            return in_process(name, module, renamed)
        sys.stderr.write(f"{name}: error: ds01d is not running (ask an admin: systemctl start ds01d)\n"
                         f"  hint: ds01 reaches Docker only through ds01d; {SOCKET_VARIABLE} names another socket\n")
        sys.exit(NOT_RUNNING)
    try:
        code = remote(sock, name, sys.argv[1:], environ)
    finally:
        sock.close()
    sys.stdout.flush()
    sys.exit(code)
