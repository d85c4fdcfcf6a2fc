"""GPU stacks (issue 12): what each installed framework and library wheel was built for, from
its metadata, never by importing it.

The CUDA major a distribution is built for, by the conventions its publishers keep:

- NVIDIA's library wheels name it: ``nvidia-cuda-runtime-cu12``, ``nvidia-cudnn-cu11``;
- CuPy names it: ``cupy-cuda12x``, ``cupy-cuda11x`` (``cupy-cuda102`` before 11: ``10``);
- JAX's CUDA plugins name it: ``jax-cuda12-plugin``, ``jax-cuda12-pjrt``;
- PyTorch's index puts it in the local version: ``torch 2.5.1+cu118`` (``cuXY[Z]``: the last
  digit is the minor; ``+cu92`` is CUDA 9.2).

``gpu-cuda-mixed-majors``: two majors in one environment. NVIDIA's wheels of one component
for two majors install the same headers and ``__init__.py`` files (pip overwrote one's with
the other's, and uninstalling either removes them for both: that ``dist-clobber`` is folded in
here, where its cause is), and a framework built for one major finds the other's libraries
only by luck of the search order.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import Any

from pkgdoctor import codes
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.distributions import required
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import Distribution, Inventory, normalize

AREA = "GPU"
MIXED = codes.GPU_CUDA_MIXED_MAJORS

_NVIDIA = re.compile(r"^nvidia-[a-z0-9-]+-cu(\d+)$")
_CUPY = re.compile(r"^cupy-cuda(\d+)(x?)$")
_JAX = re.compile(r"^jax-cuda(\d+)-(?:plugin|pjrt)$")
_LOCAL = re.compile(r"^cu(\d{2,3})$")


def cuda_major(name: str, version: str | None) -> str | None:
    """The CUDA major a distribution is built for, from its name or local version.

    >>> [cuda_major(n, v) for n, v in (("nvidia-cudnn-cu11", "8.9.2.26"),
    ...     ("cupy-cuda12x", "13.3.0"), ("cupy-cuda102", "9.6.0"), ("jax-cuda12-plugin", "0.4.35"),
    ...     ("torch", "2.5.1+cu118"), ("torch", "1.7.1+cu92"), ("torch", "2.5.1+cpu"),
    ...     ("numpy", "2.2.4"))]
    ['11', '12', '10', '12', '11', '9', None, None]
    """
    key = normalize(name)
    match = _NVIDIA.match(key)
    if match:
        return match[1]
    match = _CUPY.match(key)
    if match:
        return match[1] if match[2] else match[1][:-1]
    match = _JAX.match(key)
    if match:
        return match[1]
    local = (version or "").partition("+")[2]
    for part in local.lower().split("."):
        match = _LOCAL.match(part)
        if match:
            return match[1][:-1]
    return None


def check(ctx: Context) -> list[Finding]:
    from pkgdoctor.checks import gpu_libs

    return _mixed_majors(ctx) + gpu_libs.check(ctx)


def _mixed_majors(ctx: Context) -> list[Finding]:
    built: dict[str, list[Distribution]] = {}
    for dist in ctx.inventory.distributions:
        major = cuda_major(dist.name, dist.version)
        if major is not None:
            built.setdefault(major, []).append(dist)
    if len(built) < 2:
        return []
    return [_mixed(ctx, built)]


def _mixed(ctx: Context, built: dict[str, list[Distribution]]) -> Finding:
    inventory = ctx.inventory
    # The majors that installed distributions ask for: Requires-Dist of an nvidia-*-cuXX
    # wheel (torch 2.5.1 requires nvidia-cuda-runtime-cu12), and the frameworks' own builds.
    needed: dict[str, set[str]] = {}
    wanted_by: dict[str, list[str]] = {}
    for dist in inventory.distributions:
        for name in required(ctx, dist):
            major = cuda_major(name, None)
            if major is not None:
                needed.setdefault(major, set()).add(dist.name)
                wanted_by.setdefault(name, []).append(dist.name)
        own = cuda_major(dist.name, dist.version)
        if own is not None and not _NVIDIA.match(dist.key):
            needed.setdefault(own, set()).add(dist.name)
    majors = sorted(built, key=int)
    summary = "; ".join(
        f"CUDA {m}: {', '.join(f'{d.name} {d.version}' for d in built[m])}" for m in majors
    )
    evidence: dict[str, Any] = {
        "majors": {m: [f"{d.name} {d.version}" for d in built[m]] for m in majors},
    }
    if needed:
        evidence["needed_by"] = {m: sorted(names) for m, names in sorted(needed.items())}
    keep = next(iter(needed)) if len(needed) == 1 else (majors[-1] if not needed else None)
    command = None
    if keep is not None:
        drop = [
            d
            for m in majors
            if m != keep
            for d in built[m]
            if _NVIDIA.match(d.key) and d.key not in wanted_by
        ]
        # What the dropped wheels share with the kept ones (headers, __init__.py): pip
        # removes them with the dropped ones, so the kept ones are installed again.
        shared = {
            d.key: d
            for path, owners in inventory.shared.items()
            if any(o in drop for o, _ in owners)
            for d, _ in owners
            if d not in drop
        }
        if drop and len(drop) < sum(len(v) for v in built.values()):
            names = " ".join(shlex.quote(d.name) for d in drop)
            command = ctx.pip(f"uninstall -y {names}")
            if shared:
                again = " ".join(shlex.quote(d.requirement) for d in shared.values())
                command += " && " + ctx.pip(f"install --force-reinstall --no-deps {again}")
        evidence["keep"] = keep
    why = (
        f"what the installed frameworks need ({', '.join(sorted(needed[keep]))})"
        if keep is not None and keep in needed
        else "the newest: nothing installed asks for either"
    )
    explanation = (
        f"Keep CUDA {keep}, {why}: uninstall NVIDIA's wheels of the other major(s), then "
        "install again those of the kept one that shared files with them."
        if command
        else "Each framework must come from the index of one CUDA major (PyTorch: "
        "https://download.pytorch.org/whl/cuXYZ; JAX: jax[cudaXX]; CuPy: cupy-cudaXXx): "
        "reinstall the ones built for the other major from the index of the one you keep."
    )
    return MIXED.finding(
        f"Packages built for different CUDA majors are installed together ({summary}).",
        severity=Severity.ERROR if _clobbered(inventory, built) else None,
        distribution=built[majors[-1]][0].name,
        path=built[majors[-1]][0].metadata_dir,
        evidence=evidence,
        command=command,
        explanation=explanation,
    )


def _clobbered(inventory: Inventory, built: dict[str, list[Distribution]]) -> bool:
    """Whether wheels of two majors install the same file (pip overwrote one's copy)."""
    majors = {id(d): m for m, dists in built.items() for d in dists}
    for owners in inventory.shared.values():
        seen = {majors.get(id(d)) for d, _ in owners} - {None}
        if len(seen) > 1:
            return True
    return False


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """A ``dist-clobber`` between NVIDIA wheels of two CUDA majors is this finding's
    consequence: folded into its evidence (``clobbered``)."""
    from pkgdoctor.checks import gpu_libs

    findings = gpu_libs.reconcile(ctx, findings)
    mixed = next((f for f in findings if f.code == MIXED.code), None)
    if mixed is None:
        return findings
    folded = []
    kept = []
    for finding in findings:
        if finding.code == "dist-clobber":
            names = [str(n).rsplit(" ", 1)[0] for n in finding.evidence.get("distributions", [])]
            majors = {cuda_major(n, None) for n in names}
            if None not in majors and len(majors) > 1:
                owners = " and ".join(map(str, finding.evidence.get("distributions", [])))
                folded.append(f"{owners}: {finding.evidence.get('file_count')} files")
                continue
        kept.append(finding)
    if not folded:
        return findings
    merged = replace(mixed, evidence={**mixed.evidence, "clobbered": folded})
    return [merged if f is mixed else f for f in kept]
