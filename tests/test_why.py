"""``pkgdoctor why MODULE``: real imports in the target interpreter, root cause first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artefacts import (
    EXT_SUFFIX,
    OTHER_PY,
    PY,
    Venv,
    Wheelhouse,
    compile_extension,
    make_venv,
    raise_glibc_need,
    run,
    snapshot,
    write_dist_info,
)
from conftest import Runner
from pkgdoctor import __version__

NUMPY = "numpy==2.1.3"


def first(result: Any) -> dict[str, Any]:
    findings: list[dict[str, Any]] = result.json["findings"]
    assert findings, result.out
    return findings[0]


def test_aarch64_numpy_sees_through_the_source_directory_message(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, NUMPY, platform="manylinux2014_aarch64", python=PY)
    result = pkgdoctor("why", "numpy", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    outcome = result.json["imports"][0]
    assert outcome["ok"] is False
    assert "source directory" in outcome["chain"][0]["message"]  # numpy's misleading message
    assert len(outcome["chain"]) >= 2  # and the real one underneath
    root = first(result)
    assert root["code"] == "ext-wrong-arch"
    assert root["evidence"]["file_architecture"] == "aarch64"
    assert "_multiarray_umath" in root["evidence"]["import_error"]
    assert [f["code"] for f in result.json["findings"]] == ["ext-wrong-arch"]

    text = pkgdoctor("why", "numpy", "--prefix", str(venv.prefix)).out
    assert "✗ import numpy fails:" in text
    assert (
        "    caused by ModuleNotFoundError: No module named 'numpy._core._multiarray_umath'" in text
    )
    assert "[ext-wrong-arch]" in text


def test_extension_for_another_python(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, "orjson==3.10.7", platform="manylinux2014_x86_64", python=OTHER_PY)
    result = pkgdoctor("why", "orjson", "--prefix", str(venv.prefix), "--json")
    root = first(result)
    assert root["code"] == "ext-abi-mismatch"
    assert (
        root["evidence"]["import_error"] == "ModuleNotFoundError: No module named 'orjson.orjson'"
    )


def test_deleted_vendored_libs(tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, NUMPY)
    shutil.rmtree(venv.site_packages / "numpy.libs")
    result = pkgdoctor("why", "numpy", "--prefix", str(venv.prefix), "--json")
    root = first(result)
    assert root["code"] == "ext-missing-library"
    assert "cannot open shared object file" in root["evidence"]["import_error"]


def test_glibc_too_new(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    raise_glibc_need(compile_extension(venv.site_packages, "future"))
    result = pkgdoctor("why", "future", "--prefix", str(venv.prefix), "--json")
    root = first(result)
    assert root["code"] == "ext-glibc-too-new"
    assert "version `GLIBC_9." in root["evidence"]["import_error"]  # what ld.so said


def test_segfault_in_module_init_is_reported(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "crashes", body="*(volatile int *)0 = 1;")
    write_dist_info(venv.site_packages, "crashes", "0.1", [ext.name])
    result = pkgdoctor("why", "crashes", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    assert result.json["imports"][0]["crashed"] == "SIGSEGV"
    finding = first(result)
    assert finding["code"] == "import-failed"
    assert finding["evidence"]["last_extension_loaded"] == str(ext)
    assert any("Segmentation fault" in line for line in finding["evidence"]["stderr_tail"])
    assert finding["message"] == f"Importing crashes crashed the interpreter (SIGSEGV) in {ext}."


def test_python_error_is_reported_with_its_chain(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "brittle.py").write_text(
        "print('noise on stdout')\n"
        "try:\n    {}['key']\n"
        "except KeyError as e:\n    raise RuntimeError('config broken') from e\n"
    )
    result = pkgdoctor("why", "brittle", "--prefix", str(venv.prefix), "--json")
    finding = first(result)
    assert finding["code"] == "import-failed"
    chain = result.json["imports"][0]["chain"]
    assert [(c["type"], c["message"]) for c in chain] == [
        ("RuntimeError", "config broken"),
        ("KeyError", "'key'"),
    ]
    assert finding["message"] == "import brittle fails: KeyError: 'key'"


def test_module_that_imports_fine(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "fine")
    result = pkgdoctor("why", "fine", "json", "--prefix", str(venv.prefix))
    assert result.status == 0
    assert f"✓ import fine works in the target interpreter: {ext}." in result.out
    assert "✓ import json works in the target interpreter." in result.out


def test_module_not_installed(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    result = pkgdoctor("why", "not_installed_anywhere", "--prefix", str(venv.prefix), "--json")
    finding = first(result)
    assert finding["code"] == "import-failed"
    assert "install the distribution that provides it" in finding["fix"]


def test_why_refuses_bad_names_and_static_targets(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    bad = pkgdoctor("why", "not a module", "--prefix", str(venv.prefix))
    assert (bad.status, bad.err) == (
        2,
        "pkgdoctor: error: 'not a module' is not a module name (expected e.g. numpy or torch._C)\n",
    )
    static = pkgdoctor("why", "json", "--prefix", str(venv.prefix), "--static")
    assert static.status == 2
    assert static.err.startswith(
        "pkgdoctor: error: cannot import json: the target is read statically"
    )


@pytest.mark.parametrize("broken", [False, True])
def test_check_and_why_write_nothing_into_the_target(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner, broken: bool
) -> None:
    venv: Venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, NUMPY)
    if broken:
        shutil.rmtree(venv.site_packages / "numpy.libs")
    (venv.site_packages / "localmod.py").write_text("import json\nVALUE = 1\n")
    for cache in list(venv.prefix.rglob("__pycache__")):  # pip compiled at install time
        shutil.rmtree(cache)
    before = snapshot(venv.prefix)
    for args in (
        ("check",),
        ("check", "--json"),
        ("why", "numpy", "localmod"),
        ("check", "--static"),
    ):
        pkgdoctor(*args, "--prefix", str(venv.prefix))
    assert snapshot(venv.prefix) == before
    assert not list(venv.prefix.rglob("__pycache__"))


def test_why_text_output_as_a_whole(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "brittle.py").write_text(
        "try:\n    {}['key']\nexcept KeyError as e:\n"
        "    raise RuntimeError('config\\n\\nbroken') from e\n"
    )
    result = pkgdoctor("why", "brittle", "json", "--prefix", str(venv.prefix))
    glibc = os.confstr("CS_GNU_LIBC_VERSION")
    version = ".".join(map(str, sys.version_info[:3]))
    assert result.status == 1
    assert result.out == (
        f"pkgdoctor {__version__} why {venv.prefix}  (live)\n"
        f"CPython {version} · x86_64 · {glibc} · EXT_SUFFIX {EXT_SUFFIX}\n"
        "\n"
        "✗ import brittle fails:\n"
        "    RuntimeError: config broken\n"
        "    caused by KeyError: 'key'\n"
        "✓ import json works in the target interpreter.\n"
        "\n"
        "[✗] Imports  1 error\n"
        "    ✗ import brittle fails: KeyError: 'key'  [import-failed]\n"
        "        checked files: (none)\n"
        f"        raised in: {venv.site_packages / 'brittle.py'}:2\n"
        "      fix: To see each module the import loads, the last one before the error, run:\n"
        f"        {venv.prefix / 'bin/python3'} -X importtime -v -c 'import brittle'\n"
        "\n"
        "1 error, 0 warnings, 0 notes.\n"
    )


PY312 = next(Path("/root/.pyenv/versions").glob("3.12.*/bin/python3.12"), None)


@pytest.mark.skipif(
    PY312 is None, reason="needs a CPython 3.12 (pyenv) to remove imp and distutils"
)
def test_removed_stdlib_module_is_named_with_its_release(tmp_path: Path, pkgdoctor: Runner) -> None:
    """On 3.12 `imp` and `distutils` are gone: why names the module, the release, the
    reference and the distribution whose code imports it, not just ModuleNotFoundError."""
    assert PY312 is not None
    prefix = tmp_path / "env312"
    subprocess.run([str(PY312), "-m", "venv", str(prefix)], check=True, timeout=120)
    site = next(prefix.glob("lib/python3.12/site-packages"))
    (site / "oldtool.py").write_text("import imp\n")
    write_dist_info(site, "oldtool", "1.0", ["oldtool.py"])
    (site / "oldbuild.py").write_text("from distutils.core import setup\n")
    result = pkgdoctor(
        "why", "oldtool", "oldbuild", "--python", str(prefix / "bin/python"), "--json"
    )
    assert result.status == 1
    found = {f["evidence"]["module"]: f for f in result.json["findings"]}
    imp = found["imp"]
    assert imp["code"] == "import-removed-stdlib" and imp["distribution"] == "oldtool"
    assert imp["message"] == (
        "import oldtool fails: it needs imp, which Python 3.12 removed (What's New in Python "
        f"3.12); imported by {site / 'oldtool.py'} (oldtool 1.0)."
    )
    assert "install --upgrade oldtool" in imp["fix"]
    distutils = found["distutils"]
    assert distutils["evidence"]["reference"] == "PEP 632" and distutils["distribution"] is None
    # The fix it names for distutils works: setuptools provides distutils again on 3.12.
    assert "setuptools" in distutils["fix"]
    subprocess.run(
        [str(prefix / "bin/python"), "-m", "pip", "install", "-q", "setuptools"],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    after = pkgdoctor("why", "oldbuild", "--python", str(prefix / "bin/python"), "--json")
    assert after.status == 0, after.json["findings"]


def test_a_working_import_says_which_file_was_imported(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "shadow_me").mkdir()
    init = venv.site_packages / "shadow_me" / "__init__.py"
    init.write_text("")
    result = pkgdoctor("why", "shadow_me", "--python", str(venv.python))
    assert result.status == 0
    assert f"✓ import shadow_me works in the target interpreter: {init}." in result.out
    document = pkgdoctor("why", "shadow_me", "--python", str(venv.python), "--json").json
    assert document["imports"][0]["origin"] == str(init)


def _shell(command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a fix's command as a user pastes it, in bash."""
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=300, env=env
    )


JARACO = (
    "jaraco.functools==4.6.0",
    "jaraco.context==6.1.2",
    "more-itertools==11.2.1",
    "backports.tarfile==1.2.0",  # jaraco.context requires it before 3.12
)


def test_a_stray_init_on_pythonpath_hides_a_namespace_package(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jaraco is a namespace package (PEP 420) that jaraco.functools and jaraco.context both
    install into; a jaraco/__init__.py in a PYTHONPATH directory makes that directory a
    regular package, which ends the search: "No module named 'jaraco.functools'". why names
    the stray file and its PYTHONPATH entry, not "nothing provides jaraco", and its command
    makes the import work."""
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, *JARACO)
    healthy = pkgdoctor("why", "jaraco", "jaraco.functools", "--python", str(venv.python))
    assert healthy.status == 0, healthy.out  # a namespace package is no finding
    assert (
        "✓ import jaraco works in the target interpreter, as a namespace package: "
        f"{venv.site_packages / 'jaraco'}.\n"
    ) in healthy.out
    mine, other = tmp_path / "mine", tmp_path / "other"
    stray = mine / "jaraco" / "__init__.py"
    stray.parent.mkdir(parents=True)
    stray.write_text("")
    other.mkdir()
    pythonpath = f"{mine}:{other}"
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    result = pkgdoctor("why", "jaraco.functools", "--python", str(venv.python), "--json")
    assert result.status == 1
    (finding,) = result.json["findings"]  # import-failed is explained: not reported again
    assert finding["code"] == "module-shadowed"
    assert finding["path"] == str(stray)
    assert finding["evidence"]["entry"] == str(mine)
    assert finding["message"] == (
        f"import jaraco gets the regular package {mine / 'jaraco'} ({mine}, on PYTHONPATH): its "
        f"stray {stray} hides the namespace package jaraco of jaraco.functools 4.6.0 (PEP 420), "
        "so its modules cannot be imported."
    )
    assert finding["command"] == f"export PYTHONPATH={other}"
    env = {**os.environ, "PYTHONPATH": pythonpath}
    importing = f"{venv.python} -c 'import jaraco.functools, jaraco.context'"
    assert _shell(importing, env).returncode == 1
    done = _shell(f"{finding['command']} && {importing}", env)
    assert done.returncode == 0, done.stderr
    # The other way the explanation gives: the directory becomes one more portion.
    assert f"delete {stray} if" in finding["explanation"]
    stray.unlink()
    assert _shell(importing, env).returncode == 0


def test_a_package_whose_init_was_deleted_imports_as_an_empty_namespace(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    """Without its __init__.py a package still imports, as an empty namespace package: the
    import works and everything after it fails. why says so, names the file its RECORD
    lists, and its reinstall command puts it back."""
    prefix = tmp_path / "env"
    run([sys.executable, "-m", "venv", str(prefix)])  # with pip: the fix runs it
    venv = Venv(prefix)
    wheelhouse.install(venv, "idna==3.10")
    init = venv.site_packages / "idna" / "__init__.py"
    init.unlink()
    result = pkgdoctor("why", "idna", "--python", str(venv.python), "--json")
    assert result.status == 1
    assert result.json["imports"][0]["ok"] is True
    assert result.json["imports"][0]["portions"] == [str(init.parent)]
    (finding,) = result.json["findings"]  # record-missing-file is the same story
    assert finding["code"] == "import-namespace-fallback"
    assert finding["path"] == str(init)
    assert finding["message"] == (
        f"import idna gives an empty namespace package: {init}, which the RECORD of idna 3.10 "
        "lists, is missing, so idna has none of its contents."
    )
    assert finding["command"] == (
        f"{venv.python} -m pip install --force-reinstall --no-deps idna==3.10"
    )
    done = _shell(finding["command"])
    assert done.returncode == 0, done.stderr
    works = _shell(f"{venv.python} -c 'import idna; print(idna.encode(\"a\"))'")
    assert works.stdout == "b'a'\n", works.stderr
    after = pkgdoctor("why", "idna", "--python", str(venv.python), "--json")
    assert (after.status, after.json["findings"]) == (0, [])
    assert after.json["imports"][0]["portions"] == []


@pytest.mark.skipif(PY312 is None, reason="needs a CPython 3.12 (pyenv)")
def test_virtualenv_16_on_python_312(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    """virtualenv 16 imports distutils, which 3.12 removed: why says so, and its command
    (an upgrade of virtualenv) makes the import work."""
    assert PY312 is not None
    prefix = tmp_path / "env312"
    run([str(PY312), "-m", "venv", str(prefix)])
    venv = Venv(prefix)
    wheelhouse.install(venv, "virtualenv==16.7.12")
    result = pkgdoctor("why", "virtualenv", "--python", str(venv.python), "--json")
    assert result.status == 1
    (finding,) = result.json["findings"]
    assert finding["code"] == "import-removed-stdlib"
    assert finding["distribution"] == "virtualenv"
    assert finding["evidence"]["module"] == "distutils"
    assert finding["command"] == f"{venv.python} -m pip install --upgrade virtualenv"
    done = _shell(finding["command"])
    assert done.returncode == 0, done.stderr
    after = pkgdoctor("why", "virtualenv", "--python", str(venv.python), "--json")
    assert (after.status, after.json["findings"]) == (0, [])


def test_why_in_a_venv_run_by_another_python(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    """idna installed for 3.11, bin/python now 3.12: "No module named 'idna'" is explained by
    venv-python-mismatch, not reported as a failure nobody explains."""
    py311 = next(Path("/root/.pyenv/versions").glob("3.11.*/bin/python3.11"), None)
    if py311 is None or PY312 is None:
        pytest.skip("needs CPython 3.11 and 3.12 (pyenv)")
    prefix = tmp_path / "env"
    run([str(py311), "-m", "venv", "--without-pip", str(prefix)])
    wheelhouse.install(Venv(prefix), "idna==3.10")
    for name in ("python", "python3", "python3.11"):
        (prefix / "bin" / name).unlink()
        (prefix / "bin" / name).symlink_to(PY312)
    result = pkgdoctor("why", "idna", "--prefix", str(prefix), "--json")
    assert result.status == 1
    assert [f["code"] for f in result.json["findings"]] == ["venv-python-mismatch"]
    working = pkgdoctor("why", "json", "--prefix", str(prefix), "--json")
    assert (working.status, working.json["findings"]) == (0, [])


def test_import_failed_gives_a_command_that_reproduces_it(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "brittle.py").write_text("import json\n{}['key']\n")
    result = pkgdoctor("why", "brittle", "--prefix", str(venv.prefix), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "import-failed"
    assert finding["evidence"]["raised_in"] == f"{venv.site_packages / 'brittle.py'}:2"
    done = _shell(finding["command"])
    assert done.returncode == 1
    assert "import time:" in done.stderr and "KeyError: 'key'" in done.stderr
    # A submodule that does not exist is not "nothing provides json".
    missing = pkgdoctor("why", "json.nothing_here", "--prefix", str(venv.prefix), "--json")
    (finding,) = missing.json["findings"]
    assert "Nothing provides" not in (finding["explanation"] or "")


@pytest.mark.skipif(PY312 is None, reason="needs a CPython 3.12 (pyenv)")
def test_a_module_installed_for_another_python_of_the_prefix(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    """A venv made again with 3.12 in place: idna is still in lib/python3.11/site-packages,
    which 3.12 never reads. why says where it is, and its command installs it for 3.12."""
    assert PY312 is not None
    prefix = tmp_path / "env"
    run([str(PY312), "-m", "venv", str(prefix)])
    old = Venv(prefix)  # its site_packages: lib/python3.11/site-packages
    wheelhouse.install(old, "idna==3.10", python="3.11")
    python = prefix / "bin" / "python"
    result = pkgdoctor("why", "idna", "--python", str(python), "--json")
    assert result.status == 1
    (finding,) = result.json["findings"]
    assert finding["code"] == "import-other-python"
    assert finding["message"] == (
        "import idna fails (ModuleNotFoundError: No module named 'idna'): idna 3.10 is "
        f"installed in {old.site_packages}, for Python 3.11, which Python 3.12 never reads."
    )
    assert finding["command"] == f"{python} -m pip install idna"
    done = _shell(finding["command"])
    assert done.returncode == 0, done.stderr
    after = pkgdoctor("why", "idna", "--python", str(python), "--json")
    assert (after.status, after.json["findings"]) == (0, [])


def test_why_when_the_interpreter_cannot_start(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing can be imported: interpreter-cannot-start is the answer, not exit status 2."""
    venv = make_venv(tmp_path / "env")
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "nowhere"))
    result = pkgdoctor("why", "json", "--python", str(venv.python), "--json")
    assert result.status == 1
    assert result.json["imports"] == []
    assert [f["code"] for f in result.json["findings"]] == ["interpreter-cannot-start"]


def test_why_keeps_what_concerns_the_module_and_only_that(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    """jaraco.context needs backports.tarfile before 3.12 (pip check's verdict): why says so
    for jaraco.context, whose import it breaks, and its command makes the import work; idna,
    beside it, has nothing to do with it. A working directory that shadows idna (--cwd) is
    about idna."""
    prefix = tmp_path / "env"
    run([sys.executable, "-m", "venv", str(prefix)])  # with pip: the fix runs it
    venv = Venv(prefix)
    wheelhouse.install(venv, "idna==3.10", "jaraco.context==6.1.2")
    idna = pkgdoctor("why", "idna", "--python", str(venv.python), "--json")
    assert (idna.status, idna.json["findings"]) == (0, [])
    result = pkgdoctor("why", "jaraco.context", "--python", str(venv.python), "--json")
    assert result.status == 1
    (finding,) = result.json["findings"]
    assert finding["code"] == "dist-requirement-missing"
    assert finding["command"] == f"{venv.python} -m pip install backports.tarfile"
    done = _shell(finding["command"])
    assert done.returncode == 0, done.stderr
    after = pkgdoctor("why", "jaraco.context", "--python", str(venv.python), "--json")
    assert (after.status, after.json["findings"]) == (0, [])

    work = tmp_path / "work"
    work.mkdir()
    (work / "idna.py").write_text("")
    shadowed = pkgdoctor("why", "idna", "--python", str(venv.python), "--cwd", str(work), "--json")
    assert shadowed.status == 1
    (finding,) = shadowed.json["findings"]
    assert (finding["code"], finding["path"]) == ("module-shadowed", str(work / "idna.py"))
