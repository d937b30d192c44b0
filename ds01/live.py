"""The live terminal view `dashboard`, `gpu-status --watch` and `container-stats --watch` share (and `repeat`,
their piped form).

rich draws each frame on the alternate screen and redraws in place (no scrolling, little
flicker); it honours NO_COLOR, and every frame is built for the terminal's width now, so a
resize (SIGWINCH, which the client passes on through ds01d) redraws at once. `q` or Ctrl-C
ends the view with the terminal as it was: the key reader puts the terminal in cbreak mode
(keys without Enter, Ctrl-C still a signal) and restores it on the way out. rich is imported
here only, by the commands that draw.
"""

import os
import select
import signal
import sys
import termios
import time
import tty
from collections.abc import Callable
from typing import Any


class Keys:
    """The terminal in cbreak mode for the view's lifetime; `wait(seconds)` is True once `q` was pressed."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdin
        self.saved: Any = None
        self.wake_r = self.wake_w = -1
        self.old_wakeup = -1
        self.old_winch: Any = None

    def __enter__(self) -> "Keys":
        try:
            self.fd = self.stream.fileno()
            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)
        except (OSError, ValueError, termios.error):
            self.saved = None  # not a terminal: the view still refreshes, Ctrl-C still ends it
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.old_winch = signal.signal(signal.SIGWINCH, lambda *_: None)
        self.old_wakeup = signal.set_wakeup_fd(self.wake_w)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.set_wakeup_fd(self.old_wakeup)
        signal.signal(signal.SIGWINCH, self.old_winch)
        os.close(self.wake_r)
        os.close(self.wake_w)
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a key or a resize; True when the key was q (or Q)."""
        readers = [self.wake_r] + ([self.fd] if self.saved is not None else [])
        ready, _, _ = select.select(readers, [], [], seconds)
        if self.wake_r in ready:
            os.read(self.wake_r, 64)  # a signal: a resize redraws now, SIGINT raises after this returns
        if self.saved is not None and self.fd in ready:
            return os.read(self.fd, 32).lower().startswith(b"q")
        return False


def repeat(step: Callable[[], Any], interval: float) -> int:
    """A watch that is piped: `step()` (which writes one round's records) every `interval` seconds, a round's
    own time included, until Ctrl-C, which is how it ends (exit 0)."""
    try:
        while True:
            started = time.monotonic()
            step()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        return 0


def console(stream: Any = None) -> Any:
    from rich.console import Console  # lazy: rich, 12 ms

    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)


def show_once(frame: Callable[[int], Any], stream: Any = None) -> None:
    """One frame on the terminal, as it scrolls: `--once`."""
    out = console(stream)
    out.print(frame(out.size.width))


def watch(frame: Callable[[int], Any], interval: float, stream: Any = None) -> int:
    """Redraw `frame(width)` every `interval` seconds until q or Ctrl-C; the terminal is restored after."""
    from rich.live import Live  # lazy: rich, 13 ms

    out = console(stream)
    try:
        with Keys() as keys, Live(console=out, screen=True, auto_refresh=False, redirect_stdout=False,
                                  redirect_stderr=False) as live:
            while True:
                live.update(frame(out.size.width), refresh=True)
                if keys.wait(interval):
                    break
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends; the with blocks above have put the terminal back
    return 0
