"""mlc-create: AIME's `mlc create` syntax over container-create (ds01's limits, GPU allocation and checks)."""

import os

import click

from .. import names
from ..errors import UsageError
from ..output import Output
from ..pick import choose
from ..runtime import Runtime
from ._common import config_option
from ._gpu import parse_count
from ._mlc import aime_command, create_with_gpus, interactive, say, script_option
from ._mlc import main as aime_main


@aime_command("create")
@click.command(epilog="""\b
Examples:
  mlc-create pt271 Pytorch 2.7.1 -s                   script mode
  mlc-create pt271 Pytorch 2.7.1 -w ~/workspace/thesis -d /data/corpus -s
  mlc-create tf TensorFlow 2.14.0 -g 2 -arch CUDA_ADA -s
  mlc-create pt Pytorch 2.7.1 -g device=1 -s          GPU slot 1, if free and within your quota
  mlc-create pt Pytorch 2.7.1 -g all -s               as many GPUs as your quota allows now
  mlc-create box pytorch -w=/path --cpu-only          DS01's wrapper flags (newest version)
  mlc-create -i                                       frameworks and versions for this host
Differs from AIME: -g all gives the GPUs your quota allows now (said on stderr),
not every GPU on the host; without -g, one GPU slot (the policy's default), not
all; -g device=N only if that slot is free and within your quota; your CPU, memory,
shm and pids limits apply; directories must exist; errors exit 1 (quota: 3).
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
@click.option("-g", "--num_gpus", "gpus", metavar="N|all|device=N",
              help="GPUs: a count within your quota; all = as many as your quota allows now; device=N[,M] = "
                   "those GPU slots (gpu-status), if free and within your quota; 0 = none. Default: one.")
@click.option("-i", "--info", is_flag=True, help="List the frameworks and versions for this host's architecture.")
@script_option
@click.option("--image", metavar="IMAGE", help="(DS01's wrapper) An image of yours instead of FRAMEWORK VERSION.")
@click.option("--cpu-only", is_flag=True, help="(DS01's wrapper) No GPU: the same as -g 0.")
@click.option("--num-gpus", metavar="N", help="(DS01's wrapper) A number of GPUs: the same as -g N.")
@click.option("--dry-run", is_flag=True, help="(DS01's wrapper) Check everything, print the plan as JSON, "
                                              "create nothing.")
@click.option("--show-limits", is_flag=True, help="(DS01's wrapper) Print your resource limits and exit.")
@config_option
def cli(name, framework, version, arch, workspace, data, models, gpus, info, script, image, cpu_only, num_gpus,
        dry_run, show_limits, config):
    """Create container NAME from FRAMEWORK VERSION of the AIME catalog (AIME syntax)."""
    from ..create import CreateRequest, create_container  # lazy: ds01.create, 9 ms
    from ..images import catalog  # lazy: ds01.images.catalog, 2 ms

    rt = Runtime(config)
    if show_limits:
        import yaml  # lazy: PyYAML, 7 ms

        click.echo(yaml.safe_dump(rt.limits(rt.caller.login).record(), sort_keys=False), nl=False)
        return 0
    gpu_ask = _gpu_ask(gpus, cpu_only, num_gpus)
    cat = catalog.load(rt.policy)
    chosen_arch, how = catalog.arch_for(rt, cat, arch)
    if info:
        say(f"Architecture: {chosen_arch} ({how}); available: {', '.join(cat.archs())}")
        for name_ in cat.frameworks(chosen_arch):
            versions = [e.version for e in cat.for_arch(chosen_arch) if e.framework == name_]
            say(f"  {name_}: {', '.join(versions)}")
        return 0
    if image:
        if not name:
            raise UsageError("--image needs a container NAME", hint="mlc-create NAME --image IMAGE")
        request = CreateRequest(name=name, image=image, arch=arch)
    else:
        if name and framework and not version and not script and not interactive(script):
            version = _newest(cat, chosen_arch, framework)  # DS01's wrapper: VERSION was optional
        if not (name and framework and version):
            if not interactive(script):
                raise UsageError("mlc-create needs NAME FRAMEWORK VERSION in script mode",
                                 hint="mlc-create NAME FRAMEWORK VERSION -s; mlc-create -i lists them")
            framework, version, name = _ask(cat, chosen_arch, framework, version, name)
        chosen_arch, note = catalog.aime_fallback(rt, cat, framework, version, chosen_arch, how)
        if note:  # a version only AIME's pick has: AIME's image, said so (ds01's commands keep the GPUs' arch)
            click.echo(f"mlc-create: note: {note}", err=True)
        request = CreateRequest(name=name, image=framework, version=version, arch=chosen_arch)
    if workspace == "~/workspace" and not dry_run:  # AIME's default: made for the user (AIME let Docker make it)
        os.makedirs(os.path.expanduser(workspace), exist_ok=True)
    for flag, key, path in (("-w", "workspace", workspace), ("-d", "data", data), ("-m", "models", models)):
        if path:
            path = os.path.expanduser(path)
            if not os.path.isdir(path):
                raise UsageError(f"directory {path} does not exist", hint=f"create it first, or leave out {flag}")
            setattr(request, key, os.path.abspath(path))

    created = create_with_gpus(rt, request, gpu_ask, dry_run, lambda req: create_container(rt, req, dry_run=dry_run))
    if dry_run:
        out = Output(json_flag=True)
        out.emit(created.record)
        out.close()
        return 0
    say(f"[{name}] ready. Open the container with: mlc open {name}")
    return 0


def _gpu_ask(gpus, cpu_only, num_gpus):
    """What -g (AIME), --cpu-only and --num-gpus (DS01's wrapper) ask for: 0, a count, "all", "device=…", or
    None (nothing said: ds01's default, one slot). Two different answers are a usage error."""
    asks = []
    if gpus is not None:
        word = gpus.strip()
        if word.isdigit():
            asks.append(("-g", int(word)))
        elif word == "all" or word.startswith("device="):
            asks.append(("-g", word))
        else:
            raise UsageError(f"-g {gpus}: give a number of GPUs, 'all' or device=N",
                             hint="gpu-status lists the GPU slots by number: -g device=SLOT")
    if cpu_only:
        asks.append(("--cpu-only", 0))
    if num_gpus is not None:
        asks.append(("--num-gpus", parse_count(num_gpus)))
    if len({value for _, value in asks}) > 1:
        raise UsageError(f"{asks[0][0]} and {asks[1][0]} ask for different GPUs", hint="give one of them")
    return asks[0][1] if asks else None


def _newest(cat, arch, framework):
    """DS01's `mlc-create NAME FRAMEWORK` (no VERSION, not a terminal): the catalog's first (newest) version."""
    name = cat.framework_name(framework)
    versions = [e.version for e in cat.for_arch(arch) if e.framework == name]
    if not versions:
        return None
    click.echo(f"mlc-create: note: no VERSION given: {name} {versions[0]}, the newest for {arch} "
               f"(mlc-create -i lists them)", err=True)
    return versions[0]

def _ask(cat, arch, framework, version, name):
    """AIME's interactive order: framework, version, then name (each re-asked until valid)."""
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
    aime_main(cli)


MAN_OUTPUT = "AIME's messages on standard output (e.g. \"[NAME] container stopped.\"), without colour codes."
