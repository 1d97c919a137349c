"""The import graph of ``midway_plugin``, read from the source (for ``tests/test_layering.py``).

Every ``import`` / ``from ... import`` anywhere in a file (also inside functions) and
``importlib.import_module("literal")``; names are full dotted names, internal and external.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = "midway_plugin"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

Graph = Mapping[str, frozenset[str]]


def under(name: str, prefixes: Iterable[str]) -> bool:
    """Whether dotted ``name`` is one of ``prefixes`` or inside one (``a.b.c`` is under ``a.b``, ``a.bc`` is not)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def top(name: str) -> str:
    """The top-level package of a dotted name."""
    return name.partition(".")[0]


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """``{dotted module name: file}`` of every ``.py`` file under ``root`` (a package's ``__init__``: the package)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(node: ast.AST, module: str, is_package: bool, known: Mapping[str, Path]) -> list[str]:
    """The dotted names one import statement (or ``importlib.import_module("literal")``) brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = ".".join(p for p in (package, node.module) if p)
        else:
            base = node.module or ""
        # `from pkg import sub` imports the module pkg.sub when there is one, else a name defined in pkg.
        names = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
        return names if len(names) == len(node.names) else [base, *names]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def _type_checking_only(tree: ast.AST) -> set[int]:
    """``id``s of the nodes under ``if TYPE_CHECKING:`` (annotations only: never imported at run time)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def import_graph(root: Path = ROOT, type_checking: bool = True) -> dict[str, frozenset[str]]:
    """``{module: every name it imports}``: full dotted names, internal and external, from anywhere in the file.

    ``type_checking=False`` leaves out the imports under ``if TYPE_CHECKING:`` (for cycles: they never run).
    """
    modules = module_names(root)
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = set() if type_checking else _type_checking_only(tree)
        imported = set()
        for node in ast.walk(tree):
            if id(node) not in skipped:
                imported.update(_imported(node, module, path.name == "__init__.py", modules))
        graph[module] = frozenset(imported)
    return graph


def with_registration(graph: Graph) -> dict[str, frozenset[str]]:
    """Adds what the AST cannot see: ``cli`` imports every module of ``commands`` (pkgutil + importlib)."""
    commands = {m for m in graph if m.startswith(f"{PACKAGE}.commands.")}
    return {**graph, f"{PACKAGE}.cli": graph[f"{PACKAGE}.cli"] | commands}


def subpackage_graph(graph: Graph) -> dict[str, frozenset[str]]:
    """The graph between ``midway_plugin.<first part>`` nodes (``models``, ``data``, ``cli``, ...)."""

    def node(name: str) -> str:
        return ".".join(name.split(".")[:2])

    collapsed: dict[str, set[str]] = {}
    for module, imported in graph.items():
        if module == PACKAGE:
            continue
        targets = collapsed.setdefault(node(module), set())
        targets.update(node(name) for name in imported if under(name, [PACKAGE]) and name != PACKAGE)
        targets.discard(node(module))
    return {module: frozenset(targets) for module, targets in collapsed.items()}


def import_cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself), Tarjan's algorithm.

    Only edges between modules of the graph count; a package's ``__init__`` is the node of its dotted name.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def edges(module: str) -> list[str]:
        return sorted(name for name in graph[module] if name in graph)

    def visit(root: str) -> None:  # iterative, so deep graphs do not hit the recursion limit
        work = [(root, iter(edges(root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges(child))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1 or module in graph[module]:
                    cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(cycles)
