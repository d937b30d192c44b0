"""What goes into a user's image: the base (from the catalog), then DS01's package phases.

`Answers` holds what the user chose (flags or the wizard); `plan()` validates every package
string, resolves the base image and drops duplicates, and returns a `dockerfile.Spec`.
Nothing is written here, so a refused package leaves no trace.
"""

import re
from dataclasses import dataclass, field

from ..errors import UsageError
from ..names import sanitize_username
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
    jupyter: bool | None = None        # None: the default (the policy's images.default_sets; never for custom)
    data_science: bool | None = None
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
    from . import catalog  # lazy: ds01.images.catalog, 2 ms

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


def defaults_for(framework, defaults=None):
    """(apt packages, pip set names) added unasked: none for a custom base (the user's own image, perhaps on
    an offline host), else the policy's (`defaults`, from packages.policy_defaults; None: DS01's)."""
    if framework == "custom":
        return (), ()
    return defaults if defaults is not None else (P.SYSTEM_BASE, P.DEFAULT_SETS)


def chosen(answers, framework, defaults=None):
    """(jupyter, data_science, use case): what the user said, else the defaults."""
    _, sets = defaults_for(framework, defaults)
    jupyter = "jupyter" in sets if answers.jupyter is None else answers.jupyter
    data_science = "data-science" in sets if answers.data_science is None else answers.data_science
    use_case = answers.use_case or ("ml" if "use-case" in sets and not answers.requirements else "custom")
    return jupyter, data_science, use_case


def phases_for(answers, framework, warn=None, defaults=None):
    """{phase: [requirement]} in build order, validated and without duplicates. Only what the user asked for
    and the defaults (`defaults_for`) go in: a custom base with no options gets no package phase at all."""
    from .dockerfile import PHASE_TITLES  # lazy: ds01.images.dockerfile, 3 ms

    requirements = P.read_requirements(answers.requirements) if answers.requirements else []
    extra = P.pip_list(answers.packages, "--packages")
    system = P.apt_list(answers.system, "--system")
    system_base, _ = defaults_for(framework, defaults)
    jupyter, data_science, use_case = chosen(answers, framework, defaults)
    if use_case not in P.USE_CASES:
        raise UsageError(f"unknown use case {use_case!r}", hint="choose from: " + ", ".join(P.USE_CASES))
    pip = [
        ("framework", list(P.BASE_PACKAGES["pytorch-cpu"]) if framework == "pytorch-cpu" else []),
        ("requirements", requirements),
        ("jupyter", list(P.JUPYTER) if jupyter else []),
        ("data-science", list(P.DATA_SCIENCE) if data_science else []),
        ("use-case", list(P.USE_CASES[use_case])),
        ("additional", extra),
    ]
    base = () if framework == "pytorch-cpu" else P.BASE_PACKAGES.get(framework, ())
    titled = [(PHASE_TITLES[name], pkgs) for name, pkgs in pip]
    kept = P.dedupe(titled, base, warn)
    result = {name: pkgs for (name, _), (_, pkgs) in zip(pip, kept)}
    (_, system_kept), = P.dedupe([(PHASE_TITLES["system"], system)], system_base, warn)
    result["system"] = list(system_base) + system_kept
    return result, use_case


def plan(rt, name, answers, warn=None):
    """The Spec of image `name` for the caller. Raises before anything is written."""
    from .. import images  # lazy: ds01.images, 1 ms
    from .dockerfile import Spec  # lazy: ds01.images.dockerfile, 3 ms

    user = rt.caller
    phases, use_case = phases_for(answers, (answers.framework or "pytorch").lower(), warn,
                                  P.policy_defaults(rt.policy))
    base, label, arch, framework = resolve_base(rt, answers)
    return Spec(name=name, image=images.reference(user.uid, name), login=user.login, uid=user.uid, gid=user.gid,
                sudoers=f"{sanitize_username(user.login)}_no_password", base_image=base, framework=label,
                arch=arch, use_case=use_case, jupyter=bool(phases["jupyter"]), created=rt.now_iso(), phases=phases,
                pip_options={"framework": CPU_WHEELS} if framework == "pytorch-cpu" else {})
