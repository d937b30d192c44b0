"""What goes into a user's image: the base (from the catalog), then DS01's package phases.

`Answers` holds what the user chose (flags or the wizard); `plan()` validates every package
string, resolves the base image and drops duplicates, and returns a `dockerfile.Spec`.
Nothing is written here, so a refused package leaves no trace.
"""

import re
from dataclasses import dataclass, field

from ..errors import UsageError
from . import packages as P
from .catalog import FIXED_BASES  # frameworks the AIME catalog does not carry (re-exported)

FRAMEWORKS = ("pytorch", "tensorflow", "jax", "pytorch-cpu", "custom")
FRAMEWORK_HELP = {
    "pytorch": "PyTorch with CUDA (AIME catalog image)", "tensorflow": "TensorFlow with CUDA (AIME catalog image)",
    "jax": "JAX (NVIDIA's image)", "pytorch-cpu": "PyTorch without a GPU (Python slim + CPU wheels)",
    "custom": "your own base image (--base-image), no default packages",
}
CPU_WHEELS = ["--index-url", "https://download.pytorch.org/whl/cpu"]
IMAGE_REF_RE = re.compile(
    r"^(?:[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?/)?"        # registry host[:port]/
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"                  # path component
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"            # more components
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"                # :tag
    r"(?:@sha256:[a-f0-9]{64})?$")


@dataclass
class Answers:
    framework: str = "pytorch"
    version: str | None = None
    arch: str | None = None
    base_image: str | None = None
    use_case: str | None = None
    jupyter: bool = True
    data_science: bool = True
    packages: list = field(default_factory=list)      # raw option values
    system: list = field(default_factory=list)
    requirements: str | None = None


def check_image_ref(ref, what="--base-image"):
    if not ref or not IMAGE_REF_RE.match(ref):
        raise UsageError(f"{what}: {ref!r} is not an image reference",
                         hint="e.g. nvcr.io/nvidia/pytorch:24.05-py3 or ubuntu:24.04")
    return ref


def resolve_base(rt, answers):
    """(base image, AIME framework label, arch, framework key) for the answers."""
    from . import catalog

    framework = (answers.framework or "pytorch").lower()
    if framework not in FRAMEWORKS:
        raise UsageError(f"unknown framework {answers.framework!r}", hint="choose from: " + ", ".join(FRAMEWORKS))
    if answers.base_image:
        check_image_ref(answers.base_image)
        label = "custom" if framework == "custom" else framework.capitalize()
        return answers.base_image, label, None, framework
    if framework == "custom":
        raise UsageError("a custom framework needs --base-image IMAGE")
    if framework in FIXED_BASES:
        image, label = FIXED_BASES[framework]
        return image, label, None, framework
    cat = catalog.load(rt.policy)
    arch, _ = catalog.arch_for(rt, cat, answers.arch)
    entry = cat.resolve(framework, answers.version, arch)
    return entry.image, entry.label, arch, framework


def phases_for(answers, framework, warn=None):
    """{phase: [requirement]} in build order, validated and without duplicates."""
    from .dockerfile import PHASE_TITLES

    requirements = P.read_requirements(answers.requirements) if answers.requirements else []
    extra = P.pip_list(answers.packages, "--packages")
    system = P.apt_list(answers.system, "--system")
    use_case = answers.use_case or ("custom" if answers.requirements else "ml")
    if use_case not in P.USE_CASES:
        raise UsageError(f"unknown use case {use_case!r}", hint="choose from: " + ", ".join(P.USE_CASES))
    default = framework != "custom"
    pip = [
        ("framework", list(P.BASE_PACKAGES["pytorch-cpu"]) if framework == "pytorch-cpu" else []),
        ("requirements", requirements),
        ("jupyter", list(P.JUPYTER) if answers.jupyter and default else []),
        ("data-science", list(P.DATA_SCIENCE) if answers.data_science and default else []),
        ("use-case", list(P.USE_CASES[use_case]) if default else []),
        ("additional", extra),
    ]
    base = () if framework == "pytorch-cpu" else P.BASE_PACKAGES.get(framework, ())
    titled = [(PHASE_TITLES[name], pkgs) for name, pkgs in pip]
    kept = P.dedupe(titled, base, warn)
    result = {name: pkgs for (name, _), (_, pkgs) in zip(pip, kept)}
    (_, system_kept), = P.dedupe([(PHASE_TITLES["system"], system)], P.SYSTEM_BASE, warn)
    result["system"] = list(P.SYSTEM_BASE) + system_kept
    return result, use_case


def plan(rt, name, answers, warn=None):
    """The Spec of image `name` for the caller. Raises before anything is written."""
    from .. import images
    from ..names import sanitize_username
    from .dockerfile import Spec

    user = rt.caller
    phases, use_case = phases_for(answers, (answers.framework or "pytorch").lower(), warn)
    base, label, arch, framework = resolve_base(rt, answers)
    return Spec(name=name, image=images.reference(user.uid, name), login=user.login, uid=user.uid, gid=user.gid,
                sudoers=f"{sanitize_username(user.login)}_no_password", base_image=base, framework=label,
                arch=arch, use_case=use_case, jupyter=bool(phases["jupyter"]), created=rt.now_iso(), phases=phases,
                pip_options={"framework": CPU_WHEELS} if framework == "pytorch-cpu" else {})
