"""The one way a test waits for something the system will reach: ask, with a deadline, never a fixed sleep."""

import time

TIMEOUT = 60.0


def wait_until(what, probe, timeout=TIMEOUT, log=None):
    """Ask `probe()` until it gives something true and return that; after `timeout` seconds fail the test,
    naming `what` (and `log()`'s text, a server's log tail, when given). The gap between two questions grows
    from 20 ms to 250 ms: short waits stay short, long ones do not spin."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = log() if log else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}".rstrip())
        time.sleep(delay)  # the gap between two questions, not a wait for readiness
        delay = min(delay * 1.5, 0.25)
