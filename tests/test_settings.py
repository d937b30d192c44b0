"""The settings: one table, one reader of the environment, and where each value came from."""

import re
from pathlib import Path

import pytest

from ds01 import settings as S
from ds01.errors import UsageError
from ds01.policy import parse
from ds01.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


def test_nothing_but_the_settings_module_reads_the_environment():
    """The client (ds01/client.py) is the other reader: it runs as the caller, before anything is imported,
    and hands ds01d only the terminal variables, which the worker filters again (settings.CLIENT_PASS)."""
    readers = []
    for path in sorted((ROOT / "ds01").rglob("*.py")):
        if path.name in ("settings.py", "client.py") and path.parent.name == "ds01":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bos\.(environ|getenv|environb)\b|\bgetenv\(", line):
                readers.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert readers == []


def test_a_worker_keeps_its_clients_terminal_variables_and_nothing_else_of_its():
    """The list is the wire protocol's (protocol.PASSED, what the client sends); the worker filters again."""
    from ds01 import protocol

    assert protocol.SOCKET_VARIABLE in S.BY_NAME["socket"].env
    assert S.BY_NAME["socket"].default == protocol.DEFAULT_SOCKET
    daemon = {"DS01_CONFIG": "/etc/ds01/r.yaml", "SUDO_UID": "0", "PATH": "/usr/bin", "HOME": "/root"}
    caller = {"DS01_CONFIG": "/home/a/evil.yaml", "DS01_NOW": "1", "TERM": "xterm", "LC_ALL": "C", "PATH": "/x",
              "HOME": "/tmp", "LD_PRELOAD": "/home/a/x.so"}
    env = S.worker_environment(daemon, caller, {"HOME": "/home/a", "USER": "a", "LOGNAME": "a"})
    assert env == {"DS01_CONFIG": "/etc/ds01/r.yaml", "PATH": "/usr/bin", "HOME": "/home/a", "USER": "a",
                   "LOGNAME": "a", "TERM": "xterm", "LC_ALL": "C"}


def test_each_value_says_where_it_came_from():
    policy = parse("paths: {state_dir: /srv/ds01-state}\n", "/etc/ds01/resource-limits.yaml")
    settings = S.Settings({"DS01_LOG_DIR": "/tmp/x", "HOME": "/home/a"}, {"config": "/tmp/p.yaml"}, policy)
    assert settings.resolve("config") == S.Resolved("config", "/tmp/p.yaml", S.ARGUMENT, "config")
    assert settings.resolve("log_dir") == S.Resolved("log_dir", "/tmp/x", S.ENVIRONMENT, "DS01_LOG_DIR")
    assert settings.resolve("state_dir") == S.Resolved(
        "state_dir", "/srv/ds01-state", S.CONFIG, "/etc/ds01/resource-limits.yaml: paths.state_dir")
    assert settings.resolve("utmp") == S.Resolved("utmp", "/var/run/utmp", S.DEFAULT, "built in")
    assert {r["name"]: r["source"] for r in settings.records()}["log_dir"] == S.ENVIRONMENT


def test_the_environment_is_read_once_when_the_command_starts():
    environ = {"DS01_STATE_DIR": "/first"}
    settings = S.Settings(environ)
    environ["DS01_STATE_DIR"] = "/second"
    assert settings.get("state_dir") == "/first"


def test_the_environment_beats_the_policy_file_and_an_empty_variable_counts_as_unset():
    policy = parse("paths: {log_dir: /srv/log}\n")
    assert S.Settings({"DS01_LOG_DIR": "/env/log"}, policy=policy).get("log_dir") == "/env/log"
    assert S.Settings({"DS01_LOG_DIR": ""}, policy=policy).get("log_dir") == "/srv/log"
    assert S.Settings({}, policy=None).get("log_dir") == "/var/log/ds01"


def test_visual_wins_over_editor():
    assert S.Settings({"EDITOR": "vi", "VISUAL": "code -w"}).resolve("editor").origin == "VISUAL"
    assert S.Settings({"EDITOR": "vi"}).get("editor") == "vi"


def test_a_shell_in_a_container_gets_the_terminal_variables_and_none_of_ds01s():
    settings = S.Settings({"TERM": "xterm", "LANG": "C.UTF-8", "DS01_CONFIG": "/x", "SECRET": "s"})
    assert settings.session_environment() == {"TERM": "xterm", "LANG": "C.UTF-8"}


def test_the_policy_is_loaded_only_when_a_setting_needs_it():
    asked = []
    settings = S.Settings({"DS01_LOG_DIR": "/l"}, policy=lambda: asked.append(1) or parse(""))
    settings.get("log_dir"), settings.get("docker_host")
    assert asked == []
    settings.get("state_dir")
    assert asked == [1]


def test_the_runtime_clock_follows_ds01_now_and_rejects_a_bad_one():
    rt = Runtime(environ={"DS01_NOW": "2026-11-23T14:30:00Z"})
    assert rt.now_iso() == "2026-11-23T14:30:00Z"
    with pytest.raises(UsageError) as info:
        Runtime(environ={"DS01_NOW": "soon"}).now()
    assert "DS01_NOW" in info.value.message


def test_a_config_named_by_the_environment_must_exist_but_the_default_may_be_absent(tmp_path):
    from ds01.errors import NotFound

    with pytest.raises(NotFound):
        _ = Runtime(environ={"DS01_CONFIG": str(tmp_path / "missing.yaml")}).policy
    (tmp_path / "p.yaml").write_text("defaults: {max_containers_per_user: 7}\n")
    rt = Runtime(config=str(tmp_path / "p.yaml"), environ={"DS01_CONFIG": "/nonexistent"})
    assert rt.settings.source("config") == S.ARGUMENT and rt.policy.path == str(tmp_path / "p.yaml")


def test_every_documented_variable_is_in_the_man_pages():
    from ds01.generate import manpages
    from ds01.registry import by_name

    page = manpages.command_page(by_name()["container-list"][0])
    for setting in S.TABLE:
        for variable in setting.env:
            assert (manpages.esc(variable) in page) == setting.documented, variable
