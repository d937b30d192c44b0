"""The lifecycle tests' lab: a policy with short, round timers, its own state and log dirs, fake terminals,
simulated GPUs, and the jobs run as root under a fake clock (DS01_NOW). Shared by tests/test_lifecycle.py and
tests/test_lifecycle_aime.py."""

import json
import os
import textwrap

from ds01 import labels as L
from ds01 import notify
from ds01.clock import parse_docker as parse_time
from tests.support import sandbox
from tests.support.gpulab import SMALL_CONTAINERS
from tests.support.harness import Shell
from tests.support.logins import fake_logins

IMAGE = sandbox.BASE_IMAGE
MINUTE = 60

INVENTORY = """\
gpus:
  - {index: 0, uuid: GPU-00000000-0000-4000-8000-000000000000, name: A100, memory_total: 40g, utilization: %(u0)s}
  - {index: 1, uuid: GPU-11111111-1111-4111-8111-111111111111, name: A100, memory_total: 40g}
  - index: 2
    uuid: GPU-22222222-2222-4222-8222-222222222222
    name: A100
    memory_total: 40g
    mig_mode: true
    mig_devices:
      - {index: 0, uuid: MIG-20000000-0000-4000-8000-000000000000, gpu_instance_id: 7, compute_instance_id: 0, profile: 1g.5gb, processes: %(p20)s}
      - {index: 1, uuid: MIG-21000000-0000-4000-8000-000000000000, gpu_instance_id: 8, compute_instance_id: 0, profile: 1g.5gb}
  - {index: 3, uuid: GPU-33333333-3333-4333-8333-333333333333, name: A100, memory_total: 40g}
  - {index: 4, uuid: GPU-44444444-4444-4444-8444-444444444444, name: A100, memory_total: 40g}
"""
UUID = {"0": "GPU-00000000-0000-4000-8000-000000000000", "1": "GPU-11111111-1111-4111-8111-111111111111",
        "2.0": "MIG-20000000-0000-4000-8000-000000000000", "2.1": "MIG-21000000-0000-4000-8000-000000000000",
        "3": "GPU-33333333-3333-4333-8333-333333333333", "4": "GPU-44444444-4444-4444-8444-444444444444"}


class LifeLab:
    """A policy with short, round timers, its own state and log dirs, fake terminals, and jobs run as root."""

    def __init__(self, directory, users, dockerd, client):
        self.directory, self.users, self.client = directory, users, client
        self.state = directory / "state"
        self.logs = directory / "log"
        for path in (self.state, self.logs):
            path.mkdir()
            os.chmod(path, 0o755)
        (self.logs / "events.jsonl").touch()
        os.chmod(self.logs / "events.jsonl", 0o640)
        self.inventory_path = directory / "gpus.yaml"
        self.set_inventory()
        alice, bob = users["alice"], users["bob"]
        self.utmp, self.ttys = fake_logins(directory, [(alice.pw_name, "pts/1", alice.pw_uid, notify.USER_PROCESS)])
        self.policy = directory / "resource-limits.yaml"
        self.policy.write_text(SMALL_CONTAINERS + textwrap.dedent(f"""\
              shm_size: 64m
              max_containers_per_user: 6
              max_gpu_equivalents: 6
              max_gpu_slots_per_container: 2
              idle_timeout_h: 1
              max_runtime_h: 10
              gpu_hold_after_stop_h: 1
              container_hold_after_stop_h: 2
              max_pause_time_h: 1
            default_group: student
            groups:
              student:
                members: [{alice.pw_name}]
              researcher:
                members: [{bob.pw_name}]
            policies:
              idle_detection_window: 2
              grace_period_m: 30
              keepalive_max_duration_h: 2
              sigterm_grace_s: 3
              high_demand_threshold: 1.0
              created_container_timeout_m: 30
            container_types:
              compose: {{max_runtime_h: 1, sigterm_grace_s: 20}}
            gpu: {{inventory: {self.inventory_path}}}
            access_control:
              admin_users: [{users['admin'].pw_name}]
            """))
        (directory / "lifecycle-exemptions.yaml").write_text(textwrap.dedent(f"""\
            exemptions:
              - username: {bob.pw_name}
                exempt_from: [idle_timeout_h]
                reason: thesis deadline
                approved_by: prof
                expires_on: 2099-01-01T00:00:00Z
            """))
        for path in (self.policy, directory / "lifecycle-exemptions.yaml", self.inventory_path):
            os.chmod(path, 0o644)
        self.sh = Shell(dockerd, self.policy, self.logs, {"DS01_STATE_DIR": str(self.state),
                                                          "DS01_UTMP": str(self.utmp), "DS01_TTY_DIR": str(self.ttys)})
        self.root = sandbox.pwd.getpwnam("root")

    def set_inventory(self, u0="null", p20="[]"):
        self.inventory_path.write_text(INVENTORY % {"u0": u0, "p20": p20})
        os.chmod(self.inventory_path, 0o644)

    def job(self, name, at, *args, check=True, timeout=300):
        """Run a job as root (as cron does) at Unix time `at`; its records, or the result when check=False."""
        result = self.sh.run(self.root, name, "--json", *args, extra_env={"DS01_NOW": str(at)}, timeout=timeout)
        if not check:
            return result
        assert result.returncode == 0, result.stderr + result.stdout
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert records[-1]["summary"] is True
        return records

    def decisions(self, name, at, *args):
        return {r["name"]: r for r in self.job(name, at, *args) if not r.get("summary")}

    def events(self, **match):
        lines = (self.logs / "events.jsonl").read_text().splitlines()
        found = [json.loads(line) for line in lines]
        return [e for e in found if all(e.get(k) == v or (e.get("details") or {}).get(k) == v
                                        for k, v in match.items())]

    def workspace(self, entry, name):
        path = self.directory / f"ws-{entry.pw_name}-{name}"
        path.mkdir()
        os.chown(path, entry.pw_uid, entry.pw_gid)
        return path

    def container(self, entry, name, command, slot=None, labels=None, workspace=None, **kwargs):
        """A container another tool (AIME-style, plain docker) made: owner labels, a GPU by device request."""
        import docker

        all_labels = {L.USER: entry.pw_name, L.NAME: name}
        all_labels.update(labels or {})
        requests = [docker.types.DeviceRequest(device_ids=[UUID[slot]], capabilities=[["gpu"]])] if slot else []
        volumes = {str(workspace): {"bind": "/workspace", "mode": "rw"}} if workspace else None
        return self.client.containers.run(IMAGE, command, name=f"{name}._.{entry.pw_uid}", labels=all_labels,
                                          device_requests=requests, user=f"{entry.pw_uid}:{entry.pw_gid}",
                                          volumes=volumes, detach=True, **kwargs)

    def started(self, container):
        container.reload()
        return parse_time(container.attrs["State"]["StartedAt"]).timestamp()
