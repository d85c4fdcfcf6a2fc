"""Asking the installed frameworks whether they see a GPU (``pkgdoctor why --gpu``).

Each framework is asked with its own API (``torch.cuda.is_available()``, ``jax.devices()``,
``cupy.cuda.runtime.getDeviceCount()``, ``tf.config.list_physical_devices("GPU")``,
``onnxruntime.get_available_providers()``; ``target/_gpu_probe.py``) in its own child of the
target interpreter, as ``why`` imports a module (``look/imports.py``): bounded in time and
output, in its own process group, stopped with everything it started. The children run side by
side; one that hangs or crashes hides nothing of the others.

Only frameworks installed by distribution metadata are asked. The answer is a fact
(:class:`GpuProbe`); what explains it is judged from the findings (``checks/gpu_why.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from pkgdoctor._fields import Fact, fact
from pkgdoctor._typed import as_bool, as_list, as_opt_int, as_opt_str, as_strs, loads
from pkgdoctor.errors import PkgdoctorError, ProbeError
from pkgdoctor.look.imports import describe_exit
from pkgdoctor.snapshot.model import Inventory, normalize
from pkgdoctor.target.facts import Target
from pkgdoctor.target.limits import IMPORT_TIMEOUT, MiB
from pkgdoctor.target.live import Running, start_in_target
from pkgdoctor.target.process import Kept

GPU_PROBE = (Path(__file__).parent.parent / "target" / "_gpu_probe.py").read_text("utf-8")
_RESULT_MARK = "\x1epkgdoctor-gpu\t"
# The answer is a few KB (texts cut at 2,000 characters, lists at 64 items, in the child);
# what a framework prints itself before it comes first and is dropped.
ANSWER_LIMIT = MiB
MAX_TEXT = 2000

#: The frameworks asked, by the distributions that install them (PEP 503 names). CuPy's
#: wheels name their CUDA or ROCm major (cupy-cuda12x, cupy-rocm-5-0); TensorFlow has had CPU,
#: GPU, Intel, macOS and nightly distributions of one ``tensorflow`` package.
FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "jax": ("jax",),
    "cupy": ("cupy",),
    "tensorflow": (
        "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel",
        "tensorflow-macos", "tf-nightly", "tf-nightly-cpu", "tf-nightly-gpu",
    ),
    "onnxruntime": (
        "onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
        "onnxruntime-training", "ort-nightly", "ort-nightly-gpu",
    ),
}  # fmt: skip
_CUPY = re.compile(r"^cupy-(?:cuda\d+x?|rocm-[\d-]+)$")
#: The modules (top-level names) that name a framework on ``why MODULE --gpu``.
MODULES = {"torch": "torch", "jax": "jax", "jaxlib": "jax", "cupy": "cupy",
           "tensorflow": "tensorflow", "onnxruntime": "onnxruntime"}  # fmt: skip
# The CUDA runtime's error names (cudaErrorInsufficientDriver), the driver API's
# (CUDA_ERROR_NO_DEVICE), and the numbered form torch's warnings use ("Error 804: ...").
_ERROR_CODE = re.compile(r"\b(cudaError[A-Za-z]+|CUDA_ERROR_[A-Z_]+|hipError[A-Za-z]+)\b|"
                         r"\bError (\d+): ")  # fmt: skip


@fact
class GpuProbe(Fact):
    """One framework's answer to "do you see a GPU?", asked in a child of the target."""

    framework: str  # "torch", "jax", "cupy", "tensorflow", "onnxruntime"
    distribution: str  # who installed it: "torch 2.14.1+cu130"
    imported: bool = False
    version: str | None = None  # the framework's own __version__
    available: bool | None = None  # None: no answer (or onnxruntime: not a yes/no question)
    device_count: int | None = None
    cpu_only: bool | None = None  # the build has no GPU support at all
    build: dict[str, Any] = field(default_factory=dict)  # torch: cuda, hip; tensorflow: ...
    devices: tuple[dict[str, Any], ...] = ()  # name, capability ("9.0")
    arch_list: tuple[str, ...] = ()  # torch.cuda.get_arch_list()
    error: str | None = None  # "RuntimeError: Found no NVIDIA driver on your system. ..."
    warnings: tuple[str, ...] = ()
    crashed: str | None = None  # "SIGABRT", "stopped after 3 s": the child gave no answer
    # Judged afterwards (checks/gpu_why.py): the line that explains the answer, and the codes
    # of the findings it rests on.
    explanation: str | None = None
    explained_by: tuple[str, ...] = ()

    @property
    def error_code(self) -> str | None:
        """The CUDA error the framework's message names: "cudaErrorInsufficientDriver",
        "CUDA_ERROR_NO_DEVICE", "804" (from "Error 804: forward compatibility ...")."""
        for text in (self.error or "", *self.warnings):
            match = _ERROR_CODE.search(text)
            if match:
                return match[1] or match[2]
        return None

    @property
    def cuda_warning(self) -> str | None:
        """torch's "CUDA initialization: ..." warning (device_count() failed), if any."""
        return next((w for w in self.warnings if w.startswith("CUDA initialization:")), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "distribution": self.distribution,
            "imported": self.imported,
            "version": self.version,
            "available": self.available,
            "device_count": self.device_count,
            "cpu_only": self.cpu_only,
            "build": dict(self.build),
            "devices": [dict(d) for d in self.devices],
            "arch_list": list(self.arch_list),
            "error": self.error,
            "error_code": self.error_code,
            "warnings": list(self.warnings),
            "crashed": self.crashed,
            "explanation": self.explanation,
            "explained_by": list(self.explained_by),
        }


def installed(inventory: Inventory, modules: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The frameworks installed in ``inventory`` as (framework, "NAME VERSION"), in the order
    of :data:`FRAMEWORKS`; only those ``modules`` name, when one of them names a framework."""
    named = {MODULES[m.split(".")[0]] for m in modules if m.split(".")[0] in MODULES}
    found: list[tuple[str, str]] = []
    for framework, names in FRAMEWORKS.items():
        if named and framework not in named:
            continue
        for dist in inventory.distributions:
            key = normalize(dist.name)
            if key in names or (framework == "cupy" and _CUPY.match(key)):
                found.append((framework, f"{dist.name} {dist.version or '(no version)'}"))
                break
    return found


def ask(
    target: Target, frameworks: Iterable[tuple[str, str]], timeout: float = IMPORT_TIMEOUT
) -> list[GpuProbe]:
    """Ask each framework in its own child of the target, all started at once; each has
    ``timeout`` seconds from when it is waited for (see ``Running.wait``)."""
    exe = target.interpreter.executable
    if target.mode != "live" or not exe:
        raise ProbeError(
            f"cannot ask the frameworks: the target is read statically ({target.static_reason})"
        )
    started: list[tuple[str, str, Running | None, str | None]] = []
    try:
        for framework, distribution in frameworks:
            try:
                child = start_in_target(
                    exe, GPU_PROBE, args=(framework,), flags=("-X", "faulthandler"),
                    timeout=timeout,
                )  # fmt: skip
                started.append((framework, distribution, child, None))
            except PkgdoctorError as exc:
                started.append((framework, distribution, None, str(exc)))
        return [_answer(f, d, r, e, timeout) for f, d, r, e in started]
    finally:
        for _, _, running, _ in started:
            if running is not None:
                running.cancel()  # those not waited for yet (an interrupt): stopped


def _answer(
    framework: str, distribution: str, running: Running | None, error: str | None, timeout: float
) -> GpuProbe:
    if running is None:
        return GpuProbe(framework, distribution, crashed=error)
    stdout = Kept(head=0, tail=ANSWER_LIMIT)
    try:
        proc = running.wait(stdout)
    except ProbeError:
        return GpuProbe(framework, distribution, crashed=f"stopped after {timeout:g} s")
    marker = proc.stdout.rfind(_RESULT_MARK)
    if marker >= 0:
        try:
            data = loads(proc.stdout[marker + len(_RESULT_MARK) :].split("\n", 1)[0])
            return _probe_from(framework, distribution, data)
        except (ValueError, KeyError, IndexError, TypeError):
            pass  # not the answer the probe writes (the target printed it): no answer
    return GpuProbe(framework, distribution, crashed=describe_exit(proc.returncode, "an answer"))


def _text(value: Any) -> str | None:
    text = as_opt_str(value)
    return None if text is None else text[:MAX_TEXT]


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else as_bool(value)


def _plain(value: Any) -> Any:
    """A JSON scalar, or None: what a ``build`` or device entry may hold."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, list):
        return [_plain(v) for v in value[:64]]
    raise TypeError(f"not a plain value: {type(value).__name__}")


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return {str(k)[:64]: _plain(v) for k, v in list(value.items())[:32]}


def _probe_from(framework: str, distribution: str, data: dict[str, Any]) -> GpuProbe:
    """The answer the child printed; it ran the target's (and the framework's) code, so
    every value is checked for its type (``TypeError``) and cut to size."""
    return GpuProbe(
        framework,
        distribution,
        imported=as_bool(data["imported"]),
        version=_text(data["version"]),
        available=_opt_bool(data["available"]),
        device_count=as_opt_int(data["device_count"]),
        cpu_only=_opt_bool(data["cpu_only"]),
        build=_mapping(data["build"]),
        devices=as_list(data["devices"], _mapping)[:64],
        arch_list=tuple(a[:64] for a in as_strs(data["arch_list"])[:64]),
        error=_text(data["error"]),
        warnings=tuple(w[:MAX_TEXT] for w in as_strs(data["warnings"])[:64]),
    )
