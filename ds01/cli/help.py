"""help (also `commands`, `alias-list`, `aliases`): every command, grouped by layer, with its other names."""

import importlib
import os
import sys

import click

from .. import registry
from ..errors import NotFound
from ..registry import COMMON_OPTIONS, DISPATCHERS, LAYERS, option_name
from ._common import new_output, output_options, run


@click.command(epilog="""\b
Examples:
  help                            the reference, grouped by layer
  help --json | jq -r .name       every command name, for scripts
  help --layer gpu
  help --full                     every command with its options
  help --admin                    what is for admins: commands and options
  help container-run              one command's --help
See also: man ds01, container --help, ds01 --help""")
@click.argument("command", required=False)
@click.option("--layer", type=click.Choice([layer for layer, _ in LAYERS]),
              help="Only this layer.")
@click.option("--inside/--host", "inside", default=None,
              help="Describe what works inside a container (default: detected).")
@click.option("--full", is_flag=True, help="Also each command's options, those for admins marked.")
@click.option("--admin", "admin_part", is_flag=True,
              help="Only what is for admins: their commands, and the admin options of everyone's.")
@output_options
def cli(command, layer, inside, full, admin_part, json_flag, table_flag):
    """The command reference: each command's names, what it does, and where it works."""
    if command:
        names = registry.by_name()
        if command not in names:
            raise NotFound(f"no command {command!r}", hint="help lists them")
        sys.argv = [command, "--help"]
        importlib.import_module(names[command][0].module).main()
        return 0
    if inside is None:
        inside = in_container()
    out = new_output(json_flag, table_flag, None)
    records = [_record(c, inside, full or admin_part) for c in registry.COMMANDS if layer in (None, c.layer)]
    if admin_part:
        records = [dict(r, options=[o for o in r["options"] if o["who"] != "anyone"]) for r in records]
        records = [r for r in records if r["who"] != "anyone" or r["options"]]
    if out.table:
        out.renderer = lambda rows: _text(rows, inside, full or admin_part)
    for rec in records:
        out.emit(rec)
    out.close()
    return 0


def in_container():
    """True inside a Docker container (/.dockerenv, or docker/containerd in PID 1's cgroup)."""
    if os.path.exists("/.dockerenv"):
        return True
    try:
        with open("/proc/1/cgroup") as f:
            text = f.read()
    except OSError:
        return False
    return "/docker/" in text or "/docker-" in text or "containerd" in text


def _record(command, inside, options=False):
    rec = {"name": command.name, "layer": command.layer, "summary": command.summary,
           "legacy": list(command.legacy), "aliases": list(command.aliases),
           "space": f"{command.noun} {command.verb}" if command.verb and command.noun in DISPATCHERS else None,
           "host_only": not command.in_container, "available": command.in_container or not inside,
           "who": command.who}
    if options:
        rec["options"] = _options(command)
    return rec


def _options(command):
    """[{option, who, help}] from the command's own parser, classified by the command table."""
    cli = importlib.import_module(command.module).cli
    found = []
    for param in cli.params:
        if param.param_type_name != "option" or param.hidden or option_name(param) in COMMON_OPTIONS:
            continue  # the options every command has are listed once, at the end
        name = option_name(param)
        found.append({"option": ", ".join(param.opts), "who": command.option_who(name) or "anyone",
                      "help": (param.help or "").split(". ")[0].rstrip(".")})
    return found


def _text(rows, inside, options=False):
    width = max(len(r["name"]) for r in rows)
    lines = []
    if inside:
        lines += ["You are inside a container: commands marked (host) work only on the host;",
                  "leave the session (exit) to use them.", ""]
    for layer, title in LAYERS:
        group = [r for r in rows if r["layer"] == layer]
        if not group:
            continue
        lines.append(title)
        for r in group:
            others = r["aliases"] + [f"{n} (old)" for n in r["legacy"]]
            note = f"  [also: {', '.join(others)}]" if others else ""
            host = " (host)" if inside and r["host_only"] else ""
            who = {"admin": "(admins) ", "root": "(root) "}.get(r["who"], "")
            lines.append(f"  {r['name'].ljust(width)}  {who}{r['summary']}{host}{note}")
            for o in r.get("options", []) if options else []:
                mark = {"admin": "(admins) ", "root": "(root) "}.get(o["who"], "")
                lines.append(f"      {o['option']:<28} {mark}{o['help']}")
        lines.append("")
    if options:
        lines.append("Every command also takes --json, --table, --help and --version; --config PATH (admins).")
    lines.append("Space syntax: `container run x` = `container-run x`; `ds01 container run x` too.")
    lines.append("COMMAND --help shows its options; man COMMAND the full page.")
    return "\n".join(lines) + "\n"


def main():
    run(cli)
