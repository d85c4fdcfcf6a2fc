"""What each installed GPU framework was built for, read from its own files: never imported.

Where each framework records its build (read 2026-12; the files of the releases named):

- torch: ``torch/version.py``, written by its ``setup.py`` (``tools/generate_torch_version.py``):
  ``cuda: Optional[str] = '12.4'``, ``hip: Optional[str] = None``. A CPU build has both None.
  Its GPU library is ``torch/lib/libtorch_cuda.so`` (ROCm: ``libtorch_hip.so``).
- torchvision, torchaudio: the local version of ``version.py``'s ``__version__``
  (``'0.29.1+cu130'``); their ``cuda`` is computed at import, so it is not read.
- TensorFlow: ``tensorflow/python/platform/build_info.py``, a ``build_info`` dict of literals
  (``cuda_version``, ``cudnn_version``, ``is_cuda_build``, ``is_rocm_build``,
  ``cuda_compute_capabilities``).
- onnxruntime-gpu: ``onnxruntime/capi/build_and_package_info.py`` (``cuda_version``,
  ``cudnn_version``) and the ``DT_NEEDED`` of its CUDA provider,
  ``onnxruntime/capi/libonnxruntime_providers_cuda.so``.

The architectures a build carries are those of every fat binary in its GPU library
(:mod:`pkgdoctor.fatbin`: headers only, ~50 ms for torch's 475 fat binaries).

The Python files are parsed with :mod:`ast` and only literal assignments are taken: nothing
of the target runs. Each file is read up to :data:`MAX_SOURCE` bytes.
"""

from __future__ import annotations

import ast
import os
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from pkgdoctor.cuda import is_cuda_library
from pkgdoctor.elf import ELFError, read_elf
from pkgdoctor.fatbin import read_architectures
from pkgdoctor.files import read_regular
from pkgdoctor.snapshot.model import Distribution, FrameworkBuild, Inventory, normalize

MAX_SOURCE = 256 << 10  # version.py files are a few hundred bytes; build_info.py a few KiB


def collect(inventory: Inventory) -> tuple[FrameworkBuild, ...]:
    """The builds of the GPU frameworks installed, in inventory order."""
    builds = []
    for dist in inventory.distributions:
        reader = _READERS.get(dist.key)
        if reader is not None:
            builds.append(reader(dist))
    return tuple(builds)


def _path(dist: Distribution, relative: str) -> str:
    return posixpath.join(dist.site_dir, relative)


def _outside(dist: Distribution, path: str, problems: list[str]) -> bool:
    """Whether ``path`` leads out of ``dist``'s site directory (a symbolic link planted in a
    tree built by someone else): never read, and said."""
    base = (dist.site_real or os.path.realpath(dist.site_dir)).rstrip("/") + "/"
    if os.path.realpath(path).startswith(base):
        return False
    if os.path.lexists(path):
        problems.append(f"{path}: leads outside the environment; not read")
    return True


def _literals(dist: Distribution, path: str, problems: list[str]) -> dict[str, Any] | None:
    """The module-level assignments of literals in the Python file at ``path``; None when it
    cannot be read or parsed (the reason goes to ``problems``)."""
    if _outside(dist, path, problems):
        return None
    try:
        source = read_regular(path, MAX_SOURCE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(f"{path}: {exc.strerror or exc}")
        return None
    if len(source) > MAX_SOURCE:
        problems.append(f"{path}: larger than {MAX_SOURCE} bytes")
        return None
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        problems.append(f"{path}: not Python ({type(exc).__name__})")
        return None
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            literal = _literal(value)
            if literal is not _NOT_LITERAL:
                found[target.id] = literal
    return found


_NOT_LITERAL = object()


def _literal(node: ast.expr) -> Any:
    """The value of a literal, or of ``OrderedDict([...])``/``dict(...)`` of literals (how
    TensorFlow writes ``build_info``); :data:`_NOT_LITERAL` for anything else."""
    if isinstance(node, ast.Call) and not node.keywords and len(node.args) == 1:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("OrderedDict", "dict"):
            inner = _literal(node.args[0])
            try:
                return dict(inner) if inner is not _NOT_LITERAL else _NOT_LITERAL
            except (TypeError, ValueError):
                return _NOT_LITERAL
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value and len(value) <= 64 else None


def _needed(dist: Distribution, path: str, problems: list[str]) -> tuple[str, ...] | None:
    """The CUDA sonames in the DT_NEEDED of the ELF file at ``path``; None if it is absent."""
    if not os.path.lexists(path) or _outside(dist, path, problems):
        return None
    try:
        elf = read_elf(path)
    except (ELFError, OSError) as exc:
        problems.append(f"{path}: {exc}")
        return ()
    return tuple(n for n in elf.needed if is_cuda_library(n))


def _architectures_of(library: str, problems: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cubins and PTX of the build's own list of architectures: those of the fat
    binaries most of ``library``'s translation units have (torch 2.14.1: 414 of 475 with its
    six cubins; the rest add kernels for one architecture, like FlashAttention's sm_90a).
    On a tie, the larger set: nvcc writes a runtime stub with the cubins only beside a
    translation unit's cubins and PTX."""
    try:
        found = read_architectures(library)
    except OSError as exc:
        problems.append(f"{library}: {exc.strerror or exc}")
        return (), ()
    if found is None:
        return (), ()
    if found.problem:
        problems.append(f"{library}: {found.problem}")
    if not found.groups:
        return (), ()
    chosen, _ = max(found.groups, key=lambda group: (group[1], len(group[0])))
    return (
        tuple(a for a in chosen if a.startswith("sm_")),
        tuple(a for a in chosen if a.startswith("compute_")),
    )


def _torch(dist: Distribution) -> FrameworkBuild:
    problems: list[str] = []
    files = []
    version_py = _path(dist, "torch/version.py")
    values = _literals(dist, version_py, problems)
    cuda = hip = None
    gpu_build = None
    if values is not None:
        files.append(version_py)
        cuda, hip = _text(values.get("cuda")), _text(values.get("hip"))
        if "cuda" in values and "hip" in values:
            gpu_build = bool(cuda or hip)
    library = None
    needed: tuple[str, ...] = ()
    for name in ("libtorch_cuda.so", "libtorch_hip.so"):
        candidate = _path(dist, f"torch/lib/{name}")
        found = _needed(dist, candidate, problems)
        if found is not None:
            library, needed = candidate, found
            files.append(candidate)
            break
    cubins, ptx = _architectures_of(library, problems) if library else ((), ())
    return FrameworkBuild(
        distribution=dist.name,
        version=dist.version,
        cuda=cuda,
        hip=hip,
        gpu_build=gpu_build,
        cuda_libraries=needed,
        gpu_library=library,
        architectures=cubins,
        ptx=ptx,
        files=tuple(files),
        problems=tuple(problems),
    )


def _local_version(module: str) -> Any:
    """torchvision, torchaudio: the build from ``version.py``'s ``__version__`` local part
    (``0.29.1+cu130``, ``+cpu``, ``+rocm6.2``)."""

    def read(dist: Distribution) -> FrameworkBuild:
        problems: list[str] = []
        path = _path(dist, f"{module}/version.py")
        values = _literals(dist, path, problems)
        text = _text((values or {}).get("__version__")) or dist.version or ""
        local = text.partition("+")[2].lower()
        cuda = hip = None
        gpu_build = None
        if local.startswith("cu") and local[2:].isdigit() and len(local) >= 4:
            cuda = f"{local[2:-1]}.{local[-1]}"
            gpu_build = True
        elif local.startswith("rocm"):
            hip, gpu_build = local[4:] or None, True
        elif local == "cpu":
            gpu_build = False
        return FrameworkBuild(
            distribution=dist.name,
            version=dist.version,
            cuda=cuda,
            hip=hip,
            gpu_build=gpu_build,
            files=(path,) if values is not None else (),
            problems=tuple(problems),
        )

    return read


def _tensorflow(dist: Distribution) -> FrameworkBuild:
    problems: list[str] = []
    path = _path(dist, "tensorflow/python/platform/build_info.py")
    values = _literals(dist, path, problems)
    info = (values or {}).get("build_info")
    info = info if isinstance(info, Mapping) else {}
    cuda_build, rocm_build = info.get("is_cuda_build"), info.get("is_rocm_build")
    gpu_build = None
    if isinstance(cuda_build, bool) or isinstance(rocm_build, bool):
        gpu_build = bool(cuda_build) or bool(rocm_build)
    archs = info.get("cuda_compute_capabilities")
    archs = archs if isinstance(archs, (list, tuple)) else ()
    return FrameworkBuild(
        distribution=dist.name,
        version=dist.version,
        cuda=_text(info.get("cuda_version")) if cuda_build else None,
        hip=_text(info.get("rocm_version")) if rocm_build else None,
        cudnn=_text(info.get("cudnn_version")) if cuda_build else None,
        gpu_build=gpu_build,
        architectures=_architectures(
            a for a in archs if isinstance(a, str) and a.startswith("sm_")
        ),
        ptx=_architectures(a for a in archs if isinstance(a, str) and a.startswith("compute_")),
        files=(path,) if values is not None else (),
        problems=tuple(problems),
    )


def _architectures(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({n for n in names if len(n) <= 16}))


def _onnxruntime(dist: Distribution) -> FrameworkBuild:
    problems: list[str] = []
    files = []
    path = _path(dist, "onnxruntime/capi/build_and_package_info.py")
    values = _literals(dist, path, problems) or {}
    if values:
        files.append(path)
    provider = _path(dist, "onnxruntime/capi/libonnxruntime_providers_cuda.so")
    needed = _needed(dist, provider, problems)
    if needed is not None:
        files.append(provider)
    cuda = _text(values.get("cuda_version"))
    cubins, ptx = _architectures_of(provider, problems) if needed is not None else ((), ())
    return FrameworkBuild(
        distribution=dist.name,
        version=dist.version,
        cuda=cuda,
        cudnn=_text(values.get("cudnn_version")),
        gpu_build=True if (cuda or needed) else (False if values else None),
        cuda_libraries=needed or (),
        gpu_library=provider if needed is not None else None,
        architectures=cubins,
        ptx=ptx,
        files=tuple(files),
        problems=tuple(problems),
    )


_READERS = {
    "torch": _torch,
    "torchvision": _local_version("torchvision"),
    "torchaudio": _local_version("torchaudio"),
    **{
        normalize(name): _tensorflow
        for name in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly")
    },
    **{normalize(name): _onnxruntime for name in ("onnxruntime-gpu", "onnxruntime")},
}
