"""resource-limits: a user's resolved limits (DS01's get_resource_limits.py)."""

import click

from ._common import config_option, new_output, output_options, run


def ds01_flags(fn):
    """DS01's get_resource_limits.py flags: each prints one answer in DS01's format."""
    from ..ds01_limits import FLAGS

    for key, what in reversed(FLAGS.items()):
        fn = click.option("--" + key.replace("_", "-"), "ds01_" + key, is_flag=True, help=f"(DS01) Print {what}.")(fn)
    return click.option("--check-exemption", "exemption_type", metavar="TYPE",
                        help="(DS01) exempt: … or not_exempt, for idle_timeout_h or max_runtime_h.")(fn)


@click.command(epilog="""\b
Examples:
  resource-limits                     your limits as a record
  resource-limits --docker-args       the docker create flags they become
  resource-limits --field memory      one value
  resource-limits alice               another user's (admins)
  get_resource_limits.py alice --max-gpus     DS01's flags and output shapes
Under its DS01 name, every answer has DS01's exact shape: --json DS01's record of strings
(max_gpus "2", idle_timeout "0.5h" or "N/A"), --docker-args DS01's flags only, --all-lifecycle
its *_h keys, --lifecycle-policies its five keys. For a user with an override (DS01 replaced
the group, ds01 layers it on top) a warning on stderr gives DS01's answer when it differs.
See also: check-limits, container-create""")
@click.argument("user", required=False)
@click.option("--docker-args", is_flag=True, help="Print the docker create flags on one line.")
@click.option("--field", "field_name", metavar="KEY", help="Print one value (e.g. max_cpus, memory, idle_timeout_h).")
@click.option("--group", "group_only", is_flag=True, help="Print only the group.")
@ds01_flags
@output_options
@config_option
def cli(user, docker_args, field_name, group_only, exemption_type, json_flag, table_flag, config, **ds01):
    """Show the limits that apply to you (or USER)."""
    import json

    from .. import ds01_limits
    from ..errors import PermissionDenied, UsageError
    from ..runtime import Runtime
    from ._common import prog

    asked = [key[len("ds01_"):] for key, value in ds01.items() if value]
    if len(asked) + bool(exemption_type) + docker_args + group_only + bool(field_name) > 1:
        raise UsageError("give one of the printing options at a time")
    rt = Runtime(config, read_only=True)
    login = user or rt.caller.login
    if login != rt.caller.login and not rt.admin:
        raise PermissionDenied("only admins can see other users' limits", hint="resource-limits shows yours")
    limits = rt.limits(login)
    if prog() == ds01_limits.LEGACY_NAME:
        what = ("docker_args" if docker_args else "group" if group_only else asked[0] if asked else
                "json" if json_flag and not (exemption_type or field_name) else None)
        if what:
            click.echo(ds01_limits.legacy_output(what, limits, rt.policy))
            note = ds01_limits.difference_note(what, login, limits, rt.policy)
            if note:
                from ._common import warn

                warn(note)
            return
    if docker_args:
        click.echo(" ".join(limits.docker_args()))
        return
    if group_only:
        click.echo(limits.group)
        return
    if asked:
        click.echo(ds01_limits.answer(asked[0], limits, rt.policy))
        return
    if exemption_type:
        from ..lifecycle import exemptions

        if exemption_type not in exemptions.TIMERS:
            raise UsageError(f"unknown exemption type {exemption_type!r}",
                             hint="one of: " + ", ".join(exemptions.TIMERS))
        found = exemptions.find(exemptions.load(rt.policy), login, exemption_type, rt.now())
        click.echo(ds01_limits.exemption_line(found))
        return
    record = limits.record()
    if field_name:
        value = record
        for part in field_name.split("."):
            if not isinstance(value, dict) or part not in value:
                raise UsageError(f"unknown field {field_name!r}", hint="keys: " + ", ".join(record))
            value = value[part]
        click.echo("null" if value is None else json.dumps(value) if isinstance(value, (dict, list, bool)) else value)
        return
    for other in rt.policy.groups_listing(login)[1:]:
        from ._common import warn

        warn(f"{login} is also listed in group {other!r}; the first group ({limits.group}) applies")
    out = new_output(json_flag, table_flag, None)
    if out.table:
        from ..units import format_bytes

        rows = []
        for key, value in record.items():
            if isinstance(value, dict):
                rows += [{"key": f"{key}.{k}", "value": v} for k, v in value.items()]
            else:
                if key in ("memory", "memory_swap", "shm_size") and value is not None:
                    value = format_bytes(value)
                rows.append({"key": key, "value": value})
        out.columns = [("key", "KEY"), ("value", "VALUE")]
        for row in rows:
            out.emit(row)
    else:
        out.emit(record)
    out.close()


def main():
    run(cli)
