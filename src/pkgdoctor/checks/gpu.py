"""GPU stacks (issue 12): the family's entry, and ``gpu-cuda-mixed-majors``.

What each distribution was built for is :mod:`pkgdoctor.checks.gpu_builds`'s; the builds
against the machine's driver and devices are :mod:`pkgdoctor.checks.gpu_driver`'s.

``gpu-cuda-mixed-majors``: two majors in one environment. NVIDIA's wheels of one component
for two majors install the same headers and ``__init__.py`` files (pip overwrote one's with
the other's, and uninstalling either removes them for both: that ``dist-clobber`` is folded in
here, where its cause is), and a framework built for one major finds the other's libraries
only by luck of the search order.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

from pkgdoctor import codes
from pkgdoctor.checks import gpu_driver, gpu_libs, gpu_shadows
from pkgdoctor.checks.context import Context
from pkgdoctor.checks.distributions import required
from pkgdoctor.checks.gpu_builds import NVIDIA_WHEEL, built_for, cuda_major
from pkgdoctor.cuda import is_cuda_library
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.snapshot.model import Distribution, Inventory

AREA = "GPU"
MIXED = codes.GPU_CUDA_MIXED_MAJORS


def check(ctx: Context) -> list[Finding]:
    return _mixed_majors(ctx) + gpu_driver.check(ctx) + gpu_shadows.check(ctx) + gpu_libs.check(ctx)


def _mixed_majors(ctx: Context) -> list[Finding]:
    built: dict[str, list[Distribution]] = {}
    majors = built_for(ctx)
    for dist in ctx.inventory.distributions:
        major = majors.get(dist.key)
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
    built_by = built_for(ctx)
    for dist in inventory.distributions:
        for name in required(ctx, dist):
            major = cuda_major(name, None)
            if major is not None:
                needed.setdefault(major, set()).add(dist.name)
                wanted_by.setdefault(name, []).append(dist.name)
        own = built_by.get(dist.key)
        if own is not None and not dist.key.startswith("nvidia-"):
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
    loads = _loads(ctx, {d.key for dists in built.values() for d in dists})
    if loads:
        evidence["loads"] = loads
    keep = next(iter(needed)) if len(needed) == 1 else (majors[-1] if not needed else None)
    command = None
    if keep is not None:
        drop = [
            d
            for m in majors
            if m != keep
            for d in built[m]
            if NVIDIA_WHEEL.match(d.key) and d.key not in wanted_by
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


_MAX_LOADS = 8  # CUDA libraries listed per distribution


def _loads(ctx: Context, keys: set[str]) -> dict[str, list[str]]:
    """Which file each framework's extension modules will load for each CUDA library, as the
    loader model resolved it (``libcublas.so.11 → …/nvidia/cublas/lib/libcublas.so.11``):
    with two majors installed, what each build really gets."""
    found: dict[str, dict[str, str]] = {}
    for module in ctx.snapshot.extensions.modules:
        owner = ctx.owner(module.file.path)
        if owner is None or owner.key not in keys or owner.key.startswith("nvidia-"):
            continue
        libraries = found.setdefault(owner.name, {})
        for _, res in module.links:
            if is_cuda_library(res.name) and res.name not in libraries:
                libraries[res.name] = res.path or "not found"
    return {
        name: [f"{soname} → {path}" for soname, path in sorted(libraries.items())][:_MAX_LOADS]
        for name, libraries in sorted(found.items())
        if libraries
    }


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
