"""The docs name real things: every ds01 file and every `module.function` they cite exists (issue 30: the
architecture page described a 1777 state dir, a portalocker allocator lock and a ds01/complete.py that were gone)."""

import importlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
PATH_RE = re.compile(r"`((?:ds01|tests|bench|etc|libexec|bin)/[\w./-]+?)`")
DOTTED_RE = re.compile(r"`([a-z_]+(?:\.[a-z_][A-Za-z_0-9]*)+)(?:\(|`)")


PACKAGES = ("", "gpu.", "images.", "cli.", "lifecycle.", "generate.")


def _modules():
    return {p.stem for p in (REPO / "ds01").rglob("*.py")} | {p.name for p in (REPO / "ds01").iterdir() if p.is_dir()}


def _other_dotted_names():
    """Dotted names that are not code: policy keys (`images.allowed`), event types (`gpu.allocate`), files."""
    from ds01 import events, policy

    names = {f"{section}.{key}" for section, spec in policy.TOP_KEYS.items()
             for key in (getattr(spec, "keys", None) or {})}
    return names | set(events.TYPES) | {"gpu.lock"}


def test_every_file_the_docs_name_exists():
    missing = []
    for doc in DOCS:
        for found in PATH_RE.findall(doc.read_text()):
            path = found.rstrip(".")
            if "*" in path or "<" in path:
                continue
            if not (REPO / path).exists():
                missing.append(f"{doc.name}: {path}")
    assert missing == []


def _resolve(dotted):
    """The object `dotted` names under ds01 (`create.create_container`, `gpu.allocator.Allocator`), or None."""
    parts = dotted.split(".")
    for package in PACKAGES:
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module("ds01." + package + ".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute, None)
                if obj is None:
                    break
            if obj is not None:
                return obj
    return None


def test_every_module_function_the_docs_name_exists():
    modules, others = _modules(), _other_dotted_names()
    missing = []
    for doc in DOCS:
        for dotted in DOTTED_RE.findall(doc.read_text()):
            if dotted.split(".")[0] not in modules or dotted in others \
                    or dotted.endswith((".py", ".md", ".yaml", ".json", ".jsonl")):
                continue
            if _resolve(dotted) is None:
                missing.append(f"{doc.name}: {dotted}")
    assert missing == []
