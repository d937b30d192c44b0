"""Man pages from the click definitions, docs/records.md and the policy schema (`make generate`).

Each command's page: its click usage, docstring and options; the record schemas that name it in
docs/records.md; examples, notes and "see also" from its --help epilog. Legacy names and aliases
are `.so` links to it; dispatchers get a page listing their verbs.
"""

import importlib
import os
import re

from .. import registry

SECTION_TITLE = "ds01 manual"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FILES = (
    ("/etc/ds01/resource-limits.yaml", "the policy: limits per group and user (ds01-resource-limits(5))"),
    ("/etc/ds01/groups/GROUP.members", "group members, one login per line"),
    ("~/workspace/NAME", "a container's /workspace and its image's Dockerfile"),
    ("/var/log/ds01/events.jsonl", "the event log: one JSON object per change (ds01-events)"),
    ("/etc/ds01/lifecycle-exemptions.yaml", "users the lifecycle jobs leave alone, with reason and expiry"),
)
EXIT_CODES = (
    ("0", "ok (an empty list too)"), ("1", "failure"), ("2", "usage: bad arguments, invalid names"),
    ("3", "no capacity or over quota"), ("4", "not found"), ("5", "permission denied"),
)


def environment_rows():
    """(variables, meaning) of every documented setting (ds01.settings.TABLE)."""
    from ..settings import TABLE

    return [(", ".join(s.env), s.doc) for s in TABLE if s.documented]


def esc(text):
    """Roff-escape running text: backslashes, hyphens, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)  # groff's Unicode escape
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)


def inline(markdown):
    """Markdown inline to roff: `code` bold, [text](link) as text."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", markdown)
    parts = re.split(r"`([^`]*)`", text)
    return "".join(f"\\fB{esc(p)}\\fR" if i % 2 else esc(p) for i, p in enumerate(parts))


def markdown_to_roff(text):
    """The subset docs/records.md uses: paragraphs and tables (rendered as tagged paragraphs)."""
    out: list[str] = []
    paragraph: list[str] = []

    def flush():
        if paragraph:
            out.extend([".PP", inline(" ".join(paragraph))])
            paragraph.clear()

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|"):
            flush()
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-: ") or cells[0] in ("key", "code"):
                continue  # header and separator rows
            out.extend([".TP", inline(cells[0]), " \\(em ".join(inline(c) for c in cells[1:] if c)])
        elif not line:
            flush()
        else:
            paragraph.append(line)
    flush()
    return out


def record_sections(path=None):
    """{heading: body} of docs/records.md."""
    path = path or os.path.join(REPO, "docs", "records.md")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    sections = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        sections[heading.strip()] = body.strip()
    return sections


def records_for(name, sections):
    """Record sections that name the command in their heading or their "Printed by" sentence."""
    chosen = []
    for heading, body in sections.items():
        first = body.split("\n\n")[0]
        printed_by = first if first.startswith("Printed by") else ""
        if f"`{name}`" in heading or f"`{name}" in heading or f"`{name}`" in printed_by:
            chosen.append((heading, body))
    return chosen


def split_epilog(epilog):
    """(examples, notes, see_also) from a --help epilog."""
    examples, notes, see = [], [], []
    mode = None
    for line in (epilog or "").replace("\b", "").splitlines():
        if not line.strip():
            continue
        if line.startswith("Examples:"):
            mode = "examples"
        elif line.startswith("See also:"):
            see = [s.strip() for s in re.split(r",\s*", line[len("See also:"):]) if s.strip()]
            mode = None
        elif mode == "examples" and line.startswith("  "):
            examples.append(line.strip())
        else:
            mode = None
            notes.append(line.strip())
    return examples, notes, see


def _header(name, section, summary):
    return [f'.TH {name.upper().replace("_", "-")} {section} "" "ds01" "{SECTION_TITLE}"', ".SH NAME",
            f"{esc(name)} \\- {esc(summary)}"]


def _options(click_command, ctx):
    lines = []
    for param in click_command.get_params(ctx):
        if param.param_type_name != "option" or param.hidden:
            continue
        names = ", ".join(f"\\fB{esc(o)}\\fR" for o in (*param.opts, *param.secondary_opts))
        metavar = "" if param.is_flag else " \\fI" + esc(param.make_metavar(ctx)) + "\\fR"
        help_text = param.help or ""
        if param.show_default and param.default not in (None, False):
            help_text += f" (default: {param.default})"
        lines.extend([".TP", names + metavar, esc(help_text)])
    return lines


def authority_text(command):
    """Who may run the command and its options, as ds01d enforces it (the command table)."""
    text = f"Who may run it: {registry.WHO_TEXT[command.who]}"
    text += "; ds01d serves it" if command.served else "; it runs in-process, never through ds01d"
    if command.admin_options:
        text += f"; {', '.join(command.admin_options)} only for admins"
    return text + "."


def command_page(command, sections=None):
    """The man(1) page of one registry command."""

    sections = record_sections() if sections is None else sections
    module = importlib.import_module(command.module)
    from ..cli._common import mark_reserved, standard

    cli = standard(module.cli)
    mark_reserved(cli, command.name)
    ctx = cli.make_context(command.name, [], resilient_parsing=True)  # context_settings apply (-h)
    usage = " ".join(cli.collect_usage_pieces(ctx))
    examples, notes, see = split_epilog(cli.epilog)
    lines = _header(command.name, 1, command.summary)
    lines += [".SH SYNOPSIS", f"\\fB{esc(command.name)}\\fR {esc(usage)}"]
    if command.verb and command.noun in registry.DISPATCHERS:
        lines += [".br", f"\\fB{esc(command.noun)} {esc(command.verb)}\\fR {esc(usage)}"]
    lines += [".SH DESCRIPTION"]
    for paragraph in (cli.help or "").strip().split("\n\n"):
        lines += [".PP", esc(" ".join(p.strip() for p in paragraph.splitlines()))]
    lines += [".PP", esc(authority_text(command))]
    if command.legacy or command.aliases:
        others = ", ".join(command.aliases + command.legacy)
        lines += [".PP", esc(f"Also callable as: {others}.")
                  + (" The old names print a one-line note on a terminal." if command.legacy else "")]
    lines += [".SH OPTIONS", *_options(cli, ctx)]
    from ..concepts import CONCEPTS, known

    if known(command.concepts):  # what --concepts prints (ds01/concepts.py)
        lines += [".SH CONCEPTS"]
        for idea in known(command.concepts):
            title, text = CONCEPTS[idea]
            lines += [".TP", f"\\fB{esc(title)}\\fR", esc(text)]
    lines += [".SH OUTPUT"]
    found = records_for(command.name, sections)
    output_text = getattr(module, "MAN_OUTPUT", None)
    if output_text:
        lines += [".PP", esc(output_text)]
    for heading, body in found:
        lines += [".SS", inline(heading), *markdown_to_roff(body)]
    if not found and not output_text:
        lines += [".PP", "Messages for people on standard error; no records."]
    if found:
        lines += [".PP", esc("On a terminal the records form a table (--table forces it); piped or with "
                             "--json, one JSON object per line. The keys are stable; see docs/records.md.")]
    lines += [".SH EXIT STATUS"]
    for code, meaning in EXIT_CODES:
        lines += [".TP", f"\\fB{code}\\fR", esc(meaning)]
    lines += [".PP", "A batch reports every target and exits with the worst code."]
    if examples:
        lines += [".SH EXAMPLES"]
        for example in examples:
            text, _, comment = example.partition("  ")  # two spaces part a command from its comment
            lines += [".PP", ".nf", f"\\fB{esc(text.strip())}\\fR", ".fi"]
            if comment.strip():
                lines += [".RS", esc(comment.strip()), ".RE"]
    if notes:
        lines += [".SH NOTES", ".PP", esc(" ".join(notes))]
    lines += [".SH ENVIRONMENT"]
    for key, meaning in environment_rows():
        lines += [".TP", f"\\fB{key}\\fR", esc(meaning)]
    lines += [".SH FILES"]
    for path, meaning in FILES:
        lines += [".TP", f"\\fI{esc(path)}\\fR", esc(meaning)]
    refs = [f"\\fB{esc(s)}\\fR(1)" for s in see if s.split()[0] in registry.by_name()]
    refs += ["\\fBds01\\fR(7)", "\\fBds01\\-resource\\-limits\\fR(5)"]
    lines += [".SH SEE ALSO", ", ".join(refs)]
    return "\n".join(lines) + "\n"


def dispatcher_page(noun):
    from ..registry import DISPATCHER_SUMMARIES, verbs

    lines = _header(noun, 1, DISPATCHER_SUMMARIES.get(noun, "run a ds01 command by noun and verb"))
    lines += [".SH SYNOPSIS", f"\\fB{esc(noun)}\\fR \\fIVERB\\fR [\\fIARGS\\fR]...", ".SH DESCRIPTION", ".PP",
              esc(f"`{noun} VERB ARGS...` runs the command {noun}-VERB with ARGS: the same options, standard "
                  f"input, output and exit code. `{noun}` alone or --help lists the verbs.").replace("`", ""),
              ".SH VERBS"]
    seen = []
    for verb, (command, name) in verbs(noun).items():
        if name != command.name and name.startswith(noun + "-"):
            continue
        lines += [".TP", f"\\fB{esc(verb)}\\fR", esc(f"{command.summary} ({command.name}(1))")]
        seen.append(command.name)
    lines += [".SH EXIT STATUS", ".PP", "That of the command run; 2 for an unknown verb.", ".SH SEE ALSO",
              ", ".join(f"\\fB{esc(n)}\\fR(1)" for n in seen[:8]) + ", \\fBds01\\fR(7)"]
    return "\n".join(lines) + "\n"


def ds01_dispatcher_page():
    from ..registry import DISPATCHERS, verbs

    nouns = [n for n in DISPATCHERS if verbs(n)]
    lines = _header("ds01", 1, "run any ds01 command as ds01 NOUN VERB")
    lines += [".SH SYNOPSIS", "\\fBds01\\fR \\fINOUN\\fR \\fIVERB\\fR [\\fIARGS\\fR]...", ".SH DESCRIPTION", ".PP",
              esc("ds01 NOUN VERB ARGS... is NOUN-VERB ARGS...; the nouns are: " + ", ".join(nouns) + "."),
              ".PP", esc("The overview of the toolkit is ds01(7)."),
              ".SH SEE ALSO", ", ".join(f"\\fB{esc(n)}\\fR(1)" for n in nouns) + ", \\fBds01\\fR(7)"]
    return "\n".join(lines) + "\n"


def limits_page():
    """ds01-resource-limits(5): every policy key, from the schema in ds01/policy.py."""
    from .. import policy as P
    from ..schema import Section
    from .schema_rows import POLICY_INTRO, rows

    lines = _header("ds01-resource-limits", 5, "the ds01 policy file: limits per group and user")
    lines += [".SH SYNOPSIS", "\\fI/etc/ds01/resource\\-limits.yaml\\fR", ".SH DESCRIPTION"]
    for paragraph in POLICY_INTRO:
        lines += [".PP", inline(paragraph)]

    def table(title, keys, defaults=None, aliases=None):
        lines.append(".SH " + esc(title.upper()))
        for key, kind, default, doc in rows(keys, defaults):
            tail = f" Default: {default}." if default else ""
            lines.extend([".TP", f"\\fB{esc(key)}\\fR ({esc(kind)})", esc(f"{doc}.{tail}".replace("..", "."))])
        if aliases:
            lines.extend([".PP", esc("Old names still read: " + ", ".join(f"{a} = {n}" for a, n in aliases.items())
                                     + ".")])

    table("Limits (defaults, groups.NAME, user_overrides.USER)", P.LIMIT_KEYS, P.BUILTIN_LIMITS, P.LIMIT_ALIASES)
    lines.extend([".PP", "Groups also take \\fBmembers\\fR (a list of logins) and \\fBdescription\\fR."])
    table("aggregate (per user, all containers)", P.AGGREGATE_KEYS)
    table("policies (global, or per group or user)", P.POLICY_KEYS, P.BUILTIN_POLICIES)
    table("Top-level sections", {k: v for k, v in P.TOP_KEYS.items()})
    for key, spec in P.TOP_KEYS.items():
        if isinstance(spec, Section) and key not in ("defaults", "policies"):
            table(f"{key} section", spec.keys)
    lines += [".SH EXAMPLES", ".nf", *[esc(line) for line in EXAMPLE_POLICY.splitlines()], ".fi",
              ".SH FILES", ".TP", "\\fI/etc/ds01/groups/GROUP.members\\fR", "members of GROUP, one login per line",
              ".TP", "\\fI/etc/ds01/user\\-overrides.yaml\\fR", "per-user overrides (win over user_overrides:)",
              ".SH SEE ALSO", "\\fBresource\\-limits\\fR(1), \\fBcontainer\\-create\\fR(1), \\fBds01\\fR(7)"]
    return "\n".join(lines) + "\n"


EXAMPLE_POLICY = """\
defaults:
  max_cpus: 8
  memory: 32g
  shm_size: 16g
  max_gpu_equivalents: 1
  idle_timeout_h: 2
default_group: student
groups:
  researcher:
    max_gpu_equivalents: 4
    max_containers_per_user: 5
user_overrides:
  alice:
    max_runtime_h: null"""


OVERVIEW = """\
ds01 runs a shared GPU server for a research lab. Researchers build images from the AIME \
ML-container catalog, create containers with the limits the lab's policy gives them, get a GPU \
or MIG slice allocated fairly, and leave; cron jobs stop idle containers and free their GPUs.
Every command is a small executable that prints records: a table on a terminal, one JSON \
object per line when piped or with --json. Commands that act on containers take names as \
arguments or read records from standard input, so they compose: container-list | container-stop.
Containers stay compatible with AIME MLC: they carry the aime.mlc labels and NAME._.UID names, \
and AIME's own mlc lists, opens, stops and removes them."""

WORKFLOW = (
    ("image-create thesis -f pytorch -t nlp", "write ~/workspace/thesis/Dockerfile from the catalog and build it"),
    ("container-create thesis", "a container from your image, with your limits and a GPU slot"),
    ("container-run thesis", "a shell in /workspace; the last exit stops an idle container"),
    ("container-list | container-stop", "stop all your running containers"),
    ("container-remove thesis", "remove it; the workspace stays"),
)


def overview_page():
    lines = _header("ds01", 7, "a shared GPU server for a research lab: images, containers, GPUs, limits")
    lines += [".SH DESCRIPTION"]
    for paragraph in OVERVIEW.split("\n"):
        lines += [".PP", esc(paragraph)]
    lines += [".SH WORKFLOW"]
    for command, meaning in WORKFLOW:
        lines += [".TP", f"\\fB{esc(command)}\\fR", esc(meaning)]
    lines += [".SH COMMANDS"]
    for layer, title in registry.LAYERS:
        group = [c for c in registry.COMMANDS if c.layer == layer]
        if group:
            lines += [".SS", esc(title)]
            for entry in group:
                lines += [".TP", f"\\fB{esc(entry.name)}\\fR(1)", esc(entry.summary)]
    lines += [".SH PIPES", ".PP", esc("Records flow between commands: container-list -a --json | container-start; "
                                      "image-list | image-delete; gpu-allocate --num-gpus 2 | container-create "
                                      "exp IMAGE. Plain names one per line, NDJSON and JSON arrays all work."),
              ".SH CRON JOBS", ".PP",
              esc("The lifecycle jobs in /etc/cron.d/ds01 stop idle containers, enforce the maximum runtime and "
                  "release the GPUs of containers stopped longer than the policy's hold times."),
              ".SH EXIT STATUS"]
    for code, meaning in EXIT_CODES:
        lines += [".TP", f"\\fB{code}\\fR", esc(meaning)]
    lines += [".SH SEE ALSO", "\\fBhelp\\fR(1), \\fBds01\\-resource\\-limits\\fR(5), \\fBcontainer\\-create\\fR(1), "
              "\\fBimage\\-create\\fR(1), \\fBgpu\\-status\\fR(1)"]
    return "\n".join(lines) + "\n"


def expected_pages():
    """{path under the repo: text} of every man page."""
    sections = record_sections()
    pages = {}
    for command in registry.COMMANDS:
        pages[f"man/man1/{command.name}.1"] = command_page(command, sections)
        for other in (*command.aliases, *command.legacy):
            pages[f"man/man1/{other}.1"] = f".so man1/{command.name}.1\n"
    for noun in registry.DISPATCHERS:
        if registry.verbs(noun):
            pages[f"man/man1/{noun}.1"] = dispatcher_page(noun)
    pages["man/man1/ds01.1"] = ds01_dispatcher_page()
    pages["man/man5/ds01-resource-limits.5"] = limits_page()
    pages["man/man7/ds01.7"] = overview_page()
    return pages
