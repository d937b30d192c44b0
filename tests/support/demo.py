"""ds01-demo: a scripted walk-through on embedded defaults that leaves nothing behind.

It shows a user's resolved limits and the (simulated) GPUs, the image catalog, builds the
user's own image with image-create (the demo's framework image records what pip and apt-get
would install, as there is no network), creates three containers with GPU or MIG slots (one
from that image, one through `gpu-allocate | container-create`), starts and lists them, runs the lifecycle
jobs on them (an idle check, and a max-runtime dry run 25 hours ahead), stops them with
`container-list | container-stop`, removes them with `container-list -a | container-remove`,
shows the event log, and cleans up. It starts a private Docker engine (root) for the demo only,
with the simulated GPUs; `make demo ENGINE=running` uses the engine that is running instead, with
the host's real GPUs if it has any and never simulated ones.
As root it shows the real model: a private ds01d, and a temporary demo user who has no access
to the Docker engine and works through that ds01d (the jobs run as root, in-process, as cron
runs them). Otherwise it runs the commands in-process as you (you need Docker access).
"""

import os
import pwd
import shutil
import subprocess
import sys
import time

BIN = os.path.dirname(os.path.abspath(sys.executable))
DEMO_USER = "ds01demo"
DEMO_IMAGE = "ds01-demo/base:latest"
DEMO_FRAMEWORK_IMAGE = "ds01-demo/pytorch-stand-in:latest"
DEMO_CONTAINERS = ("demo-a", "demo-b", "demo-c")
SIM_INVENTORY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "etc", "ds01", "gpus.sim.yaml")


CONNECT = """import socket, sys
try:
    socket.socket(socket.AF_UNIX).connect(sys.argv[1])
except PermissionError as exc:
    print("connect", sys.argv[1], "->", exc.strerror)
"""


def say(text):
    sys.stderr.write(f"\n\033[1m== {text}\033[0m\n" if sys.stderr.isatty() else f"\n== {text}\n")
    sys.stderr.flush()


class Demo:
    def __init__(self):
        from ds01.dockerapi import DockerAPI
        from ds01.errors import Ds01Error
        from tests.support import sandbox

        self.sandbox = sandbox
        self.daemon = None
        self.broker = None
        self.made_user = False
        self.imported = False
        self.engine = os.environ.get("DS01_DEMO_ENGINE") or "private"
        if self.engine not in ("private", "running"):
            sys.exit(f"ds01-demo: error: ENGINE={self.engine}: say private (the default) or running")
        if self.engine == "running":
            host = os.environ.get("DOCKER_HOST")
            try:
                DockerAPI(host, timeout=5).ping()
            except Ds01Error as exc:
                sys.exit(f"ds01-demo: error: ENGINE=running, but {exc.message}\n"
                         "  hint: `make demo` alone starts a private engine of its own")
            self.host = host or "unix:///var/run/docker.sock"
            say(f"using the running Docker engine at {self.host} (ENGINE=running): its real GPUs, if any, "
                "and never simulated ones")
        else:
            reason = sandbox.unavailable_reason()
            if reason:
                sys.exit(f"ds01-demo: error: a private Docker engine cannot start: {reason}\n"
                         "  hint: run `make demo` as root (it installs docker.io and debootstrap), or "
                         "`make demo ENGINE=running` to use the engine that is running")
            say("starting a private Docker engine for this demo (ENGINE=running would use the one that runs)")
            self.daemon = sandbox.Dockerd.start()
            self.host = self.daemon.host

    def setup(self):
        say(f"loading a tiny Debian base image as {DEMO_IMAGE}")
        self.imported = self.sandbox.ensure_base_image(self.host, DEMO_IMAGE,
                                                       progress=lambda m: sys.stderr.write(m + "\n"))
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(DEMO_USER)
            except KeyError:
                self.made_user = True
            self.user = self.sandbox.ensure_user(DEMO_USER)  # in no group that can reach an engine
            say(f"running as the demo user {DEMO_USER} (uid {self.user.pw_uid}), who has no Docker access")
        else:
            self.user = pwd.getpwuid(os.getuid())
        import tempfile

        # No GPU here: the example inventory (4x A100, two of them split into MIG slices) stands in for NVML,
        # and claims/queue live in a state dir of the demo's own.
        self.state = tempfile.mkdtemp(prefix="ds01-demo-state-")
        os.chmod(self.state, 0o755)  # noqa: S103 - root's, as /var/lib/ds01 is; users go through ds01d
        say(f"building {DEMO_FRAMEWORK_IMAGE}: the base plus stand-ins for pip and apt-get (no network here)")
        self.framework_imported = self.sandbox.ensure_ml_base_image(self.host, DEMO_FRAMEWORK_IMAGE, DEMO_IMAGE)
        catalog = os.path.join(self.state, "ml_images.repo")
        with open(catalog, "w", encoding="utf-8") as handle:
            handle.write(f"Pytorch, 2.7.1, [CUDA_AMPERE;CUDA_ADA], {DEMO_FRAMEWORK_IMAGE.rsplit(':', 1)[0]}\n")
        policy = os.path.join(self.state, "resource-limits.yaml")
        with open(policy, "w", encoding="utf-8") as handle:  # embedded defaults, plus the demo's catalog and image
            handle.write(f"aime:\n  catalog: {catalog}\nimages:\n  allowed: [ds01-demo/*]\n")
        os.chmod(catalog, 0o644)
        os.chmod(policy, 0o644)
        logs = os.path.join(self.state, "log")  # the event log, here instead of /var/log/ds01
        os.mkdir(logs, 0o755)
        settings = {"DOCKER_HOST": self.host, "DS01_STATE_DIR": self.state, "DS01_CONFIG": policy,
                    "DS01_LOG_DIR": logs}
        if self.daemon is not None:  # simulated GPUs only on the private engine, whose hook is the sandbox's fake
            settings["DS01_GPU_INVENTORY"] = os.environ.get("DS01_GPU_INVENTORY") or SIM_INVENTORY
            self.gpus = True
        else:
            from ds01.gpu import load_inventory

            self.gpus = bool(load_inventory(None).slots())
            if not self.gpus:
                say("the running engine's host has no GPUs (NVML): the demo's containers are CPU-only")
        base = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        self.root_env = dict(base, **settings)
        if os.geteuid() == 0:
            from tests.support import brokers

            say("starting a private ds01d with these settings (systemd starts /opt/ds01/current/libexec/ds01/ds01d)")
            self.broker = brokers.Broker(settings).start()
            self.env = self.sandbox.user_env(self.user, dict(base, DS01_SOCKET=self.broker.socket))
        else:
            self.env = self.sandbox.user_env(self.user, self.root_env)

    def cmd(self, *argv, as_root=False):
        full = [os.path.join(BIN, argv[0]) if os.path.exists(os.path.join(BIN, argv[0])) else argv[0], *argv[1:]]
        return self.sandbox.as_user_command(self.user, full) if os.geteuid() == 0 and not as_root else full

    def run(self, *argv, check=True, extra_env=None, as_root=False, shown=None):
        prefix = " ".join(f"{k}={v}" for k, v in (extra_env or {}).items())
        sys.stderr.write(f"$ {prefix + ' ' if prefix else ''}{shown or ' '.join(argv)}\n")
        sys.stderr.flush()
        env = dict(self.root_env if as_root else self.env, **(extra_env or {}))
        result = subprocess.run(self.cmd(*argv, as_root=as_root), env=env, cwd="/", stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise SystemExit(f"ds01-demo: error: {' '.join(argv)} exited {result.returncode}")
        return result

    def pipe(self, left, right):
        sys.stderr.write(f"$ {' '.join(left)} | {' '.join(right)}\n")
        sys.stderr.flush()
        producer = subprocess.Popen(self.cmd(*left), env=self.env, stdout=subprocess.PIPE, cwd="/",
                                    stdin=subprocess.DEVNULL)
        consumer = subprocess.run(self.cmd(*right), env=self.env, stdin=producer.stdout, cwd="/")
        producer.stdout.close()
        if producer.wait() != 0 or consumer.returncode != 0:
            raise SystemExit(f"ds01-demo: error: the pipeline {left[0]} | {right[0]} failed")

    def walk(self):
        if self.broker is not None:
            socket_path = self.host[len("unix://"):] if self.host.startswith("unix://") else None
            if socket_path:
                say("0. the demo user cannot speak to Docker itself; every ds01 command goes through ds01d")
                self.run("python3", "-c", CONNECT, socket_path, shown=f"python3 -c 'connect to {socket_path}'")
        say("1. the limits that apply to this user (embedded defaults; /etc/ds01/resource-limits.yaml overrides them)")
        self.run("resource-limits", "--table")
        self.run("resource-limits", "--docker-args")
        say("2. the GPUs (simulated: 4x A100; GPU 2 is 7x 1g.5gb MIG, GPU 3 is 2x 3g.20gb) and who holds them")
        self.run("gpu-status", "--table")
        say("3. the image catalog for this host's GPUs, and the user's own image built FROM it")
        self.run("image-catalog", "--table")
        self.run("image-create", "demo-a", "-f", "pytorch", "-t", "cv", "--no-jupyter", "-p", "wandb einops",
                 "--table")
        say("   an offline lab's way: a local base the policy allows, nothing the user did not ask for, no network")
        self.run("image-create", "demo-local", "-f", "custom", "--base-image", DEMO_IMAGE, "--table")
        self.run("image-list", "--table")
        say("4. create containers (created, not started): demo-a from the user's image (the account is baked in),\n"
            "   the others set the account up inside the base; GPU slots allocated")
        if self.gpus:
            self.run("container-create", "demo-a", "--table")
            self.run("container-create", "demo-b", DEMO_IMAGE, "--gpu-profile", "3g.20gb", "--table")
            self.pipe(["gpu-allocate"], ["container-create", "demo-c", DEMO_IMAGE, "--table"])
        else:
            for name, image in (("demo-a", None), ("demo-b", DEMO_IMAGE), ("demo-c", DEMO_IMAGE)):
                self.run("container-create", name, *([image] if image else []), "--cpu-only", "--table")
        self.run("gpu-user-status", "--table")
        self.run("gpu-status", "--table")
        say("5. start them")
        self.run("container-start", "demo-a", "demo-b", "demo-c", "--table")
        say("6. list them (a table on a terminal, NDJSON records when piped)")
        self.run("container-list", "--table")
        self.run("container-list", "--json")
        say("   what each container may do: its uid, no capabilities, no way to gain privileges, no sudo, and mounts")
        self.run("container-list", "--detailed", "--table")
        say("   a command in a container (container-run starts it if needed; NAME -- COMMAND runs one command)")
        self.run("container-run", "demo-a", "--", "sh", "-c", "id; nproc; ls -d /workspace")
        say("   your limits next to what you use now, and the one-screen view (--once: draw once and exit)")
        self.run("check-limits", "--table")
        self.run("dashboard", "--once", extra_env={"COLUMNS": "100"})
        say("   refusals say why and what to do instead: more GPUs than the policy gives; another user's containers")
        self.run("container-create", "demo-big", DEMO_IMAGE, "--num-gpus", "8", check=False)
        self.run("container-list", "--all-users", check=False)
        say("7. the lifecycle jobs cron runs (as root): an idle check now (it acts only after 3 idle checks and\n"
            "   30 minutes), and what max-runtime would do 25 hours from now (a dry run changes nothing)")
        if os.geteuid() == 0:
            self.run("ds01-idle-check", "--table", as_root=True)
            later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 25 * 3600))
            self.run("ds01-max-runtime", "--dry-run", "--table", extra_env={"DS01_NOW": later}, as_root=True)
        else:
            sys.stderr.write("(skipped: the jobs act on every user's containers and run as root)\n")
        say("8. stop them through a pipe")
        self.pipe(["container-list"], ["container-stop", "--table"])
        say("9. remove them through a pipe (workspaces are kept; image tags go; their GPU slots are free again)")
        self.pipe(["container-list", "-a"], ["container-remove", "--table"])
        self.run("container-list", "-a", "--table")
        self.run("gpu-status", "--table")
        say("10. delete the image (its Dockerfile stays unless --delete-dockerfile)")
        self.run("image-delete", "demo-a", "demo-local", "--delete-dockerfile", "--table")
        say("11. the event log: everything the demo changed, as ds01-events shows it")
        self.run("ds01-events", "--table")

    def cleanup(self):
        say("cleaning up")
        if getattr(self, "user", None) is not None:
            for name in DEMO_CONTAINERS:
                subprocess.run(self.cmd("container-remove", "--force", name), env=self.env, cwd="/",
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(self.cmd("image-delete", "--force", "--delete-dockerfile", "demo-a", "demo-local"),
                           env=self.env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not self.made_user:
                for name in DEMO_CONTAINERS:
                    path = os.path.join(self.user.pw_dir, "workspace", name)
                    if os.path.isdir(path) and not os.listdir(path):
                        os.rmdir(path)
        if not self.daemon:
            import docker

            client = docker.DockerClient(base_url=self.host)
            if getattr(self, "framework_imported", False):
                client.images.remove(DEMO_FRAMEWORK_IMAGE)
            if self.imported:
                client.images.remove(DEMO_IMAGE)
        if self.broker is not None:
            self.broker.stop()
        if getattr(self, "state", None):
            shutil.rmtree(self.state, ignore_errors=True)
        if self.made_user:
            self.sandbox.remove_user(DEMO_USER)
        if self.daemon:
            self.daemon.stop()
        sys.stderr.write("done: no containers, images, users, groups, broker or engine left behind\n")


def main():
    if not shutil.which("setpriv") and os.geteuid() == 0:
        sys.exit("ds01-demo: error: setpriv (util-linux) is needed to run as the demo user")
    demo = Demo()
    try:
        demo.setup()
        demo.walk()
    finally:
        demo.cleanup()


if __name__ == "__main__":
    main()
