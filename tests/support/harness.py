"""What the tests share: where the commands are, the test accounts, and a Shell that runs commands as them."""

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from ds01.settings import TABLE
from tests.support import brokers, sandbox

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin, where setup.py installed the commands
TEST_CATALOG_IMAGE = sandbox.ML_BASE_IMAGE.rsplit(":", 1)[0]
USERS = {"alice": "ds01t_alice", "bob": "ds01t_bob", "admin": "ds01t_admin"}
SETTING_VARIABLES = {v for s in TABLE for v in s.env if v.startswith(("DS01_", "DOCKER_", "MLC_"))} - {"DS01_SOCKET"}


def require(reason):
    """Skip for `reason`, or fail when DS01_REQUIRE_DOCKER says the real parts must be there (CI)."""
    if os.environ.get("DS01_REQUIRE_DOCKER"):
        pytest.fail(f"DS01_REQUIRE_DOCKER is set but {reason}", pytrace=False)
    pytest.skip(reason)


def user_exists(login):
    try:
        pwd.getpwnam(login)
        return True
    except KeyError:
        return False


def shared_log_dir(directory):
    """An event log dir as ds01 installs it (root's: 0755, events.jsonl 0640), never the host's /var/log/ds01.
    Users write to it and read it only through ds01d."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    (directory / "events.jsonl").touch()
    os.chmod(directory / "events.jsonl", 0o640)
    return directory


class Shell:
    """Runs installed ds01 commands as a test user against the private engine."""

    def __init__(self, dockerd, policy_file, log_dir, extra_env=None):
        """`log_dir` is the event log the commands write (never the host's /var/log/ds01)."""
        self.dockerd = dockerd
        self.policy_file = policy_file
        self.log_dir = log_dir
        self.extra_env = dict(extra_env or {})

    def settings(self, extra=None):
        """What ds01 is configured with: a root command's environment, and the environment of the ds01d
        that serves the test users."""
        env = {"DOCKER_HOST": self.dockerd.host if self.dockerd else "unix:///nonexistent/docker.sock",
               "DS01_CONFIG": str(self.policy_file), "DS01_LOG_DIR": str(self.log_dir)}
        env.update({k: v for k, v in {**self.extra_env, **(extra or {})}.items() if k in SETTING_VARIABLES})
        return env

    def broker(self, extra=None):
        """The test ds01d for these settings (one per distinct set, shared by the session)."""
        return brokers.for_settings(self.settings(extra))

    def env(self, entry, extra=None, user_env=None):
        """A command's environment. Root runs ds01 in-process with the settings in its environment; a
        test user's client gets only DS01_SOCKET (the broker with those settings) and `extra`'s other
        variables, plus `user_env`: what a user sets in their own shell (an attack, or a terminal)."""
        base = {"PATH": f"{BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        if entry.pw_uid == 0:
            env = sandbox.user_env(entry, {**base, **self.settings(extra)})
        else:
            env = sandbox.user_env(entry, {**base, "DS01_SOCKET": self.broker(extra).socket})
        env.update({k: v for k, v in {**self.extra_env, **(extra or {})}.items() if k not in SETTING_VARIABLES})
        env.update(user_env or {})
        return env

    def run(self, entry, *argv, input=None, extra_env=None, user_env=None, check=False, cwd="/", timeout=300):
        command = [str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0], *argv[1:]]
        stdin = {} if input is not None else {"stdin": subprocess.DEVNULL}
        result = subprocess.run(sandbox.as_user_command(entry, command), env=self.env(entry, extra_env, user_env),
                                input=input, capture_output=True, text=True, cwd=cwd, timeout=timeout, **stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} exited {result.returncode}: {result.stderr}")
        return result

    def records(self, entry, *argv, input=None, extra_env=None, user_env=None):
        result = self.run(entry, *argv, input=input, check=True, extra_env=extra_env, user_env=user_env)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def pipe(self, entry, first, second):
        """`first | second` with real processes, as a shell pipeline runs them; `.left` is first's exit code."""
        left = subprocess.Popen(sandbox.as_user_command(entry, [str(BIN / first[0]), *first[1:]]),
                                env=self.env(entry), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd="/")
        right = subprocess.run(sandbox.as_user_command(entry, [str(BIN / second[0]), *second[1:]]),
                               env=self.env(entry), stdin=left.stdout, capture_output=True, text=True, cwd="/",
                               timeout=300)
        left.stdout.close()
        right.left = left.wait()
        right.left_stderr = left.stderr.read().decode()
        left.stderr.close()
        return right

    def spawn(self, entry, *argv, extra_env=None, timeout=60):
        """Run a command as `entry` in a real pseudo-terminal (pexpect), as a person at a terminal would."""
        pexpect = pytest.importorskip("pexpect")
        command = sandbox.as_user_command(entry, [str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0],
                                                  *argv[1:]])
        return pexpect.spawn(command[0], command[1:], env=self.env(entry, {"TERM": "xterm", **(extra_env or {})}),
                             cwd="/", encoding="utf-8", timeout=timeout, dimensions=(40, 160))

    def popen(self, entry, *argv, extra_env=None):
        """Start a command as `entry` without waiting (stdout/stderr captured)."""
        command = [str(BIN / argv[0]), *argv[1:]]
        return subprocess.Popen(sandbox.as_user_command(entry, command), env=self.env(entry, extra_env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd="/")
