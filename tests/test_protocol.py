"""The wire between a command's client and ds01d (ds01/protocol.py), attacked from the client's end of a
socketpair: what a root worker reads from a client is bounded in bytes and in time, and what it answers is
one exit line per worker. No root, no Docker, no ds01d: the fast tier."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ds01 import broker, client, protocol
from ds01.broker import Broker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    yield ours, theirs
    ours.close()
    theirs.close()


def open_fds():
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def four_fds(tmp_path):
    """What a client passes: stdin, stdout, stderr and a directory (the last one opened here)."""
    read_end, write_end = os.pipe()
    directory = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    return [read_end, write_end, os.dup(write_end), directory]


def send_frame(sock, body, fds, length=None):
    """A frame as the client sends it, with `length` in its header instead of the body's when given."""
    header = (len(body) if length is None else length).to_bytes(protocol.LENGTH, "big")
    protocol.send_request(sock, header + body, fds)


def test_the_forwarded_signals_are_linuxs_and_a_request_survives_the_wire():
    assert protocol.FORWARDED == (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH)
    frame = protocol.encode("container-run", ["x", "--", "sh", "-c", "a=b; echo $a", "\udcff"], 0o027,
                            {"TERM": "xterm"})
    assert protocol.decode(frame[protocol.LENGTH:]) == (
        "container-run", ["x", "--", "sh", "-c", "a=b; echo $a", "\udcff"], 0o027, {"TERM": "xterm"})


def test_the_clients_fds_arrive_and_only_its_terminal_variables_go_with_them(pair, tmp_path):
    ours, theirs = pair
    fds = four_fds(tmp_path)
    protocol.send_request(ours, protocol.encode("container-list", ["-a"], 0o077, protocol.passed_environment(
        {"TERM": "xterm", "LC_ALL": "C", "LD_PRELOAD": "/home/a/x.so", "DS01_CONFIG": "/home/a/evil.yaml"})), fds)
    request, received = protocol.read_request(theirs)
    try:
        assert (request.command, request.argv, request.umask) == ("container-list", ["-a"], 0o077)
        assert request.env == {"TERM": "xterm", "LC_ALL": "C"}
        assert [os.fstat(fd).st_ino for fd in received] == [os.fstat(fd).st_ino for fd in fds]
        os.write(received[1], b"through the worker's stdout")
        assert os.read(fds[0], 100) == b"through the worker's stdout"
    finally:
        for fd in {*fds, *received}:
            os.close(fd)


def test_the_real_client_sends_its_own_stdio_and_working_directory(pair, tmp_path, monkeypatch):
    ours, theirs = pair
    monkeypatch.chdir(tmp_path)
    client.request(ours, "container-stop", ["a b", ""], {"COLUMNS": "80", "PATH": "/home/a/bin"})
    request, received = protocol.read_request(theirs)
    try:
        assert (request.command, request.argv, request.env) == ("container-stop", ["a b", ""], {"COLUMNS": "80"})
        assert os.fstat(received[3]).st_ino == os.stat(tmp_path).st_ino
    finally:
        for fd in received:
            os.close(fd)


@pytest.mark.parametrize("body, length, refusal", [
    (b"", protocol.MAX_REQUEST + 1, "request too large"),
    (b"", (1 << 32) - 1, "request too large"),
    (b"ds01/1\0container-list\x0018\x000", 100, "connection closed mid-request"),
    (b"ds01/0\0container-list\x0018\x000", None, "not a ds01 request of this version"),
    (b"container-list\x0018\x000", None, "not a ds01 request of this version"),
    (b"ds01/1\0container-list\x0018\x005\0a", None, "malformed request"),
    (b"ds01/1\0container-list\x0018\x00-1", None, "malformed request"),
    (b"ds01/1\0container-list\0eighteen\x000", None, "invalid literal"),
])
def test_a_bad_frame_is_refused_and_its_fds_are_closed(pair, tmp_path, body, length, refusal):
    ours, theirs = pair
    fds = four_fds(tmp_path)
    send_frame(ours, body, fds, length)
    ours.shutdown(socket.SHUT_WR)  # the client sends no more: a short frame is a truncated one
    for fd in fds:
        os.close(fd)
    before = open_fds()
    with pytest.raises(ValueError, match=refusal):
        protocol.read_request(theirs, timeout=5)
    assert open_fds() == before  # the four the worker received are closed again


def test_a_truncated_length_is_refused(pair, tmp_path):
    ours, theirs = pair
    fds = four_fds(tmp_path)
    protocol.send_request(ours, b"\0\0", fds)
    ours.shutdown(socket.SHUT_WR)
    for fd in fds:
        os.close(fd)
    with pytest.raises(protocol.ProtocolError, match="closed mid-request"):
        protocol.read_request(theirs)


def test_a_request_over_the_limit_is_refused_before_its_body_is_read(pair, tmp_path):
    ours, theirs = pair
    fds = four_fds(tmp_path)
    send_frame(ours, b"x" * 4096, fds, protocol.MAX_REQUEST + 1)
    with pytest.raises(protocol.ProtocolError, match="too large"):
        protocol.read_request(theirs)
    assert len(theirs.recv(8192, socket.MSG_DONTWAIT)) == 4096  # all of it still unread
    for fd in fds:
        os.close(fd)


@pytest.mark.parametrize("count", [0, 3, 5, 60])
def test_a_request_without_exactly_four_fds_is_refused_and_none_stays_open(pair, tmp_path, count):
    ours, theirs = pair
    mine = [os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY) for _ in range(count)]
    frame = protocol.encode("container-list", [], 0o022, {})
    if count:
        protocol.send_request(ours, frame, mine)
    else:
        ours.sendall(frame)
    for fd in mine:
        os.close(fd)
    before = open_fds()
    with pytest.raises(protocol.ProtocolError, match="expected 4 file descriptors"):
        protocol.read_request(theirs)
    assert open_fds() == before


def test_a_client_that_never_sends_is_given_up_on_in_time(pair):
    _, theirs = pair
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        protocol.read_request(theirs, timeout=0.3)
    assert time.monotonic() - started < 2


def test_a_client_that_drips_its_request_is_given_up_on_in_time_in_all(pair, tmp_path):
    """A byte now and then kept a root worker waiting up to 10 s a byte, for a frame of a MiB."""
    ours, theirs = pair
    fds = four_fds(tmp_path)
    frame = protocol.encode("container-list", ["x" * 200], 0o022, {})
    protocol.send_request(ours, frame[:protocol.LENGTH], fds)

    def drip():
        for byte in frame[protocol.LENGTH:]:
            try:
                ours.send(bytes([byte]))
            except OSError:
                return
            time.sleep(0.01)  # the attack's pace, not a synchronisation

    import threading

    dripping = threading.Thread(target=drip, daemon=True)
    dripping.start()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        protocol.read_request(theirs, timeout=0.5)
    assert time.monotonic() - started < 1.5
    theirs.close()
    dripping.join()
    for fd in fds:
        os.close(fd)


def test_a_signal_sent_right_after_the_request_is_not_lost(pair, tmp_path):
    ours, theirs = pair
    fds = four_fds(tmp_path)
    frame = protocol.encode("container-list", [], 0o022, {})
    protocol.send_request(ours, frame + protocol.signal_line(2), fds)
    ours.shutdown(socket.SHUT_WR)
    _, received = protocol.read_request(theirs)
    assert list(protocol.signals(theirs)) == [2]
    for fd in {*fds, *received}:
        os.close(fd)


def test_only_forwarded_signal_lines_count_however_they_are_split(pair):
    ours, theirs = pair
    for piece in (b"signal 2\nsig", b"nal 15\nsignal 9\nsignal 19\n", b"nonsense\nsignal\nsignal x\n",
                  b"signal 28\n", b"signal 1"):  # the last has no end: a client that went away mid-line
        ours.sendall(piece)
    ours.close()
    assert list(protocol.signals(theirs)) == [2, 15, 28]


@pytest.mark.parametrize("flood", [b"x" * (protocol.MAX_SIGNAL_LINE + 1),
                                   b"signal 2\n" + b"9" * 4000 + b"\n",
                                   b"x" * (1 << 20)])
def test_more_than_a_signal_line_is_refused_having_held_no_more(pair, flood):
    ours, theirs = pair
    ours.setblocking(False)
    try:
        ours.send(flood)
    except BlockingIOError:
        pass
    with pytest.raises(protocol.ProtocolError, match="more than a signal line"):
        for _ in protocol.signals(theirs):
            pass


def in_own_session(target, conn, other_end):
    """Run `target(conn)` in a forked child in a session of its own (the broker's killpg(0) reaches only it);
    the signals it received, in order, from a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            other_end.close()  # the client's end is the test's alone
            os.setsid()
            for signum in protocol.FORWARDED:
                signal.signal(signum, lambda number, _frame: os.write(write_end, bytes([number])))
            target(conn)
            os._exit(0)
        finally:
            os._exit(1)
    os.close(write_end)
    return pid, read_end


def received_signals(pid, read_end):
    chunks = []
    while chunk := os.read(read_end, 64):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return list(b"".join(chunks))


def test_the_worker_passes_the_clients_signals_to_its_group_and_an_interrupt_when_it_goes(pair):
    ours, theirs = pair
    pid, signals_pipe = in_own_session(broker._listen_for_signals, theirs, ours)
    theirs.close()
    ours.sendall(protocol.signal_line(15) + protocol.signal_line(9) + protocol.signal_line(28))
    ours.close()
    assert received_signals(pid, signals_pipe) == [15, 28, 2]


def test_a_worker_flooded_after_its_request_hangs_up_and_interrupts_its_command(pair):
    ours, theirs = pair
    pid, signals_pipe = in_own_session(broker._listen_for_signals, theirs, ours)
    theirs.close()
    ours.sendall(b"signal 1" + b"x" * 1000)
    assert ours.recv(10) == b""  # ds01d's end hung up
    assert received_signals(pid, signals_pipe) == [2]


def exited(code=None, signum=None):
    """A child that has ended (exit `code`, or killed by `signum`), not yet reaped."""
    pid = os.fork()
    if pid == 0:
        try:
            if signum is not None:
                if signum != signal.SIGKILL:
                    signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
        finally:
            os._exit(code or 0)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    return pid


def test_each_worker_reaped_answers_its_own_client_with_one_exit_line():
    served = Broker(sock=None)
    clients = {}
    for code, signum in ((0, None), (7, None), (None, signal.SIGTERM), (None, signal.SIGKILL)):
        ours, theirs = socket.socketpair()
        clients[(code, signum)] = ours
        served.workers[exited(code, signum)] = (theirs, 1000, time.monotonic())
    stray = exited(3)  # a child that is no worker's (ds01d has none): answered to no one, and no stop
    served.reap()
    assert served.workers == {}
    try:
        os.waitpid(stray, 0)
    except ChildProcessError:
        pass  # reap() took it
    answers = {key: sock.recv(100) for key, sock in clients.items()}
    assert answers == {(0, None): b"exit 0\n", (7, None): b"exit 7\n", (None, signal.SIGTERM): b"exit 143\n",
                       (None, signal.SIGKILL): b"exit 137\n"}
    for sock in clients.values():
        assert sock.recv(100) == b""  # and the connection is closed after it
        sock.close()


def test_a_worker_still_running_is_not_answered():
    served = Broker(sock=None)
    ours, theirs = socket.socketpair()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(read_end, 1)
        os._exit(0)
    served.workers[pid] = (theirs, 1000, time.monotonic())
    served.reap()
    assert pid in served.workers
    ours.setblocking(False)
    with pytest.raises(BlockingIOError):
        ours.recv(100)
    os.write(write_end, b"x")
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    served.reap()
    assert ours.recv(100) == b"exit 0\n"
    for fd in (read_end, write_end):
        os.close(fd)
    ours.close()


def test_the_client_shows_ds01ds_error_lines_and_returns_its_exit_status(pair):
    ours, theirs = pair
    theirs.sendall(protocol.error_line("ds01d is busy\nwith 64") + b"noise\n" + protocol.exit_line(3) + b"exit 9\n")
    said = []
    assert protocol.read_exit(ours, said.append) == 3
    assert said == ["ds01d is busy with 64"]
    theirs.close()
    assert protocol.read_exit(ours, said.append) is None  # closed without an exit line


def test_the_client_and_the_protocol_load_only_the_interpreters_built_in_modules():
    """A command's whole cost before ds01d answers is one interpreter start: nothing of Python's own library
    that is not compiled in (os, socket, signal, typing, json each pull in more)."""
    probe = ("import sys; before = set(sys.modules); sys.path.insert(0, sys.argv[1]); import ds01.client; "
             "print(' '.join(sorted(set(sys.modules) - before - set(sys.builtin_module_names))))")
    loaded = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(ROOT)], capture_output=True, text=True,
                            check=True)
    assert loaded.stdout.split() == ["ds01", "ds01.client", "ds01.protocol"]
