"""Writes the files derived from the registry (bin/ executables); `--check` reports drift instead."""

import argparse
import os
import sys

from .registry import COMMANDS

HEADER = "# Generated from ds01/registry.py by `make generate`; do not edit."


def bin_script(command, legacy=None):
    lines = ["#!/usr/bin/env python3", HEADER]
    if legacy:
        lines.append("from ds01.cli._common import deprecated")
        lines.append(f"deprecated({legacy!r}, {command.name!r})")
    lines.append(f"from {command.module} import main")
    lines.append("main()")
    return "\n".join(lines) + "\n"


def expected_files():
    files = {}
    for command in COMMANDS:
        files[os.path.join("bin", command.name)] = bin_script(command)
        for old in command.legacy:
            files[os.path.join("bin", old)] = bin_script(command, legacy=old)
    return files


def generated_dirs():
    return ("bin",)


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
            if rel not in expected:
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
                os.chmod(path, 0o755)
    if args.check and drift:
        sys.stderr.write("generated files drifted from the registry (run `make generate`):\n")
        sys.stderr.write("".join(f"  {line}\n" for line in drift))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
