"""A GPU lab for one test: a policy over the simulated inventory, its own state dir, and a Shell using both."""

import json
import os
import textwrap
from pathlib import Path

from tests.support.harness import Shell, shared_log_dir

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "ds01" / "gpus.sim.yaml"


def slot_uuids():
    from ds01.gpu import simulated

    return {s.id: s.uuid for s in simulated.load(str(EXAMPLE)).slots()}


# The head of the labs' policies: the sandbox's own images, and containers small enough for a test machine.
SMALL_CONTAINERS = """\
images: {allowed: ["ds01-test/*"]}  # the sandbox's own images
defaults:
  max_cpus: 1
  memory: 256m
  memory_swap: 256m
"""


def whole_gpus(uuids, name, memory):
    """A simulated inventory's text: one whole GPU of model `name` per uuid, indexed in order."""
    return "gpus:\n" + "".join(f"  - {{index: {i}, uuid: {u}, name: {name}, memory_total: {memory}}}\n"
                               for i, u in enumerate(uuids))


def lab_shell(directory, dockerd, inventory, admin, policy):
    """A Shell over `policy` (text) with `admin` its admin and the simulated `inventory` (text) its GPUs, and a state
    dir of its own: a lab for a test module whose GPUs and limits differ from GpuLab's."""
    state = directory / "state"
    state.mkdir()
    os.chmod(state, 0o755)
    gpus, limits = directory / "gpus.yaml", directory / "resource-limits.yaml"
    gpus.write_text(inventory)
    limits.write_text(policy + f"access_control:\n  admin_users: [{admin.pw_name}]\ngpu: {{inventory: {gpus}}}\n")
    for path in (gpus, limits):
        os.chmod(path, 0o644)
    return Shell(dockerd, limits, shared_log_dir(directory / "logs"), {"DS01_STATE_DIR": str(state)})


class GpuLab:
    """A policy + state dir for one test, and a Shell that uses them."""

    def __init__(self, directory, users, dockerd, extra=""):
        self.directory = directory
        self.state = directory / "state"
        self.state.mkdir()
        os.chmod(self.state, 0o755)
        self.policy = directory / "resource-limits.yaml"
        self.users = users
        self.dockerd = dockerd
        self.write(extra)
        self.logs = shared_log_dir(directory / "logs")
        self.sh = Shell(dockerd, self.policy, self.logs, {"DS01_STATE_DIR": str(self.state)})

    def write(self, extra=""):
        u = self.users
        self.policy.write_text(SMALL_CONTAINERS + textwrap.dedent(f"""\
              shm_size: 64m
              pids_limit: 256
              max_containers_per_user: 3
              max_gpu_equivalents: 2.0
              max_gpu_slots_per_container: 2
            default_group: student
            groups:
              student:
                members: [{u['alice'].pw_name}]
              miguser:
                allow_full_gpu: false
                members: [{u['bob'].pw_name}]
              admin:
                max_gpu_equivalents: null
                max_gpu_slots_per_container: null
                members: [{u['admin'].pw_name}]
            gpu: {{inventory: {EXAMPLE}}}
            gpu_allocation: {{wait_poll_s: 0.1, lock_timeout_s: 120}}
            access_control:
              admin_users: [{u['admin'].pw_name}]
            """) + textwrap.dedent(extra))
        os.chmod(self.policy, 0o644)

    def claims(self):
        path = self.state / "gpu-claims.json"
        return json.loads(path.read_text() or "{}") if path.exists() else {}
