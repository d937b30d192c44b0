"""mlc-create: AIME's `mlc create` syntax over container-create (ds01's limits, GPU allocation and checks)."""

import click

from ._common import config_option, run
from ._mlc import script_option


@click.command(epilog="""\b
Examples:
  mlc-create pt271 Pytorch 2.7.1 -s                   script mode
  mlc-create pt271 Pytorch 2.7.1 -w ~/workspace/thesis -d /data/corpus -s
  mlc-create tf TensorFlow 2.14.0 -g 2 -arch CUDA_ADA -s
  mlc-create -i                                       frameworks and versions for this host
Differs from AIME: -g takes a GPU count within your quota (all = the policy's default,
0 = no GPU); specific devices come from the allocator, not from -g; your CPU, memory,
shm and pids limits apply; directories must exist; errors exit non-zero.
See also: container-create, image-catalog, mlc-open, mlc-list""")
@click.argument("name", required=False)
@click.argument("framework", required=False)
@click.argument("version", required=False)
@click.option("-arch", "--architecture", "arch", metavar="ARCH", help="GPU architecture (default: $MLC_ARCH, else "
                                                                      "detected).")
@click.option("-w", "--workspace_dir", "workspace", metavar="DIR", default="~/workspace", show_default=True,
              help="Host directory mounted at /workspace.")
@click.option("-d", "--data_dir", "data", metavar="DIR", help="Host directory mounted at /data.")
@click.option("-m", "--models_dir", "models", metavar="DIR", help="Host directory mounted at /models.")
@click.option("-g", "--num_gpus", "gpus", metavar="N|all", default="all", show_default=True,
              help="How many GPUs (within your quota); 0 = none.")
@click.option("-i", "--info", is_flag=True, help="List the frameworks and versions for this host's architecture.")
@script_option
@config_option
def cli(name, framework, version, arch, workspace, data, models, gpus, info, script, config):
    """Create container NAME from FRAMEWORK VERSION of the AIME catalog (AIME syntax)."""
    import os

    from ..create import CreateRequest, create_container
    from ..errors import UsageError
    from ..images import catalog
    from ..runtime import Runtime
    from ._gpu import parse_count
    from ._mlc import interactive, say

    rt = Runtime(config)
    cat = catalog.load(rt.policy)
    chosen_arch, how = catalog.arch_for(rt, cat, arch)
    if info:
        say(f"Architecture: {chosen_arch} ({how}); available: {', '.join(cat.archs())}")
        for name_ in cat.frameworks(chosen_arch):
            versions = [e.version for e in cat.for_arch(chosen_arch) if e.framework == name_]
            say(f"  {name_}: {', '.join(versions)}")
        return 0
    if not (name and framework and version):
        if not interactive(script):
            raise UsageError("mlc-create needs NAME FRAMEWORK VERSION in script mode",
                             hint="mlc-create NAME FRAMEWORK VERSION -s; mlc-create -i lists them")
        framework, version, name = _ask(cat, chosen_arch, framework, version, name)
    request = CreateRequest(name=name, image=framework, version=version, arch=chosen_arch)
    if workspace == "~/workspace":  # AIME's default: made for the user (AIME let Docker make it, owned by root)
        os.makedirs(os.path.expanduser(workspace), exist_ok=True)
    for flag, key, path in (("-w", "workspace", workspace), ("-d", "data", data), ("-m", "models", models)):
        if path:
            path = os.path.expanduser(path)
            if not os.path.isdir(path):
                raise UsageError(f"directory {path} does not exist", hint=f"create it first, or leave out {flag}")
            setattr(request, key, os.path.abspath(path))
    if gpus == "0":
        request.cpu_only = True
    elif gpus.isdigit():
        request.num_gpus = parse_count(gpus)
    elif gpus != "all":
        raise UsageError(f"-g {gpus}: give a number of GPUs or 'all'",
                         hint="specific devices are chosen by the allocator (gpu-status shows them)")
    create_container(rt, request)
    say(f"[{name}] ready. Open the container with: mlc open {name}")
    return 0


def _ask(cat, arch, framework, version, name):
    """AIME's interactive order: framework, version, then name (each re-asked until valid)."""
    from .. import names
    from ..errors import UsageError
    from ..pick import choose

    frameworks = cat.frameworks(arch)
    if framework is None or cat.framework_name(framework) not in frameworks:
        framework = frameworks[choose(frameworks, f"Select a framework ({arch}):")]
    framework = cat.framework_name(framework)
    versions = [e.version for e in cat.for_arch(arch) if e.framework == framework]
    if version not in versions:
        version = versions[choose(versions, f"Select a {framework} version:")]
    while not name:
        answer = click.prompt("Container name", err=True).strip()
        try:
            name = names.validate(answer)
        except UsageError as exc:
            click.echo(f"mlc-create: {exc.message}", err=True)
    return framework, version, name


def main():
    run(cli)


MAN_OUTPUT = "AIME's messages on standard output (e.g. \"[NAME] container stopped.\"), without colour codes."
