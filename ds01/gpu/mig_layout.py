"""MIG layouts as the policy says them (`gpu.mig_layout`): the key's kind, what it wants of a GPU, and
whether a GPU already has it. mig.py carries a layout out; this part is all the policy and ds01-doctor need.
"""

import re
from typing import TYPE_CHECKING, Any

from ..schema import Kind

if TYPE_CHECKING:  # the policy imports this module for its Kind: keep that import light
    from .model import Gpu

OFF = "off"
# Patterns, not compiled ones: every command imports this module with the policy, few match a profile
# (re compiles on first use and keeps it). Groups: compute slices (`1c.`), GPU-instance slices, GB, extension.
PROFILE = r"^(?:(\d+)c\.)?(\d+)g(?:\.(\d+)gb)?(\+\w+)?$"
SHORT = r"^(\d+)g$"


def profile_match(name: str) -> "re.Match[str] | None":
    """A MIG profile name (`3g.20gb`, `1g.5gb+me`, `1c.3g.20gb`, or just `3g`) taken apart."""
    return re.match(PROFILE, name)


def is_short(name: str) -> "re.Match[str] | None":
    """`3g`: a size, no memory."""
    return re.match(SHORT, name)


class MigLayout(Kind):
    """`{GPU: off | [profile, ...]}`; a GPU is its index, its UUID or `all` (every GPU not named otherwise)."""

    nullable = True
    kind_text = "mapping: GPU to off or a list of profiles"

    def __init__(self, doc: str = "") -> None:
        self.doc = doc

    def convert(self, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping of GPU (index, UUID or all) to off or a list of profiles, "
                             f"got {value!r}")
        result: dict[str, Any] = {}
        for key, item in value.items():
            gpu = str(key)
            if not (gpu == "all" or gpu.isdigit() or gpu.startswith("GPU-")):
                raise ValueError(f"{gpu!r}: a GPU is its index, its UUID (GPU-…) or all")
            if item is False or item == OFF:  # YAML reads a bare off as false
                result[gpu] = OFF
                continue
            if not isinstance(item, list) or not item or not all(isinstance(p, str) for p in item):
                raise ValueError(f"GPU {gpu}: expected off or a list of MIG profiles like [3g.20gb, 3g.20gb], "
                                 f"got {item!r}")
            for profile in item:
                match = profile_match(profile)
                if not match or match.group(1):
                    raise ValueError(f"GPU {gpu}: {profile!r} is not a GPU-instance profile like 3g.20gb or 3g")
            slices = sum(int(m.group(2)) for m in map(profile_match, item) if m)
            if slices > 8:
                raise ValueError(f"GPU {gpu}: {', '.join(item)} is {slices} compute slices; no GPU has more than 8")
            result[gpu] = list(item)
        return result


def wanted(layout: dict[str, Any], gpu: "Gpu") -> Any:
    """What the layout wants of `gpu`: OFF, a list of profile names, or None (left alone)."""
    for key in (gpu.uuid, str(gpu.index), "all"):
        if key in layout:
            return layout[key]
    return None


def current(gpu: "Gpu") -> Any:
    """What `gpu` is now: OFF, or its MIG devices' profiles in slot order."""
    return [d.profile for d in gpu.mig_devices] if gpu.mig_current else OFF


def same(name: str, profile: str) -> bool:
    short = is_short(name)
    if short:
        return profile.startswith(f"{short.group(1)}g.") and "+" not in profile
    return name == profile


def matches(want: Any, now: Any) -> bool:
    """Does the GPU already have the layout? `3g` is any 3g profile without extensions."""
    if want == OFF or now == OFF:
        return bool(want == now)
    left = list(now)
    for name in sorted(want, key=lambda n: bool(is_short(n))):  # exact names first
        found = next((p for p in left if same(name, p)), None)
        if found is None:
            return False
        left.remove(found)
    return not left


def show(layout: Any) -> str:
    return layout if layout == OFF else "[" + ", ".join(layout) + "]"
