"""Build time: writes every file derived from the registry and the schemas; `--check` reports drift instead.

`python -m ds01.generate` (make generate). bin/ (`bins.py`), man pages (`manpages.py`), bash and
zsh completion scripts (`completion_scripts.py`), docs/config.md (`config_doc.py`) and the Grafana
dashboards (`grafana.py`); the policy's key tables rendered by both docs/config.md and
ds01-resource-limits(5) come from one place (`schema_rows.py`). Nothing here runs when a user runs a command.
"""

import argparse
import os
import sys

from .. import registry
from .bins import HEADER, bin_script, dispatcher_script


def expected_files():
    from ..registry import DISPATCHERS, verbs
    from .completion_scripts import expected_completions
    from .config_doc import config_reference
    from .grafana import expected_dashboards
    from .manpages import expected_pages

    files = {os.path.join("docs", "config.md"): config_reference()}
    for noun in (*(n for n in DISPATCHERS if verbs(n)), "ds01"):  # a noun appears with its first verb
        files[os.path.join("bin", noun)] = dispatcher_script(noun)
    for command in registry.COMMANDS:
        files[command.path] = bin_script(command)
        for name in (*command.aliases, *command.legacy):
            files[os.path.join("bin", name)] = bin_script(command, name)

    files.update(expected_pages())
    files.update(expected_completions())
    files.update(expected_dashboards())
    return files


def generated_dirs():
    return ("bin", "libexec/ds01", "man/man1", "man/man5", "man/man7", "completions",
            "etc/grafana/dashboards")


def _is_generated(root, rel):
    """libexec/ds01 may hold hand-written programs: only files with our header are ours."""
    if not rel.startswith("libexec"):
        return True
    path = os.path.join(root, rel)
    try:
        with open(path, encoding="utf-8") as handle:
            return HEADER in handle.read(512)
    except (OSError, UnicodeDecodeError):
        return False


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
        current = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                current = handle.read()
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
