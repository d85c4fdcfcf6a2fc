"""pkgdoctor.platforms: the tags a target accepts, against packaging; libc of real ELF files."""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from pathlib import Path

import packaging._manylinux as manylinux
import packaging._musllinux as musllinux
import packaging.tags as tags
import pytest

from artefacts import (
    EM_AARCH64,
    EM_LOONGARCH,
    compile_extension,
    compile_library,
    patch_machine,
    raise_glibc_need,
    run,
)
from pkgdoctor.elf import read_elf
from pkgdoctor.platforms import (
    LEGACY_MANYLINUX,
    PlatformTag,
    accepted_tags,
    cpython_abis,
    elf_libc,
    glibc_needed,
    interpreter_libc,
    linux_platforms,
    musl_libc_soname,
    parse_platform_tag,
)

# (Python, free-threaded, debug, libc, libc version, architecture)
TARGETS = [
    ((3, 12), False, False, "glibc", (2, 36), "x86_64"),
    ((3, 13), True, False, "glibc", (2, 28), "aarch64"),
    ((3, 13), True, True, "musl", (1, 2), "x86_64"),
    ((3, 14), True, False, "glibc", (2, 39), "riscv64"),
    ((3, 11), False, True, "glibc", (2, 17), "ppc64le"),
    ((3, 10), False, False, "glibc", (2, 5), "i686"),
    ((3, 12), False, False, "glibc", (2, 38), "loongarch64"),
    ((3, 12), False, False, "musl", (1, 1), "aarch64"),
    ((3, 9), False, False, "glibc", (2, 31), "s390x"),
    ((3, 13), False, False, "glibc", (2, 35), "armv7l"),
    ((3, 12), False, False, "glibc", (3, 1), "x86_64"),  # a future glibc major
    ((3, 12), False, False, "glibc", (2, 12), "aarch64"),  # older than aarch64's oldest
]


def packaging_tags(
    monkeypatch: pytest.MonkeyPatch,
    python: tuple[int, int],
    free_threaded: bool,
    debug: bool,
    libc: str,
    version: tuple[int, int],
    arch: str,
) -> list[str]:
    """The oracle: what ``sys_tags()`` gives on that system — packaging's own ABI, manylinux
    and musllinux generators, told the target's build flags, libc and machine in place of
    the running interpreter's (the reads they make are replaced, nothing else)."""
    config = {"Py_DEBUG": int(debug), "Py_GIL_DISABLED": int(free_threaded)}
    monkeypatch.setattr(tags, "_get_config_var", lambda name, warn=False: config.get(name))
    monkeypatch.setattr(sysconfig, "get_platform", lambda: f"linux-{arch}")
    glibc = version if libc == "glibc" else (-1, -1)
    monkeypatch.setattr(manylinux, "_get_glibc_version", lambda: glibc)
    monkeypatch.setattr(manylinux, "_have_compatible_abi", lambda exe, archs: libc == "glibc")
    monkeypatch.setattr(manylinux, "_get_manylinux_module", lambda: None)
    musl = musllinux._MuslVersion(*version) if libc == "musl" else None
    monkeypatch.setattr(musllinux, "_get_musl_version", lambda executable: musl)
    abis = list(tags._cpython_abis(python))
    platforms = list(tags._linux_platforms(is_32bit=False))
    interpreter = f"cp{python[0]}{python[1]}"
    result = list(tags.cpython_tags(python, abis, platforms))
    result += tags.compatible_tags(python, interpreter, platforms)
    return [str(t) for t in result]


@pytest.mark.parametrize(
    ("python", "free_threaded", "debug", "libc", "version", "arch"),
    TARGETS,
    ids=[
        f"{p[0]}.{p[1]}{'t' * ft}{'d' * d}-{lc}{v[0]}.{v[1]}-{a}" for p, ft, d, lc, v, a in TARGETS
    ],
)
def test_accepted_tags_are_packagings(
    monkeypatch: pytest.MonkeyPatch,
    python: tuple[int, int],
    free_threaded: bool,
    debug: bool,
    libc: str,
    version: tuple[int, int],
    arch: str,
) -> None:
    abis = cpython_abis(python, free_threaded=free_threaded, debug=debug)
    ours = [str(t) for t in accepted_tags("cp", python, abis, linux_platforms(arch, libc, version))]
    theirs = packaging_tags(monkeypatch, python, free_threaded, debug, libc, version, arch)
    assert ours == theirs
    assert len(ours) == len(set(ours))
    # What the list means, said once more without packaging: the spec rules it follows.
    assert ours[0] == f"cp{python[0]}{python[1]}-{abis[0]}-linux_{arch}"
    assert f"py3-none-linux_{arch}" in ours and ours[-1] == "py30-none-any"
    assert any("-abi3-" in t for t in ours) is not free_threaded  # PEP 703: no abi3


def test_legacy_aliases_follow_their_glibc() -> None:
    """PEP 600: manylinux1/2010/2014 are manylinux_2_5/2_12/2_17, listed right after them;
    below 2.17 only on x86 (PEP 599), and manylinux2014 on every architecture (pip too)."""
    x86 = linux_platforms("x86_64", "glibc", (2, 17))
    for legacy, (major, minor) in LEGACY_MANYLINUX.items():
        index = x86.index(f"manylinux_{major}_{minor}_x86_64")
        assert x86[index + 1] == f"{legacy}_x86_64"
        parsed = parse_platform_tag(f"{legacy}_aarch64")
        assert parsed == PlatformTag(f"{legacy}_aarch64", "glibc", (major, minor), "aarch64")
    loong = linux_platforms("loongarch64", "glibc", (2, 36))
    assert loong[-1] == "manylinux2014_loongarch64"
    assert "manylinux_2_12_loongarch64" not in loong and "manylinux2010_loongarch64" not in loong
    assert linux_platforms("x86_64", None, None) == ["linux_x86_64"]
    assert linux_platforms("x86_64", "musl", (1, 1), linux_first=False) == [
        "musllinux_1_1_x86_64",
        "musllinux_1_0_x86_64",
        "linux_x86_64",
    ]


def test_parse_platform_tag() -> None:
    musl = parse_platform_tag("musllinux_1_2_armv7l")
    assert musl is not None and (musl.libc, musl.version, musl.arch) == ("musl", (1, 2), "armv7l")
    linux = parse_platform_tag("linux_riscv64")
    assert linux is not None and (linux.libc, linux.version, linux.arch) == (None, None, "riscv64")
    for other in ("any", "win_amd64", "macosx_11_0_arm64", "linux_", "manylinux2014_"):
        assert parse_platform_tag(other) is None
    assert musl_libc_soname("i686") == "libc.musl-x86.so.1"
    assert musl_libc_soname("sparc64") is None


# --- the C library of real ELF files -------------------------------------------------------

START = "void _start(void) { for (;;) {} }\n"


def test_this_machines_python_and_libc_are_glibc() -> None:
    python = read_elf(os.path.realpath(sys.executable))
    assert interpreter_libc(python.interpreter) == "glibc"
    found = elf_libc(python)
    assert found is not None and found.family == "glibc"
    assert found.source in ("dt_needed", "pt_interp")
    host = os.confstr("CS_GNU_LIBC_VERSION") or ""
    match = re.fullmatch(r"glibc (\d+)\.(\d+).*", host)
    assert match, host
    # The newest GLIBC_ version the interpreter needs is one this glibc has.
    assert found.glibc is not None and (2, 2) <= found.glibc <= (int(match[1]), int(match[2]))
    assert found.glibc == glibc_needed(python)


def test_gcc_built_glibc_module_and_its_glibc_need(tmp_path: Path) -> None:
    module = compile_extension(tmp_path, "plain", suffix=".cpython-312-x86_64-linux-musl.so")
    found = elf_libc(read_elf(str(module)), "x86_64-linux-musl", (3, 12))
    # The file links glibc: that beats what its name says (checks/extensions.py used to
    # take the musl triplet first and call it a musl module).
    assert found is not None and (found.family, found.source) == ("glibc", "dt_needed")
    assert found.value == "libc.so.6" and found.describe() == "DT_NEEDED libc.so.6"
    raise_glibc_need(module)
    needed = glibc_needed(read_elf(str(module)))
    assert needed is not None and needed[0] == 9


def libc_free_object(directory: Path, name: str, *flags: str) -> Path:
    """A shared object (or, with flags, an executable) that links no C library at all."""
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / f"{name}.c"
    source.write_text(START)
    out = directory / name
    run(["gcc", "-nostdlib", "-fPIC", "-O1", "-o", str(out), str(source), *flags])
    return out


def test_a_gnu_triplet_before_311_says_nothing(tmp_path: Path) -> None:
    """CPython on musl used the -linux-gnu triplet before 3.11: a module that links no libc
    and is named for 3.10 can be a musl one (checks/extensions.py called it glibc, an
    ext-libc-mismatch on a healthy Alpine Python 3.10)."""
    so = libc_free_object(tmp_path, "bare.cpython-310-x86_64-linux-gnu.so", "-shared")
    elf = read_elf(str(so))
    assert elf.needed == () and elf.interpreter is None
    assert elf_libc(elf, "x86_64-linux-gnu", (3, 10)) is None
    found = elf_libc(elf, "x86_64-linux-gnu", (3, 11))
    assert found is not None and (found.family, found.source) == ("glibc", "suffix_triplet")
    musl = elf_libc(elf, "x86_64-linux-musl", (3, 10))
    assert musl is not None and musl.describe() == "suffix triplet x86_64-linux-musl"


@pytest.mark.parametrize("soname", ["libc.musl-x86_64.so.1", "libc.so"])
def test_musl_by_dt_needed(tmp_path: Path, soname: str) -> None:
    """musl's libc soname, or the bare libc.so musl's loader takes as itself (musl
    ldso/dynlink.c) — built here by linking against a stand-in with that soname."""
    lib = compile_library(tmp_path / "lib", soname)
    module = compile_extension(tmp_path, "mod", link=[str(lib)])
    elf = read_elf(str(module))
    assert soname in elf.needed
    found = elf_libc(elf)
    assert found is not None and (found.family, found.value) == ("musl", soname)


def test_musl_and_glibc_by_pt_interp(tmp_path: Path) -> None:
    musl = libc_free_object(tmp_path, "musl", "-Wl,--dynamic-linker=/lib/ld-musl-x86_64.so.1")
    elf = read_elf(str(musl))
    found = elf_libc(elf)
    assert found is not None and found.describe() == "PT_INTERP /lib/ld-musl-x86_64.so.1"
    assert found.family == "musl" == interpreter_libc(elf.interpreter)
    for loader in ("/lib/ld-linux-aarch64.so.1", "/lib64/ld64.so.2", "/lib/ld.so.1"):
        glibc = libc_free_object(tmp_path, "glibc", f"-Wl,--dynamic-linker={loader}")
        found = elf_libc(read_elf(str(glibc)))
        assert found is not None and (found.family, found.source) == ("glibc", "pt_interp")
    assert interpreter_libc(None) is None
    assert interpreter_libc("/system/bin/linker64") is None  # Android's bionic


@pytest.mark.parametrize(
    ("machine", "arch"), [(EM_AARCH64, "aarch64"), (EM_LOONGARCH, "loongarch64")]
)
def test_libc_of_a_file_for_another_architecture(tmp_path: Path, machine: int, arch: str) -> None:
    module = compile_extension(tmp_path, "other")
    patch_machine(module, machine)
    elf = read_elf(str(module))
    assert elf.architecture == arch
    found = elf_libc(elf)
    assert found is not None and found.family == "glibc"
