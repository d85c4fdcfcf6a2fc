"""Tests for pkgdoctor.ldcache, with glibc's own `ldconfig -p` as the oracle."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgdoctor.elf import ELFError, read_elf
from pkgdoctor.ldcache import (
    FLAG_ELF,
    FLAG_ELF_LIBC6,
    FLAG_X8664_LIB64,
    FLAG_X8664_LIBX32,
    CacheEntry,
    LdCache,
    LdCacheError,
    parse_ld_cache,
    read_ld_cache,
)

SYSTEM_CACHE = Path("/etc/ld.so.cache")


def find_ldconfig() -> str:
    found = shutil.which("ldconfig") or shutil.which("ldconfig", path="/sbin:/usr/sbin")
    if found is None:
        pytest.fail("ldconfig not found: it is the oracle for these tests")
    return found


# One line of `ldconfig -p` (glibc elf/cache.c, print_entry):
#   \tlibfoo.so.1 (libc6,x86-64, hwcap: "x86-64-v3", OS ABI: Linux 3.2.0) => /path/libfoo.so.1
LINE = re.compile(r"^\t(?P<soname>\S+) \((?P<description>[^)]*)\) => (?P<path>.*)$")
HWCAP = re.compile(r'hwcap: "(?P<name>[^"]*)"')

# print_entry's spelling of the flags this machine's ldconfig writes.
TYPE_NAMES = {0: "libc4", 1: "ELF", 2: "libc5", 3: "libc6"}
VARIANT_NAMES = {0: "", FLAG_X8664_LIB64: ",x86-64", FLAG_X8664_LIBX32: ",x32"}


def ldconfig_print(cache: Path) -> list[tuple[str, str, str]]:
    """(soname, description, path) for each entry, as `ldconfig -C cache -p` prints them."""
    output = subprocess.run(
        [find_ldconfig(), "-C", str(cache), "-p"],
        check=True,
        capture_output=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout.decode("utf-8", "surrogateescape")
    rows = []
    for line in output.splitlines():
        match = LINE.match(line)
        if match:
            rows.append((match["soname"], match["description"], match["path"]))
    return rows


def assert_matches_ldconfig(cache: LdCache, path: Path, *, check_hwcaps: bool = True) -> None:
    rows = ldconfig_print(path)
    assert [(e.soname, e.path) for e in cache.entries] == [(s, p) for s, _, p in rows]
    for entry, (_, description, _) in zip(cache.entries, rows):
        expected = TYPE_NAMES.get(entry.flags & 0xFF, "unknown")
        variant = entry.flags & 0xFF00
        if variant in VARIANT_NAMES:
            expected += VARIANT_NAMES[variant]
            assert description.split(", ")[0] == expected
        hwcap = HWCAP.search(description)
        if check_hwcaps:
            assert entry.hwcaps_subdirectory == (hwcap["name"] if hwcap else None)


# --- The system cache ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def system_cache() -> LdCache:
    cache = read_ld_cache()
    if cache is None:
        pytest.fail(f"{SYSTEM_CACHE} does not exist")
    return cache


def test_libc_entries_exist(system_cache: LdCache) -> None:
    entries = system_cache.lookup("libc.so.6")
    assert entries
    for entry in entries:
        assert entry.soname == "libc.so.6"
        assert Path(entry.path).exists(), entry


def test_system_cache_matches_ldconfig(system_cache: LdCache) -> None:
    assert_matches_ldconfig(system_cache, SYSTEM_CACHE)


def test_system_cache_elf_class_agrees_with_the_files(system_cache: LdCache) -> None:
    checked = 0
    for entry in system_cache.entries:
        if entry.elf_class is None or not Path(entry.path).is_file():
            continue
        try:
            elf = read_elf(entry.path)
        except (ELFError, PermissionError):
            continue
        # (No soname check: ldconfig also keys entries by file name, e.g. the libz3.so
        # development symlink is cached under "libz3.so" although its DT_SONAME differs.)
        assert elf.elf_class == entry.elf_class, entry
        checked += 1
    if sys.platform == "linux" and os.uname().machine == "x86_64":
        assert checked > 10


def test_lookup_order_and_absent() -> None:
    entries = (
        CacheEntry("libx.so.1", "/a/libx.so.1", FLAG_ELF_LIBC6 | FLAG_X8664_LIB64),
        CacheEntry("liby.so.1", "/a/liby.so.1", FLAG_ELF_LIBC6),
        CacheEntry("libx.so.1", "/b/libx.so.1", FLAG_ELF_LIBC6 | FLAG_X8664_LIBX32),
    )
    cache = LdCache(entries)
    assert cache.lookup("libx.so.1") == (entries[0], entries[2])
    assert cache.lookup("libz.so.1") == ()


@pytest.mark.parametrize(
    ("flags", "elf_class"),
    [
        (FLAG_ELF_LIBC6 | FLAG_X8664_LIB64, 64),
        (FLAG_ELF_LIBC6 | FLAG_X8664_LIBX32, 32),
        (FLAG_ELF | FLAG_X8664_LIB64, 64),
        (FLAG_ELF_LIBC6, None),  # the machine's default ABI: i386, ppc, ...
        (FLAG_ELF_LIBC6 | 0x0A00, 64),  # AArch64
        (FLAG_ELF_LIBC6 | 0x0900, 32),  # ARM hard-float
        (FLAG_ELF_LIBC6 | 0x0600, 32),  # MIPS n32
        (FLAG_ELF_LIBC6 | 0x1000, None),  # RISC-V: same flag for RV32 and RV64
        (FLAG_ELF_LIBC6 | 0x1200, 64),  # LoongArch
        (0x0300, None),  # a.out (libc4) with a variant: not ELF
        (FLAG_ELF_LIBC6 | 0x7F00, None),  # unknown variant
    ],
)
def test_elf_class(flags: int, elf_class: int | None) -> None:
    assert CacheEntry("l", "/l", flags).elf_class == elf_class


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_ld_cache(tmp_path / "ld.so.cache") is None


def test_directory_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_ld_cache(tmp_path)


# --- Caches written by ldconfig in every format --------------------------------------------


@pytest.fixture(scope="module")
def generated_caches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Caches written by the real ldconfig (-r into a private root) in all three formats."""
    ldconfig = find_ldconfig()
    if os.geteuid() != 0:
        pytest.skip("ldconfig -r needs root")
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required")
    root = tmp_path_factory.mktemp("ldroot")
    (root / "etc").mkdir()
    (root / "etc" / "ld.so.conf").write_text("/opt/extra\n")
    lib = root / "lib"
    hwcaps = lib / "glibc-hwcaps" / "x86-64-v3"
    extra = root / "opt" / "extra"
    for directory in (hwcaps, extra):
        directory.mkdir(parents=True)
    source = root / "s.c"
    source.write_text("int s(void) { return 1; }\n")
    for soname, target in (
        ("libone.so.1", lib),
        ("libtwo.so.2", lib),
        ("libone.so.1", hwcaps),
        ("libextra.so.3", extra),
    ):
        subprocess.run(
            [gcc, "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", target / soname, source],
            check=True,
            capture_output=True,
        )
    # ELF32 objects linked without libc (no 32-bit libc needed): ldconfig flags the i386 one
    # FLAG_ELF (no libc seen) and the x32 one FLAG_ELF_LIBC6 | FLAG_X8664_LIBX32.
    ld = shutil.which("ld")
    for soname, cflag, emulation in (
        ("libi386.so.0", "-m32", "elf_i386"),
        ("libx32.so.0", "-mx32", "elf32_x86_64"),
    ):
        try:
            obj = root / f"{soname}.o"
            subprocess.run(
                [gcc, cflag, "-fPIC", "-c", source, "-o", obj], check=True, capture_output=True
            )
            subprocess.run(
                [
                    ld or "ld",
                    "-m",
                    emulation,
                    "-shared",
                    "-soname",
                    soname,
                    "-o",
                    lib / soname,
                    obj,
                ],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError):
            continue
    caches = {}
    for fmt in ("old", "compat", "new"):
        subprocess.run(
            [ldconfig, "-r", str(root), "-X", "-c", fmt], check=True, capture_output=True
        )
        caches[fmt] = root / f"ld.so.cache.{fmt}"
        shutil.copyfile(root / "etc" / "ld.so.cache", caches[fmt])
    return caches


@pytest.mark.parametrize("fmt", ["old", "compat", "new"])
def test_generated_cache_matches_ldconfig(generated_caches: dict[str, Path], fmt: str) -> None:
    path = generated_caches[fmt]
    cache = read_ld_cache(path)
    assert cache is not None
    # ldconfig -p of glibc 2.33..2.38 (at least) resolves glibc-hwcaps names relative to the
    # start of the *file*, which in the compat format lands in the old table and prints
    # garbage; the loader and ldconfig's writer use the new header as the base.
    assert_matches_ldconfig(cache, path, check_hwcaps=fmt != "compat")
    sonames = {entry.soname for entry in cache.entries}
    assert {"libone.so.1", "libtwo.so.2", "libextra.so.3"} <= sonames
    assert sonames <= {"libone.so.1", "libtwo.so.2", "libextra.so.3", "libi386.so.0", "libx32.so.0"}
    for entry in cache.lookup("libi386.so.0"):
        assert (entry.flags, entry.elf_class) == (FLAG_ELF, None)
    for entry in cache.lookup("libx32.so.0"):
        assert (entry.flags, entry.elf_class) == (FLAG_ELF_LIBC6 | FLAG_X8664_LIBX32, 32)
    if os.uname().machine == "x86_64":
        for entry in cache.lookup("libtwo.so.2"):
            assert (entry.flags, entry.elf_class) == (FLAG_ELF_LIBC6 | FLAG_X8664_LIB64, 64)
    hwcap_entries = [entry for entry in cache.entries if entry.hwcaps_subdirectory]
    if fmt == "old":
        # The old format has no hwcap field; the glibc-hwcaps copy is a plain entry.
        assert not hwcap_entries
        assert len(cache.lookup("libone.so.1")) == 2
    else:
        # glibc-hwcaps entries sort first, so the loader tries them first.
        first, second = cache.lookup("libone.so.1")
        assert first.hwcaps_subdirectory == "x86-64-v3"
        assert first.path.endswith("/glibc-hwcaps/x86-64-v3/libone.so.1")
        assert second.hwcaps_subdirectory is None
    for entry in cache.entries:
        if entry.hwcaps_subdirectory is not None:
            assert f"/glibc-hwcaps/{entry.hwcaps_subdirectory}/" in entry.path


@pytest.mark.parametrize("fmt", ["old", "compat", "new"])
def test_generated_cache_every_prefix(generated_caches: dict[str, Path], fmt: str) -> None:
    data = generated_caches[fmt].read_bytes()
    # ldconfig ends every format with a string or the extension data, so every proper
    # prefix has lost something.
    for length in range(len(data)):
        assert parse_or_error(data[:length]) is None, length


# --- Hand-written caches: byte order and corruption ----------------------------------------


def build_new_cache(
    entries: list[tuple[int, str, str, int]],
    *,
    order: str = "<",
    endian_flag: int = 2,
    hwcaps: tuple[str, ...] = (),
) -> bytes:
    """A new-format cache: entries are (flags, soname, path, hwcap)."""
    strings = bytearray()
    offsets: dict[str, int] = {}
    header_and_entries = 48 + 24 * len(entries)

    def string(text: str) -> int:
        if text not in offsets:
            offsets[text] = header_and_entries + len(strings)
            strings.extend(text.encode() + b"\0")
        return offsets[text]

    records = b"".join(
        struct.pack(order + "iIIIQ", flags, string(soname), string(path), 0, hwcap)
        for flags, soname, path, hwcap in entries
    )
    hwcap_offsets = [string(name) for name in hwcaps]
    extension_offset = 0
    extension = b""
    if hwcaps:
        extension_offset = -(-(header_and_entries + len(strings)) // 4) * 4
        array_offset = extension_offset + 8 + 16
        extension = struct.pack(
            order + "IIIIII", 0xEAA42174, 1, 1, 0, array_offset, 4 * len(hwcaps)
        ) + b"".join(struct.pack(order + "I", offset) for offset in hwcap_offsets)
    header = (
        b"glibc-ld.so.cache1.1"
        + struct.pack(order + "II", len(entries), len(strings))
        + bytes([endian_flag, 0, 0, 0])
        + struct.pack(order + "IIII", extension_offset, 0, 0, 0)
    )
    body = header + records + bytes(strings)
    if extension:
        body += bytes(extension_offset - len(body)) + extension
    return body


SAMPLE = [
    (0x0303, "libfoo.so.1", "/usr/lib/glibc-hwcaps/x86-64-v2/libfoo.so.1", (1 << 62) | 0),
    (0x0303, "libfoo.so.1", "/usr/lib/libfoo.so.1", 0),
    (0x0803, "libfoo.so.1", "/usr/libx32/libfoo.so.1", 0),
    (0x0001, "libbar.so", "/usr/lib/libbar.so", 0),
]


@pytest.mark.parametrize("order", ["<", ">"])
def test_both_byte_orders(order: str) -> None:
    data = build_new_cache(
        SAMPLE, order=order, endian_flag=2 if order == "<" else 3, hwcaps=("x86-64-v2",)
    )
    cache = parse_ld_cache(data)
    assert [(e.flags, e.soname, e.path, e.hwcap) for e in cache.entries] == SAMPLE
    assert [e.hwcaps_subdirectory for e in cache.entries] == ["x86-64-v2", None, None, None]
    assert [e.elf_class for e in cache.lookup("libfoo.so.1")] == [64, 64, 32]


def test_unset_endianness_means_host_order() -> None:
    native = "<" if sys.byteorder == "little" else ">"
    cache = parse_ld_cache(build_new_cache(SAMPLE[1:], order=native, endian_flag=0))
    assert [e.path for e in cache.entries] == [path for _, _, path, _ in SAMPLE[1:]]


def test_isa_level_bits_still_mark_a_hwcaps_entry() -> None:
    entries = [(0x0303, "libfoo.so.1", "/x/libfoo.so.1", (1 << 62) | (3 << 32))]
    cache = parse_ld_cache(build_new_cache(entries, hwcaps=("x86-64-v3",)))
    assert cache.entries[0].hwcaps_subdirectory == "x86-64-v3"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "truncated header"),
        (b"glibc-ld.so.cac", "truncated header"),
        (b"ld.so-1.7", "truncated header"),
        (b"ld.so-1.7.0\0\x01", "truncated header"),
        (b"\x7fELF" + bytes(60), "bad magic"),
        (b"glibc-ld.so.cache1.2" + bytes(60), "bad magic"),
    ],
)
def test_garbage(data: bytes, match: str) -> None:
    with pytest.raises(LdCacheError, match=match) as excinfo:
        parse_ld_cache(data)
    assert str(excinfo.value).startswith("not a valid ld.so.cache: ")


def test_invalid_endian_flag() -> None:
    with pytest.raises(LdCacheError, match="invalid"):
        parse_ld_cache(build_new_cache(SAMPLE[1:], endian_flag=1))


def test_wrong_byte_order() -> None:
    # A big-endian cache claiming to be little-endian: counts become absurd.
    with pytest.raises(LdCacheError):
        parse_ld_cache(build_new_cache(SAMPLE[1:], order=">", endian_flag=2))


def test_string_offset_out_of_range() -> None:
    data = bytearray(build_new_cache(SAMPLE[1:]))
    struct.pack_into("<I", data, 48 + 4, 0xFFFFFF)  # key of the first entry
    with pytest.raises(LdCacheError, match="key string offset"):
        parse_ld_cache(bytes(data))


def test_unterminated_string() -> None:
    data = build_new_cache(SAMPLE[1:])
    with pytest.raises(LdCacheError):
        parse_ld_cache(data.rstrip(b"\0"))


def test_absurd_entry_count() -> None:
    data = bytearray(build_new_cache(SAMPLE[1:]))
    struct.pack_into("<I", data, 20, 0xFFFFFFFF)
    with pytest.raises(LdCacheError, match="implausible number of entries"):
        parse_ld_cache(bytes(data))


def test_hwcaps_index_without_extension() -> None:
    with pytest.raises(LdCacheError, match="glibc-hwcaps index"):
        parse_ld_cache(build_new_cache(SAMPLE))


@pytest.mark.parametrize(
    ("offset", "value", "match"),
    [
        (0, 0xDEADBEEF, "extension magic"),
        (4, 0xFFFFFFFF, "extension directory"),
        (16, 0xFFFFFF00, "extension section"),
    ],
)
def test_bad_extension(offset: int, value: int, match: str) -> None:
    data = bytearray(build_new_cache(SAMPLE, hwcaps=("x86-64-v2",)))
    (extension_offset,) = struct.unpack_from("<I", data, 32)
    struct.pack_into("<I", data, extension_offset + offset, value)
    with pytest.raises(LdCacheError, match=match):
        parse_ld_cache(bytes(data))


def test_misaligned_extension() -> None:
    data = bytearray(build_new_cache(SAMPLE, hwcaps=("x86-64-v2",)))
    struct.pack_into("<I", data, 32, 0x31)
    with pytest.raises(LdCacheError, match="misaligned"):
        parse_ld_cache(bytes(data))


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "ld.so.cache"
    with open(path, "wb") as file:
        file.truncate(64 * 1024 * 1024 + 1)
    with pytest.raises(LdCacheError, match="implausibly large"):
        read_ld_cache(path)


# --- Truncation and fuzzing ----------------------------------------------------------------


def parse_or_error(data: bytes) -> LdCache | None:
    try:
        return parse_ld_cache(data)
    except LdCacheError:
        return None


@pytest.fixture(scope="module")
def system_cache_bytes() -> bytes:
    return SYSTEM_CACHE.read_bytes()


def test_system_cache_prefixes(system_cache_bytes: bytes) -> None:
    for length in range(201):
        assert parse_or_error(system_cache_bytes[:length]) is None


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    parse_or_error(data)


@FUZZ
@given(
    magic=st.sampled_from([b"glibc-ld.so.cache1.1", b"ld.so-1.7.0\0"]),
    rest=st.binary(max_size=1024),
)
def test_fuzz_magic_prefixed(magic: bytes, rest: bytes) -> None:
    parse_or_error(magic + rest)


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8),
    near_start=st.booleans(),
    cut=st.integers(0, 1 << 20),
)
def test_fuzz_system_cache_with_overwrites(
    system_cache_bytes: bytes, edits: list[tuple[int, int]], near_start: bool, cut: int
) -> None:
    data = bytearray(system_cache_bytes)
    for position, value in edits:
        data[position % (200 if near_start else len(data))] = value
    parse_or_error(bytes(data[: len(data) - cut % 64]))


@FUZZ
@given(
    order=st.sampled_from(["<", ">"]),
    edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
)
def test_fuzz_hand_written_with_overwrites(order: str, edits: list[tuple[int, int]]) -> None:
    data = bytearray(
        build_new_cache(
            SAMPLE, order=order, endian_flag=2 if order == "<" else 3, hwcaps=("x86-64-v2",)
        )
    )
    for position, value in edits:
        data[position % len(data)] = value
    parse_or_error(bytes(data))
