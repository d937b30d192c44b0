"""The little state ds01 writes: short-lived claims, early releases and the wait queue, under one lock.

Everything else is read from Docker. The files live in the state dir ($DS01_STATE_DIR, else
`paths.state_dir`, else /var/lib/ds01), which every user allowed to run containers can write
(mode 1777, like /tmp). All of them are read and written only while holding `gpu.lock`, so
they are rewritten in place (the sticky bit forbids replacing another user's file).
"""

import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

from ..errors import Ds01Error, NoCapacity

DEFAULT_LOCK_TIMEOUT = 30.0
CLAIMS = "gpu-claims.json"
RELEASED = "gpu-released.json"
QUEUE = "gpu-queue.json"


class State:
    def __init__(self, directory: str, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout
        self.locked = False

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _ensure(self, name: str) -> str:
        """Create the directory (1777) and the file (0666) when missing, so every user can use them."""
        if not os.path.isdir(self.directory):
            try:
                os.makedirs(self.directory, exist_ok=True)
                os.chmod(self.directory, 0o1777)  # noqa: S103 - shared today; issue 17 makes it root-only
            except OSError as exc:
                raise Ds01Error(f"the state dir {self.directory} is missing and cannot be created: {exc.strerror}",
                                hint=f"an admin creates it once: install -d -m 1777 {self.directory}") from None
        path = self.path(name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise Ds01Error(f"cannot open {path}: {exc.strerror}",
                            hint=f"the state dir must be writable by every user (chmod 1777 {self.directory})",
                            ) from None
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, 0o666)
        finally:
            os.close(fd)
        return path

    @contextlib.contextmanager
    def lock(self) -> Iterator["State"]:
        """The allocator lock. Fails closed: on timeout the caller gets NoCapacity, never an unlocked run."""
        import portalocker

        lock = portalocker.Lock(self._ensure("gpu.lock"), mode="a", timeout=self.lock_timeout, check_interval=0.02,
                                flags=portalocker.LOCK_EX | portalocker.LOCK_NB)
        try:
            lock.acquire()
        except portalocker.LockException:
            raise NoCapacity(f"allocator busy: could not take {self.path('gpu.lock')} within {self.lock_timeout:g}s",
                             hint="try again; gpu_allocation.lock_timeout_s sets how long to wait") from None
        self.locked = True
        try:
            yield self
        finally:
            self.locked = False
            lock.release()

    def read(self, name: str, default: Any) -> Any:
        """A state file's content. Decisions read it under the lock; a damaged file reads as empty."""
        try:
            with open(self.path(name), encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return default
        try:
            value = json.loads(text) if text.strip() else default
        except ValueError:
            return default
        return value if isinstance(value, type(default)) else default

    def write(self, name: str, value: Any) -> None:
        if not self.locked:
            raise RuntimeError("state files are written under the lock")
        path = self._ensure(name)
        data = json.dumps(value, indent=1, sort_keys=True)
        with open(path, "r+", encoding="utf-8") as handle:
            handle.write(data)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())

    # -- claims: {claim id: record}

    def claims(self, now: float | None = None) -> dict[str, Any]:
        """Live claims (expired ones are dropped from the file on the next write)."""
        now = now or time.time()
        return {cid: c for cid, c in self.read(CLAIMS, {}).items() if c.get("expires_at", 0) > now}

    def save_claims(self, claims: dict[str, Any]) -> None:
        self.write(CLAIMS, claims)
