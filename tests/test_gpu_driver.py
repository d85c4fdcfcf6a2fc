"""Framework builds (look/frameworks.py) against the machine's driver and devices
(checks/gpu_driver.py): a CPU-only torch on a GPU node, a driver too old for the build, GPUs
hidden from a container or by CUDA_VISIBLE_DEVICES.

The builds are real: PyTorch's CPU wheel (2.13.0+cpu, from the machine's wheel directory or
PyTorch's CPU index), onnxruntime-gpu from the registry. The GPU node is a snapshot of the
environment whose ``gpu`` section is replaced by what real nodes recorded (``nvidia-smi``
headers quoted in public bug reports, cited at each), as the issue's contract allows: such a
snapshot is judged exactly like the node.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artefacts import PY, Venv, Wheelhouse, make_venv, pip, run, write_dist_info
from conftest import Runner
from pkgdoctor import cuda
from pkgdoctor.look import frameworks
from pkgdoctor.snapshot.model import Distribution, Inventory
from test_fatbin import KERNEL, Tools
from test_fatbin import tools as tools  # the session's nvcc (a fixture)

TORCH_CPU = "torch==2.13.0+cpu"
WHEELS = "/opt/wheels"  # the test machines' wheel directory (the machine's pip.conf names it)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

# GPU nodes as public bug reports recorded them (collect_env, nvidia-smi, torch's warning).
H100_535 = {  # pytorch/pytorch#110153: "GPU 0: NVIDIA H100 PCIe", "Nvidia driver version:
    # 535.104.12", torch's warning names its capability sm_90
    "driver_version": "535.104.12",
    "cuda_driver_version": None,
    "devices": [{"name": "NVIDIA H100 PCIe", "compute_capability": "9.0"}],
    "source": "recorded: collect_env, https://github.com/pytorch/pytorch/issues/110153",
}
PROC = "/proc/driver/nvidia/version"  # as look/gpu.py writes it when it read the driver's files
DRIVER_450 = {  # pytorch/pytorch#85332: "NVIDIA-SMI 450.51.05 Driver Version: 450.51.05
    # CUDA Version: 11.0"
    "driver_version": "450.51.05",
    "cuda_driver_version": "11.0",
    "devices": [],
    "source": "recorded: nvidia-smi, https://github.com/pytorch/pytorch/issues/85332",
}
CUDA_12_8 = {  # pytorch/pytorch#162531: a CUDA 13.0 build on PyTorch's CI fleet, "The NVIDIA
    # driver on your system is too old (found version 12080)": CUDA 12.8
    "driver_version": None,
    "cuda_driver_version": "12.8",
    "devices": [],
    "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
    "source": "recorded: torch's warning, https://github.com/pytorch/pytorch/pull/162531",
}
DRIVER_580 = {  # pytorch/test-infra#7159: the fleet's driver for CUDA 13.0, 580.82.07
    "driver_version": "580.82.07",
    "cuda_driver_version": None,
    "devices": [],
    "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
    "source": "recorded: https://github.com/pytorch/test-infra/pull/7159",
}


@pytest.fixture(scope="module")
def cpu_torch(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A venv with PyTorch's real CPU build and its dependencies."""
    if sys.version_info[:2] != (3, 11):
        pytest.fail(f"the CPU torch wheel here is for CPython 3.11, not {PY}")
    venv = make_venv(tmp_path_factory.mktemp("cpu-torch") / "env")
    links = (
        ["--find-links", WHEELS]
        if os.path.isdir(WHEELS)
        else ["--extra-index-url", TORCH_CPU_INDEX]
    )
    pip("--python", str(venv.python), "install", "--no-compile", *links, TORCH_CPU)
    return venv


def _snapshot(pkgdoctor: Runner, venv: Venv, path: Path, **sections: Any) -> Path:
    """A snapshot of ``venv`` with ``sections`` (gpu, frameworks) replaced as recorded."""
    assert pkgdoctor("snapshot", "--python", str(venv.python), "-o", str(path)).status == 0
    document = json.loads(gzip.decompress(path.read_bytes()))
    document.update(sections)
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    return path


def _gpu(pkgdoctor: Runner, path: Path) -> list[dict[str, Any]]:
    result = pkgdoctor("check", "--from", str(path), "--json")
    return [f for f in result.json["findings"] if f["code"].startswith("gpu-")]


def test_the_cpu_torch_build_is_read_from_its_files(cpu_torch: Venv, pkgdoctor: Runner) -> None:
    """torch/version.py says cuda = None and hip = None: a CPU build; read, never imported."""
    result = pkgdoctor("snapshot", "--python", str(cpu_torch.python), "-o", "-")
    (torch,) = json.loads(result.out)["frameworks"]
    assert torch["distribution"] == "torch" and torch["version"] == "2.13.0+cpu"
    assert torch["gpu_build"] is False and torch["cuda"] is None and torch["hip"] is None
    assert torch["files"] == [str(cpu_torch.site_packages / "torch" / "version.py")]
    assert torch["gpu_library"] is None  # a CPU build has no libtorch_cuda.so


def test_cpu_torch_on_a_machine_without_gpu_is_healthy(cpu_torch: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("check", "--python", str(cpu_torch.python), "--json")
    codes = [f["code"] for f in result.json["findings"]]
    assert not [c for c in codes if c.startswith("gpu-")], codes


def test_cpu_torch_on_a_gpu_node(cpu_torch: Venv, pkgdoctor: Runner, tmp_path: Path) -> None:
    """The H100 node's driver (535) runs CUDA up to 12.2: of torch 2.13's builds (12.6, 13.0,
    13.2) it runs 12.6 by minor version compatibility, not 13.x."""
    path = _snapshot(pkgdoctor, cpu_torch, tmp_path / "s.json.gz", gpu=H100_535)
    (finding,) = _gpu(pkgdoctor, path)
    assert finding["code"] == "gpu-cpu-only-build" and finding["severity"] == "warning"
    assert finding["message"] == (
        "torch 2.13.0+cpu is a CPU-only build, on a machine with an NVIDIA driver (535.104.12) "
        "and 1 NVIDIA H100 PCIe: torch.cuda.is_available() is False."
    )
    python = str(cpu_torch.python)
    assert finding["command"] == (
        f"{python} -m pip install torch==2.13.0+cu126 "
        "--index-url https://download.pytorch.org/whl/cu126"
    )
    assert "minor version compatibility" in finding["explanation"]
    assert finding["evidence"]["build"]["cuda"] is None
    assert finding["evidence"]["machine"]["devices"] == [
        "NVIDIA H100 PCIe (compute capability 9.0)"
    ]


def test_cpu_torch_where_the_driver_runs_none_of_its_builds(
    cpu_torch: Venv, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """Driver 450 (CUDA 11.0) runs no build of torch 2.13 (12.6 and newer): no command that
    cannot help; the explanation says what would."""
    path = _snapshot(pkgdoctor, cpu_torch, tmp_path / "s.json.gz", gpu=DRIVER_450)
    (finding,) = _gpu(pkgdoctor, path)
    assert finding["code"] == "gpu-cpu-only-build"
    assert finding["command"] is None
    assert finding["explanation"] == (
        "No CUDA build of torch 2.13.0 (12.6, 13.0, 13.2) runs on this driver: upgrade the "
        "NVIDIA driver, or install an older torch release."
    )


def _cuda_torch(cpu_torch: Venv, cuda_version: str) -> list[dict[str, Any]]:
    """The frameworks section of a CUDA build of the same release, as its version.py says."""
    return [
        {
            "distribution": "torch",
            "version": f"2.13.0+{cuda.local_tag(cuda_version)}",
            "cuda": cuda_version,
            "gpu_build": True,
            "files": [str(cpu_torch.site_packages / "torch" / "version.py")],
        }
    ]


@pytest.mark.parametrize(
    ("node", "build", "severity", "command"),
    [
        (DRIVER_450, "13.0", "error", None),  # no build of 2.13 runs on CUDA 11.0
        (H100_535, "13.0", "error", "cu126"),  # driver 535 runs the 12.6 build (minor compat)
        (CUDA_12_8, "13.0", "error", "cu126"),  # PyTorch's own CI, pytorch/pytorch#162531
        (H100_535, "12.6", "info", None),  # minor version compatibility: a note
        (DRIVER_580, "13.0", None, None),  # the driver CUDA 13.0 needs
    ],
)
def test_driver_too_old(
    cpu_torch: Venv,
    pkgdoctor: Runner,
    tmp_path: Path,
    node: dict[str, Any],
    build: str,
    severity: str | None,
    command: str | None,
) -> None:
    path = _snapshot(
        pkgdoctor,
        cpu_torch,
        tmp_path / "s.json.gz",
        gpu=node,
        frameworks=_cuda_torch(cpu_torch, build),
    )
    found = [f for f in _gpu(pkgdoctor, path) if f["code"] == "gpu-driver-too-old"]
    if severity is None:
        assert found == []
        return
    (finding,) = found
    assert finding["severity"] == severity
    if severity == "error":
        assert finding["message"].startswith(f"torch 2.13.0+cu{build.replace('.', '')} (CUDA ")
        assert "CUDA driver version is insufficient for CUDA runtime version" in finding["message"]
        assert finding["evidence"]["minimum_driver"] == {"13": "580"}
        assert (
            "Upgrade the NVIDIA driver (CUDA 13 needs driver 580 or newer"
            in (finding["explanation"])
        )
    fix = finding["command"]
    if command is None:
        assert fix is None
    else:
        assert fix.endswith(f"torch==2.13.0+{command} --index-url {cuda.TORCH_INDEX}{command}")


def test_forward_compatibility_turns_the_error_into_a_note(
    cpu_torch: Venv, pkgdoctor: Runner, tmp_path: Path
) -> None:
    node = {**H100_535, "libcuda": "/usr/local/cuda-13.0/compat/libcuda.so.1"}
    path = _snapshot(
        pkgdoctor, cpu_torch, tmp_path / "s.json.gz", gpu=node,
        frameworks=_cuda_torch(cpu_torch, "13.0"),
    )  # fmt: skip
    (finding,) = [f for f in _gpu(pkgdoctor, path) if f["code"] == "gpu-driver-too-old"]
    assert finding["severity"] == "info"
    assert "forward compatibility package" in finding["message"]


@pytest.mark.parametrize(
    ("node", "severity", "hidden_by"),
    [
        # The driver's /proc and /sys files are the host kernel's and show in every
        # container; /dev/nvidia* only where the container runtime added them.
        # A container: gpu-no-driver says it (tests/test_gpu_libs.py), not this code.
        ({**H100_535, "device_nodes": [], "container": "/.dockerenv", "source": PROC},
         None, None),
        ({**H100_535, "device_nodes": [], "container": None, "source": PROC}, "info",
         "no /dev/nvidia*"),
        # Recorded elsewhere without the device files: nothing is said about them.
        ({**H100_535, "device_nodes": []}, None, None),
        ({**H100_535, "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
          "visible": {"NVIDIA_VISIBLE_DEVICES": "void"}}, "warning", "NVIDIA_VISIBLE_DEVICES"),
        ({**H100_535, "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
          "visible": {"CUDA_VISIBLE_DEVICES": ""}}, "warning", "CUDA_VISIBLE_DEVICES"),
        ({**H100_535, "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
          "visible": {"CUDA_VISIBLE_DEVICES": "0,1"}}, None, None),
    ],
)  # fmt: skip
def test_gpus_hidden_here(
    cpu_torch: Venv,
    pkgdoctor: Runner,
    tmp_path: Path,
    node: dict[str, Any],
    severity: str | None,
    hidden_by: str | None,
) -> None:
    path = _snapshot(
        pkgdoctor, cpu_torch, tmp_path / "s.json.gz", gpu=node,
        frameworks=_cuda_torch(cpu_torch, "12.6"),
    )  # fmt: skip
    found = [f for f in _gpu(pkgdoctor, path) if f["code"] == "gpu-devices-hidden"]
    if severity is None:
        assert found == []
        return
    (finding,) = found
    assert finding["severity"] == severity
    assert finding["evidence"]["hidden_by"] == hidden_by


def test_unsetting_cuda_visible_devices_is_the_fix(
    cpu_torch: Venv, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """The printed command, run in the shell that runs the framework, takes the variable
    away; the node's snapshot then shows every device again."""
    node = {**H100_535, "device_nodes": ["/dev/nvidia0"], "visible": {"CUDA_VISIBLE_DEVICES": ""}}
    path = _snapshot(
        pkgdoctor, cpu_torch, tmp_path / "s.json.gz", gpu=node,
        frameworks=_cuda_torch(cpu_torch, "12.6"),
    )  # fmt: skip
    (finding,) = [f for f in _gpu(pkgdoctor, path) if f["code"] == "gpu-devices-hidden"]
    command = finding["command"]
    assert command == "unset CUDA_VISIBLE_DEVICES"
    script = f"export CUDA_VISIBLE_DEVICES=; {command}; env"
    env = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    visible = {
        k: v
        for k, _, v in (line.partition("=") for line in env)
        if k in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
    }
    fixed = _snapshot(
        pkgdoctor, cpu_torch, tmp_path / "fixed.json.gz", gpu={**node, "visible": visible},
        frameworks=_cuda_torch(cpu_torch, "12.6"),
    )  # fmt: skip
    assert [f for f in _gpu(pkgdoctor, fixed) if f["code"] == "gpu-devices-hidden"] == []


def test_nothing_is_said_without_a_cuda_build(pkgdoctor: Runner, tmp_path: Path) -> None:
    """An environment without GPU frameworks on a GPU node (or a container without GPUs)
    gets no GPU finding: it does not care."""
    venv = make_venv(tmp_path / "env")
    node = {**H100_535, "device_nodes": [], "container": "/.dockerenv", "source": PROC}
    path = _snapshot(pkgdoctor, venv, tmp_path / "s.json.gz", gpu=node)
    assert _gpu(pkgdoctor, path) == []


def test_onnxruntime_gpu_build_from_its_files(wheelhouse: Wheelhouse, tmp_path: Path) -> None:
    """onnxruntime-gpu 1.31.1 (the registry's): build_and_package_info.py says CUDA 13.0; its
    CUDA provider library's DT_NEEDED names the CUDA libraries it loads."""
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, "onnxruntime-gpu==1.31.1", python="3.11")
    site = str(venv.site_packages)
    dist = Distribution(
        "onnxruntime-gpu", "1.31.1", f"{site}/onnxruntime_gpu-1.31.1.dist-info", site
    )
    (build,) = frameworks.collect(Inventory((dist,)))
    assert build.cuda == "13.0" and build.gpu_build is True
    assert build.cuda_libraries == (
        "libcublasLt.so.13",
        "libcublas.so.13",
        "libcurand.so.10",
        "libcudart.so.13",
        "libcuda.so.1",
    )
    assert build.gpu_library == f"{site}/onnxruntime/capi/libonnxruntime_providers_cuda.so"


def test_tensorflow_build_info_is_parsed_not_run(tmp_path: Path) -> None:
    """TensorFlow's build_info.py (2.21.0's tensorflow-cpu, and the CUDA build's layout with
    its compute capabilities) is read as literals; code in it never runs."""
    site = tmp_path / "site"
    info = site / "tensorflow/python/platform/build_info.py"
    info.parent.mkdir(parents=True)
    dist = Distribution(
        "tensorflow", "2.18.0", str(site / "tensorflow-2.18.0.dist-info"), str(site)
    )
    info.write_text(
        "import collections\nimport os\nos.system('touch /tmp/pwned')\n"
        "build_info = collections.OrderedDict([('cpu_compiler', '/usr/lib/llvm-18/bin/clang'), "
        "('cuda_compute_capabilities', ['sm_60', 'sm_70', 'sm_80', 'sm_89', 'compute_90']), "
        "('cuda_version', '12.5.1'), ('cudnn_version', '9'), ('is_cuda_build', True), "
        "('is_rocm_build', False), ('is_tensorrt_build', False)])\n"
    )
    (build,) = frameworks.collect(Inventory((dist,)))
    assert (build.cuda, build.cudnn, build.gpu_build) == ("12.5.1", "9", True)
    assert build.architectures == ("sm_60", "sm_70", "sm_80", "sm_89")
    assert build.ptx == ("compute_90",)
    info.write_text(
        "import collections\nbuild_info = collections.OrderedDict([('is_cuda_build', False), "
        "('is_rocm_build', False), ('is_tensorrt_build', False)])\n"
    )
    (build,) = frameworks.collect(Inventory((dist,)))
    assert (build.cuda, build.gpu_build) == (None, False)
    info.write_text("(" * 100_000)  # hostile: nested past the parser's limits
    (build,) = frameworks.collect(Inventory((dist,)))
    assert build.gpu_build is None and build.problems


# --- the architectures a build carries against the device's compute capability -----------

# The device of Janrupf/stable-diffusion-webui-nix#9 ("NVIDIA GeForce RTX 5090 with CUDA
# capability sm_120 is not compatible with the current PyTorch installation ... no kernel
# image is available for execution on the device"), on the driver PyTorch's fleet runs for
# CUDA 13 (pytorch/test-infra#7159).
RTX_5090 = {
    "driver_version": "580.82.07",
    "cuda_driver_version": "13.0",
    "devices": [{"name": "NVIDIA GeForce RTX 5090", "compute_capability": "12.0"}],
    "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
    "libcuda": "/usr/lib/x86_64-linux-gnu/libcuda.so.1",  # where a driver install puts it
    "source": "recorded: Janrupf/stable-diffusion-webui-nix#9, pytorch/test-infra#7159",
}


def _torch_with_kernels(tools: Tools, root: Path, gencode: list[str]) -> Venv:
    """A venv whose torch (2.14.1, a CUDA 12.6 build by its version.py) has a
    libtorch_cuda.so that nvcc compiled here for ``gencode``: real fat binaries."""
    venv = make_venv(root / "env")
    site = venv.site_packages
    (site / "torch/lib").mkdir(parents=True)
    (site / "torch/version.py").write_text(
        "from typing import Optional\n__version__ = '2.14.1+cu126'\n"
        "cuda: Optional[str] = '12.6'\nhip: Optional[str] = None\n"
    )
    source = root / "kernel.cu"
    source.write_text(KERNEL)
    library = site / "torch/lib/libtorch_cuda.so"
    run([str(tools.nvcc), "-shared", "-Xcompiler", "-fPIC", *gencode, "-o", str(library),
         str(source)])  # fmt: skip
    write_dist_info(
        site, "torch", "2.14.1+cu126", ["torch/version.py", "torch/lib/libtorch_cuda.so"]
    )
    return venv


def test_no_kernel_image_for_the_device(tools: Tools, pkgdoctor: Runner, tmp_path: Path) -> None:
    """sm_75 and sm_80 cubins, no PTX: nothing runs on a 12.0 device. PyTorch's CUDA 13.2
    build of 2.14 carries sm_120 and the driver runs it: the fix installs that one."""
    gencode = ["-gencode", "arch=compute_75,code=sm_75", "-gencode", "arch=compute_80,code=sm_80"]
    venv = _torch_with_kernels(tools, tmp_path, gencode)
    path = _snapshot(pkgdoctor, venv, tmp_path / "s.json.gz", gpu=RTX_5090)
    snapshot = json.loads(gzip.decompress(path.read_bytes()))
    (torch,) = snapshot["frameworks"]
    assert (torch["architectures"], torch["ptx"]) == (["sm_75", "sm_80"], [])
    (finding,) = [f for f in _gpu(pkgdoctor, path) if f["code"] == "gpu-arch-not-compiled"]
    assert finding["severity"] == "error"
    assert finding["message"] == (
        "torch 2.14.1+cu126 carries no GPU code for NVIDIA GeForce RTX 5090 (compute capability "
        '12.0): it was compiled for sm_75, sm_80. CUDA fails with "no kernel image is available '
        'for execution on the device".'
    )
    assert finding["command"] == (
        f"{venv.python} -m pip install torch==2.14.1+cu132 "
        "--index-url https://download.pytorch.org/whl/cu132"
    )


def test_ptx_is_jit_compiled_for_a_newer_device(
    tools: Tools, pkgdoctor: Runner, tmp_path: Path
) -> None:
    gencode = ["-gencode", "arch=compute_80,code=sm_80"]
    gencode += ["-gencode", "arch=compute_90,code=compute_90"]
    venv = _torch_with_kernels(tools, tmp_path, gencode)
    path = _snapshot(pkgdoctor, venv, tmp_path / "s.json.gz", gpu=RTX_5090)
    (finding,) = [f for f in _gpu(pkgdoctor, path) if f["code"] == "gpu-arch-not-compiled"]
    assert finding["severity"] == "info"
    assert "JIT-compiles its PTX (compute_90)" in finding["message"]
    # A device the cubins serve: nothing to say.
    ampere = {**RTX_5090, "devices": [{"name": "NVIDIA A10", "compute_capability": "8.6"}]}
    path = _snapshot(pkgdoctor, venv, tmp_path / "a10.json.gz", gpu=ampere)
    assert [f for f in _gpu(pkgdoctor, path) if f["code"] == "gpu-arch-not-compiled"] == []


# --- the real CUDA torch (2.14.1, CUDA 13.0; torchvision 0.29.1) on recorded nodes ---------

# A Pascal card (compute capability 6.1), as turboderp-org/exllamav2#786 recorded one beside
# torch 2.7.0+cu128's warning "Found GPU0 NVIDIA GeForce GTX 1080 Ti which is of cuda
# capability 6.1 ... The minimum cuda capability supported by this library is 7.5", here on
# a driver that runs CUDA 13.
PASCAL = {
    "driver_version": "580.82.07",
    "cuda_driver_version": "13.0",
    "devices": [{"name": "NVIDIA GeForce GTX 1080 Ti", "compute_capability": "6.1"}],
    "device_nodes": ["/dev/nvidia0", "/dev/nvidiactl"],
    "source": "recorded: turboderp-org/exllamav2#786, pytorch/test-infra#7159",
}


def test_real_cuda_torch_on_recorded_nodes(
    cuda_torch: Venv, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """The registry's torch 2.14.1 is the CUDA 13.0 build; its libtorch_cuda.so carries
    sm_75 ... sm_120 (torch.cuda.get_arch_list()). On PyTorch's CI fleet before its driver
    update (CUDA 12.8) it cannot start CUDA; on a Pascal card it has no kernel; on an RTX
    5090 it is right. Each fix installs the CUDA 12.6 build of the same release (with
    torchvision's), which the 12.8 driver runs and which carries sm_60."""
    python = str(cuda_torch.python)
    pins = "torch==2.14.1+cu126 torchvision==0.29.1+cu126"
    index = "--index-url https://download.pytorch.org/whl/cu126"

    old = _snapshot(pkgdoctor, cuda_torch, tmp_path / "old.json.gz", gpu=CUDA_12_8)
    snapshot = json.loads(gzip.decompress(old.read_bytes()))
    torch = next(b for b in snapshot["frameworks"] if b["distribution"] == "torch")
    assert torch["cuda"] == "13.0" and torch["gpu_build"] is True
    assert torch["architectures"] == ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    (too_old,) = [f for f in _gpu(pkgdoctor, old) if f["code"] == "gpu-driver-too-old"]
    assert too_old["severity"] == "error"
    assert too_old["message"].startswith(
        "torch 2.14.1 (CUDA 13.0), torchvision 0.29.1 (CUDA 13.0) cannot use this machine's GPU"
    )
    assert too_old["command"] == f"{python} -m pip install {pins} {index}"

    pascal = _snapshot(pkgdoctor, cuda_torch, tmp_path / "pascal.json.gz", gpu=PASCAL)
    (arch,) = [f for f in _gpu(pkgdoctor, pascal) if f["code"] == "gpu-arch-not-compiled"]
    assert arch["severity"] == "error" and "compute capability 6.1" in arch["message"]
    assert arch["command"] == f"{python} -m pip install {pins} {index}"

    # The node's driver has its library where ld.so.cache says: not missing, though this
    # machine's loader facts (recorded here, without a driver) did not find it.
    blackwell = _snapshot(pkgdoctor, cuda_torch, tmp_path / "5090.json.gz", gpu=RTX_5090)
    result = pkgdoctor("check", "--from", str(blackwell), "--json")
    serious = [f for f in result.json["findings"] if f["severity"] != "info"]
    assert serious == [] and result.status == 0, serious


_WATCH_FRAMEWORKS = """
import json, os, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(os.fsdecode(args[0]))
                 if event == "open" and args and isinstance(args[0], (str, bytes)) else None)
from pkgdoctor.look import frameworks
from pkgdoctor.snapshot.model import Distribution, Inventory
site = sys.argv[1]
dists = tuple(Distribution(name, "1.0", f"{site}/{name}-1.0.dist-info", site, site_real=site)
              for name in ("torch", "tensorflow", "onnxruntime-gpu"))
builds = frameworks.collect(Inventory(dists))
print(json.dumps({"builds": [[b.distribution, b.gpu_build, b.cuda, list(b.problems)]
                             for b in builds], "opened": opened}))
"""


def test_hostile_framework_files(tmp_path: Path) -> None:
    """A version.py that is a link out of the environment is not read (and said), a FIFO
    where a file should be does not block, a truncated GPU library is a problem, not a
    traceback: in bounded time, nothing opened outside the site directory."""
    site = tmp_path / "site"
    secret = tmp_path / "secret.py"
    secret.write_text("cuda = '99.9'\nhip = None\n")
    (site / "torch" / "lib").mkdir(parents=True)
    (site / "torch" / "version.py").symlink_to(secret)
    os.mkfifo(site / "torch" / "lib" / "libtorch_cuda.so")
    info = site / "tensorflow" / "python" / "platform" / "build_info.py"
    info.parent.mkdir(parents=True)
    os.mkfifo(info)
    capi = site / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "libonnxruntime_providers_cuda.so").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9)
    result = subprocess.run(
        [sys.executable, "-c", _WATCH_FRAMEWORKS, str(site)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    found = json.loads(result.stdout)
    torch, tensorflow, onnxruntime = found["builds"]
    assert torch[:3] == ["torch", None, None]  # the link's target is not believed
    assert torch[3][0].endswith("torch/version.py: leads outside the environment; not read")
    assert any("libtorch_cuda.so" in p for p in torch[3])  # a FIFO: not a GPU library
    assert tensorflow[:3] == ["tensorflow", None, None]
    assert onnxruntime[1:3] == [None, None] and onnxruntime[3]
    outside = [p for p in found["opened"] if p.startswith(str(tmp_path)) and str(site) not in p]
    assert outside == []


def test_the_bug_report_has_the_gpu_facts(
    cpu_torch: Venv, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """What collect_env is asked for, in the report's own block: driver, devices, device
    files, libcuda.so.1, the visibility variables, each framework's build."""
    node = {
        **H100_535,
        "devices": [{"name": "NVIDIA H100 PCIe", "compute_capability": "9.0"}] * 2,
        "device_nodes": ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl"],
        "visible": {"CUDA_VISIBLE_DEVICES": "1"},
    }
    path = _snapshot(pkgdoctor, cpu_torch, tmp_path / "s.json.gz", gpu=node)
    result = pkgdoctor("report", "--from", str(path))
    lines = result.out.splitlines()
    start = lines.index("GPU:")
    assert lines[start + 1 : start + 8] == [
        "driver                535.104.12 · recorded: collect_env, "
        "https://github.com/pytorch/pytorch/issues/110153",
        "devices               2 NVIDIA H100 PCIe (9.0)",
        "device files          /dev/nvidia0, /dev/nvidia1, /dev/nvidiactl",
        "libcuda.so.1          not in ld.so.cache",
        "CUDA_VISIBLE_DEVICES  '1'",
        "torch                 2.13.0+cpu · CPU only",
        "",
    ]
    markdown = pkgdoctor("report", "--from", str(path), "--markdown").out
    assert "#### GPU" in markdown
    # Nothing about GPUs where there is neither a driver nor a GPU framework.
    plain = make_venv(tmp_path / "plain")
    assert "GPU:" not in pkgdoctor("report", "--prefix", str(plain.prefix)).out


def test_diff_names_the_gpu_differences(cpu_torch: Venv, pkgdoctor: Runner, tmp_path: Path) -> None:
    """ "Works on the GPU node, not here": the drivers, the devices and the builds differ."""
    here = _snapshot(pkgdoctor, cpu_torch, tmp_path / "here.json.gz", gpu=DRIVER_450)
    node = _snapshot(
        pkgdoctor, cpu_torch, tmp_path / "node.json.gz", gpu=H100_535,
        frameworks=_cuda_torch(cpu_torch, "12.6"),
    )  # fmt: skip
    result = pkgdoctor("diff", str(here), str(node), "--json")
    changes = {(c["subject"], c["aspect"]): c for c in json.loads(result.out)["changes"]}
    assert changes["GPU", "NVIDIA driver"]["summary"] == (
        "NVIDIA driver: 450.51.05 in A, 535.104.12 in B"
    )
    assert changes["GPU", "GPUs"]["b"] == "NVIDIA H100 PCIe (9.0)"
    assert changes["torch", "GPU build"]["summary"] == (
        "torch: built for the CPU only in A, CUDA 12.6 in B"
    )
