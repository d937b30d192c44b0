"""The policy's key tables as rows, for docs/config.md and ds01-resource-limits(5) alike."""


def _kind_text(spec):
    """The kind of value a key takes, in words."""
    from .. import schema as P

    if isinstance(spec, P.Duration):
        return f"duration ({spec.unit})" + (", null" if spec.nullable else "")
    if isinstance(spec, P.Size):
        return "size" + (", null" if spec.nullable else "")
    if isinstance(spec, P.Number):
        return ("integer" if spec.integer else "number") + (", null" if spec.nullable else "")
    if isinstance(spec, P.Bool):
        return "true/false"
    if isinstance(spec, P.Text):
        return ("one of " + "/".join(spec.choices)) if spec.choices else "string"
    if isinstance(spec, P.Percent):
        return "percent"
    if isinstance(spec, P.Names):
        return "list of names"
    return getattr(spec, "kind_text", None) or "any"  # a kind of its own says what it takes


def default_text(spec, value):
    """A default as the policy file would spell it."""
    from .. import schema as P
    from ..units import format_bytes

    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(spec, P.Size):
        return format_bytes(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


POLICY_INTRO = (
    "Path: `--config`, else `$DS01_CONFIG`, else `/etc/ds01/resource-limits.yaml`, else the embedded "
    "defaults below. A user's limits are `defaults`, overlaid by their group, then by their override. Their group "
    "is the "
    "first group (in file order) listing them, inline or in `groups/<group>.members` beside the file, "
    "else `default_group`. Overrides come from `user_overrides:` and `user-overrides.yaml` beside the "
    "file (the file wins), and apply on top of the group. `aggregate` and `policies` merge key by key.",
    "Unknown keys, wrong types and bad values are errors naming file, line and key; an empty file "
    "or section is valid. Durations take a unit (`30m`, `0.5h`, `2d`) or are plain numbers in the "
    "unit of the key's suffix; sizes are binary (`512m`, `32g`); `null` means unlimited.",
)


def rows(keys, defaults=None):
    """(key, kind, default or "", meaning) for each key of a schema table; a sub-section is a "mapping"."""
    from .. import schema

    result = []
    for key, spec in keys.items():
        if isinstance(spec, schema.Section):
            kind, doc = "mapping", spec.doc + " (see below)"
        else:
            kind, doc = _kind_text(spec), getattr(spec, "doc", "")
        default = "" if defaults is None or key not in defaults else default_text(spec, defaults[key])
        result.append((key, kind, default, doc))
    return result
