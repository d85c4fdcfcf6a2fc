"""``pkgdoctor audit-wheel`` on real wheels from the registry, on wheels broken in the test,
and against ``auditwheel show --json`` on the same files."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artefacts import (
    BIG_DATA,
    EM_AARCH64,
    RPATH,
    RUNPATH,
    USE_BIG_DATA,
    Wheelhouse,
    compile_bundle,
    compile_extension,
    compile_library,
    patch_machine,
    retag_wheel,
    set_phnum,
    truncate_last_segment,
    write_wheel,
)
from conftest import Runner, validated
from pkgdoctor import __version__
from pkgdoctor.archive import RATIO_FLOOR
from pkgdoctor.wheelaudit import audit_wheel

X86_64 = os.uname().machine == "x86_64"
needs_x86_64 = pytest.mark.skipif(not X86_64, reason="compiles x86-64 extensions with gcc")
AUDITWHEEL = Path(sys.executable).parent / "auditwheel"

# Real wheels: (requirement, --platform for pip download). Several architectures (x86-64,
# aarch64, i686), both libcs, an abi3 wheel, manylinux_2_28/2_34 wheels, a bundled library.
REAL = {
    "manylinux2014_x86_64": ("markupsafe==2.1.5", "manylinux2014_x86_64"),
    "manylinux2014_aarch64": ("markupsafe==2.1.5", "manylinux2014_aarch64"),
    "manylinux1_i686": ("markupsafe==2.1.5", "manylinux1_i686"),
    "musllinux_1_2_x86_64": ("markupsafe==3.0.3", "musllinux_1_2_x86_64"),
    "musllinux_1_2_aarch64_abi3": ("bcrypt==5.0.0", "musllinux_1_2_aarch64"),
    "manylinux_2_28_aarch64_abi3": ("bcrypt==5.0.0", "manylinux_2_28_aarch64"),
    "manylinux_2_34_x86_64_abi3": ("bcrypt==5.0.0", "manylinux_2_34_x86_64"),
    "bundled_libzmq": ("pyzmq==27.3.0", "manylinux_2_28_x86_64"),
    # Bundled libraries without RPATH that find their siblings through the RPATH of the
    # extension that loads them (pillow.libs/libtiff -> libjpeg; numpy.libs/libstdc++ ->
    # libgcc_s), the loader's chain rule on glibc and on musl.
    "bundled_chain_glibc": ("pillow==12.2.0", "manylinux2014_x86_64"),
    "bundled_chain_musl": ("numpy==2.2.4", "musllinux_1_2_x86_64"),
}
# The exact files users reported: cp311 whatever Python runs the tests.
PYTHON = {"bundled_chain_glibc": "3.11", "bundled_chain_musl": "3.11"}


def fetch(wheelhouse: Wheelhouse, key: str) -> Path:
    requirement, platform = REAL[key]
    directory = wheelhouse.fetch(requirement, platform=platform, python=PYTHON.get(key))
    (wheel,) = directory.glob("*.whl")
    return wheel


def audit_json(pkgdoctor: Runner, *paths: Path | str, status: int | None = None) -> Any:
    result = pkgdoctor("audit-wheel", "--json", *map(str, paths))
    if status is not None:
        assert result.status == status, result.out + result.err
    return validated(json.loads(result.out))


def one(document: Any) -> Any:
    (wheel,) = document["wheels"]
    return wheel


def codes(wheel: Any) -> list[str]:
    return [f["code"] for f in wheel["findings"]]


def finding(wheel: Any, code: str) -> Any:
    (found,) = [f for f in wheel["findings"] if f["code"] == code]
    return found


def auditwheel_show(wheel: Path) -> Any:
    proc = subprocess.run(
        [str(AUDITWHEEL), "show", "--json", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(proc.stdout)


# --- Agreement with auditwheel ---------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(REAL))
def test_verdict_agrees_with_auditwheel_on_real_wheels(
    wheelhouse: Wheelhouse, pkgdoctor: Runner, key: str
) -> None:
    wheel = fetch(wheelhouse, key)
    ours = one(audit_json(pkgdoctor, wheel))
    theirs = auditwheel_show(wheel)
    assert (ours["overall_tag"], ours["symbol_tag"]) == (theirs["overall_tag"], theirs["sym_tag"])
    assert ours["external_libs"] == {}
    assert ours["versioned_symbols"].keys() == theirs["versioned_symbols"].keys()
    for library, versions in ours["versioned_symbols"].items():
        assert sorted(versions) == theirs["versioned_symbols"][library]
    # A healthy wheel from the registry: nothing at error, and it claims what it satisfies.
    assert all(f["severity"] != "error" for f in ours["findings"]), ours["findings"]
    assert ours["overall_tag"] in ours["claimed_tags"] or any(
        tag in ours["satisfied_tags"] for tag in ours["claimed_tags"]
    )


def test_real_wheel_details(wheelhouse: Wheelhouse, pkgdoctor: Runner) -> None:
    wheel = one(audit_json(pkgdoctor, fetch(wheelhouse, "manylinux_2_34_x86_64_abi3"), status=0))
    assert (wheel["architecture"], wheel["libc"], wheel["pure"]) == ("x86_64", "glibc", False)
    # What keeps manylinux_2_31 out of reach, down to the symbols.
    assert wheel["limited_by"]["tag"] == "manylinux_2_31_x86_64"
    newest = wheel["limited_by"]["symbol_versions"][0]
    assert (newest["version"], newest["file"]) == ("GLIBC_2.34", "bcrypt/_bcrypt.abi3.so")
    assert "dlsym" in newest["symbols"]
    bundled = one(audit_json(pkgdoctor, fetch(wheelhouse, "bundled_libzmq")))
    # The module and pyzmq.libs/lib{zmq,sodium}-*.so, found through RPATH $ORIGIN/...
    assert bundled["elf_files"] == 3
    assert bundled["limited_by"]["symbol_versions"] == [
        {
            "version": "GLIBC_2.25",
            "file": "pyzmq.libs/libsodium-6c8f8377.so.26.4.0",
            "symbols": ["getentropy", "__explicit_bzero_chk", "getrandom"],
        }
    ]
    i686 = one(audit_json(pkgdoctor, fetch(wheelhouse, "manylinux1_i686")))
    assert i686["overall_tag"] == "manylinux_2_5_i686"
    assert i686["limited_by"] is None  # the most compatible policy there is


@pytest.mark.parametrize(
    ("key", "filename", "tag"),
    [
        (
            "bundled_chain_glibc",
            "pillow-12.2.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
            "manylinux_2_17_x86_64",
        ),
        (
            "bundled_chain_musl",
            "numpy-2.2.4-cp311-cp311-musllinux_1_2_x86_64.whl",
            "musllinux_1_2_x86_64",
        ),
    ],
)
def test_bundled_library_found_through_the_loading_chain(
    wheelhouse: Wheelhouse, pkgdoctor: Runner, key: str, filename: str, tag: str
) -> None:
    """A bundled library without RPATH finds its sibling through the RPATH of the extension
    that loaded it: no "external" library, no false error (it was wheel-tag-overclaims)."""
    path = fetch(wheelhouse, key)
    assert path.name == filename
    ours = one(audit_json(pkgdoctor, path, status=0))
    theirs = auditwheel_show(path)
    assert (ours["overall_tag"], ours["symbol_tag"]) == (tag, tag)
    assert (theirs["overall_tag"], theirs["sym_tag"]) == (tag, tag)
    assert ours["external_libs"] == {}
    assert ours["findings"] == []


@needs_x86_64
@pytest.mark.parametrize("option", ["rpath", "runpath"])
def test_bundled_libraries_are_judged_along_the_loading_chain(
    pkgdoctor: Runner, tmp_path: Path, option: str
) -> None:
    """pkg/_ext.so -> libs/liba.so.1 (no RPATH) -> libs/libb.so.1: liba finds libb through
    the extension's RPATH, never through its RUNPATH (glibc does not inherit RUNPATH). The
    installed wheel, opened with dlopen, agrees; auditwheel's lddtree inherits both."""
    build = tmp_path / "build"
    ext, liba, libb = compile_bundle(build, RPATH if option == "rpath" else RUNPATH)
    files = {
        f"pkg/{ext.name}": ext.read_bytes(),
        "libs/liba.so.1": liba.read_bytes(),
        "libs/libb.so.1": libb.read_bytes(),
    }
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    wheel_path = write_wheel(tmp_path / f"bundle-1.0-{py}-{py}-manylinux_2_5_x86_64.whl", files)
    installed = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel_path) as archive:
        archive.extractall(installed)
    loads = subprocess.run(
        [sys.executable, "-c", "import ctypes, sys; ctypes.CDLL(sys.argv[1])",
         str(installed / "pkg" / ext.name)],
        capture_output=True, check=False, env={k: v for k, v in os.environ.items()
                                               if k != "LD_LIBRARY_PATH"},
    ).returncode == 0  # fmt: skip
    wheel = one(audit_json(pkgdoctor, wheel_path, status=0 if loads else 1))
    assert loads == (option == "rpath")
    if loads:
        assert (wheel["overall_tag"], wheel["external_libs"]) == ("manylinux_2_5_x86_64", {})
    else:
        assert wheel["overall_tag"] == "linux_x86_64"
        assert wheel["external_libs"] == {"libb.so.1": ["libs/liba.so.1"]}
    assert auditwheel_show(wheel_path)["overall_tag"] == "manylinux_2_5_x86_64"


def test_musllinux_1_1_is_taken_at_its_word(wheelhouse: Wheelhouse, pkgdoctor: Runner) -> None:
    """musl does not version its symbols: the claimed musllinux version is judged, where
    auditwheel on a glibc machine always judges the newest one (docs/design.md)."""
    (path,) = wheelhouse.fetch("markupsafe==2.1.5", platform="musllinux_1_1_x86_64").glob("*.whl")
    ours = one(audit_json(pkgdoctor, path, status=0))
    assert ours["overall_tag"] == "musllinux_1_1_x86_64"
    assert ours["libc"] == "musl"
    assert auditwheel_show(path)["overall_tag"] == "musllinux_1_2_x86_64"


# --- Tags that lie ---------------------------------------------------------------------------


def test_retagged_real_wheel_overclaims(
    wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    real = fetch(wheelhouse, "manylinux_2_34_x86_64_abi3")
    lying = retag_wheel(real, tmp_path, "manylinux_2_17_x86_64.manylinux2014_x86_64")
    result = pkgdoctor("audit-wheel", "--json", str(lying))
    assert result.status == 1
    wheel = one(validated(json.loads(result.out)))
    assert codes(wheel) == ["wheel-tag-overclaims"]
    found = finding(wheel, "wheel-tag-overclaims")
    evidence = found["evidence"]
    assert evidence["claimed"] == ["manylinux2014_x86_64", "manylinux_2_17_x86_64"]
    assert evidence["satisfied"] == "manylinux_2_34_x86_64"
    assert evidence["checked_against"] == "manylinux_2_17_x86_64"
    versions = [need["version"] for need in evidence["symbol_versions"]]
    assert versions == ["GLIBC_2.34", "GLIBC_2.33", "GLIBC_2.28", "GLIBC_2.18"]
    assert "dlsym" in evidence["symbol_versions"][0]["symbols"]
    assert "GLIBC_2.34" in found["message"] and "manylinux_2_17" in found["fix"]
    # auditwheel judges the files, not the name: it agrees.
    assert auditwheel_show(lying)["overall_tag"] == wheel["overall_tag"]


def test_retagged_real_wheel_underclaims(
    wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    humble = retag_wheel(
        fetch(wheelhouse, "manylinux2014_x86_64"), tmp_path, "manylinux_2_28_x86_64"
    )
    wheel = one(audit_json(pkgdoctor, humble, status=0))
    found = finding(wheel, "wheel-tag-underclaims")
    assert found["severity"] == "info"
    assert found["evidence"]["satisfied"] == "manylinux_2_17_x86_64"
    assert found["evidence"]["satisfied_tags"] == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]


@needs_x86_64
def test_extension_in_a_pure_wheel(pkgdoctor: Runner, tmp_path: Path) -> None:
    module = compile_extension(tmp_path / "build", "_speedup")
    wheel_path = write_wheel(
        tmp_path / "fastpkg-1.0-py3-none-any.whl",
        {"fastpkg/__init__.py": b"", f"fastpkg/{module.name}": module.read_bytes()},
    )
    wheel = one(audit_json(pkgdoctor, wheel_path, status=1))
    assert wheel["pure"] is True
    assert "wheel-pure-with-extensions" in codes(wheel)
    found = finding(wheel, "wheel-pure-with-extensions")
    assert found["evidence"]["files"] == [
        {"path": f"fastpkg/{module.name}", "architecture": "x86_64"}
    ]
    # The ELF file is still judged: what a platform wheel of it could claim.
    assert wheel["overall_tag"] == auditwheel_show(wheel_path)["overall_tag"]


@needs_x86_64
def test_isa_level_above_baseline_rules_out_every_policy(pkgdoctor: Runner, tmp_path: Path) -> None:
    module = compile_extension(tmp_path / "build", "_fast", link=["-march=x86-64-v3", "-mneeded"])
    wheel_path = write_wheel(
        tmp_path / f"fast-1.0-cp{sys.version_info[0]}{sys.version_info[1]}-"
        f"cp{sys.version_info[0]}{sys.version_info[1]}-manylinux_2_17_x86_64.whl",
        {module.name: module.read_bytes()},
    )
    wheel = one(audit_json(pkgdoctor, wheel_path, status=1))
    assert wheel["overall_tag"] == "linux_x86_64"
    assert wheel["symbol_tag"] != "linux_x86_64"
    evidence = finding(wheel, "wheel-tag-overclaims")["evidence"]
    assert evidence["isa"] == [{"file": module.name, "level": "x86_64_v3"}]
    theirs = auditwheel_show(wheel_path)
    assert (theirs["overall_tag"], theirs["unsupported_isa"]) == ("linux_x86_64", True)


# --- ELF files the loader cannot load ---------------------------------------------------------

DAMAGES: dict[str, Callable[[Path], object]] = {
    "truncated": truncate_last_segment,
    "pn_xnum": set_phnum,
}
CP = f"cp{sys.version_info[0]}{sys.version_info[1]}"


@needs_x86_64
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_module_satisfies_no_policy(pkgdoctor: Runner, tmp_path: Path, damage: str) -> None:
    # The same damage that makes `import` die of SIGBUS or dlopen fail (test_check_extensions).
    module = compile_extension(tmp_path / "build", "_cut", extra=BIG_DATA, body=USE_BIG_DATA)
    name = f"cut-1.0-{CP}-{CP}-manylinux_2_17_x86_64.whl"
    (tmp_path / "ok").mkdir()
    healthy = write_wheel(tmp_path / "ok" / name, {module.name: module.read_bytes()})
    assert one(audit_json(pkgdoctor, healthy))["satisfied_tags"]
    DAMAGES[damage](module)
    wheel_path = write_wheel(tmp_path / name, {module.name: module.read_bytes()})
    wheel = one(audit_json(pkgdoctor, wheel_path, status=1))
    assert codes(wheel) == ["ext-invalid-elf"]
    (file,) = finding(wheel, "ext-invalid-elf")["evidence"]["files"]
    assert file["path"] == module.name
    assert ("PT_LOAD segment" if damage == "truncated" else "PN_XNUM") in file["reason"]
    assert (wheel["overall_tag"], wheel["satisfied_tags"], wheel["elf_files"]) == (None, [], 1)
    text = pkgdoctor("audit-wheel", str(wheel_path)).out
    assert "      no ELF file that can be loaded\n" in text
    assert "satisfies" not in text


@needs_x86_64
def test_damaged_bundled_library_rules_out_every_policy(pkgdoctor: Runner, tmp_path: Path) -> None:
    libs = tmp_path / "build" / "pkg.libs"
    lib = compile_library(
        libs, "libbundled.so.1", f"{BIG_DATA} int pkgd_answer(void) {{ return 1; }}"
    )
    module = compile_extension(
        tmp_path / "build" / "pkg",
        "_ext",
        link=[str(lib), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../pkg.libs"],
    )
    truncate_last_segment(lib)
    wheel_path = write_wheel(
        tmp_path / f"pkg-1.0-{CP}-{CP}-manylinux_2_17_x86_64.whl",
        {f"pkg/{module.name}": module.read_bytes(), "pkg.libs/libbundled.so.1": lib.read_bytes()},
    )
    wheel = one(audit_json(pkgdoctor, wheel_path, status=1))
    # One finding for the one cause: no wheel-tag-overclaims about the claim it cannot keep.
    assert codes(wheel) == ["ext-invalid-elf"]
    assert wheel["overall_tag"] == "linux_x86_64"
    assert wheel["satisfied_tags"] == []
    assert wheel["limited_by"]["unloadable"] == ["pkg.libs/libbundled.so.1"]
    assert wheel["elf_files"] == 2
    text = pkgdoctor("audit-wheel", str(wheel_path)).out
    assert "      satisfies linux_x86_64 (glibc, x86_64; 2 ELF files)\n" in text
    assert "pkg.libs/libbundled.so.1 (not a loadable ELF file)" in text


# --- Extension modules against the tags ------------------------------------------------------


@needs_x86_64
def test_module_for_another_python_and_architecture(pkgdoctor: Runner, tmp_path: Path) -> None:
    other = compile_extension(tmp_path / "a", "_old", suffix=".cpython-310-x86_64-linux-gnu.so")
    foreign = compile_extension(tmp_path / "b", "_arm")
    patch_machine(foreign, EM_AARCH64)
    wheel_path = write_wheel(
        tmp_path / "mixed-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        {f"mixed/{other.name}": other.read_bytes(), f"mixed/{foreign.name}": foreign.read_bytes()},
    )
    wheel = one(audit_json(pkgdoctor, wheel_path, status=1))
    abi = finding(wheel, "ext-abi-mismatch")
    assert abi["evidence"]["files"][0]["path"] == f"mixed/{other.name}"
    assert abi["evidence"]["files"][0]["built_for"] == "CPython 3.10"
    arch = finding(wheel, "ext-wrong-arch")
    assert arch["evidence"]["file_architecture"] == ["aarch64"]
    assert arch["evidence"]["claimed_architecture"] == ["x86_64"]
    assert wheel["architecture"] == "x86_64"  # the aarch64 file is left out of the verdict


@needs_x86_64
def test_version_specific_module_in_an_abi3_wheel(pkgdoctor: Runner, tmp_path: Path) -> None:
    module = compile_extension(tmp_path / "build", "_limited")
    wheel_path = write_wheel(
        tmp_path / "stable-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
        {module.name: module.read_bytes()},
    )
    found = finding(one(audit_json(pkgdoctor, wheel_path, status=1)), "ext-abi-mismatch")
    assert found["evidence"]["files"][0]["tags_that_cannot_load_it"] == [
        "cp39-abi3-manylinux_2_17_x86_64"
    ]


@needs_x86_64
def test_glibc_module_in_a_musllinux_wheel(pkgdoctor: Runner, tmp_path: Path) -> None:
    module = compile_extension(tmp_path / "build", "_gnu", suffix=".abi3.so")
    wheel_path = write_wheel(
        tmp_path / "gnu-1.0-cp39-abi3-musllinux_1_2_x86_64.whl", {module.name: module.read_bytes()}
    )
    wheel = one(audit_json(pkgdoctor, wheel_path, status=1))
    found = finding(wheel, "ext-libc-mismatch")
    assert found["evidence"]["file_libc"] == ["glibc"]
    assert found["evidence"]["files"][0]["because"] == "DT_NEEDED libc.so.6"
    assert wheel["libc"] == "glibc"  # judged as what it is


# --- RECORD, METADATA, classifiers ----------------------------------------------------------


def test_record_with_a_wrong_hash(pkgdoctor: Runner, tmp_path: Path) -> None:
    info = "tidy-1.0.dist-info"
    record = (
        "tidy/__init__.py,sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,3\n"
        f"{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n"
    )
    wheel_path = write_wheel(
        tmp_path / "tidy-1.0-py3-none-any.whl",
        {"tidy/__init__.py": b"x=1", "tidy/extra.py": b"", f"{info}/RECORD": record.encode()},
    )
    found = finding(one(audit_json(pkgdoctor, wheel_path, status=1)), "wheel-record-mismatch")
    evidence = found["evidence"]
    assert evidence["wrong_hash"][0]["path"] == "tidy/__init__.py"
    assert evidence["wrong_hash"][0]["actual"].startswith("sha256=")
    assert evidence["not_listed"] == ["tidy/extra.py"]
    assert evidence["listed_without_hash"] == [f"{info}/METADATA", f"{info}/WHEEL"]


CLASSIFIED = """\
Metadata-Version: 2.1
Name: classy
Version: 1.0
Requires-Python: >=3.9
Classifier: Programming Language :: Python :: 3
Classifier: Programming Language :: Python :: 3.7
Classifier: Programming Language :: Python :: 3.12
Classifier: Framework :: Nonexistent Framework
Classifier: License :: OSI Approved :: Jabber Open Source License
Classifier: Private :: Do Not Upload

"""


def test_classifiers(pkgdoctor: Runner, tmp_path: Path) -> None:
    wheel_path = write_wheel(
        tmp_path / "classy-1.0-py3-none-any.whl", {"classy.py": b""}, metadata=CLASSIFIED
    )
    result = pkgdoctor("audit-wheel", str(wheel_path))
    assert result.status == 0  # warnings only
    wheel = one(audit_json(pkgdoctor, wheel_path, status=0))
    assert sorted(codes(wheel)) == [
        "wheel-classifier-contradicts-requires-python",
        "wheel-classifier-unknown",
    ]
    unknown = finding(wheel, "wheel-classifier-unknown")
    jabber = "License :: OSI Approved :: Jabber Open Source License"
    assert unknown["evidence"] == {
        "classifiers": ["Framework :: Nonexistent Framework", jabber],
        "deprecated": {jabber: []},
    }
    assert f"{jabber!r} → nothing" in unknown["fix"]
    contradiction = finding(wheel, "wheel-classifier-contradicts-requires-python")
    assert contradiction["evidence"] == {
        "classifiers": ["Programming Language :: Python :: 3.7"],
        "requires_python": ">=3.9",
    }
    assert pkgdoctor("audit-wheel", "--fail-on", "warning", str(wheel_path)).status == 1
    ignored = pkgdoctor("audit-wheel", "--ignore", "wheel-classifier-", str(wheel_path))
    assert ignored.status == 0 and "No problems found." in ignored.out


def test_metadata_that_contradicts_the_file_name(pkgdoctor: Runner, tmp_path: Path) -> None:
    metadata = "Metadata-Version: 2.1\nName: other\nVersion: 2.0\n\n"
    wheel_path = write_wheel(
        tmp_path / "named-1.0-py3-none-any.whl", {"named.py": b""}, metadata=metadata
    )
    found = finding(one(audit_json(pkgdoctor, wheel_path, status=1)), "wheel-metadata-invalid")
    problems = [p["problem"] for p in found["evidence"]["problems"]]
    assert problems == [
        "names the project 'other', the file name 'named'",
        "says version 2.0, the file name 1.0",
    ]


def test_text_output(pkgdoctor: Runner, tmp_path: Path) -> None:
    metadata = CLASSIFIED.replace(
        "Classifier: License :: OSI Approved :: Jabber Open Source License\n", ""
    )
    wheel_path = write_wheel(
        tmp_path / "classy-1.0-py3-none-any.whl", {"classy.py": b""}, metadata=metadata
    )
    result = pkgdoctor("audit-wheel", "--select", "wheel-classifier-unknown", str(wheel_path))
    assert result.out == (
        f"pkgdoctor {__version__} audit-wheel  (1 wheel)\n"
        "\n"
        "[!] classy-1.0-py3-none-any.whl  1 warning\n"
        "      pure Python (any platform)\n"
        "    ! classy-1.0-py3-none-any.whl declares 1 classifier PyPI does not accept: "
        "'Framework :: Nonexistent Framework'.  [wheel-classifier-unknown]\n"
        "        classifiers: Framework :: Nonexistent Framework\n"
        "      fix: Use only classifiers from https://pypi.org/classifiers/ (the "
        "trove-classifiers package); fix typos, and remove or replace deprecated ones.\n"
        "\n"
        "0 errors, 1 warning, 0 notes.\n"
    )


# --- Archives that must be refused ----------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _overlapping(path: Path) -> Path:
    """Two central directory entries that point at the same local file (a Fifield bomb)."""
    _zip(path, {"a.py": b"x" * 1000})
    data = path.read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    (cd_size, cd_offset) = struct.unpack_from("<II", data, eocd + 12)
    central = data[cd_offset : cd_offset + cd_size]
    renamed = central.replace(b"a.py", b"b.py")
    end = bytearray(data[eocd:])
    struct.pack_into("<HHI", end, 8, 2, 2, cd_size * 2)
    path.write_bytes(data[:cd_offset] + central + renamed + bytes(end))
    return path


def _declared_size(path: Path, size: int) -> Path:
    """A member whose central directory entry declares ``size`` bytes."""
    _zip(path, {"big.bin": b"\0" * 100})
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, size)
    path.write_bytes(bytes(data))
    return path


def _utf8_flag_with_invalid_name(path: Path) -> Path:
    _zip(path, {"ab.py": b""})
    data = path.read_bytes().replace(b"ab.py", b"a\xff.py")
    central = data.rindex(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0] | 0x800
    mutable = bytearray(data)
    struct.pack_into("<H", mutable, central + 8, flags)
    path.write_bytes(bytes(mutable))
    return path


def _bad_crc(path: Path) -> Path:
    _zip(path, {"pkg/data.txt": b"hello world " * 100})
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 16, 0xDEADBEEF)  # the CRC-32 the reader checks
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 14, 0xDEADBEEF)
    path.write_bytes(bytes(data))
    return path


def _ratio_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("zeros.bin", bytes(RATIO_FLOOR + 1024 * 1024))
    return path


def _many_small_bombs(path: Path) -> Path:
    """Members just under the per-member ratio floor, each within every per-member limit:
    20 x 16 MiB of zeros, ~320 MiB from ~0.3 MiB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        zeros = bytes(RATIO_FLOOR)
        for i in range(20):
            archive.writestr(f"pkg/zeros{i}.bin", zeros)
    return path


UNSAFE: dict[str, tuple[Callable[[Path], object], str]] = {
    "path-traversal": (lambda p: _zip(p, {"../evil.py": b"import os"}), "'..' component"),
    "absolute-path": (lambda p: _zip(p, {"/etc/evil": b""}), "absolute path"),
    "backslash-traversal": (lambda p: _zip(p, {"pkg\\..\\..\\evil": b""}), "'..' component"),
    "duplicate-member": (
        lambda p: _zip(p, {"a.py": b"1"}) and _append(p, "a.py", b"2"),
        "appears twice",
    ),
    "overlapping-entries": (_overlapping, "overlaps"),
    "huge-member": (lambda p: _declared_size(p, 0xFFFFFFF0), "to 4294967280"),
    "compression-ratio": (_ratio_bomb, "zip bomb"),
    "compression-ratio-in-all": (_many_small_bombs, "in all (more than 200:1): a zip bomb"),
    "non-utf8-name": (_utf8_flag_with_invalid_name, "not a readable zip archive"),
    "bad-crc": (_bad_crc, "damaged"),
    "not-a-zip": (lambda p: p.write_bytes(b"#!/bin/sh\necho hi\n") and p, "not a readable zip"),
}


def _append(path: Path, name: str, data: bytes) -> Path:
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as archive:
        archive.writestr(name, data)
    return path


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_or_broken_archives_are_refused(
    pkgdoctor: Runner, tmp_path: Path, case: str
) -> None:
    build, reason = UNSAFE[case]
    path = tmp_path / "evil-1.0-py3-none-any.whl"
    build(path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = pkgdoctor("audit-wheel", "--json", str(path))
    assert result.status == 2
    assert result.err.count("\n") == 1 and result.err.startswith(f"pkgdoctor: error: {path}: ")
    assert reason in result.err
    assert "Traceback" not in result.err
    wheel = one(validated(json.loads(result.out)))
    assert reason in wheel["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing extracted


def test_truncated_real_wheel(wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path) -> None:
    data = fetch(wheelhouse, "manylinux2014_x86_64").read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        path = tmp_path / "MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_x86_64.whl"
        path.write_bytes(data[:cut])
        result = pkgdoctor("audit-wheel", str(path))
        assert result.status == 2
        assert "not a readable zip archive" in result.err
        assert "[✗] MarkupSafe" in result.out


def test_one_bad_wheel_does_not_stop_the_others(pkgdoctor: Runner, tmp_path: Path) -> None:
    good = write_wheel(tmp_path / "good-1.0-py3-none-any.whl", {"good.py": b""})
    missing = tmp_path / "gone-1.0-py3-none-any.whl"
    document = audit_json(pkgdoctor, good, missing, status=2)
    assert [w["error"] for w in document["wheels"]] == [None, "no such file"]
    directory = audit_json(pkgdoctor, tmp_path, status=0)  # a directory: its *.whl files
    assert [w["wheel"] for w in directory["wheels"]] == ["good-1.0-py3-none-any.whl"]
    assert pkgdoctor("audit-wheel", str(tmp_path / "empty-dir-none")).status == 2


@pytest.fixture(scope="module")
def small_wheel(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz-1.0-py3-none-any.whl"
    write_wheel(
        path, {"fuzz/__init__.py": b"print('hi')\n" * 20, "fuzz/x.so": b"\x7fELF" + b"\1" * 60}
    )
    return path.read_bytes()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6)
)
def test_fuzz_damaged_wheels_never_raise(
    small_wheel: bytes, tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(small_wheel)
    for position, value in edits:
        data[position % len(data)] = value
    path = tmp_path_factory.getbasetemp() / "fuzz-1.0-py3-none-any.whl"
    path.write_bytes(bytes(data))
    audit = audit_wheel(str(path))  # never raises: a verdict or an error
    assert audit.error is None or audit.error


def test_help_teaches(pkgdoctor: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    from pkgdoctor.cli import main

    with pytest.raises(SystemExit):
        main(["audit-wheel", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--fail-on" in text and "zip bomb" in text


def test_large_elf_members_are_read_by_seeking(wheelhouse: Wheelhouse) -> None:
    """ELF members above the in-memory limit are parsed through the zip stream: same facts."""
    from pkgdoctor.wheelaudit.facts import read_facts

    path = str(fetch(wheelhouse, "bundled_libzmq"))
    in_memory = read_facts(path)
    streamed = read_facts(path, in_memory=0)
    assert streamed.elf_files == in_memory.elf_files
    assert streamed.digests == in_memory.digests


def test_policy_data_comes_from_auditwheel() -> None:
    from pkgdoctor.platforms import parse_platform_tag
    from pkgdoctor.wheelaudit.policy import policies

    table = policies("glibc", "x86_64")
    assert table[0].name == "manylinux_2_5_x86_64" and table[0].aliases == ("manylinux1_x86_64",)
    assert table[-1].name == "linux_x86_64" and table[-1].is_linux
    assert "GLIBC_2.17" in next(p for p in table if p.version == (2, 17)).symbol_versions["GLIBC"]
    musl = policies("musl", "aarch64")
    assert {"libc.so", "libc.musl-aarch64.so.1"} <= musl[0].whitelist
    assert parse_platform_tag("manylinux2010_i686") == parse_platform_tag("manylinux2010_i686")
    assert parse_platform_tag("macosx_11_0_arm64") is None


def test_fifo_is_refused_without_blocking(pkgdoctor: Runner, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe-1.0-py3-none-any.whl"
    os.mkfifo(fifo)
    result = pkgdoctor("audit-wheel", str(fifo))
    assert result.status == 2 and "not a regular file" in result.err
