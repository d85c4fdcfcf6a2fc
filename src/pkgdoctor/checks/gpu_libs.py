"""GPU stacks' libraries (issue 12): the NVIDIA driver's own libraries, and CUDA builds
installed without the ``nvidia-*`` wheels they require.

``gpu-missing-cuda-libs``: a CUDA build installed with ``--no-deps`` (or with some of its
``nvidia-*`` wheels uninstalled, or from a mirror that lacks them). What the real loader does
with torch: ``import torch`` first runs ``_load_global_deps()`` (torch/__init__.py), which
``ctypes.CDLL``s ``torch/lib/libtorch_global_deps.so`` with ``RTLD_GLOBAL``; its ``DT_NEEDED``
CUDA libraries are searched along its RUNPATH (``$ORIGIN/../../nvidia/<component>/lib``,
``$ORIGIN/../../nvidia/cu13/lib``: the wheels' directories beside torch). When that fails
with an ``OSError`` naming one of the CUDA libraries, ``_preload_cuda_deps`` loads each of
them by full path from the first ``sys.path`` entry that has ``nvidia/<component>/lib/<lib>``
(or ``nvidia/cuXX/lib``) and tries again; a library found nowhere raises ``ValueError: ...
not found in the system path`` and the import fails. So the wheels count wherever on
``sys.path`` they are installed (the inventory covers every entry), and without them the
import breaks: an error, naming the requirements from torch's own Requires-Dist.

``gpu-no-driver``: ``libcuda.so.1`` and a few other libraries come only with an NVIDIA
driver, never from a wheel or the CUDA toolkit. A complete CUDA torch on a machine without a
driver (CI runners, laptops, login nodes) imports and runs on the CPU: torch loads them only
when CUDA is used (``libcaffe2_nvrtc.so``, which needs ``libcuda.so.1``, is opened lazily).
Their absence is said once, as information, from the Snapshot's ``gpu`` facts; it is an
error (``ext-missing-library``) only where a driver is there and its library is not found.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import replace
from typing import Any

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.gpu_builds import cuda_builds
from pkgdoctor.checks.import_loads import walk_requirements
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import Distribution, GpuFacts

NO_DRIVER = codes.GPU_NO_DRIVER
MISSING_LIBS = codes.GPU_MISSING_CUDA_LIBS

# NVIDIA's CUDA library wheels (nvidia-cublas, nvidia-cudnn-cu13, ...) and ``cuda-toolkit``,
# NVIDIA's meta-package whose extras pull them in (torch 2.14 requires
# ``cuda-toolkit[cublas,cudart,...]==13.0.3``). ``cuda-bindings`` and ``cuda-pathfinder`` are
# Python packages, not libraries a build links: their absence is a dist-requirement-missing.
_CUDA_WHEEL = re.compile(r"^(nvidia-[a-z0-9-]+|cuda-toolkit)$")

# The user-space libraries only an NVIDIA driver installs (by soname): NVIDIA's driver README,
# "Installed Components" (https://download.nvidia.com/XFree86/Linux-x86_64/580.95.05/README/
# installedcomponents.html: "the CUDA library (libcuda.so)", "NVML (libnvidia-ml.so)",
# "NVCUVID (libnvcuvid.so)", "NVENC (libnvidia-encode.so)", "the PTX JIT compiler
# (libnvidia-ptxjitcompiler.so)", "NVVM (libnvidia-nvvm.so)", "the CUDA debugger
# (libcudadebugger.so)", "Optical Flow (libnvidia-opticalflow.so)"), the same list the NVIDIA
# Container Toolkit mounts into a container given GPU access (NVIDIA/libnvidia-container,
# src/nvc_info.c, ``compute_libs``/``utility_libs``/``video_libs``). No wheel ships them: the
# CUDA toolkit and its wheels carry only link-time stubs (``lib/stubs/libcuda.so``).
DRIVER_LIBRARIES = frozenset(
    {
        "libcuda.so.1",
        "libnvidia-ml.so.1",
        "libnvcuvid.so.1",
        "libnvidia-encode.so.1",
        "libnvidia-ptxjitcompiler.so.1",
        "libnvidia-nvvm.so.4",
        "libcudadebugger.so.1",
        "libnvidia-opticalflow.so.1",
    }
)


def driver_present(gpu: GpuFacts) -> bool:
    """Whether the facts show an NVIDIA driver whose libraries should be here: its version
    (the kernel module's files or nvidia-smi) outside a container, its device nodes (a
    container given GPU access), or libcuda.so.1 in the ld.so cache. A container sees the
    host kernel's driver files, but gets the driver's libraries only with GPU access."""
    return bool(gpu.device_nodes or gpu.libcuda or (gpu.driver_version and gpu.container is None))


def container_without_gpus(gpu: GpuFacts | None) -> bool:
    """A container on a host with a driver, started without GPU access: no device files,
    no driver libraries (``gpu-devices-hidden`` says so)."""
    return bool(gpu and gpu.driver_version and gpu.container and not gpu.device_nodes)


def excused(ctx: Context, name: str) -> bool:
    """Whether ``name`` not being found is this family's to say (``gpu-no-driver``), not an
    ``ext-missing-library``: a driver's library, on a machine without a driver (or whose
    machine is not known)."""
    if name not in DRIVER_LIBRARIES:
        return False
    gpu = ctx.snapshot.gpu
    # The machine's facts say where the driver's library is (ld.so.cache): the driver's
    # libraries are there, whatever a loader model computed elsewhere made of them (a
    # snapshot taken on a machine without a driver, edited to describe a GPU node).
    return gpu is None or not driver_present(gpu) or gpu.libcuda is not None


def check(ctx: Context) -> list[Finding]:
    findings = [
        _missing_libs(ctx, dist, wheels)
        for dist in ctx.inventory.distributions
        if (wheels := missing_cuda_wheels(ctx, dist))
    ]
    users = driver_users(ctx)
    gpu = ctx.snapshot.gpu
    # A driver without its library is an ext-missing-library error (a broken driver install).
    if users and (gpu is None or not driver_present(gpu)):
        findings.append(_no_driver(ctx, gpu, users))
    elif gpu is not None and not driver_present(gpu) and (builds := cuda_builds(ctx)):
        findings.append(_no_driver_builds(gpu, builds))
    return findings


# --- gpu-missing-cuda-libs --------------------------------------------------------------------


def missing_cuda_wheels(ctx: Context, dist: Distribution) -> dict[str, str]:
    """The NVIDIA CUDA wheels ``dist`` requires (directly, or through the extras of
    ``cuda-toolkit`` it asks for) that are not installed: Requires-Dist text → the requirement
    to install (``name[extras]specifier``, without its marker). Markers evaluated for the
    target with ``packaging``."""
    found: dict[str, str] = {}
    for text, req, installed in walk_requirements(ctx, dist, _CUDA_WHEEL.match):
        if installed is None:
            wanted = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
            found[text] = f"{req.name}{wanted}{req.specifier}"
    return found


def _cuda_sonames(ctx: Context, dist: Distribution) -> dict[str, list[str]]:
    """The libraries ``dist``'s modules need that the loader model does not find and that
    their search path expects from an NVIDIA wheel (a RUNPATH directory ``.../nvidia/...``)
    → the files that need them."""
    names: dict[str, list[str]] = {}
    for module in ctx.snapshot.extensions.modules:
        if ctx.owner(module.file.path) is not dist:
            continue
        for link in module.links:
            res = link.resolution
            if res.found or res.name in DRIVER_LIBRARIES:  # those are gpu-no-driver's
                continue
            if not any("/nvidia/" in d + "/" for d in res.searched):
                continue
            files = names.setdefault(res.name, [])
            requester = posixpath.basename(link.requester)
            if requester not in files:
                files.append(requester)
    return dict(sorted(names.items()))


def _missing_libs(ctx: Context, dist: Distribution, wheels: dict[str, str]) -> Finding:
    libraries = _cuda_sonames(ctx, dist)
    specs = list(dict.fromkeys(wheels.values()))
    evidence: dict[str, Any] = {"missing_requirements": specs}
    if libraries:
        evidence["libraries_not_found"] = libraries
    module = dist.name.replace("-", "_")
    if libraries:
        count = f" ({len(libraries)} libraries)" if len(libraries) > 1 else ""
        consequence = (
            f"the loader does not find {', '.join(libraries)}{count}, so `import {module}` fails"
        )
    else:
        consequence = (
            "the loader finds their libraries elsewhere, not the versions it was built with"
        )
    return MISSING_LIBS.finding(
        f"{dist} is a CUDA build installed without the NVIDIA wheels it requires "
        f"({', '.join(specs)}): {consequence}.",
        distribution=dist.name,
        path=dist.metadata_dir,
        evidence=evidence,
        command=ctx.pip("install " + " ".join(shlex.quote(s) for s in specs)),
        explanation=f"Install the NVIDIA wheels {dist} requires (its Requires-Dist): pip "
        "puts their libraries in site-packages/nvidia/, where its RUNPATH and torch's "
        "preloading look.",
        severity=None if libraries else Severity.WARNING,
    )


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """The consequences of a CUDA build without its NVIDIA wheels, folded into its
    ``gpu-missing-cuda-libs`` (``folded``): the ``dist-requirement-missing`` of each of those
    wheels, and the ``ext-missing-library`` of its modules when all the libraries it names
    are the wheels' (CUDA's sonames, looked for in ``nvidia/*/lib``)."""
    by_dist = {f.distribution: f for f in findings if f.code == MISSING_LIBS.code}
    if not by_dist:
        return findings
    folded: dict[str, list[str]] = {}
    kept = []
    for finding in findings:
        owner = by_dist.get(finding.distribution)
        if owner is not None and owner is not finding and _folds(ctx, owner, finding):
            folded.setdefault(owner.distribution or "", []).append(
                f"{finding.code}: {finding.message}"
            )
            continue
        kept.append(finding)
    result = []
    for finding in kept:
        more = folded.get(finding.distribution or "") if finding.code == MISSING_LIBS.code else None
        result.append(
            replace(finding, evidence={**finding.evidence, "folded": more}) if more else finding
        )
    return result


def _folds(ctx: Context, owner: Finding, finding: Finding) -> bool:
    dist = ctx.inventory.get(owner.distribution or "")
    if dist is None:
        return False
    if finding.code == "dist-requirement-missing":
        return str(finding.evidence.get("requirement")) in missing_cuda_wheels(ctx, dist)
    if finding.code == codes.EXT_MISSING_LIBRARY.code:
        missing = finding.evidence.get("missing")
        libraries = owner.evidence.get("libraries_not_found", {})
        return isinstance(missing, dict) and bool(missing) and set(missing) <= set(libraries)
    return False


def driver_users(ctx: Context) -> dict[str, dict[str, list[str]]]:
    """Distribution (or package directory) → driver library → the files that need it, for
    the driver libraries the loader model does not find."""
    users: dict[str, dict[str, list[str]]] = {}
    for module in ctx.snapshot.extensions.modules:
        for link in module.links:
            res = link.resolution
            if res.found or res.name not in DRIVER_LIBRARIES:
                continue
            dist = ctx.owner(module.file.path)
            who = dist.name if dist is not None else module.file.module.split(".")[0]
            files = users.setdefault(who, {}).setdefault(res.name, [])
            name = posixpath.basename(link.requester)
            if name not in files:
                files.append(name)
    return users


def _no_driver(
    ctx: Context, gpu: GpuFacts | None, users: dict[str, dict[str, list[str]]]
) -> Finding:
    names = sorted({lib for libs in users.values() for lib in libs})
    needs = "; ".join(
        f"{who}'s {', '.join(files)} {'needs' if len(files) == 1 else 'need'} {lib}"
        for who, libs in sorted(users.items())
        for lib, files in sorted(libs.items())
    )
    only = "which only an NVIDIA driver installs"
    evidence: dict[str, Any] = {"driver_libraries": names, "used_by": dict(sorted(users.items()))}
    if gpu is None:
        return NO_DRIVER.finding(
            f"Whether CUDA is available cannot be judged here: the facts are not of the machine "
            f"the environment runs on (no GPU section), and {', '.join(names)} come only "
            f"with an NVIDIA driver ({needs}).",
            evidence=evidence,
            explanation="Run pkgdoctor check on the machine itself (or record a snapshot "
            "there) to know whether its driver provides them.",
        )
    why, severity = _why_no_cuda(gpu, evidence)
    frameworks = ", ".join(sorted(users))
    return NO_DRIVER.finding(
        f"CUDA will not be available on this machine: {'; '.join(why)}. {frameworks} "
        f"{'runs' if len(users) == 1 else 'run'} on the CPU only: {needs}, {only}.",
        evidence=evidence,
        severity=severity,
        explanation="Nothing to fix for CPU use. To use CUDA, run on a machine with an NVIDIA "
        "driver; in a container, start it with GPU access (docker run --gpus all, with the "
        "NVIDIA Container Toolkit).",
    )


def _why_no_cuda(gpu: GpuFacts, evidence: dict[str, Any]) -> tuple[list[str], Severity | None]:
    """Why CUDA cannot start here, from the facts (adds what it used to ``evidence``), and
    the finding's severity: a warning in a container that does not get its host's GPU."""
    why = [
        "no NVIDIA driver is loaded (no /sys/module/nvidia/version, no "
        "/proc/driver/nvidia/version)",
        "no /dev/nvidia* device",
        "libcuda.so.1 is not in the ld.so cache",
    ]
    severity = None
    if container_without_gpus(gpu):
        # The host has a GPU this container does not get: worth a warning, not a note.
        why = [
            f"this container ({gpu.container}) was started without GPU access: the host's "
            f"NVIDIA driver {gpu.driver_version} shows in /proc, but there is no /dev/nvidia* "
            "device and the driver's libraries are not mounted"
        ]
        severity = Severity.WARNING
        evidence["container"] = gpu.container
    visible = dict(gpu.visible)
    container = visible.get("NVIDIA_VISIBLE_DEVICES")
    if container is not None and container.strip().lower() in ("", "void", "none"):
        why.append(f"NVIDIA_VISIBLE_DEVICES={container!r}: a container started without GPU access")
    if visible:
        evidence["visible"] = visible
    if gpu.source:
        evidence["source"] = gpu.source
    return why, severity


def _no_driver_builds(gpu: GpuFacts, builds: list[tuple[str, str, str]]) -> Finding:
    """No driver, and CUDA builds that need none of its libraries at load time (CuPy and JAX
    load CUDA when first used): the same note, naming the builds."""
    evidence: dict[str, Any] = {"builds": [f"{n} {v}: CUDA {c}" for n, v, c in builds]}
    why, severity = _why_no_cuda(gpu, evidence)
    listed = ", ".join(f"{n} {v} (CUDA {c})" for n, v, c in builds)
    return NO_DRIVER.finding(
        f"CUDA will not be available on this machine: {'; '.join(why)}. {listed} will not "
        "see a GPU here.",
        evidence=evidence,
        severity=severity,
        explanation="Nothing to fix for CPU use. To use CUDA, run on a machine with an NVIDIA "
        "driver; in a container, start it with GPU access (docker run --gpus all, with the "
        "NVIDIA Container Toolkit).",
    )
