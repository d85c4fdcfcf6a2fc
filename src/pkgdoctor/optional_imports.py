"""Is an extension module optional: does its own distribution import it only where an
``ImportError`` is caught?

numba imports ``numba.np.ufunc.tbbpool`` (which needs ``libtbb.so.12``) only inside
``try: ... except ImportError: pass`` and works without it. A library missing for such a module
costs a feature, not the package.

Two parts, so that a look layer can do the reading and a check the judging:

- :func:`read_importers` (file access): the ``.py`` files of a distribution that mention the
  module's last name, as plain data (:class:`Source`);
- :func:`judge` (pure): every import of the module in those sources, each with whether an
  enclosing ``try`` catches the ``ImportError`` that a failed ``dlopen`` raises.

>>> text = "try:\\n    from . import _fast\\nexcept ImportError:\\n    _fast = None\\n"
>>> src = Source("pkg/a.py", "pkg.a", False, text)
>>> judge("pkg._fast", [src]).optional
True
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Union, cast

from pkgdoctor._fields import Fact, fact
from pkgdoctor.files import read_regular

# A file this large is generated code, not where a package decides what is optional.
MAX_SOURCE_BYTES = 4 * 1024 * 1024

# The exception names whose handler catches a failed extension import. A library the loader
# cannot find makes dlopen fail, which CPython raises as a plain ImportError
# (Python/dynload_shlib.c, _PyImport_FindSharedFuncptr): ModuleNotFoundError (a subclass) and
# OSError (what ctypes raises) do not catch it.
_CATCHING = frozenset({"ImportError", "Exception", "BaseException"})


@fact
class Source(Fact):
    """One Python file of the distribution: where it is, which module it is, its text."""

    path: str
    module: str  # "numba.np.ufunc.parallel"; a package's __init__.py is the package
    is_package: bool  # an __init__.py: relative imports start at the module itself
    text: str


@fact
class ImportSite(Fact):
    """One statement that imports the module."""

    path: str
    line: int
    statement: str  # the source line, stripped: "from numba.np.ufunc import tbbpool as lib"
    # What the enclosing try catches ("ImportError", "Exception", "" for a bare except)
    # without raising again; None when no try guards the import.
    guard: str | None
    top_level_init: bool  # unguarded at module level of a package's __init__.py

    @property
    def guarded(self) -> bool:
        return self.guard is not None

    def as_dict(self) -> dict[str, object]:
        return {"file": self.path, "line": self.line, "statement": self.statement}


@fact
class ModuleImports(Fact):
    """Every import of one module in its distribution's sources."""

    module: str
    sites: tuple[ImportSite, ...]

    @property
    def optional(self) -> bool:
        """Whether the distribution works without the module: it imports it somewhere, and
        always where an ImportError is caught. No import found means nothing is known."""
        return bool(self.sites) and all(s.guarded and not s.top_level_init for s in self.sites)


def module_of(relative: str) -> tuple[str, bool] | None:
    """``("numba.np.ufunc.parallel", False)`` for ``numba/np/ufunc/parallel.py`` (a RECORD
    path relative to its site directory); None for what is not an importable module."""
    rel = relative.replace("\\", "/")
    if not rel.endswith(".py") or rel.startswith(("/", "../")):
        return None
    parts = rel[: -len(".py")].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts), is_package


def read_importers(
    files: Iterable[tuple[str, str]], modules: Iterable[str], max_bytes: int = MAX_SOURCE_BYTES
) -> list[Source]:
    """The Python files among ``files`` (``(path relative to the site directory, absolute
    path)``, as RECORD lists them) whose text mentions the last part of one of ``modules``.

    Each file is read once for all the modules; the cheap ``bytes in`` test keeps the parsing
    to the few files that can import one. Unreadable, oversized and non-UTF-8 files are left
    out (nothing is known from them).
    """
    needles = {module.rpartition(".")[2].encode() for module in modules}
    statements = _statements(needles)
    sources = []
    for relative, path in files:
        named = module_of(relative)
        if named is None:
            continue
        try:
            data = read_regular(path, max_bytes + 1)
        except OSError:
            continue  # gone, unreadable, or a FIFO where a module should be
        if len(data) > max_bytes:
            continue
        if not any(needle in data for needle in needles):
            continue
        if statements.search(data) is None:
            continue  # mentions the name, but in no statement that can import it
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        sources.append(Source(path, named[0], named[1], text))
    return sources


def _statements(needles: Iterable[bytes]) -> re.Pattern[bytes]:
    """What a file that can import one of the modules named by ``needles`` (their last
    part) must contain: ``import …name`` on one logical line (backslash continuations
    included), ``from …name`` (``from torch._C import x``), the name inside the parentheses
    of ``from x import (…)``, or a call to ``import_module``/``__import__``. Parsing only
    such files is what makes a distribution of a thousand modules quick (torch: ``_C``)."""
    names = b"|".join(re.escape(n) for n in sorted(needles))
    word = rb"(?<![\w])(?:" + names + rb")(?![\w])"
    return re.compile(
        rb"import(?:[^\n]|\\\n)*?" + word
        + rb"|from[ \t]+[\w.]*?" + word
        + rb"|import[ \t]*\([^)]*?" + word
        + rb"|import_module|__import__"
    )  # fmt: skip


def judge(module: str, sources: Sequence[Source]) -> ModuleImports:
    """Every import of ``module`` in ``sources``, guarded or not (pure: no file access)."""
    return judge_all([module], sources)[module]


def judge_all(modules: Iterable[str], sources: Sequence[Source]) -> dict[str, ModuleImports]:
    """:func:`judge` for several modules, each source parsed once."""
    wanted = list(dict.fromkeys(modules))
    sites: dict[str, list[ImportSite]] = {module: [] for module in wanted}
    for source in sources:
        try:
            tree = ast.parse(source.text, filename=source.path)
        except (SyntaxError, ValueError):
            continue  # Python 2 leftovers, templates: such a file imports nothing at run time
        except (RecursionError, MemoryError):
            continue  # nested deeper than the parser goes: Python cannot import it either
        lines = source.text.splitlines()
        # Import statements are statements: only a file that calls import_module or
        # __import__ needs its expressions walked (a tenth of the time on torch's sources).
        calls = "import_module" in source.text or "__import__" in source.text
        for node, guard, top in _imports(tree.body, None, True, calls):
            for module in wanted:
                if not _imports_module(node, module, source):
                    continue
                line = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
                unguarded_init = top and source.is_package and guard is None
                sites[module].append(
                    ImportSite(source.path, node.lineno, line, guard, unguarded_init)
                )
    return {module: ModuleImports(module, tuple(found)) for module, found in sites.items()}


_Node = Union[ast.Import, ast.ImportFrom, ast.Call]
# ``try: ... except* ...`` (PEP 654) is its own node from Python 3.11 on.
_TRY: tuple[type[ast.AST], ...] = (ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))
_FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _imports(
    body: Iterable[ast.AST], guard: str | None, top: bool, calls: bool = True
) -> Iterator[tuple[_Node, str | None, bool]]:
    """Import statements and calls with whether an enclosing ``try`` guards them and whether
    they run at module level. A function body runs later, wherever it is called from: the
    ``try`` around its definition guards nothing, one inside it does.

    In source order (each node before the nodes inside it), with a stack of its own rather
    than recursion: ``x = a + a + ... + a`` nests one node per ``+``, and a target's file
    with a few thousand of them must not exhaust Python's stack.
    """
    # Node lists still to go through, each with its guard and whether it runs at module
    # level; the last is the one being gone through.
    stack: list[tuple[Iterator[ast.AST], str | None, bool]] = [(iter(body), guard, top)]
    while stack:
        nodes, guard, top = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, guard, top
            continue
        if isinstance(node, _TRY):
            block = cast(ast.Try, node)  # ast.TryStar has the same fields
            catches = [c for c in map(_handler_guard, block.handlers) if c is not None]
            parts = [
                (block.body, catches[0] if catches else guard),
                *((handler.body, guard) for handler in block.handlers),
                (block.orelse, guard),
                (block.finalbody, guard),
            ]
            stack += [(iter(part), part_guard, top) for part, part_guard in reversed(parts)]
            continue
        if isinstance(node, _FUNCTION):
            stack.append((_children(node, calls), None, False))
            continue
        if isinstance(node, ast.Call):
            yield node, guard, top
        stack.append((_children(node, calls), guard, top))


_BLOCKS = (ast.stmt, ast.excepthandler, *((ast.match_case,) if hasattr(ast, "match_case") else ()))


def _children(node: ast.AST, calls: bool) -> Iterator[ast.AST]:
    """The nodes inside ``node`` that can hold an import: every one when calls are looked
    for, else the statements of its blocks (``body``, ``orelse``, handlers, cases)."""
    if calls:
        return ast.iter_child_nodes(node)
    return (child for child in ast.iter_child_nodes(node) if isinstance(child, _BLOCKS))


def _handler_guard(handler: ast.ExceptHandler) -> str | None:
    """What the handler catches of a failed extension import ("ImportError", "Exception",
    "" for a bare except), or None when it catches nothing of it or raises again."""
    if handler.type is None:
        caught: str | None = ""
    else:
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        caught = next((n for n in map(_name, types) if n in _CATCHING), None)
    if caught is None or any(_raises(stmt) for stmt in handler.body):
        return None
    return caught


def _raises(node: ast.AST) -> bool:
    """Whether a ``raise`` runs as part of ``node`` (not inside a function it defines).
    A stack of its own, as in :func:`_imports`: the tree may be as deep as the file makes it."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Raise):
            return True
        if not isinstance(node, (*_FUNCTION, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _name(node: ast.expr) -> str | None:
    """``ImportError`` for ``ImportError`` and ``builtins.ImportError``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _resolve(level: int, name: str | None, source: Source) -> str | None:
    """The absolute module of ``from <level dots><name> import ...`` in ``source``."""
    if level == 0:
        return name
    parts = source.module.split(".")
    if not source.is_package:
        parts = parts[:-1]
    if level - 1 > len(parts) - 1:
        return None  # beyond the top-level package: an ImportError at run time
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _imports_module(node: _Node, module: str, source: Source) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == module for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        base = _resolve(node.level, node.module, source)
        if base is None:
            return False
        return base == module or any(f"{base}.{alias.name}" == module for alias in node.names)
    return _call_imports(node, module, source)


def _call_imports(node: ast.Call, module: str, source: Source) -> bool:
    """``importlib.import_module("a.b")`` / ``import_module(".b", "a")`` / ``__import__("a.b")``
    with constant strings."""
    func = _name(node.func)
    if func not in ("import_module", "__import__") or not node.args:
        return False
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return False
    name: str = first.value
    if func == "import_module" and name.startswith("."):
        package = node.args[1] if len(node.args) > 1 else None
        if not (isinstance(package, ast.Constant) and isinstance(package.value, str)):
            return False
        level = len(name) - len(name.lstrip("."))
        parts = package.value.split(".")
        if level - 1 >= len(parts):
            return False
        rest = name[level:]
        base = ".".join(parts[: len(parts) - (level - 1)])
        name = f"{base}.{rest}" if rest else base
    return name == module
