"""The import graph of bot/ and adapters/ keeps its shape: no circle, and the core knows no platform.

Imports are read with :mod:`ast` (every ``import``, at module level, inside functions and under
``TYPE_CHECKING`` alike: a lazy import is still a dependency), so nothing is executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "adapters")
#: The composition root: it alone knows which adapters exist.
ENTRY_POINTS = {"bot.cli", "bot.__main__"}
#: Modules that must stay leaves: they import nothing of the project but what is listed.
LEAVES = {
    "bot.errors": set(),
    "bot.files": {"bot.errors"},
    "bot.schedule": {"bot.errors"},
    "bot.metrics": {"bot.errors"},
    "bot.model": set(),
    "bot.pacing": {"bot.errors"},
    "bot.reply": set(),
    "bot.supervisor": set(),
}

#: What the content layer may build on.
BELOW_CONTENT = {"bot.errors", "bot.files"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "_bundled_content" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (a ``from package import module`` names the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import circle, as a path of module names, if there is any."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for following in sorted(GRAPH[module]):
            if state.get(following) == 1:
                return [*path[path.index(following) :], following]
            if following not in state:
                found = visit(following)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_the_graph_is_read() -> None:
    assert {"bot.app", "bot.cli", "bot.store.sqlite", "adapters.console"} <= set(MODULES)
    assert "bot.store.sqlite" in GRAPH["bot.store"]


def test_there_is_no_import_circle() -> None:
    cycle = _cycle()
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_only_the_entry_point_imports_adapters() -> None:
    offenders = {
        module: sorted(t for t in targets if t.split(".")[0] == "adapters")
        for module, targets in GRAPH.items()
        if module.split(".")[0] == "bot" and module not in ENTRY_POINTS
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_core_names_no_platform() -> None:
    """No platform's name is a value in bot/ outside the entry point (prose may mention them)."""
    platforms = {"telegram", "discord", "console"}
    for module, path in MODULES.items():
        if module.split(".")[0] != "bot" or module in ENTRY_POINTS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        named = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not named & platforms, f"{module} names {sorted(named & platforms)}"


def test_adapters_get_services_not_the_app() -> None:
    """Adapters see the core through bot.platform (AdapterServices), never the App or the store."""
    for module, targets in GRAPH.items():
        if module.split(".")[0] == "adapters":
            reached = {
                t for t in targets if t in {"bot.app", "bot.cli"} or t.startswith("bot.store")
            }
            assert not reached, f"{module} imports {sorted(reached)}"


def test_content_is_a_layer_of_its_own() -> None:
    """Content files → models: the bottom of the data flow knows nothing above it."""
    for module, targets in GRAPH.items():
        if module.startswith("bot.content"):
            above = {
                t for t in targets if not t.startswith("bot.content") and t not in BELOW_CONTENT
            }
            assert not above, f"{module} imports {sorted(above)}"


def test_leaf_modules_import_nothing_else_of_the_project() -> None:
    for module, allowed in LEAVES.items():
        assert GRAPH[module] <= allowed, f"{module} imports {sorted(GRAPH[module] - allowed)}"
