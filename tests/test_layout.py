"""The layout docs/architecture.md draws: the runtime (mychannels/runtime/) imports nothing of
the chat domain, and no module of the project takes part in an import circle."""

import ast
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

PACKAGES = ("chat", "alert", "mychannels")


def module_name(path: Path) -> str:
    parts = path.relative_to(BASE_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (BASE_DIR / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports, inside functions too: a deferred import hides a
    circle from Python, not from a reader."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def test_the_runtime_imports_nothing_of_the_chat_domain():
    for name, imported in import_graph().items():
        if name.startswith("mychannels.runtime"):
            domain = {m for m in imported if m.split(".")[0] in ("chat", "alert")}
            assert not domain, f"{name} imports {sorted(domain)}"
            assert all(m.startswith("mychannels.runtime") for m in imported), (name, imported)


def test_no_module_takes_part_in_an_import_circle():
    graph = import_graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            circle = [*path[path.index(name) :], name]
            raise AssertionError("import circle: " + " -> ".join(circle))
        if name in done:
            return
        for imported in graph.get(name, ()):
            if imported != name.rpartition(".")[0]:  # a package's own __init__ is not a circle
                visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert "chat.services.messages" in graph and "mychannels.runtime.asyncdb" in graph
