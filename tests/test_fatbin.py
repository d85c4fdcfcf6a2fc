"""pkgdoctor.fatbin on real CUDA fat binaries: shared libraries nvcc compiles here with several
``-gencode`` combinations (no GPU needed), cross-checked with NVIDIA's ``cuobjdump``; gcc-built
libraries without and with a hostile ``.nv_fatbin``; patched and garbage sections.

nvcc and cuobjdump are the machine's when it has them (``/usr/local/bin/nvcc``); otherwise
NVIDIA's wheels (``nvidia-cuda-nvcc``, ``nvidia-cuda-cuobjdump``) are installed from the
registry into a directory of the test run, and a failed install fails the tests.
"""

from __future__ import annotations

import dataclasses
import doctest
import os
import random
import shutil
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile as OracleELFFile

from artefacts import run
from pkgdoctor import fatbin
from pkgdoctor.fatbin import ArchVerdict, read_architectures, runs_on

KERNEL = r"""
__global__ void add(float *a, const float *b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a[i] += b[i];
}
extern "C" void launch(float *a, const float *b, int n) { add<<<(n + 255) / 256, 256>>>(a, b, n); }
"""


@dataclass(frozen=True)
class Variant:
    flags: tuple[str, ...]
    cubins: tuple[str, ...]
    ptx: tuple[str, ...]


def _gencode(arch: str, code: str) -> tuple[str, str]:
    return ("-gencode", f"arch={arch},code={code}")


# What each library is compiled with, and what the reader must find in it.
VARIANTS = {
    "cubins": Variant(
        (*_gencode("compute_75", "sm_75"), *_gencode("compute_80", "sm_80")),
        ("sm_75", "sm_80"),
        (),
    ),
    "ptx": Variant(_gencode("compute_90", "compute_90"), (), ("compute_90",)),
    "mixed": Variant(
        (*_gencode("compute_80", "sm_80"), *_gencode("compute_90", "[sm_90,compute_90]")),
        ("sm_80", "sm_90"),
        ("compute_90",),
    ),
    "compressed": Variant(
        ("-Xfatbin", "-compress-all", *_gencode("compute_86", "[sm_86,compute_86]")),
        ("sm_86",),
        ("compute_86",),
    ),
    "uncompressed": Variant(
        ("--compress-mode=none", *_gencode("compute_89", "[sm_89,compute_89]")),
        ("sm_89",),
        ("compute_89",),
    ),
    # Architecture-specific (CUDA 12.0+) and family-specific (CUDA 12.9+) targets.
    "specific": Variant(
        (
            *_gencode("compute_90a", "[sm_90a,compute_90a]"),
            *_gencode("compute_100f", "[sm_100f,compute_100f]"),
            *_gencode("compute_120a", "sm_120a"),
        ),
        ("sm_90a", "sm_100f", "sm_120a"),
        ("compute_90a", "compute_100f"),
    ),
    # Relocatable device code: the linked cubin in .nv_fatbin, the objects' in __nv_relfatbin.
    "rdc": Variant(("-rdc=true", *_gencode("compute_80", "sm_80")), ("sm_80",), ()),
}


@dataclass(frozen=True)
class Tools:
    nvcc: Path
    cuobjdump: Path


def _from_wheel(directory: Path, spec: str, program: str) -> Path:
    """``program`` from NVIDIA's wheel ``spec``, installed into ``directory`` (pip's
    failure fails the test)."""
    run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--target", str(directory), spec])  # fmt: skip
    found = sorted(directory.glob(f"nvidia/*/bin/{program}"))
    if not found:
        pytest.fail(f"the {spec} wheel has no bin/{program}")
    return found[0]


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        nvcc_path = _from_wheel(tmp_path_factory.mktemp("nvcc"), "nvidia-cuda-nvcc", "nvcc")
    else:
        nvcc_path = Path(nvcc)
    # The toolkit's cuobjdump, if it has one: on PATH, beside nvcc, in /usr/local/cuda*/bin.
    candidates = [shutil.which("cuobjdump"), nvcc_path.resolve().parent / "cuobjdump"]
    candidates += sorted(Path("/usr/local").glob("cuda*/bin/cuobjdump"))
    cuobjdump = next((Path(c) for c in candidates if c and os.access(c, os.X_OK)), None)
    if cuobjdump is None:
        cuobjdump = _from_wheel(
            tmp_path_factory.mktemp("cuobjdump"), "nvidia-cuda-cuobjdump>=13", "cuobjdump"
        )
    return Tools(nvcc_path, cuobjdump)


@pytest.fixture(scope="session")
def libraries(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variant compiled once, two at a time (each nvcc run takes about a second)."""
    directory = tmp_path_factory.mktemp("fatbin")
    source = directory / "kernel.cu"
    source.write_text(KERNEL)

    def compile_one(name: str) -> Path:
        out = directory / f"lib{name}.so"
        command = [str(tools.nvcc), "-shared", "-Xcompiler", "-fPIC", *VARIANTS[name].flags]
        run([*command, "-o", str(out), str(source)])
        return out

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = dict(zip(VARIANTS, pool.map(compile_one, VARIANTS)))
    # Measured: 6 s for the seven on 2 shared cores (nvcc 13.0); far more is a regression.
    print(f"compiled {len(built)} CUDA libraries in {time.perf_counter() - started:.1f} s")
    return built


def _section(path: Path, name: str = ".nv_fatbin") -> tuple[int, int]:
    """(offset, size) of a section, from pyelftools (an oracle independent of pkgdoctor)."""
    with path.open("rb") as stream:
        section = OracleELFFile(stream).get_section_by_name(name)
        assert section is not None, f"{path} has no {name}"
        return section["sh_offset"], section["sh_size"]


# --- What nvcc compiled is what is read ----------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
def test_reads_what_was_compiled(libraries: dict[str, Path], name: str) -> None:
    found = read_architectures(libraries[name])
    assert found is not None
    assert found.problem is None and found.readable
    assert (found.cubins, found.ptx) == (VARIANTS[name].cubins, VARIANTS[name].ptx)
    # One translation unit, and nvcc's runtime stub beside it (its cubins, never PTX); the
    # empty container nvcc writes for PTX-only builds is left out.
    assert found.everywhere == (found.cubins or found.ptx)
    assert sum(count for _, count in found.groups) <= found.containers
    assert {arch for archs, _ in found.groups for arch in archs} == {*found.cubins, *found.ptx}
    assert found.containers >= 1
    assert found.entries >= len(found.cubins) + len(found.ptx)
    assert found.section == ".nv_fatbin" and found.path == str(libraries[name])
    assert [arch for arch, _ in found.counts] == [*found.cubins, *found.ptx]
    # The PTX ISA version nvcc writes: 9.0 for CUDA 13.0.
    assert len(found.ptx_isa) == (1 if found.ptx else 0)
    assert all(fatbin.parse_compute_capability(isa) for isa in found.ptx_isa)


def test_compression_is_seen(libraries: dict[str, Path]) -> None:
    compressed = read_architectures(libraries["compressed"])
    plain = read_architectures(libraries["uncompressed"])
    assert compressed is not None and plain is not None
    assert compressed.compressed == compressed.entries > 0
    assert plain.compressed == 0 and plain.entries > 0


def test_relocatable_fat_binaries(libraries: dict[str, Path]) -> None:
    linked = read_architectures(libraries["rdc"])
    relocatable = read_architectures(libraries["rdc"], relocatable=True)
    assert linked is not None and relocatable is not None
    assert relocatable.section == "__nv_relfatbin"
    assert linked.cubins == relocatable.cubins == ("sm_80",)
    assert read_architectures(libraries["cubins"], relocatable=True) is None


def _cuobjdump(tools: Tools, path: Path, what: str) -> list[str]:
    """The architectures ``cuobjdump --list-elf``/``--list-ptx`` names, one per entry:
    ``ELF file 1: name.1.sm_80.cubin``, ``PTX file 1: name.1.sm_90.ptx``."""
    proc = subprocess.run(
        [str(tools.cuobjdump), f"--list-{what}", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"cuobjdump failed: {proc.stderr}")
    return [line.rsplit(".", 2)[-2] for line in proc.stdout.splitlines() if " file " in line]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_agrees_with_cuobjdump(tools: Tools, libraries: dict[str, Path], name: str) -> None:
    found = read_architectures(libraries[name])
    assert found is not None
    counts = dict(found.counts)
    elf = _cuobjdump(tools, libraries[name], "elf")
    ptx = _cuobjdump(tools, libraries[name], "ptx")
    # cuobjdump --list-elf drops the family suffix of a cubin ("sm_100f" -> "sm_100"; its
    # -elf dump says "arch = sm_100f") and names PTX "sm_90" for compute_90.
    assert sorted(elf) == sorted(
        arch.removesuffix("f") for arch in found.cubins for _ in range(counts[arch])
    )
    assert sorted(ptx) == sorted(
        arch.replace("compute_", "sm_") for arch in found.ptx for _ in range(counts[arch])
    )


# --- No fat binary, broken fat binaries ----------------------------------------------------


def test_plain_libraries_have_none(tmp_path: Path) -> None:
    source = tmp_path / "plain.c"
    source.write_text("int answer(void) { return 42; }\n")
    library = tmp_path / "libplain.so"
    run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)])
    assert read_architectures(library) is None
    assert read_architectures(source) is None  # not ELF
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_architectures(fifo) is None  # and no wait for a writer
    with pytest.raises(FileNotFoundError):
        read_architectures(tmp_path / "missing.so")


def _patched(library: Path, directory: Path, name: str, offset: int, data: bytes) -> Path:
    """A copy of ``library`` with ``data`` written at ``offset`` of its .nv_fatbin."""
    start, size = _section(library)
    assert offset + len(data) <= size
    blob = bytearray(library.read_bytes())
    blob[start + offset : start + offset + len(data)] = data
    out = directory / name
    out.write_bytes(bytes(blob))
    return out


def _container(library: Path) -> tuple[int, int, int, int]:
    """The first container header of a library: magic, version, header size, fat size."""
    start, _ = _section(library)
    with library.open("rb") as stream:
        stream.seek(start)
        values: tuple[int, int, int, int] = struct.unpack("<IHHQ", stream.read(16))
    return values


BROKEN = {
    # offset in the section, bytes written there, what the problem says
    "bad magic": (0, struct.pack("<I", 0xDEADBEEF), "has magic 0xdeadbeef"),
    "half a container of zeros": (0, bytes(8), "has magic 0x"),
    "bad version": (4, struct.pack("<H", 2), "has version 2"),
    "bad header size": (6, struct.pack("<H", 12), "implausible header size 12"),
    "fat size past the section": (8, struct.pack("<Q", 1 << 40), "runs past the end"),
    "entry header size": (16 + 4, struct.pack("<I", 3), "entry 1 of the fat binary at"),
    "entry payload past the container": (16 + 8, struct.pack("<Q", 1 << 33), "runs past"),
    "architecture": (16 + 28, struct.pack("<I", 0), "implausible architecture 0"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_sections_are_reported(
    libraries: dict[str, Path], tmp_path: Path, case: str
) -> None:
    offset, data, message = BROKEN[case]
    broken = _patched(libraries["mixed"], tmp_path, "libbroken.so", offset, data)
    found = read_architectures(broken)
    assert found is not None
    assert found.problem is not None and message in found.problem
    assert not found.readable


def test_an_empty_container_is_no_problem(libraries: dict[str, Path]) -> None:
    # nvcc writes an empty container (fat size 0) before a PTX-only one.
    assert _container(libraries["ptx"])[3] == 0
    found = read_architectures(libraries["ptx"])
    assert found is not None and found.problem is None and found.everywhere == ("compute_90",)


def _header_spans(library: Path) -> list[tuple[int, int]]:
    """(start, end) in the section of every container and entry header, walked here with the
    layout of the module's docstring (independently of pkgdoctor.fatbin's walk)."""
    start, size = _section(library)
    data = library.read_bytes()[start : start + size]
    spans, position = [], 0
    while position < size:
        _, _, header, fat = struct.unpack_from("<IHHQ", data, position)
        spans.append((position, position + header))
        entry, end = position + header, position + header + fat
        while entry < end:
            length, payload = struct.unpack_from("<IQ", data, entry + 4)
            spans.append((entry, entry + length))
            entry += length + payload
        position = end
    return spans


def test_garbage_never_raises(libraries: dict[str, Path], tmp_path: Path) -> None:
    """Random bytes over random spans of a real section: always a result, fast; the same
    result as before when only payloads were hit; a problem or other architectures when a
    header was."""
    library = libraries["mixed"]
    start, size = _section(library)
    spans = _header_spans(library)
    expected = read_architectures(library)
    original = library.read_bytes()
    candidate = tmp_path / "libgarbage.so"
    rng = random.Random(12)
    problems = 0
    for attempt in range(400):
        blob = bytearray(original)
        hits_header = False
        for _ in range(rng.randint(1, 4)):
            # Half the time aim at a header, else anywhere in the section.
            if attempt % 2:
                low, high = rng.choice(spans)
                at = rng.randrange(low, high)
            else:
                at = rng.randrange(size)
            length = min(rng.randint(1, 8), size - at)
            blob[start + at : start + at + length] = rng.randbytes(length)
            hits_header |= any(low < at + length and at < high for low, high in spans)
        candidate.write_bytes(bytes(blob))
        began = time.perf_counter()
        found = read_architectures(candidate)
        assert time.perf_counter() - began < 0.5
        assert found is not None  # the section header table is untouched
        if not hits_header:
            assert dataclasses.replace(found, path=str(library)) == expected
        problems += found.problem is not None
    assert problems > 50  # most header corruptions are seen, not read as architectures


def _gcc_fatbin(directory: Path, directives: str) -> Path:
    """A gcc-built library whose .nv_fatbin holds what the assembler ``directives`` write."""
    source = directory / "fatbin.c"
    lines = ['.section .nv_fatbin, \\"a\\"', ".balign 8", *directives.split(";"), ".previous"]
    source.write_text('asm("' + "\\n".join(lines) + '");\n')
    library = directory / "libfatbin.so"
    run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)])
    return library


# An empty container: magic, version 1 and header size 16 (one little-endian word), size 0.
EMPTY = ".long 0xBA55ED50, 0x00100001, 0, 0"
# A container with one 64-byte sm_80 cubin entry whose payload is 8 bytes.
CUBIN = (
    ".long 0xBA55ED50, 0x00100001; .quad 72;"  # container: 72 bytes of entries
    ".short 2, 0x0101; .long 64; .quad 8;"  # kind ELF, header 64 bytes, payload 8
    ".long 0, 0; .short 8, 1; .long 80; .long 0, 0; .quad 0x11; .quad 0, 0;"  # sm_80
    ".quad 0x7f454c46"  # the payload, never read
)


@pytest.mark.parametrize(
    ("directives", "cubins", "problem"),
    [
        (f"{CUBIN}", ("sm_80",), None),
        (f".quad 0; {CUBIN}; .quad 0; {EMPTY}; .quad 0, 0", ("sm_80",), None),  # padding
        (f"{CUBIN}; .long 7", ("sm_80",), "is cut short by the end of the section"),
        (f"{CUBIN}; .quad 7, 0", ("sm_80",), "has magic 0x7"),
        (f"{EMPTY}", (), None),
    ],
)
def test_synthetic_sections(
    tmp_path: Path, directives: str, cubins: tuple[str, ...], problem: str | None
) -> None:
    found = read_architectures(_gcc_fatbin(tmp_path, directives))
    assert found is not None and found.cubins == cubins
    if problem is None:
        assert found.problem is None
    else:
        assert found.problem is not None and problem in found.problem


@pytest.mark.parametrize("record", [EMPTY, ".long 0, 0, 0, 0"])
def test_huge_sections_are_bounded(tmp_path: Path, record: str) -> None:
    """A .nv_fatbin of 400,000 empty containers, or of zeros (6.4 MB): more than
    MAX_ENTRIES steps, so the walk stops, soon, with a problem."""
    library = _gcc_fatbin(tmp_path, f".rept 400000; {record}; .endr")
    assert _section(library)[1] == 400_000 * 16
    began = time.perf_counter()
    found = read_architectures(library)
    elapsed = time.perf_counter() - began
    assert found is not None and found.problem is not None
    assert f"more than {fatbin.MAX_ENTRIES}" in found.problem
    assert elapsed < 2.0  # measured: 0.35 s on a busy machine


# --- Which architecture runs where ---------------------------------------------------------

RULES = [
    # cubins, ptx, device, verdict, matched
    (("sm_75", "sm_80"), (), "8.6", "native", ("sm_80",)),  # same major, higher minor
    (("sm_75", "sm_80"), (), "7.5", "native", ("sm_75",)),
    (("sm_80", "sm_86"), (), "8.9", "native", ("sm_80", "sm_86")),
    (("sm_86",), (), "8.0", "none", ()),  # never a lower minor
    (("sm_80",), (), "9.0", "none", ()),  # nor another major
    (("sm_90a",), (), "9.0", "native", ("sm_90a",)),  # architecture-specific: exactly
    (("sm_100a",), (), "10.3", "none", ()),
    (("sm_100f",), (), "10.3", "native", ("sm_100f",)),  # family: same major, minor >=
    (("sm_100f",), (), "10.0", "native", ("sm_100f",)),
    (("sm_103f",), (), "10.0", "none", ()),
    (("sm_100f",), (), "12.0", "none", ()),
    ((), ("compute_90",), "12.0", "ptx-jit", ("compute_90",)),  # PTX: any later device
    ((), ("compute_90",), "8.9", "none", ()),
    ((), ("compute_90a",), "9.0", "ptx-jit", ("compute_90a",)),
    ((), ("compute_90a",), "10.0", "none", ()),
    ((), ("compute_100f",), "10.3", "ptx-jit", ("compute_100f",)),
    ((), ("compute_100f",), "12.0", "none", ()),
    (("sm_80",), ("compute_75", "compute_80"), "8.6", "native", ("sm_80",)),  # cubin first
    (("sm_90",), ("compute_75", "compute_80"), "12.1", "ptx-jit", ("compute_75", "compute_80")),
    # torch 2.14.1 (CUDA 13.0) on a Volta (7.0), whose support CUDA 13 dropped.
    (("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"), (), "7.0", "none", ()),
    (("sm_75", "garbage", "compute_75"), ("sm_75", "compute_x"), "7.5", "native", ("sm_75",)),
]


@pytest.mark.parametrize(("cubins", "ptx", "device", "verdict", "matched"), RULES)
def test_runs_on(
    cubins: tuple[str, ...],
    ptx: tuple[str, ...],
    device: str,
    verdict: str,
    matched: tuple[str, ...],
) -> None:
    assert runs_on(cubins, ptx, device) == ArchVerdict(verdict, matched)


def test_runs_on_needs_a_compute_capability() -> None:
    with pytest.raises(ValueError, match="not a compute capability"):
        runs_on(("sm_80",), (), "sm_80")


def test_runs_on_what_was_read(libraries: dict[str, Path]) -> None:
    found = read_architectures(libraries["specific"])
    assert found is not None
    assert runs_on(found.cubins, found.ptx, "9.0").verdict == "native"
    assert runs_on(found.cubins, found.ptx, "10.3") == ArchVerdict("native", ("sm_100f",))
    assert runs_on(found.cubins, found.ptx, "12.1") == ArchVerdict("none")


def test_the_examples_in_the_docstrings() -> None:
    assert doctest.testmod(fatbin).failed == 0
