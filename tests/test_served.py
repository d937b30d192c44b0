"""Whether a command is served, and for whom, is a fact its Runtime is handed (runtime.Served, set once by ds01d's
worker), never a question a module asks a global, the environment or the effective uid."""

import os
import re
from pathlib import Path

from ds01 import runtime
from ds01.identity import User, lookup
from ds01.runtime import Runtime, Served

ROOT = Path(__file__).resolve().parents[1]
# The worker says it is served (broker), the Runtime holds it (runtime), the process's file rights follow it
# (privilege): no other module asks.
MAY_ASK = {"ds01/runtime.py", "ds01/broker.py", "ds01/privilege.py"}
ASKS = re.compile(r"acting_for\(|\bpeer\(\)|set_peer\(|privilege\._caller|import[^#]*\b_caller\b|\bSERVING\b"
                  r"|runtime\.serve\(|settings\.adopt\(|import[^#]*\badopt\b")
OWN_RIGHTS = "own rights"  # what a comment on (or above) an os.geteuid() says it asks
ALICE = User(login="alice", uid=1001, gid=1001, home="/home/alice")


def _code_lines(root=ROOT):
    for path in sorted((root / "ds01").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            yield name, number, line, lines[number - 2] if number > 1 else ""


def asking_whether_served(root=ROOT):
    return [f"{name}:{number}: {line.strip()}" for name, number, line, _ in _code_lines(root)
            if name not in MAY_ASK and ASKS.search(line.split("#", 1)[0])]


def geteuid_without_a_reason(root=ROOT):
    return [f"{name}:{number}: {line.strip()}" for name, number, line, above in _code_lines(root)
            if "os.geteuid()" in line.split("#", 1)[0] and OWN_RIGHTS not in line + above]


def test_no_module_but_the_broker_runtime_and_privilege_asks_whether_it_is_served():
    found = asking_whether_served()
    assert found == [], "ask the Runtime (rt.served, rt.caller, rt.root):\n" + "\n".join(found)


def test_the_grep_sees_a_module_that_asks():
    for line in ("from .privilege import acting_for; acting_for()", "connected = peer()", "x = runtime.SERVING",
                 "settings.adopt(env)", "if privilege._caller is None:"):
        assert ASKS.search(line), line
    assert not ASKS.search("pid, uid, gid = peer(conn)") and not ASKS.search("connected = rt.served")


def test_every_effective_uid_check_says_it_asks_this_processs_own_rights():
    """`os.geteuid()` answers what this process may do (chown, mount, trust a file of its own account), never
    whether it serves a caller: each use says so in a comment on its line or the one above."""
    found = geteuid_without_a_reason()
    assert found == [], f"say why ('{OWN_RIGHTS}') or ask rt.served / rt.root:\n" + "\n".join(found)


def test_every_runtime_parameter_is_typed_as_one():
    found = [f"{name}:{number}: {line.strip()}" for name, number, line, _ in _code_lines()
             if re.search(r"\brt: Any\b", line)]
    assert found == []


def test_a_served_runtime_is_its_caller_and_their_rights_not_the_workers():
    served = Served(caller=ALICE, pid=4321, connected_at=12.5)
    rt = Runtime(served=served, environ={})
    assert rt.served == served and rt.caller == ALICE
    assert rt.root is False  # this process may be root: the caller the kernel named is not
    assert Runtime(served=Served(caller=User("root", 0, 0, "/root"), pid=1, connected_at=0.0), environ={}).root


def test_in_process_a_runtime_is_not_served_and_its_caller_is_this_account():
    rt = Runtime(environ={})
    assert rt.served is None
    assert rt.caller.uid == os.getuid() and rt.caller == (lookup(os.getuid()) or rt.caller)
    assert rt.root is (os.geteuid() == 0)


def test_a_worker_says_it_is_served_once_and_every_runtime_it_builds_knows(monkeypatch):
    served = Served(caller=ALICE, pid=99, connected_at=1.0)
    monkeypatch.setattr(runtime, "SERVING", None)
    runtime.serve(served)
    assert Runtime(environ={}).served == served and Runtime(environ={}).caller == ALICE


def test_a_command_run_in_process_is_handed_its_settings_and_the_environment_is_untouched():
    before = dict(os.environ)
    with runtime.given({"DS01_NOW": "2026-01-02T03:04:05Z", "DS01_LOG_DIR": "/tmp/given-logs"}):
        rt = Runtime()
        assert rt.settings.get("log_dir") == "/tmp/given-logs" and rt.now_iso().startswith("2026-01-02T03:04:05")
    assert Runtime().settings.get("log_dir") == os.environ.get("DS01_LOG_DIR", "/var/log/ds01")
    assert dict(os.environ) == before
