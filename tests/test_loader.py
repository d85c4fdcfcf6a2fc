"""The loader model against the real dynamic loader: dlopen is the oracle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from artefacts import (
    RPATH,
    RUNPATH,
    compile_bundle,
    compile_extension,
    compile_library,
    make_venv,
    write_dist_info,
)
from conftest import Runner

LEAF = "int leaf(void) { return 1; }"
MID = "int leaf(void); int mid(void) { return leaf() + 1; }"


def dlopen_works(path: Path, env: dict[str, str] | None = None) -> bool:
    proc = subprocess.run(
        [sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])", str(path)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    return proc.returncode == 0


def build_chain(base: Path, name: str, ext_dir: Path, ext_link: list[str]) -> Path:
    """ext → libmid.so.1 (no RPATH/RUNPATH of its own) → libleaf.so.1, in separate dirs."""
    leaf = compile_library(base / f"{name}-leaf", "libleaf.so.1", LEAF)
    mid_dir = base / f"{name}-mid"
    # libmid needs libleaf but is not told where it lives (no RPATH/RUNPATH of its own).
    mid = compile_library(mid_dir, "libmid.so.1", MID, link=[str(leaf)])
    flags = [f.replace("{mid}", str(mid_dir)).replace("{leaf}", str(leaf.parent)) for f in ext_link]
    return compile_extension(ext_dir, name, link=[*flags, str(mid)])


# DT_RPATH is inherited down the chain (libmid finds libleaf through the extension's RPATH);
# DT_RUNPATH is not (man ld.so). $ORIGIN is the directory of the object that carries it.
CASES = {
    "rpath_inherited": ["-Wl,--disable-new-dtags,-rpath,{mid}:{leaf}"],
    "runpath_not_inherited": ["-Wl,--enable-new-dtags,-rpath,{mid}:{leaf}"],
    "runpath_only_mid": ["-Wl,--enable-new-dtags,-rpath,{mid}"],
    "no_path_at_all": [],
}


@pytest.mark.parametrize("with_ld_library_path", [False, True])
def test_loader_model_agrees_with_dlopen(tmp_path: Path, pkgdoctor: Runner,
                                         with_ld_library_path: bool,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    venv = make_venv(tmp_path / "env")
    exts = {name: build_chain(tmp_path, name, venv.site_packages, flags)
            for name, flags in CASES.items()}  # fmt: skip
    env = dict(os.environ)
    if with_ld_library_path:
        dirs = ":".join(str(tmp_path / f"{n}-leaf") for n in CASES)
        env["LD_LIBRARY_PATH"] = dirs
        monkeypatch.setenv("LD_LIBRARY_PATH", dirs)
    else:
        env.pop("LD_LIBRARY_PATH", None)
        monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    oracle = {name: dlopen_works(path, env) for name, path in exts.items()}
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    # No distribution owns these modules: one finding per module, its path the module's file.
    broken = {Path(f["path"]).name.split(".")[0] for f in result.json["findings"]}
    model = {name: name not in broken for name in exts}
    assert model == oracle
    # The rules the comparison exercises, as the real loader applies them:
    expected = {
        "rpath_inherited": True,  # libmid finds libleaf through the extension's RPATH
        "runpath_not_inherited": with_ld_library_path,  # RUNPATH is the extension's own
        "runpath_only_mid": with_ld_library_path,
        "no_path_at_all": False,  # nothing finds libmid
    }
    assert oracle == expected


def test_library_preloaded_by_the_package_is_a_warning(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    lib = compile_library(site / "provider" / "lib", "libpreloaded.so.1")
    write_dist_info(site, "provider", "1.0", ["provider/lib/libpreloaded.so.1"])
    pkg = site / "consumer"
    ext = compile_extension(pkg, "_native", link=[str(lib)])
    (pkg / "__init__.py").write_text(
        "import ctypes, os\n"
        "ctypes.CDLL(os.path.join(os.path.dirname(__file__), '..', 'provider', 'lib',"
        " 'libpreloaded.so.1'))\n"
        "from . import _native\n"
    )
    write_dist_info(site, "consumer", "2.0", ["consumer/__init__.py", f"consumer/{ext.name}"])
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 0
    finding = result.json["findings"][0]
    assert (finding["code"], finding["severity"]) == ("ext-missing-library", "warning")
    assert finding["evidence"]["missing"]["libpreloaded.so.1"]["installed_at"] == str(lib)
    assert "pkgdoctor why consumer" in finding["fix"]
    # ... and `why` settles it: the package does load it itself.
    assert pkgdoctor("why", "consumer", "--prefix", str(venv.prefix)).status == 0
    # Without the preload the import fails: the warning alone does not hide the failure.
    (pkg / "__init__.py").write_text("from . import _native\n")
    result = pkgdoctor("why", "consumer", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    codes = [(f["code"], f["severity"]) for f in result.json["findings"]]
    assert codes == [("ext-missing-library", "warning"), ("import-failed", "error")]


def test_interpreter_rpath_heads_the_chain(tmp_path: Path, pkgdoctor: Runner) -> None:
    """An extension needing libpython finds it the way the running interpreter did."""
    import sysconfig

    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        pytest.skip("this interpreter is not linked against libpython")
    venv = make_venv(tmp_path / "env")
    libdir = sysconfig.get_config_var("LIBDIR")
    ldlib = sysconfig.get_config_var("LDLIBRARY")
    compile_extension(venv.site_packages, "needs_libpython", link=[os.path.join(libdir, ldlib)])
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.json["findings"] == []
    assert result.json["examined"]["Extension modules"] == 1  # it was looked at, and linked


def test_musl_searches_the_whole_chain_and_builds_in_libc(tmp_path: Path) -> None:
    """musl (ldso/dynlink.c) uses RPATH and RUNPATH of every loader up the chain, unlike glibc."""
    from pkgdoctor.elf import read_elf
    from pkgdoctor.loader import Loader, LoaderConfig

    ext = build_chain(tmp_path, "runpath_ext", tmp_path / "site",
                      ["-Wl,--enable-new-dtags,-rpath,{mid}:{leaf}"])  # fmt: skip
    mid = tmp_path / "runpath_ext-mid" / "libmid.so.1"
    chain = [(str(ext), read_elf(ext)), (str(mid), read_elf(mid))]
    x86_64 = (62, 64, True)  # e_machine, ELF class, little endian
    glibc = Loader(LoaderConfig("glibc", *x86_64, ld_cache_path=None))
    musl = Loader(LoaderConfig("musl", *x86_64))
    assert not glibc.resolve("libleaf.so.1", chain).found
    found = musl.resolve("libleaf.so.1", chain)
    assert found.path == str(tmp_path / "runpath_ext-leaf" / "libleaf.so.1")
    assert found.via == "runpath"
    for builtin in ("libc.musl-x86_64.so.1", "libc.so", "libpthread.so.0", "libm.so.6"):
        assert musl.resolve(builtin, chain).via == "libc"


# --- The loading-chain rules, as a wheel's bundled libraries meet them (compile_bundle) ------

# name: (linker option, libb's file name, libb needed by the extension as,
#        glibc finds libb for liba and how, musl (model only) finds it and how)
BUNDLES = {
    "rpath_of_the_loader": (RPATH, "libb.so.1", None, "rpath", "rpath"),
    "runpath_not_inherited": (RUNPATH, "libb.so.1", None, None, "runpath"),
    "runpath_but_already_loaded": (RUNPATH, "libb.so.1", "libb.so.1", "loaded", "runpath"),
    # libb loaded by the extension as libb-1a2b3c4d.so.1: glibc also knows it by its soname
    # (_dl_name_match_p); musl only by the name it was found under (shortname).
    "loaded_under_its_soname": (
        RUNPATH,
        "libb-1a2b3c4d.so.1",
        "libb-1a2b3c4d.so.1",
        "loaded",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(BUNDLES))
def test_chain_rules_agree_with_dlopen(tmp_path: Path, case: str) -> None:
    from pkgdoctor.elf import read_elf
    from pkgdoctor.loader import Loader, LoaderConfig

    option, b_file, ext_needs_b, glibc_via, musl_via = BUNDLES[case]
    ext, a, b = compile_bundle(tmp_path, option, b_file=b_file, ext_needs_b=ext_needs_b)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    assert dlopen_works(ext, env) == (glibc_via is not None)  # the real glibc loader
    chain = [(str(ext), read_elf(ext)), (str(a), read_elf(a))]
    machine = (chain[0][1].machine, chain[0][1].elf_class, chain[0][1].little_endian)
    # Only the bundle: no system directory or cache holds a libb.so.1.
    glibc = Loader(LoaderConfig("glibc", *machine, ld_cache_path=None))
    found = glibc.resolve("libb.so.1", chain)
    assert (found.via if found.found else None) == glibc_via
    if glibc_via is not None:
        assert found.path == str(b)
    # musl: RPATH and RUNPATH alike are inherited (load_library walks needed_by, decode_dyn
    # keeps one of them per object); DT_SONAME plays no part (ldso/dynlink.c).
    musl = Loader(LoaderConfig("musl", *machine))
    found = musl.resolve("libb.so.1", chain)
    assert (found.via if found.found else None) == musl_via


@pytest.mark.parametrize(
    "case", ["rpath_of_the_loader", "runpath_not_inherited", "loaded_under_its_soname"]
)
def test_check_follows_the_chain_rules(tmp_path: Path, pkgdoctor: Runner, case: str) -> None:
    """``check`` asks the same model: what dlopen loads is healthy, what it refuses is not."""
    option, b_file, ext_needs_b, glibc_via, _ = BUNDLES[case]
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    ext, _, _ = compile_bundle(tmp_path / "build", option, b_file=b_file, ext_needs_b=ext_needs_b)
    (site / "pkg").mkdir()
    (site / "pkg" / ext.name).write_bytes(ext.read_bytes())
    (site / "libs").mkdir()
    for lib in (tmp_path / "build" / "libs").iterdir():
        (site / "libs" / lib.name).write_bytes(lib.read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    assert dlopen_works(site / "pkg" / ext.name, env) == (glibc_via is not None)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    missing = [f for f in result.json["findings"] if f["code"] == "ext-missing-library"]
    assert bool(missing) == (glibc_via is None), missing
