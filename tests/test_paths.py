"""``pkgdoctor check`` on real sys.path problems (FAILURES.md 16 and 17).

Every environment is a real venv; PYTHONPATH and PYTHONUSERBASE reach the probe through the
environment, as they do for the user.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artefacts import OTHER_PY, PY, Venv, compile_extension, make_venv, run, write_dist_info
from conftest import Runner
from pkgdoctor.checks.paths import Entry, known_hook, resolve
from pkgdoctor.look.paths import decode_pth, list_provisions, parse_pth

CODES = {
    "path-foreign-site-packages",
    "path-user-site-leak",
    "module-shadowed",
    "pth-executes-code",
    "env-externally-managed",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYTHONPATH", "PYTHONUSERBASE", "PYTHONNOUSERSITE", "PYTHONSAFEPATH"):
        monkeypatch.delenv(name, raising=False)


def ours(result: Any) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["code"] in CODES]


def only(result: Any, code: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [f for f in result.json["findings"] if f["code"] == code]
    assert len(found) == 1, result.json["findings"]
    return found[0]


def fake_dist(site: Path, name: str, version: str, module: str | None = None) -> None:
    """A distribution with a package ``module/`` (default: its name) and a RECORD listing it."""
    module = module or name
    (site / module).mkdir(parents=True, exist_ok=True)
    (site / module / "__init__.py").write_text(f"__version__ = {version!r}\n")
    write_dist_info(site, name, version, [f"{module}/__init__.py"])


def other_site_packages(tmp_path: Path) -> Path:
    """Another Python's site-packages: a real one if pyenv has it, else a tree named so."""
    real = sorted(
        glob.glob(f"/root/.pyenv/versions/{OTHER_PY}.*/lib/python{OTHER_PY}/site-packages")
    )
    if real and os.path.isdir(os.path.join(real[0], "setuptools")):
        return Path(real[0])
    site = tmp_path / "other" / "lib" / f"python{OTHER_PY}" / "site-packages"
    fake_dist(site, "setuptools", "65.5.0")
    return site


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    return make_venv(tmp_path / "env")


# --- .pth parsing ---------------------------------------------------------------------------


@given(st.text())
def test_parse_pth_never_raises(text: str) -> None:
    lines = parse_pth(text)
    older = parse_pth(text, version=(3, 8))
    for parsed in (lines, older):
        numbers = [line.number for line in parsed]
        assert numbers == sorted(set(numbers))
        for line in parsed:
            assert line.number >= 1
            assert line.executes == line.text.startswith(("import ", "import\t"))
            assert line.text.strip() and not line.text.startswith("#")
            known_hook("x.pth", line.text)


@given(st.binary())
def test_decode_pth_never_raises(data: bytes) -> None:
    assert isinstance(decode_pth(data), str)


def test_parse_pth_follows_site_py() -> None:
    text = "# comment\n\n  \nimport os\n import sys\nimport\tsys\n../src  \nimportlib\n"
    parsed = [(line.number, line.text, line.executes) for line in parse_pth(text)]
    assert parsed == [
        (4, "import os", True),
        (5, " import sys", False),  # site.py tests the first column only: a path
        (6, "import\tsys", True),
        (7, "../src", False),
        (8, "importlib", False),
    ]


def test_resolve_follows_the_import_system(tmp_path: Path) -> None:
    first, second, third = (tmp_path / n for n in ("a", "b", "c"))
    (first / "ns").mkdir(parents=True)  # namespace portion: does not stop the search
    (second / "ns").mkdir(parents=True)
    (second / "ns" / "__init__.py").write_text("")
    (third / "ns.py").parent.mkdir(parents=True)
    (third / "ns.py").write_text("")
    (first / "only_ns").mkdir()
    (third / "only_ns").mkdir()
    (second / "mod.py").write_text("")
    (second / "mod.pyc").write_bytes(b"")
    (first / "pkg").mkdir()
    (first / "pkg" / "__init__.py").write_text("")
    (first / "pkg.py").write_text("")  # a package beats a module in one directory
    names = frozenset({"ns", "only_ns", "mod", "pkg", "absent"})
    entries = []
    for index, directory in enumerate((first, second, third, tmp_path / "missing")):
        provides = list_provisions(str(directory), [".so"])
        entries.append(Entry(str(directory), index, "PYTHONPATH", str(directory), None, provides))
    found = {name: resolve(name, entries) for name in names}
    assert found["ns"] is not None and found["ns"].entry.index == 1
    assert found["ns"].provision.kind == "package"
    assert found["only_ns"] is not None and found["only_ns"].provision.kind == "namespace"
    assert found["mod"] is not None and found["mod"].provision.kind == "module"
    assert found["pkg"] is not None and found["pkg"].provision.kind == "package"
    assert found["absent"] is None


# --- healthy --------------------------------------------------------------------------------


def test_healthy_venv_reports_nothing(venv: Venv, tmp_path: Path, pkgdoctor: Runner) -> None:
    fake_dist(venv.site_packages, "numpy", "2.1.3")
    cwd = tmp_path / "project"
    (cwd / "tests").mkdir(parents=True)  # a project's own tests/, src/ and docs/ are fine
    (cwd / "tests" / "__init__.py").write_text("")
    (cwd / "numpy").mkdir()  # a checkout directory without __init__.py: a namespace portion
    (cwd / "email").mkdir()
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--cwd", str(cwd), "--json")
    assert ours(result) == []
    assert result.json["examined"]["sys.path"] == 1 + len(result.json["target"]["sys_path"])


# --- path-foreign-site-packages -------------------------------------------------------------


def test_other_python_site_packages_on_pythonpath(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = other_site_packages(tmp_path)
    fake_dist(venv.site_packages, "setuptools", "70.0.0")
    keep = tmp_path / "mycode"
    keep.mkdir()
    monkeypatch.setenv("PYTHONPATH", f"{foreign}:{keep}")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "path-foreign-site-packages")
    assert finding["severity"] == "error"
    assert result.status == 1
    evidence = finding["evidence"]
    assert evidence["entry"] == str(foreign)
    assert evidence["origin"] == "PYTHONPATH"
    assert evidence["python_version"] == f"Python {OTHER_PY}"
    assert evidence["before_own_site_packages"] is True
    setuptools = next(s for s in evidence["shadows"] if s["module"] == "setuptools")
    assert setuptools["used"] == str(foreign / "setuptools")
    assert setuptools["not_used"] == str(venv.site_packages / "setuptools")
    assert "setuptools" in finding["message"]
    assert finding["command"] == f"export PYTHONPATH={keep}"
    # The same root cause is not reported again as shadowed modules or as a duplicate
    # distribution: the second copy of setuptools is evidence of this finding.
    assert "module-shadowed" not in result.codes()
    assert "dist-duplicate" not in result.codes()
    [duplicate] = evidence["duplicates"]
    assert duplicate["distribution"] == "setuptools"
    assert os.path.dirname(duplicate["used"]) == str(foreign)
    assert os.path.dirname(duplicate["shadowed"]) == str(venv.site_packages)
    # Asked for alone, the duplicate is reported in its own right.
    alone = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--select", "dist-")
    assert alone.codes() == ["dist-duplicate"]


def test_a_finding_caused_by_a_foreign_entry_points_to_it(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An extension module built for the other Python, reached only through PYTHONPATH: the
    fix is PYTHONPATH, not a reinstall of its distribution (issue 10 section 4)."""
    foreign = tmp_path / "other" / "lib" / f"python{OTHER_PY}" / "site-packages"
    tag = OTHER_PY.replace(".", "")
    ext = compile_extension(
        foreign / "speedy", "_core", suffix=f".cpython-{tag}-x86_64-linux-gnu.so"
    )
    (foreign / "speedy" / "__init__.py").write_text("")
    write_dist_info(foreign, "speedy", "1.0", ["speedy/__init__.py", f"speedy/{ext.name}"])
    monkeypatch.setenv("PYTHONPATH", str(foreign))
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    cause = only(result, "path-foreign-site-packages")
    abi = only(result, "ext-abi-mismatch")
    assert abi["distribution"] == "speedy"
    assert abi["evidence"]["caused_by"] == f"path-foreign-site-packages {foreign}"
    assert abi["command"] == cause["command"] == "unset PYTHONPATH"
    assert "pip" not in abi["fix"]
    # Run as printed: both findings are gone.
    monkeypatch.delenv("PYTHONPATH")
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert {"path-foreign-site-packages", "ext-abi-mismatch"}.isdisjoint(after.codes())


def test_other_prefix_same_version_is_a_warning(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "opt" / "lib" / f"python{PY}" / "site-packages"
    fake_dist(other, "requests", "2.0.0")
    monkeypatch.setenv("PYTHONPATH", str(other))
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "path-foreign-site-packages")
    assert finding["severity"] == "warning"
    assert finding["evidence"]["python_version"] == f"Python {PY}"
    assert finding["evidence"]["distributions"] == ["requests 2.0.0"]
    assert finding["command"] == "unset PYTHONPATH"


def test_pth_file_adding_a_foreign_directory_is_named(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner
) -> None:
    foreign = tmp_path / "other" / "lib" / f"python{OTHER_PY}" / "site-packages"
    fake_dist(foreign, "oldpkg", "1.0")
    pth = venv.site_packages / "zz-extra.pth"
    pth.write_text(f"# added by hand\n{foreign}\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "path-foreign-site-packages")
    assert finding["evidence"]["origin"] == ".pth"
    assert finding["evidence"]["pth_file"] == str(pth)
    assert str(pth) in finding["message"]
    assert finding["fix"].startswith(f"Remove the line {str(foreign)!r} from {pth}")


# --- path-user-site-leak --------------------------------------------------------------------


def _user_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "userbase"
    user_site = base / "lib" / f"python{PY}" / "site-packages"
    fake_dist(user_site, "leaky", "1.0")
    fake_dist(user_site, "numpy", "1.26.4")
    monkeypatch.setenv("PYTHONUSERBASE", str(base))
    return user_site


def test_user_site_leaks_into_system_site_venv(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "env"
    run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(prefix)])
    venv = Venv(prefix)
    fake_dist(venv.site_packages, "numpy", "2.1.3")
    user_site = _user_base(tmp_path, monkeypatch)
    # A user-site copy of a distribution of the base interpreter's site-packages hides it.
    base_site = Path(sys.base_prefix) / "lib" / f"python{PY}" / "site-packages"
    base_dists = sorted(base_site.glob("*.dist-info"))
    base_name = base_dists[0].name.split("-")[0] if base_dists else None
    if base_name:
        write_dist_info(user_site, base_name, "0.0.1", [])
    result = pkgdoctor("check", "--prefix", str(prefix), "--json")
    finding = only(result, "path-user-site-leak")
    assert finding["severity"] == "warning"
    evidence = finding["evidence"]
    assert evidence["user_site"] == str(user_site)
    assert {"leaky 1.0", "numpy 1.26.4"} <= set(evidence["distributions"])
    # The venv's own site-packages comes before the user site, the base's after it.
    used = {d["distribution"]: d["used"] for d in evidence["also_in_environment"]}
    assert used["numpy"] == "environment"
    assert finding["message"].startswith(
        f"The user site-packages {user_site} is on sys.path of this venv and holds "
    )
    if base_name:
        assert used[base_name] == "user site"
        assert f"its {base_name} is used instead of the venv's copies." in finding["message"]
    assert finding["command"] == "export PYTHONNOUSERSITE=1"
    assert not [f for f in ours(result) if f["code"] == "module-shadowed"]


def test_no_leak_without_system_site_packages(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user_base(tmp_path, monkeypatch)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert ours(result) == []


# --- module-shadowed ------------------------------------------------------------------------


def test_numpy_py_in_working_directory(venv: Venv, tmp_path: Path, pkgdoctor: Runner) -> None:
    fake_dist(venv.site_packages, "numpy", "2.1.3")
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "numpy.py").write_text("print('my experiment')\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--cwd", str(cwd), "--json")
    finding = only(result, "module-shadowed")
    assert finding["severity"] == "error"
    assert finding["distribution"] == "numpy"
    assert finding["evidence"] == {
        "module": "numpy",
        "shadowing": str(cwd / "numpy.py"),
        "shadowing_kind": "module",
        "provider": "numpy",
        "provider_path": str(venv.site_packages / "numpy"),
        "origin": "working directory",
        "why": "the working directory comes first on sys.path (python -c, python -m and the "
        "REPL put it there; a script's own directory takes its place)",
    }
    assert finding["fix"] == (
        f"Rename {cwd / 'numpy.py'} (and delete {cwd / '__pycache__'}/numpy.*.pyc), "
        "or run Python from another directory"
    )


def test_stdlib_shadowed_but_not_frozen_or_builtin(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    for name in ("random.py", "token.py", "os.py", "sys.py", "abc.py"):
        (cwd / name).write_text("")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--cwd", str(cwd), "--json")
    shadowed = {f["evidence"]["module"]: f for f in ours(result) if f["code"] == "module-shadowed"}
    # os and abc are frozen from 3.11 and imported at start-up; sys is built in.
    assert sorted(shadowed) == ["random", "token"]
    assert shadowed["random"]["evidence"]["provider"] == "stdlib"
    assert shadowed["random"]["distribution"] is None


def test_stdlib_shadowed_text_output(venv: Venv, tmp_path: Path, pkgdoctor: Runner) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "random.py").write_text("")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--cwd", str(cwd))
    lines = result.out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("[✗] sys.path"))
    block = "\n".join(lines[start : start + 10])
    random_py = os.path.realpath(os.path.dirname(os.__file__)) + "/random.py"
    assert block == "\n".join(
        [
            "[✗] sys.path  (5 checked)  1 error",
            f"    ✗ import random gets the module {cwd}/random.py (in the working directory), "
            "not the standard library's random.  [module-shadowed]",
            "        module: random",
            "        shadowing: random.py",
            "        shadowing kind: module",
            "        provider: stdlib",
            f"        provider path: {random_py}",
            "        origin: working directory",
            "        why: the working directory comes first on sys.path (python -c, python -m "
            "and the REPL put it there; a script's own directory takes its place)",
            f"      fix: Rename {cwd}/random.py (and delete {cwd}/__pycache__/random.*.pyc), or "
            "run Python from another directory",
        ]
    )


def test_stale_copy_on_pythonpath(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dist(venv.site_packages, "numpy", "2.1.3")
    stale = tmp_path / "oldlibs"
    (stale / "numpy").mkdir(parents=True)
    (stale / "numpy" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", str(stale))
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "module-shadowed")
    assert finding["evidence"]["origin"] == "PYTHONPATH"
    assert finding["evidence"]["shadowing_kind"] == "package"
    assert finding["command"] == "unset PYTHONPATH"
    assert finding["explanation"] == (
        f"Take {stale} off PYTHONPATH; or rename or remove the directory {stale / 'numpy'}"
    )


# --- pth-executes-code ----------------------------------------------------------------------


def test_pth_hooks(venv: Venv, pkgdoctor: Runner) -> None:
    site = venv.site_packages
    finder = "__editable___foo_1_0_finder"
    (site / f"{finder}.py").write_text("def install():\n    pass\n")
    (site / "__editable__.foo-1.0.pth").write_text(f"import {finder}; {finder}.install()\n")
    write_dist_info(site, "foo", "1.0", [f"{finder}.py", "__editable__.foo-1.0.pth"])
    (site / "evil.pth").write_text("# harmless?\nimport os; os.environ.setdefault('X', '1')\n")
    # setuptools was uninstalled, its shim stayed: every start-up prints an error.
    shim = (
        "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') "
        "== 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
    )
    (site / "distutils-precedence.pth").write_text(shim)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    found = {
        os.path.basename(f["path"]): f for f in ours(result) if f["code"] == "pth-executes-code"
    }
    assert sorted(found) == ["__editable__.foo-1.0.pth", "distutils-precedence.pth", "evil.pth"]
    editable = found["__editable__.foo-1.0.pth"]
    assert editable["severity"] == "info"
    assert editable["distribution"] == "foo"
    assert editable["evidence"]["owner"] == "foo 1.0"
    assert editable["command"] is None  # a usual hook: uninstalling foo is no fix
    assert editable["evidence"]["lines"] == [
        {
            "line": 1,
            "code": f"import {finder}; {finder}.install()",
            "hook": "setuptools editable install finder",
        }
    ]
    evil = found["evil.pth"]
    assert evil["severity"] == "warning"
    assert evil["evidence"]["lines"] == [
        {"line": 2, "code": "import os; os.environ.setdefault('X', '1')"}
    ]
    assert evil["command"] is None  # whoever put it there may need it: the user's call
    assert evil["explanation"].endswith(f"if that is gone, remove it: rm {site / 'evil.pth'}")
    shim_finding = found["distutils-precedence.pth"]
    assert shim_finding["severity"] == "warning"
    assert shim_finding["evidence"]["lines"][0]["missing_module"] == "_distutils_hack"


# --- env-externally-managed -----------------------------------------------------------------


@pytest.mark.skipif(
    not os.path.isfile("/usr/lib/python3.11/EXTERNALLY-MANAGED"), reason="no Debian python3.11"
)
def test_debian_python_is_externally_managed(pkgdoctor: Runner) -> None:
    result = pkgdoctor("check", "--python", "/usr/bin/python3.11", "--json")
    finding = only(result, "env-externally-managed")
    assert finding["severity"] == "info"
    assert finding["path"] == "/usr/lib/python3.11/EXTERNALLY-MANAGED"
    assert "python3 -m venv" in finding["evidence"]["error"]


def test_static_tree_with_marker(tmp_path: Path, pkgdoctor: Runner) -> None:
    prefix = tmp_path / "usr"
    stdlib = prefix / "lib" / f"python{PY}"
    (stdlib / "site-packages").mkdir(parents=True)
    (stdlib / "os.py").write_text("")
    (stdlib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError = Use the system package manager,\n  or a venv.\n"
    )
    (prefix / "bin").mkdir()
    shutil.copy(os.path.realpath(sys.executable), prefix / "bin" / "python3")
    result = pkgdoctor("check", "--prefix", str(prefix), "--static", "--json")
    finding = only(result, "env-externally-managed")
    assert finding["evidence"] == {
        "marker": str(stdlib / "EXTERNALLY-MANAGED"),
        "error": "Use the system package manager, or a venv.",
    }
    # A venv of such an interpreter is exempt (PEP 668).
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {prefix / 'bin'}\nversion = {PY}.0\n")
    shutil.copy(os.path.realpath(sys.executable), venv / "bin" / "python3")
    (venv / "lib" / f"python{PY}" / "site-packages").mkdir(parents=True)
    result = pkgdoctor("check", "--prefix", str(venv), "--static", "--json")
    assert "env-externally-managed" not in result.codes()


def test_relative_pythonpath_entry_is_below_the_working_directory(
    venv: Venv, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe runs in a private directory; a relative entry means the user's cwd."""
    fake_dist(venv.site_packages, "numpy", "2.1.3")
    cwd = tmp_path / "work"
    (cwd / "vendor" / "numpy").mkdir(parents=True)
    (cwd / "vendor" / "numpy" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", "vendor")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--cwd", str(cwd), "--json")
    finding = only(result, "module-shadowed")
    assert finding["evidence"]["shadowing"] == str(cwd / "vendor" / "numpy")
    assert finding["evidence"]["origin"] == "PYTHONPATH"
