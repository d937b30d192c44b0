"""The Dockerfile image-create writes and image-update edits.

Readable, and structured by marker comments: each package phase sits between
`# ds01:begin KIND PHASE` and `# ds01:end KIND PHASE`, so image-update rewrites exactly
those blocks and keeps everything else a user edited. Package lists are written in exec
form (JSON arrays), never into a shell line; the account is created from build arguments.
"""

import json
import re
import shlex
from dataclasses import dataclass, field

from ..errors import PermissionDenied, UsageError
from . import account

PIP_PHASES = ("framework", "requirements", "jupyter", "data-science", "use-case", "additional")
APT_PHASE = "system"
PHASE_TITLES = {
    "system": "system packages (apt)", "framework": "framework packages", "requirements": "your requirements file",
    "jupyter": "Jupyter", "data-science": "data science", "use-case": "use-case packages",
    "additional": "additional packages",
}
APT_SCRIPT = ('apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"'
              ' && rm -rf /var/lib/apt/lists/*')
PIP_PREFIX = ["pip", "install", "--no-cache-dir"]
APT_PREFIX = ["sh", "-c", APT_SCRIPT, "ds01-apt"]
ENVIRONMENT = (("PYTHONUNBUFFERED", "1"), ("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
               ("HF_HOME", "/workspace/.cache/huggingface"), ("TORCH_HOME", "/workspace/.cache/torch"),
               ("MPLCONFIGDIR", "/workspace/.cache/matplotlib"))
BEGIN_RE = re.compile(r"^# ds01:begin (pip|apt) ([a-z-]+)\s*$")
OPTIONS_WITH_VALUE = ("--index-url", "--extra-index-url", "-i")


@dataclass
class Spec:
    name: str
    image: str
    login: str
    uid: int
    gid: int
    sudoers: str
    base_image: str
    framework: str            # AIME's label value, e.g. Pytorch-2.7.1, or "custom"
    arch: str | None
    use_case: str
    jupyter: bool
    created: str
    phases: dict = field(default_factory=dict)        # phase -> [package]
    pip_options: dict = field(default_factory=dict)   # phase -> [pip option], e.g. a CPU wheel index



def build_args(login, uid, gid, sudoers, name):
    """The build arguments that bake the caller's account in (ds01 passes them on every build)."""
    return {"DS01_USER_ID": str(uid), "DS01_GROUP_ID": str(gid), "DS01_USERNAME": login, "DS01_SUDOERS": sudoers,
            "DS01_IMAGE_NAME": name}


def block(kind, phase, packages, options=()):
    """One marked phase; an empty phase keeps its markers so image-update can fill it."""
    lines = [f"# ds01:begin {kind} {phase}"]
    if packages:
        prefix = (PIP_PREFIX + list(options)) if kind == "pip" else APT_PREFIX
        words = [json.dumps(w) for w in prefix]
        items = [json.dumps(p) for p in packages]
        lines.append("RUN [" + ", ".join(words) + ", \\")
        lines += [f"     {item}, \\" for item in items[:-1]]
        lines.append(f"     {items[-1]}]")
    lines.append(f"# ds01:end {kind} {phase}")
    return "\n".join(lines)


def render(spec):
    """The Dockerfile text for `spec`."""
    header = [
        f"# ds01 image {spec.image} for {spec.login}",
        f"# Framework: {spec.framework}" + (f" ({spec.arch})" if spec.arch else "") + f"; use case: {spec.use_case}",
        f"# Written by image-create on {spec.created}. Edit it freely: image-update rewrites only the",
        "# blocks between '# ds01:begin' and '# ds01:end'. Rebuild with: image-update " + spec.name + " --rebuild",
        "# ds01 labels the image itself when it builds (aime.mlc.* and ds01.* LABELs here are refused).",
    ]
    parts = [
        "\n".join(header),
        f"FROM {spec.base_image}",
        "\n".join(f"ARG {key}={value}" for key, value in
                  build_args(spec.login, spec.uid, spec.gid, spec.sudoers, spec.name).items()),
        "ENV " + " \\\n    ".join(f"{k}={v}" for k, v in ENVIRONMENT),
        block("apt", APT_PHASE, spec.phases.get(APT_PHASE, [])),
        "# Your account, from the build arguments (uid, gid, login): passwordless sudo, lastlog truncated.\n"
        + account.dockerfile_run(['"$DS01_USERNAME"', '"$DS01_USER_ID"', '"$DS01_GROUP_ID"',
                                  '"$DS01_IMAGE_NAME"', '"$DS01_SUDOERS"']),
    ]
    for phase in PIP_PHASES:
        parts.append(block("pip", phase, spec.phases.get(phase, []), spec.pip_options.get(phase, ())))
    if spec.jupyter:
        parts.append(
            "# Jupyter listens on localhost only and keeps its token: reach it through an SSH tunnel.\n"
            "RUN mkdir -p /etc/jupyter && printf '%s\\n' \\\n"
            "      \"c.ServerApp.ip = '127.0.0.1'\" \\\n"
            "      \"c.ServerApp.open_browser = False\" \\\n"
            "      \"c.ServerApp.root_dir = '/workspace'\" \\\n"
            "      > /etc/jupyter/jupyter_server_config.py")
    parts += ["WORKDIR /workspace", 'CMD ["bash"]']
    return "\n\n".join(parts) + "\n"


class Blocks:
    """The marked phases of a Dockerfile: read them, change their packages, write the text back."""

    def __init__(self, text, path="Dockerfile"):
        self.lines = text.splitlines()
        self.path = path
        self.spans = {}      # phase -> (kind, begin line index, end line index)
        self.options = {}
        self.packages = {}
        for index, line in enumerate(self.lines):
            match = BEGIN_RE.match(line)
            if not match:
                continue
            kind, phase = match.groups()
            end = self._find_end(index, kind, phase)
            self.spans[phase] = (kind, index, end)
            self.options[phase], self.packages[phase] = self._parse(kind, phase, self.lines[index + 1:end], index)

    def _find_end(self, start, kind, phase):
        marker = f"# ds01:end {kind} {phase}"
        for index in range(start + 1, len(self.lines)):
            if self.lines[index].strip() == marker:
                return index

        raise UsageError(f"{self.path}:{start + 1}: '# ds01:begin {kind} {phase}' has no matching end marker")

    def _parse(self, kind, phase, lines, offset):
        text = "\n".join(l for l in lines if not l.lstrip().startswith("#")).replace("\\\n", " ").strip()
        if not text:
            return [], []
        try:
            if not text.startswith("RUN "):
                raise ValueError("expected a RUN instruction")
            words = json.loads(text[4:])
            prefix = PIP_PREFIX if kind == "pip" else APT_PREFIX
            if words[:len(prefix)] != prefix:
                raise ValueError(f"expected RUN {json.dumps(prefix)}")
        except ValueError as exc:
            raise UsageError(f"{self.path}:{offset + 2}: cannot read the {phase} phase: {exc}",
                             hint="image-update --edit to fix it by hand") from None
        rest = words[len(prefix):]
        options, packages = [], []
        index = 0
        while index < len(rest):
            word = rest[index]
            if kind == "pip" and word.startswith("-"):
                options.append(word)
                if word in OPTIONS_WITH_VALUE and index + 1 < len(rest):
                    options.append(rest[index + 1])
                    index += 1
            else:
                packages.append(word)
            index += 1
        return options, packages

    def ensure(self, kind, phase):
        """Add an empty marked phase when the Dockerfile has none (e.g. one DS01 wrote): apt right after
        the last FROM, pip before the final CMD/ENTRYPOINT (else at the end)."""
        if phase in self.spans:
            return
        position = len(self.lines)
        pattern = r"^\s*FROM\s" if kind == "apt" else r"^\s*(CMD|ENTRYPOINT)\b"
        matches = [i for i, line in enumerate(self.lines) if re.match(pattern, line, re.IGNORECASE)]
        if matches:
            position = matches[-1] + 1 if kind == "apt" else matches[-1]
        new = ["", f"# ds01:begin {kind} {phase}", f"# ds01:end {kind} {phase}", ""]
        current = {p: list(v) for p, v in self.packages.items()}
        Blocks.__init__(self, "\n".join(self.lines[:position] + new + self.lines[position:]), self.path)
        self.packages.update(current)

    def kind(self, phase):
        return self.spans[phase][0] if phase in self.spans else None

    def all_packages(self, kind="pip"):
        """[(phase, package)] in file order."""
        order = sorted(self.spans, key=lambda p: self.spans[p][1])
        return [(phase, pkg) for phase in order if self.spans[phase][0] == kind for pkg in self.packages[phase]]

    def set(self, phase, packages):
        self.packages[phase] = list(packages)

    def text(self):
        """The Dockerfile with every phase block rewritten from the current package lists."""
        out = []
        index = 0
        starts = {begin: (phase, kind, end) for phase, (kind, begin, end) in self.spans.items()}
        while index < len(self.lines):
            if index in starts:
                phase, kind, end = starts[index]
                out.append(block(kind, phase, self.packages[phase], self.options.get(phase, ())))
                index = end + 1
                continue
            out.append(self.lines[index])
            index += 1
        return "\n".join(out) + "\n"


OWN_LABELS = ("aime.mlc", "ds01.")  # keys ds01 writes and reads: only ds01 may set them on an image


def instructions(text):
    """(line number, INSTRUCTION, arguments) of a Dockerfile, continuation lines joined (the escape
    character is the parser directive's, else a backslash); comments and blank lines skipped. As in Docker, a
    leading byte-order mark is dropped and a continued line is joined to the next without a space."""
    # Docker splits on \n only (a \r before it is dropped): never str.splitlines, which also breaks at \f, \v,
    # \x1c-\x1e, \x85 and \u2028, where Docker sees one line
    lines = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
    escape = "\\"
    for line in lines:
        match = re.match(r"^#\s*escape\s*=\s*(\S)\s*$", line, re.IGNORECASE)
        if match:
            escape = match.group(1)
            break
        if not re.match(r"^#\s*\w+\s*=", line):
            break
    quoted = re.escape(escape)
    # Docker's own rule (buildkit's parser): a line continues when it ends in the escape character (then only
    # spaces or tabs) and that character is not itself escaped; `RUN echo \\` (two) does not continue.
    continued = re.compile(f"([^{quoted}]){quoted}[ \t]*$|^{quoted}[ \t]*$")
    index = 0
    while index < len(lines):
        start, parts = index + 1, []  # type: ignore[var-annotated]
        while index < len(lines):
            line = lines[index]
            index += 1
            if re.match(r"^\s*(#|$)", line):
                if parts:
                    continue  # a comment or blank line inside a continued instruction
                break  # a comment is never continued
            match = continued.search(line)
            if match:
                parts.append(line[:match.start()] + (match.group(1) or ""))
                continue
            parts.append(line)
            break
        joined = "".join(parts).strip()
        if not joined or joined.startswith("#"):
            continue
        word, *rest = joined.split(None, 1)
        yield start, word.upper(), rest[0] if rest else ""


def label_keys(text):
    """(line number, key) of every label a Dockerfile's LABEL (or ONBUILD LABEL) instructions set."""
    for number, word, rest in instructions(text):
        if word == "ONBUILD" and rest:
            word, *more = rest.split(None, 1)
            word, rest = word.upper(), more[0] if more else ""
        if word != "LABEL":
            continue
        try:
            tokens = shlex.split(rest, posix=True)
        except ValueError:
            yield number, rest  # unbalanced quotes: Docker refuses it anyway; so does ds01
            continue
        if tokens and "=" not in tokens[0]:
            yield number, tokens[0]  # the old form: LABEL key value
            continue
        for token in tokens:
            yield number, token.split("=", 1)[0]


def refused_labels(text, path):
    """UsageError naming `path:line` for each LABEL the user may not set: ds01's own keys (aime.mlc, aime.mlc.*,
    ds01.*) or a key built from a variable."""
    bad = [(n, k) for n, k in label_keys(text) if k.startswith(OWN_LABELS) or "$" in k]
    if bad:
        lines = "\n".join(f"  {path}:{n}: LABEL {k}" for n, k in bad)
        raise UsageError(f"{path} sets labels only ds01 may set:\n{lines}",
                         hint="remove those LABEL lines: ds01 labels the image itself when it builds "
                              "(owner, account, framework, GPUs and protection are ds01's facts)")


def bakes_account(text):
    """True when the Dockerfile has ds01's account block (image-create's), so the image holds the account."""
    return account.LINES[1] in text and '"$DS01_USER_ID"' in text


def base_image(text):
    """The image of the last FROM (the final stage), or None."""
    found = None
    for line in text.splitlines():
        match = re.match(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", line, re.IGNORECASE)
        if match:
            found = match.group(1)
    return found


def needs_context(text):
    """True when the Dockerfile copies files in, so the build must send its directory."""
    return bool(re.search(r"^\s*(COPY|ADD)\s", text, re.IGNORECASE | re.MULTILINE))


VARIABLE_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
STAGE_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")


def _refuse(path, number, why):
    return PermissionDenied(f"{path}:{number}: {why}",
                            hint="name images plainly (FROM image[:tag] [AS stage]); ds01 refuses what it cannot "
                                 "check")


def _substitute(word, variables, path, number):
    """`$NAME` and `${NAME}` replaced from the declared ARGs; any other use of `$` is refused (fail closed)."""
    def value(match):
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise _refuse(path, number, f"${name} is no ARG declared before the first FROM")
        return variables[name]

    result = VARIABLE_RE.sub(value, word)
    if "$" in result or "\\" in result:
        raise _refuse(path, number, f"cannot resolve {word!r}")
    return result


def _flag_images(word, rest, stages, path, number):
    """Images named by COPY/ADD --from=X and RUN --mount=...,from=X (a stage name or index is no image)."""
    found = []
    for token in rest.split():
        if not token.startswith("--"):
            break  # flags come first
        flag, equals, value = token.partition("=")
        flag = flag.lower()
        if word in ("COPY", "ADD") and flag == "--from":
            values = [value] if equals else [""]
        elif word == "RUN" and flag == "--mount":
            values = [part.partition("=")[2] for part in value.split(",") if part.partition("=")[0].lower() == "from"]
        else:
            continue
        for value in values:
            if not value or "$" in value or "\\" in value or '"' in value or "'" in value:
                raise _refuse(path, number, f"cannot read {token!r}")
            if value.isdigit() or (stages is not None and value.lower() in stages):
                continue
            found.append(value)
    return found


def image_references(text, build_args, path="Dockerfile"):
    """[(line, image)] of every image a build of `text` reads: each stage's FROM (ARGs resolved with
    `build_args`), COPY/ADD --from and RUN --mount from= that name no stage, and the same inside ONBUILD.
    Anything ds01 cannot read is PermissionDenied: a reference it does not understand is never let through."""
    variables: dict[str, str] = {}
    stages: set[str] = set()
    found = []
    seen_from = False
    for number, word, rest in instructions(text):
        if word == "ARG" and not seen_from:
            try:
                declared = shlex.split(rest)
            except ValueError:
                raise _refuse(path, number, "cannot read this ARG") from None
            for item in declared:
                name, equals, default = item.partition("=")
                variables[name] = str(build_args.get(name, default if equals else ""))
        elif word == "FROM":
            seen_from = True
            words = [_substitute(w, variables, path, number) for w in rest.split()]
            words = [w for w in words if not w.startswith("--")]  # --platform=...
            if len(words) == 3 and words[1].upper() == "AS" and STAGE_RE.match(words[2].lower()):
                stage = words[2].lower()
            elif len(words) == 1:
                stage = None
            else:
                raise _refuse(path, number, f"cannot read FROM {rest!r}")
            image = words[0]
            if image.lower() not in stages and image != "scratch":
                found.append((number, image))
            if stage:
                stages.add(stage)
        elif word in ("COPY", "ADD", "RUN"):
            found += [(number, image) for image in _flag_images(word, rest, stages, path, number)]
        elif word == "ONBUILD":
            inner, _, more = rest.partition(" ")
            found += [(number, image) for image in _flag_images(inner.upper(), more.strip(), None, path, number)]
    if not seen_from:
        raise _refuse(path, 1, "no FROM instruction")
    return found


def trigger_images(triggers, path):
    """Images named by an image's ONBUILD triggers (they run in a build FROM that image)."""
    found = []
    for trigger in triggers or []:
        word, _, rest = trigger.strip().partition(" ")
        found += _flag_images(word.upper(), rest.strip(), None, path, "ONBUILD")
    return found


def final_base(text, build_args, path="Dockerfile"):
    """The image the last stage is built on (following `FROM stage` back), or None for scratch."""
    variables: dict[str, str] = {}
    stages: dict[str, str | None] = {}
    base = None
    seen_from = False
    for number, word, rest in instructions(text):
        if word == "ARG" and not seen_from:
            for item in shlex.split(rest):
                name, equals, default = item.partition("=")
                variables[name] = str(build_args.get(name, default if equals else ""))
        elif word == "FROM":
            seen_from = True
            words = [w for w in (_substitute(w, variables, path, number) for w in rest.split())
                     if not w.startswith("--")]
            image = words[0]
            base = stages.get(image.lower()) if image.lower() in stages else (
                None if image == "scratch" else image)
            if len(words) == 3:
                stages[words[2].lower()] = base
    return base
