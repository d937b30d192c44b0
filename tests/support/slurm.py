"""A real multi-node Slurm on this machine for the tests: private daemons on free loopback ports.

munged (own key and socket), mariadbd (own datadir, --no-defaults), slurmdbd, slurmctld and one slurmd per
node (`slurmd -N n1`, own Port=), each node with fake GPUs made with mknod. Everything lives in one temp dir
this run marks as its own (services.owned_dir); SLURM_CONF points every Slurm command at its config there,
so the host's own Slurm, MariaDB and munge (if any) are never read or touched. Slurm's side of the policy
(nodes, GRES, QOS, accounts) comes from ds01-slurm-generate, Included from this fixture's own admin part.

The order is Slurm's: database, slurmdbd, `sacctmgr add cluster`, slurmctld, the slurmds, and only then the
QOS (their gres TRES exist once slurmctld has registered AccountingStorageTRES). Readiness is asked for
(munge, mariadb-admin ping, sacctmgr, scontrol ping, sinfo) with bounded waits, never slept for.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.support.polling import wait_until
from tests.support.services import claim_abandoned, owned_dir

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
PREFIX = "ds01-slurm-"
PACKAGES = ["slurm-wlm", "slurmdbd", "mariadb-server", "munge", "slurm-client"]
TOOLS = ["munged", "munge", "mariadbd", "mariadb-install-db", "mariadb-admin", "mariadb", "slurmdbd", "slurmctld",
         "slurmd", "sacctmgr", "scontrol", "sinfo", "sbatch", "squeue", "sacct"]
CLUSTER = "ds01test"
NODES = ("n1", "n2")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
READY_TIMEOUT = 60.0
DB_PASSWORD = secrets.token_hex(12)
# Each node: two whole A100s and a third A100 split into two 1g.5gb MIG devices.
NODE_INVENTORY = """\
driver: "550.54.15"
gpus:
  - {index: 0, uuid: GPU-%(n)s-0000, name: NVIDIA A100-SXM4-40GB, memory_total: 40g, mig_mode: false}
  - {index: 1, uuid: GPU-%(n)s-0001, name: NVIDIA A100-SXM4-40GB, memory_total: 40g, mig_mode: false}
  - index: 2
    uuid: GPU-%(n)s-0002
    name: NVIDIA A100-SXM4-40GB
    memory_total: 40g
    mig_mode: true
    mig_slices: 7
    mig_devices:
      - {index: 0, uuid: MIG-%(n)s-0200, gpu_instance_id: 7, compute_instance_id: 0, profile: 1g.5gb}
      - {index: 1, uuid: MIG-%(n)s-0201, gpu_instance_id: 8, compute_instance_id: 0, profile: 1g.5gb}
"""


def missing_tools():
    return [t for t in TOOLS if not shutil.which(t, path=PATH)]


def unavailable_reason():
    """Why this machine cannot run the private Slurm, or None. Root installs the packages when missing
    (as `make system-deps` does), as a fallback for a run without it."""
    if os.geteuid() != 0:
        return "the private Slurm needs root"
    if missing_tools() and shutil.which("apt-get"):
        env = {"PATH": PATH, "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], env=env,
                       capture_output=True, timeout=600, check=False)
    missing = missing_tools()
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install {' '.join(PACKAGES)})"
    return None


def free_ports(count):
    """Loopback ports free now (all held open together, so they differ)."""
    held = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [s.getsockname()[1] for s in held]
    finally:
        for sock in held:
            sock.close()


def processes_under(root):
    """(pid, argv0) of every process whose command line or environment names `root`: this fixture's
    daemons, found by their private dir and never by name, so the host's own are never included."""
    marker = str(root).encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read()
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if marker + b"/" in argv or marker + b"/" in environ:
            found.append((int(pid), argv.split(b"\0")[0].decode(errors="replace")))
    return found


def kill_under(root):
    for pid, _ in processes_under(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def reap_stale(parent=None):
    """The daemons and dirs (`parent`/ds01-slurm-*) a dead run left: those whose owner lock no live run holds."""
    parent = Path(parent or tempfile.gettempdir())
    for root in parent.glob(PREFIX + "*"):
        lock = claim_abandoned(root)
        if lock is None:
            continue
        try:
            kill_under(root)
            wait_until(f"the daemons of {root} to exit", lambda r=root: not processes_under(r), timeout=10)
            shutil.rmtree(root, ignore_errors=True)
        finally:
            os.close(lock)


class Slurm:
    """One private Slurm: its dir, ports, daemons (each in its own session) and the environment that reaches it."""

    def __init__(self, parent=None, nodes=NODES):
        """`nodes`: the node names (a slurmd each; bench/cluster.py asks for ten)."""
        self.nodes = tuple(nodes)
        root, self.owner_lock = owned_dir(PREFIX, parent)
        self.root = Path(root)
        os.chmod(self.root, 0o755)  # users read slurm.conf and reach the munge socket
        for sub in ("etc", "log", "run", "state", "munge", "dev", "policy"):
            (self.root / sub).mkdir()
        self.daemons = {}  # name -> Popen
        (self.ctld_port, self.dbd_port, self.db_port, *node_ports) = free_ports(3 + len(self.nodes))
        self.node_ports = dict(zip(self.nodes, node_ports))
        self.etc = self.root / "etc"
        self.slurm_conf = self.etc / "slurm.conf"
        self.generated = self.etc / "ds01"
        self.policy_file = self.root / "policy" / "resource-limits.yaml"
        self.munge_socket = self.root / "munge" / "munge.sock"
        self.started_in = None

    # --- the environment every Slurm command of this cluster runs with
    def env(self, extra=None):
        return {"PATH": PATH, "LANG": "C.UTF-8", "SLURM_CONF": str(self.slurm_conf), **(extra or {})}

    def run(self, argv, check=True, timeout=60, env=None):
        result = subprocess.run(argv, env=self.env(env), capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, cwd="/")
        if check and result.returncode != 0:
            raise RuntimeError(f"{argv} exited {result.returncode}: {result.stderr}{result.stdout}")
        return result

    def spawn(self, name, argv, env=None):
        """Start a daemon in the foreground of its own session (the teardown signals its whole group)."""
        log = open(self.root / "log" / f"{name}.out", "ab")  # noqa: SIM115 - the daemon keeps it
        with log:
            self.daemons[name] = subprocess.Popen(argv, env=self.env(env), stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=log, start_new_session=True, cwd=str(self.root))
        return self.daemons[name]

    def log_tail(self, name, lines=20):
        texts = []
        for path in sorted((self.root / "log").glob(f"{name}*")):
            texts.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(texts)

    def alive(self, name):
        process = self.daemons.get(name)
        if process is None or process.poll() is not None:
            raise RuntimeError(f"{name} exited\n{self.log_tail(name)}")
        return True

    # --- the daemons, in Slurm's order
    def start_munge(self):
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        os.chmod(key, 0o400)
        os.chmod(self.root / "munge", 0o755)
        self.spawn("munged", ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                              f"--key-file={key}", f"--pid-file={self.root}/run/munged.pid",
                              f"--seed-file={self.root}/munge/seed", f"--log-file={self.root}/log/munged.log"])
        wait_until("munged", lambda: self.alive("munged") and self.run(
            ["munge", "-n", "-S", str(self.munge_socket)], check=False).returncode == 0,
            log=lambda: self.log_tail("munged"))

    def start_mariadb(self):
        data = self.root / "mysql"
        self.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                  "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=120)
        sock = self.root / "run" / "mysql.sock"
        self.spawn("mariadbd", ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}",
                                f"--port={self.db_port}", "--bind-address=127.0.0.1", "--user=root",
                                f"--pid-file={self.root}/run/mariadbd.pid", f"--log-error={self.root}/log/mariadbd.log",
                                "--skip-log-bin", "--innodb-buffer-pool-size=32M"])
        wait_until("mariadbd", lambda: self.alive("mariadbd") and self.run(
            ["mariadb-admin", "--no-defaults", f"--socket={sock}", "ping"], check=False).returncode == 0,
            log=lambda: self.log_tail("mariadbd"))
        self.run(["mariadb", "--no-defaults", f"--socket={sock}", "-e",
                  f"create user 'slurm'@'127.0.0.1' identified by '{DB_PASSWORD}'; "
                  "grant all on slurm_acct_db.* to 'slurm'@'127.0.0.1'"])

    def write_config(self, users):
        """The admin's part (hosts, ports, munge, paths: all private), Including ds01's generated fragment; the
        policy and node inventories ds01-slurm-generate reads; the fake GPU device files."""
        for node in self.nodes:
            (self.root / "policy" / f"{node}.yaml").write_text(NODE_INVENTORY % {"n": node})
        nodes = "".join(f"    {n}: {{inventory: {n}.yaml, address: 127.0.0.1, port: {self.node_ports[n]}, cpus: 16, "
                        f"real_memory: 8g, device_dir: {self.root}/dev/{n}}}\n" for n in self.nodes)
        self.policy_file.write_text(textwrap.dedent(f"""\
            defaults: {{max_gpu_equivalents: 1, max_gpu_slots_per_container: 2, max_runtime_h: 24}}
            default_group: student
            groups:
              student: {{description: Students, members: [{users['alice'].pw_name}]}}
              researcher: {{max_gpu_equivalents: 2, priority: 20, max_runtime_h: 48,
                           members: [{users['bob'].pw_name}]}}
              admin: {{max_gpu_equivalents: null, max_gpu_slots_per_container: null, priority: 100,
                      members: [{users['admin'].pw_name}]}}
            cluster:
              partition: gpu
              epilog: {REPO}/etc/slurm/ds01-epilog
              output_dir: {self.generated}
              nodes:
            """) + nodes)
        conf = textwrap.dedent(f"""\
            # the admin's part of this test cluster's slurm.conf; ds01's part is Included at the end
            ClusterName={CLUSTER}
            SlurmctldHost=localhost(127.0.0.1)
            SlurmctldPort={self.ctld_port}
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={self.munge_socket}
            StateSaveLocation={self.root}/state/ctld
            SlurmdSpoolDir={self.root}/state/d-%n
            SlurmctldPidFile={self.root}/run/slurmctld.pid
            SlurmdPidFile={self.root}/run/slurmd-%n.pid
            SlurmctldLogFile={self.root}/log/slurmctld.log
            SlurmdLogFile={self.root}/log/slurmd-%n.log
            SlurmdParameters=config_overrides
            ReturnToService=2
            MpiDefault=none
            SchedulerType=sched/backfill
            # fair share: usage is folded in, and factors recomputed, every minute (Slurm's least; default 5)
            PriorityCalcPeriod=1
            JobAcctGatherType=jobacct_gather/cgroup
            AccountingStorageType=accounting_storage/slurmdbd
            AccountingStorageHost=127.0.0.1
            AccountingStoragePort={self.dbd_port}
            # slurmdbd connections authenticate through this munge socket (else Slurm's default /run/munge's)
            AccountingStoragePass={self.munge_socket}
            Include {self.generated}/slurm-ds01.conf
            """)
        self.slurm_conf.write_text(conf)
        dbd = self.etc / "slurmdbd.conf"
        dbd.write_text(textwrap.dedent(f"""\
            AuthType=auth/munge
            AuthInfo=socket={self.munge_socket}
            DbdHost=localhost
            DbdAddr=127.0.0.1
            DbdPort={self.dbd_port}
            SlurmUser=root
            LogFile={self.root}/log/slurmdbd.log
            PidFile={self.root}/run/slurmdbd.pid
            StorageType=accounting_storage/mysql
            StorageHost=127.0.0.1
            StoragePort={self.db_port}
            StorageUser=slurm
            StoragePass={DB_PASSWORD}
            StorageLoc=slurm_acct_db
            """))
        os.chmod(dbd, 0o600)  # slurmdbd refuses a readable one (it holds the password)
        self.generate()
        for name in ("gres.conf", "cgroup.conf"):  # slurmd reads them beside slurm.conf
            (self.etc / name).symlink_to(self.generated / name)
        self.make_devices()

    def generate(self, *args):
        """ds01-slurm-generate against this cluster (as root, as an admin runs it)."""
        return self.run([str(BIN / "ds01-slurm-generate"), "--config", str(self.policy_file), *args], check=False,
                        env={"DS01_CONFIG": str(self.policy_file)})

    def make_devices(self):
        """Character devices for every file gres.conf names (nvidiaN: 195,N; nvidia-capN: 237,N)."""
        for line in (self.generated / "gres.conf").read_text().splitlines():
            for word in line.split("#", 1)[0].split():
                if word.startswith(("File=", "MultipleFiles=")):
                    for path in word.split("=", 1)[1].split(","):
                        device = Path(path)
                        if device.exists():
                            continue
                        device.parent.mkdir(parents=True, exist_ok=True)
                        name = device.name
                        major, minor = (237, int(name[len("nvidia-cap"):])) if name.startswith("nvidia-cap") \
                            else (195, int(name[len("nvidia"):]))
                        os.mknod(device, 0o666 | 0o020000, os.makedev(major, minor))

    def start_slurmdbd(self):
        self.spawn("slurmdbd", ["slurmdbd", "-D"])
        wait_until("slurmdbd", lambda: self.alive("slurmdbd") and self.run(
            ["sacctmgr", "-nP", "show", "cluster"], check=False, timeout=10).returncode == 0,
            log=lambda: self.log_tail("slurmdbd"))
        self.run(["sacctmgr", "-i", "add", "cluster", CLUSTER])

    def start_slurmctld(self):
        self.spawn("slurmctld", ["slurmctld", "-D", "-i"])
        wait_until("slurmctld", lambda: self.alive("slurmctld") and "is UP" in self.run(
            ["scontrol", "ping"], check=False, timeout=10).stdout, log=lambda: self.log_tail("slurmctld"))

    def node_states(self):
        result = self.run(["sinfo", "-h", "-N", "-o", "%N|%t|%G"], check=False, timeout=10)
        return {line.split("|")[0]: line.split("|")[1:] for line in result.stdout.splitlines() if "|" in line}

    def start_slurmds(self):
        for node in self.nodes:
            self.spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node])
        wait_until("the slurmds to be idle",
                   lambda: all(self.alive(f"slurmd-{n}") for n in self.nodes)
                   and all((self.node_states().get(n) or [""])[0] == "idle" for n in self.nodes),
                   log=lambda: self.log_tail("slurmd") + "\n" + self.log_tail("slurmctld"))

    def apply_accounts(self, users):
        result = self.generate("--apply", "--json")
        if result.returncode != 0:
            raise RuntimeError(f"ds01-slurm-generate --apply failed: {result.stderr}")
        # bob is also a student in Slurm (an association an admin may add by hand; ds01 leaves it alone): two users
        # of one QOS, whom fair share orders (tests/test_cluster_usage_fairshare.py)
        self.run(["sacctmgr", "-i", "add", "user", users["bob"].pw_name, "Account=student", "QOS=student"])

    def start(self, users):
        began = time.monotonic()
        try:
            self.start_munge()
            self.start_mariadb()
            self.write_config(users)
            self.start_slurmdbd()
            self.start_slurmctld()
            self.start_slurmds()
            self.apply_accounts(users)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    # --- jobs, as a user
    def as_user(self, entry, argv, check=True, timeout=60):
        """`argv` (sbatch, squeue …) as the account `entry`, with only this cluster's SLURM_CONF."""
        from tests.support.sandbox import as_user_command

        env = {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name}
        return self.run(as_user_command(entry, argv), check=check, timeout=timeout, env=env)

    def job(self, job_id):
        """`scontrol show job` as a dict (Key=Value words)."""
        text = self.run(["scontrol", "-o", "show", "job", str(job_id)]).stdout
        return dict(word.split("=", 1) for word in text.split() if "=" in word)

    def stop(self):
        """SIGTERM every daemon's group (newest first), SIGKILL what stays; then nothing of ours may run."""
        for process in reversed(list(self.daemons.values())):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except OSError:
                    pass
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.daemons.clear()
        kill_under(self.root)  # a job step or a forked child that left its group
        wait_until("this cluster's processes to exit", lambda: not processes_under(self.root), timeout=15)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.owner_lock is not None:
            os.close(self.owner_lock)  # after the dir is gone: no reaper sees it unmarked
            self.owner_lock = None
