"""ds01-exporter scraped by a real Prometheus (Debian's), against the private engine with the simulated GPUs and
real ds01 containers (issue 19): every family is there with what gpu-status and container-list say, the shipped
rules pass promtool and one of them fires in the scenario made for it."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import docker
import pytest

from tests.support import sandbox
from tests.support.gpulab import GpuLab, slot_uuids

ETC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "etc", "prometheus")
ROOT = sandbox.pwd.getpwnam("root")
FAMILIES = [
    "ds01_gpu_allocated", "ds01_gpu_equivalents", "ds01_gpu_slot_info", "ds01_mig_slot_info",
    "ds01_gpu_memory_used_bytes", "ds01_gpu_memory_total_bytes", "ds01_gpu_temperature_celsius",
    "ds01_gpu_power_watts", "ds01_containers_total", "ds01_user_gpus_allocated", "ds01_user_gpu_equivalents",
    "ds01_user_containers_count", "ds01_user_containers_running", "ds01_user_gpu_quota", "ds01_user_group_info",
    "ds01_unmanaged_gpu_container",
    "ds01_unmanaged_gpu_count", "ds01_container_idle", "ds01_container_idle_seconds", "ds01_queue_length",
    "ds01_queue_oldest_wait_seconds", "ds01_allocator_refusals_total", "ds01_lifecycle_events_total",
    "ds01_events_24h_total", "ds01_user_memory_bytes", "ds01_user_memory_limit_bytes", "ds01_user_cpu_seconds_total",
    "ds01_user_cpu_limit_cores", "ds01_broker_up", "ds01_state_dir_writable", "ds01_build_info",
    "ds01_scrape_duration_seconds"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def until(what, check, timeout=60):
    """Poll `check` (a server's answer) until it gives something true; the wait is on a server, not a step."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def get(url, as_json=True):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - a loopback http URL of the test's
            body = answer.read()
    except OSError:
        return None
    return json.loads(body) if as_json else body


@pytest.fixture
def scenario(user_tmp, users, dockerd, client, sh):  # sh: every container goes afterwards
    """alice: a running GPU container (idle), a warned max-runtime; bob: a CPU-only one and a refused GPU
    request; an unmanaged GPU container; ds01d; then an exporter on a loopback port."""
    alice, bob = users["alice"], users["bob"]
    lab = GpuLab(user_tmp, users, dockerd, extra=(
        f"user_overrides: {{{alice.pw_name}: {{max_runtime_h: 10, "
        "aggregate: {memory_max: 1g, cpu_quota: 200%}}}\n"))
    made = lab.sh.records(alice, "container-deploy", "train", sandbox.BASE_IMAGE, "--num-gpus", "1",
                          "--background")[0]
    lab.sh.records(bob, "container-create", "notes", sandbox.BASE_IMAGE, "--cpu-only")
    refused = lab.sh.run(bob, "gpu-allocate", "--num-gpus", "8")
    assert refused.returncode == 3
    uuids = slot_uuids()
    other = client.containers.run(sandbox.BASE_IMAGE, ["sleep", "infinity"], name="stray", detach=True,
                                  device_requests=[docker.types.DeviceRequest(device_ids=[uuids["3.1"]],
                                                                              capabilities=[["gpu"]])])
    started = client.api.inspect_container(made["container"])["State"]["StartedAt"]
    from ds01.clock import parse_docker

    at = parse_docker(started).timestamp()
    lab.sh.run(ROOT, "ds01-max-runtime", "--json", extra_env={"DS01_NOW": str(at + 8 * 3600)}, check=True)
    lab.sh.run(ROOT, "ds01-idle-check", "--json", check=True)  # its memory: train idle since it started
    port = free_port()
    exporter = lab.sh.popen(ROOT, "ds01-exporter", "--listen", f"127.0.0.1:{port}", "--ttl", "0",
                            extra_env={"DS01_SOCKET": lab.sh.broker().socket})
    until("the exporter", lambda: _metrics(port))
    yield lab, port, made
    exporter.terminate()
    assert exporter.wait(timeout=30) == 0
    other.remove(force=True)


def _metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:  # noqa: S310
            return answer.read().decode()
    except OSError:
        return None


@pytest.fixture
def prometheus(user_tmp, scenario):
    """Debian's Prometheus on a loopback port, scraping the exporter every second, with the shipped rules
    (the idle alert's hour shortened to a second, as an admin's test of the rule would)."""
    if shutil.which("prometheus") is None and not os.environ.get("DS01_REQUIRE_DOCKER"):
        pytest.skip("prometheus is not installed (make system-deps)")
    _, port, _ = scenario
    rules = user_tmp / "rules.yml"
    text = open(os.path.join(ETC, "ds01-rules.yml")).read()
    rules.write_text(text.replace('ds01_container_idle_seconds{slots!=""} > 3600\n        for: 10m',
                                  'ds01_container_idle_seconds{slots!=""} > 1\n        for: 0s'))
    config = user_tmp / "prometheus.yml"
    config.write_text(f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{rules}]\n"
                      f"scrape_configs:\n  - job_name: ds01\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{port}']\n")
    web = free_port()
    process = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={user_tmp / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{web}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{web}"

    def query(expression):
        answer = get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
        assert answer and answer["status"] == "success", (expression, answer)
        return answer["data"]["result"]

    until("a scrape", lambda: get(f"{base}/-/ready", as_json=False) is not None and query('up{job="ds01"} == 1'))
    yield base, query, config, rules
    process.terminate()
    process.wait(timeout=30)


def test_every_family_is_scraped_with_what_gpu_status_and_container_list_say(scenario, prometheus, users):
    lab, _, made = scenario
    _, query, _, _ = prometheus
    alice = users["alice"]
    names = {r["metric"]["__name__"] for r in query('count by (__name__) ({__name__=~"ds01_.+"})')}
    assert sorted(set(FAMILIES) - names) == []
    status = lab.sh.records(users["admin"], "gpu-status")
    held = {r["slot"] for r in status if r["state"] == "held"}
    allocated = {r["metric"]["slot"] for r in query("ds01_gpu_allocated == 1")}
    assert allocated == held and len(held) == 2  # alice's slot and the stray container's
    info = {r["metric"]["slot"]: r["metric"] for r in query("ds01_gpu_slot_info")}
    assert {s: info[s]["state"] for s in info} == {r["slot"]: r["state"] for r in status}
    [mine] = [r for r in status if made["container"] in r["containers"]]
    assert info[mine["slot"]]["user"] == alice.pw_name and info[mine["slot"]]["container"] == made["container"]
    listed = lab.sh.records(users["admin"], "container-list", "-a", "--all-users")
    total = sum(float(r["value"][1]) for r in query("ds01_containers_total"))
    assert total == len(listed)
    [eq] = query(f'ds01_user_gpu_equivalents{{user="{alice.pw_name}"}}')
    assert float(eq["value"][1]) == lab.sh.records(alice, "gpu-user-status")[0]["gpu_eq_used"]
    [stray] = query("ds01_unmanaged_gpu_container")
    assert stray["metric"]["container"] == "stray" and stray["metric"]["slots"] == "3.1"
    [reason] = query("ds01_allocator_refusals_total")
    assert float(reason["value"][1]) == 1
    assert query('ds01_lifecycle_events_total{event_type="lifecycle.warn"}')
    [limit] = query(f'ds01_user_memory_limit_bytes{{user="{alice.pw_name}"}}')
    assert float(limit["value"][1]) == 1 << 30
    [used] = query(f'ds01_user_memory_bytes{{user="{alice.pw_name}"}}')
    assert 0 < float(used["value"][1]) < 1 << 30
    assert float(query('ds01_gpu_temperature_celsius{gpu="1"}')[0]["value"][1]) == 34
    assert float(query("ds01_broker_up")[0]["value"][1]) == 1


def test_the_shipped_config_and_rules_pass_promtool_and_the_idle_alert_fires(scenario, prometheus, user_tmp):
    _, _, made = scenario
    base, _, config, rules = prometheus
    scrape = user_tmp / "with-shipped.yml"
    scrape.write_text(open(os.path.join(ETC, "ds01-scrape.yml")).read()
                      + f"rule_files: [{os.path.join(ETC, 'ds01-rules.yml')}]\n")
    for argv in (["check", "config", str(scrape)], ["check", "rules", os.path.join(ETC, "ds01-rules.yml")],
                 ["check", "config", str(config)]):
        checked = subprocess.run(["promtool", *argv], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    def firing():
        answer = get(f"{base}/api/v1/alerts") or {"data": {"alerts": []}}
        return [a for a in answer["data"]["alerts"]
                if a["labels"]["alertname"] == "DS01GpuAllocatedButIdle" and a["state"] == "firing"]

    [alert] = until("the idle alert", firing)
    assert alert["labels"]["container"] == made["container"]
    others = get(f"{base}/api/v1/alerts")["data"]["alerts"]
    assert "DS01BrokerDown" not in {a["labels"]["alertname"] for a in others}


GRAFANA = os.path.join(os.path.dirname(ETC), "grafana")
ALL = {"$__rate_interval": "1m", "$__range_s": "3600", "$__range": "1h", "$user": ".*", "$gpu": ".*"}


def test_every_grafana_panel_evaluates_against_prometheus_and_shows_the_scenario(scenario, prometheus):
    """Iterate the dashboards as Grafana's provisioning loads them: every variable's values and every panel's
    expression (Grafana's variables substituted as "All" would) come back from this Prometheus with data."""
    import yaml

    base, query, _, _ = prometheus
    [source] = yaml.safe_load(open(os.path.join(GRAFANA, "provisioning", "datasources", "ds01.yml")))["datasources"]
    boards = [json.load(open(os.path.join(GRAFANA, "dashboards", name)))
              for name in sorted(os.listdir(os.path.join(GRAFANA, "dashboards")))]
    assert {b["uid"] for b in boards} == {"ds01-overview", "ds01-user", "ds01-gpu", "ds01-usage"}
    expressions = {}
    for board in boards:
        for variable in board["templating"]["list"]:
            metric, label = variable["query"]["query"].removeprefix("label_values(").rstrip(")").split(", ")
            values = get(f"{base}/api/v1/label/{label}/values?{urllib.parse.urlencode({'match[]': metric})}")
            assert values["data"], (board["uid"], variable["name"])
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == source["uid"]
            for target in panel["targets"]:
                expr = target["expr"]
                for name, value in ALL.items():
                    expr = expr.replace(name, value)
                assert "$" not in expr, expr
                expressions[f"{board['uid']}: {panel['title']}"] = expr
    assert len(expressions) > 30

    def empty():
        return [where for where, expr in expressions.items() if not query(expr)]  # query asserts no error

    deadline = time.monotonic() + 60
    while (missing := empty()) and time.monotonic() < deadline:
        time.sleep(0.5)  # the recording rules and rate() need a few evaluations: the wait is on Prometheus
    assert missing == []
