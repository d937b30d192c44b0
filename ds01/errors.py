"""Errors that carry their exit code, so every command maps failures the same way."""

from collections.abc import Iterable

OK = 0
FAILURE = 1
USAGE = 2
NO_CAPACITY = 3
NOT_FOUND = 4
PERMISSION = 5


class Ds01Error(Exception):
    """A failure to report as `command: error: message` plus an optional hint."""

    code = FAILURE

    def __init__(self, message: str, hint: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code


class UsageError(Ds01Error):
    code = USAGE


class NoCapacity(Ds01Error):
    code = NO_CAPACITY


class NotFound(Ds01Error):
    code = NOT_FOUND


class PermissionDenied(Ds01Error):
    code = PERMISSION


def worst(codes: Iterable[int]) -> int:
    """The exit code of a batch: the highest code any target produced (0 when all succeeded)."""
    return max(codes, default=OK)
