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
