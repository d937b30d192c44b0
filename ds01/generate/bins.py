"""The bin/ executables: a name handed to the client (ds01/client.py), which runs it through ds01d."""

HEADER = "# Generated from ds01/registry.py by `make generate`; do not edit."
# -I: no user site-packages, no PYTHON* variables, no script directory on sys.path. pip rewrites the
# interpreter to the installation's and keeps the flag.
SHEBANG = "#!/usr/bin/env -S python3 -I"
CLIENT = "ds01-client"  # the C client (ds01/client.c), built next to the installed scripts
CLIENT_IMPORT = "from ds01.client import main\n"


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


def client_defines(interpreter):
    """The C client's constants, from ds01/protocol.py (the one place they are written) and the interpreter it
    hands everything else to, as `#define` lines."""
    import json

    from .. import protocol

    def strings(values):
        return "{" + ", ".join(json.dumps(v) for v in values) + "}"

    values = {"DS01_MAGIC": json.dumps(protocol.MAGIC), "DS01_PASSED": strings(protocol.PASSED),
              "DS01_PASSED_PREFIXES": strings(protocol.PASSED_PREFIXES),
              "DS01_FORWARDED": "{" + ", ".join(str(n) for n in protocol.FORWARDED) + "}",
              "DS01_DEFAULT_SOCKET": json.dumps(protocol.DEFAULT_SOCKET),
              "DS01_SOCKET_VARIABLE": json.dumps(protocol.SOCKET_VARIABLE), "DS01_PYTHON": json.dumps(interpreter)}
    return "".join(f"#define {name} {value}\n" for name, value in values.items())


def build_client(directory, interpreter, warnings_fail=False):
    """Compile ds01/client.c to `directory`/ds01-client for `interpreter`; its path, or None where the machine
    has no C compiler or it fails (said on stderr; the scripts then start the Python client, 7 ms slower).
    `warnings_fail`: a warning fails it too (the tests' build)."""
    import os
    import shutil
    import subprocess
    import sys

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "client.c")
    with open(source, encoding="utf-8") as handle:
        text = client_defines(interpreter) + f'#line 1 "{source}"\n' + handle.read()
    target = os.path.join(directory, CLIENT)
    partial = target + ".new"
    flags = ["-O2", "-Wall", "-Wextra", *(["-Werror"] if warnings_fail else [])]
    try:
        subprocess.run([compiler, *flags, "-x", "c", "-", "-o", partial], input=text, text=True, check=True)
    except subprocess.CalledProcessError:
        if warnings_fail:
            raise
        sys.stderr.write(f"ds01: {compiler} could not build the C client; the commands start the Python client\n")
        return None
    os.chmod(partial, 0o755)  # noqa: S103 - every account runs it, as every installed script
    os.replace(partial, target)
    return target


def isolate(directory, interpreter):
    """Make the installed copies of ds01's executables in `directory` start fast and isolated. A served
    command's shebang is the C client built here (ds01/client.c: no interpreter starts before ds01d answers);
    the others', and every one where no compiler is found, `interpreter -IS` (pip writes the interpreter but
    drops flags). Each gets the directory that holds the ds01 package first on sys.path, so no `site` (6 ms,
    and every .pth file) runs before the client has asked ds01d. A command that runs in-process loads `site`
    then (client.in_process). Returns how many files it changed."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("ds01")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ds01 is not installed for this interpreter")
    home = os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))
    fast = build_client(os.path.abspath(directory), interpreter)
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
        served = CLIENT_IMPORT in body and not any("local=True" in line for line in body)
        shebang = f"#!{fast}\n" if fast and served else f"#!{interpreter} -IS\n"
        wanted = [shebang, lines[1], f"import sys; sys.path.insert(0, {home!r})\n", *body]
        if wanted != lines:
            with open(path, "w", encoding="utf-8") as handle:
                handle.writelines(wanted)
            changed += 1
    return changed
