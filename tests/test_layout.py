"""The package's shape: no import cycles, and nothing dev-only inside it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_graph(types=True):
    """Every ds01 module and the ds01 modules it imports, at module level or inside a function (and, with
    `types` false, not those imported under `if TYPE_CHECKING:` only, for annotations).

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
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = set() if types else {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If)
                                           and "TYPE_CHECKING" in ast.unparse(node.test)
                                           for inner in node.body for sub in ast.walk(inner)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
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
    loaded = import_graph(types=False)
    for module, imported in graph.items():  # `rt: Runtime` in an annotation: the library is handed the Runtime that
        if "ds01.runtime" not in loaded[module]:  # builds it, so the name only may go round (it loads nothing)
            imported.discard("ds01.runtime")
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


def stated_layers():
    """[(layer, module patterns, layers it may import)] from docs/architecture.md's table, in its order."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("### What may import what", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("layer", "---") and not set(cells[0]) <= {"-"}:
            patterns = re.findall(r"`([^`]+)`", cells[1])
            allowed = {word.strip() for word in cells[2].split(",") if word.strip()}
            rows.append((cells[0], patterns, allowed))
    return rows


def layer_of(module, rows):
    from fnmatch import fnmatchcase

    short = module[len("ds01."):] if module.startswith("ds01.") else module
    for name, patterns, _ in rows:  # the row that names it exactly
        if short in patterns:
            return name
    for name, patterns, _ in rows:  # else the row whose pattern matches it; `*`: every module no row names
        if any(fnmatchcase(short, pattern) for pattern in patterns if pattern != "*"):
            return name
    return next((name for name, patterns, _ in rows if "*" in patterns), None)


def test_every_import_follows_the_layers_the_architecture_states():
    rows = stated_layers()
    assert [row[0] for row in rows] == ["client", "wire", "doors", "commands", "domains", "runtime", "library",
                                        "foundation"]
    allowed = {name: may for name, _, may in rows}
    broken = []
    for module, imported in sorted(import_graph(types=False).items()):
        own = layer_of(module, rows)
        for target in sorted(imported):
            theirs = layer_of(target, rows)
            if theirs != own and theirs not in allowed[own]:
                broken.append(f"{module} ({own}) imports {target} ({theirs})")
    assert broken == []


def test_the_layer_check_sees_an_import_upwards():
    rows = stated_layers()
    assert layer_of("ds01.create", rows) == "library" and layer_of("ds01.cli.container_list", rows) == "commands"
    assert layer_of("ds01.cli.ds01d", rows) == "doors" and layer_of("ds01", rows) == "foundation"
    assert "commands" not in next(may for name, _, may in rows if name == "library")
