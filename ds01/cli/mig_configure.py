"""mig-configure: (admins) make each GPU's MIG layout what the policy's gpu.mig_layout says."""

import click

from ..errors import Ds01Error, PermissionDenied, UsageError, worst
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, report, run

COLUMNS = [("gpu", "GPU"), ("action", "ACTION"), ("before", "BEFORE"), ("layout", "LAYOUT"), ("slots", "SLOTS"),
           ("steps", "STEPS")]


@click.command(epilog="""\b
Examples:
  mig-configure --dry-run             what would change on every GPU the layout names
  mig-configure                       make it so
  mig-configure 2                     only GPU 2 (an index or a GPU-… UUID)
  mig-configure -y                    the same as mig-configure (it never asks)
The layout is the policy's, for example:
  gpu:
    mig_layout:
      0: off                          a whole GPU
      1: [3g.20gb, 2g.10gb, 1g.5gb, 1g.5gb]
      all: [3g, 3g]                   every GPU not named (3g: its 3-slice profile)
A GPU with a held, claimed or reserved slot, or a process on it, is left as it is (exit 3).
Where the driver cannot reset a GPU itself, a mode change waits for a reset
(nvidia-smi -r -i N, or a reboot): run mig-configure again after it. Changing a layout
gives its MIG devices new UUIDs; stopped containers that named the old ones are listed
as stranded (container-recreate gives them a GPU again).
See also: gpu-inventory, gpu-status, ds01-doctor""")
@click.argument("gpus", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Show the steps for each GPU; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="(DS01) Accepted; mig-configure never asks.")
@click.option("-p", "--profile", metavar="PROFILE", help="(DS01) Refused: the profiles are the policy's "
                                                         "gpu.mig_layout.")
@click.option("--reset", is_flag=True, help="(DS01) Refused: `all: off` in gpu.mig_layout makes every GPU whole.")
@click.option("--force", is_flag=True, help="(DS01) Refused: a GPU in use is never changed.")
@output_options
@config_option
def cli(gpus, dry_run, yes, profile, reset, force, json_flag, table_flag, config):
    """Apply the policy's MIG layout to GPU... (indices or UUIDs; default: every GPU the layout names)."""
    from ..gpu.mig import Configurator  # lazy: ds01.gpu.mig, 4 ms

    _refuse_ds01_options(profile, reset, force)
    rt = Runtime(config)
    if not rt.admin:
        raise PermissionDenied("only admins change MIG layouts", hint="gpu-inventory shows the GPUs' layouts")
    out = new_output(json_flag, table_flag, COLUMNS)
    codes = []
    for result in Configurator(rt, dry_run).run(gpus):
        if isinstance(result, Ds01Error):
            report(result)
            codes.append(result.code)
            continue
        out.emit(result)
        if result["action"] == "pending-reset":
            report(Ds01Error(f"GPU {result['gpu']}: the MIG mode change waits for a GPU reset",
                             hint=f"nvidia-smi -r -i {result['gpu']} with nothing on the GPU (or reboot), "
                                  "then mig-configure again"))
            codes.append(1)
        else:
            codes.append(0)
        for later in result["later_reservations"]:
            rt.warn(f"GPU {result['gpu']}: {later['user']}'s reservation from {later['start']} names slots "
                    f"{', '.join(later['slots'])}, which the change replaces; update gpu reservations in the policy")
        if result["stranded"]:
            rt.warn(f"GPU {result['gpu']}: stopped containers name devices the change replaces: "
                    f"{', '.join(result['stranded'])}; container-recreate gives them a GPU again")
    out.close()
    return worst(codes)


def _refuse_ds01_options(profile, reset, force):
    """DS01's per-run layout choices: ds01 takes the layout from the policy alone, so a run cannot differ from it."""
    if profile is not None:
        raise UsageError(f"--profile {profile}: the MIG profiles are the policy's gpu.mig_layout, not an option",
                         hint=f"set gpu.mig_layout (e.g. all: [{profile}, ...]) in the policy, then "
                              "mig-configure --dry-run")
    if reset:
        raise UsageError("--reset: the policy's gpu.mig_layout says which GPUs are whole",
                         hint="set gpu.mig_layout: {all: off} in the policy, then mig-configure --dry-run")
    if force:
        raise UsageError("--force: mig-configure never changes a GPU with a held, claimed or reserved slot or a "
                         "process on it",
                         hint="gpu-status shows who holds it; container-stop / gpu-release free it, then "
                              "mig-configure")


def main():
    run(cli)
