"""Writes the files derived from the registry (bin/ executables); `--check` reports drift instead."""

import argparse
import os
import sys

from . import registry

HEADER = "# Generated from ds01/registry.py by `make generate`; do not edit."


def bin_script(command, legacy=None):
    lines = ["#!/usr/bin/env python3", HEADER]
    if legacy:
        lines.append("from ds01.cli._common import deprecated")
        lines.append(f"deprecated({legacy!r}, {command.name!r})")
    lines.append(f"from {command.module} import main")
    lines.append("main()")
    return "\n".join(lines) + "\n"


def dispatcher_script(noun):
    lines = ["#!/usr/bin/env python3", HEADER, "from ds01.cli.dispatch import main", f"main({noun!r})"]
    return "\n".join(lines) + "\n"


def expected_files():
    from .registry import DISPATCHERS, verbs

    files = {os.path.join("docs", "config.md"): config_reference()}
    for noun in (*(n for n in DISPATCHERS if verbs(n)), "ds01"):  # a noun appears with its first verb
        files[os.path.join("bin", noun)] = dispatcher_script(noun)
    for command in registry.COMMANDS:
        files[command.path] = bin_script(command)
        for alias in command.aliases:
            files[os.path.join("bin", alias)] = bin_script(command)
        for old in command.legacy:
            files[os.path.join("bin", old)] = bin_script(command, legacy=old)
    from .completions import expected_completions
    from .manpages import expected_pages

    files.update(expected_pages())
    files.update(expected_completions())
    return files


def generated_dirs():
    return ("bin", "libexec/ds01", "man/man1", "man/man5", "man/man7", "completions")


def _is_generated(root, rel):
    """libexec/ds01 also holds hand-written programs (ds01-demo): only files with our header are ours."""
    if not rel.startswith("libexec"):
        return True
    path = os.path.join(root, rel)
    try:
        with open(path, encoding="utf-8") as handle:
            return HEADER in handle.read(512)
    except (OSError, UnicodeDecodeError):
        return False


def _kind_text(spec):
    from . import policy as P

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
    return "any"


def _default_text(spec, value):
    from . import policy as P
    from .units import format_bytes

    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(spec, P.Size):
        return format_bytes(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


POLICY_INTRO = (
    "Path: `--config`, else `$DS01_CONFIG`, else `/etc/ds01/resource-limits.yaml`, else the embedded "
    "defaults below. A user's limits are `defaults`, overlaid by their group, then by their override. Their group is the "
    "first group (in file order) listing them, inline or in `groups/<group>.members` beside the file, "
    "else `default_group`. Overrides come from `user_overrides:` and `user-overrides.yaml` beside the "
    "file (the file wins), and apply on top of the group. `aggregate` and `policies` merge key by key.",
    "Unknown keys, wrong types and bad values are errors naming file, line and key; an empty file "
    "or section is valid. Durations take a unit (`30m`, `0.5h`, `2d`) or are plain numbers in the "
    "unit of the key's suffix; sizes are binary (`512m`, `32g`); `null` means unlimited.",
)


def config_reference():
    """docs/config.md, from the policy schema in ds01/policy.py."""
    from . import policy as P

    lines = [
        "# Policy reference (`resource-limits.yaml`)",
        "",
        "Generated from `ds01/policy.py` by `make generate`; do not edit.",
        "",
        *POLICY_INTRO,
        "",
    ]

    def section(title, keys, defaults=None, aliases=None):
        lines.extend([f"## {title}", "", "| key | kind | default | meaning |", "|---|---|---|---|"])
        for key, spec in keys.items():
            if isinstance(spec, P.Section):
                kind, doc = "mapping", spec.doc + " (see below)"
            else:
                kind, doc = _kind_text(spec), getattr(spec, "doc", "")
            default = "" if defaults is None or key not in defaults else _default_text(spec, defaults[key])
            lines.append(f"| `{key}` | {kind} | {default} | {doc} |")
        if aliases:
            lines.extend(["", "Old names still read: " + ", ".join(f"`{a}` → `{n}`" for a, n in aliases.items()) + "."])
        lines.append("")

    section("Limits (`defaults`, `groups.<name>`, `user_overrides.<user>`)", P.LIMIT_KEYS, P.BUILTIN_LIMITS,
            P.LIMIT_ALIASES)
    lines.extend(["Groups also take `members` (list of usernames) and `description`.", ""])
    section("`aggregate` (per user, all containers)", P.AGGREGATE_KEYS)
    section("`policies` (global, or per group / user)", P.POLICY_KEYS, P.BUILTIN_POLICIES)
    lines.extend(["## Top-level sections", "", "| key | meaning |", "|---|---|"])
    for key, spec in P.TOP_KEYS.items():
        lines.append(f"| `{key}` | {getattr(spec, 'doc', '')} |")
    lines.append("")
    for key, spec in P.TOP_KEYS.items():
        if isinstance(spec, P.Section) and key not in ("defaults", "policies"):
            section(f"`{key}`", spec.keys)
    from .lifecycle.job import TYPE_DEFAULTS, USER_TYPES

    section("`container_types.<type>`", P.CONTAINER_TYPE_KEYS)
    lines.extend([f"Timers of containers by type. {' and '.join(f'`{t}`' for t in USER_TYPES)} containers (made by "
                  "ds01 or AIME) use their owner's limits; the others use these, whose built-in values are: "
                  + "; ".join(f"`{t}` " + ", ".join(f"{k} {_default_text(None, v)}" for k, v in values.items())
                              for t, values in TYPE_DEFAULTS.items()) + ".", ""])
    lines.extend(["## `lifecycle-exemptions.yaml`", "",
                  "Beside the policy: `exemptions:` a list of `{username, exempt_from: [idle_timeout_h | max_runtime_h "
                  "| max_pause_time_h], reason, category, approved_by, approved_on, expires_on}` (`expires_on: null` = "
                  "permanent). A malformed file is an error naming file and line, and the lifecycle jobs then act "
                  "on nothing.", ""])
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    parser.add_argument("--root", default=".")
    args = parser.parse_args(argv)
    expected = expected_files()
    drift = []
    for directory in generated_dirs():
        path = os.path.join(args.root, directory)
        for name in sorted(os.listdir(path)) if os.path.isdir(path) else []:
            rel = os.path.join(directory, name)
            if rel not in expected and _is_generated(args.root, rel):
                drift.append(f"{rel}: not in the registry")
                if not args.check:
                    os.remove(os.path.join(args.root, rel))
    for rel, text in expected.items():
        path = os.path.join(args.root, rel)
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current != text:
            drift.append(f"{rel}: {'missing' if current is None else 'differs from the registry'}")
            if not args.check:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.chmod(path, 0o755 if rel.startswith(("bin", "libexec")) else 0o644)
    if args.check and drift:
        sys.stderr.write("generated files drifted from the registry (run `make generate`):\n")
        sys.stderr.write("".join(f"  {line}\n" for line in drift))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
