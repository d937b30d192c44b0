"""Package lists for images: the default sets per phase, and validation of every string a user gives.

A pip requirement must be valid PEP 508 (checked by `packaging`), an apt package a valid
Debian package name; nothing else reaches a Dockerfile. Duplicates against the base image
and earlier phases are dropped with a warning (names compared case-insensitively,
normalised, version specifiers ignored).
"""

import re

from ..errors import Ds01Error, UsageError

JUPYTER = ("jupyter", "jupyterlab", "ipykernel", "ipywidgets", "notebook")
DATA_SCIENCE = ("pandas", "scipy", "scikit-learn", "matplotlib", "seaborn")
USE_CASES = {
    "ml": ("xgboost", "lightgbm", "catboost", "optuna", "shap"),
    "cv": ("timm", "albumentations", "opencv-python-headless", "kornia", "ultralytics"),
    "nlp": ("transformers", "datasets", "tokenizers", "accelerate", "sentencepiece", "peft", "safetensors",
            "evaluate"),
    "rl": ("gymnasium", "stable-baselines3"),
    "audio": ("librosa", "soundfile", "audiomentations"),
    "ts": ("statsmodels", "prophet", "darts"),
    "llm": ("vllm", "bitsandbytes", "langchain", "einops"),
    "custom": (),
}
USE_CASE_HELP = {
    "ml": "classical ML", "cv": "computer vision", "nlp": "natural language", "rl": "reinforcement learning",
    "audio": "audio", "ts": "time series", "llm": "large language models", "custom": "your own list only",
}
SYSTEM_BASE = ("git", "curl", "wget", "vim", "htop")  # DS01's; the policy's images.default_system_packages
DEFAULT_SETS = ("jupyter", "data-science", "use-case")  # DS01's; the policy's images.default_sets


def policy_defaults(policy):
    """(apt packages, pip set names) an image gets when the user does not say: the policy's `images`
    `default_system_packages` and `default_sets`, each DS01's when unset (an offline lab sets both to [])."""
    section = policy.section("images") if policy is not None else {}
    system = section.get("default_system_packages")
    sets = section.get("default_sets")
    system = SYSTEM_BASE if system is None else tuple(apt_list(system, "images.default_system_packages"))
    sets = DEFAULT_SETS if sets is None else tuple(sets)
    unknown = [s for s in sets if s not in DEFAULT_SETS]
    if unknown:
        raise Ds01Error(f"the policy's images.default_sets names {', '.join(unknown)}, which is no package set",
                        hint="ask an admin: the sets are " + ", ".join(DEFAULT_SETS))
    return system, sets

# What each framework's base image already has (AIME's PyTorch images: CUDA, cuDNN and these).
BASE_PACKAGES = {
    "pytorch": ("numpy", "pillow", "tqdm", "conda", "ipython", "psutil", "torch", "torchvision", "torchaudio"),
    "tensorflow": ("tensorflow", "keras", "numpy", "ipython", "psutil", "tqdm"),
    "jax": ("jax", "jaxlib", "numpy"),
    "pytorch-cpu": ("torch", "torchvision", "torchaudio"),
    "custom": (),
}

def framework_family(label):
    """The BASE_PACKAGES key for an image's `aime.mlc.FRAMEWORK` label (`Pytorch-2.7.1` -> `pytorch`)."""
    text = (label or "").lower()
    for family in ("pytorch-cpu", "pytorch", "tensorflow", "jax"):
        if text.startswith(family):
            return family
    return "custom"


APT_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?(?:=[A-Za-z0-9.+~:-]+)?$")
PIP_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")
FORBIDDEN = re.compile(r"[`$\\\n\r\0|&{}]")  # shell syntax: never valid PEP 508 outside a marker's quotes
URL_SCHEMES = ("https://", "http://", "git+https://")


def canonical(name):
    """pip's normalised project name: `Scikit_Learn` -> `scikit-learn`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_requirement(text, where="package"):
    """The requirement in canonical form (`numpy >= 1.2` -> `numpy>=1.2`); UsageError if it is not plain PEP 508."""
    from packaging.requirements import InvalidRequirement, Requirement  # lazy: packaging, 12 ms

    text = text.strip()
    shown = text if len(text) < 80 else text[:77] + "..."
    if not text or FORBIDDEN.search(text):
        raise UsageError(f"{where}: {shown!r} is not a pip requirement",
                         hint="give names with optional versions, e.g. numpy or 'torch>=2.1'")
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise UsageError(f"{where}: {shown!r} is not a pip requirement ({str(exc).splitlines()[0]})",
                         hint="give names with optional versions, e.g. numpy or 'torch>=2.1'") from None
    if requirement.url and not requirement.url.startswith(URL_SCHEMES):
        raise UsageError(f"{where}: {shown!r}: only http(s) and git+https URLs may be installed")
    return str(requirement)


def name_of(requirement):
    """Canonical project name of a (validated) requirement string."""
    return canonical(re.split(r"[\s\[<>=!~;@(]", requirement, maxsplit=1)[0])


def apt_package(text, where="system package"):
    text = text.strip()
    if not APT_RE.match(text):
        shown = text if len(text) < 80 else text[:77] + "..."
        raise UsageError(f"{where}: {shown!r} is not a Debian package name",
                         hint="lower-case letters, digits and + - . (optionally =VERSION), e.g. libgl1")
    return text


def apt_name(package):
    """The bare Debian name of `name[:arch][=version]`."""
    return package.split("=", 1)[0].split(":", 1)[0]


def split_words(value):
    """Packages given as one option value: `-p "wandb einops"` (spaces or commas between names).

    A comma directly inside a version range (`numpy>=1,<2`) stays part of that requirement.
    """
    words = []
    for token in (value or "").split():
        for part in re.split(r",(?![<>=!~])", token):
            if part:
                words.append(part)
    return words


def _one_line(values, where):
    for value in values:
        if any(c in value for c in "\n\r\0"):
            raise UsageError(f"{where}: {value[:60]!r} spans lines", hint="give packages separated by spaces")
    return values


def pip_list(values, where="--packages"):
    return [pip_requirement(word, where) for value in _one_line(values, where) for word in split_words(value)]


def apt_list(values, where="--system"):
    return [apt_package(word, where) for value in _one_line(values, where) for word in split_words(value)]


def read_requirements(path, display=None):
    """Requirements from a requirements.txt; comments and blank lines skipped, options refused (file:line)."""
    shown = display or path
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read requirements file {shown}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"requirements file {shown} is not UTF-8 text") from None
    result = []
    for number, line in enumerate(lines, 1):
        text = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not text:
            continue
        if text.startswith("-") or text.endswith("\\"):
            raise UsageError(f"{shown}:{number}: {text!r}: pip options are not supported here",
                             hint="list one requirement per line (name and optional version)")
        result.append(pip_requirement(text, f"{shown}:{number}"))
    return result


def dedupe(phases, base=(), warn=None):
    """Drop packages already in `base` or an earlier phase (phases: ordered [(title, [requirements])]).

    Returns new lists in the same order; `warn(message)` is told about each dropped package.
    """
    seen = {canonical(b): "the base image" for b in base}
    result = []
    for title, packages in phases:
        kept = []
        for package in packages:
            key = name_of(package)
            if key in seen:
                if warn:
                    warn(f"{package} is already in {seen[key]}; dropped from {title}")
                continue
            seen[key] = title
            kept.append(package)
        result.append((title, kept))
    return result
