"""GPU stacks judged from metadata (checks/gpu.py), on NVIDIA's real wheels from the registry.

`nvidia-cuda-runtime-cu11` and `-cu12` are small (1 and 3.5 MB): both in one venv is the
issue's own example (before: "No problems found"; then a dist-clobber that kept cu11 for no
reason).
"""

from __future__ import annotations

import os
from pathlib import Path

from artefacts import Wheelhouse, compile_extension, make_venv, run, write_dist_info
from conftest import Runner

CU11 = "nvidia-cuda-runtime-cu11==11.8.89"
CU12 = "nvidia-cuda-runtime-cu12==12.9.79"


def _offline(wheelhouse: Wheelhouse) -> dict[str, str]:
    """pip, as the fix runs it, finds the wheels the test fetched and nothing else."""
    links = " ".join(str(wheelhouse.fetch(spec)) for spec in (CU11, CU12))
    return {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": links,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # fmt: skip


def test_cu11_and_cu12_runtime_wheels_together(
    wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    venv = make_venv(tmp_path / "env")
    run([str(venv.python), "-m", "ensurepip"])
    wheelhouse.install(venv, CU11)
    wheelhouse.install(venv, CU12)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert "dist-clobber" not in result.codes()  # folded: its cause is the mixed majors
    (finding,) = [f for f in result.json["findings"] if f["code"] == "gpu-cuda-mixed-majors"]
    assert finding["severity"] == "error"  # their headers overwrote each other
    evidence = finding["evidence"]
    assert evidence["majors"] == {
        "11": ["nvidia-cuda-runtime-cu11 11.8.89"],
        "12": ["nvidia-cuda-runtime-cu12 12.9.79"],
    }
    assert evidence["keep"] == "12"
    (clobbered,) = evidence["clobbered"]
    assert clobbered.startswith(
        "nvidia-cuda-runtime-cu11 11.8.89 and nvidia-cuda-runtime-cu12 12.9.79: "
    )
    # The fix keeps cu12 (nothing asks for either: the newest) and puts back the files the
    # uninstall of cu11 takes from it.
    assert "uninstall -y nvidia-cuda-runtime-cu11" in finding["command"]
    run(["sh", "-c", finding["command"]], env=_offline(wheelhouse))
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    # (ensurepip's setuptools brings distutils-precedence.pth: a note, nothing else)
    assert [f["code"] for f in after.json["findings"] if f["severity"] != "info"] == []
    lib = venv.site_packages / "nvidia/cuda_runtime"
    assert (lib / "lib/libcudart.so.12").exists()
    assert (lib / "include/cuda_runtime.h").exists()


def test_the_major_a_framework_asks_for_is_kept(
    wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """A framework requiring the cu11 runtime (as torch 1.13 did): cu12's wheel goes."""
    venv = make_venv(tmp_path / "env")
    run([str(venv.python), "-m", "ensurepip"])
    wheelhouse.install(venv, CU11)
    wheelhouse.install(venv, CU12)
    framework = write_dist_info(venv.site_packages, "oldframework", "1.0", [])
    metadata = framework / "METADATA"
    metadata.write_text(metadata.read_text().rstrip("\n") +
                        "\nRequires-Dist: nvidia-cuda-runtime-cu11==11.8.89\n\n")  # fmt: skip
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "gpu-cuda-mixed-majors"]
    assert finding["evidence"]["keep"] == "11"
    assert finding["evidence"]["needed_by"] == {"11": ["oldframework"]}
    assert "uninstall -y nvidia-cuda-runtime-cu12" in finding["command"]
    run(["sh", "-c", finding["command"]], env=_offline(wheelhouse))
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert [f["code"] for f in after.json["findings"] if f["severity"] != "info"] == []
    assert (venv.site_packages / "nvidia/cuda_runtime/lib/libcudart.so.11.0").exists()


def test_which_library_each_build_loads(
    wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """torch +cu121 beside cupy-cuda11x (gcc-built extension modules, each linked to its
    major's libcudart through the wheels' directory, as their builds are): the finding says
    which file each one's import will load."""
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, CU11)
    wheelhouse.install(venv, CU12)
    site = venv.site_packages
    runtime = site / "nvidia/cuda_runtime/lib"
    built = {}
    for package, dist, version, soname in (
        ("torch", "torch", "2.5.1+cu121", "libcudart.so.12"),
        ("cupy", "cupy-cuda11x", "13.3.0", "libcudart.so.11.0"),
    ):
        module = compile_extension(
            site / package,
            "_core",
            link=[
                f"-L{runtime}",
                f"-l:{soname}",
                "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../nvidia/cuda_runtime/lib",
            ],
        )
        write_dist_info(site, dist, version, [str(module.relative_to(site))])
        built[dist] = f"{soname} → {runtime / soname}"
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "gpu-cuda-mixed-majors"]
    assert finding["evidence"]["loads"] == {name: [line] for name, line in built.items()}
    assert finding["evidence"]["needed_by"] == {"11": ["cupy-cuda11x"], "12": ["torch"]}
    assert finding["command"] is None  # two frameworks, two majors: the user chooses
