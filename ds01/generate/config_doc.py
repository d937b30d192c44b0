"""docs/config.md: the policy reference, rendered from the schema in ds01/policy.py."""

from ..schema import Section
from .schema_rows import POLICY_INTRO, default_text, rows


def config_reference():
    """docs/config.md, from the policy schema in ds01/policy.py."""
    from .. import policy as P

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
        for key, kind, default, doc in rows(keys, defaults):
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
        if isinstance(spec, Section) and key not in ("defaults", "policies"):
            section(f"`{key}`", spec.keys)

    section("`container_types.<interface>`", P.CONTAINER_TYPE_KEYS)
    lines.extend([f"Timers of containers by interface. {' and '.join(f'`{t}`' for t in P.OWN_INTERFACES)} "
                  f"containers (made by "
                  "ds01 or AIME) use their owner's limits; the others use these, whose built-in values are: "
                  + "; ".join(f"`{t}` " + ", ".join(f"{k} {default_text(None, v)}" for k, v in values.items())
                              for t, values in P.INTERFACE_TIMERS.items()) + ".", ""])
    lines.extend(image_etc_section())
    lines.extend(["## `lifecycle-exemptions.yaml`", "",
                  "Beside the policy: `exemptions:` a list of `{username, exempt_from: [idle_timeout_h | max_runtime_h "
                  "| max_pause_time_h], reason, category, approved_by, approved_on, expires_on}` (`expires_on: null` = "
                  "permanent). A malformed file is an error naming file and line, and the lifecycle jobs then act "
                  "on nothing.", ""])
    lines.extend(["## `get_resource_limits.py` (DS01's name for `resource-limits`)", "",
                  "Under DS01's name every answer has DS01's exact shape for the same file (`--json` strings and "
                  "`N/A`, `--all-lifecycle` with `_h` keys, `--lifecycle-policies` DS01's five keys, `--aggregate` "
                  "and `--aggregate-gpu-limit` the YAML float `2.0`, `--docker-args` without ds01's "
                  "`--cap-drop=ALL --security-opt=no-new-privileges`); `resource-limits` keeps ds01's shapes. A "
                  "user override differs: DS01 replaced the user's group by it (group `override`, slice "
                  "`ds01-override-<user>.slice`), ds01 applies it on top of the group. The legacy name prints what "
                  "ds01 enforces and, where DS01 would have printed something else, says so on stderr "
                  "(`get_resource_limits.py: warning: USER has a user override; … DS01 printed: …`).", ""])
    return "\n".join(lines)


def image_etc_section():
    """What a create reads of a user's image and which groups it gives: fixed bounds, not settings."""
    from ..images import account_layer as A

    return ["## What a create reads of an image (fixed, not settings)", "",
            "When an image lacks the caller's account, `container-create` writes it into the new container from the "
            "image's own files, read through the engine outside the GPU allocator lock and cached by image ID in "
            "the state dir (ds01/images/account_layer.py). The reads are bounded:", "",
            f"- `/etc/{'`, `/etc/'.join(A.ACCOUNT_FILES)}`: at most {A.MAX_ACCOUNT_FILE >> 20} MiB each. A larger "
            "one refuses the create (`cannot set up your account in IMAGE: the image's /etc/passwd is larger than "
            f"{A.MAX_ACCOUNT_FILE >> 20} MiB`) and leaves nothing.",
            f"- `/etc/skel`: at most {A.MAX_SKEL_ENTRIES} entries and {A.MAX_SKEL_BYTES >> 20} MiB as the engine "
            "archives it (contents and 512-byte headers). A larger skel is not copied: the new home gets only "
            "ds01's `.bashrc`, and the create (each one from that image) warns. Keep big defaults elsewhere in the "
            "image (`/opt`) and copy them yourself.", "",
            "Supplementary groups: every container gets the host's `video` group, and where `sudo: true` also the "
            "host's `sudo` group, as the host's numeric gids; a group the host lacks is not given. The container's "
            "`/etc/group` then has one line for each with the host's gid, replacing the image's lines of that name "
            "and any line named like that gid, and is root's 0644 file in a 0755 `/etc` whatever the image made "
            "them (Docker reads it again at every start and `docker exec`).", ""]
