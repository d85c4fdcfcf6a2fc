# Sent to the *target* interpreter with ``python -B -X faulthandler -c`` by
# ``pkgdoctor why --gpu``, once per framework (argv[1]), each in its own child: one framework
# that hangs or crashes in its import hides nothing of the others. CPython 3.8+, stdlib only.
# Asks the framework whether it sees a GPU, with the framework's own API, and prints one JSON
# document after a marker (the framework may print to stdout itself).
from __future__ import annotations

import json
import logging
import sys
import warnings
from typing import Any, Callable, Dict, List

MAX_TEXT = 2000  # an exception message or warning, cut: pkgdoctor shows its start
MAX_ITEMS = 64  # devices, warnings, architectures

result: Dict[str, Any] = {
    "imported": False,
    "version": None,
    "available": None,
    "device_count": None,
    "cpu_only": None,
    "build": {},
    "devices": [],
    "arch_list": [],
    "error": None,
    "warnings": [],
}


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT]


def _error(exc: BaseException) -> str:
    return _text(type(exc).__name__ + ": " + str(exc))


def _note(message: str) -> None:
    if len(result["warnings"]) < MAX_ITEMS:
        result["warnings"].append(_text(message))


class _Log(logging.Handler):
    """Warnings a framework logs rather than warns (jax: "Unable to initialize backend")."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _note(record.getMessage())
        except Exception:  # a bad format string in the framework's own record
            pass


def torch() -> None:
    import torch

    result["imported"] = True
    result["version"] = _text(torch.__version__)
    cuda = getattr(torch.version, "cuda", None)
    hip = getattr(torch.version, "hip", None)
    result["build"] = {"cuda": cuda, "hip": hip}
    result["cpu_only"] = cuda is None and hip is None
    result["available"] = bool(torch.cuda.is_available())
    count = int(torch.cuda.device_count())
    result["device_count"] = count
    result["arch_list"] = [_text(a) for a in torch.cuda.get_arch_list()][:MAX_ITEMS]
    if result["available"]:
        for i in range(min(count, MAX_ITEMS)):
            major, minor = torch.cuda.get_device_capability(i)
            result["devices"].append(
                {"name": _text(torch.cuda.get_device_name(i)), "capability": f"{major}.{minor}"}
            )
    elif not result["cpu_only"]:
        # Without a driver is_available() is False and device_count() 0, silently (c10's
        # device_count_impl swallows cudaErrorInsufficientDriver when no driver is found);
        # init() raises the reason: "Found no NVIDIA driver on your system", "The NVIDIA
        # driver on your system is too old (found version 11040)".
        try:
            torch.cuda.init()
        except Exception as exc:
            result["error"] = _error(exc)


def jax() -> None:
    import jax
    import jaxlib

    result["imported"] = True
    result["version"] = _text(jax.__version__)
    plugins: List[str] = []
    try:
        import pkgutil

        import jax_plugins  # the namespace package of jax-cuda12-plugin and its kin

        plugins = sorted(m.name for m in pkgutil.iter_modules(jax_plugins.__path__))
    except ImportError:
        pass
    jaxlib_version = _text(getattr(jaxlib, "__version__", ""))
    result["build"] = {"jaxlib": jaxlib_version, "plugins": plugins}
    # Before jax 0.4.16 the CUDA build was jaxlib itself (``jaxlib 0.4.13+cuda12.cudnn89``).
    result["cpu_only"] = not plugins and not any(k in jaxlib_version for k in ("cuda", "rocm"))
    result["build"]["backend"] = _text(jax.default_backend())
    gpus = [d for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm")]
    result["available"] = bool(gpus)
    result["device_count"] = len(gpus)
    for device in gpus[:MAX_ITEMS]:
        capability = getattr(device, "compute_capability", None)
        result["devices"].append(
            {"name": _text(device.device_kind), "capability": capability and _text(capability)}
        )
    if not gpus:
        try:
            jax.devices("gpu")
        except Exception as exc:  # "Unknown backend: 'gpu' requested, but no platforms..."
            result["error"] = _error(exc)


def cupy() -> None:
    import cupy

    result["imported"] = True
    result["version"] = _text(cupy.__version__)
    result["cpu_only"] = False  # CuPy exists only as a CUDA (or ROCm) build
    runtime = cupy.cuda.runtime
    result["build"] = {"hip": bool(getattr(runtime, "is_hip", False))}
    try:
        result["build"]["runtime"] = int(runtime.runtimeGetVersion())  # 12080: CUDA 12.8
        count = int(runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError: cudaErrorInsufficientDriver: ...
        result["available"] = False
        result["device_count"] = 0
        result["error"] = _error(exc)
        return
    result["device_count"] = count
    result["available"] = count > 0
    for i in range(min(count, MAX_ITEMS)):
        props = runtime.getDeviceProperties(i)
        name = props.get("name", b"")
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        result["devices"].append(
            {"name": _text(name), "capability": f"{props.get('major')}.{props.get('minor')}"}
        )


def tensorflow() -> None:
    import tensorflow as tf

    result["imported"] = True
    result["version"] = _text(tf.__version__)
    built = bool(tf.test.is_built_with_cuda())
    rocm = bool(getattr(tf.test, "is_built_with_rocm", lambda: False)())
    info = {}
    try:
        info = dict(tf.sysconfig.get_build_info())
    except Exception:
        pass
    result["build"] = {
        "built_with_cuda": built,
        "built_with_rocm": rocm,
        "cuda": info.get("cuda_version"),
        "cudnn": info.get("cudnn_version"),
    }
    result["cpu_only"] = not built and not rocm
    gpus = tf.config.list_physical_devices("GPU")
    result["available"] = bool(gpus)
    result["device_count"] = len(gpus)
    for device in gpus[:MAX_ITEMS]:
        details = tf.config.experimental.get_device_details(device)
        capability = details.get("compute_capability")
        if isinstance(capability, tuple):
            capability = ".".join(map(str, capability))
        result["devices"].append(
            {"name": _text(details.get("device_name", device.name)), "capability": capability}
        )


def onnxruntime() -> None:
    import onnxruntime

    result["imported"] = True
    result["version"] = _text(onnxruntime.__version__)
    providers = [_text(p) for p in onnxruntime.get_available_providers()][:MAX_ITEMS]
    result["build"] = {"providers": providers, "device": _text(onnxruntime.get_device())}
    # The providers the build carries: whether one works shows only when a session is made.
    # PyPI's CPU build 1.32.0 carries AzureExecutionProvider too (it calls a remote endpoint).
    result["cpu_only"] = set(providers) <= {"CPUExecutionProvider", "AzureExecutionProvider"}


ASK: Dict[str, Callable[[], None]] = {
    "torch": torch,
    "jax": jax,
    "cupy": cupy,
    "tensorflow": tensorflow,
    "onnxruntime": onnxruntime,
}

logging.getLogger().addHandler(_Log(logging.WARNING))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        ASK[sys.argv[1]]()
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from the framework too
        result["error"] = _error(exc)
for warning in caught:
    _note(str(warning.message))
# The framework may have printed to stdout itself: the result follows a marker, on its line.
sys.stdout.write("\n\x1epkgdoctor-gpu\t" + json.dumps(result, default=str) + "\n")
sys.stdout.flush()
