"""Which image a create runs, and whether the caller may: an image reference, a catalog FRAMEWORK [VERSION],
the caller's image by its short name, or (none given) their image ds01-<uid>/NAME:latest."""

import re

from .errors import NotFound, UsageError

IMAGE_ID_RE = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


def is_image_id(image):
    """An image given by ID (`sha256:…` or 12 to 64 hex digits) rather than by name."""
    return bool(IMAGE_ID_RE.match(image))


def resolve_image(rt, request):
    """(image reference, AIME framework label or None, arch or None): an image, a catalog FRAMEWORK [VERSION],
    your image by its short name, or (none given) your image ds01-<uid>/NAME:latest."""
    user = rt.caller
    image, framework_label, arch_label = request.image, None, None
    if request.image and framework_like(request.image):
        image, framework_label, arch_label = _catalog_image(rt, request.image, request.version, request.arch)
        own = f"ds01-{user.uid}/{request.image.lower()}:latest"  # image names are lower-case
        if framework_label is None and _image_exists(rt, own):  # your image by its short name
            image = own
    elif request.arch:
        raise UsageError("--arch applies to a FRAMEWORK from the catalog",
                         hint="container-create NAME pytorch --arch A")
    if image is None:
        default = f"ds01-{user.uid}/{request.name.lower()}:latest"  # container MyBox, image mybox
        if not _image_exists(rt, default):
            raise UsageError(f"no image given, and you have no image {default}",
                             hint=f"image-create {request.name} builds it; or container-create {request.name} "
                                  "IMAGE|FRAMEWORK")
        image = default
    return image, framework_label, arch_label


def framework_like(word):
    """A bare word that could be a framework name (an image reference has '/', ':' or '@', or is a local name)."""
    return bool(word) and not any(c in word for c in "/:@")


def _catalog_image(rt, word, version, arch):
    """(image, AIME framework label, arch) for FRAMEWORK [VERSION]; a bare word that is no framework is an image."""
    from .images import catalog  # lazy: ds01.images.catalog, 2 ms

    cat = catalog.load(rt.policy)
    if cat.framework_name(word) is None:
        if version:
            raise catalog.NotFound(f"no framework {word!r} in the catalog ({cat.source})",
                                   hint="image-catalog lists the frameworks")
        return word, None, None
    chosen, _ = catalog.arch_for(rt, cat, arch)
    entry = cat.resolve(word, version, chosen)
    return entry.image, entry.label, chosen


def _image_exists(rt, ref):
    try:
        rt.api.inspect_image(ref)
        return True
    except NotFound:
        return False


def check_image(rt, image, tags=None):
    """PermissionDenied unless the caller may create from `image` (ds01.access.may_use_image: the one predicate
    builds use too). `tags`: the names of an image given by ID."""
    from .access import may_use_image  # lazy: ds01.access, 1 ms

    may_use_image(rt, image, tags, doing="create containers from")

