"""The package stays acyclic: no import circle between nnkeras's own modules (read with ast).

A circle makes the import order matter and hides which module is the lower
floor; what two modules share belongs one floor below both. Imports inside
functions count too: they still run, only later.
"""

import ast
from pathlib import Path

import nnkeras

ROOT = Path(nnkeras.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The nnkeras modules `path` imports (`from pkg import mod` names the submodule)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found |= submodules or {base}
    # Importing one's own package (its __init__) is how Python loads a submodule: not an edge.
    return {m for m in found if m in modules and m != name and not name.startswith(m + ".")}


def import_graph() -> dict[str, set[str]]:
    files = list(ROOT.rglob("*.py"))
    modules = {module_name(f) for f in files}
    return {module_name(f): imports_of(f, modules) for f in files}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, done, path = [], set(), []

    def visit(node):
        path.append(node)
        for nxt in sorted(graph[node]):
            if nxt in path:
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node)
    return found


def test_the_package_has_no_import_circle():
    assert circles(import_graph()) == []


def test_the_checker_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_graph_sees_the_modules_that_moved_into_sub_packages():
    graph = import_graph()
    assert "nnkeras.finished_run" in graph["nnkeras.export.convert"]
    assert "nnkeras.run_steps" in graph["nnkeras.scratch.run"]
    assert "nnkeras.training" not in graph["nnkeras.scratch.run"]


def test_no_prefixed_family_is_left_at_the_top():
    flat = [p.stem for p in ROOT.glob("*.py")]
    assert not [name for name in flat if name.startswith(("tuning_", "export_", "serve_"))]
