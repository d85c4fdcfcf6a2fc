"""``pkgdoctor check`` on real broken environments: one per failure mode of FAILURES.md."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from artefacts import (
    BIG_DATA,
    EM_AARCH64,
    EM_LOONGARCH,
    EXT_SUFFIX,
    MULTIARCH,
    OTHER_PY,
    PY,
    SYSCONFIGDATA_NO_TRIPLET,
    USE_BIG_DATA,
    Venv,
    Wheelhouse,
    compile_cxx_extension,
    compile_extension,
    compile_library,
    loongarch_interpreter,
    make_venv,
    patch_machine,
    pip,
    raise_glibc_need,
    run,
    set_phnum,
    truncate_last_segment,
    without_user_config,
    write_dist_info,
)
from conftest import Runner
from pkgdoctor import __version__ as pkgdoctor_version
from pkgdoctor.extmodules import MAX_DEPTH, TOO_DEEP, ScanProblem, iter_extensions

NUMPY = "numpy==2.1.3"
ORJSON = "orjson==3.10.7"
HEALTHY = (
    NUMPY,
    "requests==2.32.3",
    "certifi==2024.8.30",
    "idna==3.10",
    "urllib3==2.2.3",
    "charset-normalizer==3.4.0",
)


def errors(result: Any) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["severity"] == "error"]


def only(result: Any, code: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [f for f in result.json["findings"] if f["code"] == code]
    assert len(found) == 1, result.json["findings"]
    return found[0]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("healthy") / "env")
    wheelhouse.install(venv, *HEALTHY)
    return venv


def test_healthy_environment_has_no_errors(healthy: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("check", "--prefix", str(healthy.prefix), "--json")
    assert result.status == 0, result.out
    assert result.json["findings"] == []
    assert result.json["target"]["mode"] == "live"
    assert result.json["target"]["prefix"] == str(healthy.prefix)


def test_healthy_text_output(healthy: Venv, pkgdoctor: Runner) -> None:
    examined = pkgdoctor("check", "--prefix", str(healthy.prefix), "--json").json["examined"]
    count = examined["Extension modules"]
    assert count == len(list(healthy.site_packages.rglob(f"*{EXT_SUFFIX}")))
    assert examined["Distributions"] == len(HEALTHY)
    result = pkgdoctor("check", "--python", str(healthy.python))
    assert result.status == 0
    glibc = os.confstr("CS_GNU_LIBC_VERSION")
    version = ".".join(map(str, sys.version_info[:3]))
    assert result.out == (
        f"pkgdoctor {pkgdoctor_version} check {healthy.prefix}  (live)\n"
        f"CPython {version} · x86_64 · {glibc} · EXT_SUFFIX {EXT_SUFFIX}\n"
        "\n"
        "[✓] Interpreter\n"
        f"[✓] sys.path  ({examined['sys.path']} checked)\n"
        f"[✓] Distributions  ({len(HEALTHY)} checked)\n"
        f"[✓] Integrity  ({examined['Integrity']} checked)\n"
        f"[✓] Extension modules  ({count} checked)\n"
        "\n"
        "No problems found.\n"
    )


def test_stdlib_only_when_asked(healthy: Venv, pkgdoctor: Runner) -> None:
    plain = pkgdoctor("check", "--prefix", str(healthy.prefix), "--json")
    with_stdlib = pkgdoctor("check", "--prefix", str(healthy.prefix), "--json", "--stdlib")
    dynload = Path(sysconfig.get_config_var("DESTSHARED"))  # the base install's lib-dynload
    stdlib_modules = len(list(dynload.glob("*.so")))
    assert stdlib_modules > 20
    count = plain.json["examined"]["Extension modules"]
    assert with_stdlib.json["examined"]["Extension modules"] == count + stdlib_modules
    assert with_stdlib.json["findings"] == []


def test_aarch64_numpy_in_x86_64_venv(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, NUMPY, platform="manylinux2014_aarch64", python=PY)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    finding = only(result, "ext-wrong-arch")
    assert [f["code"] for f in errors(result)] == ["ext-wrong-arch"]  # one root cause, one error
    assert finding["distribution"] == "numpy"
    evidence = finding["evidence"]
    assert evidence["file_architecture"] == "aarch64"
    assert evidence["interpreter_architecture"] == "x86_64"
    assert evidence["file_count"] > 10
    assert all(f["elf_machine"] == EM_AARCH64 for f in evidence["files"])
    assert "--force-reinstall --no-deps numpy==2.1.3" in finding["fix"]


def test_extension_for_another_python(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, ORJSON, platform="manylinux2014_x86_64", python=OTHER_PY)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-abi-mismatch")
    tag = "cpython-" + OTHER_PY.replace(".", "")
    assert finding["evidence"]["files"][0]["path"].endswith(f"orjson.{tag}-x86_64-linux-gnu.so")
    assert finding["evidence"]["built_for"] == f"CPython {OTHER_PY}"
    assert EXT_SUFFIX in finding["evidence"]["extension_suffixes"]
    assert finding["message"].startswith("1 extension module of orjson is built for CPython")
    assert result.status == 1


def test_musllinux_wheel_under_glibc(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, ORJSON, platform="musllinux_1_2_x86_64", python=PY)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-libc-mismatch")
    assert finding["evidence"]["file_libc"] == "musl"
    assert finding["evidence"]["interpreter_libc"].startswith("glibc ")
    # What the file links says it first (as audit-wheel does): musl's bare libc.so.
    assert finding["evidence"]["files"][0]["dt_needed"] == "libc.so"
    assert "linux-musl" in finding["evidence"]["files"][0]["path"]
    assert len(errors(result)) == 1  # not also reported as a suffix mismatch


def test_deleted_vendored_libs(tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, NUMPY)
    libs = venv.site_packages / "numpy.libs"
    vendored = sorted(p.name for p in libs.iterdir())
    shutil.rmtree(libs)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-missing-library")
    assert finding["distribution"] == "numpy"
    missing = finding["evidence"]["missing"]
    openblas = next(name for name in vendored if name.startswith("libscipy_openblas"))
    assert openblas in missing
    assert missing[openblas]["recorded_in_record_as"] == f"numpy.libs/{openblas}"
    assert str(libs) in missing[openblas]["searched"]  # RUNPATH $ORIGIN/../../numpy.libs
    assert "--force-reinstall --no-deps numpy==2.1.3" in finding["fix"]
    assert len(errors(result)) == 1
    # The missing files are evidence of that finding, unless it is not asked for: then
    # they are reported in their own right.
    assert "record_missing" in finding["evidence"]
    alone = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--select", "record-")
    assert alone.codes() == ["record-missing-file"]
    assert alone.json["findings"][0]["evidence"]["missing_in"] == ["numpy.libs"]


def test_glibc_version_need_too_new(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "needs_future_glibc")
    raise_glibc_need(ext)
    write_dist_info(venv.site_packages, "future-glibc", "1.0", [ext.name])
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-glibc-too-new")
    assert finding["distribution"] == "future-glibc"
    lacking = finding["evidence"]["lacking"]["libc.so.6"]
    assert lacking and all(v.startswith("GLIBC_9.") for v in lacking)
    assert finding["evidence"]["libraries"]["libc.so.6"]["via"] == "ld.so.cache"
    assert finding["evidence"]["system_glibc"] == str(os.confstr("CS_GNU_LIBC_VERSION")).split()[1]


def test_glibcxx_need_too_new(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_cxx_extension(venv.site_packages, "needs_future_cxx")
    raise_glibc_need(ext, b"GLIBCXX_3.")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-glibc-too-new")
    lacking = finding["evidence"]["lacking"]["libstdc++.so.6"]
    assert lacking and all(v.startswith("GLIBCXX_9.") for v in lacking)
    provided = finding["evidence"]["libraries"]["libstdc++.so.6"]["provides_up_to"]
    assert len(provided) == 1 and provided[0].startswith("GLIBCXX_3.4.")
    assert "libstdc++" in finding["fix"]


def test_patched_machine_is_wrong_arch(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages / "pkg", "_core")
    (venv.site_packages / "pkg" / "__init__.py").write_text("")
    patch_machine(ext, EM_LOONGARCH)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-wrong-arch")
    assert finding["distribution"] is None  # no dist-info owns it
    assert finding["evidence"]["file_architecture"] == "loongarch64"
    assert "not installed by any distribution" in finding["message"]
    assert finding["fix"].startswith("Remove or rebuild")
    # The text says the machine in words (issue 10: loongarch64, not 258).
    text = pkgdoctor("check", "--prefix", str(venv.prefix)).out
    assert "architecture loongarch64" in text or "architecture: loongarch64" in text, text
    assert "258" not in text


def test_missing_system_library(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    lib = compile_library(tmp_path / "elsewhere", "libpkgdoctortest.so.1")
    compile_extension(venv.site_packages, "uses_lib", link=[str(lib)])
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-missing-library")
    missing = finding["evidence"]["missing"]["libpkgdoctortest.so.1"]
    assert "/etc/ld.so.cache" in missing["searched"]
    assert "apt-file search libpkgdoctortest.so.1" in finding["fix"]


def test_library_found_through_runpath_origin(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    libs = venv.site_packages / "pkg.libs"
    lib = compile_library(libs, "libbundled.so.1")
    compile_extension(
        venv.site_packages / "pkg",
        "_ext",
        link=[str(lib), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../pkg.libs"],
    )
    (venv.site_packages / "pkg" / "__init__.py").write_text("")
    assert pkgdoctor("check", "--prefix", str(venv.prefix), "--json").json["findings"] == []
    # The same library, but of another architecture: ld.so skips it and finds nothing.
    patch_machine(lib, EM_AARCH64)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    missing = only(result, "ext-missing-library")["evidence"]["missing"]["libbundled.so.1"]
    assert missing["skipped"] == [{"path": str(lib), "reason": "built for aarch64"}]


def test_library_through_ld_library_path(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "env")
    lib = compile_library(tmp_path / "opt", "libfromenv.so.2")
    compile_extension(venv.site_packages, "uses_env_lib", link=[str(lib)])
    assert only(pkgdoctor("check", "--prefix", str(venv.prefix), "--json"), "ext-missing-library")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(lib.parent))
    assert pkgdoctor("check", "--prefix", str(venv.prefix), "--json").json["findings"] == []


def test_stale_extension_beside_working_one_is_not_an_error(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    """Debian ships mod.cpython-311-*.so beside mod.cpython-312-*.so: not a problem."""
    venv = make_venv(tmp_path / "env")
    compile_extension(venv.site_packages, "dual")
    other = f".cpython-{OTHER_PY.replace('.', '')}-{MULTIARCH}.so"
    compile_extension(venv.site_packages, "dual", suffix=other)
    compile_extension(venv.site_packages, "fallback", suffix=other)
    (venv.site_packages / "fallback.py").write_text("")
    assert pkgdoctor("check", "--prefix", str(venv.prefix), "--json").json["findings"] == []


def test_loongarch_interpreter_without_triplet(tmp_path: Path, pkgdoctor: Runner) -> None:
    """A static tree imitating a loongarch64 CPython 3.10 configured without a triplet."""
    prefix = tmp_path / "loong"
    loongarch_interpreter(prefix / "bin" / "python3.10")
    (prefix / "bin" / "python3").symlink_to("python3.10")
    stdlib = prefix / "lib" / "python3.10"
    stdlib.mkdir(parents=True)
    (stdlib / "_sysconfigdata__linux_.py").write_text(SYSCONFIGDATA_NO_TRIPLET)
    site = stdlib / "site-packages"
    files = []
    for module in ("_multiarray_umath", "_umath_linalg"):
        ext = compile_extension(
            site / "numpy" / "_core", module, suffix=".cpython-310-loongarch64-linux-gnu.so"
        )
        patch_machine(ext, EM_LOONGARCH)
        files.append(str(ext.relative_to(site)))
    (site / "numpy" / "__init__.py").write_text("")
    write_dist_info(site, "numpy", "2.2.0", files)

    result = pkgdoctor("check", "--prefix", str(prefix), "--json")
    assert result.status == 1
    target = result.json["target"]
    assert target["mode"] == "static"
    assert target["static_reason"] == "the interpreter is loongarch64, this machine is x86_64"
    assert target["python"]["ext_suffix"] == ".cpython-310.so"
    assert target["python"]["extension_suffixes"] == [".cpython-310.so", ".abi3.so", ".so"]
    assert target["binary"]["architecture"] == "loongarch64"
    finding = only(result, "interpreter-no-platform-triplet")
    assert [f["code"] for f in errors(result)] == ["interpreter-no-platform-triplet"]
    assert finding["evidence"]["expected_triplet"] == "loongarch64-linux-gnu"
    assert finding["evidence"]["distributions"] == {"numpy": 2}
    assert "CPython 3.12+" in finding["fix"]
    assert "_multiarray_umath.cpython-310.so" in finding["fix"]

    text = pkgdoctor("check", "--prefix", str(prefix)).out
    assert "(static: the interpreter is loongarch64, this machine is x86_64)" in text
    assert "[✗] Interpreter  1 error" in text
    # Named with --python, the foreign interpreter is read statically too (ENOEXEC).
    by_python = pkgdoctor("check", "--python", str(prefix / "bin" / "python3.10"), "--json")
    assert by_python.json["target"]["mode"] == "static"
    assert by_python.codes() == ["interpreter-no-platform-triplet"]


def test_truncated_and_non_elf_extensions(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "truncated")
    ext.write_bytes(ext.read_bytes()[:40])
    (venv.site_packages / f"textfile{EXT_SUFFIX}").write_text("not an ELF file\n")
    (venv.site_packages / f"dangling{EXT_SUFFIX}").symlink_to(tmp_path / "nowhere.so")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    reasons = {
        Path(f["path"]).name.split(".")[0]: f["evidence"]["files"][0]["reason"]
        for f in result.json["findings"]
    }
    assert set(reasons) == {"truncated", "textfile", "dangling"}
    assert all(f["code"] == "ext-invalid-elf" for f in result.json["findings"])
    assert "No such file" in reasons["dangling"]
    assert result.status == 1


def _python(venv: Venv, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv.python), "-c", code], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_extension_cut_inside_a_load_segment(tmp_path: Path, pkgdoctor: Runner) -> None:
    """Issue 9: the tables the loader reads are intact, so the file looked fine; ld.so maps
    the segment anyway and the import dies of SIGBUS on the page the file lacks."""
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "_cut", extra=BIG_DATA, body=USE_BIG_DATA)
    assert _python(venv, "import _cut", tmp_path).returncode == 0
    assert pkgdoctor("check", "--prefix", str(venv.prefix), "--json").json["findings"] == []
    size = truncate_last_segment(ext)
    crashed = _python(venv, "import _cut", tmp_path)
    assert crashed.returncode == -signal.SIGBUS, crashed.stderr
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    reason = only(result, "ext-invalid-elf")["evidence"]["files"][0]["reason"]
    assert reason.startswith("not a valid ELF file: PT_LOAD segment ")
    assert reason.endswith(f"past the end of the file ({size} bytes): the file is truncated")


def test_extension_with_pn_xnum(tmp_path: Path, pkgdoctor: Runner) -> None:
    """e_phnum = PN_XNUM: glibc reads 65535 program headers, not sh_info's count."""
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "_xnum")
    set_phnum(ext)
    failed = _python(venv, f"import ctypes; ctypes.CDLL({str(ext)!r})", tmp_path)
    assert failed.returncode == 1
    assert f"OSError: {ext}: cannot read file data" in failed.stderr
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    reason = only(result, "ext-invalid-elf")["evidence"]["files"][0]["reason"]
    assert "e_phnum is PN_XNUM" in reason
    assert result.status == 1


@pytest.mark.parametrize("damage", ["truncated", "pn_xnum"])
def test_bundled_library_the_loader_cannot_load(
    tmp_path: Path, pkgdoctor: Runner, damage: str
) -> None:
    """The loader's search ends at a damaged library (glibc passes over only another class or
    machine): the module cannot be imported, and the library is the finding's subject."""
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    lib = compile_library(
        site / "pkg.libs", "libbundled.so.1", f"{BIG_DATA} int pkgd_answer(void) {{ return 1; }}"
    )
    ext = compile_extension(
        site / "pkg", "_ext", link=[str(lib), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../pkg.libs"]
    )
    (site / "pkg" / "__init__.py").write_text("")
    files = ["pkg/__init__.py", f"pkg/{ext.name}", "pkg.libs/libbundled.so.1"]
    write_dist_info(site, "pkg", "1.0", files)
    assert _python(venv, "import pkg._ext", tmp_path).returncode == 0
    if damage == "truncated":
        truncate_last_segment(lib)
        assert _python(venv, "import pkg._ext", tmp_path).returncode == -signal.SIGBUS
    else:
        set_phnum(lib)
        failed = _python(venv, "import pkg._ext", tmp_path)
        assert "ImportError: " in failed.stderr
        assert "/pkg.libs/libbundled.so.1: cannot read file data" in failed.stderr
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.codes() == ["ext-invalid-elf"]  # not ext-missing-library: it is found
    finding = result.json["findings"][0]
    library = finding["evidence"]["library"]
    assert (library["name"], library["path"], library["needed_by"]) == (
        "libbundled.so.1",
        str(lib),
        str(ext),
    )
    assert ("PT_LOAD segment" if damage == "truncated" else "PN_XNUM") in library["reason"]
    assert finding["evidence"]["files"] == [{"path": str(ext)}]
    assert finding["message"].startswith(
        f"1 extension module of pkg cannot be loaded: the library {lib} it loads: not a valid"
    )
    assert finding["command"].endswith("-m pip install --force-reinstall --no-deps pkg==1.0")


def test_select_and_ignore(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    patch_machine(compile_extension(venv.site_packages, "foreign"), EM_AARCH64)
    prefix = str(venv.prefix)
    assert pkgdoctor("check", "--prefix", prefix, "--ignore", "ext-wrong-arch").status == 0
    assert pkgdoctor("check", "--prefix", prefix, "--select", "ext-").status == 1
    assert pkgdoctor("check", "--prefix", prefix, "--select", "ext-glibc-too-new").status == 0
    bad = pkgdoctor("check", "--prefix", prefix, "--select", "no-such-code")
    assert bad.status == 2
    assert (
        bad.err
        == "pkgdoctor: error: unknown finding code 'no-such-code' (see pkgdoctor --list-checks)\n"
    )


# --- optional extension modules ----------------------------------------------------------------

# numba with every requirement pinned (numpy as above, so the wheel is shared); numba imports
# numba.np.ufunc.tbbpool, which needs libtbb.so.12, only under try/except ImportError.
NUMBA = ("numba==0.68.1", "llvmlite==0.50.0", NUMPY)
TBB = ("tbb==2023.2.0", "tcmlib==1.6.0")  # tbb requires tcmlib==1.*


def not_errors_or_warnings(result: Any) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["severity"] != "info"]


@pytest.fixture(scope="module")
def numba_env(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("numba") / "env")
    wheelhouse.install(venv, *NUMBA)
    return venv


def test_numba_without_tbb_is_healthy(numba_env: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("check", "--prefix", str(numba_env.prefix), "--json")
    assert result.status == 0, result.out
    assert not_errors_or_warnings(result) == []
    finding = only(result, "ext-missing-library")
    assert finding["severity"] == "info"
    # The line number changes between numba releases; the file is the nearest importer.
    message = re.sub(r":\d+\)", ":N)", finding["message"])
    assert message == (
        "numba.np.ufunc.tbbpool is optional (numba imports it inside try/except ImportError in "
        "numba/np/ufunc/parallel.py:N); it cannot load because libtbb.so.12 is missing, so "
        "that feature is unavailable."
    )
    assert finding["evidence"]["optional_module"] == "numba.np.ufunc.tbbpool"
    sites = {(s["file"], s["statement"]) for s in finding["evidence"]["guarded_imports"]}
    assert ("numba/np/ufunc/parallel.py", "from numba.np.ufunc import tbbpool as lib") in sites
    lib = os.path.join(numba_env.prefix, "lib")
    assert finding["command"] == f"{numba_env.prefix}/bin/python3 -m pip install tbb"
    assert finding["explanation"] == (
        f"To use it, install tbb, then start Python with LD_LIBRARY_PATH={lib} (the wheel puts "
        "libtbb.so.12 there, where the loader does not look for numba.np.ufunc.tbbpool). "
        "Nothing needs fixing if you do not use it: numba works without it."
    )


def test_numba_with_tbb_from_pypi(
    numba_env: Venv, wheelhouse: Wheelhouse, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fix, followed: tbb's wheel puts libtbb.so.12 in <prefix>/lib, which numba's tbbpool
    (no RPATH) does not search, so the import only works with LD_LIBRARY_PATH; the check says
    so and is silent once it is set."""
    wheelhouse.install(numba_env, *TBB)
    try:
        lib = os.path.join(numba_env.prefix, "lib")
        prove = [str(numba_env.python), "-c", "from numba.np.ufunc import tbbpool"]
        clean = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        failed = subprocess.run(prove, capture_output=True, text=True, env=clean, check=False)
        assert "libtbb.so.12: cannot open shared object file" in failed.stderr
        result = pkgdoctor("check", "--prefix", str(numba_env.prefix), "--json")
        assert not_errors_or_warnings(result) == []
        finding = only(result, "ext-missing-library")
        assert finding["severity"] == "info"
        assert "the loader does not look where libtbb.so.12 is installed" in finding["message"]
        assert finding["fix"].startswith(f"To use it, start Python with LD_LIBRARY_PATH={lib} ")

        run(prove, env={**clean, "LD_LIBRARY_PATH": lib})  # the fix works for real
        monkeypatch.setenv("LD_LIBRARY_PATH", lib)
        result = pkgdoctor("check", "--prefix", str(numba_env.prefix), "--json")
        assert result.json["findings"] == []
    finally:  # other tests share the environment
        pip("--python", str(numba_env.python), "uninstall", "--yes", "tbb", "tcmlib")


def optional_package(tmp_path: Path, init: str) -> Venv:
    """``feat`` with two extension modules needing a library the loader cannot find,
    ``feat/__init__.py`` being ``init``; a dist-info owns it all."""
    venv = make_venv(tmp_path / "env")
    lib = compile_library(tmp_path / "elsewhere", "libpkgdoctoropt.so.1")
    package = venv.site_packages / "feat"
    accel = compile_extension(package, "_accel", link=[str(lib)])
    core = compile_extension(package, "_core", link=[str(lib)])
    (package / "__init__.py").write_text(textwrap.dedent(init))
    files = ["feat/__init__.py", f"feat/{accel.name}", f"feat/{core.name}"]
    write_dist_info(venv.site_packages, "feat", "1.0", files)
    return venv


def test_optional_and_required_extension_of_one_package(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = optional_package(
        tmp_path,
        """\
        try:
            from . import _accel
        except ImportError:  # pure-Python fallback
            _accel = None
        from feat import _core
        """,
    )
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    findings = sorted(result.json["findings"], key=lambda f: f["severity"])
    assert [(f["code"], f["severity"]) for f in findings] == [
        ("ext-missing-library", "error"),
        ("ext-missing-library", "info"),
    ]
    error, info = findings
    assert error["message"] == ("feat needs libpkgdoctoropt.so.1, which the loader will not find.")
    assert [
        os.path.basename(p)
        for p in error["evidence"]["missing"]["libpkgdoctoropt.so.1"]["needed_by"]
    ] == [f"_core{EXT_SUFFIX}"]
    assert info["message"] == (
        "feat._accel is optional (feat imports it inside try/except ImportError in "
        "feat/__init__.py:2); it cannot load because libpkgdoctoropt.so.1 is missing, so that "
        "feature is unavailable."
    )
    assert info["evidence"]["guarded_imports"] == [
        {"file": "feat/__init__.py", "line": 2, "statement": "from . import _accel"}
    ]
    # No wheel is known to ship it: the fix names the library, not an invented package.
    assert info["fix"].startswith(
        "To use it, install the system package that provides libpkgdoctoropt.so.1 "
    )
    assert "pip" not in info["fix"]
    assert result.status == 1


def test_a_guard_that_raises_again_keeps_the_error(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = optional_package(
        tmp_path,
        """\
        try:
            from . import _accel, _core
        except ImportError as e:
            raise ImportError("feat is broken: reinstall it") from e
        """,
    )
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-missing-library")
    assert finding["severity"] == "error"
    assert finding["evidence"]["file_count"] == 2


def test_optional_module_needing_a_newer_glibc(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages / "fast", "_simd")
    raise_glibc_need(ext)
    init = venv.site_packages / "fast" / "__init__.py"
    init.write_text("try:\n    import fast._simd as simd\nexcept Exception:\n    simd = None\n")
    write_dist_info(venv.site_packages, "fast", "1.0", ["fast/__init__.py", f"fast/{ext.name}"])
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    finding = only(result, "ext-glibc-too-new")
    assert finding["severity"] == "info"
    assert finding["message"].startswith(
        "fast._simd is optional (fast imports it inside try/except Exception in "
        "fast/__init__.py:2); it cannot load because it needs GLIBC_9."
    )
    assert finding["explanation"].startswith("To use it: reinstall fast ")
    assert result.status == 0


def test_optional_module_fix_names_the_wheel_but_never_pip_into_a_system_python(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    """A library that a known PyPI wheel ships (a gcc-built stand-in named libtbb.so.12, out of
    the loader's reach): pip install tbb in a venv; the system's package under PEP 668."""
    lib = compile_library(tmp_path / "elsewhere", "libtbb.so.12")

    def add_package(site: Path) -> None:
        ext = compile_extension(site / "par", "_tbb", link=[str(lib)])
        (site / "par" / "__init__.py").write_text(
            "def pool():\n    try:\n        from par import _tbb\n    except ImportError:\n"
            "        return None\n    return _tbb\n"
        )
        write_dist_info(site, "par", "1.0", ["par/__init__.py", f"par/{ext.name}"])

    venv = make_venv(tmp_path / "env")
    add_package(venv.site_packages)
    finding = only(
        pkgdoctor("check", "--prefix", str(venv.prefix), "--json"), "ext-missing-library"
    )
    assert finding["severity"] == "info"
    assert finding["command"] == f"{venv.prefix}/bin/python3 -m pip install tbb"
    assert finding["explanation"].startswith("To use it, install tbb, ")

    prefix = tmp_path / "usr"
    stdlib = prefix / "lib" / f"python{PY}"
    (stdlib / "site-packages").mkdir(parents=True)
    (stdlib / "os.py").write_text("")
    (stdlib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError = Use apt.\n")
    (prefix / "bin").mkdir()
    shutil.copy(os.path.realpath(sys.executable), prefix / "bin" / "python3")
    add_package(stdlib / "site-packages")
    result = pkgdoctor("check", "--prefix", str(prefix), "--static", "--json")
    finding = only(result, "ext-missing-library")
    assert finding["severity"] == "info"
    assert "pip" not in finding["fix"]
    assert finding["fix"].startswith(
        "To use it, install the system package that provides libtbb.so.12 "
    )


# --- deep trees (issue 9, item 8) ----------------------------------------------------------


def _nest(base: Path, depth: int, name: str = "d") -> Path:
    """``base/d/d/.../d``, ``depth`` directories below ``base``, made one by one
    (``mkdir(parents=True)`` recurses once per level)."""
    deepest = base
    for _ in range(depth):
        deepest = deepest / name
        deepest.mkdir()
    return deepest


def _unnest(deepest: Path, depth: int) -> None:
    """Remove what :func:`_nest` made, deepest first (``shutil.rmtree`` recurses too, and
    pytest's clean-up of old temporary directories would fail on it)."""
    for _ in range(depth):
        deepest.rmdir()
        deepest = deepest.parent


@pytest.fixture
def thousand_deep(tmp_path: Path) -> Iterator[Venv]:
    """A venv with 1000 nested directories in its site-packages."""
    venv = make_venv(tmp_path / "env")
    deepest = _nest(venv.site_packages, 1000)
    yield venv
    _unnest(deepest, 1000)


def test_a_thousand_nested_directories_end_in_a_warning(
    thousand_deep: Venv, pkgdoctor: Runner
) -> None:
    venv = thousand_deep
    cut = venv.site_packages.joinpath(*["d"] * MAX_DEPTH)
    # In process (and replayed from its snapshot by the fixture): the scan problem's kind
    # survives the snapshot.
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 0, result.err  # a warning: below the default --fail-on error
    assert result.json["findings"] == [
        {
            "code": "path-too-deep",
            "severity": "warning",
            "message": f"{cut} lies 64 levels below its sys.path entry, deeper than pkgdoctor "
            "looks: nothing in it was searched for extension modules.",
            "distribution": None,
            "path": str(cut),
            "evidence": {"max_depth": 64, "directory_count": 1},
            "fix": "No real package nests this deep: find what created the tree, and remove it "
            "if nothing needs it.",
            "command": None,
            "explanation": "No real package nests this deep: find what created the tree, and "
            "remove it if nothing needs it.",
        }
    ]
    # As a user runs it, under a hard time limit: it ends, without a traceback.
    for extra in ((), ("--static",)):
        proc = subprocess.run(
            [sys.executable, "-m", "pkgdoctor", "check", "--prefix", str(venv.prefix), *extra],
            env=without_user_config(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (proc.returncode, proc.stderr) == (0, "")
        assert "[path-too-deep]" in proc.stdout and "Traceback" not in proc.stdout


def test_deep_but_real_trees_are_walked_whole(tmp_path: Path, pkgdoctor: Runner) -> None:
    """A package 63 levels down is still found and checked: no path-too-deep."""
    venv = make_venv(tmp_path / "env")
    deepest = _nest(venv.site_packages, MAX_DEPTH - 1, "p")
    compile_extension(deepest, "_fast")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert (result.status, result.json["findings"]) == (0, [])
    assert result.json["examined"]["Extension modules"] == 1


def test_the_walk_order_links_and_depth(tmp_path: Path) -> None:
    """Depth first, each directory's files before its subdirectories, names in order; a
    link back up is not followed; a directory at the limit is a problem, not entered."""
    root = tmp_path / "site"
    for directory in ("a/b", "a/c", "z", "a/b/x/y"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for name in ("a/b/m", "a/m", "a/c/m", "z/m", "m", "a/b/x/y/m"):
        (root / f"{name}{EXT_SUFFIX}").write_bytes(b"")
    (root / "a" / "loop").symlink_to(root / "a")
    problems: list[ScanProblem] = []
    visited: list[tuple[str, os.stat_result | None]] = []
    found = list(iter_extensions([str(root)], problems, visited=visited, max_depth=3))
    assert [f.module for f in found] == ["m", "a.m", "a.b.m", "a.c.m", "z.m"]
    reason = f"3 levels below {root}: deeper than pkgdoctor looks"
    assert problems == [ScanProblem(str(root / "a/b/x"), reason, TOO_DEEP)]
    assert [os.path.relpath(p, root) for p, _ in visited] == [
        ".", "a", "a/b", "a/b/x", "a/c", "a/loop", "z",
    ]  # fmt: skip
