"""What every command shares: option decorators, the error/exit-code contract, batch processing."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ..errors import Ds01Error, UsageError, worst
from ..output import Output, is_tty, parse_targets
from ..output import warn as warn  # re-exported: the commands' one warning
from ..visible import visible

if TYPE_CHECKING:
    from ..containers import ContainerRecord
    from ..registry import Command
    from ..runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=click.Command)


def config_option(fn: F) -> F:
    return click.option("--config", "config", metavar="PATH",
                        help="Policy file (default $DS01_CONFIG, else /etc/ds01/resource-limits.yaml).")(fn)


def output_options(fn: F) -> F:
    fn = click.option("--table", "table_flag", is_flag=True, help="Force the table view.")(fn)
    fn = click.option("--json", "json_flag", is_flag=True, help="One JSON object per line (default when piped).")(fn)
    return fn


def prog() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ds01"


def report(error: Ds01Error) -> None:
    sys.stderr.write(f"{prog()}: error: {visible(error.message, keep_newlines=True)}\n")
    if error.hint:
        sys.stderr.write(f"  hint: {visible(error.hint, keep_newlines=True)}\n")


def read_targets(args: Iterable[str], what: str = "container", keys: Sequence[str] | None = None,
                 pick: Callable[[], str] | None = None) -> list[str]:
    """Targets from arguments, or (none given, stdin not a terminal) from stdin.

    With no arguments on a terminal, `pick()` (a numbered pick list) chooses one; without
    `pick` that is a UsageError.
    """
    if args:
        return list(args)
    if is_tty(sys.stdin):
        if pick is not None and is_tty(sys.stderr):
            return [pick()]
        raise UsageError(f"no {what} given", hint=f"name one, or pipe records in: container-list | {prog()}")
    try:
        text = sys.stdin.read()
    except (OSError, ValueError):
        text = ""
    try:
        return parse_targets(text, keys) if keys else parse_targets(text)
    except ValueError as exc:
        raise UsageError(f"cannot read targets from stdin: {exc}") from None


def container_targets(rt: Runtime, names: Iterable[str], states: Sequence[str], what: str,
                      all_flag: bool = False) -> list[str]:
    """The containers a lifecycle command acts on: `-a` (all of the caller's in `states`), NAMEs,
    records or names on stdin, or, on a terminal with none of these, one picked from a numbered list."""
    from ..containers import owned_by  # lazy: ds01.containers, 1 ms

    if all_flag:
        if names:
            raise UsageError("give NAMEs or --all, not both")
        return [r["container"] for r in sorted(rt.finder.records(), key=lambda r: r["name"])
                if owned_by(r, rt.caller) and r["status"] in states]

    def pick() -> str:
        from ..pick import choose_container  # lazy: ds01.pick, 1 ms

        return choose_container(rt, states, what, prog())["container"]

    return read_targets(names, pick=pick)


def each_container(rt: Runtime, names: Iterable[str], states: Sequence[str], what: str, all_flag: bool,
                   verb: Callable[[Runtime, ContainerRecord], Mapping[str, Any] | None], out: Output) -> int:
    """The lifecycle commands' one skeleton: the targets (NAMEs, stdin, `-a` of the caller's in `states`, or a
    pick), each found (the caller's own), `verb(rt, rec)` done to it (ds01/container_verbs.py), its record
    emitted; the worst exit code."""
    from ..container_verbs import found  # lazy: ds01.container_verbs, 1 ms

    targets = container_targets(rt, names, states, what, all_flag)
    return batch(targets, lambda target: verb(rt, found(rt, target)), out)


def batch(targets: Iterable[str], action: Callable[[str], Mapping[str, Any] | None], out: Output) -> int:
    """Run `action(target)` for every target; report each failure, emit each record; return the worst code."""
    codes = []
    for target in targets:
        try:
            result = action(target)
        except Ds01Error as exc:
            report(exc)
            codes.append(exc.code)
            continue
        if result is not None:
            out.emit(result)
        codes.append(0)
    out.close()
    return worst(codes)


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from .. import version  # lazy: ds01.version, 2 ms
    from ..settings import Settings  # lazy: ds01.settings, 2 ms

    record = version.info(Settings().get("docker_host"))
    if is_tty(sys.stdout):
        sys.stdout.write(version.line(record, ctx.info_name or prog()) + "\n")
    else:
        sys.stdout.write(json.dumps(record) + "\n")
    ctx.exit(0)


def mark_reserved(command: click.Command, name: str | None) -> Command | None:
    """Each option's help says who may pass it when that is not everyone, and the help ends with who may
    run the command: both from the command table (ds01/registry.py), the one place ds01d enforces them."""
    from ..registry import ANYONE, WHO_TEXT, by_name, option_name  # lazy: ds01.registry, 2 ms

    entry = by_name().get(name or "")
    if entry is None:
        return None
    table = entry[0]
    for param in command.params:
        if param.param_type_name != "option" or table.who != ANYONE:
            continue
        level = table.option_who(option_name(param))
        note = f"({WHO_TEXT[level]})" if level not in (None, ANYONE) else ""
        if note and note not in (param.help or ""):
            param.help = f"{param.help or ''} {note}".strip()
    return table


def _help_with_authority(command: click.Command) -> None:
    original = command.format_help

    def format_help(ctx: click.Context, formatter: click.HelpFormatter) -> None:
        table = mark_reserved(command, ctx.info_name)
        original(ctx, formatter)
        if table is not None:
            from ..registry import WHO_TEXT  # lazy: ds01.registry, 2 ms

            formatter.write_paragraph()
            formatter.write_text(f"Who may run it: {WHO_TEXT[table.who]}"
                                 + ("" if table.served else " (in-process, never through ds01d)") + ".")

    command.format_help = format_help  # type: ignore[method-assign]  # this command's help, wrapped
    command.ds01_marked = True  # type: ignore[attr-defined]  # ds01's own mark: standard() is idempotent


def table_entry(command: click.Command) -> Command | None:
    """The command table's entry for a click command (by its module), or None."""
    from ..registry import COMMANDS  # lazy: ds01.registry, 2 ms

    module = getattr(command.callback, "__module__", None)
    return next((c for c in COMMANDS if c.module == module), None)


def _show_info(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--info: DS01's full help: the help (with examples and who may run it), the output, the concepts."""
    if not value or ctx.resilient_parsing:
        return
    from .. import concepts  # lazy: ds01.concepts, 0.7 ms

    text = ctx.get_help()
    module = sys.modules.get(getattr(ctx.command.callback, "__module__", ""), None)
    output = getattr(module, "MAN_OUTPUT", None)
    if output:
        text += "\n\nOutput:\n  " + output
    table = table_entry(ctx.command)
    ideas = concepts.render(table.concepts if table else ())
    if ideas:
        text += "\n\nConcepts (--concepts shows only these):\n\n" + ideas
    click.echo(text)
    ctx.exit(0)


def _show_concepts(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--concepts: the ideas the command touches, before running it."""
    if not value or ctx.resilient_parsing:
        return
    from .. import concepts  # lazy: ds01.concepts, 0.7 ms

    table = table_entry(ctx.command)
    name = table.name if table else (ctx.info_name or prog())
    ideas = concepts.render(table.concepts if table else ())
    click.echo(f"{name}: {table.summary if table else ''}\n\n{ideas}" if ideas
               else f"{name}: no concepts to explain; {name} --info shows the full help")
    ctx.exit(0)


def _set_guided(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        ctx.meta["ds01.guided"] = True


def _generic_guided(command: click.Command, table: Command) -> None:
    """A command the table gives --guided with no steps of its own: ds01.guided.generic before its body."""
    body = cast("Callable[..., Any]", command.callback)  # a command the table names has its body

    def guided_body(*args: Any, **kwargs: Any) -> Any:  # click passes the options as they are declared
        ctx = click.get_current_context()
        if ctx.meta.get("ds01.guided"):
            from ..guided import generic  # lazy: ds01.guided, 2 ms

            generic(table, ctx)
        return body(*args, **kwargs)

    guided_body.__module__ = body.__module__
    guided_body.__doc__ = body.__doc__
    command.callback = guided_body


def _has(command: click.Command, option: str) -> bool:
    return any(option in p.opts for p in command.params)


def standard(command: C) -> C:
    """What every command has besides its own options: -h as --help, --version, --info and --concepts, and
    --guided where the command table gives it one (idempotent)."""
    if "help_option_names" not in command.context_settings:
        command.context_settings["help_option_names"] = ["-h", "--help"]
        command._help_option = None  # click caches the help option it made before (with --help alone)
    if not getattr(command, "ds01_marked", False):
        _help_with_authority(command)
    if not _has(command, "--version"):
        command.params.append(click.Option(["--version", "ds01_version"], is_flag=True, expose_value=False,
                                           is_eager=True, callback=_show_version,
                                           help="Show the version, build, install path, Python and Docker engine."))
    if not _has(command, "--info"):  # mlc-create keeps AIME's --info (its frameworks)
        command.params.append(click.Option(["--info", "ds01_info"], is_flag=True, expose_value=False,
                                           is_eager=True, callback=_show_info,
                                           help="The full help: examples, output, who may run it, concepts."))
    if not _has(command, "--concepts"):
        command.params.append(click.Option(["--concepts", "ds01_concepts"], is_flag=True, expose_value=False,
                                           is_eager=True, callback=_show_concepts,
                                           help="Explain the ideas this command touches, then exit."))
    table = table_entry(command)
    if table is not None and "--guided" in table.options and not _has(command, "--guided"):
        command.params.append(click.Option(["--guided", "ds01_guided"], is_flag=True, expose_value=False,
                                           callback=_set_guided,
                                           help="Step by step: the ideas, what it will do, a confirmation "
                                                "(pauses only on a terminal)."))
        _generic_guided(command, table)
    return command


def run(command: click.Command, args: Sequence[str] | None = None) -> None:
    """Entry point: run a click command with the contract's errors and exit codes."""
    name = prog()
    standard(command)
    try:
        code = command.main(args=args, prog_name=name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.UsageError as exc:
        sys.stderr.write(f"{name}: error: {exc.format_message()}\n  hint: {name} --help shows the usage\n")
        code = 2
    except click.exceptions.Abort:
        sys.stderr.write(f"{name}: aborted\n")
        code = 130
    except Ds01Error as exc:
        report(exc)
        code = exc.code
    except KeyboardInterrupt:
        sys.stderr.write(f"{name}: interrupted\n")
        code = 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error for a data producer.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except Exception as exc:
        lost = lost_engine(exc)
        if lost is None:
            raise
        report(lost)
        code = lost.code
    sys.exit(code or 0)


def lost_engine(exc: BaseException) -> Ds01Error | None:
    """The Ds01Error for the SDK's own errors (the engine went away mid-command, or answered oddly), None for
    anything else: a dockerd restart is an error line with a hint, never a traceback."""
    module = type(exc).__module__ or ""
    if not module.startswith(("requests", "urllib3", "docker")):
        return None
    return Ds01Error(f"lost the Docker engine mid-command: {type(exc).__name__}: {exc}",
                     hint="is dockerd running (systemctl status docker)? what was made is listed by "
                          "container-list -a; run the command again")


def new_output(json_flag: bool, table_flag: bool, columns: Sequence[tuple[str, str]] | None) -> Output:
    return Output(json_flag=json_flag, table_flag=table_flag, columns=columns)


def deprecated(old: str, new: str) -> None:
    """Legacy names keep working; on a terminal they say once what the new name is."""
    if is_tty(sys.stderr):
        sys.stderr.write(f"{old}: note: '{old}' is now '{new}'; the old name keeps working\n")


def session(name: str | None, command: Sequence[str], keep: bool, config: str | None, start: bool) -> int:
    """container-run (starts the container), container-attach (running ones only) and container-deploy's
    shell: the terminal check and pick list here, the session itself in sessions.open_session."""
    from .. import sessions  # lazy: ds01.sessions, 5 ms
    from ..runtime import Runtime  # lazy: ds01.runtime, 1 ms

    me = "container-run" if start else "container-attach"
    sessions.require_terminal(command, f"run one command instead: {me} {name or 'NAME'} -- COMMAND ARGS...")
    rt = Runtime(config)
    if not name:
        from ..pick import choose_container  # lazy: ds01.pick, 1 ms

        states = (*sessions.ENTERABLE, *sessions.STOPPED) if start else sessions.ENTERABLE
        rec = choose_container(rt, states, "startable" if start else "running", me)
    else:
        rec = rt.finder.find(name)
    code, outcome = sessions.open_session(rt, rec, command, keep, start_it=start)
    if outcome and (not command or sys.stderr.isatty()):
        if outcome == "stopped":
            sys.stderr.write(f"{rec['name']}: nothing else was running; container stopped "
                             f"(container-run {rec['name']} starts it again)\n")
        elif outcome == "kept":
            sys.stderr.write(f"{rec['name']}: processes still running; container kept running "
                             f"(container-stop {rec['name']} stops it)\n")
    return code


def mark_missing_name(argv: list[str], valued: Sequence[str] = ("--config",)) -> list[str]:
    """`cmd [OPTIONS] -- COMMAND...` with no NAME: put an empty NAME before `--`.

    Click drops `--` and would take COMMAND's first word as NAME; this keeps them apart.
    """
    if "--" not in argv:
        return argv
    cut = argv.index("--")
    i = 0
    while i < cut:
        word = argv[i]
        if not word.startswith("-") or word == "-":
            return argv  # a NAME is there
        i += 2 if word in valued else 1
    return argv[:cut] + [""] + argv[cut:]
