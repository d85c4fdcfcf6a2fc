"""The layers of pkgdoctor: its modules import one another without cycles, and the bottom
(finding codes) and the renderers know nothing of the checks.

The import graph is read from the source with :mod:`ast`, so the test sees every import a
module can make — those at the top and those inside functions (made late on purpose, for
start-up time), and ``importlib.import_module`` with a literal name — without importing
anything. Imports under ``if TYPE_CHECKING:`` are left
out: they never run, and annotations may name a type of a higher layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pkgdoctor

SRC = Path(pkgdoctor.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:``."""
    nodes: list[ast.AST] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                todo += child.orelse
            else:
                todo.append(child)
    return nodes


def _resolve(name: str) -> str | None:
    """The pkgdoctor module that importing ``name`` runs: ``name`` itself, or the module
    that defines it (``from pkgdoctor.findings import Finding``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The pkgdoctor modules that ``module`` imports at run time."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from pkgdoctor.wheelaudit import codes` imports the submodule.
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        elif (  # importlib.import_module("pkgdoctor.x"): an import all the same
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            if name == "pkgdoctor" or name.startswith("pkgdoctor."):
                target = _resolve(name)
                if target is not None and target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_is_read() -> None:
    # The reader sees top-level, function-level and `from package import submodule` imports;
    # a broken reader would find no cycles because it found no edges.
    assert "pkgdoctor.findings" in GRAPH["pkgdoctor.codes"]
    assert "pkgdoctor.wheelaudit.codes" in GRAPH["pkgdoctor.wheelaudit.metadata"]
    assert "pkgdoctor.codes" in GRAPH["pkgdoctor.cli"]  # imported inside a function


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def _checks(module: str) -> set[str]:
    return {
        m for m in GRAPH[module] if m == "pkgdoctor.checks" or m.startswith("pkgdoctor.checks.")
    }


def test_codes_and_renderers_know_no_check() -> None:
    bottom = ["pkgdoctor.codes", "pkgdoctor.findings"]
    renderers = [m for m in MODULES if m == "pkgdoctor.render" or m.startswith("pkgdoctor.render.")]
    assert len(renderers) >= 3
    for module in bottom + renderers:
        assert _checks(module) == set(), module


def test_the_bottom_imports_only_the_bottom() -> None:
    assert GRAPH["pkgdoctor.findings"] <= {"pkgdoctor._fields"}
    assert GRAPH["pkgdoctor.codes"] <= {"pkgdoctor.findings", "pkgdoctor._fields"}


# The layers of docs/design.md, bottom first. A module may import its own layer and those
# below it, never one above.
LAYERS = (
    # plain data and format readers
    (
        "pkgdoctor",
        "_fields",
        "words",
        "removed_stdlib",
        "numpy_abi",
        "conda_specs",
        "codes",
        "findings",
        "errors",
        "platforms",
        "elf",
        "fatbin",
        "ldcache",
        "redact",
        "indexes",
        "cuda",
    ),
    ("archive", "library_wheels", "files", "_typed"),
    # the facts: what a Snapshot is made of
    (
        "target.facts",
        "extmodules",
        "listings",
        "optional_imports",
        "snapshot.model",
        "caches",
        "caches.facts",
        "caches.locate",
    ),
    # configuration: pip's and conda's merge rules, pure functions of the facts
    ("snapshot", "cache", "configuration"),
    # looking: the only layer that reads the target's files or runs its interpreter (and,
    # for check --online and wheels, the package indexes: wheels.http, wheels.simple)
    ("look", "target", "inventory", "loader", "wheels.http", "wheels.simple", "caches.look"),
    # judging: pure functions of the facts (wheelaudit and wheels look at wheels and indexes)
    ("checks", "wheelaudit", "wheels", "diff", "conda_owners", "caches.judge"),
    ("render", "wheelaudit.render", "wheels.report", "export", "explain", "caches.render"),
    ("cli", "__main__"),
)


def layer_of(module: str) -> int:
    """The layer of the longest prefix of ``module`` that LAYERS names."""
    name = module.removeprefix("pkgdoctor").removeprefix(".") or "pkgdoctor"
    best = (-1, 0)  # (prefix length, layer)
    for layer, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), layer)
    assert best[0] >= 0, f"{module} is in no layer of LAYERS"
    return best[1]


def test_imports_go_down_the_layers() -> None:
    upward = [
        (module, imported)
        for module, imports in GRAPH.items()
        for imported in imports
        if layer_of(imported) > layer_of(module)
    ]
    assert upward == []
    assert layer_of("pkgdoctor.wheelaudit.render") == 6 > layer_of("pkgdoctor.wheelaudit.audit")
    assert layer_of("pkgdoctor.wheels.report") == 6 > layer_of("pkgdoctor.wheels.command")
