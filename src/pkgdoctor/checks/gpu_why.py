"""``pkgdoctor why --gpu``: the line that explains a framework's answer with the findings.

A framework asked in the target (``look/gpu_probe.py``) says whether it sees a GPU, and often
why not in its own words ("Found no NVIDIA driver on your system", "CUDA driver version is
insufficient for CUDA runtime version"). :func:`explain` links that answer to the findings of
``check`` that explain it, by their codes: the one table below says which codes can explain
what a framework said. A cause is never made up: where no finding explains the answer, the
line says so, with the framework's own words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pkgdoctor.findings import Finding
from pkgdoctor.snapshot.model import normalize
from pkgdoctor.words import plural

if TYPE_CHECKING:
    from pkgdoctor.look.gpu_probe import GpuProbe

# What a finding of each code means for a framework that sees no GPU, in the line's words.
BECAUSE = {
    "gpu-no-driver": "no NVIDIA driver on this machine",
    "gpu-driver-too-old": "the NVIDIA driver is older than the CUDA runtime of this build needs",
    "gpu-arch-not-compiled": "the GPU's architecture is not among those this build carries",
    "gpu-missing-cuda-libs": "CUDA libraries this build needs are not installed",
    "gpu-system-cuda-shadows": "another CUDA's libraries are loaded before the wheels' own",
    "gpu-cuda-mixed-majors": "packages built for different CUDA majors are installed together",
    "gpu-devices-hidden": "the machine's GPUs are hidden from this process",
}
CPU_ONLY = "gpu-cpu-only-build"

# What the framework said (its error, its warnings) → the codes whose findings can explain
# it, in order. Messages: torch's c10/cuda/CUDAFunctions.cpp ("Found no NVIDIA driver on your
# system", "The NVIDIA driver on your system is too old"), the CUDA runtime's error strings
# (cudaGetErrorString: "CUDA driver version is insufficient for CUDA runtime version", "no
# kernel image is available for execution on the device"), the dynamic loader's.
SAYS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (
        re.compile(r"no NVIDIA driver|libcuda\.so|CUDA driver initialization failed", re.I),
        ("gpu-no-driver",),
    ),
    # A driver without a visible device (CUDA_VISIBLE_DEVICES="", a container started without
    # GPU access); torch.cuda.init() then raises "No CUDA GPUs are available".
    (
        re.compile(
            r"cudaErrorNoDevice|CUDA_ERROR_NO_DEVICE|no CUDA-capable device|No CUDA GPUs are "
            r"available",
            re.IGNORECASE,
        ),
        ("gpu-devices-hidden", "gpu-no-driver"),
    ),
    (
        re.compile(
            r"driver (?:on your system )?is too old|CUDA_ERROR_SYSTEM_DRIVER_MISMATCH|"
            r"forward compatibility",
            re.IGNORECASE,
        ),
        ("gpu-driver-too-old",),
    ),
    # The CUDA runtime says "insufficient" both for an old driver and for none at all (cupy
    # 14.2.0 on a machine without libcuda.so.1): the finding present tells which.
    (
        re.compile(r"insufficient for CUDA runtime|cudaErrorInsufficientDriver", re.IGNORECASE),
        ("gpu-driver-too-old", "gpu-no-driver"),
    ),
    (
        re.compile(
            r"no kernel image|cudaErrorNoKernelImageForDevice|CUDA_ERROR_NO_BINARY_FOR_GPU|"
            r"not compatible with the current PyTorch",
            re.IGNORECASE,
        ),
        ("gpu-arch-not-compiled",),
    ),
    (
        re.compile(r"undefined symbol|cannot open shared object|version `[^']+' not found"),
        ("gpu-system-cuda-shadows", "gpu-missing-cuda-libs", "gpu-cuda-mixed-majors"),
    ),
)
# Findings about one build explain only that build's answer (torchvision's CPU-only build says
# nothing about jax); the others are about the machine or the environment as a whole.
_PER_BUILD = frozenset(
    {CPU_ONLY, "gpu-driver-too-old", "gpu-arch-not-compiled", "gpu-missing-cuda-libs"}
)
# A CUDA build that sees no GPU and says nothing: what alone explains that.
_SILENT = ("gpu-no-driver", "gpu-driver-too-old", "gpu-devices-hidden")


def explain(probe: GpuProbe, findings: Sequence[Finding]) -> GpuProbe:
    """``probe`` with its explanation (one line) and the codes it rests on."""
    # The framework's own version where it answered: CUDA 13 torch from PyPI is "2.14.1" by
    # its metadata and "2.14.1+cu130" by torch.__version__.
    who = f"{probe.framework} {probe.version}" if probe.version else probe.distribution
    if probe.crashed:
        return replace(probe, explanation=f"{who} gave no answer ({probe.crashed})")
    if not probe.imported:
        said = _gist(probe.error or "no error given")
        return replace(probe, explanation=f"{who} cannot be imported: {said}")
    if probe.available:
        names = ", ".join(_device(d) for d in probe.devices)
        count = probe.device_count or len(probe.devices)
        line = f"{who} sees {plural(count, 'GPU')}: {names}".rstrip(": ")
        return replace(probe, explanation=line)
    concerning = [f for f in findings if _concerns(f, probe)]
    codes = {f.code for f in concerning}
    if probe.cpu_only:
        what = f"{who} is a CPU-only build"
        if probe.framework == "onnxruntime":
            what += f" (providers: {', '.join(probe.build.get('providers') or ['none'])})"
        if CPU_ONLY in codes:
            return replace(probe, explanation=f"{what} [{CPU_ONLY}]", explained_by=(CPU_ONLY,))
        return replace(probe, explanation=f"{what}: it never sees a GPU")
    if probe.available is None:  # onnxruntime: the providers say what the build can use
        providers = ", ".join(probe.build.get("providers") or [])
        return replace(
            probe,
            explanation=f"{who} offers {providers}; whether one works shows when a session is made",
        )
    said = " ".join(filter(None, (probe.error, *probe.warnings)))
    candidates: list[str] = []
    for pattern, explaining in SAYS:
        if pattern.search(said):
            candidates += explaining
    if not said:
        candidates += _SILENT
    for code in candidates:
        if code in codes:
            line = f"{who} sees no GPU: {BECAUSE[code]} [{code}]"
            return replace(probe, explanation=line, explained_by=(code,))
    words = f" ({_gist(said)})" if said else " and says nothing more"
    return replace(probe, explanation=f"{who} sees no GPU{words}; no finding explains why")


def _concerns(finding: Finding, probe: GpuProbe) -> bool:
    """Whether ``finding`` is about the machine or the environment, or names the probed
    build: as its distribution, or in its message (gpu-driver-too-old lists every build the
    driver refuses: "torch 2.5.1+cu121 (CUDA 12.1), torchvision ...")."""
    if finding.code not in _PER_BUILD or finding.distribution is None:
        return True
    name = probe.distribution.split(" ")[0]
    if normalize(finding.distribution) == normalize(name):
        return True
    return re.search(rf"(?<![\w.-]){re.escape(name)} ", finding.message) is not None


def _device(device: dict[str, object]) -> str:
    capability = device.get("capability")
    name = str(device.get("name") or "unnamed device")
    return f"{name} ({capability})" if capability else name


def _gist(text: str, limit: int = 160) -> str:
    """The start of a message as one line, to its first full stop ("RuntimeError: Found no
    NVIDIA driver on your system." of a paragraph of advice)."""
    words = " ".join(line.strip() for line in text.splitlines() if line.strip())
    stop = words.find(". ")
    if 0 < stop < limit:
        return words[: stop + 1]
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"
