"""DS01's `get_resource_limits.py USER --FLAG` answers, in DS01's own output shapes.

Why: admins wrote scripts against DS01's internal CLI (`--max-gpus`, `--aggregate`, …). ds01
keeps its legacy name working with the same flags and the same text, read from ds01's own
resolved limits, so the numbers are the ones the allocator and the jobs use. Where DS01 would
have resolved a user differently (an override: DS01 replaced the group, ds01 layers it), the
legacy name says so on stderr with DS01's answer.
"""

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .names import sanitize_username
from .policy import BUILTIN_LIMITS, BUILTIN_POLICIES, LIMIT_KEYS, docker_terms
from .units import format_bytes

# flag -> what it answers (the man page and --help list them in this order)
FLAGS = {
    "max_gpus": "max_gpu_equivalents (whole numbers without .0; unlimited)",
    "max_containers": "max_containers_per_user (unlimited)",
    "max_ram": "memory per container (32g)",
    "max_mig_per_container": "max_gpu_slots_per_container (unlimited)",
    "mig_instances_per_gpu": "gpu_allocation.slots_per_gpu (1)",
    "allow_full_gpu": "true or false",
    "priority": "the wait-queue priority",
    "gpu_hold_time": "gpu_hold_after_stop_h (indefinite)",
    "container_hold_time": "container_hold_after_stop_h (never)",
    "idle_timeout": "idle_timeout_h (None)",
    "max_runtime": "max_runtime_h (None)",
    "all_lifecycle": "the four lifecycle timers as JSON",
    "lifecycle_policies": "the resolved policies as JSON",
    "high_demand_threshold": "policies.high_demand_threshold",
    "high_demand_reduction": "policies.high_demand_idle_reduction",
    "aggregate": "the aggregate limits as JSON (null)",
    "aggregate_gpu_limit": "aggregate.gpu_limit (unlimited)",
}


def number(value):
    """DS01 prints whole floats as ints: 2.0 -> 2."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _or(value, word):
    return word if value is None else number(value)


def _hours(value, word):
    return word if value is None else f"{number(value)}h"


# DS01's get_lifecycle_policies: these five keys only, in this order, with its shipped file's types.
DS01_POLICY_KEYS: dict[str, Callable[[Any], Any]] = {
    "gpu_idle_threshold": number, "cpu_idle_threshold": float, "network_idle_threshold": int,
    "idle_detection_window": int, "sigterm_grace_s": number}
DS01_LIFECYCLE_KEYS = ("idle_timeout_h", "max_runtime_h", "gpu_hold_after_stop_h", "container_hold_after_stop_h")
LEGACY_NAME = "get_resource_limits.py"


def answer(flag, limits, policy, legacy=False):
    """The line DS01 printed for `flag` (a key of FLAGS). `legacy` (called as get_resource_limits.py): DS01's
    exact shapes; else ds01's own (`resource-limits --all-lifecycle` etc.: every key, ds01's names)."""
    values, policies, aggregate = limits.values, limits.policies, limits.aggregate
    simple = {
        "max_gpus": lambda: _or(values["max_gpu_equivalents"], "unlimited"),
        "max_containers": lambda: _or(values["max_containers_per_user"], "unlimited"),
        "max_ram": lambda: format_bytes(values["memory"]),
        "max_mig_per_container": lambda: _or(values["max_gpu_slots_per_container"], "unlimited"),
        "mig_instances_per_gpu": lambda: policy.section("gpu_allocation").get("slots_per_gpu") or 1,
        "allow_full_gpu": lambda: "true" if values["allow_full_gpu"] else "false",
        "priority": lambda: values["priority"],
        "gpu_hold_time": lambda: _or(values["gpu_hold_after_stop_h"], "indefinite"),
        "container_hold_time": lambda: _or(values["container_hold_after_stop_h"], "never"),
        "idle_timeout": lambda: _or(values["idle_timeout_h"], "None"),
        "max_runtime": lambda: _or(values["max_runtime_h"], "None"),
        "all_lifecycle": lambda: json.dumps(
            {key if legacy else key[:-2]: number(values[key]) for key in DS01_LIFECYCLE_KEYS}),
        "lifecycle_policies": lambda: json.dumps(
            {key: convert(policies[key]) for key, convert in DS01_POLICY_KEYS.items()} if legacy else
            {k: number(v) for k, v in policies.items()}),
        "high_demand_threshold": lambda: number(policies["high_demand_threshold"]),
        "high_demand_reduction": lambda: number(policies["high_demand_idle_reduction"]),
        "aggregate": lambda: json.dumps(aggregate_as_written(aggregate, legacy)) if aggregate else "null",
        "aggregate_gpu_limit": lambda: _gpu_limit((aggregate or {}).get("gpu_limit"), legacy),
    }
    return str(simple[flag]())


def _gpu_limit(value, legacy):
    """DS01 printed the YAML float (`2.0`); ds01's own name prints `2`."""
    if value is None:
        return "unlimited"
    return float(value) if legacy else number(value)


def aggregate_as_written(aggregate, legacy=False):
    """The aggregate section in DS01's units: cpu_quota "9600%", memory_max "96G", gpu_limit 2.0 (legacy)."""
    shown: dict[str, str | float | None] = {}
    for key, value in aggregate.items():
        if value is None:
            shown[key] = None
        elif key == "cpu_quota":
            shown[key] = f"{number(float(value))}%"
        elif key.startswith("memory"):
            shown[key] = format_bytes(value).upper()
        elif key == "gpu_limit" and legacy:
            shown[key] = float(value)
        else:
            shown[key] = number(value)
    return shown


def docker_args(limits):
    """DS01's `--docker-args`: its resource flags and the slice, without ds01's capability and privilege flags
    (DS01's mlc added its own; a script that runs `docker run $(…)` keeps DS01's behaviour)."""
    kept = ("nano_cpus", "mem_limit", "memswap_limit", "shm_size", "ipc_mode", "pids_limit", "cgroup_parent")
    return " ".join(flags for key, _, flags in docker_terms(limits.values, limits.slice_name) if key in kept)


def ds01_resolution(policy, login):
    """The limits DS01's ResourceLimitParser gave `login` from the same file: a user override *replaces* the
    group (defaults + override, group `override`, slice `ds01-override-<user>.slice`; aggregate and policies
    the override's, else the group's). ds01 layers the override on the group; the two agree without one."""
    override = policy.overrides.get(login) or policy.overrides.get(sanitize_username(login))
    ours = policy.resolve(login)
    if not override:
        return ours
    group_section = policy.section("groups").get(ours.group) or {}
    values = dict(BUILTIN_LIMITS)
    for layer in (policy.section("defaults"), override):
        values.update({k: v for k, v in layer.items() if k in LIMIT_KEYS and k not in ("aggregate", "policies")})
    if values["memory_swap"] is None:
        values["memory_swap"] = values["memory"]
    policies = {**BUILTIN_POLICIES, **policy.section("policies"),
                **(override.get("policies") if "policies" in override else group_section.get("policies") or {})}
    aggregate = override["aggregate"] if "aggregate" in override else group_section.get("aggregate")
    return replace(ours, group="override", group_source="override", values=values, policies=policies,
                   aggregate=aggregate or None, placed_by="user_overrides")


def exemption_line(exemption):
    """`--check-exemption TYPE`: DS01's three answers."""
    if exemption is None:
        return "not_exempt"
    reason = exemption.reason or "no reason given"
    if exemption.expires is None:
        return f"exempt: Permanent exemption: {reason}"
    return f"exempt: Temporary exemption until {exemption.expires.strftime('%Y-%m-%dT%H:%M:%SZ')}: {reason}"


def json_record(limits):
    """DS01's `--json` shape: its keys, every value a string as DS01 printed it ("2", "0.5h"), "N/A" where it
    printed N/A (a null idle timeout or hold, no storage_workspace), "unlimited" for no GPU/container/runtime cap."""
    values = limits.values
    return {
        "group": limits.group,
        "max_gpus": str(_or(values["max_gpu_equivalents"], "unlimited")),
        "max_gpus_per_container": str(_or(values["max_gpu_slots_per_container"], "unlimited")),
        "max_containers": str(_or(values["max_containers_per_user"], "unlimited")),
        "cpu_cores": str(number(values["max_cpus"])),
        "memory": format_bytes(values["memory"]),
        "storage_workspace": str(values.get("storage_workspace") or "N/A"),
        "idle_timeout": _hours(values["idle_timeout_h"], "N/A"),
        "gpu_hold": _hours(values["gpu_hold_after_stop_h"], "N/A"),
        "container_hold": _hours(values["container_hold_after_stop_h"], "N/A"),
        "max_runtime": _hours(values["max_runtime_h"], "unlimited"),
    }


def legacy_output(what, limits, policy):
    """What get_resource_limits.py prints for `what` (a FLAGS key, `json`, `docker_args` or `group`)."""
    if what == "json":
        return json.dumps(json_record(limits))
    if what == "docker_args":
        return docker_args(limits)
    if what == "group":
        return limits.group
    return answer(what, limits, policy, legacy=True)


def difference_note(what, login, limits, policy):
    """None, or the stderr note for a user whose override DS01 resolved differently, with DS01's own output."""
    printed = legacy_output(what, ds01_resolution(policy, login), policy)
    if printed == legacy_output(what, limits, policy):
        return None
    return (f"{login} has a user override; ds01 applies it on top of group {limits.group}, DS01 replaced "
            f"the group by it. DS01 printed: {printed}")
