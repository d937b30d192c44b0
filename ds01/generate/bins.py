"""The bin/ executables: a name handed to the client (ds01/client.py), which runs it through ds01d."""

HEADER = "# Generated from ds01/registry.py by `make generate`; do not edit."
# -I: no user site-packages, no PYTHON* variables, no script directory on sys.path. pip rewrites the
# interpreter to the installation's and keeps the flag.
SHEBANG = "#!/usr/bin/env -S python3 -I"


def bin_script(command, name=None):
    """The executable `name` (the command's own, an alias or a legacy name) runs `command`. It names the
    module itself, so running in-process imports no registry."""
    if command.name == "ds01d":  # the broker itself: never a client
        return "\n".join([SHEBANG, HEADER, "from ds01.entry import run", f"run('ds01d', {command.module!r})"]) + "\n"
    name = name or command.name
    extra = f", renamed={command.name!r}" if name in command.legacy else ""
    extra += ", local=True" if not command.served else ""  # in-process only: never through ds01d
    call = f"main({name!r}, {command.module!r}{extra})"
    return "\n".join([SHEBANG, HEADER, "from ds01.client import main", call]) + "\n"


def dispatcher_script(noun):
    return "\n".join([SHEBANG, HEADER, "from ds01.client import main", f"main({noun!r}, 'ds01.cli.dispatch')"]) + "\n"


def isolate(directory, interpreter):
    """Make the installed copies of ds01's executables in `directory` start fast and isolated: the shebang
    `interpreter -IS` (pip writes the interpreter but drops flags), and the directory that holds the
    ds01 package put first on sys.path, so no `site` (6 ms, and every .pth file) runs before the client
    has asked ds01d. A command that runs in-process loads `site` then (client.in_process).
    Returns how many files it changed."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("ds01")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ds01 is not installed for this interpreter")
    home = os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))
    changed = 0
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            continue
        if len(lines) < 2 or not lines[1].startswith(HEADER):
            continue
        body = [line for line in lines[2:] if not line.startswith("import sys; sys.path.insert(0, ")]
        wanted = [f"#!{interpreter} -IS\n", lines[1], f"import sys; sys.path.insert(0, {home!r})\n", *body]
        if wanted != lines:
            with open(path, "w", encoding="utf-8") as handle:
                handle.writelines(wanted)
            changed += 1
    return changed
