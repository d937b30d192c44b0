"""Whether the Docker engine can start GPU containers at all. dockerd registers its `nvidia` device driver
only when NVIDIA's hook is on its PATH when it starts; without it every GPU request fails at start with
`could not select device driver "nvidia"`. ds01-doctor reports it; container-create and gpu-allocate refuse
GPU requests there instead of handing out slots no container can use."""

import shutil
from dataclasses import dataclass

from .dockerapi import daemon_pid
from .privilege import root_files

HOOK = "nvidia-container-runtime-hook"
TOOLKIT_FIX = "apt-get install nvidia-container-toolkit, then systemctl restart docker"
DEFAULT_PATH = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class GpuEngine:
    """`hook`: where NVIDIA's hook is on the engine's PATH, or None; `unknown`: why the engine's PATH could not
    be read (a remote engine, no answer), None when it was."""

    hook: str | None = None
    pid: int | None = None
    unknown: str | None = None

    @property
    def missing(self) -> bool:
        """Known to have no hook: GPU containers cannot start there."""
        return self.unknown is None and self.hook is None


def gpu_engine(docker_host: str | None) -> GpuEngine:
    """The engine's own PATH (its /proc environ, read as root) searched for NVIDIA's hook; a few ms."""
    pid = daemon_pid(docker_host)
    if pid is None:
        return GpuEngine(unknown="cannot see the engine's process (not a local socket, or no answer)")
    try:
        with root_files(), open(f"/proc/{pid}/environ", "rb") as handle:
            environ = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
    except OSError as exc:
        return GpuEngine(pid=pid, unknown=f"cannot read the engine's environment: {exc.strerror}")
    path = environ.get(b"PATH", DEFAULT_PATH).decode()
    with root_files():
        return GpuEngine(hook=shutil.which(HOOK, path=path), pid=pid)
