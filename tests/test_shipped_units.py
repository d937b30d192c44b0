"""The systemd units ds01 ships, read as systemd reads them."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ETC = Path(__file__).resolve().parent.parent / "etc" / "systemd"
# Each of these gives a service a mount namespace of its own (systemd.exec(5)).
MOUNT_NAMESPACING = ("ProtectSystem", "ProtectHome", "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths",
                     "PrivateTmp", "PrivateDevices", "PrivateMounts", "ProtectKernelTunables", "ProtectKernelModules",
                     "ProtectKernelLogs", "ProtectProc", "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths",
                     "MountFlags", "RootDirectory", "MountAPIVFS")


def service(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ETC / name)
    return parser["Service"]


def test_ds01d_shares_the_hosts_mount_namespace_so_dockerd_sees_its_bind_points():
    """ds01d bind-mounts each container's directories for dockerd at every start (ds01.mount_pins): in a mount
    namespace of its own those mounts would be invisible to dockerd and every start would find nothing there."""
    options = service("ds01d.service")
    assert [key for key in options if key in MOUNT_NAMESPACING] == []
    assert options["ExecStart"].endswith("/ds01d")


@pytest.mark.parametrize("unit", ["ds01d.service", "ds01-exporter.service"])
def test_the_shipped_units_verify(unit):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(ETC / unit)],
                            capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines()
                if unit in line and "Command /opt/ds01" not in line and "is not executable" not in line]
    assert problems == [], result.stderr
