"""image-create: write a Dockerfile FROM the framework's AIME image with DS01's package phases, and build it."""

import os
import sys

import click

from ..errors import UsageError
from ..guided import Guide
from ..output import is_tty
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run

GUIDE = {
    "framework": "The framework picks the base image from AIME's catalog for this host's GPUs: CUDA, cuDNN\n"
                 "and the framework are already inside, so your image only adds what you need on top.",
    "base": "These come with the base image; asking for them again is dropped with a warning.",
    "jupyter": "Jupyter lets you work in notebooks (JupyterLab) inside the container, through an SSH tunnel.",
    "data-science": "The data-science set: pandas, scipy, scikit-learn, matplotlib, seaborn.",
    "use-case": "A use case adds the libraries most projects of that kind need.",
    "additional": "Anything else from PyPI, by name with an optional version (torch-geometric, 'wandb>=0.16').",
    "system": "System packages come from Debian/Ubuntu apt (e.g. ffmpeg, libgl1). Images from a catalog framework\n"
              "also get the lab's defaults (DS01's: git, curl, wget, vim, htop); a custom base gets none.",
    "build": "The build runs the Dockerfile; your account is baked in, so containers start without a setup step.",
}


@click.command(epilog="""\b
Examples:
  image-create thesis                                    the wizard on a terminal; defaults otherwise
  image-create demo -f pytorch -t cv --no-jupyter -p "wandb einops"
  image-create tfexp -f tensorflow --version 2.14.0 -s "ffmpeg libgl1"
  image-create mine -f custom --base-image ubuntu:24.04 -p numpy
  image-create lab -f custom --base-image lab/base   offline: nothing added, no network needed
  image-create proj -r ~/workspace/proj/requirements.txt --no-build
  image-create old --dockerfile ~/dockerfiles/old.Dockerfile
The Dockerfile goes to ~/workspace/NAME/Dockerfile; the image is ds01-<uid>/NAME:latest.
See also: image-catalog, image-update, image-list, container-create""")
@click.argument("name", required=False)
@click.option("-f", "--framework", type=click.Choice(["pytorch", "tensorflow", "jax", "pytorch-cpu", "custom"],
                                                     case_sensitive=False), help="Base framework (default pytorch).")
@click.option("--version", "version", metavar="VERSION", help="Framework version from the catalog (default: latest).")
@click.option("--arch", metavar="ARCH", help="GPU architecture for the catalog (default: detected).")
@click.option("--base-image", metavar="IMAGE", help="Build FROM this image instead of the catalog's.")
@click.option("-t", "--type", "use_case", type=click.Choice(["ml", "cv", "nlp", "rl", "audio", "ts", "llm", "custom"]),
              help="Use case: adds its package set (default ml; none for -f custom).")
@click.option("-p", "--packages", multiple=True, metavar="PKGS", help="Extra pip packages (space-separated).")
@click.option("-s", "--system", multiple=True, metavar="PKGS", help="Extra apt packages (space-separated).")
@click.option("-r", "--requirements", type=click.Path(dir_okay=False), help="Install a requirements.txt.")
@click.option("--jupyter/--no-jupyter", default=None, help="Include Jupyter (default yes; no for -f custom).")
@click.option("--data-science/--no-data-science", default=None,
              help="Include the data-science set (default yes; no for -f custom).")
@click.option("--dockerfile", "dockerfile", type=click.Path(dir_okay=False), help="Build this existing Dockerfile.")
@click.option("--no-build", is_flag=True, help="Write the Dockerfile only.")
@click.option("--no-cache", is_flag=True, help="Build without Docker's layer cache.")
@click.option("--guided", is_flag=True, help="Explain each phase as it goes.")
@click.option("--force", is_flag=True, help="Replace an existing image and Dockerfile (the old file is kept as .bak).")
@output_options
@config_option
def cli(name, framework, version, arch, base_image, use_case, packages, system, requirements, jupyter, data_science,
        dockerfile, no_build, no_cache, guided, force, json_flag, table_flag, config):
    """Create image NAME: FROM the framework's catalog image, plus Jupyter, data-science, use-case and your packages."""
    from ..images.create import NewImage, check_new_image, create_image  # lazy: ds01.images.create, 4 ms
    from ..images.plan import Answers  # lazy: ds01.images.plan, 3 ms

    interactive = is_tty(sys.stdin) and is_tty(sys.stderr)
    rt = Runtime(config)
    if not name:
        if not interactive:
            raise UsageError("no image name given", hint="image-create NAME")
        name = click.prompt("Image name", err=True)
    answers = Answers(framework=framework or ("custom" if base_image else "pytorch"), version=version, arch=arch,
                      base_image=base_image, use_case=use_case, jupyter=jupyter, data_science=data_science,
                      packages=list(packages), system=list(system),
                      requirements=os.path.expanduser(requirements) if requirements else None)
    request = NewImage(name, answers, dockerfile, no_build, no_cache, force, framework_option=framework,
                       package_options=bool(framework or version or base_image or use_case or packages or system
                                            or requirements or jupyter is not None or data_science is not None))
    check_new_image(rt, request)
    explain = _explainer(guided)
    if interactive and not dockerfile:
        _wizard(rt, answers, given=dict(framework=framework, use_case=use_case, jupyter=jupyter,
                                        data_science=data_science, packages=packages, system=system,
                                        base_image=base_image), explain=explain)

    def confirm_build():
        explain("build")
        return click.confirm("Build the image now?", default=True, err=True)

    out = new_output(json_flag, table_flag, [("name", "NAME"), ("image", "IMAGE"), ("built", "BUILT"),
                                             ("dockerfile", "DOCKERFILE")])
    out.emit(create_image(rt, request, confirm_build if interactive else None))
    out.close()


def _explainer(guided):
    """Each phase is explained before its question (the question is the pause)."""
    return Guide(guided, "image-create").explainer(GUIDE)


def _wizard(rt, answers, given, explain):
    """DS01's phases, asking only what no flag answered: framework, base packages, Jupyter, data science,
    use case, additional packages, system packages."""
    from ..images import packages as P  # lazy: ds01.images.packages, 2 ms
    from ..images.plan import FRAMEWORK_HELP, FRAMEWORKS  # lazy: ds01.images.plan, 3 ms

    if not given["framework"] and not given["base_image"]:
        explain("framework")
        answers.framework = _choose("Framework", FRAMEWORKS, FRAMEWORK_HELP, "pytorch")
        if answers.framework == "custom":
            answers.base_image = click.prompt("Base image (e.g. ubuntu:24.04)", err=True)
    from ..images.plan import chosen  # lazy: ds01.images.plan, 3 ms

    framework = answers.framework.lower()
    base = P.BASE_PACKAGES.get(framework, ())
    if base:
        explain("base")
        sys.stderr.write("Already in the base image: " + ", ".join(base) + "\n")
    jupyter, data_science, use_case = chosen(answers, framework, P.policy_defaults(rt.policy))
    if framework != "custom":  # a custom base gets only what a flag asked for
        if given["jupyter"] is None:
            explain("jupyter")
            answers.jupyter = click.confirm("Include Jupyter (" + " ".join(P.JUPYTER) + ")?", default=jupyter,
                                            err=True)
        if given["data_science"] is None:
            explain("data-science")
            answers.data_science = click.confirm("Include data science (" + " ".join(P.DATA_SCIENCE) + ")?",
                                                 default=data_science, err=True)
        if not given["use_case"]:
            explain("use-case")
            help_text = {k: f"{P.USE_CASE_HELP[k]}: {' '.join(v) or 'nothing extra'}" for k, v in P.USE_CASES.items()}
            answers.use_case = _choose("Use case", tuple(P.USE_CASES), help_text, use_case)
    if not given["packages"]:
        explain("additional")
        extra = click.prompt("Additional pip packages (space-separated, Enter for none)", default="",
                             show_default=False, err=True)
        answers.packages = [extra] if extra.strip() else []
    if not given["system"]:
        explain("system")
        extra = click.prompt("System (apt) packages (space-separated, Enter for none)", default="",
                             show_default=False, err=True)
        answers.system = [extra] if extra.strip() else []


def _choose(title, options, help_text, default):
    sys.stderr.write(f"{title}:\n")
    for number, option in enumerate(options, 1):
        sys.stderr.write(f"  {number}) {option:<12} {help_text.get(option, '')}\n")
    choice = click.prompt(f"{title} [1-{len(options)}]", type=click.IntRange(1, len(options)),
                          default=options.index(default) + 1, err=True)
    return options[choice - 1]


def main():
    run(cli)
