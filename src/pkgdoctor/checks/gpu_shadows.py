"""``gpu-system-cuda-shadows``: a CUDA library that the environment's framework or ``nvidia-*``
wheel needs is taken from a system CUDA while an installed ``nvidia-*`` wheel carries its own
copy of that name (issue 12; pytorch/pytorch#111469 "undefined symbol:
__nvJitLinkAddData_12_1", cuDNN shadowing #80637, cu11 and cu12 side by side #147001).

Why it happens: the framework's libraries and NVIDIA's wheels find each other through
``DT_RUNPATH`` (``$ORIGIN/../../nvidia/cusparse/lib``, or ``$ORIGIN`` beside each other), and
glibc searches ``LD_LIBRARY_PATH`` *before* ``DT_RUNPATH`` (man ld.so(8); ``elf/dl-load.c``,
``_dl_map_object``): a CUDA toolkit on ``LD_LIBRARY_PATH`` (``/usr/local/cuda-12.1/lib64``)
wins over the wheel's copy of the same soname. An object with no search path to the wheel
gets ld.so.cache's copy the same way. A name already loaded is reused (glibc maps the needs
breadth first and compares each name with the loaded objects first), so only the request
that loads a name decides, and a library a dependency (torch, for torchvision) loaded
first is the one everybody gets: those cases are not shadowed.

The facts are the loader model's links and the Snapshot's ``outside_libraries``
(:mod:`pkgdoctor.look.library_copies`): both files, the real file name and the toolkit's
``version.json``, the symbols the requesters need that only the wheel's copy defines.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from pkgdoctor import codes, cuda
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.distributions import required
from pkgdoctor.checks.gpu_builds import dist_cuda_major
from pkgdoctor.elf import ELFFile
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import (
    Distribution,
    Extension,
    LibraryCopy,
    OutsideLibrary,
    Resolution,
)

SHADOWS = codes.GPU_SYSTEM_CUDA_SHADOWS

# torch loads NVIDIA wheels' libraries by their paths before its own (torch/__init__.py,
# ``_load_global_deps``), so ``import torch`` gets the wheels' copies whatever the search
# order: nvJitLink and nvrtc since 2.6 (pytorch/pytorch#141063, #145582); the whole list of
# ``_preload_cuda_deps`` once libcudart is mapped, as the __init__.py of 2.13.0 (the machine's
# wheel) and 2.14.1 have it (2.7 to 2.12: not read, not assumed).
_TORCH_PRELOADS = (
    ("2.6", frozenset({"libnvJitLink", "libnvrtc"})),
    (
        "2.13",
        frozenset(
            {
                "libcublasLt",
                "libcublas",
                "libcudnn",
                "libnvrtc",
                "libnvrtc-builtins",
                "libcudart",
                "libcupti",
                "libcufft",
                "libcurand",
                "libnvJitLink",
                "libcusparse",
                "libcusparseLt",
                "libcusolver",
                "libnccl",
                "libnvshmem_host",
                "libcufile",
            }
        ),
    ),
)
# "cuda-12.1" in a toolkit's path (/usr/local/cuda-12.1/lib64), as NVIDIA's installers name it.
_TOOLKIT_DIR = re.compile(r"/cuda-(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:/|$)")
_VERSIONED = re.compile(r"\.so\.(?P<version>\d+(?:\.\d+)+)$")
_NVIDIA = re.compile(r"^nvidia-")


def check(ctx: Context) -> list[Finding]:
    """The shadowed CUDA libraries of ``ctx``'s environment, one finding per library."""
    outside = {
        (o.name, o.path): o
        for o in ctx.snapshot.outside_libraries
        if cuda.cuda_library(o.name) and _wheel_copies(ctx, o)
    }
    if not outside:
        return []
    modules = ctx.snapshot.extensions.modules
    elf = ctx.snapshot.extensions.elf
    firsts = [(module, _first_requests(module, elf)) for module in modules]
    # What each distribution's modules load from the environment: the names a dependency's
    # import loaded first are reused by its dependents (torchvision after torch).
    loads: dict[str, set[str]] = {}
    for module, first in firsts:
        dist = ctx.inventory.owner(module.file.path)
        if dist is None:
            continue
        for name, (_, res) in first.items():
            if res.path is not None and _inside(ctx, res.path):
                loads.setdefault(dist.key, set()).add(name)
    shadows: dict[tuple[str, str], dict[str, list[str]]] = {}
    for module, first in firsts:
        dist = ctx.inventory.owner(module.file.path)
        before = _dependencies(ctx, dist) if dist is not None else set()
        for name, (requester, res) in first.items():
            key = (name, res.path or "")
            if key not in outside or not _inside(ctx, requester):
                continue
            if any(name in loads.get(dep, ()) for dep in before):
                continue
            seen = shadows.setdefault(key, {"requesters": [], "modules": []})
            for field, value in (("requesters", requester), ("modules", module.file.module)):
                if value not in seen[field]:
                    seen[field].append(value)
    reported = [
        (outside[key], seen)
        for key, seen in sorted(shadows.items())
        if not all(copy.identical for copy, _ in _wheel_copies(ctx, outside[key]))
    ]
    # One command for every finding: LD_LIBRARY_PATH without each directory that shadows a
    # wheel (two toolkits on it: both go), with the wheels' directories that ld.so.cache's
    # copies win over in front.
    remove: dict[str, None] = {}
    add: dict[str, None] = {}
    for item, seen in reported:
        via = _via(ctx, item, seen["requesters"])
        if via == "LD_LIBRARY_PATH":
            remove[posixpath.normpath(posixpath.dirname(item.path))] = None
        elif via in ("ld.so.cache", "default", "runpath"):
            add[posixpath.dirname(_wheel_copies(ctx, item)[0][0].path)] = None
    command = _command(ctx, list(remove), list(add))
    return [
        _finding(ctx, item, seen["requesters"], seen["modules"], command) for item, seen in reported
    ]


def _command(ctx: Context, remove: list[str], add: list[str]) -> str | None:
    """``export LD_LIBRARY_PATH=...`` from the recorded value, without ``remove``, with
    ``add`` in front; ``unset`` when nothing is left."""
    if not remove and not add:
        return None
    raw = ctx.target.environ.get("LD_LIBRARY_PATH", "")
    rest = [d for d in raw.split(":") if d and posixpath.normpath(d) not in remove]
    value = [*add, *(d for d in rest if d not in add)]
    if not value:
        return "unset LD_LIBRARY_PATH"
    return f"export LD_LIBRARY_PATH={shlex.quote(':'.join(value))}"


def _first_requests(
    module: Extension, elf: Mapping[str, ELFFile | str]
) -> dict[str, tuple[str, Resolution]]:
    """For each name ``module`` brings in, the request that loads it: glibc maps needs
    breadth first (``_dl_map_object_deps``) and reuses a loaded object for a later request of
    its name or soname (``_dl_name_match_p``), so the first request in that order decides."""
    children: dict[str, list[Resolution]] = {}
    for requester, res in module.links:
        children.setdefault(requester, []).append(res)
    first: dict[str, tuple[str, Resolution]] = {}
    queue = deque([module.file.path])
    queued = {module.file.path}
    while queue:
        current = queue.popleft()
        for res in children.get(current, ()):
            if res.name in first:
                continue
            first[res.name] = (current, res)
            lib = elf.get(res.path) if res.path is not None else None
            if isinstance(lib, ELFFile) and lib.soname:
                first.setdefault(lib.soname, (current, res))
            if res.path is not None and res.path not in queued:
                queued.add(res.path)
                queue.append(res.path)
    return first


def _dependencies(ctx: Context, dist: Distribution) -> set[str]:
    """The installed distributions ``dist`` requires, transitively: imported before it."""
    found: set[str] = set()
    todo = [dist]
    while todo:
        for name in required(ctx, todo.pop()):
            dep = ctx.inventory.get(name)
            if dep is not None and dep.key not in found and dep.key != dist.key:
                found.add(dep.key)
                todo.append(dep)
    return found


def _inside(ctx: Context, path: str) -> bool:
    prefix = posixpath.normpath(ctx.target.prefix)
    normal = posixpath.normpath(path)
    return ctx.inventory.owner(normal) is not None or normal.startswith(prefix + "/")


def _wheel_copies(ctx: Context, item: OutsideLibrary) -> list[tuple[LibraryCopy, Distribution]]:
    """The copies of ``item``'s name that NVIDIA's wheels installed."""
    found = []
    for copy in item.copies:
        dist = ctx.inventory.owner(copy.path)
        if dist is not None and _NVIDIA.match(dist.key):
            found.append((copy, dist))
    return found


def _finding(
    ctx: Context,
    item: OutsideLibrary,
    requesters: list[str],
    modules: list[str],
    command: str | None,
) -> Finding:
    """One shadowed library (an outside copy with the wheel's bytes is not: whichever is
    loaded, nothing differs)."""
    copies = _wheel_copies(ctx, item)
    copy, wheel = max(copies, key=lambda pair: pair[0].lacking_count)
    via = _via(ctx, item, requesters)
    loaded_version = _loaded_version(item)
    system_major = _system_major(item)
    wheel_major = dist_cuda_major(wheel)
    lacking = copy.lacking_count > 0
    majors_differ = bool(system_major and wheel_major and system_major != wheel_major)
    preloaded = _torch_preloads(ctx, item.name, requesters)
    if preloaded is not None:
        severity = Severity.INFO
    elif lacking or majors_differ:
        severity = Severity.ERROR
    elif via == "LD_LIBRARY_PATH" or via in ("rpath", "runpath"):
        severity = Severity.WARNING
    else:
        severity = Severity.INFO
    names = _names(ctx, requesters)
    message = (
        f"{item.name}, needed by {names}, is loaded from {item.path} "
        f"({_VIA_WORDS.get(via, via)}; {loaded_version}), not from {copy.path} "
        f"({wheel.name} {wheel.version})"
    )
    if lacking:
        shown = ", ".join(copy.lacking[:3]) + (", …" if copy.lacking_count > 3 else "")
        message += (
            f": it lacks {copy.lacking_count} symbol(s) that "
            f"{_names(ctx, copy.needed_by)} need ({shown})."
        )
    elif majors_differ:
        message += f": CUDA {system_major}'s library where CUDA {wheel_major}'s is expected."
    else:
        message += "."
    evidence: dict[str, Any] = {
        "library": item.name,
        "loaded": item.path,
        "via": via,
        "loaded_version": loaded_version,
        "wheel_copy": copy.path,
        "wheel": f"{wheel.name} {wheel.version}",
    }
    if lacking:
        evidence["lacking"] = list(copy.lacking)
        evidence["lacking_count"] = copy.lacking_count
    if system_major and wheel_major:
        evidence["cuda_majors"] = {"loaded": system_major, "wheel": wheel_major}
    evidence["needed_by"] = requesters
    evidence["modules"] = modules
    if item.real_name:
        evidence["real_file"] = item.real_name
    if item.toolkit_file:
        evidence["toolkit_file"] = item.toolkit_file
    if preloaded is not None:
        evidence["preloaded_by"] = preloaded
    if copy.identical is None:
        evidence["compared"] = "too large to compare byte by byte"
    if not item.complete:
        evidence["symbols_compared"] = "partly: a limit stopped the comparison"
    explanation = _explanation(ctx, item, via, copy.path, requesters, wheel)
    if majors_differ:
        explanation = (
            f"A library of CUDA {system_major} needs a driver for CUDA {system_major} and "
            f"brings CUDA {system_major}'s libraries beside the CUDA {wheel_major} ones "
            f"{wheel.name} belongs with. " + explanation
        )
    if preloaded is not None:
        explanation = (
            f"{preloaded} loads {wheel.name}'s {item.name} by its path before its own "
            "libraries, so `import torch` gets the wheel's copy; anything else that loads "
            f"these libraries gets {item.path}. " + explanation
        )
    return SHADOWS.finding(
        message,
        severity=severity,
        distribution=_owner_name(ctx, requesters),
        path=item.path,
        evidence=evidence,
        command=None if via == "rpath" else command,  # DT_RPATH: before LD_LIBRARY_PATH
        explanation=explanation,
    )


_VIA_WORDS = {
    "LD_LIBRARY_PATH": "LD_LIBRARY_PATH",
    "ld.so.cache": "ld.so.cache",
    "default": "the loader's default directories",
    "rpath": "an RPATH outside the environment",
    "runpath": "a RUNPATH outside the environment",
}


def _via(ctx: Context, item: OutsideLibrary, requesters: list[str]) -> str:
    """How the first requester's lookup reached the outside file."""
    for module in ctx.snapshot.extensions.modules:
        for requester, res in module.links:
            if requester in requesters and res.name == item.name and res.path == item.path:
                return res.via
    return "ld.so.cache"


def _torch_preloads(ctx: Context, name: str, requesters: Iterable[str]) -> str | None:
    """ "torch VERSION" when the installed torch preloads the wheel's copy of ``name`` and
    only torch and NVIDIA's wheels request it (nothing else is loaded before torch is)."""
    from packaging.version import InvalidVersion, Version  # only when a library is shadowed

    torch = ctx.inventory.get("torch")
    stem = cuda.cuda_library(name)
    if torch is None or torch.version is None or stem is None:
        return None
    try:
        release = Version(torch.version).release
    except InvalidVersion:
        return None
    preloads = {
        s for since, stems in _TORCH_PRELOADS if release >= Version(since).release for s in stems
    }
    if stem not in preloads:
        return None
    for requester in requesters:
        owner = ctx.inventory.owner(requester)
        if owner is None or not (owner.key == "torch" or _NVIDIA.match(owner.key)):
            return None
    return f"torch {torch.version}"


def _names(ctx: Context, objects: Iterable[str]) -> str:
    """Extension modules by their module name, libraries by their file name."""
    modules = {m.file.path: m.file.module for m in ctx.snapshot.extensions.modules}
    return ", ".join(modules.get(p, posixpath.basename(p)) for p in objects)


def _owner_name(ctx: Context, requesters: Iterable[str]) -> str | None:
    for requester in requesters:
        dist = ctx.inventory.owner(requester)
        if dist is not None:
            return dist.name
    return None


def _loaded_version(item: OutsideLibrary) -> str:
    """What is known of the outside file's release: its real file name's version, the
    toolkit's component and CUDA versions."""
    parts = []
    if item.toolkit.get("cuda"):
        parts.append(f"CUDA {item.toolkit['cuda']}")
    stem = cuda.cuda_library(item.name)
    component = cuda.CUDA_LIBRARIES.get(stem or "") or dict(cuda.FAMILIES).get(stem or "")
    if component and item.toolkit.get(component):
        parts.append(f"{component} {item.toolkit[component]}")
    real = _match(_VERSIONED, item.real_name or "")
    if real:
        parts.append(f"file {item.real_name}")
    if not parts:
        major, minor = _toolkit_dir(item.path)
        if major:
            parts.append(f"CUDA {major}{'.' + minor if minor else ''} by its directory")
    return ", ".join(parts) if parts else "version unknown"


def _toolkit_dir(path: str) -> tuple[str | None, str | None]:
    match = _TOOLKIT_DIR.search(path)
    return (match["major"], match["minor"]) if match else (None, None)


def _system_major(item: OutsideLibrary) -> str | None:
    version = item.toolkit.get("cuda")
    if version:
        return version.split(".")[0]
    return _toolkit_dir(item.path)[0]


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match[1] if match else None


def _explanation(
    ctx: Context,
    item: OutsideLibrary,
    via: str,
    copy: str,
    requesters: list[str],
    wheel: Distribution,
) -> str:
    directory = posixpath.dirname(item.path)
    wheel_dir = posixpath.dirname(copy)
    if via == "LD_LIBRARY_PATH":
        return (
            f"glibc searches LD_LIBRARY_PATH before the RUNPATH through which "
            f"{_names(ctx, requesters[:1])} finds {wheel.name}'s libraries, so "
            f"{directory} wins: take it off LD_LIBRARY_PATH for this shell (the command), and "
            "out of the profile or module file that sets it for Python work. The system's "
            "files stay as they are; a program built against that toolkit can still be run "
            "with it on LD_LIBRARY_PATH."
        )
    if via in ("ld.so.cache", "default"):
        return (
            f"{_names(ctx, requesters[:1])} has no RPATH or RUNPATH entry for "
            f"{wheel_dir}, so the loader takes the system's {item.name} ({via}) unless "
            f"something loaded the wheel's first. Putting the wheel's directory first on "
            "LD_LIBRARY_PATH (the command, for this shell) makes it win; the lasting fix is "
            "a build of the framework that finds NVIDIA's wheels (a RUNPATH to them), or, if "
            f"nothing uses it, uninstalling {wheel.name}."
        )
    fallback = (
        " For this shell, the command puts the wheel's directory on LD_LIBRARY_PATH, which "
        "is searched before RUNPATH."
        if via == "runpath"
        else ""
    )
    return (
        f"{_names(ctx, requesters[:1])} was built with a search path to {directory}, "
        f"which is searched before {wheel_dir}: install a build of it made for NVIDIA's "
        "wheels." + fallback
    )
