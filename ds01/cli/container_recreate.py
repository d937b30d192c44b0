"""container-recreate: make a stopped container again from its own image, same mounts, a new GPU request.

Why: a container whose GPU request cannot be met any more (AIME's `-g all`, a slot someone
else holds now) is otherwise a dead end: removing it the usual way deletes its per-container
image, and container-create alone does not know its image or mounts.
"""

import click

from ..containers import ACTIVE, TABLE_COLUMNS
from ..errors import UsageError
from ..recreate import recreate
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run
from ._gpu import parse_count, request_options


@click.command(epilog="""\b
Examples:
  container-recreate ab1 --num-gpus 1        an AIME `-g all` container, now with one GPU
  container-recreate thesis --gpu-profile 3g.20gb
  container-recreate notes --cpu-only
Only stopped containers; without a GPU option it asks for what it had. The request is
checked first: when it cannot be met, nothing changes. Then the image is kept under a tag of
its own while the container is removed and created again (container-create's limits, account
setup and allocator); your files stay in their directories. If creating fails, the message
names the command that finishes it.
See also: container-create, container-start, gpu-user-status""")
@click.argument("name")
@request_options
@click.option("--cpu-only", is_flag=True, help="No GPU in the new container.")
@output_options
@config_option
def cli(name, num_gpus, gpu_profile, full_gpu, cpu_only, json_flag, table_flag, config):
    """Make stopped container NAME again from its image, with its mounts and the GPU request given."""
    gpus = {"cpu_only": cpu_only, "num_gpus": parse_count(num_gpus), "gpu_profile": gpu_profile,
            "full_gpu": full_gpu}
    rt = Runtime(config)
    rec = rt.finder.find(name)
    if rec["status"] in ACTIVE:
        raise UsageError(f"{rec['name']} is {rec['status']}; only a stopped container is recreated",
                         hint=f"container-stop {rec['name']} first")
    created = recreate(rt, rec, gpus=gpus if any(gpus.values()) else None)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)
    out.emit(created.record)
    out.close()


def main():
    run(cli)


MAN_OUTPUT = "The new container's record, as container-create prints it."
