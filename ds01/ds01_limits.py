"""DS01's `get_resource_limits.py USER --FLAG` answers, in DS01's own output shapes.

Why: admins wrote scripts against DS01's internal CLI (`--max-gpus`, `--aggregate`, …). ds01
keeps its legacy name working with the same flags and the same text, read from ds01's own
resolved limits, so the numbers are the ones the allocator and the jobs use.
"""

import json

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


def answer(flag, limits, policy):
    """The line DS01 printed for `flag` (a key of FLAGS)."""
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
        "all_lifecycle": lambda: json.dumps({
            "idle_timeout": number(values["idle_timeout_h"]), "max_runtime": number(values["max_runtime_h"]),
            "gpu_hold_after_stop": number(values["gpu_hold_after_stop_h"]),
            "container_hold_after_stop": number(values["container_hold_after_stop_h"])}),
        "lifecycle_policies": lambda: json.dumps({k: number(v) for k, v in policies.items()}),
        "high_demand_threshold": lambda: number(policies["high_demand_threshold"]),
        "high_demand_reduction": lambda: number(policies["high_demand_idle_reduction"]),
        "aggregate": lambda: json.dumps(aggregate_as_written(aggregate)) if aggregate else "null",
        "aggregate_gpu_limit": lambda: _or((aggregate or {}).get("gpu_limit"), "unlimited"),
    }
    return str(simple[flag]())


def aggregate_as_written(aggregate):
    """The aggregate section in DS01's units: cpu_quota "9600%", memory_max "96G"."""
    shown: dict[str, str | None] = {}
    for key, value in aggregate.items():
        if value is None:
            shown[key] = None
        elif key == "cpu_quota":
            shown[key] = f"{number(float(value))}%"
        elif key.startswith("memory"):
            shown[key] = format_bytes(value).upper()
        else:
            shown[key] = number(value)
    return shown


def exemption_line(exemption):
    """`--check-exemption TYPE`: DS01's three answers."""
    if exemption is None:
        return "not_exempt"
    reason = exemption.reason or "no reason given"
    if exemption.expires is None:
        return f"exempt: Permanent exemption: {reason}"
    return f"exempt: Temporary exemption until {exemption.expires.strftime('%Y-%m-%dT%H:%M:%SZ')}: {reason}"


def json_record(limits):
    """DS01's `--json` shape (its keys, its units), not ds01's limits record."""
    values = limits.values
    return {
        "group": limits.group,
        "max_gpus": _or(values["max_gpu_equivalents"], "unlimited"),
        "max_gpus_per_container": _or(values["max_gpu_slots_per_container"], "unlimited"),
        "max_containers": _or(values["max_containers_per_user"], "unlimited"),
        "cpu_cores": number(values["max_cpus"]),
        "memory": format_bytes(values["memory"]),
        "storage_workspace": values.get("storage_workspace"),
        "idle_timeout": _hours(values["idle_timeout_h"], "unlimited"),
        "gpu_hold": _hours(values["gpu_hold_after_stop_h"], "indefinite"),
        "container_hold": _hours(values["container_hold_after_stop_h"], "never"),
        "max_runtime": _hours(values["max_runtime_h"], "unlimited"),
    }
