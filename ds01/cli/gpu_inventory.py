"""gpu-inventory: the GPUs and MIG devices as the driver (or the simulated inventory) reports them."""

import click

from ..gpu import load_inventory
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  gpu-inventory
  gpu-inventory --json | jq '.mig_devices[].profile'
  DS01_GPU_INVENTORY=/etc/ds01/gpus.sim.yaml gpu-inventory    a simulated server
See also: gpu-status""")
@output_options
@config_option
def cli(json_flag, table_flag, config):
    """One record per GPU: index, uuid, name, memory, utilisation, MIG mode and MIG devices."""
    inventory = load_inventory(Runtime(config, read_only=True).settings.get("gpu_inventory"), required=True)
    out = new_output(json_flag, table_flag, [("index", "GPU"), ("name", "NAME"), ("uuid", "UUID"),
                                             ("mig_mode", "MIG"), ("slots", "SLOTS"), ("source", "SOURCE")])
    for record in inventory.records():
        record["slots"] = [m["profile"] for m in record["mig_devices"]] if record["mig_mode"] else "whole"
        out.emit(record)
    out.close(empty="no GPUs on this host")


def main():
    run(cli)
