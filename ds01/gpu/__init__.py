"""GPUs and MIG slices: the inventory (NVML or simulated), who holds what, and the allocator."""

import os


def inventory_source(policy):
    """The simulated inventory file in use ($DS01_GPU_INVENTORY, else the policy's gpu.inventory), or None for NVML."""
    return os.environ.get("DS01_GPU_INVENTORY") or policy.section("gpu").get("inventory") or None


def load_inventory(policy, required=False):
    """The host's GPUs: simulated when configured, else NVML. Without a driver: no GPUs (or an error if `required`)."""
    path = inventory_source(policy)
    if path:
        from . import simulated

        return simulated.load(path)
    from . import nvml
    from .model import Inventory

    try:
        return nvml.load()
    except nvml.NvmlUnavailable:
        if required:
            raise
        return Inventory(gpus=[], source="none")
