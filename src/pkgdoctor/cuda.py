"""What CUDA promises about drivers, and which CUDA builds PyTorch publishes: dated tables.

Each table says where it comes from and when it was read. A version past a table's end is
judged by the rules that hold for its whole major (minor version compatibility), never
guessed.

Drivers (Linux x86_64), from NVIDIA's documents, read 2026-12-01:

- "CUDA Compatibility", *Minor Version Compatibility*
  (https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html,
  Table 1): since CUDA 11 an application built with any toolkit of a major runs, with a
  limited feature set, on a driver of at least that major's minimum: 11.x >= 450.80.02,
  12.x >= 525.60.13, 13.x >= 580. Older drivers cannot run it at all: the runtime's first
  call fails with ``cudaErrorInsufficientDriver`` ("CUDA driver version is insufficient for
  CUDA runtime version").
- "CUDA Toolkit Release Notes", *CUDA Toolkit and Corresponding Driver Versions*
  (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/, Table 3): the driver each
  toolkit shipped with, which supports all of its features (PTX JIT of its PTX included).
- *Forward Compatibility* (same document): the ``cuda-compat`` package puts a newer
  ``libcuda.so`` under ``/usr/local/cuda-X.Y/compat`` that runs a newer toolkit on an older
  data-center driver; it is in use when ``libcuda.so.1`` resolves there.

PyTorch's CUDA builds: pytorch/pytorch ``RELEASE.md``, *Release Compatibility Matrix* (stable
and experimental CUDA of each release, read 2026-12-01, up to 2.14); each build lies on
``https://download.pytorch.org/whl/cuXYZ`` with the local version ``+cuXYZ``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

Version = tuple[int, ...]

# The oldest driver of each CUDA major's minor version compatibility.
MAJOR_MINIMUM_DRIVER: dict[int, Version] = {
    11: (450, 80, 2),
    12: (525, 60, 13),
    13: (580,),
}

# The driver each toolkit release shipped with (GA, Linux x86_64): it supports the whole
# release, PTX JIT included.
TOOLKIT_DRIVER: dict[Version, Version] = {
    (11, 0): (450, 51, 5),
    (11, 1): (455, 23),
    (11, 2): (460, 27, 3),
    (11, 3): (465, 19, 1),
    (11, 4): (470, 42, 1),
    (11, 5): (495, 29, 5),
    (11, 6): (510, 39, 1),
    (11, 7): (515, 43, 4),
    (11, 8): (520, 61, 5),
    (12, 0): (525, 60, 13),
    (12, 1): (530, 30, 2),
    (12, 2): (535, 54, 3),
    (12, 3): (545, 23, 6),
    (12, 4): (550, 54, 14),
    (12, 5): (555, 42, 2),
    (12, 6): (560, 28, 3),
    (12, 8): (570, 26),
    (12, 9): (575, 51, 3),
    (13, 0): (580, 65, 6),
}

# The CUDA versions of the builds of each PyTorch release on download.pytorch.org.
TORCH_CUDA_BUILDS: dict[str, tuple[str, ...]] = {
    "1.12": ("11.3", "11.6"),
    "1.13": ("11.6", "11.7"),
    "2.0": ("11.7", "11.8"),
    "2.1": ("11.8", "12.1"),
    "2.2": ("11.8", "12.1"),
    "2.3": ("11.8", "12.1"),
    "2.4": ("11.8", "12.1", "12.4"),
    "2.5": ("11.8", "12.1", "12.4"),
    "2.6": ("11.8", "12.4", "12.6"),
    "2.7": ("11.8", "12.6", "12.8"),
    "2.8": ("12.6", "12.8", "12.9"),
    "2.9": ("12.6", "12.8", "13.0"),
    "2.10": ("12.6", "12.8", "13.0"),
    "2.11": ("12.6", "12.8", "13.0"),
    "2.12": ("12.6", "13.0", "13.2"),
    "2.13": ("12.6", "13.0", "13.2"),
    "2.14": ("12.6", "13.0", "13.2"),
}
TORCH_INDEX = "https://download.pytorch.org/whl/"
# The GPU architectures each CUDA build of a release carries (RELEASE.md, "PyTorch CUDA
# Support Matrix", Linux x86_64, for 2.12, 2.13 and 2.14; read 2026-12-01). The 13.x builds'
# 12.0 also carries PTX.
_ARCHS_12_6 = ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90")
_ARCHS_13 = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")
TORCH_CUDA_ARCHS: dict[str, dict[str, tuple[str, ...]]] = {
    release: {"12.6": _ARCHS_12_6, "13.0": _ARCHS_13, "13.2": _ARCHS_13}
    for release in ("2.12", "2.13", "2.14")
}
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse(text: str | None) -> Version | None:
    """``"550.54.15"`` → ``(550, 54, 15)``; None for anything that is not a version.

    >>> parse("12.4"), parse("575.51.03"), parse("banana"), parse(None)
    ((12, 4), (575, 51, 3), None, None)
    """
    if not text:
        return None
    match = _VERSION.match(text.strip())
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def show(version: Sequence[int]) -> str:
    """``(450, 80, 2)`` → ``"450.80.02"`` (NVIDIA writes the third part with two digits).

    >>> show((450, 80, 2)), show((580,)), show((12, 4))
    ('450.80.02', '580', '12.4')
    """
    parts = [str(version[0]), *(str(p) for p in version[1:2])]
    parts += [f"{p:02d}" for p in version[2:]]
    return ".".join(parts)


def driver_supports(driver: Version, cuda: Version) -> str:
    """How a driver runs a build for CUDA ``cuda`` (major, minor): ``"full"`` (the driver
    the toolkit shipped with, or newer), ``"minor-compat"`` (minor version compatibility:
    runs, with the limits NVIDIA lists: no PTX JIT of the newer PTX), ``"no"`` (older than
    the major's minimum), or ``"unknown"`` (a major this table does not know).

    >>> [driver_supports((550, 54, 15), v) for v in ((12, 4), (12, 6), (13, 0), (11, 8))]
    ['full', 'minor-compat', 'no', 'full']
    >>> driver_supports((470, 57, 2), (12, 1)), driver_supports((999,), (14, 0))
    ('no', 'unknown')
    """
    minimum = MAJOR_MINIMUM_DRIVER.get(cuda[0])
    if minimum is None:
        return "unknown"
    if driver < minimum:
        return "no"
    shipped = TOOLKIT_DRIVER.get(tuple(cuda[:2]))
    if shipped is None:
        # A minor this table does not list: newer than its last row of that major, or a
        # minor NVIDIA skipped (12.7). Full support only from a driver of a later major.
        later = [m for m in MAJOR_MINIMUM_DRIVER if m > cuda[0]]
        return "full" if later and driver >= MAJOR_MINIMUM_DRIVER[min(later)] else "minor-compat"
    return "full" if driver >= shipped else "minor-compat"


def cuda_supports(driver_cuda: Version, cuda: Version) -> str:
    """The same judgement from the CUDA version the driver reports (``nvidia-smi``'s
    "CUDA Version: 12.4"): the newest toolkit it fully supports.

    >>> [cuda_supports((12, 4), v) for v in ((12, 1), (12, 6), (13, 0), (11, 8))]
    ['full', 'minor-compat', 'no', 'full']
    """
    if cuda[0] > driver_cuda[0]:
        return "no"
    if cuda[0] < driver_cuda[0] or tuple(cuda[:2]) <= tuple(driver_cuda[:2]):
        return "full"
    return "minor-compat"


def runs(driver: Version | None, driver_cuda: Version | None, cuda: Version) -> str:
    """How this machine's driver runs a build for ``cuda``, from the best fact there is: the
    CUDA version the driver reports (:func:`cuda_supports`), else its version
    (:func:`driver_supports`); ``"unknown"`` with neither.

    >>> runs(None, (12, 8), (13, 0)), runs((535, 104, 12), None, (12, 6)), runs(None, None, (12, 0))
    ('no', 'minor-compat', 'unknown')
    """
    if driver_cuda is not None:
        return cuda_supports(driver_cuda, cuda)
    if driver is not None:
        return driver_supports(driver, cuda)
    return "unknown"


def minimum_driver(cuda: Version) -> Version | None:
    """The oldest driver that runs a build for ``cuda`` at all (its major's minimum)."""
    return MAJOR_MINIMUM_DRIVER.get(cuda[0])


def torch_builds(torch_version: str | None) -> tuple[str, ...] | None:
    """The CUDA versions PyTorch built release ``torch_version`` for; None when the table
    does not know the release.

    >>> torch_builds("2.5.1+cpu"), torch_builds("9.0.0")
    (('11.8', '12.1', '12.4'), None)
    """
    version = parse(torch_version)
    if version is None:
        return None
    return TORCH_CUDA_BUILDS.get(f"{version[0]}.{version[1]}")


def torch_build_archs(torch_version: str | None, build: str) -> tuple[str, ...] | None:
    """The cubins of PyTorch's ``build`` (``"12.6"``) of release ``torch_version``; None
    when the table does not know them."""
    version = parse(torch_version)
    if version is None:
        return None
    return TORCH_CUDA_ARCHS.get(f"{version[0]}.{version[1]}", {}).get(build)


def local_tag(cuda: str) -> str:
    """``"12.4"`` → ``"cu124"``: the local version and index name of a PyTorch build."""
    return "cu" + cuda.replace(".", "")


def best_torch_build(
    torch_version: str | None, driver: Version | None, driver_cuda: Version | None
) -> tuple[str, str] | None:
    """The CUDA build of ``torch_version`` to install for this driver, and how the driver
    runs it (``"full"`` or ``"minor-compat"``): the newest build it fully supports, else
    the newest it runs by minor version compatibility, else None (no build of that release
    runs on it). With neither driver fact, the newest build ("unknown").

    >>> best_torch_build("2.5.1", (550, 54, 15), None)
    ('12.4', 'full')
    >>> best_torch_build("2.5.1", None, (12, 2))
    ('12.1', 'full')
    >>> best_torch_build("2.8.0", (470, 57, 2), None) is None
    True
    """
    builds = torch_builds(torch_version)
    if not builds:
        return None
    if driver is None and driver_cuda is None:
        return builds[-1], "unknown"
    judged = [(build, runs(driver, driver_cuda, parse(build) or ())) for build in builds]
    for wanted in ("full", "minor-compat"):
        found = [b for b, v in judged if v == wanted]
        if found:
            return found[-1], wanted
    return None


# The libraries of the CUDA toolkit and of NVIDIA's CUDA wheels, by the stem of their
# sonames: the CUDA Toolkit release notes, "CUDA Toolkit Major Component Versions"
# (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/), the files NVIDIA's
# ``nvidia-*-cu11``/``-cu12`` and CUDA 13 wheels install, and the list torch preloads
# (``torch/__init__.py``, ``_preload_cuda_deps``). Key: the stem; value: its entry in the
# toolkit's ``version.json``, where it has one.
CUDA_LIBRARIES: Mapping[str, str | None] = {
    "libcudart": "cuda_cudart",
    "libcublas": "libcublas",
    "libcublasLt": "libcublas",
    "libnvblas": "libcublas",
    "libcufft": "libcufft",
    "libcufftw": "libcufft",
    "libcurand": "libcurand",
    "libcusolver": "libcusolver",
    "libcusolverMg": "libcusolver",
    "libcusparse": "libcusparse",
    "libcusparseLt": None,  # its own wheel and tarball, not in the toolkit
    "libnvJitLink": "libnvjitlink",
    "libnvrtc": "cuda_nvrtc",
    "libnvrtc-builtins": "cuda_nvrtc",
    "libcupti": "cuda_cupti",
    "libnvperf_host": "cuda_cupti",
    "libnvperf_target": "cuda_cupti",
    "libpcsamplingutil": "cuda_cupti",
    "libcheckpoint": "cuda_cupti",
    "libnvToolsExt": "cuda_nvtx",
    "libnvtx3interop": "cuda_nvtx",
    "libcufile": "libcufile",
    "libcufile_rdma": "libcufile",
    "libnvjpeg": "libnvjpeg",
    "libnvvm": "cuda_nvcc",
    "libnccl": None,  # NCCL: its own packages
    "libnvshmem_host": None,
}
# cuDNN's libraries (libcudnn.so.9, libcudnn_ops.so.9, libcudnn_cnn_infer.so.8, ...) and NPP's
# (libnppc, libnppig, ...) are families of their own.
FAMILIES = (("libcudnn", None), ("libnpp", "libnpp"))
_STEM = re.compile(r"^(?P<stem>lib[A-Za-z0-9_+-]+?)\.so(?:\.|$)")


def cuda_library(name: str) -> str | None:
    """The stem of a CUDA library's soname, or None for another library.

    >>> [cuda_library(n) for n in ("libnvJitLink.so.12", "libcudnn_ops.so.9",
    ...     "libcublasLt.so.13", "libcuda.so.1", "libstdc++.so.6")]
    ['libnvJitLink', 'libcudnn', 'libcublasLt', None, None]
    """
    match = _STEM.match(name)
    if match is None:
        return None
    stem = match["stem"]
    if stem in CUDA_LIBRARIES:
        return stem
    for family, _ in FAMILIES:
        if stem.startswith(family):
            return family
    return None


def is_cuda_library(soname: str) -> bool:
    """Whether ``soname`` names one of the CUDA toolkit's libraries or the driver's
    ``libcuda.so.1`` (what a framework's GPU library needs of CUDA).

    >>> [is_cuda_library(n) for n in ("libcudart.so.12", "libcudnn_ops.so.9", "libcuda.so.1",
    ...     "libc10.so")]
    [True, True, True, False]
    """
    return cuda_library(soname) is not None or soname.startswith("libcuda.so")
