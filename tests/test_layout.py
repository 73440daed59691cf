"""The layout holds: no import cycle between the package's modules, no module over 700 lines, one page writer."""

from __future__ import annotations

import ast
from pathlib import Path

import synbiolab

PACKAGE = Path(synbiolab.__file__).parent
MAX_LINES = 700


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Edges module -> module for every import of the package's own modules, function-level ones too."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # `from pkg import module` needs the module; `from pkg import name` needs pkg itself
                submodules = [f"{target}.{alias.name}" for alias in node.names]
                targets = submodules if all(m in modules for m in submodules) else [target, *submodules]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 40 and "synbiolab.train.loop" in graph["synbiolab.train.job"]
    assert cycles(graph) == []


def test_no_module_over_700_lines():
    sizes = {module_name(p): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


def test_one_module_writes_whole_pages():
    writers = sorted(module_name(p) for p in PACKAGE.rglob("*.py")
                     if "<!doctype html" in p.read_text(encoding="utf-8").lower())
    templates = sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "report" / "templates").rglob("*.html")
                       if "<!doctype html" in p.read_text(encoding="utf-8").lower())
    assert writers == [] and templates == ["report/templates/base.html"]
    assert "write_page" in (PACKAGE / "report" / "html.py").read_text()


def test_the_course_pages_the_tools_name_exist():
    from synbiolab import course
    from synbiolab.models import MODELS

    root = PACKAGE.parents[1]
    named = [path for path, _ in course.THEORY.values()]
    named += [tutorial.split(" ")[0] for tutorial in course.VERDICT_READING[1]]
    missing = [path for path in named if not (root / path).is_file()]
    assert not missing, missing
    # every trainable model's report names at least one theory page
    assert not [name for name in MODELS if not course.model_pages(name)]
