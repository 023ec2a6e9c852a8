"""The shape of bot/: no import circles, no module over 450 lines. Static (ast), so nothing is imported.

What counts as an import edge A → B (B a module inside bot/):
- `import bot.b`, `from bot.b import x`, `from bot import b` and relative forms, at module level AND
  inside functions: a function-level import hides a circle from Python's import machinery but not
  from the reader, who still has to hold both modules in mind to follow either;
- importing `bot.pkg.mod` also runs `bot/pkg/__init__.py`, so A → bot.pkg too — unless A is itself
  inside bot.pkg: its own package is already initialised by the time A runs;
- imports under `if TYPE_CHECKING:` never run, so `import_graph()` leaves them out by default; the
  no-circle rule counts them all the same (`annotations=True`): a circle that exists only for the type
  checker still makes two modules that cannot be read apart, and many import checkers count it.
A circle is a strongly connected component of more than one module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT

BOT = PROJECT_ROOT / "bot"
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST, annotations: bool = False):
    """Import nodes that can run: everything except the bodies of `if TYPE_CHECKING:` (unless
    `annotations`, which keeps those too)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not annotations:
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _with_parents(name: str, known: dict[str, Path]) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in known}


def import_graph(annotations: bool = False) -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(), str(path)), annotations):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            own_packages = _with_parents(name, known) - {name}
            for target in targets:
                graph[name] |= _with_parents(target, known) - own_packages
        graph[name].discard(name)
        graph[name].discard("bot")
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# -- the checker checks ------------------------------------------------------------------------------


def test_graph_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    graph = import_graph()
    assert "bot.startup" in graph["bot.cli"]                   # imported inside a function
    assert "bot.slack.host" not in graph["bot.slack.commands"]  # only under TYPE_CHECKING …
    assert "bot.slack.host" in import_graph(annotations=True)["bot.slack.commands"]   # … counted on request
    assert "bot.ledger" in graph["bot.ledger_cli"]            # the package's __init__ runs too …
    assert "bot.ledger" not in graph["bot.ledger.sql"]        # … except for its own modules
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert cycles({"a": {"b"}, "b": set()}) == []


# -- the rules -----------------------------------------------------------------------------------------


def test_no_import_circle_in_bot() -> None:
    found = [sorted(c) for c in cycles(import_graph(annotations=True))]   # runtime and type-checking imports
    assert not found, f"import circles in bot/: {found}"


@pytest.mark.parametrize("module", sorted(modules()))
def test_module_is_at_most_450_lines(module: str) -> None:
    lines = len(modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (limit {MAX_LINES}): split it by concept"


def test_llm_tiers_get_services_not_the_bot() -> None:
    """The orchestrator and its tiers see `bot.services.Services`, never `OpsBot`: nothing they import,
    directly or not, is the pipeline (issue 12: the tiers receive what they need, not the whole bot)."""
    graph = import_graph()
    tiers = ["bot.orchestrator", *(m for m in graph if m.startswith("bot.tiers"))]
    seen, todo = set(), list(tiers)
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    assert "bot.orchestrator" in tiers and len(tiers) > 3
    assert "bot.pipeline" not in seen, "an LLM tier reaches bot/pipeline.py; hand it a Services field instead"

