"""The package's shape: no import cycles, and nothing dev-only inside it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_graph():
    """Every ds01 module and the ds01 modules it imports, at module level or inside a function.

    `from PACKAGE import SUBMODULE` depends on the submodule, not on what the package's own
    `__init__` defines (Python loads the package first whatever is imported from it).
    """
    paths = {}
    for path in (ROOT / "ds01").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module
                if node.level:
                    prefix = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{prefix}.{node.module}" if node.module else prefix
                submodules = {f"{base}.{alias.name}" for alias in node.names} & set(paths)
                found.update(submodules)
                if len(submodules) < len(node.names):  # names from the module itself, not only its submodules
                    found.add(base)
        graph[module] = {name for name in found if name in paths and name != module}
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_the_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_ds01_imports_itself_round_a_cycle():
    graph = import_graph()
    assert "ds01.settings" in graph["ds01.runtime"] and "ds01.registry" in graph["ds01.generate"]  # it sees both kinds
    assert cycles(graph) == []


def test_the_sandbox_and_the_demo_are_not_in_the_package_and_it_never_imports_the_tests():
    names = {p.stem for p in (ROOT / "ds01").rglob("*.py")}
    assert not names & {"sandbox", "demo", "harness"}
    importing = [p.name for p in (ROOT / "ds01").rglob("*.py")
                 if any(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("tests")
                        or isinstance(n, ast.Import) and any(a.name.startswith("tests") for a in n.names)
                        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]
    assert importing == []


def test_test_modules_never_import_each_other():
    """What tests share lives in tests/support/: a test module importing another keeps that module's helpers in
    two places and makes the order the files run in matter."""
    import re
    from pathlib import Path

    found = [f"{path.name}: {line.strip()}" for path in sorted(Path(__file__).parent.glob("test_*.py"))
             for line in path.read_text(encoding="utf-8").splitlines()
             if re.match(r"\s*(from\s+tests\.test_\w+\s+import|import\s+tests\.test_\w+|from\s+\.test_\w+\s+import)",
                         line)]
    assert found == []
