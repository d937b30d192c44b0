"""resource-limits: a user's resolved limits (DS01's get_resource_limits.py)."""

import click

from .. import ds01_limits
from ..ds01_limits import FLAGS
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, prog, run, warn


def ds01_flags(fn):
    """DS01's get_resource_limits.py flags: each prints one answer in DS01's format."""
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
    from ..limits_answer import Question, resource_limits, table_rows  # lazy: ds01.limits_answer, 1 ms

    question = Question(docker_args=docker_args, group=group_only,
                        ds01=[key[len("ds01_"):] for key, value in ds01.items() if value], exemption=exemption_type,
                        field=field_name, json=json_flag, legacy=prog() == ds01_limits.LEGACY_NAME)
    question.check()
    answer = resource_limits(Runtime(config, read_only=True), user, question)
    if answer.line is not None:
        click.echo(answer.line)
        if answer.note:
            warn(answer.note)
        return
    for warning in answer.warnings:
        warn(warning)
    out = new_output(json_flag, table_flag, None)
    if out.table:
        out.columns = [("key", "KEY"), ("value", "VALUE")]
        for row in table_rows(answer.record or {}):
            out.emit(row)
    else:
        out.emit(answer.record)  # type: ignore[arg-type]  # no line: the answer is the record
    out.close()


def main():
    run(cli)
