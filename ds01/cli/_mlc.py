"""What the AIME `mlc-*` front-ends share: AIME's argument shapes over ds01's library and checks.

AIME's mlc.py parses with argparse, so its users type what argparse accepts: an unambiguous prefix of a
long option (`mlc list --arch`), `-w=/path` for a short option's value, and they read exit status 1 for
every refusal. `aime_command` gives a click command the same reading; `main` the same exit status.
"""

import sys

import click

from .. import __version__
from ..containers import owned_by
from ..errors import NotFound, UsageError
from ..pick import choose_container
from ._common import prog, run

AIME_VERSION = "2.2.0"  # the AIME MLC release whose syntax and output the front-ends follow
AIME_ERROR = 1          # AIME exits 1 for a usage error and for a container it cannot find
MAPPED = (UsageError.code, NotFound.code)


class CommandStatus(SystemExit):
    """The exit status of a command run in the container (mlc-start NAME COMMAND): passed on as it is."""


# AIME's own options per subcommand (mlc.py v2.2.0, get_flags): only these are read by prefix. ds01's and
# DS01's options (--json, --config, --image, --num-gpus, ...) must be typed in full, so none of them makes
# an AIME abbreviation ambiguous (`--num` stays `--num_gpus`, `--i` stays `--info`).
AIME_OPTIONS = {
    "create": ("-arch", "--architecture", "-d", "--data_dir", "-g", "--num_gpus", "-i", "--info", "-m",
               "--models_dir", "-s", "--script", "-w", "--workspace_dir"),
    "list": ("-a", "--all", "-au", "--all_users", "-arch", "--architecture", "-d", "--data", "-m", "--models",
             "-s", "--size", "-w", "--workspace"),
    "open": ("-s", "--script"),
    "remove": ("-f", "--force", "-s", "--script"),
    "start": ("-d", "--detach", "-s", "--script"),
    "stats": (),
    "stop": ("-f", "--force", "-s", "--script"),
}


def option_names(command):
    names = set(command.context_settings.get("help_option_names") or ["--help"])
    for param in command.params:
        names.update(getattr(param, "opts", ()))
        names.update(getattr(param, "secondary_opts", ()))
    return {n for n in names if n.startswith("-")}


def resolve_option(names, aime_names, word):
    """argparse's reading of an option word: itself if declared, else the one AIME option it is a prefix of.

    `--arch` is `--architecture`; `-arc` is ambiguous (`-a` with a value, or `-arch`) and refused, as argparse
    refuses it; `-as` stays a cluster of short flags. Ambiguity is a usage error naming the candidates."""
    if not word.startswith("-") or word in names or word == "--" or (word[1:2] != "-" and len(word) <= 2):
        return word
    matches = sorted(n for n in aime_names if n.startswith(word))
    if not word.startswith("--") and word[:2] in names:
        if not matches:
            return word  # a cluster of short options, or a short option's value written on: click reads it
        matches.append(word[:2])
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise click.exceptions.BadOptionUsage(word, f"ambiguous option: {word} could match {', '.join(matches)}")
    return word


def _valued(command):
    """The option names of `command` that take a value."""
    return {n for p in command.params if isinstance(p, click.Option) and not p.is_flag and not p.count
            for n in p.opts}


def aime_argv(command, aime_names, args):
    """`args` as argparse would read them, written out for click: each option word resolved to the option it
    abbreviates, `-w=/path` as `-w /path` (click would take `=/path`); values and words after `--` untouched."""
    names, valued = option_names(command), _valued(command)
    out: list[str] = []
    words = list(args)
    while words:
        word = words.pop(0)
        if word == "--":
            return out + [word] + words
        if not word.startswith("-") or len(word) < 2:
            out.append(word)
            continue
        head, eq, value = word.partition("=")
        name = resolve_option(names, aime_names, head)
        if name in names:
            if eq and len(name) == 2 and name[1] != "-":
                out += [name, value]  # `-w=/path`: argparse's reading
            else:
                out.append(name + eq + value)
            if name in valued and not eq and words:
                out.append(words.pop(0))  # its value, whatever it looks like
            continue
        out.append(word)  # a short cluster (`-sf`, `-w/path`) or unknown: click reads it
        cluster = word[1:]
        for i, char in enumerate(cluster):
            if "-" + char in valued:
                if i == len(cluster) - 1 and words:
                    out.append(words.pop(0))
                break
    return out


def aime_command(subcommand):
    """Read options as AIME's argparse does for `mlc SUBCOMMAND` (prefixes, `-x=value`). The authority check
    reads them the same way (ds01/authority.py parses with the command's own parser), so a prefix of an
    admin option is that admin option. Used bare (`@aime_command` on a command AIME never built), every
    option of the command is read by prefix."""
    if isinstance(subcommand, click.Command):
        return _aime_parsing(subcommand, None)
    return lambda command: _aime_parsing(command, {"-h", "--help", *AIME_OPTIONS[subcommand]})


def _aime_parsing(command, aime_names):
    parse_args = command.parse_args

    def parse_aime_args(ctx, args):
        try:
            args = aime_argv(command, aime_names or option_names(command), args)
        except click.exceptions.UsageError:
            if not ctx.resilient_parsing:
                raise
            args = []  # an ambiguous option: the authority check reads nothing; the command itself refuses it
        return parse_args(ctx, args)

    command.parse_args = parse_aime_args
    return command


def main(command):
    """`run` with AIME's exit status: 1 where ds01 says 2 (usage) or 4 (not found); a command's own status,
    quota (3) and permission (5) refusals as they are."""
    try:
        run(command)
    except CommandStatus:
        raise
    except SystemExit as exc:
        if exc.code in MAPPED:
            raise SystemExit(AIME_ERROR) from None
        raise


def version_line():
    """`mlc -v`: AIME's line (without its colour codes), then which ds01 answers it."""
    return f"AIME MLC version: {AIME_VERSION} (ds01 {__version__})"


def script_option(fn):
    return click.option("-s", "--script", is_flag=True,
                        help="Script mode: never prompt; a missing or wrong name is an error.")(fn)


def interactive(script):
    return not script and sys.stdin.isatty() and sys.stderr.isatty()


def target(rt, name, states, what, script, command, idle=None):
    """The caller's container `name` (or picked by number on a terminal), which must be in `states`.

    None (the command then exits 0, as AIME's does) when the caller has no containers at all, or, with `idle`
    (AIME's message for it), when none of theirs is in `states`."""
    mine = [r for r in rt.finder.records() if owned_by(r, rt.caller)]
    if not mine:
        say(f"Create at least one container. If not, {command.replace('-', ' ')} does not work.")
        return None
    if idle and not any(r["status"] in states for r in mine):
        say(idle)
        return None
    if name:
        rec = rt.finder.find(name)
        if rec["status"] in states:
            return rec
        if not interactive(script):
            raise UsageError(f"[{rec['name']}] is {rec['status']}: {command} takes {what} containers only")
        click.echo(f"[{rec['name']}] is {rec['status']}; choose a {what} container instead.", err=True)
    if not interactive(script):
        raise UsageError("no container name given", hint=f"{command} NAME -s")

    return choose_container(rt, states, what, command)


def confirm(question, force, script):
    """True without asking when forced or not on a terminal; else a (y/N) question."""
    if force or not interactive(script):
        return True
    return click.confirm(question, default=False, err=True)


def say(text):
    """AIME prints its messages on stdout; so do the front-ends (scripts grep them)."""
    click.echo(text)


def create_with_gpus(rt, request, ask, dry_run, create):
    """`create(request)` with the GPUs `ask` names (see mlc_create._gpu_ask), under ds01's quota and allocator:
    device=N claims those slots first (free, within the limits, or a refusal); all asks for as many slots as
    the quota allows now, and says on stderr what it got."""
    if ask == 0:
        request.cpu_only = True
    elif isinstance(ask, int):
        request.num_gpus = ask
    elif ask == "all":
        request.num_gpus = _most_slots(rt)
    if not (isinstance(ask, str) and ask.startswith("device=")):
        created = create(request)
        if ask == "all" and not dry_run:
            slots = [g["slot"] for g in created.plan.gpus]
            click.echo(f"{_prog()}: note: -g all: [{request.name}] has {len(slots)} GPU slot(s) "
                       f"({', '.join(slots) or 'none'}), all your quota allows now (AIME: every GPU on the host)",
                       err=True)
        return created
    allocator, claim = _claim_devices(rt, ask[len("device="):])
    request.claim = claim["claim"]
    try:
        created = create(request)
    except BaseException:
        allocator.release_claim(claim["claim"], rt.caller.login)
        raise
    if dry_run:
        allocator.release_claim(claim["claim"], rt.caller.login)
    return created


def _prog():
    return prog()


def _most_slots(rt):
    """How many GPU slots the caller could get for one container now (the per-container cap, the free slots,
    the GPU-equivalent quota); None on a host without GPUs (ds01's default then applies)."""
    from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms
    from ..gpu.choice import AllocationError, Request, choose  # lazy: ds01.gpu.choice, 4 ms

    allocator = Allocator(rt)
    slots = allocator.inventory.slots()
    if not slots:
        return None
    login = rt.caller.login
    limits = rt.limits(login)
    cap = limits["max_gpu_slots_per_container"]
    snap = allocator.snapshot()
    for count in range(min(len(slots), cap if cap is not None else len(slots)), 0, -1):
        try:
            choose(snap, login, limits, Request(count), allocator.strategy)
        except AllocationError:
            continue
        return count
    return 1  # nothing fits now: one slot, and the allocator's refusal says why


def _claim_devices(rt, spec):
    """A claim on the GPU slots `-g device=N[,M]` names (a slot id as gpu-status shows it, N:M for a MIG slice,
    or a UUID): each must be free for the caller, and all of them within the caller's limits."""
    from ..gpu.allocator import Allocator  # lazy: ds01.gpu.allocator, 11 ms
    from ..gpu.choice import AllocationError, check_claim  # lazy: ds01.gpu.choice, 4 ms

    wanted = [w.strip().replace(":", ".") for w in spec.split(",") if w.strip()]
    if not wanted:
        raise UsageError("-g device= needs a GPU slot, e.g. -g device=0", hint="gpu-status lists the slots")
    allocator = Allocator(rt)
    login = rt.caller.login
    with allocator.state.lock():
        snap = allocator.snapshot()
        slots = []
        for word in wanted:
            slot = snap.by_id.get(word) or next((s for s in snap.slots if s.uuid == word), None)
            if slot is None:
                raise NotFound(f"-g device={word}: there is no GPU slot {word} on this host",
                               hint="gpu-status lists the slots (SLOT column)")
            state = snap.state(slot.id, login)
            if state != "free":
                raise AllocationError("SLOT_TAKEN", slot.id, f"-g device={word}: GPU slot {slot.id} is {state}",
                                      hint="gpu-status shows who holds what; -g 1 takes any free slot")
            slots.append(slot)
        check_claim(snap, login, rt.limits(login), f"-g device={spec}", [s.id for s in slots])
        return allocator, allocator.write_claim(login, slots)
