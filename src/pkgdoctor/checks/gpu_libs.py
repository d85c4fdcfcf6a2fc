"""GPU stacks' libraries (issue 12): the NVIDIA driver's own libraries, and CUDA builds
installed without the ``nvidia-*`` wheels they require.

``gpu-no-driver``: ``libcuda.so.1`` and a few other libraries come only with an NVIDIA
driver, never from a wheel or the CUDA toolkit. A complete CUDA torch on a machine without a
driver (CI runners, laptops, login nodes) imports and runs on the CPU: torch loads them only
when CUDA is used (``libcaffe2_nvrtc.so``, which needs ``libcuda.so.1``, is opened lazily).
Their absence is said once, as information, from the Snapshot's ``gpu`` facts; it is an
error (``ext-missing-library``) only where a driver is there and its library is not found.
"""

from __future__ import annotations

import posixpath
from typing import Any

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding
from pkgdoctor.snapshot.model import GpuFacts

NO_DRIVER = codes.GPU_NO_DRIVER

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
    """Whether the facts show an NVIDIA driver: its version (the kernel module's files or
    nvidia-smi), its device nodes (a container given GPU access), or libcuda.so.1 in the
    ld.so cache."""
    return bool(gpu.driver_version or gpu.device_nodes or gpu.libcuda)


def excused(ctx: Context, name: str) -> bool:
    """Whether ``name`` not being found is this family's to say (``gpu-no-driver``), not an
    ``ext-missing-library``: a driver's library, on a machine without a driver (or whose
    machine is not known)."""
    if name not in DRIVER_LIBRARIES:
        return False
    gpu = ctx.snapshot.gpu
    return gpu is None or not driver_present(gpu)


def check(ctx: Context) -> list[Finding]:
    users = _driver_users(ctx)
    if not users:
        return []
    gpu = ctx.snapshot.gpu
    if gpu is not None and driver_present(gpu):
        return []  # a driver without its library: ext-missing-library says it, an error
    return [_no_driver(ctx, gpu, users)]


def _driver_users(ctx: Context) -> dict[str, dict[str, list[str]]]:
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
    why = [
        "no NVIDIA driver is loaded (no /sys/module/nvidia/version, no "
        "/proc/driver/nvidia/version)",
        "no /dev/nvidia* device",
        "libcuda.so.1 is not in the ld.so cache",
    ]
    visible = dict(gpu.visible)
    container = visible.get("NVIDIA_VISIBLE_DEVICES")
    if container is not None and container.strip().lower() in ("", "void", "none"):
        why.append(f"NVIDIA_VISIBLE_DEVICES={container!r}: a container started without GPU access")
    if visible:
        evidence["visible"] = visible
    if gpu.source:
        evidence["source"] = gpu.source
    frameworks = ", ".join(sorted(users))
    return NO_DRIVER.finding(
        f"CUDA will not be available on this machine: {'; '.join(why)}. {frameworks} "
        f"{'runs' if len(users) == 1 else 'run'} on the CPU only: {needs}, {only}.",
        evidence=evidence,
        explanation="Nothing to fix for CPU use. To use CUDA, run on a machine with an NVIDIA "
        "driver; in a container, start it with GPU access (docker run --gpus all, with the "
        "NVIDIA Container Toolkit).",
    )
