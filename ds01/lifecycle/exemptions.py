"""lifecycle-exemptions.yaml: users whose containers a job leaves alone, with a reason and an expiry.

The file sits beside the policy (DS01's schema): `exemptions: [{username, exempt_from: [...],
reason, category, approved_by, approved_on, expires_on}]`. A malformed file is an error naming
file and line, and the job does nothing: failing open would stop the containers of exactly the
people an admin meant to protect.
"""

import datetime
import os
from dataclasses import dataclass

from ..schema import ListOf, Names, PolicyError, Section, Text, Timestamp, load_yaml, read_config, validate

FILE_NAME = "lifecycle-exemptions.yaml"
TIMERS = ("idle_timeout_h", "max_runtime_h", "max_pause_time_h")

ENTRY = Section({
    "username": Text(doc="the login exempted"),
    "exempt_from": Names(doc="which timers: idle_timeout_h, max_runtime_h, max_pause_time_h"),
    "reason": Text(nullable=True, doc="why (shown in the jobs' records)"),
    "category": Text(nullable=True, doc="free text, e.g. thesis-deadline"),
    "approved_by": Text(nullable=True),
    "approved_on": Timestamp(nullable=True),
    "expires_on": Timestamp(nullable=True, doc="null = permanent"),
})
TOP = Section({"exemptions": ListOf(ENTRY)})


@dataclass
class Exemption:
    user: str
    timers: tuple[str, ...]
    reason: str | None
    expires: datetime.datetime | None  # aware

    def describe(self):
        until = f"until {self.expires.strftime('%Y-%m-%dT%H:%M:%SZ')}" if self.expires else "permanent"
        return f"exempt ({until}): {self.reason or 'no reason given'}"


def path_for(policy):
    """The exemptions file beside the policy file (None for the embedded defaults)."""
    if policy.path.startswith("<"):
        return None
    return os.path.join(os.path.dirname(os.path.abspath(policy.path)), FILE_NAME)


def load(policy):
    """Every exemption in the file (none when it does not exist); PolicyError when it is malformed."""
    path = path_for(policy)
    if path is None or not os.path.exists(path):
        return []
    raw = load_yaml(path, read_config(path, "lifecycle exemptions"))
    data = validate(raw, TOP, path, "", 1)
    result = []
    for index, (item, raw_item) in enumerate(zip(data.get("exemptions") or [], (raw or {}).get("exemptions") or [])):
        line = getattr(raw_item, "line", 1)
        if "username" not in item:
            raise PolicyError(f"{path}:{line}: exemptions[{index}]: 'username' is required")
        unknown = [t for t in item.get("exempt_from") or [] if t not in TIMERS]
        if unknown:
            raise PolicyError(f"{path}:{line}: exemptions[{index}].exempt_from: unknown timer '{unknown[0]}' "
                              f"(one of {', '.join(TIMERS)})")
        if not item.get("exempt_from"):
            raise PolicyError(f"{path}:{line}: exemptions[{index}]: 'exempt_from' lists no timer")
        result.append(Exemption(item["username"], tuple(item["exempt_from"]), item.get("reason"),
                                item.get("expires_on")))
    return result


def find(exemptions, user, timer, now):
    """The exemption of `user` from `timer` in force at `now`, or None."""
    for exemption in exemptions:
        current = exemption.expires is None or now < exemption.expires
        if exemption.user == user and timer in exemption.timers and current:
            return exemption
    return None
