"""AIME's image catalog (`ml_images.repo`): which base image a framework and version mean on this host.

One image per line, `Framework, version, [ARCH1;ARCH2], image` (v2) or with a bare arch (v1).
The catalog comes from the policy (`aime.catalog`), else the AIME install, else a small one
built in, so a machine without AIME still resolves `pytorch`. Architecture precedence:
`--arch` > `$MLC_ARCH` > the GPUs' compute capability > the driver's CUDA version >
`aime.arch` > CUDA_ADA.

AIME itself detects the architecture from the installed CUDA version only, so on an A100 (Ampere) with a
CUDA 12.x driver it picks CUDA_ADA. ds01 keeps the GPUs' own architecture (AIME's README files the A100
under CUDA_AMPERE); `mlc-create`, AIME's syntax, falls back to AIME's pick only for a framework version
the GPUs' architecture has no image for (`aime_fallback`), and says so.
"""

import os
from dataclasses import dataclass
from typing import Any

from ..errors import NotFound, UsageError
from ..schema import PolicyError, read_config

# Frameworks the AIME catalog does not carry: image-create's own bases (anyone may build and run them).
FIXED_BASES = {"jax": ("nvcr.io/nvidia/jax:23.10-py3", "JAX"),
               "pytorch-cpu": ("python:3.11-slim-bookworm", "Pytorch-cpu")}

AIME_CATALOG = "/opt/aime-ml-containers/ml_images.repo"
DEFAULT_ARCH = "CUDA_ADA"
BUILTIN_SOURCE = "built-in"

# Recent entries per architecture, so ds01 works where AIME is not installed.
BUILTIN = """\
Pytorch, 2.8.0, [CUDA_BLACKWELL], aimehub/pytorch-2.8.0-cuda12.8.1
Pytorch, 2.8.0, [CUDA_ADA], aimehub/pytorch-2.8.0-cuda12.6.3
Pytorch, 2.7.1, [CUDA_BLACKWELL], aimehub/pytorch-2.7.1-cuda12.8.0
Pytorch, 2.7.1, [CUDA_ADA], aimehub/pytorch-2.7.1-cuda12.6.3
Pytorch, 2.7.1, [CUDA_AMPERE], aimehub/pytorch-2.7.1-cuda11.8.0
Pytorch, 2.5.1, [CUDA_ADA], aimehub/pytorch-2.5.1-aime-cuda12.1.1
Pytorch, 2.5.1, [CUDA_AMPERE], aimehub/pytorch-2.5.1-aime-cuda11.8.0
Tensorflow, 2.16.1, [CUDA_ADA], aimehub/tensorflow-2.16.1-cuda12.3
Tensorflow, 2.15.0, [CUDA_ADA], aimehub/tensorflow-2.15.0-cuda12.3
Tensorflow, 2.14.0, [CUDA_ADA;CUDA_AMPERE], aimehub/tensorflow-2.14.0-cuda11.8
"""


@dataclass(frozen=True)
class Entry:
    framework: str
    version: str
    archs: tuple
    image: str
    line: int

    @property
    def label(self):
        """AIME's `aime.mlc.FRAMEWORK` value: `Pytorch-2.7.1`."""
        return f"{self.framework}-{self.version}"

    def record(self, arch=None):
        return {"framework": self.framework, "version": self.version, "arch": arch or self.archs[0],
                "archs": list(self.archs), "image": self.image}


class Catalog:
    def __init__(self, entries, source):
        self.entries = entries
        self.source = source

    def archs(self):
        """Every architecture named in the catalog, in first-seen order."""
        seen: dict[Any, Any] = {}
        for entry in self.entries:
            for arch in entry.archs:
                seen.setdefault(arch, None)
        return list(seen)

    def for_arch(self, arch):
        """Entries for `arch` in file order, the first of each framework/version pair only."""
        seen = set()
        result = []
        for entry in self.entries:
            key = (entry.framework, entry.version)
            if arch in entry.archs and key not in seen:
                seen.add(key)
                result.append(entry)
        return result

    def frameworks(self, arch):
        """Framework names with images for `arch`, sorted (as `mlc create` lists them)."""
        return sorted({e.framework for e in self.for_arch(arch)}, key=str.lower)

    def framework_name(self, name):
        """The catalog's spelling of a framework name given in any case, or None."""
        wanted = name.lower()
        for entry in self.entries:
            if entry.framework.lower() == wanted:
                return entry.framework
        return None

    def resolve(self, framework, version, arch):
        """The entry for framework (any case) and version (exact; None or "latest" = first listed) on arch."""
        name = self.framework_name(framework)
        if name is None:
            known = ", ".join(sorted({e.framework.lower() for e in self.entries}))
            raise NotFound(f"no framework {framework!r} in the catalog ({self.source})", hint=f"known: {known}")
        candidates = [e for e in self.for_arch(arch) if e.framework == name]
        if not candidates:
            archs = ", ".join(a for a in self.archs() if any(e.framework == name for e in self.for_arch(a)))
            raise NotFound(f"{name} has no image for {arch}", hint=f"{name} exists for: {archs} (--arch picks one)")
        if version in (None, "", "latest"):
            return candidates[0]
        for entry in candidates:
            if entry.version == version:
                return entry
        elsewhere = [a for a in self.archs() if any(e.framework == name and e.version == version
                                                    for e in self.for_arch(a))]
        if elsewhere:
            hint = f"{name} {version} exists for {', '.join(elsewhere)} (--arch picks one)"
        else:
            hint = f"versions for {arch}: {', '.join(e.version for e in candidates)}"
        raise NotFound(f"{name} {version} has no image for {arch}", hint=hint)


def parse(text, path="<string>"):
    """Catalog entries; a malformed line is a PolicyError naming file and line."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 4 or not all(fields[:4]):
            raise PolicyError(f"{path}:{number}: expected 'Framework, version, [ARCH;...], image', got {raw.strip()!r}")
        framework, version, arch_field, image = fields[:4]
        archs = tuple(a.strip() for a in arch_field.replace("[", "").replace("]", "").split(";") if a.strip())
        if not archs:
            raise PolicyError(f"{path}:{number}: no architecture in {arch_field!r}")
        if any(c.isspace() for c in image) or any(c.isspace() for c in framework + version):
            raise PolicyError(f"{path}:{number}: spaces inside a name in {raw.strip()!r}")
        entries.append(Entry(framework, version, archs, image, number))
    return entries


def path_for(policy):
    """The catalog file to read: the policy's, else AIME's install; None for the built-in one."""
    configured = policy.section("aime").get("catalog") if policy is not None else None
    if configured:
        return configured
    return AIME_CATALOG if os.path.exists(AIME_CATALOG) else None


def load(policy=None):
    path = path_for(policy)
    if path is None:
        return Catalog(parse(BUILTIN, BUILTIN_SOURCE), BUILTIN_SOURCE)
    text = read_config(path, "image catalog", hint="aime.catalog in the policy names this file")
    return Catalog(parse(text, path), path)


def _major_minor(text):
    """(12, 10) from "12.10" (compared as numbers: 12.10 is newer than 12.8), or None."""
    try:
        major, minor = (int(p) for p in str(text).split(".")[:2])
    except ValueError:
        return None
    return major, minor


def arch_from_capability(capability):
    """AIME arch for a compute capability "8.6": <8 CUDA, 8.0-8.7 AMPERE, 8.9/9.x ADA, >=10 BLACKWELL."""
    version = _major_minor(capability)
    if version is None:
        return None
    major, minor = version
    if major >= 10:
        return "CUDA_BLACKWELL"
    if (major, minor) >= (8, 9):
        return "CUDA_ADA"
    if major == 8:
        return "CUDA_AMPERE"
    return "CUDA"


def arch_from_cuda(version):
    """AIME's mapping of the driver's CUDA version: <=11.8 AMPERE, 12.0-12.7 ADA, >=12.8 BLACKWELL."""
    parsed = _major_minor(version)
    if parsed is None:
        return None
    if parsed >= (12, 8):
        return "CUDA_BLACKWELL"
    if parsed[0] == 12:
        return "CUDA_ADA"
    return "CUDA_AMPERE"


def detect_arch(inventory):
    """(arch, how) from the GPUs (the oldest GPU decides, so every GPU runs the image), or (None, None)."""
    archs = [arch_from_capability(g.compute_capability) for g in inventory.gpus if g.compute_capability]
    archs = [a for a in archs if a]
    if archs:
        order = ("CUDA", "CUDA_AMPERE", "CUDA_ADA", "CUDA_BLACKWELL")
        return min(archs, key=order.index), "compute capability"
    if inventory.cuda_version:
        return arch_from_cuda(inventory.cuda_version), f"driver CUDA {inventory.cuda_version}"
    return None, None


def arch_for(rt, catalog, explicit=None):
    """choose_arch with the command's policy, GPUs and arch setting (MLC_ARCH)."""
    return choose_arch(catalog, explicit, rt.policy, lambda: rt.inventory, rt.settings.get("arch"))


def choose_arch(catalog, explicit=None, policy=None, inventory_loader=None, environment=None):
    """(arch, how it was chosen). An explicit or `environment` (MLC_ARCH) arch must be one the catalog knows."""
    for value, how in ((explicit, "--arch"), (environment, "MLC_ARCH")):
        if value:
            if value not in catalog.archs():
                raise UsageError(f"unknown architecture {value!r} (from {how})",
                                 hint="known: " + ", ".join(catalog.archs()))
            return value, how
    if inventory_loader is not None:
        arch, how = detect_arch(inventory_loader())
        if arch:
            return arch, how
    configured = policy.section("aime").get("arch") if policy is not None else None
    if configured:
        return configured, "aime.arch"
    return DEFAULT_ARCH, "default"


def aime_fallback(rt, catalog, framework, version, arch, how):
    """(arch, note): when `arch` came from the GPUs' compute capability and FRAMEWORK VERSION has no image for
    it, the architecture AIME would detect (from the driver's CUDA version), if that one has the image, with a
    note saying so; otherwise `arch` unchanged and no note (an arch the user chose is never replaced)."""
    if how != "compute capability" or _has(catalog, framework, version, arch):
        return arch, None
    cuda = rt.inventory.cuda_version
    aime = arch_from_cuda(cuda) if cuda else None
    if aime is None or aime == arch or not _has(catalog, framework, version, aime):
        return arch, None
    name = catalog.framework_name(framework)
    return aime, (f"{name} {version} has no image for {arch} ({how}); using {aime}, as AIME would "
                  f"(driver CUDA {cuda})")


def _has(catalog, framework, version, arch):
    try:
        catalog.resolve(framework, version, arch)
    except NotFound:
        return False
    return True
