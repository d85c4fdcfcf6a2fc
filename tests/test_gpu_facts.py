"""The machine's NVIDIA driver and devices as facts (look/gpu.py), from the files the driver
writes, in the layouts real drivers use (from public bug reports: the proprietary and the open
kernel modules, a Jetson), and a snapshot recorded on (or edited to describe) a GPU node.

No test machine has an NVIDIA driver: the driver's files are laid out under a root directory
the test makes, the way they are under / on a GPU node.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest

from artefacts import make_venv
from conftest import Runner
from pkgdoctor.look import gpu
from pkgdoctor.snapshot.codec import from_json, to_json
from pkgdoctor.snapshot.model import GpuFacts
from pkgdoctor.target import static
from pkgdoctor.target.facts import Target

# /proc/driver/nvidia/gpus/<bus>/information of an H100 (driver 550), as it reads.
INFORMATION = """Model: \t\t NVIDIA H100 80GB HBM3
IRQ:   \t\t 0
GPU UUID: \t GPU-7b3a1c55-2b8e-1d1f-9c8f-2f5e7d7f1a10
Video BIOS: \t 96.00.74.00.0d
Bus Type: \t PCIe
DMA Size: \t 52 bits
DMA Mask: \t 0xfffffffffffff
Bus Location: \t 0000:19:00.0
Device Minor: \t 0
GPU Firmware: \t 550.54.15
GPU Excluded:\t No
"""
NVRM = {
    "proprietary": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 "
    "22:23:56 UTC 2024\nGCC version:  gcc version 12.3.0\n",
    "open": "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release Build"
    "  (dvs-builder@U16-A24-9-2)  Thu Oct 10 12:15:00 UTC 2024\nGCC version:  gcc 13.3.0\n",
}


def _node(root: Path, *, sys_version: str | None, nvrm: str | None) -> Path:
    if sys_version is not None:
        (root / "sys/module/nvidia").mkdir(parents=True)
        (root / "sys/module/nvidia/version").write_text(sys_version + "\n")
    if nvrm is not None:
        (root / "proc/driver/nvidia").mkdir(parents=True, exist_ok=True)
        (root / "proc/driver/nvidia/version").write_text(nvrm)
    device = root / "proc/driver/nvidia/gpus/0000:19:00.0"
    device.mkdir(parents=True)
    (device / "information").write_text(INFORMATION)
    (root / "dev").mkdir()
    for name in ("nvidiactl", "nvidia0", "nvidia-uvm", "null"):
        (root / "dev" / name).touch()
    return root


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    venv = make_venv(tmp_path_factory.mktemp("gpu") / "env")
    return static.read_static(str(venv.prefix), "test")


@pytest.mark.parametrize("layout", ["sys", "proprietary", "open"])
def test_a_gpu_nodes_driver_files(target: Target, tmp_path: Path, layout: str) -> None:
    root = _node(
        tmp_path,
        sys_version="550.54.15" if layout == "sys" else None,
        nvrm=None if layout == "sys" else NVRM[layout],
    )
    facts = gpu.collect(
        target, root=str(root), environ={"CUDA_VISIBLE_DEVICES": ""}, run_nvidia_smi=False
    )
    assert facts is not None
    assert facts.driver_version == {"sys": "550.54.15", "open": "565.57.01"}.get(
        layout, "550.54.15"
    )
    (device,) = facts.devices
    assert device.name == "NVIDIA H100 80GB HBM3"
    assert device.uuid == "GPU-7b3a1c55-2b8e-1d1f-9c8f-2f5e7d7f1a10"
    assert device.bus == "0000:19:00.0"
    assert device.compute_capability is None  # only nvidia-smi says it
    assert facts.device_nodes == ("/dev/nvidia-uvm", "/dev/nvidia0", "/dev/nvidiactl")
    assert facts.visible == {"CUDA_VISIBLE_DEVICES": ""}  # set to nothing: no device visible
    assert facts.cuda_driver_version is None and facts.libcuda is None
    assert facts.source.startswith(
        "/sys/module/nvidia/version" if layout == "sys" else "/proc/driver/nvidia/version"
    )


def test_no_driver_and_another_machines_tree(target: Target, tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    facts = gpu.collect(target, root=str(tmp_path), environ={}, run_nvidia_smi=False)
    assert facts == GpuFacts(source="")
    elsewhere = dataclasses.replace(target, system_is_host=False)
    assert gpu.collect(elsewhere, root=str(tmp_path), environ={}) is None


def test_a_snapshot_edited_to_describe_a_gpu_node(pkgdoctor: Runner, tmp_path: Path) -> None:
    """The issue's contract: a snapshot whose gpu section says driver, CUDA version and
    devices is read as that node (so that it is judged like it)."""
    venv = make_venv(tmp_path / "env")
    path = tmp_path / "snap.json.gz"
    assert pkgdoctor("snapshot", "--prefix", str(venv.prefix), "-o", str(path)).status == 0
    document = json.loads(gzip.decompress(path.read_bytes()))
    document["gpu"] = {
        "driver_version": "550.54.15",
        "cuda_driver_version": "12.4",
        "devices": [{"name": "NVIDIA H200", "compute_capability": "9.0"}],
        "source": "nvidia-smi on a GPU node (recorded by hand)",
    }
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    snapshot = from_json(json.loads(gzip.decompress(path.read_bytes())))
    assert snapshot.gpu is not None
    assert snapshot.gpu.cuda_driver_version == "12.4"
    assert snapshot.gpu.devices[0].compute_capability == "9.0"
    assert from_json(to_json(snapshot)) == snapshot
    assert pkgdoctor("check", "--from", str(path), "--json").status == 0


@pytest.mark.parametrize(
    ("marker", "environ", "expected"),
    [
        (".dockerenv", {}, "/.dockerenv"),
        ("run/.containerenv", {}, "/run/.containerenv"),
        (None, {"container": "podman"}, "container=podman"),
        ("proc/1/cgroup", {}, "/proc/1/cgroup: kubepods"),
        (None, {}, None),
    ],
)
def test_what_marks_a_container(
    tmp_path: Path, marker: str | None, environ: dict[str, str], expected: str | None
) -> None:
    """The marks the container engines leave (Docker, Podman, systemd's container variable,
    a Kubernetes pod's cgroup); a host has none."""
    if marker is not None:
        (tmp_path / marker).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / marker).write_text("0::/kubepods/burstable/pod1234/abcd\n")
    assert gpu.container(str(tmp_path), environ) == expected
