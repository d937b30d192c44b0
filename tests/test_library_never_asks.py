"""The library never asks (issue 33): questions belong to the commands (ds01/cli/), which hand the answers in, so
the same library call behaves the same from a terminal, a pipe or ds01d. Only the prompt helpers themselves
(ds01/guided.py, ds01/pick.py) may ask."""

import ast
from pathlib import Path

DS01 = Path(__file__).resolve().parents[1] / "ds01"
ASKERS = {"prompt", "confirm", "getchar", "edit"}  # click's questions
ALLOWED = {DS01 / "guided.py", DS01 / "pick.py"}


def _questions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ASKERS and isinstance(node.value, ast.Name) \
                and node.value.id == "click":
            found.append(f"click.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] in ("pick", "guided"):
            found.append(f"imports {node.module} (line {node.lineno})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "input":
            found.append(f"input() (line {node.lineno})")
    return found


def test_no_library_module_asks_the_user():
    asking = {str(path.relative_to(DS01.parent)): found for path in sorted(DS01.rglob("*.py"))
              if DS01 / "cli" not in path.parents and path not in ALLOWED and (found := _questions(path))}
    assert asking == {}
