"""Notices reach the owner's terminals (from utmp) and nobody else's."""

import datetime
import os
import subprocess
import sys
from pathlib import Path

from ds01 import notify
from tests.support.logins import fake_logins, utmp_entry

BIN = Path(sys.executable).parent


def test_a_notice_goes_to_each_terminal_of_the_user_only(tmp_path, users):
    alice, bob = users["alice"], users["bob"]
    utmp, ttys = fake_logins(tmp_path, [
        (alice.pw_name, "pts/3", alice.pw_uid, notify.USER_PROCESS),
        (alice.pw_name, "pts/4", alice.pw_uid, notify.USER_PROCESS),
        (bob.pw_name, "pts/5", bob.pw_uid, notify.USER_PROCESS),
        (alice.pw_name, "pts/6", bob.pw_uid, notify.USER_PROCESS),   # a terminal alice does not own
        (alice.pw_name, "pts/7", alice.pw_uid, 8),                    # a dead process entry
    ])
    text = notify.banner("thesis idle", "It will be stopped at 14:30.",
                         datetime.datetime(2026, 11, 23, 14, 0, tzinfo=datetime.timezone.utc))
    result = notify.deliver(alice.pw_name, alice.pw_uid, text, utmp=str(utmp), tty_dir=str(ttys))
    assert result["terminals"] == [str(ttys / "pts/3"), str(ttys / "pts/4")]
    for line in ("pts/3", "pts/4"):
        written = (ttys / line).read_text()
        assert "--- ds01: thesis idle (2026-11-23 14:00 UTC) ---" in written
        assert "It will be stopped at 14:30." in written
    for line in ("pts/5", "pts/6", "pts/7"):
        assert (ttys / line).read_text() == ""


def test_utmp_lines_that_leave_the_terminal_directory_are_ignored(tmp_path, users):
    alice = users["alice"]
    utmp, ttys = fake_logins(tmp_path, [(alice.pw_name, "pts/1", alice.pw_uid, notify.USER_PROCESS)])
    target = tmp_path / "secret"
    target.touch()
    os.chown(target, alice.pw_uid, -1)
    with open(utmp, "ab") as handle:
        handle.write(utmp_entry(notify.USER_PROCESS, alice.pw_name, "../secret"))
    result = notify.deliver(alice.pw_name, alice.pw_uid, "hello", utmp=str(utmp), tty_dir=str(ttys))
    assert result["terminals"] == [str(ttys / "pts/1")]
    assert target.read_text() == ""


def test_ds01_notify_reports_where_it_delivered(tmp_path, users):
    alice = users["alice"]
    utmp, ttys = fake_logins(tmp_path, [(alice.pw_name, "pts/2", alice.pw_uid, notify.USER_PROCESS)])
    env = dict(os.environ, DS01_UTMP=str(utmp), DS01_TTY_DIR=str(ttys))
    result = subprocess.run([str(BIN / "ds01-notify"), alice.pw_name, "GPU 2 goes into maintenance at 18:00",
                             "--json"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert f'"terminals": ["{ttys}/pts/2"]' in result.stdout
    assert "GPU 2 goes into maintenance at 18:00" in (ttys / "pts/2").read_text()
    missing = subprocess.run([str(BIN / "ds01-notify"), "ds01t_nobody_here", "hi"], capture_output=True, text=True,
                             env=env, stdin=subprocess.DEVNULL)
    assert missing.returncode == 4


def test_a_notice_carrying_terminal_escapes_reaches_the_terminal_escaped(tmp_path, users):
    """A container name or an admin's message with escapes (clear screen, retitle) is shown, not obeyed."""
    alice = users["alice"]
    utmp, ttys = fake_logins(tmp_path, [(alice.pw_name, "pts/1", alice.pw_uid, notify.USER_PROCESS)])
    text = notify.banner("x\x1b]0;owned\x07 idle", "line one\nline two\x1b[2J\u202e",
                         datetime.datetime(2026, 11, 23, 14, 0, tzinfo=datetime.timezone.utc))
    notify.deliver(alice.pw_name, alice.pw_uid, text, utmp=str(utmp), tty_dir=str(ttys))
    shown = (ttys / "pts/1").read_text()
    assert not any(c in shown for c in "\x1b\x07\u202e")
    assert "x\\e]0;owned\\x07 idle" in shown and "line one\nline two\\e[2J\\u202e" in shown
