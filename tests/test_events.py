"""The event log: atomic appends, the size limit, and ds01-events' filters and permissions."""

import json
import multiprocessing
import os

import pytest

from ds01 import clock, events


def _write(directory, worker, count):
    log = events.Log(directory, f"writer{worker}")
    for i in range(count):
        log("container.start", f"user{worker}", container=f"c{worker}-{i}", padding="x" * (i * 37 % 3000))


def test_concurrent_writers_never_interleave_lines(tmp_path):
    processes = [multiprocessing.Process(target=_write, args=(str(tmp_path), w, 150)) for w in range(6)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    lines = (tmp_path / events.FILE_NAME).read_text().splitlines()
    assert len(lines) == 900
    parsed = [json.loads(line) for line in lines]  # every line is one whole object
    assert {(e["user"], e["details"]["container"]) for e in parsed} == {
        (f"user{w}", f"c{w}-{i}") for w in range(6) for i in range(150)}
    assert set(parsed[0]) == {"timestamp", "event_type", "schema_version", "user", "source", "details"}


def test_an_oversized_event_keeps_its_envelope_and_says_it_was_truncated(tmp_path):
    log = events.Log(str(tmp_path), "test")
    assert log("image.build", "alice", output="y" * 10000)
    line = (tmp_path / events.FILE_NAME).read_bytes()
    assert len(line) <= events.MAX_BYTES
    event = json.loads(line)
    assert event["event_type"] == "image.build" and event["user"] == "alice"
    assert event["details"]["truncated"] is True and event["details"]["original_size"] > 10000


def test_a_log_that_cannot_be_written_warns_once_and_never_raises(tmp_path, capsys):
    log = events.Log(str(tmp_path / "missing" / "dir"), "container-stop")
    assert log("container.stop", "alice") is False
    assert log("container.stop", "alice") is False
    err = capsys.readouterr().err
    assert err.count("could not write the event log") == 1
    assert err.startswith("container-stop: warning:")


def test_the_actor_is_recorded_when_acting_on_someone_elses_container(tmp_path):
    log = events.Log(str(tmp_path), "container-stop", actor="admin1")
    log("container.stop", "alice", container="x")
    log("gpu.allocate", None, slots=["0"])
    first, second = [json.loads(l) for l in (tmp_path / events.FILE_NAME).read_text().splitlines()]
    assert first["user"] == "alice" and first["details"]["by"] == "admin1"
    assert second["user"] == "admin1" and "by" not in second["details"]


def test_the_clock_follows_ds01_now_in_seconds_or_iso():
    from ds01.errors import UsageError
    from ds01.runtime import Runtime

    assert Runtime(environ={"DS01_NOW": "1795000000"}).now().timestamp() == 1795000000
    assert Runtime(environ={"DS01_NOW": "2026-11-23T14:30:00Z"}).now_iso() == "2026-11-23T14:30:00Z"
    rt = Runtime(environ={"DS01_NOW": "2026-11-23T14:30:00"})  # no zone: UTC
    assert rt.now_iso() == "2026-11-23T14:30:00Z"
    assert clock.iso(clock.parse_since("2h", rt.now())) == "2026-11-23T12:30:00Z"
    with pytest.raises(UsageError, match="DS01_NOW"):
        Runtime(environ={"DS01_NOW": "tomorrow"}).now()


# ---------------------------------------------------------------- ds01-events

@pytest.fixture
def runner_is_admin(tmp_path_factory):
    """A policy naming whoever runs the suite as an admin: these tests read every user's events, as root or not."""
    import pwd

    policy = tmp_path_factory.mktemp("policy") / "resource-limits.yaml"
    policy.write_text(f"access_control:\n  admin_users: [{pwd.getpwuid(os.getuid()).pw_name}]\n"
                      'images: {allowed: ["ds01-test/*"]}\n')
    return policy


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / events.FILE_NAME
    lines = [
        events.envelope("container.create", "alice", "container-create", {"container": "a._.1", "name": "a"},
                        clock.parse_moment("2026-11-20T10:00:00Z")),
        events.envelope("container.idle-stop", "alice", "ds01-idle-check", {"container": "a._.1", "name": "a"},
                        clock.parse_moment("2026-11-22T10:00:00Z")),
        events.envelope("gpu.allocate", "bob", "gpu-allocate", {"slots": ["0"]},
                        clock.parse_moment("2026-11-22T11:00:00Z")),
        events.envelope("lifecycle.warn", "alice", "ds01-idle-check", {"container": "b._.1", "name": "b"},
                        clock.parse_moment("2026-11-22T12:00:00Z")),
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines) + "not json\n")
    os.chmod(path, 0o644)
    return path


# A TCP engine address: the client runs the command in-process for whoever runs the tests (an unprivileged
# account has no ds01d here); nothing in these tests asks the engine.
IN_PROCESS = {"DOCKER_HOST": "tcp://127.0.0.1:9"}


@pytest.fixture
def events_env(log_file, runner_is_admin):
    """What ds01-events is run with: the admin policy and the log dir of `log_file`."""
    return {"DS01_CONFIG": str(runner_is_admin), "DS01_LOG_DIR": str(log_file.parent), **IN_PROCESS}


def _query(env, *argv):
    from click.testing import CliRunner

    from ds01.cli.ds01_events import cli

    result = CliRunner().invoke(cli, ["--json", *argv], env=env)
    assert result.exit_code == 0, result.output
    assert "1 line of" in result.stderr and "skipped" in result.stderr  # the fixture's "not json" line
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_events_filter_by_type_prefix_user_container_and_time(events_env):
    def types(*argv):
        return [e["event_type"] for e in _query(events_env, *argv)]

    assert types() == ["container.create", "container.idle-stop", "gpu.allocate", "lifecycle.warn"]
    assert types("--type", "container") == ["container.create", "container.idle-stop"]
    assert [e["user"] for e in _query(events_env, "--user", "bob")] == ["bob"]
    assert types("--container", "a") == ["container.create", "container.idle-stop"]
    assert types("--since", "2026-11-22T10:30:00Z", "--until", "2026-11-22T11:30:00Z") == ["gpu.allocate"]
    assert types("--limit", "2") == ["gpu.allocate", "lifecycle.warn"]


def test_events_since_an_age_counts_back_from_now(events_env):
    env = {**events_env, "DS01_NOW": "2026-11-22T12:30:00Z"}
    assert [e["event_type"] for e in _query(env, "--since", "1h")] == ["lifecycle.warn"]
    assert [e["event_type"] for e in _query(env, "--since", "2d")] == ["container.idle-stop", "gpu.allocate",
                                                                       "lifecycle.warn"]


def test_events_table_shows_one_row_per_event_with_its_details(events_env):
    from click.testing import CliRunner

    from ds01.cli.ds01_events import cli

    result = CliRunner().invoke(cli, ["--table", "--type", "gpu"], env=events_env)
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header.split()[:4] == ["TIME", "TYPE", "USER", "CONTAINER"]
    assert "gpu.allocate" in row and "bob" in row and 'slots=["0"]' in row


def test_a_bad_time_is_a_usage_error(events_env):
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([str(Path(sys.executable).parent / "ds01-events"), "--since", "last tuesday"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, env=events_env)
    assert result.returncode == 2
    assert "ds01-events: error: not a time: 'last tuesday'" in result.stderr


def test_users_see_their_own_events_through_ds01d_and_cannot_read_or_forge_the_log(offline_sh, users, log_file,
                                                                                    user_tmp):
    alice = users["alice"]
    mine = events.envelope("container.stop", alice.pw_name, "container-stop", {"container": "x"})
    shared = user_tmp / events.FILE_NAME
    shared.write_text(log_file.read_text() + json.dumps(mine) + "\n")
    os.chmod(shared, 0o640)
    env = {"DS01_LOG_DIR": str(user_tmp)}
    records = offline_sh.records(alice, "ds01-events", extra_env=env)
    assert [(e["user"], e["event_type"]) for e in records] == [(alice.pw_name, "container.stop")]
    refused = offline_sh.run(alice, "ds01-events", "--user", "bob", extra_env=env)
    assert refused.returncode == 5
    assert "admins only" in refused.stderr
    before = shared.read_bytes()
    attacks = (["cat", str(shared)], ["sh", "-c", f"echo forged >> {shared}"], ["truncate", "-s", "0", str(shared)])
    for attack in attacks:
        tried = offline_sh.run(alice, *attack)
        assert tried.returncode != 0 and "Permission denied" in tried.stderr, attack
    assert shared.read_bytes() == before


def test_follow_prints_new_matching_events_as_they_are_written(tmp_path, runner_is_admin):
    import selectors
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / events.FILE_NAME
    events.append(str(path), events.envelope("container.create", "alice", "x", {"container": "old"}))
    env = dict(os.environ, DS01_LOG_DIR=str(tmp_path), DS01_CONFIG=str(runner_is_admin), **IN_PROCESS)
    follower = subprocess.Popen([str(Path(sys.executable).parent / "ds01-events"), "--follow", "--json",
                                 "--type", "container.stop"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                text=True, env=env)
    try:
        selector = selectors.DefaultSelector()
        selector.register(follower.stdout, selectors.EVENT_READ)
        seen = []
        names = [f"c{i}" for i in range(100)]
        for name in names:  # written until the follower, started meanwhile, has picked one up (at most 20 s)
            events.append(str(path), events.envelope("container.start", "alice", "x", {"container": name}))
            events.append(str(path), events.envelope("container.stop", "alice", "x", {"container": name}))
            if selector.select(timeout=0.2):
                seen.append(json.loads(follower.stdout.readline()))
                break
        assert seen, "ds01-events --follow printed nothing"
        assert seen[0]["event_type"] == "container.stop" and seen[0]["details"]["container"] in names
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_every_event_type_is_documented_in_the_record_schemas():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "records.md").read_text()
    section = text.split("## Event (`ds01-events`)", 1)[1].split("\n## ", 1)[0]
    assert [t for t in events.TYPES if f"`{t}`" not in section] == []


def test_forged_event_lines_are_skipped_and_counted_never_a_crash_or_raw_escapes(offline_sh, users, user_tmp):
    """A log from before ds01d (the docker group could append to it) holds lines that are not events, and
    one whose details carry terminal escapes; alice then reads it through ds01d."""
    alice = users["alice"]
    log = user_tmp / events.FILE_NAME
    log.touch()
    os.chmod(log, 0o640)
    forged = "\n".join([
        json.dumps({"event_type": "container.stop", "user": alice.pw_name, "details": "str"}),
        "[1]",
        json.dumps({"event_type": "container.stop", "user": alice.pw_name, "timestamp": 5}),
        json.dumps(events.envelope("container.stop", alice.pw_name, "x", {"container": "c\x1b]0;owned\x07"})),
    ]) + "\n"
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(forged)
    env = {"DS01_LOG_DIR": str(user_tmp)}
    for argv in (["--table"], ["--container", "x", "--table"], ["--container", "c\x1b]0;owned\x07"], []):
        result = offline_sh.run(alice, "ds01-events", *argv, extra_env=env)
        assert result.returncode == 0, (argv, result.stderr)
        assert "3 lines of" in result.stderr and "skipped" in result.stderr, argv
        if "--table" in argv:
            assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    table = offline_sh.run(alice, "ds01-events", "--table", extra_env=env).stdout
    assert "c\\e]0;owned\\x07" in table
