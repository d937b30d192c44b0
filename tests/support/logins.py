"""Fake logins for notices: a utmp file as glibc writes it, and terminals owned by their users."""

import os
import struct


def utmp_entry(kind, login, line, pid=4242):
    """One struct utmp record as glibc writes it (packed here independently of ds01)."""
    return struct.pack("<hxxi32s4s32s256shhi2i4i20s", kind, pid, line.encode(), b"ts/0", login.encode(),
                       b"host", 0, 0, 0, 0, 0, 0, 0, 0, 0, b"")


def fake_logins(directory, entries):
    """A utmp file and a terminal directory: one file per terminal, owned by its user."""
    ttys = directory / "dev"
    (ttys / "pts").mkdir(parents=True)
    records = b""
    for login, line, owner_uid, kind in entries:
        records += utmp_entry(kind, login, line)
        path = ttys / line
        path.touch()
        os.chown(path, owner_uid, -1)
    utmp = directory / "utmp"
    utmp.write_bytes(records)
    return utmp, ttys
