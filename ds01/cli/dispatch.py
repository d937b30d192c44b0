"""Dispatchers: `container stop x` and `ds01 container stop x` run `container-stop x`, in this process.

Same arguments, stdin, stdout and exit code as the command itself; the command's own name is
what its errors carry. `container` alone or `container --help` lists the verbs.
"""

import importlib
import os
import sys


def _verbs_text(noun):
    from ..registry import verbs  # lazy: ds01.registry, 1 ms on ds01 __complete

    rows = []
    for verb, (command, name) in verbs(noun).items():
        if name != command.name and name.startswith(noun + "-"):
            continue  # legacy names work but are not advertised
        note = f" (= {command.name})" if name != f"{noun}-{verb}" else ""
        rows.append((verb, command.summary + note))
    width = max((len(v) for v, _ in rows), default=0)
    lines = [f"Usage: {noun} VERB [ARGS]...   (the same as {noun}-VERB [ARGS]...)", "", "Verbs:"]
    lines += [f"  {verb.ljust(width)}  {summary}" for verb, summary in rows]
    lines += ["", f"{noun} VERB --help shows a verb's options."]
    return "\n".join(lines) + "\n"


def _nouns_text():
    from ..registry import DISPATCHER_SUMMARIES, DISPATCHERS, verbs  # lazy: ds01.registry, 1 ms on ds01 __complete

    nouns = [n for n in DISPATCHERS if verbs(n)]
    width = max(len(n) for n in nouns)
    lines = ["Usage: ds01 NOUN VERB [ARGS]...   (the same as NOUN-VERB [ARGS]...)", "", "Nouns:"]
    lines += [f"  {n.ljust(width)}  {DISPATCHER_SUMMARIES.get(n, '')}" for n in nouns]
    lines += ["", "ds01 NOUN --help lists a noun's verbs."]
    return "\n".join(lines) + "\n"


def dispatch(noun, args, prog):
    """Run `noun-args[0]` with the rest of args; returns only for help (0) or a usage error (2)."""
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(_verbs_text(noun))
        return 0
    from ..registry import verbs  # lazy: ds01.registry, 1 ms on ds01 __complete

    table = verbs(noun)
    verb = args[0]
    if noun == "mlc" and (verb == "-v" or (verb.startswith("--v") and "--version".startswith(verb))):
        from ._mlc import version_line  # lazy: click, 18 ms on ds01 __complete. AIME's `mlc -v` (--v, --ver...)

        sys.stdout.write(version_line() + "\n")
        return 0
    if verb in ("--version", "version") and verb not in table:
        return _run("version", args[1:])
    if verb not in table:
        sys.stderr.write(f"{prog}: error: unknown verb {_shown(verb)}\n  hint: {_suggest(verb, table, prog)}\n")
        return 1 if noun == "mlc" else 2  # AIME's mlc exits 1 for an unknown command
    command, name = table[verb]
    sys.argv = [name, *args[1:]]
    if name != command.name:
        from ._common import deprecated  # lazy: click, 18 ms on ds01 __complete

        deprecated(name, command.name)

    importlib.import_module(command.module).main()
    return 0


def _shown(word):
    from ..visible import visible  # lazy: ds01.visible, 0.5 ms on ds01 __complete

    return repr(visible(word))


def _suggest(word, choices, prog):
    """`did you mean start?` for `strat`; else where the list is."""
    import difflib  # lazy: difflib, 1 ms

    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    if close:  # a second guess only when it is as close as the first (contaner: container, not devcontainer)
        best = difflib.SequenceMatcher(None, word, close[0]).ratio()
        close = [c for c in close if difflib.SequenceMatcher(None, word, c).ratio() >= best - 0.05]
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + f"? ({prog} --help lists them)"
    return f"{prog} --help lists them"


def _run(name, args):
    """Run the command `name` with `args` in this process (ds01 version, container --version)."""
    from ..registry import by_name  # lazy: ds01.registry, 1 ms on ds01 __complete

    command, _ = by_name()[name]
    sys.argv = [name, *args]
    importlib.import_module(command.module).main()
    return 0


def main(noun: str) -> None:
    prog = os.path.basename(sys.argv[0]) or noun
    args = sys.argv[1:]
    if noun == "ds01" and args[:1] == ["__complete"]:  # shell completion's helper (completions/)
        from ..completion_values import main as complete  # lazy: 17 ms, only ds01 __complete needs it

        sys.exit(complete(args[1:]))
    if noun == "ds01":
        from ..registry import DISPATCHERS, verbs  # lazy: ds01.registry, 1 ms on ds01 __complete

        if not args or args[0] in ("-h", "--help", "help"):
            sys.stdout.write(_nouns_text())
            sys.exit(0)
        if args[0] in ("version", "--version"):
            sys.exit(_run("version", args[1:]))
        if args[0] not in DISPATCHERS:
            hint = _suggest(args[0], [n for n in DISPATCHERS if verbs(n)], "ds01")
            sys.stderr.write(f"ds01: error: unknown noun {_shown(args[0])}\n  hint: {hint}\n")
            sys.exit(2)
        noun, args, prog = args[0], args[1:], f"ds01 {args[0]}"
    sys.exit(dispatch(noun, args, prog))
