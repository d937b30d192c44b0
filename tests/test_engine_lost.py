"""An engine that goes away mid-command (a dockerd restart): one error line with a hint, never a traceback."""

import json
import socket
import threading

import click
import pytest

from ds01.cli._common import run
from ds01.engine import Engine


@pytest.fixture
def vanishing_engine(tmp_path):
    """A Unix socket that answers the SDK's version query, then drops every other request unanswered."""
    path = str(tmp_path / "docker.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536)
                if b" /version " in request.split(b"\r\n", 1)[0]:
                    body = json.dumps({"ApiVersion": "1.41", "Version": "20.10"}).encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                                 b"Connection: close\r\n\r\n%s" % (len(body), body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield "unix://" + path
    server.close()


def test_a_lost_engine_is_an_error_line_and_exit_1(vanishing_engine, capsys):
    @click.command()
    def cli():
        Engine(vanishing_engine).start("box._.1000")

    with pytest.raises(SystemExit) as ended:
        run(cli, [])
    err = capsys.readouterr().err
    assert ended.value.code == 1
    assert "error: lost the Docker engine mid-command: ConnectionError" in err.splitlines()[0]
    assert "hint: is dockerd running" in err and "Traceback" not in err
