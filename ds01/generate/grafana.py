"""Grafana dashboards for ds01-exporter's families, written as the JSON Grafana's file provisioning loads.

Panels are listed here compactly and laid out on Grafana's 24-column grid; `make generate` writes
etc/grafana/dashboards/*.json. Every expression is evaluated against a real Prometheus in
tests/test_grafana.py, so a family renamed in ds01/metrics.py breaks a test, not a dashboard.
"""

import json
from dataclasses import dataclass, field

DATASOURCE = {"type": "prometheus", "uid": "ds01-prometheus"}  # etc/grafana/provisioning/datasources/ds01.yml
DASHBOARD_DIR = "etc/grafana/dashboards"


@dataclass(frozen=True)
class Panel:
    kind: str  # stat, timeseries, table, bargauge
    title: str
    exprs: tuple[str, ...]
    width: int = 8
    height: int = 7
    unit: str = "none"
    legend: str = ""
    description: str = ""
    stacked: bool = False


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[tuple[str, str, str], ...] = ()  # (name, label, label_values query)
    since: str = "now-6h"
    tags: tuple[str, ...] = field(default=("ds01",))


def _stat(title, expr, unit="none", description="", width=4):
    return Panel("stat", title, (expr,), width=width, height=4, unit=unit, description=description)


OVERVIEW = Dashboard(
    "ds01-overview", "ds01 / Overview", "GPUs held and free, who holds them, the queue and the host's health.",
    (
        _stat("GPU slots held", "ds01:gpu_slots_allocated:sum", description="slots a container or claim holds"),
        _stat("GPU-equivalents held", "ds01:gpu_equivalents_allocated:ratio", unit="percentunit"),
        _stat("Running containers", 'sum(ds01_containers_total{status="running"})'),
        _stat("Waiting for a GPU", "ds01_queue_length"),
        _stat("Oldest wait", "ds01_queue_oldest_wait_seconds", unit="s"),
        _stat("Unmanaged GPU containers", "ds01_unmanaged_gpu_count",
              description="running containers with GPUs that ds01 did not create"),
        Panel("timeseries", "GPU-equivalents held by user", ("sum by (user) (ds01_user_gpu_equivalents)",),
              width=12, legend="{{user}}", stacked=True),
        Panel("timeseries", "Utilisation by GPU", ("avg by (gpu) (ds01_gpu_utilization_percent)",),
              width=12, unit="percent", legend="GPU {{gpu}}"),
        Panel("table", "Slots", ("ds01_gpu_slot_info",), width=24, height=9,
              description="each slot, its state and its holders"),
        Panel("table", "Idle containers holding GPUs", ('ds01_container_idle_seconds{slots!=""} > 0',),
              width=12, unit="s"),
        Panel("timeseries", "Containers by state", ("sum by (status) (ds01_containers_total)",), width=12,
              legend="{{status}}", stacked=True),
        Panel("timeseries", "Allocator refusals", ("sum by (reason) (increase(ds01_allocator_refusals_total"
                                                   "[$__rate_interval]))",), width=12, legend="{{reason}}"),
        Panel("bargauge", "Events of the last 24 hours", ("sum by (event_type) (ds01_events_24h_total)",),
              width=12, legend="{{event_type}}"),
        _stat("ds01d", "ds01_broker_up", description="1: ds01d accepts connections"),
        _stat("State dir sound", "ds01_state_dir_writable",
              description="1: root's, writable by root and no one else"),
        _stat("Exporter", 'up{job="ds01"}'),
        _stat("Scrape time", "ds01_scrape_duration_seconds", unit="s"),
        Panel("table", "ds01 version", ("ds01_build_info",), width=8, height=4),
    ))

USER = Dashboard(
    "ds01-user", "ds01 / Per user", "One user's (or several users') GPUs, containers and cgroup use against "
    "their enforced totals.",
    (
        Panel("timeseries", "GPU-equivalents held and quota",
              ('ds01_user_gpu_equivalents{user=~"$user"}', 'ds01_user_gpu_quota{user=~"$user"}'),
              width=12, legend="{{user}} {{__name__}}"),
        Panel("timeseries", "Memory against the enforced total",
              ('ds01_user_memory_bytes{user=~"$user"}', 'ds01_user_memory_limit_bytes{user=~"$user"}'),
              width=12, unit="bytes", legend="{{user}} {{__name__}}"),
        Panel("timeseries", "CPU cores in use against the total",
              ('rate(ds01_user_cpu_seconds_total{user=~"$user"}[$__rate_interval])',
               'ds01_user_cpu_limit_cores{user=~"$user"}'), width=12, legend="{{user}} {{__name__}}"),
        Panel("timeseries", "Containers", ('ds01_user_containers_count{user=~"$user"}',), width=12,
              legend="{{user}}"),
        Panel("table", "Slots held", ('ds01_gpu_slot_info{user=~"$user"}',), width=12),
        Panel("table", "Running containers and idle time", ('ds01_container_idle_seconds{user=~"$user"}',),
              width=12, unit="s"),
        Panel("table", "Group", ('ds01_user_group_info{user=~"$user"}',), width=24, height=5),
    ),
    variables=(("user", "User", "label_values(ds01_user_containers_count, user)"),))

GPU = Dashboard(
    "ds01-gpu", "ds01 / Per GPU and slot", "What NVML reports per GPU and MIG slot, and who holds each slot.",
    (
        Panel("timeseries", "Utilisation", ('ds01_gpu_utilization_percent{gpu=~"$gpu"}',), width=12,
              unit="percent", legend="slot {{slot}}"),
        Panel("timeseries", "Memory used", ('ds01_gpu_memory_used_bytes{gpu=~"$gpu"}',), width=12, unit="bytes",
              legend="slot {{slot}}"),
        Panel("bargauge", "Memory used of total",
              ('ds01_gpu_memory_used_bytes{gpu=~"$gpu"} / ds01_gpu_memory_total_bytes{gpu=~"$gpu"}',),
              width=12, unit="percentunit", legend="slot {{slot}}"),
        Panel("timeseries", "Held", ('ds01_gpu_allocated{gpu=~"$gpu"}',), width=12, legend="slot {{slot}}"),
        Panel("timeseries", "Temperature", ('ds01_gpu_temperature_celsius{gpu=~"$gpu"}',), width=12,
              unit="celsius", legend="GPU {{gpu}}"),
        Panel("timeseries", "Power", ('ds01_gpu_power_watts{gpu=~"$gpu"}',), width=12, unit="watt",
              legend="GPU {{gpu}}"),
        Panel("table", "Slots and holders", ('ds01_gpu_slot_info{gpu=~"$gpu"}',), width=12),
        Panel("table", "MIG devices", ('ds01_mig_slot_info{gpu=~"$gpu"}',), width=12),
    ),
    variables=(("gpu", "GPU", "label_values(ds01_gpu_equivalents, gpu)"),))

USAGE = Dashboard(
    "ds01-usage", "ds01 / Usage over the range",
    "GPU-hours and container-hours per user and group over the time range (a month by default), from the "
    "samples Prometheus kept. ds01-report computes the same from ds01's event log.",
    (
        Panel("bargauge", "GPU-hours by user",
              ("sum by (user) (avg_over_time(ds01_user_gpu_equivalents[$__range])) * $__range_s / 3600",),
              width=12, height=9, legend="{{user}}"),
        Panel("bargauge", "GPU-hours by group",
              ("sum by (group) (avg_over_time(ds01_user_gpu_equivalents[$__range]) * on(user) "
               "group_left(group) ds01_user_group_info) * $__range_s / 3600",), width=12, height=9,
              legend="{{group}}"),
        Panel("bargauge", "Container-hours by user",
              ("sum by (user) (avg_over_time(ds01_user_containers_running[$__range])) * $__range_s / 3600",),
              width=12, height=9, legend="{{user}}"),
        Panel("bargauge", "Mean utilisation by GPU",
              ("avg by (gpu) (avg_over_time(ds01_gpu_utilization_percent[$__range]))",), width=12, height=9,
              unit="percent", legend="GPU {{gpu}}"),
        Panel("timeseries", "GPU-equivalents held", ("ds01:gpu_equivalents_allocated:sum",), width=24,
              legend="held"),
        Panel("table", "Refusals over the range",
              ("sum by (reason) (increase(ds01_allocator_refusals_total[$__range]))",), width=12),
        Panel("table", "Lifecycle events over the range",
              ("sum by (event_type) (increase(ds01_lifecycle_events_total[$__range]))",), width=12),
    ),
    since="now-30d")

DASHBOARDS = (OVERVIEW, USER, GPU, USAGE)


def _panel_json(panel, number, x, y):
    targets = [{"datasource": DATASOURCE, "expr": expr, "refId": chr(ord("A") + i),
                "legendFormat": panel.legend or "__auto", "instant": panel.kind in ("table", "bargauge", "stat"),
                "range": panel.kind == "timeseries", **({"format": "table"} if panel.kind == "table" else {})}
               for i, expr in enumerate(panel.exprs)]
    custom = {"stacking": {"mode": "normal" if panel.stacked else "none"}} if panel.kind == "timeseries" else {}
    out = {"id": number, "type": panel.kind, "title": panel.title, "datasource": DATASOURCE,
           "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
           "fieldConfig": {"defaults": {"unit": panel.unit, "custom": custom}, "overrides": []},
           "options": {}, "targets": targets}
    if panel.description:
        out["description"] = panel.description
    if panel.kind == "table":
        out["transformations"] = [{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True,
                                                                                   "__name__": True}}}]
    return out


def dashboard_json(board):
    """The dashboard as Grafana's provisioning loads it: panels placed left to right, wrapping at 24 columns."""
    panels, x, y, row_height = [], 0, 0, 0
    for number, panel in enumerate(board.panels, 1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel_json(panel, number, x, y))
        x, row_height = x + panel.width, max(row_height, panel.height)
    variables = [{"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
                  "query": {"query": query, "refId": f"{name}-values"}, "definition": query, "refresh": 2,
                  "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
                  "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}
                 for name, label, query in board.variables]
    return {"uid": board.uid, "title": board.title, "description": board.description, "tags": list(board.tags),
            "editable": True, "schemaVersion": 39, "version": 1, "graphTooltip": 1, "refresh": "30s",
            "time": {"from": board.since, "to": "now"}, "timezone": "",
            "templating": {"list": variables}, "annotations": {"list": []}, "links": [], "panels": panels}


def expected_dashboards():
    return {f"{DASHBOARD_DIR}/{b.uid}.json": json.dumps(dashboard_json(b), indent=2) + "\n" for b in DASHBOARDS}
