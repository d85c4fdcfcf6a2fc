"""The installed GPU frameworks' builds against this machine's NVIDIA driver and devices.

- ``gpu-cpu-only-build``: torch built for the CPU only (``torch/version.py``: ``cuda`` and
  ``hip`` None) or for ROCm, where an NVIDIA driver or device is present; the fix installs
  the CUDA build of the same release that the driver runs, from PyTorch's index.
- ``gpu-driver-too-old``: the driver is older than the CUDA a build needs
  (:mod:`pkgdoctor.cuda`'s dated tables); within a major, minor version compatibility is a
  note, not an error; the forward compatibility package (``libcuda.so.1`` from a
  ``compat`` directory) lifts it.
- ``gpu-arch-not-compiled``: a device's compute capability (``nvidia-smi``'s) is served by
  no cubin and no PTX of a build's fat binaries (:mod:`pkgdoctor.fatbin`'s rules);
  served only by PTX is a note (JIT-compiled at first use).
- ``gpu-devices-hidden``: a driver, but no device visible here: a container started without
  GPU access, ``CUDA_VISIBLE_DEVICES`` or ``NVIDIA_VISIBLE_DEVICES`` set to none.

Only where the Snapshot has the machine's GPU facts (a target on this machine, or a snapshot
recorded on a GPU node or edited to describe one).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from pkgdoctor import codes, cuda
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.gpu_builds import cuda_builds
from pkgdoctor.checks.gpu_libs import container_without_gpus
from pkgdoctor.fatbin import runs_on
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import FrameworkBuild, GpuFacts

CPU_ONLY = codes.GPU_CPU_ONLY_BUILD
TOO_OLD = codes.GPU_DRIVER_TOO_OLD
HIDDEN = codes.GPU_DEVICES_HIDDEN
ARCH = codes.GPU_ARCH_NOT_COMPILED
_DOMAIN = ("torchvision", "torchaudio")
# CUDA_VISIBLE_DEVICES values that leave no device (the CUDA C Programming Guide, "CUDA
# Environment Variables": an invalid index ends the list; empty hides all).
_NONE_VISIBLE = ("", "-1", "none", "void", "NoDevFiles")


def check(ctx: Context) -> list[Finding]:
    gpu = ctx.snapshot.gpu
    if gpu is None or not has_nvidia(gpu):
        return []
    builds = ctx.snapshot.frameworks or ()
    findings = _cpu_only(ctx, gpu, builds)
    findings += _too_old(ctx, gpu)
    hidden = _hidden(ctx, gpu)
    if hidden is not None:
        findings.append(hidden)
    findings += _architectures(ctx, gpu, builds)
    return findings


def has_nvidia(gpu: GpuFacts) -> bool:
    """Whether the machine has an NVIDIA driver or device, by any of its facts."""
    return bool(gpu.driver_version or gpu.devices or gpu.device_nodes)


def machine(gpu: GpuFacts) -> dict[str, Any]:
    """The machine's GPU facts as evidence."""
    facts: dict[str, Any] = {
        "driver_version": gpu.driver_version,
        "cuda_driver_version": gpu.cuda_driver_version,
        "devices": [
            " ".join(
                filter(
                    None,
                    (
                        d.name,
                        f"(compute capability {d.compute_capability})"
                        if d.compute_capability
                        else None,
                    ),
                )
            )
            for d in gpu.devices
        ],
        "source": gpu.source,
    }
    return {k: v for k, v in facts.items() if v}


def _described(gpu: GpuFacts) -> str:
    """ "an NVIDIA driver (550.54.15, CUDA 12.4) and 8 NVIDIA H100 80GB HBM3" """
    driver = "an NVIDIA driver"
    details = [
        d
        for d in (gpu.driver_version, gpu.cuda_driver_version and f"CUDA {gpu.cuda_driver_version}")
        if d
    ]
    if details:
        driver += f" ({', '.join(details)})"
    names = sorted({d.name for d in gpu.devices if d.name})
    if gpu.devices:
        count = len(gpu.devices)
        what = names[0] if len(names) == 1 else "GPU"
        driver += f" and {count} {what}" + ("s" if count > 1 and len(names) != 1 else "")
    return driver


def _index_fix(
    ctx: Context, builds: Sequence[FrameworkBuild], torch: FrameworkBuild, gpu: GpuFacts
) -> tuple[str | None, str]:
    """The pip command that installs the CUDA build of torch's release (and of the installed
    torchvision/torchaudio) that this driver runs, and why that one; no command when
    PyTorch's table does not know the release or no build of it runs on the driver."""
    driver = cuda.parse(gpu.driver_version)
    driver_cuda = cuda.parse(gpu.cuda_driver_version)
    best = cuda.best_torch_build(torch.version, driver, driver_cuda)
    release = (torch.version or "").partition("+")[0]
    if best is None:
        known = cuda.torch_builds(torch.version)
        if known is None:
            return None, (
                f"pkgdoctor's table of PyTorch builds does not know torch {release}: pick "
                "the CUDA build for this driver on https://pytorch.org/get-started/locally/."
            )
        return None, (
            f"No CUDA build of torch {release} ({', '.join(known)}) runs on this driver: "
            "upgrade the NVIDIA driver, or install an older torch release."
        )
    version, how = best
    command = _install_torch_build(ctx, builds, torch, version)
    why = {
        "full": "the newest CUDA build of this release that the driver fully supports",
        "minor-compat": "the newest CUDA build of this release the driver runs (by CUDA's "
        "minor version compatibility)",
        "unknown": "the newest CUDA build of this release (the driver's version is not "
        "known: check it runs CUDA " + version + ")",
    }[how]
    return command, f"CUDA {version}: {why}."


def _install_torch_build(
    ctx: Context, builds: Sequence[FrameworkBuild], torch: FrameworkBuild, version: str
) -> str:
    """``pip install torch==R+cuXYZ [torchvision==V+cuXYZ ...] --index-url .../cuXYZ``: the
    CUDA ``version`` build of torch's release R, with the installed torchvision and
    torchaudio pinned to the same build. The local version is what makes pip replace an
    installed ``R+cpu`` (which a plain ``==R`` already satisfies)."""
    tag = cuda.local_tag(version)
    release = (torch.version or "").partition("+")[0]
    pins = [f"torch=={release}+{tag}"]
    for build in builds:
        if build.distribution.lower() in _DOMAIN and build.version:
            pins.append(f"{build.distribution}=={build.version.partition('+')[0]}+{tag}")
    args = " ".join(shlex.quote(p) for p in pins)
    return ctx.pip(f"install {args} --index-url {cuda.TORCH_INDEX}{tag}")


def _cpu_only(ctx: Context, gpu: GpuFacts, builds: Sequence[FrameworkBuild]) -> list[Finding]:
    torch = next((b for b in builds if b.distribution.lower() == "torch"), None)
    if torch is None or torch.gpu_build is None or torch.cuda:
        return []
    kind = f"a ROCm build (HIP {torch.hip})" if torch.hip else "a CPU-only build"
    dist = ctx.inventory.get("torch")
    command, why = _index_fix(ctx, builds, torch, gpu)
    return [
        CPU_ONLY.finding(
            f"torch {torch.version} is {kind}, on a machine with {_described(gpu)}: "
            "torch.cuda.is_available() is False.",
            distribution=torch.distribution,
            path=dist.metadata_dir if dist is not None else None,
            evidence={
                "build": {
                    "distribution": torch.distribution,
                    "version": torch.version,
                    "cuda": torch.cuda,
                    "hip": torch.hip,
                    "files": list(torch.files),
                },
                "machine": machine(gpu),
            },
            command=command,
            explanation=(
                "Install the CUDA build of the same release from PyTorch's index. " + why
                if command
                else why
            ),
        )
    ]


def _driver_range(gpu: GpuFacts) -> str:
    """What the driver runs, in words: "CUDA 12.4 (driver 550.54.15)"."""
    driver = cuda.parse(gpu.driver_version)
    if gpu.cuda_driver_version:
        newest = gpu.cuda_driver_version
    elif driver is not None:
        shipped = [v for v, d in cuda.TOOLKIT_DRIVER.items() if d <= driver]
        newest = cuda.show(max(shipped)) if shipped else "none of CUDA 11 or newer"
    else:
        return "CUDA of an unknown version"
    return f"CUDA up to {newest}" + (
        f" (driver {gpu.driver_version})" if gpu.driver_version else ""
    )


def _too_old(ctx: Context, gpu: GpuFacts) -> list[Finding]:
    driver = cuda.parse(gpu.driver_version)
    driver_cuda = cuda.parse(gpu.cuda_driver_version)
    if driver is None and driver_cuda is None:
        return []
    compat = gpu.libcuda is not None and "/compat/" in gpu.libcuda
    builds = ctx.snapshot.frameworks or ()
    refused: list[tuple[str, str, str]] = []
    limited: list[tuple[str, str, str]] = []
    for name, version, built in cuda_builds(ctx):
        wanted = cuda.parse(built if "." in built else f"{built}.0")
        if wanted is None:
            continue
        verdict = cuda.runs(driver, driver_cuda, wanted)
        if verdict == "no":
            refused.append((name, version, built))
        elif verdict == "minor-compat":
            limited.append((name, version, built))
    evidence: dict[str, Any] = {"machine": machine(gpu)}
    if gpu.libcuda:
        evidence["libcuda"] = gpu.libcuda
    findings = []
    if refused:
        listed = ", ".join(f"{n} {v} (CUDA {c})" for n, v, c in refused)
        majors = sorted({int(c.split(".")[0]) for _, _, c in refused})
        needs = " and ".join(
            f"CUDA {m} needs driver {cuda.show(cuda.MAJOR_MINIMUM_DRIVER[m])} or newer"
            for m in majors
            if m in cuda.MAJOR_MINIMUM_DRIVER
        )
        torch = next((b for b in builds if b.distribution.lower() == "torch"), None)
        command, why = (None, "")
        if torch is not None and any(n.lower() == "torch" for n, _, _ in refused):
            command, why = _index_fix(ctx, builds, torch, gpu)
        explanation = (
            f"Upgrade the NVIDIA driver ({needs}; the driver is the system's, not this "
            "environment's)"
            + (f", or install a build this driver runs: {why}" if command else f". {why}")
        ).strip()
        evidence["builds"] = [f"{n} {v}: CUDA {c}" for n, v, c in refused]
        evidence["minimum_driver"] = {
            str(m): cuda.show(cuda.MAJOR_MINIMUM_DRIVER[m])
            for m in majors
            if m in cuda.MAJOR_MINIMUM_DRIVER
        }
        if compat:
            findings.append(
                TOO_OLD.finding(
                    f"{listed} need(s) a newer driver than {_driver_range(gpu)}, and "
                    f"libcuda.so.1 comes from CUDA's forward compatibility package "
                    f"({gpu.libcuda}): it runs only on the data-center GPUs that package "
                    "supports.",
                    severity=Severity.INFO,
                    evidence=evidence,
                    explanation="NVIDIA's forward compatibility runs newer CUDA on an older "
                    "driver on data-center GPUs only; elsewhere CUDA fails to initialize.",
                )
            )
        else:
            findings.append(
                TOO_OLD.finding(
                    f"{listed} cannot use this machine's GPU: the NVIDIA driver runs "
                    f'{_driver_range(gpu)}. CUDA fails to initialize ("CUDA driver version '
                    'is insufficient for CUDA runtime version").',
                    distribution=refused[0][0],
                    evidence=evidence,
                    command=command,
                    explanation=explanation,
                )
            )
    if limited:
        listed = ", ".join(f"{n} {v} (CUDA {c})" for n, v, c in limited)
        findings.append(
            TOO_OLD.finding(
                f"{listed} run(s) here by CUDA's minor version compatibility (the driver "
                f"runs {_driver_range(gpu)}): without the newer toolkit's driver features, "
                "and its PTX cannot be JIT-compiled here.",
                severity=Severity.INFO,
                distribution=limited[0][0],
                evidence={**evidence, "builds": [f"{n} {v}: CUDA {c}" for n, v, c in limited]},
                explanation="Usually harmless; kernels that exist only as newer PTX fail "
                "with 'the provided PTX was compiled with an unsupported toolchain'. A driver "
                "of the build's CUDA release lifts the limits.",
            )
        )
    return findings


def _read_here(gpu: GpuFacts) -> bool:
    """Whether the facts were read from this machine's driver files, so that no
    ``/dev/nvidia*`` means none (a snapshot recorded elsewhere, or edited to describe a
    node, may not list the device files at all)."""
    return "/sys/module/nvidia" in gpu.source or "/proc/driver/nvidia" in gpu.source


def _hidden(ctx: Context, gpu: GpuFacts) -> Finding | None:
    """No device is visible here although the machine has a driver; only said when a CUDA
    build is installed (an environment without one does not care)."""
    if not cuda_builds(ctx):
        return None
    evidence: dict[str, Any] = {"machine": machine(gpu)}
    visible = dict(gpu.visible)
    nvidia = visible.get("NVIDIA_VISIBLE_DEVICES")
    hidden_by = None
    if (
        "CUDA_VISIBLE_DEVICES" in visible
        and visible["CUDA_VISIBLE_DEVICES"].strip() in _NONE_VISIBLE
    ):
        hidden_by = "CUDA_VISIBLE_DEVICES"
        message = (
            f"CUDA_VISIBLE_DEVICES={visible['CUDA_VISIBLE_DEVICES']!r} hides every GPU from "
            "CUDA in this environment: frameworks see none."
        )
        command = "unset CUDA_VISIBLE_DEVICES"
        explanation = (
            "CUDA shows a process only the devices CUDA_VISIBLE_DEVICES lists; empty or -1 "
            "lists none. Unset it (or list the devices: CUDA_VISIBLE_DEVICES=0) where the "
            "framework runs; a job scheduler may set it on purpose."
        )
        severity = Severity.WARNING
    elif nvidia is not None and nvidia.strip().lower() in ("void", "none", ""):
        hidden_by = "NVIDIA_VISIBLE_DEVICES"
        message = (
            f"NVIDIA_VISIBLE_DEVICES={nvidia!r}: the container runtime exposes no GPU to "
            "this container."
        )
        command = None
        explanation = (
            "The NVIDIA Container Toolkit mounts the GPUs NVIDIA_VISIBLE_DEVICES names; "
            "'void' or 'none' mounts none. Start the container with GPUs "
            "(docker run --gpus all, or NVIDIA_VISIBLE_DEVICES=all)."
        )
        severity = Severity.WARNING
    elif (
        gpu.driver_version
        and not gpu.device_nodes
        and (_read_here(gpu) or gpu.container)
        # A container without GPU access: gpu-no-driver says it, with what needs the driver.
        and not container_without_gpus(gpu)
    ):
        hidden_by = "no /dev/nvidia*"
        in_container = gpu.container is not None
        message = (
            f"The NVIDIA driver {gpu.driver_version} is loaded, but there is no /dev/nvidia* "
            "device file here"
            + (
                f" ({gpu.container}): the container was started without GPU access."
                if in_container
                else ": CUDA cannot open a GPU until they exist."
            )
        )
        command = None
        explanation = (
            "Start the container with GPU access (docker run --gpus all; Kubernetes: request "
            "nvidia.com/gpu), so that the NVIDIA Container Toolkit adds the device files and "
            "the driver's libraries."
            if in_container
            else "On a host, nvidia-modprobe (setuid, part of the driver) creates them at "
            "CUDA's first use; if it is missing or not setuid, run it as root once: "
            "nvidia-modprobe -u -c=0."
        )
        severity = Severity.WARNING if in_container else Severity.INFO
        if gpu.container:
            evidence["container"] = gpu.container
    else:
        return None
    evidence["hidden_by"] = hidden_by
    if visible:
        evidence["visible"] = visible
    return HIDDEN.finding(
        message,
        severity=severity,
        evidence=evidence,
        command=command,
        explanation=explanation,
    )


def _architectures(ctx: Context, gpu: GpuFacts, builds: Sequence[FrameworkBuild]) -> list[Finding]:
    """Each build with the architectures its fat binaries carry, against each device whose
    compute capability is known."""
    devices: dict[str, list[str]] = {}
    for device in gpu.devices:
        if device.compute_capability:
            devices.setdefault(device.compute_capability, []).append(device.name or "GPU")
    findings = []
    for build in builds:
        if not (build.architectures or build.ptx) or not build.cuda:
            continue
        for capability, names in sorted(devices.items()):
            try:
                verdict = runs_on(build.architectures, build.ptx, capability)
            except ValueError:
                continue
            if verdict.verdict == "native":
                continue
            finding = _arch_finding(ctx, gpu, builds, build, capability, names, verdict.verdict,
                                    verdict.matched)  # fmt: skip
            findings.append(finding)
    return findings


def _arch_finding(
    ctx: Context,
    gpu: GpuFacts,
    builds: Sequence[FrameworkBuild],
    build: FrameworkBuild,
    capability: str,
    names: list[str],
    verdict: str,
    matched: tuple[str, ...],
) -> Finding:
    device = f"{sorted(set(names))[0]} (compute capability {capability})"
    carried = ", ".join((*build.architectures, *build.ptx))
    evidence: dict[str, Any] = {
        "build": f"{build.distribution} {build.version}: CUDA {build.cuda}",
        "library": build.gpu_library,
        "cubins": list(build.architectures),
        "ptx": list(build.ptx),
        "device": device,
    }
    if verdict == "ptx-jit":
        return ARCH.finding(
            f"{build.distribution} {build.version} carries no compiled code for {device}: "
            f"the driver JIT-compiles its PTX ({', '.join(matched)}) at first use.",
            severity=Severity.INFO,
            distribution=build.distribution,
            path=build.gpu_library,
            evidence=evidence,
            explanation="It works, slowly at first (the compiled kernels are cached in "
            "~/.nv/ComputeCache), and only with a driver that knows the PTX's ISA version.",
        )
    command, why = None, ""
    if build.distribution.lower() == "torch":
        command, why = _arch_fix(ctx, gpu, builds, build, capability)
    explanation = (
        f"Install a build that carries code for compute capability {capability}: {why}"
        if command
        else why
        or f"This build was compiled for {carried} only. Install a build that includes "
        f"compute capability {capability} (an older release, another CUDA build of the "
        f"framework, or one built from source for it: TORCH_CUDA_ARCH_LIST={capability})."
    )
    return ARCH.finding(
        f"{build.distribution} {build.version} carries no GPU code for {device}: it was "
        f'compiled for {carried}. CUDA fails with "no kernel image is available for '
        'execution on the device".',
        distribution=build.distribution,
        path=build.gpu_library,
        evidence=evidence,
        command=command,
        explanation=explanation,
    )


def _arch_fix(
    ctx: Context,
    gpu: GpuFacts,
    builds: Sequence[FrameworkBuild],
    torch: FrameworkBuild,
    capability: str,
) -> tuple[str | None, str]:
    """The CUDA build of torch's release that carries code for ``capability`` and that the
    driver runs, from PyTorch's table; the newest such."""
    driver = cuda.parse(gpu.driver_version)
    driver_cuda = cuda.parse(gpu.cuda_driver_version)
    for candidate in reversed(cuda.torch_builds(torch.version) or ()):
        archs = cuda.torch_build_archs(torch.version, candidate)
        if not archs or runs_on(archs, (), capability).verdict != "native":
            continue
        if cuda.runs(driver, driver_cuda, cuda.parse(candidate) or ()) == "no":
            continue
        if candidate == torch.cuda:
            return None, ""
        command = _install_torch_build(ctx, builds, torch, candidate)
        return command, (
            f"PyTorch's CUDA {candidate} build of this release does ({', '.join(archs)})."
        )
    return None, ""
