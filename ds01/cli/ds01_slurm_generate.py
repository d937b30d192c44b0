"""ds01-slurm-generate: Slurm's config fragments and QOS from ds01's policy (root, on the head node)."""

import click

from ..cluster.generate import slurm_generate
from ..errors import PermissionDenied, UsageError
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

COLUMNS = [("state", "STATE"), ("file", "FILE"), ("sacctmgr", "SACCTMGR")]


@click.command(epilog="""\b
Examples:
  ds01-slurm-generate                  write the files into /etc/slurm/ds01
  ds01-slurm-generate --check          exit 1 naming each file that is missing or was edited
  ds01-slurm-generate --apply          write them, then make QOS, accounts and users match
  ds01-slurm-generate --output-dir D   write them elsewhere
From the policy's groups and its `cluster:` section (nodes and their GPU inventories) it
writes slurm-ds01.conf (Include it from your slurm.conf: nodes, partition, GRES types,
billing weights, priorities, the Epilog), gres.conf, cgroup.conf and sacctmgr.sh. Your
slurm.conf stays yours. --apply runs only the sacctmgr commands that change something.
See also: resource-limits, gpu-inventory""")
@click.option("--check", "check", is_flag=True, help="Report drift (exit 1); write nothing.")
@click.option("--apply", "apply", is_flag=True, help="Also apply the QOS, accounts and associations (sacctmgr).")
@click.option("--output-dir", "output_dir", metavar="DIR", help="Where the files go (default cluster.output_dir, "
                                                                 "else /etc/slurm/ds01).")
@output_options
@config_option
def cli(check, apply, output_dir, json_flag, table_flag, config):
    """Write Slurm's include fragments, gres.conf, cgroup.conf and QOS from the policy."""
    if check and apply:
        raise UsageError("--check and --apply exclude each other", hint="ds01-slurm-generate --check")
    rt = Runtime(config)
    if not rt.root:
        raise PermissionDenied("only root writes Slurm's configuration", hint="sudo ds01-slurm-generate")
    records = slurm_generate(rt.policy, output_dir, "check" if check else "apply" if apply else "write",
                             rt.settings.get("gpu_inventory"))
    out = new_output(json_flag, table_flag, COLUMNS)
    for record in records:
        out.emit(record)
    out.close()


def main():
    run(cli)
