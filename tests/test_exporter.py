"""ds01-exporter scraped by a real Prometheus (Debian's), against the private engine with the simulated GPUs and
real ds01 containers (issue 19): every family is there with what gpu-status and container-list say, the shipped
rules pass promtool and one of them fires in the scenario made for it. Prometheus runs as its own account and
scrapes with the shipped job's basic auth; a local user gets nothing from the exporter (issue 29, 7b)."""

import base64
import contextlib
import grp
import http.server
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import threading
import urllib.parse
import urllib.request

import docker
import pytest

from ds01 import exporter as ds01_exporter
from ds01.install import exporter_auth
from tests.support import sandbox
from tests.support.gpulab import GpuLab, slot_uuids
from tests.support.polling import wait_until

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


def bcrypt(password):
    """A bcrypt hash for Prometheus's web config (libxcrypt's, as `htpasswd -B` makes one)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # the standard library's until 3.13; only this test needs a hash made
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))  # noqa: S324 - bcrypt, what Prometheus takes


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]




def get(url, as_json=True, auth=None):
    """`url`'s answer (JSON unless not `as_json`), with basic auth `auth` (user, password); None on any error."""
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()} if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as answer:  # noqa: S310 - a loopback http URL of the test's
            body = answer.read()
    except OSError:
        return None
    return json.loads(body) if as_json else body


@pytest.fixture
def auth_file(user_tmp):
    """/etc/ds01/exporter.auth as make install makes it (root:prometheus 0640), in a directory every user may
    enter and list, as /etc/ds01 is: only the file's own mode keeps its password."""
    directory = user_tmp / "etc-ds01"
    directory.mkdir(mode=0o755)
    exporter_auth(str(directory / "exporter.auth"))
    return directory / "exporter.auth"


def start_exporter(sh, port, auth, extra=()):
    return sh.popen(ROOT, "ds01-exporter", "--listen", f"127.0.0.1:{port}", "--ttl", "0", "--auth-file", str(auth),
                    *extra, extra_env={"DS01_SOCKET": sh.broker().socket})


@pytest.fixture
def scenario(user_tmp, users, dockerd, client, sh, auth_file):  # sh: every container goes afterwards
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
    exporter = start_exporter(lab.sh, port, auth_file)
    wait_until("the exporter", lambda: _metrics(port, auth_file))
    lab.exporter = exporter
    yield lab, port, made
    exporter.terminate()
    assert exporter.wait(timeout=30) == 0
    with contextlib.suppress(docker.errors.NotFound):  # one test removes it behind ds01's back
        other.remove(force=True)


def _metrics(port, auth):
    """The exporter's page, asked as Prometheus asks (basic auth from the file); None until it answers."""
    secret = ds01_exporter.read_secret(str(auth))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Authorization": ds01_exporter.authorization(secret)})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - the test's loopback URL
            return answer.read().decode()
    except OSError:
        return None


@pytest.fixture
def prometheus(user_tmp, scenario, auth_file):
    """Debian's Prometheus on a loopback port, as its own account (prometheus), with the shipped scrape job
    (its target, password_file and interval pointed at this test's) and the shipped rules (the idle alert's
    hour shortened to a second, as an admin's test of the rule would), its own web behind basic auth as
    docs/monitoring.md says (it holds what it scraped). Yields (base, query, config, rules, ask): `ask`
    is `get` with the admin's credentials."""
    import yaml

    if shutil.which("prometheus") is None and not os.environ.get("DS01_REQUIRE_DOCKER"):
        pytest.skip("prometheus is not installed (make system-deps)")
    account = pwd.getpwnam("prometheus")
    made = auth_file.stat()
    assert (made.st_uid, made.st_gid, made.st_mode & 0o777) == (0, grp.getgrnam("prometheus").gr_gid, 0o640)
    _, port, _ = scenario
    rules = user_tmp / "rules.yml"
    text = open(os.path.join(ETC, "ds01-rules.yml")).read()
    rules.write_text(text.replace('ds01_container_idle_seconds{slots!=""} > 3600\n        for: 10m',
                                  'ds01_container_idle_seconds{slots!=""} > 1\n        for: 0s'))
    config = user_tmp / "prometheus.yml"
    [job] = yaml.safe_load(open(os.path.join(ETC, "ds01-scrape.yml")))["scrape_configs"]
    assert job["basic_auth"] == {"username": "ds01", "password_file": ds01_exporter.AUTH_FILE}
    job["basic_auth"]["password_file"] = str(auth_file)
    job.update(scrape_interval="1s", scrape_timeout="1s", static_configs=[{"targets": [f"127.0.0.1:{port}"]}])
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                      "rule_files": [str(rules)], "scrape_configs": [job]}))
    tsdb = user_tmp / "tsdb"
    tsdb.mkdir()
    os.chown(tsdb, account.pw_uid, account.pw_gid)
    admin = ("ds01-admin", secrets.token_urlsafe(16))
    web_config = user_tmp / "web.yml"
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {admin[0]: bcrypt(admin[1])}}))
    checked = subprocess.run(["promtool", "check", "web-config", str(web_config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    web = free_port()
    process = subprocess.Popen(sandbox.as_user_command(account, [
        "prometheus", f"--config.file={config}", f"--storage.tsdb.path={tsdb}", f"--web.config.file={web_config}",
        f"--web.listen-address=127.0.0.1:{web}"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{web}"

    def ask(url, as_json=True):
        return get(url, as_json, auth=admin)

    def query(expression):
        answer = ask(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
        assert answer and answer["status"] == "success", (expression, answer)
        return answer["data"]["result"]

    wait_until("a scrape", lambda: ask(f"{base}/-/ready", as_json=False) is not None and query('up{job="ds01"} == 1'))
    yield base, query, config, rules, ask
    process.terminate()
    process.wait(timeout=30)


def test_every_family_is_scraped_with_what_gpu_status_and_container_list_say(scenario, prometheus, users):
    lab, _, made = scenario
    _, query, _, _, _ = prometheus
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


def test_each_scrape_is_exact_under_changes_behind_ds01s_back(scenario, users, client, auth_file):
    """The exporter lists from its own live view of the engine: every scrape (--ttl 0) right after a change made by
    root with the engine's own API, never through ds01, shows it: a ds01-labelled container of bob's appears,
    runs, pauses, stops and goes; the stray GPU container goes."""
    lab, port, _ = scenario
    said = lab.exporter.stderr.readline()  # its first line, before it serves: the view it lists from
    assert said.startswith("ds01-exporter: live view:") and "following the engine's events" in said, said
    bob = users["bob"].pw_name

    def scraped():
        page = _metrics(port, auth_file)
        rows = {}
        for line in page.splitlines():
            if line.startswith(("ds01_user_containers_count{", "ds01_user_containers_running{",
                                "ds01_unmanaged_gpu_count ", "ds01_containers_total{")):
                name, _, value = line.rpartition(" ")
                rows[name] = float(value)
        return rows

    before = scraped()
    count = f'ds01_user_containers_count{{user="{bob}"}}'
    running = f'ds01_user_containers_running{{user="{bob}"}}'
    labels = {"aime.mlc": bob, "aime.mlc.NAME": "behind", "aime.mlc.USER": bob, "aime.mlc.MLC_VERSION": "4",
              "aime.mlc.DS01_MANAGED": "true", "aime.mlc.GPUS": "none"}
    made = client.api.create_container(sandbox.BASE_IMAGE, ["sleep", "infinity"], labels=labels,
                                       name=f"behind._.{users['bob'].pw_uid}")
    assert scraped()[count] == before[count] + 1
    client.api.start(made["Id"])
    assert scraped()[running] == before[running] + 1
    client.api.pause(made["Id"])
    assert scraped()[running] == before[running]
    client.api.unpause(made["Id"])
    client.api.stop(made["Id"], timeout=0)
    after_stop = scraped()
    assert after_stop[running] == before[running] and after_stop[count] == before[count] + 1
    client.api.remove_container(made["Id"], force=True)
    assert scraped()[count] == before[count]
    assert before["ds01_unmanaged_gpu_count"] == 1
    client.containers.get("stray").remove(force=True)
    assert scraped()["ds01_unmanaged_gpu_count"] == 0


def test_the_shipped_config_and_rules_pass_promtool_and_the_idle_alert_fires(scenario, prometheus, user_tmp):
    _, _, made = scenario
    base, _, config, rules, ask = prometheus
    scrape = user_tmp / "with-shipped.yml"
    scrape.write_text(open(os.path.join(ETC, "ds01-scrape.yml")).read()
                      + f"rule_files: [{os.path.join(ETC, 'ds01-rules.yml')}]\n")
    for argv in (["check", "config", str(scrape)], ["check", "rules", os.path.join(ETC, "ds01-rules.yml")],
                 ["check", "config", str(config)]):
        checked = subprocess.run(["promtool", *argv], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr

    def firing():
        answer = ask(f"{base}/api/v1/alerts") or {"data": {"alerts": []}}
        return [a for a in answer["data"]["alerts"]
                if a["labels"]["alertname"] == "DS01GpuAllocatedButIdle" and a["state"] == "firing"]

    [alert] = wait_until("the idle alert", firing)
    assert alert["labels"]["container"] == made["container"]
    others = ask(f"{base}/api/v1/alerts")["data"]["alerts"]
    assert "DS01BrokerDown" not in {a["labels"]["alertname"] for a in others}


GRAFANA = os.path.join(os.path.dirname(ETC), "grafana")
ALL = {"$__rate_interval": "1m", "$__range_s": "3600", "$__range": "1h", "$user": ".*", "$gpu": ".*"}


def test_every_grafana_panel_evaluates_against_prometheus_and_shows_the_scenario(scenario, prometheus):
    """Iterate the dashboards as Grafana's provisioning loads them: every variable's values and every panel's
    expression (Grafana's variables substituted as "All" would) come back from this Prometheus with data."""
    import yaml

    base, query, _, _, ask = prometheus
    [source] = yaml.safe_load(open(os.path.join(GRAFANA, "provisioning", "datasources", "ds01.yml")))["datasources"]
    boards = [json.load(open(os.path.join(GRAFANA, "dashboards", name)))
              for name in sorted(os.listdir(os.path.join(GRAFANA, "dashboards")))]
    assert {b["uid"] for b in boards} == {"ds01-overview", "ds01-user", "ds01-gpu", "ds01-usage"}
    expressions = {}
    for board in boards:
        for variable in board["templating"]["list"]:
            metric, label = variable["query"]["query"].removeprefix("label_values(").rstrip(")").split(", ")
            values = ask(f"{base}/api/v1/label/{label}/values?{urllib.parse.urlencode({'match[]': metric})}")
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

    # the recording rules and rate() need a few evaluations: the wait is on Prometheus
    wait_until("every recording rule to have a value", lambda: not empty())


PER_USER = ("ds01_user_", 'user="')


def test_a_user_reads_no_ones_usage_from_the_exporter(scenario, users, sh, auth_file):
    """alice, a local account, asks the exporter on its loopback port: without credentials, with wrong ones,
    at other paths and methods; every answer is a 401 that names no user and no figure. The password is
    neither in the file she can list nor in the exporter's command line; root, with it, gets everything."""
    _, port, _ = scenario
    alice = users["alice"]
    secret = ds01_exporter.read_secret(str(auth_file)).decode()
    stolen = sh.run(alice, "cat", str(auth_file))
    assert stolen.returncode != 0 and "Permission denied" in stolen.stderr and secret not in stolen.stdout
    assert auth_file.name in sh.run(alice, "ls", str(auth_file.parent), check=True).stdout
    pids = sh.run(alice, "pgrep", "-f", f"ds01-exporter --listen 127.0.0.1:{port}", check=True).stdout.split()
    for pid in pids:
        cmdline = sh.run(alice, "cat", f"/proc/{pid}/cmdline").stdout
        assert str(auth_file) in cmdline and secret not in cmdline
        assert sh.run(alice, "cat", f"/proc/{pid}/environ").returncode != 0
    own = sh.run(alice, "ds01-exporter", "--listen", "127.0.0.1:0", "--auth-file", "/dev/null")
    assert own.returncode == 5, own.stderr
    base = f"http://127.0.0.1:{port}"
    attempts = [[f"{base}/metrics"], ["-u", "ds01:wrong", f"{base}/metrics"], ["-u", "ds01:", f"{base}/metrics"],
                ["-u", f"{alice.pw_name}:x", f"{base}/metrics"], ["-H", "Authorization: Bearer x", f"{base}/metrics"],
                [f"{base}/"], [f"{base}//metrics"], [f"{base}/metrics?name[]=ds01_user_memory_bytes"],
                [f"{base}/favicon.ico"], ["-X", "POST", f"{base}/metrics"], ["-I", f"{base}/metrics"]]
    for argv in attempts:
        answer = sh.run(alice, "curl", "-s", "-i", "--max-time", "10", *argv)
        status = answer.stdout.splitlines()[0] if answer.stdout else answer.stderr
        assert " 401 " in status, (argv, status)
        assert not any(marker in answer.stdout for marker in PER_USER), (argv, answer.stdout[:300])
    allowed = sh.run(ROOT, "curl", "-s", "-i", "--max-time", "10", "-u", f"ds01:{secret}", f"{base}/metrics")
    assert " 200 " in allowed.stdout.splitlines()[0] and f'user="{alice.pw_name}"' in allowed.stdout


@pytest.mark.parametrize("problem", ["missing", "world-readable", "group-writable", "alice's", "a link", "empty"])
def test_no_root_only_password_no_exporter(user_tmp, users, sh, auth_file, problem):
    """Fail closed: a host without the credentials file, or with one another user could read or replace,
    gets no exporter at all (an error naming the file and how to make it), never one that serves anyone."""
    alice = users["alice"]
    if problem == "missing":
        auth_file.unlink()
    elif problem == "world-readable":
        os.chmod(auth_file, 0o644)
    elif problem == "group-writable":
        os.chmod(auth_file, 0o660)
    elif problem == "alice's":
        os.chown(auth_file, alice.pw_uid, alice.pw_gid)
        os.chmod(auth_file, 0o600)
    elif problem == "a link":
        target = user_tmp / "elsewhere"
        os.rename(auth_file, target)
        os.symlink(target, auth_file)
    else:
        auth_file.write_text("\n")
    port = free_port()
    exporter = start_exporter(sh, port, auth_file)
    _, stderr = exporter.communicate(timeout=60)
    assert exporter.returncode == (4 if problem == "missing" else 1), stderr
    assert stderr.startswith("ds01-exporter: error: ") and str(auth_file) in stderr and "hint: " in stderr, stderr
    refused = sh.run(alice, "curl", "-s", "--max-time", "10", f"http://127.0.0.1:{port}/metrics")
    assert refused.returncode == 7 and refused.stdout == ""  # curl: could not connect


def test_doctor_scrapes_with_the_password_and_warns_without(user_tmp, sh, auth_file):
    """ds01-doctor reads the password from the host's /etc/ds01/exporter.auth (--root) and gets an OK; with no
    readable password the exporter's 401 is a WARN that says why; an exporter that answers anyone (one from
    before issue 29, still running) is a WARN too."""
    port = free_port()
    exporter = start_exporter(sh, port, auth_file)
    try:
        wait_until("the exporter", lambda: _metrics(port, auth_file))
        root = user_tmp / "root"
        (root / "etc").mkdir(parents=True)
        os.symlink(auth_file.parent, root / "etc" / "ds01")
        url = f"http://127.0.0.1:{port}/metrics"

        def exporter_check(where):
            result = sh.run(ROOT, "ds01-doctor", "--json", "--exporter", url, "--root", str(where),
                            extra_env={"DS01_SOCKET": sh.broker().socket})
            return {r["check"]: r for r in map(json.loads, result.stdout.splitlines())}["exporter"]

        assert exporter_check(root)["status"] == "OK"
        bare = user_tmp / "bare"
        bare.mkdir()
        found = exporter_check(bare)
        assert found["status"] == "WARN" and "credentials" in found["message"] and found["hint"], found
    finally:
        exporter.terminate()
        assert exporter.wait(timeout=30) == 0
    body = b"# TYPE ds01_build_info gauge\nds01_build_info{version=\"old\"} 1\n"

    class Open(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Open)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        found = exporter_check(root)
    finally:
        server.shutdown()
        server.server_close()
    assert found["status"] == "WARN" and "without credentials" in found["message"], found


def test_a_user_reads_no_ones_usage_from_prometheus_either(prometheus, users, sh):
    """What Prometheus scraped is the same figures: alice asking Prometheus's API, its federation and its pages
    gets a 401, as docs/monitoring.md has the admin set it up; the admin's credentials get the data."""
    base, _, _, _, ask = prometheus
    alice = users["alice"]
    wanted = urllib.parse.urlencode({"query": "ds01_user_memory_bytes"})
    for path in (f"/api/v1/query?{wanted}", "/federate?match[]=%7B__name__%3D~%22ds01_.%2B%22%7D",
                 "/api/v1/series?match[]=ds01_user_memory_bytes", "/graph", "/metrics"):
        answer = sh.run(alice, "curl", "-s", "-i", "--max-time", "10", f"{base}{path}")
        assert " 401 " in answer.stdout.splitlines()[0], (path, answer.stdout[:200])
        assert "ds01_user" not in answer.stdout and f'"{alice.pw_name}"' not in answer.stdout
    assert ask(f"{base}/api/v1/query?{wanted}")["data"]["result"]
