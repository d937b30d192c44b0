"""The C client (ds01/client.c), which the installed served commands start instead of an interpreter: it must
be the Python client on the wire, byte for byte, and hand everything else to the Python client. Each test runs
both against a stand-in ds01d on a socket (protocol.read_request, as the broker reads), as an account that is
not root (root always runs in-process). No Docker, no ds01d: the fast tier."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from ds01 import protocol
from ds01.generate import bins

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


def as_caller():
    """subprocess arguments that run a client as an ordinary account: `nobody` when the tests are root."""
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}


@pytest.fixture(scope="module")
def installed():
    """bin/ scripts installed as `make deps` installs them (bins.isolate) in a directory any account reads."""
    directory = Path(tempfile.mkdtemp(prefix="ds01-fast-client-"))
    directory.chmod(0o755)
    for path in ("bin/container-list", "bin/container", "bin/help", "libexec/ds01/ds01d"):
        shutil.copy(ROOT / path, directory)
    assert bins.isolate(directory, sys.executable) == 4
    if not (directory / bins.CLIENT).exists():
        pytest.fail("no C compiler: `make system-deps` installs one (gcc)")
    yield directory
    shutil.rmtree(directory)


def test_the_c_client_compiles_without_a_warning(tmp_path):
    assert bins.build_client(str(tmp_path), sys.executable, warnings_fail=True) == str(tmp_path / bins.CLIENT)


class StandIn:
    """A ds01d that takes one request, keeps what it read, and answers `reply` (after `signals` signal lines)."""

    def __init__(self, directory, reply, signals=0):
        self.path = os.path.join(directory, "ds01.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o666)
        self.listener.listen(1)
        self.reply, self.signals = reply, signals
        self.request, self.fds, self.got_signals, self.ready = None, [], [], threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.listener.accept()
        with conn:
            self.request, received = protocol.read_request(conn)
            # what each fd is: a pipe's own number differs from run to run
            self.fds = [os.readlink(f"/proc/self/fd/{fd}").split(":[")[0] for fd in received]
            for fd in received:
                os.close(fd)
            self.ready.set()
            if self.signals:
                for signum in protocol.signals(conn):
                    self.got_signals.append(signum)
                    if len(self.got_signals) == self.signals:
                        break
            conn.sendall(self.reply)

    def close(self):
        self.thread.join(10)
        self.listener.close()
        os.unlink(self.path)


def run_both(installed, tmp_path, argv, env, reply, stdin=None):
    """(request, fds, exit status, stderr) for the C client and then the Python client, each on its own stand-in."""
    results = []
    work = Path(tempfile.mkdtemp(prefix="ds01-cwd-"))
    work.chmod(0o755)
    script = str(installed / "container-list")
    for command in ([script], [sys.executable, "-IS", script]):
        server = StandIn(str(work), reply)
        done = subprocess.run([*command, *argv], env={**env, "DS01_SOCKET": server.path}, cwd=work, stdin=stdin,
                              capture_output=True, umask=0o027, **as_caller())
        server.close()
        results.append((server.request, server.fds, done.returncode, done.stderr))
    shutil.rmtree(work)
    return results


def test_the_c_client_sends_exactly_what_the_python_client_sends(installed, tmp_path):
    argv = [b"-a", b"", b"a b=c", b"\xff\xfe not utf-8", b"--format", b"{{.Names}}"]
    env = {"TERM": "xterm-256color", "LC_ALL": "C.UTF-8", "LC_TIME": "de_DE", "COLUMNS": "101", "PATH": "/bin",
           "DS01_CONFIG": "/tmp/evil.yaml", "SSH_AUTH_SOCK": "/tmp/agent", "HOME": "/tmp", "MLC_ARCH": "cuda"}
    c, python = run_both(installed, tmp_path, argv, env, protocol.error_line("over quota") + protocol.exit_line(3))
    assert c[0].command == python[0].command == "container-list"
    assert c[0].argv == python[0].argv == [a.decode("utf-8", "surrogateescape") for a in argv]
    assert c[0].umask == python[0].umask == 0o027
    assert c[0].env == python[0].env == {"TERM": "xterm-256color", "LC_ALL": "C.UTF-8", "LC_TIME": "de_DE",
                                         "COLUMNS": "101", "MLC_ARCH": "cuda"}
    assert c[1] == python[1]  # its stdio and working directory
    assert c[1][1:3] == ["pipe", "pipe"] and c[1][3].startswith("/tmp/ds01-cwd-")
    assert c[2:] == python[2:] == (3, b"container-list: error: over quota\n")


def test_a_closed_stdin_arrives_as_dev_null_from_either_client(installed, tmp_path):
    c, python = run_both(installed, tmp_path, [], {}, protocol.exit_line(0), stdin=subprocess.DEVNULL)
    assert c[1][0] == python[1][0] == "/dev/null"
    assert c[2] == python[2] == 0


def test_a_request_that_ds01d_closes_without_an_exit_line_fails_with_a_hint(installed, tmp_path):
    c, python = run_both(installed, tmp_path, ["x"], {}, b"")
    assert c[2:] == python[2:]
    assert c[2] == 1 and b"without an exit status" in c[3] and b"journalctl -u ds01d" in c[3]


def test_the_c_client_forwards_the_callers_signals_and_returns_ds01ds_status(installed, tmp_path):
    work = Path(tempfile.mkdtemp(prefix="ds01-sig-"))
    work.chmod(0o755)
    server = StandIn(str(work), protocol.exit_line(130), signals=2)
    process = subprocess.Popen([str(installed / "container-list")], env={"DS01_SOCKET": server.path},
                               stderr=subprocess.PIPE, **as_caller())
    assert server.ready.wait(10)
    os.kill(process.pid, signal.SIGWINCH)
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(10) == 130
    server.close()
    shutil.rmtree(work)
    assert server.got_signals == [signal.SIGWINCH, signal.SIGINT]


def test_without_ds01d_the_c_client_hands_over_to_the_python_client(installed, tmp_path):
    """No socket: the Python client's own answer (in-process for whom the engine lets in, else this refusal)."""
    done = subprocess.run([str(installed / "container-list")], env={"DS01_SOCKET": "/nonexistent/ds01.sock",
                                                                    "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
                          capture_output=True, text=True, **as_caller())
    assert done.returncode == 5
    assert done.stderr.startswith("container-list: error: ds01d is not running")


def test_only_served_commands_start_the_c_client(installed):
    """A command that is never served (help) and ds01d itself start the interpreter; a served command and a
    dispatcher the C client."""
    first = {name: (installed / name).read_text().splitlines()[0] for name in ("container-list", "container",
                                                                               "help", "ds01d")}
    client = f"#!{installed / bins.CLIENT}"
    assert first == {"container-list": client, "container": client, "help": f"#!{sys.executable} -IS",
                     "ds01d": f"#!{sys.executable} -IS"}


def test_a_script_that_is_not_a_served_command_runs_in_the_interpreter(installed, tmp_path):
    """Handed a script that calls no client, the C client runs it with Python (what it was built for), with
    its arguments."""
    directory = Path(tempfile.mkdtemp(prefix="ds01-other-"))
    directory.chmod(0o755)
    script = directory / "other"
    script.write_text(f"#!{installed / bins.CLIENT}\nimport sys; print(sys.flags.isolated, sys.argv[1:])\n")
    script.chmod(0o755)
    done = subprocess.run([str(script), "a", "b c"], capture_output=True, text=True, **as_caller())
    shutil.rmtree(directory)
    assert (done.returncode, done.stdout) == (0, "1 ['a', 'b c']\n")
