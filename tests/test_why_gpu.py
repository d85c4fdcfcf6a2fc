"""``pkgdoctor why --gpu``: each installed framework asked in the target whether it sees a GPU,
on real frameworks (PyTorch's CPU build, the CUDA 13 build without a driver: this machine has
none; jax's CPU build), frameworks that hang, crash or flood their output, and the line that
explains each answer with the findings (``checks/gpu_why.py``)."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import gpu_env
from artefacts import Venv, make_venv, write_dist_info
from conftest import Runner
from pkgdoctor.checks.gpu_why import explain
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.look.gpu_probe import GpuProbe
from test_hostile_processes import alive

TORCH_CPU = "torch==2.13.0"  # 2.13.0+cpu, from the machine's wheel directory (pip.conf)
JAX = ("jax==0.10.2", "jaxlib==0.10.2")
CUPY_AND_ONNXRUNTIME = ("cupy-cuda13x==14.2.0", "onnxruntime==1.32.0")


def _built(path: Path, *requirements: str) -> Iterator[Venv]:
    """A venv with ``requirements`` for one test (each such environment has exactly one, so
    that under xdist it is built once, by one worker), removed after it: 0.4 to 1 GB each."""
    venv = gpu_env.new_venv(path)
    try:
        gpu_env.install(venv, *requirements)
        yield venv
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cpu_torch(tmp_path: Path) -> Iterator[Venv]:
    """PyTorch's CPU build and what it requires, as ``pip install torch==2.13.0`` makes it
    where the CPU wheel is offered (this machine's pip.conf: /opt/wheels)."""
    links = ["--find-links=/opt/wheels"] if os.path.isdir("/opt/wheels") else []
    yield from _built(tmp_path / "cpu-torch", *links, TORCH_CPU)


@pytest.fixture
def cpu_jax(tmp_path: Path) -> Iterator[Venv]:
    """jax and jaxlib from the registry: the CPU build (no CUDA plugin installed)."""
    yield from _built(tmp_path / "cpu-jax", *JAX)


@pytest.fixture
def cupy_and_onnxruntime(tmp_path: Path) -> Iterator[Venv]:
    """CuPy's CUDA 13 build (it loads the CUDA libraries with dlopen: no DT_NEEDED on
    libcuda.so.1) and onnxruntime's CPU build, from the registry."""
    yield from _built(tmp_path / "cupy", *CUPY_AND_ONNXRUNTIME)


def _answer_lines(text: str) -> str:
    """The report without its two header lines (prefix, interpreter)."""
    return "".join(text.splitlines(keepends=True)[2:])


def test_cpu_torch(cpu_torch: Venv, pkgdoctor: Runner, tmp_path: Path) -> None:
    """PyTorch's CPU build: why --gpu, why torch --gpu, a snapshot of it, --static."""
    result = pkgdoctor("why", "--gpu", "--prefix", str(cpu_torch.prefix))
    assert result.status == 0, result.out + result.err
    assert _answer_lines(result.out) == (
        "\n"
        "i torch 2.13.0+cpu is a CPU-only build: it never sees a GPU\n"
        "    torch.cuda.is_available() False, device_count() 0\n"
        "\n"
        "[✓] GPU\n"
        "\n"
        "No problems found.\n"
    )
    (probe,) = pkgdoctor("why", "--gpu", "--prefix", str(cpu_torch.prefix), "--json").json["gpu"]
    assert probe == {
        "framework": "torch",
        "distribution": "torch 2.13.0+cpu",
        "imported": True,
        "version": "2.13.0+cpu",
        "available": False,
        "device_count": 0,
        "cpu_only": True,
        "build": {"cuda": None, "hip": None},
        "devices": [],
        "arch_list": [],
        "error": None,
        "error_code": None,
        "warnings": probe["warnings"],  # torch warns that numpy is not installed
        "crashed": None,
        "explanation": "torch 2.13.0+cpu is a CPU-only build: it never sees a GPU",
        "explained_by": [],
    }

    # why torch --gpu: the import, then torch's answer.
    result = pkgdoctor("why", "torch", "--gpu", "--prefix", str(cpu_torch.prefix))
    assert result.status == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[3].startswith("✓ import torch works in the target interpreter: ")
    assert lines[3].endswith("/torch/__init__.py (torch 2.13.0+cpu).")
    assert lines[4] == "i torch 2.13.0+cpu is a CPU-only build: it never sees a GPU"

    # A snapshot cannot be asked, nor a target read statically: the GPU findings only.
    recorded = tmp_path / "env.json"
    assert pkgdoctor("snapshot", "--prefix", str(cpu_torch.prefix), "-o", str(recorded)).status == 0
    result = pkgdoctor("why", "--gpu", "--from", str(recorded), "--json")
    assert result.status == 0
    assert result.json["gpu"] == []
    assert "no framework can be asked whether it sees a GPU" in result.err
    text = pkgdoctor("why", "--gpu", "--from", str(recorded)).out
    assert "[✓] GPU\n" in text
    static = pkgdoctor("why", "--gpu", "--prefix", str(cpu_torch.prefix), "--static", "--json")
    assert static.status == 0
    assert static.json["gpu"] == []
    assert static.err == (
        "pkgdoctor: the target is read statically (asked for with --static): no framework can "
        "be asked whether it sees a GPU\n"
    )


def test_cuda_torch_without_a_driver(cuda_torch: Venv, pkgdoctor: Runner) -> None:
    """The CUDA 13 build on a machine without an NVIDIA driver: is_available() is False and
    device_count() 0, silently; torch.cuda.init() says why."""
    result = pkgdoctor("why", "--gpu", "--prefix", str(cuda_torch.prefix), "--json")
    (probe,) = result.json["gpu"]
    assert probe["distribution"] == "torch 2.14.1"  # its metadata: no local version
    assert probe["version"] == "2.14.1+cu130"
    assert probe["available"] is False
    assert probe["device_count"] == 0
    assert probe["cpu_only"] is False
    assert probe["build"] == {"cuda": "13.0", "hip": None}
    assert probe["arch_list"] == ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    assert probe["error"].startswith("RuntimeError: Found no NVIDIA driver on your system.")
    # The finding that explains it (checks/gpu_libs.py), and the line that names it.
    assert [f["code"] for f in result.json["findings"]] == ["gpu-no-driver"]
    assert probe["explained_by"] == ["gpu-no-driver"]
    assert probe["explanation"] == (
        "torch 2.14.1+cu130 sees no GPU: no NVIDIA driver on this machine [gpu-no-driver]"
    )
    text = pkgdoctor("why", "torch", "--gpu", "--prefix", str(cuda_torch.prefix)).out
    lines = text.splitlines()
    assert lines[3].startswith("✓ import torch works in the target interpreter: ")
    assert lines[4:7] == [
        "✗ torch 2.14.1+cu130 sees no GPU: no NVIDIA driver on this machine [gpu-no-driver]",
        "    torch.cuda.is_available() False, device_count() 0; built for CUDA 13.0; "
        "architectures sm_75, sm_80, sm_86, sm_90, sm_100, sm_120",
        "    RuntimeError: Found no NVIDIA driver on your system. Please check that you have an "
        "NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.…",
    ]
    assert "[i] GPU  1 note\n    i 1 note (gpu-no-driver); -v shows them\n" in text


def test_cpu_jax(cpu_jax: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("why", "jax", "--gpu", "--prefix", str(cpu_jax.prefix), "--json")
    assert result.status == 0, result.out + result.err
    (probe,) = result.json["gpu"]
    assert probe["framework"] == "jax"
    assert probe["version"] == "0.10.2"
    assert probe["available"] is False
    assert probe["cpu_only"] is True
    assert probe["build"] == {"jaxlib": "0.10.2", "plugins": [], "backend": "cpu"}
    assert probe["error"].startswith("RuntimeError: Unknown backend: 'gpu' requested")
    assert probe["explanation"] == "jax 0.10.2 is a CPU-only build: it never sees a GPU"


def test_cupy_and_onnxruntime_without_a_driver(
    cupy_and_onnxruntime: Venv, pkgdoctor: Runner
) -> None:
    """CuPy's runtime says "insufficient driver" when there is none at all; onnxruntime's
    CPU build carries the CPU and Azure providers only."""
    result = pkgdoctor("why", "--gpu", "--prefix", str(cupy_and_onnxruntime.prefix), "--json")
    assert result.status == 0, result.out + result.err
    cupy, onnxruntime = result.json["gpu"]
    assert cupy["distribution"] == "cupy-cuda13x 14.2.0"
    assert cupy["available"] is False
    assert cupy["build"] == {"hip": False, "runtime": 13020}
    assert cupy["error"] == (
        "CUDARuntimeError: cudaErrorInsufficientDriver: CUDA driver version is insufficient "
        "for CUDA runtime version"
    )
    assert cupy["error_code"] == "cudaErrorInsufficientDriver"
    # CuPy loads CUDA with dlopen (no DT_NEEDED of libcuda.so.1): gpu-no-driver names the
    # build itself.
    (note,) = [f for f in result.json["findings"] if f["code"] == "gpu-no-driver"]
    assert note["evidence"]["builds"] == ["cupy-cuda13x 14.2.0: CUDA 13"]
    assert note["message"].endswith("cupy-cuda13x 14.2.0 (CUDA 13) will not see a GPU here.")
    assert cupy["explained_by"] == ["gpu-no-driver"]
    assert onnxruntime["cpu_only"] is True
    assert onnxruntime["build"] == {
        "providers": ["AzureExecutionProvider", "CPUExecutionProvider"],
        "device": "CPU",
    }
    assert onnxruntime["explanation"] == (
        "onnxruntime 1.32.0 is a CPU-only build (providers: AzureExecutionProvider, "
        "CPUExecutionProvider): it never sees a GPU"
    )


def test_no_framework_installed(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    result = pkgdoctor("why", "--gpu", "--prefix", str(venv.prefix), "--json")
    assert result.status == 0
    assert result.json["gpu"] == []
    assert "nothing to ask" in result.err
    assert "no GPU framework (torch, jax, cupy, tensorflow, onnxruntime) is installed" in result.err


def test_module_or_gpu_is_needed(pkgdoctor: Runner) -> None:
    result = pkgdoctor("why")
    assert result.status == 2
    assert "give a MODULE to import, or --gpu" in result.err


# --- frameworks that hang, crash, fail to import or flood their output -------------------------

_HANGS = """\
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "600"])  # what it started goes with it
with open({pids!r}, "w") as f:
    f.write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(600)
"""
_ABORTS = "import os\nos.abort()\n"
_CANNOT_IMPORT = (
    "raise ImportError('libcudart.so.12: cannot open shared object file: No such file or "
    "directory')\n"
)
# 3 MiB on stdout before its answer (more than pkgdoctor keeps of an answer), a title escape
# in its version and a screen-clearing CSI in a provider's name.
_FLOODS = """\
import sys
sys.stdout.write("x" * (3 << 20))
__version__ = "1.0\\x1b]0;pwned\\x07"
def get_available_providers():
    return ["CUDAExecutionProvider\\x9b2J", "CPUExecutionProvider"]
def get_device():
    return "CPU"
"""


def _fake(site: Path, distribution: str, package: str, source: str) -> None:
    write_dist_info(site, distribution, "1.0", [f"{package}/__init__.py"])
    (site / package).mkdir()
    (site / package / "__init__.py").write_text(source)


def test_hanging_crashing_and_hostile_frameworks(tmp_path: Path, pkgdoctor: Runner) -> None:
    """Each framework is asked in its own child: one that hangs is stopped at --timeout with
    what it started, one that aborts is reported with its signal, and neither hides the
    others' answers; what a framework says is escaped."""
    venv = make_venv(tmp_path / "env")
    pids = tmp_path / "pids"
    _fake(venv.site_packages, "torch", "torch", _HANGS.format(pids=str(pids)))
    _fake(venv.site_packages, "cupy", "cupy", _ABORTS)  # a source build: no CUDA major known
    _fake(venv.site_packages, "tensorflow", "tensorflow", _CANNOT_IMPORT)
    _fake(venv.site_packages, "onnxruntime", "onnxruntime", _FLOODS)
    start = time.monotonic()
    result = pkgdoctor("why", "--gpu", "--prefix", str(venv.prefix), "--timeout", "5", "--json")
    elapsed = time.monotonic() - start
    assert elapsed < 30, elapsed
    assert result.status == 1  # frameworks that cannot answer are found broken
    probes = {p["framework"]: p for p in result.json["gpu"]}
    assert list(probes) == ["torch", "cupy", "tensorflow", "onnxruntime"]
    assert probes["torch"]["crashed"] == "stopped after 5 s"
    assert probes["cupy"]["crashed"] == signal.SIGABRT.name
    assert probes["tensorflow"]["imported"] is False
    assert probes["tensorflow"]["error"] == (
        "ImportError: libcudart.so.12: cannot open shared object file: No such file or directory"
    )
    assert probes["onnxruntime"]["version"] == "1.0\x1b]0;pwned\x07"
    assert probes["onnxruntime"]["build"]["providers"] == [
        "CUDAExecutionProvider\x9b2J",
        "CPUExecutionProvider",
    ]
    waiter, sleeper = map(int, pids.read_text().split())
    assert not alive(waiter) and not alive(sleeper)

    text = pkgdoctor("why", "--gpu", "--prefix", str(venv.prefix), "--timeout", "5").out
    assert _answer_lines(text) == (
        "\n"
        "✗ torch 1.0 gave no answer (stopped after 5 s)\n"
        "✗ cupy 1.0 gave no answer (SIGABRT)\n"
        "✗ tensorflow 1.0 cannot be imported: ImportError: libcudart.so.12: cannot open shared "
        "object file: No such file or directory\n"
        "i onnxruntime 1.0\\x1b]0;pwned\\x07 offers CUDAExecutionProvider\\x9b2J, "
        "CPUExecutionProvider; whether one works shows when a session is made\n"
        "    get_available_providers(): CUDAExecutionProvider\\x9b2J, CPUExecutionProvider\n"
        "\n"
        "[✓] GPU\n"
        "\n"
        "No finding; 3 frameworks gave no answer (above).\n"
    )


# --- the explanation: recorded answers, findings by code ----------------------------------------

# torch 2.14.1+cu130's answer on this machine (no driver), as the probe recorded it.
NO_DRIVER = GpuProbe(
    "torch",
    "torch 2.14.1",
    imported=True,
    version="2.14.1+cu130",
    available=False,
    device_count=0,
    cpu_only=False,
    build={"cuda": "13.0", "hip": None},
    error="RuntimeError: Found no NVIDIA driver on your system. Please check that you have an "
    "NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx",
)


def _finding(code: str, distribution: str | None = None) -> Finding:
    return Finding(code, Severity.WARNING, f"{code} found.", distribution=distribution)


def test_the_finding_that_explains_no_driver() -> None:
    explained = explain(NO_DRIVER, [_finding("gpu-cuda-mixed-majors"), _finding("gpu-no-driver")])
    assert explained.explanation == (
        "torch 2.14.1+cu130 sees no GPU: no NVIDIA driver on this machine [gpu-no-driver]"
    )
    assert explained.explained_by == ("gpu-no-driver",)


def test_a_driver_too_old() -> None:
    """c10/cuda/CUDAFunctions.cpp's message when the driver is older than the build's CUDA
    (its warning from device_count(), and what init() raises)."""
    message = (
        "The NVIDIA driver on your system is too old (found version 11040). Please update "
        "your GPU driver by downloading and installing a new version from the URL: "
        "http://www.nvidia.com/Download/index.aspx"
    )
    probe = GpuProbe(
        "torch", "torch 2.5.1+cu121", imported=True, version="2.5.1+cu121", available=False,
        device_count=0, cpu_only=False, error=f"RuntimeError: {message}",
        warnings=(f"CUDA initialization: {message}",),
    )  # fmt: skip
    other = _finding("gpu-driver-too-old", "jax-cuda12-plugin")  # another build's finding
    assert explain(probe, [other]).explained_by == ()
    ours = _finding("gpu-driver-too-old", "torch")
    assert explain(probe, [other, ours]).explanation == (
        "torch 2.5.1+cu121 sees no GPU: the NVIDIA driver is older than the CUDA runtime of "
        "this build needs [gpu-driver-too-old]"
    )


def test_insufficient_driver_means_none_or_too_old() -> None:
    """The CUDA runtime's cudaErrorInsufficientDriver (35) is its answer both without a
    driver and with one too old: the finding present tells which."""
    probe = GpuProbe(
        "cupy", "cupy-cuda13x 14.2.0", imported=True, version="14.2.0", available=False,
        device_count=0, cpu_only=False,
        error="CUDARuntimeError: cudaErrorInsufficientDriver: CUDA driver version is "
        "insufficient for CUDA runtime version",
    )  # fmt: skip
    assert explain(probe, [_finding("gpu-no-driver")]).explained_by == ("gpu-no-driver",)
    too_old = _finding("gpu-driver-too-old", "cupy-cuda13x")
    assert explain(probe, [too_old]).explained_by == ("gpu-driver-too-old",)


def test_devices_hidden() -> None:
    """torch.cuda.init() with CUDA_VISIBLE_DEVICES="" on a machine with a driver."""
    probe = GpuProbe(
        "torch", "torch 2.14.1", imported=True, version="2.14.1+cu130", available=False,
        device_count=0, cpu_only=False, error="RuntimeError: No CUDA GPUs are available",
    )  # fmt: skip
    explained = explain(probe, [_finding("gpu-devices-hidden")])
    assert explained.explanation == (
        "torch 2.14.1+cu130 sees no GPU: the machine's GPUs are hidden from this process "
        "[gpu-devices-hidden]"
    )


def test_a_build_named_in_the_message() -> None:
    """A finding about several builds names the first as its distribution, all in its
    message."""
    probe = GpuProbe(
        "jax", "jax 0.4.35", imported=True, version="0.4.35", available=False, device_count=0,
        cpu_only=False, warnings=("CUDA driver version is insufficient for CUDA runtime version",),
    )  # fmt: skip
    both = Finding(
        "gpu-driver-too-old", Severity.ERROR,
        "torch 2.5.1+cu124 (CUDA 12.4), jax 0.4.35 (CUDA 12.6) need(s) a newer driver.",
        distribution="torch",
    )  # fmt: skip
    assert explain(probe, [both]).explained_by == ("gpu-driver-too-old",)
    other = replace(both, message="torch 2.5.1+cu124 (CUDA 12.4) needs a newer driver.")
    assert explain(probe, [other]).explained_by == ()


def test_a_cpu_build_with_its_finding() -> None:
    probe = GpuProbe(
        "torch", "torch 2.13.0+cpu", imported=True, version="2.13.0+cpu", available=False,
        device_count=0, cpu_only=True,
    )  # fmt: skip
    assert explain(probe, [_finding("gpu-cpu-only-build", "torchvision")]).explained_by == ()
    explained = explain(probe, [_finding("gpu-cpu-only-build", "torch")])
    assert explained.explanation == "torch 2.13.0+cpu is a CPU-only build [gpu-cpu-only-build]"


def test_no_cause_is_made_up() -> None:
    silent = GpuProbe(
        "torch", "torch 2.14.1", imported=True, version="2.14.1+cu130", available=False,
        device_count=0, cpu_only=False,
    )  # fmt: skip
    assert explain(silent, [_finding("gpu-cuda-mixed-majors")]).explanation == (
        "torch 2.14.1+cu130 sees no GPU and says nothing more; no finding explains why"
    )
    assert explain(NO_DRIVER, []).explained_by == ()


def test_a_gpu_seen() -> None:
    probe = GpuProbe(
        "torch", "torch 2.14.1", imported=True, version="2.14.1+cu130", available=True,
        device_count=1, cpu_only=False, devices=({"name": "NVIDIA H200", "capability": "9.0"},),
    )  # fmt: skip
    assert explain(probe, []).explanation == "torch 2.14.1+cu130 sees 1 GPU: NVIDIA H200 (9.0)"


# A framework that prints a forged answer as the process ends: the marker, then JSON nested
# deeper than Python's parser goes.
_FORGES = """\
import atexit, sys
def forge():
    sys.stdout.write("\\x1epkgdoctor-gpu\\t" + "[" * 200_000 + "\\n")
atexit.register(forge)
"""


def test_a_forged_answer_nested_too_deep(tmp_path: Path, pkgdoctor: Runner) -> None:
    """What the child prints is the target's to choose: an answer nested past the parser's
    limit is no answer, not a traceback."""
    venv = make_venv(tmp_path / "env")
    _fake(venv.site_packages, "jax", "jax", _FORGES)
    result = pkgdoctor("why", "--gpu", "--prefix", str(venv.prefix), "--json")
    assert "Traceback" not in result.err, result.err
    (probe,) = result.json["gpu"]
    assert probe["framework"] == "jax" and probe["crashed"] == "exit status 0 without an answer"
