"""The pure judgement of :mod:`pkgdoctor.optional_imports`, on real Python sources."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pkgdoctor.optional_imports import (
    ModuleImports,
    Source,
    judge,
    judge_all,
    module_of,
    read_importers,
)

MODULE = "pkg.sub._fast"


def imports(text: str, module: str = "pkg.sub.user", *, package: bool = False) -> ModuleImports:
    source = Source(f"/site/{module.replace('.', '/')}.py", module, package, textwrap.dedent(text))
    return judge(MODULE, [source])


def guarded(text: str, module: str = "pkg.sub.user", *, package: bool = False) -> list[bool]:
    return [site.guarded for site in imports(text, module, package=package).sites]


@pytest.mark.parametrize(
    "statement",
    [
        "import pkg.sub._fast",
        "import pkg.sub._fast as fast",
        "from pkg.sub import _fast",
        "from pkg.sub import other, _fast as fast",
        "from pkg.sub._fast import speedup",
        "from . import _fast",
        "from ._fast import speedup",
        "from ..sub import _fast",
        "importlib.import_module('pkg.sub._fast')",
        "import_module('._fast', 'pkg.sub')",
        "import_module('.._fast', 'pkg.sub.user')",
        "__import__('pkg.sub._fast')",
    ],
)
def test_every_import_form_is_found_and_guarded(statement: str) -> None:
    text = f"try:\n    {statement}\nexcept ImportError:\n    fast = None\n"
    result = imports(text)
    assert [(s.line, s.statement, s.guarded) for s in result.sites] == [(2, statement, True)]
    assert result.optional
    unguarded = imports(f"{statement}\n")
    assert [s.guarded for s in unguarded.sites] == [False]
    assert not unguarded.optional


@pytest.mark.parametrize(
    "statement",
    [
        "import pkg.sub",
        "import pkg.sub._fast_other",
        "from pkg import _fast",
        "from .. import _fast",  # pkg._fast, from pkg/sub/user.py
        "importlib.import_module(name)",
        "import_module('._fast')",  # relative without a package: a TypeError at run time
    ],
)
def test_other_modules_are_not_imports_of_it(statement: str) -> None:
    assert imports(f"{statement}\n").sites == ()


def test_relative_import_in_a_package_init() -> None:
    assert guarded("from . import _fast\n", module="pkg.sub", package=True) == [False]
    assert guarded("from . import _fast\n", module="pkg.sub", package=False) == []


@pytest.mark.parametrize(
    ("handler", "caught"),
    [
        ("except ImportError:", "ImportError"),
        ("except (ValueError, ImportError):", "ImportError"),
        ("except (ImportError, OSError) as e:", "ImportError"),
        ("except Exception:", "Exception"),
        ("except BaseException:", "BaseException"),
        ("except builtins.ImportError:", "ImportError"),
        ("except:", ""),
    ],
)
def test_handlers_that_guard(handler: str, caught: str) -> None:
    text = f"try:\n    from pkg.sub import _fast\n{handler}\n    pass\n"
    assert [site.guard for site in imports(text).sites] == [caught]


@pytest.mark.parametrize(
    "handler",
    [
        "except ValueError:",
        "except OSError:",  # what ctypes raises, not a failed import
        "except ModuleNotFoundError:",  # a missing library is a plain ImportError
        "except (KeyError, AttributeError):",
    ],
)
def test_handlers_that_do_not_guard(handler: str) -> None:
    assert guarded(f"try:\n    from pkg.sub import _fast\n{handler}\n    pass\n") == [False]


def test_a_handler_that_raises_again_is_not_a_guard() -> None:
    text = """
        try:
            from pkg.sub import _fast
        except ImportError as e:
            if "libfoo" in str(e):
                raise RuntimeError("install libfoo") from e
    """
    assert guarded(text) == [False]
    bare = "try:\n    import pkg.sub._fast\nexcept ImportError:\n    log()\n    raise\n"
    assert guarded(bare) == [False]
    # A raise in a function the handler defines does not run there.
    later = "try:\n    import pkg.sub._fast\nexcept ImportError:\n    def f():\n        raise\n"
    assert guarded(later) == [True]


def test_nested_try() -> None:
    text = """
        try:
            try:
                from pkg.sub import _fast
            except ValueError:
                pass
        except ImportError:
            pass
        try:
            pass
        except ImportError:
            from pkg.sub import _fast  # in the handler: not guarded by its own try
        else:
            from pkg.sub import _fast
        finally:
            from pkg.sub import _fast
    """
    assert guarded(text) == [True, False, False, False]


def test_functions_run_later_classes_run_now() -> None:
    text = """
        try:
            def load():
                from pkg.sub import _fast
            class Holder:
                from pkg.sub import _fast
        except ImportError:
            pass
        def select():
            try:
                from pkg.sub import _fast as lib
            except ImportError:
                lib = None
            return lib
    """
    assert guarded(text) == [False, True, True]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="except* is Python 3.11+ syntax")
def test_except_star() -> None:
    assert guarded("try:\n    import pkg.sub._fast\nexcept* ImportError:\n    pass\n") == [True]


def test_unguarded_at_top_of_package_init() -> None:
    result = imports("from ._fast import x\n", module="pkg.sub", package=True)
    assert [s.top_level_init for s in result.sites] == [True]
    in_function = imports("def f():\n    from ._fast import x\n", module="pkg.sub", package=True)
    assert [s.top_level_init for s in in_function.sites] == [False]


def test_one_unguarded_import_makes_it_required() -> None:
    guarded_one = Source(
        "/a.py", "pkg.a", False, "try:\n    import pkg.sub._fast\nexcept:\n    0\n"
    )
    plain = Source("/b.py", "pkg.b", False, "import pkg.sub._fast\n")
    assert judge(MODULE, [guarded_one]).optional
    assert not judge(MODULE, [guarded_one, plain]).optional
    assert not judge(MODULE, []).optional  # nothing known: not optional


def test_several_modules_at_once() -> None:
    text = "import pkg.sub._fast\ntry:\n    import pkg.sub._simd\nexcept ImportError:\n    pass\n"
    source = Source("/a.py", "pkg.a", False, text)
    found = judge_all([MODULE, "pkg.sub._simd", "pkg.sub._none"], [source])
    assert {m: (i.optional, len(i.sites)) for m, i in found.items()} == {
        MODULE: (False, 1),
        "pkg.sub._simd": (True, 1),
        "pkg.sub._none": (False, 0),
    }


def test_unparsable_source_is_skipped() -> None:
    bad = Source("/bad.py", "pkg.bad", False, "print 'python 2'\nimport pkg.sub._fast\n")
    assert judge(MODULE, [bad]).sites == ()


def test_module_of() -> None:
    assert module_of("numba/np/ufunc/parallel.py") == ("numba.np.ufunc.parallel", False)
    assert module_of("numba/__init__.py") == ("numba", True)
    assert module_of("six.py") == ("six", False)
    assert module_of("numba/x.so") is None
    assert module_of("../../bin/tool.py") is None
    assert module_of("numba-0.1.data/scripts/x.py") is None


def test_read_importers_reads_only_candidates(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "from . import sub\n",
        "pkg/sub/__init__.py": "try:\n    from . import _fast\nexcept ImportError:\n    pass\n",
        "pkg/sub/big.py": "# _fast\n" + "x = 1\n" * 100,
        "pkg/sub/latin1.py": "# _fast \xe9\n",
        "pkg/sub/data.txt": "_fast",
    }
    listed = []
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("latin-1"))
        listed.append((rel, str(path)))
    listed.append(("pkg/sub/gone.py", str(tmp_path / "pkg/sub/gone.py")))  # in RECORD, deleted
    sources = read_importers(listed, [MODULE], max_bytes=500)
    assert [(s.module, s.is_package) for s in sources] == [("pkg.sub", True)]
    assert judge(MODULE, sources).optional


@pytest.mark.parametrize("terms", [2000, 100_000])
def test_deeply_nested_sources_do_not_exhaust_the_stack(terms: int) -> None:
    """``a + a + ... + a`` nests one node per ``+``: 2000 parse (and used to exhaust the
    walk's recursion), 100,000 are deeper than the parser goes (so Python cannot import
    the file either): nothing is known from it, and nothing raises."""
    deep = "x = " + " + ".join(["a"] * terms)
    handler = "    if " + " + ".join(["a"] * terms) + ":\n        raise\n"
    text = f"try:\n    from pkg.sub import _fast\nexcept ImportError:\n{handler}\n{deep}\n"
    source = Source("/site/pkg/sub/user.py", "pkg.sub.user", False, text)
    found = judge(MODULE, [source]).sites
    if terms == 2000:
        assert [(s.line, s.guarded) for s in found] == [(2, False)]  # the handler raises again
    else:
        assert found == ()


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("import torch._C\n", True),
        ("from torch._C import x\n", True),
        ("from torch import (\n    a,\n    _C,\n)\n", True),
        ("from torch import \\\n    _C\n", True),
        ("m = importlib.import_module('torch._C')\n", True),
        ("x = torch._C.foo()  # _C is used, never imported here\n", False),
        ("from . import _Cx\n", False),
    ],
)
def test_only_files_that_can_import_the_module_are_read(
    tmp_path: Path, text: str, read: bool
) -> None:
    """The cheap filter before parsing (torch's thousand files mention ``_C`` everywhere;
    few import it) keeps every way of importing it."""
    path = tmp_path / "torch" / "mod.py"
    path.parent.mkdir()
    path.write_text(text)
    sources = read_importers([("torch/mod.py", str(path))], ["torch._C"])
    assert bool(sources) is read
    if read:
        assert judge("torch._C", sources).sites
