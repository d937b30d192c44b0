"""Which images a caller may use: one predicate for every place ds01 is told an image's name.

Creating a container and building an image both run the image's files, so both ask the same
question (create, recreate, deploy, `--base-image`, every build stage's `FROM`, `COPY --from`).
A caller may use their own `ds01-<uid>/` images, the catalog's, image-create's own framework
bases and the policy's `images.allowed` patterns; admins any. The question is asked about the
image Docker would pick: the name as Docker normalises it (`docker.io/library/x` is `x`), and,
where the engine already has an image under that reference (or ID prefix), the names that image
carries. A reference ds01 cannot read is refused, never guessed.
"""

import fnmatch
import re

from .engine import image_repository
from .errors import Ds01Error, NotFound, PermissionDenied
from .identity import lookup

OWNED_RE = re.compile(r"^ds01-(\d+)/([^:@]+)(?::([^@]+))?$")
ID_RE = re.compile(r"^(?:sha256:)?([0-9a-f]{12,64})$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(
    r"^(?:(?P<domain>[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*(?::[0-9]+)?)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$")
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
HINT = ("image-list shows your images, image-catalog the catalog's; an admin may allow more "
        "(images.allowed in the policy)")


def familiar(ref):
    """(`name[:tag]` as Docker shows it, digest or None) of an image name; None when `ref` is no image name.

    A first component is a registry only when it has a '.' or ':' or is `localhost` (Docker's rule).
    """
    match = NAME_RE.match(ref or "")
    if not match:
        return None
    domain, path, tag, digest = match.group("domain", "path", "tag", "digest")
    if domain is not None and not ("." in domain or ":" in domain or domain == "localhost"):
        if domain != domain.lower():
            return None  # an upper-case first path component: Docker refuses the name
        path, domain = f"{domain}/{path}", None
    if domain is not None and domain.lower() in DOCKER_HUB:
        domain = None
        if path.startswith("library/") and path.count("/") == 1:
            path = path[len("library/"):]
    name = f"{domain}/{path}" if domain else path
    if tag is None and digest is None:
        tag = "latest"
    return (f"{name}:{tag}" if tag else name), digest


def parse_reference(ref):
    """(uid, name) of a ds01 image reference `ds01-<uid>/NAME[:tag]`, or None for any other image."""
    match = OWNED_RE.match(ref)
    return (int(match.group(1)), match.group(2)) if match else None


def name_refusal(rt, name):
    """Why the image called `name` (a familiar `repo[:tag]`) is not for the caller (None: it is)."""
    from .images import catalog  # lazy: ds01.images imports this module (a cycle at load time)

    owned = parse_reference(name)
    if owned is not None:
        if owned[0] == rt.caller.uid:
            return None

        owner = lookup(owned[0])
        return f"it is {owner.login if owner else 'uid ' + str(owned[0])}'s image"
    repository = image_repository(name)
    try:
        offered = [entry.image for entry in catalog.load(rt.policy).entries]
    except Ds01Error:
        offered = []
    offered += [image for image, _ in catalog.FIXED_BASES.values()]
    if any(image_repository(familiar(image)[0] if familiar(image) else image) == repository for image in offered):
        return None
    if any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(repository, p)
           for p in rt.policy.section("images").get("allowed") or []):
        return None
    return "it is neither yours, nor in the catalog, nor allowed by the policy"


def _local(rt, ref):
    """The engine's inspect of the image `ref` names (by name, digest or ID prefix), or None."""
    try:
        return rt.api.inspect_image(ref)
    except NotFound:
        return None


def image_refusal(rt, ref, tags=None):
    """Why the caller may not use `ref` (None: they may). `tags`: the names of an image given by ID, when the
    caller already knows them (container-create after a pull)."""
    if rt.admin:
        return None
    if tags is not None:
        names = [t for t in tags if t and t != "<none>:<none>"]
        reasons = [name_refusal(rt, familiar(t)[0]) if familiar(t) else "its name cannot be read" for t in names]
        if names and None in reasons:
            return None
        return reasons[0] if names else "it has no name to check"
    by_id = ID_RE.match(ref or "")
    parsed = None if by_id and (ref.startswith("sha256:") or len(by_id.group(1)) == 64) else familiar(ref)
    if parsed is None and not by_id:
        return "ds01 cannot read that image reference"
    if parsed is not None and not by_id:  # a short hex ID is also a name: the image it finds decides below
        why = name_refusal(rt, parsed[0].split("@", 1)[0])
        if why is not None:
            return why
    info = _local(rt, ref)
    if info is None:
        if by_id:
            return "no image has that ID"
        return None  # a name the engine lacks: pulled as named, and the name was judged above
    names = [familiar(t)[0] for t in info.get("RepoTags") or [] if familiar(t)]
    names += [familiar(d.split("@", 1)[0])[0] for d in info.get("RepoDigests") or [] if familiar(d.split("@", 1)[0])]
    if parsed is not None and not by_id and parsed[0] in names:
        return None  # the engine found the image by the name already judged
    # found by ID or ID prefix (or a name the engine resolves in a way ds01 did not): the image's own names decide
    reasons = [name_refusal(rt, n) for n in names]
    if names and None in reasons:
        return None
    return reasons[0] if names else "it is an image without a name that is yours"


def may_use_image(rt, ref, tags=None, doing="use"):
    """PermissionDenied unless the caller may use the image `ref` (see the module docstring)."""
    why = image_refusal(rt, ref, tags)
    if why is not None:
        raise PermissionDenied(f"you may not {doing} {ref}: {why}", hint=HINT)
