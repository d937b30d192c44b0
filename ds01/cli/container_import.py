"""container-import: a container of your own from a container-export file, made as container-create makes one."""

import click

from ..containers import TABLE_COLUMNS
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run
from ._gpu import mount_options, parse_count, request_options


@click.command(epilog="""\b
Examples:
  container-import thesis.ds01-export.tar                 named as it was exported
  container-import thesis.ds01-export.tar thesis2 --cpu-only
  container-import alice-setup.tar mine -w ~/workspace/mine
The file is checked first (SHA256SUMS; a changed file is refused, nothing made). Then
its image is loaded under a name of yours only, and the container is made with your
limits, quota and mounts, as container-create makes it. Nothing in the file is trusted:
the paths it names are never mounted (your ~/workspace/NAME, or -w/-d/-m); its labels
are only data. Without a GPU option it asks for what the exported container had.
See also: container-export, container-create, container-list""")
@click.argument("file")
@click.argument("name", required=False)
@mount_options
@click.option("--cpu-only", is_flag=True, help="No GPU in the new container.")
@request_options
@output_options
@config_option
def cli(file, name, workspace, data, models, cpu_only, num_gpus, gpu_profile, full_gpu, json_flag, table_flag,
        config):
    """Make a container of yours from FILE (written by container-export), named NAME or as exported."""
    from ..create import CreateRequest  # lazy: ds01.create, 9 ms
    from ..transfer import import_container  # lazy: ds01.transfer, 6 ms

    request = CreateRequest(name="", workspace=workspace, data=data, models=models, cpu_only=cpu_only,
                            num_gpus=parse_count(num_gpus), gpu_profile=gpu_profile, full_gpu=full_gpu)
    rt = Runtime(config)
    created = import_container(rt, file, name, request)
    out = new_output(json_flag, table_flag, TABLE_COLUMNS)
    out.emit(created.record)
    out.close()


def main():
    run(cli)


MAN_OUTPUT = "The new container's record, as container-create prints it."
