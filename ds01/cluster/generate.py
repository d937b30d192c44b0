"""ds01-slurm-generate: Slurm's side of the policy, written (default), checked (--check) or applied (--apply)."""

from typing import Any

from ..errors import Ds01Error, UsageError
from ..policy import Policy
from . import accounts, fragments
from .model import DEFAULT_OUTPUT_DIR, cluster_of


class Drift(Ds01Error):
    """--check found generated files missing or edited by hand."""


def slurm_generate(policy: Policy, output_dir: str | None = None, mode: str = "write",
                   host_inventory: str | None = None) -> list[dict[str, Any]]:
    """Records of what was done: one per file (written / unchanged / missing / differs / ok) and, with
    mode="apply", one per sacctmgr command run. mode="check" writes nothing and raises Drift on drift."""
    cluster = cluster_of(policy, host_inventory)
    if not cluster.nodes:
        raise UsageError(f"{policy.path} has no cluster nodes",
                         hint="add `cluster: {nodes: {NAME: {inventory: …}}}` to the policy (docs/cluster.md)")
    directory = output_dir or policy.section("cluster").get("output_dir") or DEFAULT_OUTPUT_DIR
    files = fragments.render(cluster)
    if mode == "check":
        drifted = fragments.drift(directory, files)
        if drifted:
            names = ", ".join(f"{d['file']} ({d['state']})" for d in drifted)
            raise Drift(f"generated Slurm files drifted: {names}",
                        hint="ds01-slurm-generate writes them again from the policy")
        return [{"file": f"{directory}/{name}", "state": "ok"} for name in files]
    records = fragments.write(directory, files)
    if mode == "apply":
        ran = accounts.apply(cluster)
        records += [{"file": None, "state": "applied", **r} for r in ran]
        if not ran:
            records.append({"file": None, "state": "unchanged", "sacctmgr": "nothing changed"})
    return records
