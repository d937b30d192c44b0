"""The wire format between a command's client (ds01/client.py) and ds01d (ds01/broker.py), in one place.

A request is a frame: a 4-byte big-endian length, then NUL-separated fields (MAGIC, the command, the
umask, the argument count, the arguments, then NAME=VALUE variables of PASSED), sent with four fds
(stdin, stdout, stderr, working directory; SCM_RIGHTS) on its first byte. NUL cannot occur in an
argument or a variable, so nothing is escaped. After it, lines: `signal N` from the client (N one of
FORWARDED), `error TEXT` and at last `exit N` from ds01d. Who is calling is never part of it: ds01d asks
the kernel (SO_PEERCRED).

Every read from a client is bounded: a frame by MAX_REQUEST bytes and REQUEST_TIMEOUT seconds, a line
after it by MAX_SIGNAL_LINE bytes.

The client imports this module, so it imports only the interpreter's built-in C modules (posix, _socket,
sys, time), as the client does: not os, socket, signal or typing (their enum and re imports cost 10 ms a command).
"""

import posix
import sys
import time

TYPE_CHECKING = False  # typing itself costs the client 2 ms; mypy reads this name as typing's
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable, Iterator, Mapping

DEFAULT_SOCKET = "/run/ds01/ds01.sock"
SOCKET_VARIABLE = "DS01_SOCKET"  # another socket for a client (settings.TABLE documents it; both clients read it)
MAGIC = "ds01/1"
# The caller's variables a worker may see; everything else it knows comes from ds01d's own environment and
# root-owned files (settings.worker_environment filters them again on the worker's side).
PASSED = ("TERM", "COLORTERM", "COLUMNS", "LINES", "LANG", "NO_COLOR", "TZ", "DISPLAY", "NCCL_P2P_LEVEL",
          "VISUAL", "EDITOR", "CI", "MLC_ARCH")  # the editor runs as the caller (privilege.caller_process)
PASSED_PREFIXES = ("LC_",)
FORWARDED = (2, 15, 1, 28)  # SIGINT, SIGTERM, SIGHUP, SIGWINCH (Linux numbers; a test checks them)
FDS = 4  # stdin, stdout, stderr, working directory
LENGTH = 4  # bytes of the frame's length
MAX_REQUEST = 1 << 20
REQUEST_TIMEOUT = 10.0
MAX_SIGNAL_LINE = 32  # `signal 28` is 9 bytes: anything longer after a request is not the client's
SOL_SOCKET, SCM_RIGHTS = 1, 1  # Linux numbers (_socket has them too; the client sends before it could look)
_INT = 4  # bytes of one fd in SCM_RIGHTS


class ProtocolError(ValueError):
    """What a peer sent is not this protocol (a bad frame, a line too long)."""


class Request:
    """What a client asked for (its caller is the kernel's answer, never part of it)."""

    __slots__ = ("command", "argv", "umask", "env")

    def __init__(self, command: str, argv: "list[str]", umask: int, env: "dict[str, str]") -> None:
        self.command, self.argv, self.umask, self.env = command, argv, umask, env


def passed_environment(environ: "Mapping[str, str]") -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in PASSED or k.startswith(PASSED_PREFIXES)}


def encode(command: str, argv: "list[str]", umask: int, env: "Mapping[str, str]") -> bytes:
    """A request's frame: length and body."""
    fields = [MAGIC, command, str(umask), str(len(argv)), *argv, *(f"{k}={v}" for k, v in env.items())]
    body = "\0".join(fields).encode("utf-8", "surrogateescape")
    return len(body).to_bytes(LENGTH, "big") + body


def decode(body: bytes) -> "tuple[str, list[str], int, dict[str, str]]":
    """(command, argv, umask, env) from a request body; ValueError when it is not one."""
    fields = body.decode("utf-8", "surrogateescape").split("\0")
    if len(fields) < 4 or fields[0] != MAGIC:
        raise ProtocolError("not a ds01 request of this version")
    command, umask, count = fields[1], int(fields[2]), int(fields[3])
    if count < 0 or len(fields) < 4 + count:
        raise ProtocolError("malformed request")
    argv = fields[4:4 + count]
    env = dict(f.split("=", 1) for f in fields[4 + count:] if "=" in f)
    return command, argv, umask, env


def send_request(sock: "_socket.socket", frame: bytes, fds: "list[int]") -> None:
    """The frame, with `fds` on its first byte."""
    rights = b"".join(fd.to_bytes(_INT, sys.byteorder, signed=True) for fd in fds)
    sent = sock.sendmsg([frame[:1]], [(SOL_SOCKET, SCM_RIGHTS, rights)])
    sock.sendall(frame[sent:])


def read_request(conn: "_socket.socket", timeout: float = REQUEST_TIMEOUT) -> "tuple[Request, list[int]]":
    """A request and its FDS fds, read in at most `timeout` seconds in all and MAX_REQUEST bytes;
    ProtocolError for anything malformed, TimeoutError for a client that does not send it in time. Nothing
    after the frame is read (the signal lines stay in the socket). The fds are closed when it fails."""
    import _socket  # ds01d's side only: the client loads it when it connects, not before (0.1 ms)

    deadline = time.monotonic() + timeout
    conn.settimeout(timeout)
    data, ancillary, flags, _ = conn.recvmsg(LENGTH, _socket.CMSG_SPACE(FDS * _INT))
    received: list[int] = []
    for level, kind, payload in ancillary:
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            received += [int.from_bytes(payload[i:i + _INT], sys.byteorder, signed=True)
                         for i in range(0, len(payload) - len(payload) % _INT, _INT)]
    try:
        if flags & _socket.MSG_CTRUNC or len(received) != FDS:
            raise ProtocolError(f"expected {FDS} file descriptors, got {len(received)}")
        size = int.from_bytes(_exactly(conn, data, LENGTH, deadline), "big")
        if size > MAX_REQUEST:
            raise ProtocolError(f"request too large ({size} bytes; at most {MAX_REQUEST})")
        request = Request(*decode(_exactly(conn, b"", size, deadline)))
    except BaseException:
        for fd in received:
            posix.close(fd)
        raise
    conn.settimeout(None)
    return request, received


def _exactly(conn: "_socket.socket", data: bytes, size: int, deadline: float) -> bytes:
    """`data` completed to `size` bytes from `conn` by `deadline`, never more."""
    chunks = [data]
    missing = size - len(data)
    while missing > 0:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client did not send its request in time")
        conn.settimeout(left)
        chunk = conn.recv(min(missing, 65536))
        if not chunk:
            raise ProtocolError("connection closed mid-request")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def signal_line(signum: int) -> bytes:
    return b"signal %d\n" % signum


def error_line(text: str) -> bytes:
    return b"error " + text.replace("\n", " ").encode("utf-8", "backslashreplace") + b"\n"


def exit_line(code: int) -> bytes:
    return b"exit %d\n" % code


def exit_code(status: int) -> int:
    """The number an exit line carries for a worker's wait status: its exit status, or 128 + N for signal N
    (as a shell says)."""
    code = posix.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def signals(conn: "_socket.socket") -> "Iterator[int]":
    """The client's signal numbers (FORWARDED only; other lines are ignored), until it closes. A line longer
    than MAX_SIGNAL_LINE is a client that is not ds01's: ProtocolError, having held no more than that."""
    buffered = b""
    while True:
        try:
            chunk = conn.recv(4096)
        except OSError:
            return
        if not chunk:
            return
        *lines, buffered = (buffered + chunk).split(b"\n")
        if len(buffered) > MAX_SIGNAL_LINE or any(len(line) > MAX_SIGNAL_LINE for line in lines):
            raise ProtocolError("the client sent more than a signal line")
        for line in lines:
            word, _, number = line.strip().partition(b" ")
            if word == b"signal" and number.isdigit() and int(number) in FORWARDED:
                yield int(number)


def read_exit(sock: "_socket.socket", on_error: "Callable[[str], object]") -> "int | None":
    """ds01d's answer: each error line's text to `on_error`, then the exit status; None when ds01d closed
    the connection without one."""
    buffered = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            return None
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            word, _, rest = line.partition(b" ")
            if word == b"exit" and rest.isdigit():
                return int(rest)
            if word == b"error":
                on_error(rest.decode(errors="replace"))
