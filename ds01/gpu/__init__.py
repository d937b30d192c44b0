"""GPUs and MIG slices: the inventory (NVML or simulated), who holds what, and the allocator."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Inventory


def load_inventory(path: str | None = None, required: bool = False) -> "Inventory":
    """The host's GPUs: simulated from `path` (the gpu_inventory setting) when given, else NVML.
    Without a driver: no GPUs (or an error if `required`)."""
    if path:
        from . import simulated  # lazy: ds01.gpu.simulated, 2 ms

        return simulated.load(path)
    from . import nvml  # lazy: ds01.gpu.nvml, 3 ms
    from .model import Inventory  # lazy: ds01.gpu.model, 2 ms

    try:
        return nvml.load()
    except nvml.NvmlUnavailable:
        if required:
            raise
        return Inventory(gpus=[], source="none")
