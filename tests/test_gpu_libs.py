"""Libraries of GPU stacks: what a package's own import loads first, a machine without an
NVIDIA driver, a CUDA build without its ``nvidia-*`` wheels (issue 12)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gpu_env
from artefacts import (
    EXT_SUFFIX,
    Venv,
    compile_extension,
    compile_library,
    make_venv,
    run,
    write_dist_info,
)
from conftest import Result, Runner


def test_cuda_torch_environment_is_whole(cuda_torch: Venv) -> None:
    """The shared environment is what a user gets: torch's CUDA 13 build, torchvision beside
    it, both import (on the CPU: this machine has no driver)."""
    script = (
        "import torch, torchvision; "
        "print(torch.__version__, torch.version.cuda, torchvision.__version__, "
        "torch.cuda.is_available())"
    )
    out = run([str(cuda_torch.python), "-c", script]).stdout.split()
    assert out[:3] == ["2.14.1+cu130", "13.0", "0.29.1+cu130"], out


# --- libraries a package's own import loads first ------------------------------------------

CORE = "int core(void) { return 1; }"


def _findings(result: Result, code: str) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["code"] == code]


def _dist(site: Path, name: str, files: list[str], requires: tuple[str, ...] = ()) -> None:
    info = write_dist_info(site, name, "1.0", files)
    lines = "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{lines}\n")


def _framework(venv: Venv, tmp_path: Path, *, requires: bool = True) -> Path:
    """``base`` (base/_core.so, RUNPATH $ORIGIN/lib to base/lib/libbasecore.so.1: torch and
    its libc10.so) and ``user`` (user/_ext.so needs libbasecore.so.1 with no search path to
    it, its __init__ imports base first: torchvision), gcc-built; ``user`` requires ``base``
    unless ``requires`` is False. The path of libbasecore.so.1."""
    site = venv.site_packages
    lib = compile_library(site / "base" / "lib", "libbasecore.so.1", CORE)
    compile_extension(
        site / "base", "_core", link=[str(lib), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib"]
    )
    (site / "base" / "__init__.py").write_text("from base import _core\n")
    stub = compile_library(tmp_path / "stubs", "libbasecore.so.1", CORE)  # link time only
    compile_extension(site / "user", "_ext", link=[str(stub)])
    (site / "user" / "__init__.py").write_text("import base\nfrom user import _ext\n")
    _dist(
        site, "base", ["base/__init__.py", f"base/_core{EXT_SUFFIX}", "base/lib/libbasecore.so.1"]
    )
    _dist(
        site, "user", ["user/__init__.py", f"user/_ext{EXT_SUFFIX}"], ("base",) if requires else ()
    )
    return lib


def test_library_loaded_by_a_required_distribution(tmp_path: Path, pkgdoctor: Runner) -> None:
    """user/_ext.so needs libbasecore.so.1, which only base's own module finds; ``import
    user`` imports base first, and glibc reuses the object loaded under that soname."""
    venv = make_venv(tmp_path / "env")
    _framework(venv, tmp_path)
    run([str(venv.python), "-c", "import user"])  # the real loader agrees
    assert pkgdoctor("check", "--prefix", str(venv.prefix), "--json").json["findings"] == []


def test_library_not_loaded_without_the_requirement(tmp_path: Path, pkgdoctor: Runner) -> None:
    """Without ``Requires-Dist: base``, nothing says base is imported first: the need stays
    unresolved (a warning: a copy is installed), and alone the module really fails."""
    venv = make_venv(tmp_path / "env")
    _framework(venv, tmp_path, requires=False)
    (venv.site_packages / "user" / "__init__.py").write_text("")
    failed = subprocess.run(
        [str(venv.python), "-c", "import user._ext"], capture_output=True, text=True, check=False
    )
    assert "libbasecore.so.1: cannot open shared object file" in failed.stderr
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = _findings(result, "ext-missing-library")
    assert (finding["distribution"], finding["severity"]) == ("user", "warning")


def test_library_gone_from_the_required_distribution(tmp_path: Path, pkgdoctor: Runner) -> None:
    """A true positive stays: base's libbasecore.so.1 deleted, base cannot load, and user's
    need is not met by it either."""
    venv = make_venv(tmp_path / "env")
    _framework(venv, tmp_path).unlink()
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    found = {f["distribution"]: f for f in _findings(result, "ext-missing-library")}
    assert found["base"]["severity"] == "error"
    assert "libbasecore.so.1" in found["base"]["evidence"]["missing"]
    assert "user" in found


def test_library_loaded_by_a_module_of_the_same_distribution(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    """triton's plugins need libtriton.so, the DT_SONAME of triton/_C/libtriton.so, which
    triton imports first: a plugin's RUNPATH to a directory that is not there is no matter."""
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    core = compile_extension(
        site / "tri" / "_C",
        "libtri",
        suffix=".so",
        extra="#include <stdlib.h>\nint core(void) { return 1; }",
        link=["-Wl,-soname,libtri.so"],
    )
    plugin = compile_library(
        site / "tri" / "plugins",
        "libplug.so",
        "int core(void);\nint plug(void) { return core(); }",
        link=[str(core), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"],
    )
    (site / "tri" / "__init__.py").write_text("")
    rel = [str(p.relative_to(site)) for p in (core, plugin, site / "tri" / "__init__.py")]
    _dist(site, "tri", rel)
    assert pkgdoctor("check", "--prefix", str(venv.prefix), "--json").json["findings"] == []


@pytest.fixture(scope="module")
def cpu_torch_torchvision(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """torch 2.13.0+cpu (the local wheel in /opt/wheels) with PyPI's torchvision 0.29.1 (a
    CUDA build, for torch 2.14) beside it, installed with --no-deps as a user forcing it."""
    venv = gpu_env.new_venv(tmp_path_factory.mktemp("cpu-torch") / "env")
    gpu_env.install(venv, "--find-links=/opt/wheels", "torch==2.13.0+cpu")
    gpu_env.install(venv, "--no-deps", gpu_env.TORCHVISION)
    return venv


def test_cuda_torchvision_beside_cpu_torch(cpu_torch_torchvision: Venv, pkgdoctor: Runner) -> None:
    """torch's import loads libc10.so, libtorch.so, ... for torchvision, but the CPU build has
    no libc10_cuda.so nor libtorch_cuda.so: those are really missing (the real loader says
    so, and torchvision, which swallows the failure, breaks later on 'torchvision::nms')."""
    venv = cpu_torch_torchvision
    failed = subprocess.run(
        [str(venv.python), "-c", "import torchvision"], capture_output=True, text=True, check=False
    )
    assert "operator torchvision::nms does not exist" in failed.stderr
    library = venv.site_packages / "torchvision" / "_C_stable.so"
    probe = f"import torch, ctypes; ctypes.CDLL({str(library)!r})"
    failed = subprocess.run(
        [str(venv.python), "-c", probe], capture_output=True, text=True, check=False
    )
    assert "libc10_cuda.so: cannot open shared object file" in failed.stderr, failed.stderr
    result = pkgdoctor("check", "--python", str(venv.python), "--json")
    (finding,) = _findings(result, "ext-missing-library")
    assert (finding["distribution"], finding["severity"]) == ("torchvision", "error")
    assert sorted(finding["evidence"]["missing"]) == ["libc10_cuda.so", "libtorch_cuda.so"]
    loaded = finding["evidence"]["loaded_by_import_of"]["torch"]
    assert {"libc10.so", "libtorch.so", "libtorch_cpu.so"} <= set(loaded)
    assert "the installed torch 2.13.0+cpu has not" in finding["fix"]
    assert "apt-file" not in finding["fix"]
    assert "dist-requirement-conflict" in result.codes()  # the root cause, said as well


# --- no NVIDIA driver -------------------------------------------------------------------------


def test_complete_cuda_torch_without_a_driver(cuda_torch: Venv, pkgdoctor: Runner) -> None:
    """The issue's case: a complete CUDA torch + torchvision on a machine without a driver
    imports and runs on the CPU. No error, no warning: one note that CUDA is not available
    here and why (torchvision's libc10.so ... come with torch's import; triton's plugins'
    libtriton.so with triton's)."""
    result = pkgdoctor("check", "--python", str(cuda_torch.python), "--json")
    assert result.status == 0, result.out
    serious = [f for f in result.json["findings"] if f["severity"] != "info"]
    assert serious == []
    assert "ext-missing-library" not in result.codes()
    (note,) = _findings(result, "gpu-no-driver")
    assert note["evidence"]["used_by"] == {"torch": {"libcuda.so.1": ["libcaffe2_nvrtc.so"]}}
    assert note["message"].startswith("CUDA will not be available on this machine: no NVIDIA")
    assert "libcuda.so.1 is not in the ld.so cache" in note["message"]


def _driver_user(tmp_path: Path) -> Venv:
    """A distribution whose module links libcuda.so.1 (a stub at link time only, as CUDA's
    own lib/stubs/libcuda.so is)."""
    venv = make_venv(tmp_path / "env")
    stub = compile_library(
        tmp_path / "stubs", "libcuda.so.1", "int cuInit(unsigned f) { return 0; }"
    )
    compile_extension(venv.site_packages / "gpukit", "_driver", link=[str(stub)])
    (venv.site_packages / "gpukit" / "__init__.py").write_text("")
    _dist(venv.site_packages, "gpukit", ["gpukit/__init__.py", f"gpukit/_driver{EXT_SUFFIX}"])
    return venv


def _edited(path: Path, gpu: dict[str, Any] | None) -> Path:
    document = json.loads(gzip.decompress(path.read_bytes()))
    document["gpu"] = gpu
    edited = path.with_name(f"edited-{len(list(path.parent.iterdir()))}.json.gz")
    edited.write_bytes(gzip.compress(json.dumps(document).encode()))
    return edited


def test_driver_library_judged_by_the_gpu_facts(tmp_path: Path, pkgdoctor: Runner) -> None:
    """libcuda.so.1 not found: a note on this machine (no driver), an error on a snapshot
    edited to describe a GPU node whose driver's library is not where the loader looks, a
    note that it cannot be judged when the snapshot has no GPU facts."""
    venv = _driver_user(tmp_path)
    live = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert live.codes() == ["gpu-no-driver"] and live.status == 0
    assert live.json["findings"][0]["severity"] == "info"
    recorded = tmp_path / "snap.json.gz"
    assert pkgdoctor("snapshot", "--prefix", str(venv.prefix), "-o", str(recorded)).status == 0

    node = {
        "driver_version": "550.54.15",
        "cuda_driver_version": "12.4",
        "devices": [{"name": "NVIDIA H200", "compute_capability": "9.0"}],
        "source": "/proc/driver/nvidia/version",
        "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
    }
    broken = pkgdoctor("check", "--from", str(_edited(recorded, node)), "--json")
    (finding,) = _findings(broken, "ext-missing-library")
    assert finding["severity"] == "error" and "libcuda.so.1" in finding["evidence"]["missing"]
    assert "gpu-no-driver" not in broken.codes()

    container: dict[str, Any] = {"driver_version": None, "cuda_driver_version": None, "devices": [],
                 "source": "", "visible": {"NVIDIA_VISIBLE_DEVICES": "void"}}  # fmt: skip
    inside = pkgdoctor("check", "--from", str(_edited(recorded, container)), "--json")
    (note,) = _findings(inside, "gpu-no-driver")
    assert (
        "NVIDIA_VISIBLE_DEVICES='void': a container started without GPU access" in (note["message"])
    )

    unknown = pkgdoctor("check", "--from", str(_edited(recorded, None)), "--json")
    (note,) = _findings(unknown, "gpu-no-driver")
    assert note["severity"] == "info" and "cannot be judged" in note["message"]
    assert unknown.codes() == ["gpu-no-driver"]


# --- a CUDA build without its NVIDIA wheels -----------------------------------------------------

# torch 2.14.1's requirements that are not NVIDIA's CUDA wheels (its Requires-Dist).
TORCH_PLAIN_REQUIREMENTS = (
    "filelock",
    "typing-extensions>=4.10.0",
    "setuptools>=77.0.3",
    "sympy>=1.13.3",
    "networkx>=2.5.1",
    "jinja2",
    "fsspec>=0.8.5",
)


@pytest.fixture
def torch_without_nvidia_wheels(tmp_path: Path) -> Iterator[Venv]:
    """``pip install --no-deps torch==2.14.1`` and its plain requirements: the CUDA build
    without any nvidia-* wheel (about 1 GB; removed after the test, the fix makes it 4)."""
    venv = gpu_env.new_venv(tmp_path / "nodeps")
    gpu_env.install(venv, "--no-deps", gpu_env.TORCH)
    gpu_env.install(venv, *TORCH_PLAIN_REQUIREMENTS)
    yield venv
    shutil.rmtree(venv.prefix, ignore_errors=True)


def _pip_environment() -> dict[str, str]:
    """The environment a fix runs in: the machine's, with the local indexes named (as
    gpu_env.install does) and the tests' pip cache."""
    indexes = " ".join(f"file://{d}" for d in gpu_env.LOCAL_INDEXES if os.path.isdir(d))
    env = dict(os.environ, PIP_CACHE_DIR=str(gpu_env.pip_cache()), PIP_NO_COMPILE="1")
    if indexes:
        env["PIP_EXTRA_INDEX_URL"] = indexes
    return env


def test_cuda_build_without_its_nvidia_wheels(
    torch_without_nvidia_wheels: Venv, pkgdoctor: Runner
) -> None:
    """One error naming the wheels to install (from torch's Requires-Dist, the cuda-toolkit
    extras included) with the missing requirements and libraries folded in; its command,
    run as it is, makes ``import torch`` work and the finding go."""
    venv = torch_without_nvidia_wheels
    failed = subprocess.run(
        [str(venv.python), "-c", "import torch"], capture_output=True, text=True, check=False
    )
    assert "libcudnn.so.9: cannot open shared object file" in failed.stderr
    result = pkgdoctor("check", "--python", str(venv.python), "--json")
    (finding,) = _findings(result, "gpu-missing-cuda-libs")
    assert (finding["distribution"], finding["severity"]) == ("torch", "error")
    assert finding["evidence"]["missing_requirements"] == [
        "cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,"
        "nvrtc,nvtx]==13.0.3",
        "nvidia-cudnn-cu13==9.24.0.43",
        "nvidia-cusparselt-cu13==0.8.1",
        "nvidia-nccl-cu13==2.30.7",
        "nvidia-nvshmem-cu13==3.4.5",
    ]
    libraries = finding["evidence"]["libraries_not_found"]
    assert {"libcudnn.so.9", "libcublas.so.13", "libnccl.so.2"} <= set(libraries)
    assert "libcuda.so.1" not in libraries  # the driver's: gpu-no-driver says it
    assert "ext-missing-library" not in result.codes()  # folded
    requirements = [
        f["evidence"]["requirement"] for f in _findings(result, "dist-requirement-missing")
    ]
    assert sorted(r.split("<")[0].split("~")[0] for r in requirements) == [
        "cuda-bindings",
        "triton",
    ]  # Python packages, not CUDA's libraries: said on their own
    assert len(finding["evidence"]["folded"]) == 6  # 5 requirements and the libraries

    run(["bash", "-c", finding["command"]], env=_pip_environment())
    out = run([str(venv.python), "-c", "import torch; print(torch.version.cuda)"]).stdout
    assert out.split()[-1] == "13.0"
    after = pkgdoctor("check", "--python", str(venv.python), "--json")
    assert "gpu-missing-cuda-libs" not in after.codes()
    assert "ext-missing-library" not in after.codes()
