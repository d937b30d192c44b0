"""ds01-upgrade: a new build beside the old, `ds01-doctor --strict` run by the new build, then the switch and the
services' restart; on any failure the old build stays (or is put back) in use.

The new build's own installer (`python3 -m ds01.install --tree-only` in its source) makes its
tree, so an upgrade never depends on the old code knowing the new layout. The gate is the new
build's `ds01-doctor --strict` against this host, so a new version that refuses the lab's policy
(or finds anything else wrong) is never switched to. The switch is `current`'s one rename plus the
new build's system files (`--activate`). Those of ds01d and ds01-exporter that systemd ran before are
restarted; if one is not active afterwards, the old build is activated again and they are restarted on it.
"""

import json
import os
import shutil
import subprocess
import sys
from typing import Any

DOCTOR = "import sys; sys.argv[0] = 'ds01-doctor'; from ds01.cli.ds01_doctor import main; main()"
SERVICES = ("ds01d", "ds01-exporter")


def _installer(source: str, python: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-E", "-s", "-m", "ds01.install", *argv], cwd=source, capture_output=True, text=True)


def current(base: str) -> str | None:
    link = os.path.join(base, "current")
    return os.readlink(link) if os.path.islink(link) else None


def gate(tree: str, doctor_args: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """(exit code, records) of the new build's `ds01-doctor --strict --json`."""
    found = subprocess.run([os.path.join(tree, "venv", "bin", "python3"), "-I", "-c", DOCTOR, "--strict", "--json",
                            *doctor_args], capture_output=True, text=True, cwd="/")
    records = []
    for line in found.stdout.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return found.returncode, records


def running() -> list[str]:
    """Which of ds01's services systemd runs now (none where systemd does not run)."""
    if not os.path.isdir("/run/systemd/system"):
        return []
    return [s for s in SERVICES if subprocess.run(["systemctl", "is-active", "--quiet", s]).returncode == 0]


def restart(services: list[str], log: Any) -> bool:
    """Restart `services` (those that ran before the switch); True when every one is active again. A unit
    that failed its start limit is reset first, so a rollback can start the old build."""
    if not services:
        return True
    subprocess.run(["systemctl", "reset-failed", *services], check=False, capture_output=True)
    subprocess.run(["systemctl", "restart", *services], check=False, capture_output=True)
    down = [s for s in services if subprocess.run(["systemctl", "is-active", "--quiet", s]).returncode != 0]
    if down:
        log(f"{', '.join(down)} not active after the restart")
    return not down


def upgrade(source: str, prefix: str = "/opt/ds01", sysconfdir: str = "/etc", destdir: str = "",
            python: str = sys.executable, doctor_args: list[str] | None = None, restart_services: bool = True,
            log: Any = print, install_args: list[str] | None = None) -> dict[str, Any]:
    """The record of one upgrade to the build in `source`: from, to, gate, failed checks, switched."""
    from .install import _place  # lazy: ds01.install, 4 ms

    base = _place(destdir, prefix)
    old = current(base)
    where = ["--prefix", prefix, "--sysconfdir", sysconfdir, "--destdir", destdir, *(install_args or [])]
    record: dict[str, Any] = {"from": old, "to": None, "gate": None, "failed": [], "switched": False,
                              "restarted": False}
    log(f"building the new version from {source} beside {old or 'nothing'} ...")
    built = _installer(source, python, *where, "--python", python, "--tree-only")
    trees = [line[len("tree: "):] for line in built.stdout.splitlines() if line.startswith("tree: ")]
    if built.returncode != 0 or not trees:
        record["error"] = (built.stderr or built.stdout).strip().splitlines()[-1:] or ["the build failed"]
        return record
    tree = trees[-1]
    record["to"] = name = os.path.basename(tree)
    log(f"checking {name} with its ds01-doctor --strict ...")
    code, checks = gate(tree, doctor_args or [])
    record["failed"] = [{"check": r.get("check"), "status": r.get("status"), "message": r.get("message")}
                        for r in checks if r.get("status") != "OK"]
    if code != 0 or not checks:
        record["gate"] = "failed"
        shutil.rmtree(tree, ignore_errors=True)  # never current, and never to be: the old build stays
        return record
    record["gate"] = "passed"
    services = running() if restart_services and not destdir else []
    activated = _installer(os.path.join(tree, "src"), python, *where, "--activate", name)
    if activated.returncode != 0:
        record["error"] = activated.stderr.strip().splitlines()[-1:]
        if old:
            _installer(os.path.join(base, old, "src"), python, *where, "--activate", old)
        return record
    record["switched"] = True
    if services:
        log(f"restarting {', '.join(services)} ...")
        if restart(services, log):
            record["restarted"] = True
        elif old:
            log(f"going back to {old} ...")
            _installer(os.path.join(base, old, "src"), python, *where, "--activate", old)
            record["switched"], record["rolled_back"] = False, True
            record["restarted"] = restart(services, log)
    return record
