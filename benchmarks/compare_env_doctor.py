#!/usr/bin/env python3
"""``pkgdoctor check`` beside ``env-doctor check --json`` on the same GPU-stack environments.

Issue 12 asks for a side-by-side comparison with env-doctor (https://pypi.org/project/env-doctor/,
MIT) and, in the closing note, where each tool is right. This script builds every scenario for
real, runs both tools on it with bounded time, measures what the environment really does (the
ground truth: ``import torch``, ``torch.cuda.is_available()``, which CUDA libraries the loader
mapped) and prints one table. Run it by hand (CI only lints it)::

    .venv-test/bin/python benchmarks/compare_env_doctor.py --cuda-env /tmp/gpuenv
    .venv-test/bin/python benchmarks/compare_env_doctor.py --pkgdoctor PATH/TO/bin/pkgdoctor
    .venv-test/bin/python benchmarks/compare_env_doctor.py --only b,c --markdown docs/env-doctor.md

How each tool sees a scenario:

* **env-doctor** examines the interpreter it runs in: it imports torch, tensorflow and jax
  in-process. So it runs with the scenario's ``bin/python`` and env-doctor's own
  site-packages appended to ``sys.path`` (after the scenario's, so the scenario's packages
  win): the same as ``pip install env-doctor`` into the scenario, without changing it. It reads
  the driver live (pynvml, else ``nvidia-smi``), so "a GPU node" is a fake ``nvidia-smi``
  first on ``PATH`` that prints a real recorded output (URLs below). Its ``HOME`` is a
  directory of the work tree, seeded with its bundled tables, so that it neither writes to
  your home nor fetches newer tables from GitHub in the middle of a comparison.
* **pkgdoctor** checks the scenario live (``check --python ENV/bin/python --json``) on this
  machine; for a GPU node it takes a snapshot, puts the same recorded facts in the snapshot's
  ``gpu`` section and judges that (``check --from``), as issue 12 prescribes.

Both run with ``PYTHONPYCACHEPREFIX`` in the work directory, so no scenario (and no
``--cuda-env`` given read-only) gets bytecode written into it. Everything built goes to
``benchmarks/.work/env-doctor/`` (git-ignored) and is reused while its marker matches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_WORK = HERE / ".work" / "env-doctor"  # git-ignored
ENV_DOCTOR = "env-doctor==0.3.5"  # what issue 12's comparison was first run against
# Every environment uses one interpreter version: env-doctor's compiled dependencies
# (pydantic-core, cffi, rpds-py) are loaded into each scenario's interpreter.
PYTHON = "python3.11"
CPU_TORCH = "torch==2.13.0+cpu"  # the machine's pip.conf finds it in /opt/wheels
CUDA_TORCH = ("torch==2.14.1", "torchvision==0.29.1")  # the CUDA 13.0 build on PyPI
MIXED = ("nvidia-cuda-runtime-cu11==11.8.89", "nvidia-cuda-runtime-cu12==12.9.79")
SYSTEM_CUDA = "/usr/local/cuda-13.0/lib"  # a real system CUDA on the development machines
BUILD_TIMEOUT = 1800.0
MARKER = "compare-env-doctor-marker.json"
RESULTS_BEGIN = "<!-- compare_env_doctor results: begin -->"
RESULTS_END = "<!-- compare_env_doctor results: end -->"


class HarnessError(Exception):
    """Something the comparison needs could not be built (not a verdict of either tool)."""


# --- recorded GPU nodes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A GPU machine as ``nvidia-smi`` described it in a public bug report."""

    key: str
    url: str
    driver_version: str
    cuda_driver_version: str  # the header's "CUDA Version:", what the driver supports
    devices: tuple[tuple[str, str, int], ...]  # (name, compute capability, memory MiB)
    header: str  # the recorded plain `nvidia-smi` output, verbatim up to where the quote ends
    query_supported: bool  # does this nvidia-smi know --query-gpu=compute_cap?


# Compute capabilities: NVIDIA's list, https://developer.nvidia.com/cuda-gpus (H100 9.0,
# A10G 8.6); nvidia-smi's header does not print them.
HEADER_595 = """\
Fri Jul  3 08:33:38 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 595.80                 Driver Version: 595.80         CUDA Version: 13.2     |
+-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|                                         |                        |               MIG M. |
|=========================================+========================+======================|
|   0  NVIDIA L40S                    Off |   00000000:01:00.0 Off |                    0 |
| N/A   64C    P0            242W /  350W |       0MiB /  46068MiB |    100%      Default |
|                                         |                        |                  N/A |
+-----------------------------------------+------------------------+----------------------+

+-----------------------------------------------------------------------------------------+
| Processes:                                                                              |
|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |
|        ID   ID                                                               Usage      |
|=========================================================================================|
|  No running processes found                                                             |
+-----------------------------------------------------------------------------------------+


################################################################################
"""
NODE_550 = Node(
    key="550",
    url="https://github.com/wilicc/gpu-burn/issues/114",
    driver_version="550.90.07",
    cuda_driver_version="12.4",
    devices=(("NVIDIA H100 80GB HBM3", "9.0", 81559), ("NVIDIA H100 80GB HBM3", "9.0", 81559)),
    header="""\
Fri Oct 25 11:21:22 2024
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.90.07              Driver Version: 550.90.07      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|                                         |                        |               MIG M. |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:19:00.0 Off |                    0 |
| N/A   39C    P0            145W /  700W |   72790MiB /  81559MiB |      0%      Default |
|                                         |                        |             Disabled |
+-----------------------------------------+------------------------+----------------------+
|   1  NVIDIA H100 80GB HBM3          On  |   00000000:3B:00.0 Off |                    0 |
| N/A   32C    P0            140W /  700W |   72790MiB /  81559MiB |      4%      Default |
|                                         |                        |             Disabled |
+-----------------------------------------+------------------------+----------------------+
""",
    query_supported=True,
)
NODE_470 = Node(
    key="470",
    url="https://github.com/bottlerocket-os/bottlerocket-core-kit/pull/122",
    driver_version="470.256.02",
    cuda_driver_version="11.4",
    devices=(("NVIDIA A10G", "8.6", 22731),),
    header="""\
Tue Sep  3 23:10:20 2024
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 470.256.02   Driver Version: 470.256.02   CUDA Version: 11.4     |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|                               |                      |               MIG M. |
|===============================+======================+======================|
|   0  NVIDIA A10G         On   | 00000000:00:1E.0 Off |                    0 |
|  0%   25C    P8     9W / 300W |      0MiB / 22731MiB |      0%      Default |
|                               |                      |                  N/A |
+-------------------------------+----------------------+----------------------+
""",
    # nvidia-smi 470.x answers `--query-gpu=...,compute_cap` with this line and exit status 2:
    # huggingface/candle#733 (v470.182.03), canonical/inference-snaps#89 and #128.
    query_supported=False,
)
# A complete capture (plain output and --query-gpu with compute_cap), MIT-licensed test data of
# nvidia_gpu_exporter. An Ada GPU (8.9): PyTorch's cu130 wheels carry sm_86 cubins but none for
# sm_89, which run there by CUDA's binary compatibility (a cubin for X.y runs on X.z, z >= y:
# CUDA C++ Programming Guide, "Binary Compatibility").
NODE_595 = Node(
    key="595",
    url="https://github.com/utkuozdemir/nvidia_gpu_exporter/blob/"
    "0eee0d3187e2f014f1ba6736fd729a195e13a8c8/internal/captures/"
    "linux-x86_64__nvidia-l40s__595.80.txt",
    driver_version="595.80",
    cuda_driver_version="13.2",
    devices=(("NVIDIA L40S", "8.9", 46068),),
    header=HEADER_595,
    query_supported=True,
)
UNKNOWN_FIELD = 'Field "compute_cap" is not a valid field to query.\n\n'


def fake_nvidia_smi(work: Path, node: Node) -> Path:
    """A directory holding an ``nvidia-smi`` that answers as the recorded node did."""
    directory = work / f"node-{node.key}" / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    query = "".join(
        f"{i}, {name}, {mib} MiB, {cc}\n" for i, (name, cc, mib) in enumerate(node.devices)
    )
    query_branch = (
        f"cat <<'EOF'\n{query}EOF\n"
        if node.query_supported
        else f"printf '%s' {shell_quote(UNKNOWN_FIELD)}\nexit 2\n"
    )
    script = (
        "#!/bin/sh\n"
        f"# Replays the nvidia-smi recorded in {node.url} (compare_env_doctor.py).\n"
        'case "$*" in\n'
        f"*--query-gpu*)\n{query_branch};;\n"
        f"*)\ncat <<'EOF'\n{node.header}EOF\n;;\n"
        "esac\n"
    )
    program = directory / "nvidia-smi"
    program.write_text(script)
    program.chmod(0o755)
    return directory


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def node_gpu_section(node: Node) -> dict[str, Any]:
    """The snapshot's ``gpu`` section for a recorded node (src/pkgdoctor/snapshot/model.py)."""
    return {
        "driver_version": node.driver_version,
        "cuda_driver_version": node.cuda_driver_version,
        "devices": [
            {"name": name, "compute_capability": cc, "uuid": None, "bus": None}
            for name, cc, _ in node.devices
        ],
        "source": f"recorded: {node.url}",
        "device_nodes": ["/dev/nvidiactl"] + [f"/dev/nvidia{i}" for i in range(len(node.devices))],
        "visible": {},
        "libcuda": "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
        "problems": [],
    }


# --- running things -------------------------------------------------------------------------


@dataclass
class Run:
    argv: list[str]
    returncode: int | None  # None: killed at the timeout
    seconds: float
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def last_line(self) -> str:
        lines = (self.stderr or self.stdout).strip().splitlines()
        return lines[-1][:160] if lines else ""


def run(
    argv: Sequence[str], env: Mapping[str, str], timeout: float, cwd: Path | None = None
) -> Run:
    """Run ``argv`` in its own session; at ``timeout`` kill the whole group."""
    start = time.monotonic()
    try:
        child = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as error:
        return Run(list(argv), 127, 0.0, "", f"cannot start {argv[0]}: {error}")
    try:
        out, err = child.communicate(timeout=timeout)
        code: int | None = child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the group this call started
        out, err = child.communicate()
        code = None
    return Run(
        list(argv),
        code,
        time.monotonic() - start,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )


def must(argv: Sequence[str], env: Mapping[str, str], what: str) -> Run:
    result = run(argv, env, BUILD_TIMEOUT)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise HarnessError(f"{what} failed ({' '.join(argv)}):\n{tail}")
    return result


def base_environ(work: Path) -> dict[str, str]:
    """The environment every tool runs in: no CUDA variables of the caller's, cached
    bytecode kept in the work tree (never written into a scenario)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "LD_LIBRARY_PATH",
            "LD_PRELOAD",
            "CUDA_HOME",
            "CUDA_PATH",
            "CUDA_VISIBLE_DEVICES",
            "NVIDIA_VISIBLE_DEVICES",
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONDONTWRITEBYTECODE",
            "VIRTUAL_ENV",
        }
    }
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    return env


def site_packages(prefix: Path) -> Path:
    found = sorted((prefix / "lib").glob("python3*/site-packages"))
    if not found:
        raise HarnessError(f"{prefix} has no lib/python3*/site-packages")
    return found[0]


# --- building the environments --------------------------------------------------------------


def build_venv(
    work: Path, name: str, installs: Sequence[Sequence[str]], rebuild: bool, env: dict[str, str]
) -> Path:
    """A venv at ``work/name`` with each pip command of ``installs`` run in turn."""
    prefix = work / name
    marker = prefix / MARKER
    wanted = json.dumps({"python": PYTHON, "installs": [list(i) for i in installs]})
    if not rebuild and marker.exists() and marker.read_text() == wanted:
        return prefix
    if prefix.exists():
        shutil.rmtree(prefix)
    start = time.monotonic()
    print(f"building {prefix} ...", file=sys.stderr, flush=True)
    must([PYTHON, "-m", "venv", str(prefix)], env, f"creating the venv {name}")
    for args in installs:
        must(
            [str(prefix / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", *args],
            env,
            f"pip install into {name}",
        )
    marker.write_text(wanted)
    print(f"  built in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    return prefix


def torch_runtime_requirements(cuda_env: Path) -> list[str]:
    """torch's own requirements minus the CUDA ones (nvidia-*, cuda-*, triton): what a
    ``pip install --no-deps torch`` followed by the pure-Python dependencies leaves."""
    from packaging.requirements import Requirement

    meta = next(site_packages(cuda_env).glob("torch-*.dist-info/METADATA"), None)
    if meta is None:
        raise HarnessError(f"{cuda_env} has no torch distribution")
    keep = []
    for line in meta.read_text(encoding="utf-8").splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.name.startswith(("nvidia-", "cuda-", "triton")):
            continue
        keep.append(str(req))
    return keep


def torch_version(prefix: Path) -> str:
    meta = next(site_packages(prefix).glob("torch-*.dist-info"), None)
    if meta is None:
        raise HarnessError(f"{prefix} has no torch distribution")
    return meta.name[len("torch-") : -len(".dist-info")]


STUB_C = "int pkgdoctor_compare_stub(void) { return 0; }\n"
# The sonames a foreign "system CUDA" shadows in pytorch/pytorch#111469 (nvJitLink, needed by
# libcusparse, which has no RPATH or RUNPATH) and the runtime every CUDA library needs.
STUB_SONAMES = ("libcudart.so.13", "libnvJitLink.so.13")


def broken_system_cuda(work: Path, env: dict[str, str]) -> Path:
    """A directory of gcc-built libraries with CUDA's sonames that define none of CUDA's
    symbols: a stale or foreign system copy, made without NVIDIA's files."""
    directory = work / "shadow-cuda" / "lib64"
    directory.mkdir(parents=True, exist_ok=True)
    source = directory.parent / "stub.c"
    source.write_text(STUB_C)
    for soname in STUB_SONAMES:
        if not (directory / soname).exists():
            must(
                [
                    "gcc",
                    "-shared",
                    "-fPIC",
                    f"-Wl,-soname,{soname}",
                    "-o",
                    str(directory / soname),
                    str(source),
                ],
                env,
                f"gcc (the stub {soname})",
            )
    return directory


# --- the scenarios --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    env: str  # "cpu", "cuda", "nodeps", "mixed"
    node: Node | None  # a recorded GPU node, or None: this machine (no GPU, no driver)
    # Does the environment really have a problem a checker should report? None: decided by
    # the ground truth (import fails, or a CUDA library is mapped from outside the env).
    problem: bool | None
    truth_note: str  # what the rules say beyond what can be measured here
    pkgdoctor_codes: tuple[str, ...]  # codes that name the problem (issue 12)
    env_doctor_hit: str  # regex over env-doctor's issues/recommendations/text that names it
    ld_library_path: str | None = None


SCENARIOS = (
    Scenario(
        "a",
        "CPU torch, CPU machine (healthy)",
        "cpu",
        None,
        False,
        "A CPU build on a machine without GPU: nothing to fix.",
        (),
        r"$^",
    ),
    Scenario(
        "b",
        f"CPU-only torch on a GPU node (driver {NODE_550.driver_version}, CUDA 12.4, H100)",
        "cpu",
        NODE_550,
        True,
        "A CPU build (torch.version.cuda is None) never sees a GPU: torch.cuda.is_available()"
        " is False on that node whatever its driver. Fix: the cu124 (or older) index.",
        ("gpu-cpu-only-build",),
        r"(?i)cpu[- ]only|\+cpu|not compiled with cuda|cpu build",
    ),
    Scenario(
        "c",
        f"CUDA torch (cu130) on an old driver ({NODE_470.driver_version}, CUDA 11.4, A10G)",
        "cuda",
        NODE_470,
        True,
        "CUDA 13.x needs driver >= 580 (CUDA 13.0 release notes, table 3); 470 is older:"
        " is_available() False, 'The NVIDIA driver on your system is too old'.",
        ("gpu-driver-too-old",),
        r"(?i)torch.*(uses cuda|conflict)|driver.*too old|CRITICAL CONFLICT",
    ),
    Scenario(
        "d",
        "CUDA torch, no NVIDIA driver (this machine)",
        "cuda",
        None,
        False,
        "A complete CUDA build imports and runs on the CPU; CUDA is unavailable only because"
        " the machine has no driver (issue 12: info, not error).",
        ("gpu-no-driver",),
        r"$^",
    ),
    Scenario(
        "e",
        "nvidia-cuda-runtime-cu11 + -cu12 side by side",
        "mixed",
        None,
        True,
        "Both wheels install nvidia/cuda_runtime/ (shared files overwritten; uninstalling one"
        " deletes files of the other): measured below.",
        ("gpu-cuda-mixed-majors",),
        r"(?i)cu11.*cu12|cu12.*cu11|mixed|two cuda",
    ),
    Scenario(
        "f",
        "CUDA torch installed with --no-deps (no nvidia-* wheels)",
        "nodeps",
        None,
        True,
        "import torch fails: its CUDA libraries are not installed.",
        ("gpu-missing-cuda-libs",),
        r"(?i)failed to (import|load)|libcu\w*\.so|nvidia-",
    ),
    Scenario(
        "g",
        f"CUDA torch, system CUDA on LD_LIBRARY_PATH ({SYSTEM_CUDA})",
        "cuda",
        None,
        None,
        "The system copies (libcudart.so.13, libcupti.so.13) are byte-identical to the wheels'"
        " (13.0.96). The loader model says LD_LIBRARY_PATH comes first, but torch's libraries"
        " carry DT_RPATH (searched before LD_LIBRARY_PATH; DT_RUNPATH would come after) and"
        " torch preloads the wheels' libraries by path (torch/__init__.py, _load_global_deps).",
        ("gpu-system-cuda-shadows",),
        r"(?i)shadow|LD_LIBRARY_PATH.*(conflict|override)",
        ld_library_path=SYSTEM_CUDA,
    ),
    Scenario(
        "h",
        "CUDA torch, foreign libcudart.so.13 + libnvJitLink.so.13 (no CUDA symbols) on"
        " LD_LIBRARY_PATH",
        "cuda",
        None,
        None,
        "Stubs built with gcc. libcusparse needs libnvJitLink.so.13 and has neither RPATH nor"
        " RUNPATH (pytorch/pytorch#111469, #138460): a plain loader model picks the stub; torch"
        " preloads the wheel's copy by path first.",
        ("gpu-system-cuda-shadows",),
        r"(?i)shadow|failed to (import|load)|undefined symbol",
        ld_library_path="<shadow>",
    ),
    Scenario(
        "i",
        f"CUDA torch (cu130) on a current driver ({NODE_595.driver_version}, CUDA 13.2, L40S"
        " 8.9) (healthy)",
        "cuda",
        NODE_595,
        False,
        "Driver 595 >= 580. The build has no sm_89 but sm_86 cubins, which an 8.9 device runs"
        " (binary compatibility within a major; torch's own _check_capability accepts any sm"
        " of the device's major): CUDA works on that node.",
        ("gpu-arch-not-compiled", "gpu-driver-too-old"),
        r"$^",
    ),
)


# --- ground truth ---------------------------------------------------------------------------

TRUTH_PROBE = r"""
import json, sys, warnings
out = {}
def mapped():
    keep = ("libcuda.", "libcudart", "libcublas", "libcudnn.", "libnvJitLink", "libcupti")
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip().rsplit("/", 1)[-1].startswith(keep):
                found.add(parts[5].strip())
    return sorted(found)
try:
    import torch
except BaseException as error:
    out["import"] = "%s: %s" % (type(error).__name__, str(error)[:300])
else:
    out["import"] = "ok"
    out["version"] = torch.__version__
    out["cuda_build"] = torch.version.cuda
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["cuda_available"] = bool(torch.cuda.is_available())
    out["cuda_warning"] = " ".join(str(w.message) for w in caught)[:300]
out["mapped"] = mapped()
print(json.dumps(out))
"""


def ground_truth(python: Path, env: Mapping[str, str], timeout: float) -> dict[str, Any]:
    result = run([str(python), "-c", TRUTH_PROBE], env, timeout)
    if result.timed_out:
        return {"import": f"probe killed at {timeout:g} s"}
    try:
        answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"import": f"probe crashed (exit {result.returncode}): {result.last_line()}"}
    return answer


def mixed_truth(prefix: Path, work: Path, env: dict[str, str]) -> str:
    """What two CUDA majors of one NVIDIA wheel do to each other: the files both RECORDs
    claim, and what uninstalling the cu11 wheel (in a copy) leaves of the cu12 one."""
    site = site_packages(prefix)
    records: dict[str, set[str]] = {}
    for dist in site.glob("nvidia_cuda_runtime_cu1*.dist-info"):
        rows = (dist / "RECORD").read_text(encoding="utf-8").splitlines()
        records[dist.name] = {r.split(",", 1)[0] for r in rows if ".dist-info/" not in r}
    if len(records) != 2:
        return f"expected two nvidia-cuda-runtime wheels, found {sorted(records)}"
    first, second = records.values()
    shared = sorted(first & second)
    copy = work / "mixed-copy"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(prefix, copy, symlinks=True)
    copy_site = site_packages(copy)
    cu12 = next(d for d in records if "cu12" in d)
    must(
        [
            str(copy / "bin" / "python"),
            "-m",
            "pip",
            "uninstall",
            "-q",
            "-y",
            MIXED[0].split("=")[0],
        ],
        env,
        "pip uninstall (in the copy)",
    )
    lost = sorted(p for p in records[cu12] if not (copy_site / p).exists())
    loads = run(
        [str(copy / "bin" / "python"), "-c", "import nvidia.cuda_runtime"], base_environ(work), 60
    )
    shutil.rmtree(copy)
    kinds = sorted({p.rsplit("/", 2)[-2] if p.count("/") >= 2 else p for p in lost})
    return (
        f"both RECORDs claim {len(shared)} files (headers, nvidia/cuda_runtime/__init__.py);"
        f" each library keeps its own soname (libcudart.so.11.0, libcudart.so.12)."
        f" Uninstalling the cu11 wheel (in a copy) deletes {len(lost)} files of the cu12 one"
        f" ({', '.join(kinds)})"
        + (
            "; `import nvidia.cuda_runtime` still works"
            if loads.returncode == 0
            else f"; `import nvidia.cuda_runtime` then fails: {loads.last_line()}"
        )
    )


def truth_problem(truth: Mapping[str, Any], prefix: Path) -> bool:
    """Import fails, or a CUDA library was mapped from outside the environment."""
    if truth.get("import") != "ok":
        return True
    inside = str(prefix.resolve()) + os.sep
    mapped = [p for p in truth.get("mapped", []) if not p.rsplit("/", 1)[-1].startswith("libcuda.")]
    return any(not os.path.realpath(p).startswith(inside) for p in mapped)


def describe_truth(truth: Mapping[str, Any], prefix: Path) -> str:
    if truth.get("import") != "ok":
        text = str(truth.get("import", "?"))
        return "import torch: " + (
            "not installed"
            if text.startswith("ModuleNotFoundError: No module named 'torch'")
            else text[:140]
        )
    parts = [f"import ok ({truth.get('version')}, CUDA build {truth.get('cuda_build')})"]
    parts.append(f"is_available()={truth.get('cuda_available')}")
    warning = str(truth.get("cuda_warning") or "")
    if warning:
        parts.append(f"warning: {warning[:90]}")
    mapped = truth.get("mapped", [])
    site = str(site_packages(prefix))
    dirs = sorted({p.rsplit("/", 1)[0].replace(site, "ENV-site") for p in mapped})
    if dirs:
        parts.append(f"{len(mapped)} CUDA libraries mapped, from " + ", ".join(dirs))
    return "; ".join(parts)


# --- the tools ------------------------------------------------------------------------------


@dataclass
class Verdict:
    tool: str
    exit: str  # exit status, or what went wrong
    seconds: float
    summary: str  # what the tool said, short
    items: list[str] = field(default_factory=list)  # every issue / finding, one line each
    crashed: bool = False
    worst: str = "none"  # error, warning, info, none (as the tool grades it)


ENV_DOCTOR_BOOT = (
    "import sys; sys.path.append({site!r}); sys.argv[0] = 'env-doctor'; "
    "from env_doctor.cli import main; sys.exit(main())"
)


def seed_env_doctor_home(home: Path, site: Path) -> None:
    """env-doctor's tables as its wheel ships them, as a fresh cache (db.py: ~/.env_doctor_
    cache.json, 24 h): no download from GitHub in the middle of a comparison."""
    home.mkdir(parents=True, exist_ok=True)
    data = site / "env_doctor" / "data"
    for bundled, cache in (
        ("compatibility.json", ".env_doctor_cache.json"),
        ("inference_engines.json", ".env_doctor_engines_cache.json"),
    ):
        if (data / bundled).exists():
            shutil.copyfile(data / bundled, home / cache)


def run_env_doctor(
    python: Path, site: Path, env: dict[str, str], timeout: float
) -> tuple[Verdict, str]:
    boot = ENV_DOCTOR_BOOT.format(site=str(site))
    result = run([str(python), "-c", boot, "check", "--json"], env, timeout)
    text = run([str(python), "-c", boot, "check"], env, timeout)
    said = [
        line.strip()
        for line in text.stdout.splitlines()
        if line.strip().startswith(("❌", "⚠"))  # its text mode marks verdicts so
    ]
    if text.timed_out or "Traceback (most recent call last)" in text.stderr:
        said.append(f"(text mode crashed: {text.last_line()})")
    flagged = "\n".join(said)
    if result.timed_out:
        return Verdict(
            "env-doctor", f"killed at {timeout:g} s", result.seconds, "", crashed=True
        ), ""
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        return (
            Verdict(
                "env-doctor",
                f"{result.returncode} (crashed)",
                result.seconds,
                result.last_line(),
                crashed=True,
            ),
            flagged,
        )
    items = []
    checks = doc.get("checks", {})
    driver = checks.get("driver") or {}
    torch = (checks.get("libraries") or {}).get("torch") or {}
    for name, check in checks.items():
        for one in _env_doctor_results(name, check):
            if one.get("issues"):
                issues = "; ".join(one["issues"])
                items.append(f"{one.get('component', name)} [{one.get('status')}]: {issues}")
    compat = checks.get("compute_compatibility") or {}
    bits = [f"status {doc.get('status')}"]
    if driver.get("detected"):
        meta = driver.get("metadata", {})
        bits.append(
            f"driver {driver.get('version')} (max CUDA {meta.get('max_cuda_version')},"
            f" {meta.get('gpu_count', 0)} GPU, via {meta.get('detection_method')})"
        )
    else:
        bits.append("no driver")
    status = torch.get("status")
    if status == "success":
        cuda = torch.get("metadata", {}).get("cuda_version")
        bits.append(f"torch {torch.get('version')} CUDA {cuda}")
    else:
        bits.append(f"torch {status}")
    if compat:
        bits.append(f"arch check {compat.get('status')}")
    worst = {"fail": "error", "warning": "warning", "pass": "none"}.get(str(doc.get("status")), "?")
    return (
        Verdict(
            "env-doctor",
            str(result.returncode),
            result.seconds,
            "; ".join(bits),
            items,
            worst=worst,
        ),
        flagged,
    )


def _env_doctor_results(name: str, check: Any) -> list[dict[str, Any]]:
    if isinstance(check, dict) and "status" in check and "issues" in check:
        return [check]
    if isinstance(check, dict):  # libraries, engines: name -> result
        return [c for c in check.values() if isinstance(c, dict) and "issues" in c]
    return []


def pkgdoctor_verdict(result: Run, extra_seconds: float = 0.0) -> Verdict:
    seconds = result.seconds + extra_seconds
    if result.timed_out:
        return Verdict("pkgdoctor", "killed", seconds, "", crashed=True)
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        return Verdict(
            "pkgdoctor", f"{result.returncode} (crashed)", seconds, result.last_line(), crashed=True
        )
    findings = doc.get("findings", [])
    items = [f"{f['code']} [{f['severity']}]: {f['message']}" for f in findings]
    order = {"error": 3, "warning": 2, "info": 1}
    worst = max((f["severity"] for f in findings), key=lambda s: order.get(s, 0), default="none")
    counted = Counter(f"{f['code']} ({f['severity'][0]})" for f in findings)
    codes = ", ".join(k + (f" x{n}" if n > 1 else "") for k, n in counted.items()) or "no findings"
    return Verdict("pkgdoctor", str(result.returncode), seconds, codes, items, worst=worst)


def run_pkgdoctor(
    pkgdoctor: str,
    scenario: Scenario,
    python: Path,
    env: dict[str, str],
    work: Path,
    timeout: float,
) -> Verdict:
    if scenario.node is None:
        result = run(
            [pkgdoctor, "check", "--python", str(python), "--json", "--timeout", str(int(timeout))],
            env,
            timeout + 10,
        )
        return pkgdoctor_verdict(result)
    snapshot = work / f"snapshot-{scenario.key}.json"
    taken = run(
        [
            pkgdoctor,
            "snapshot",
            "--python",
            str(python),
            "-o",
            str(snapshot),
            "--timeout",
            str(int(timeout)),
        ],
        env,
        timeout + 10,
    )
    if taken.returncode != 0:
        why = "killed" if taken.timed_out else f"{taken.returncode} (snapshot failed)"
        return Verdict("pkgdoctor", why, taken.seconds, taken.last_line(), crashed=True)
    doc = json.loads(snapshot.read_text())
    doc["gpu"] = node_gpu_section(scenario.node)
    snapshot.write_text(json.dumps(doc))
    judged = run([pkgdoctor, "check", "--from", str(snapshot), "--json"], env, timeout)
    return pkgdoctor_verdict(judged, taken.seconds)


# --- judging --------------------------------------------------------------------------------


def judge_pkgdoctor(scenario: Scenario, verdict: Verdict, problem: bool | None) -> str:
    if verdict.crashed:
        return f"no verdict (exit {verdict.exit})"
    if problem is None:
        return "no ground truth"
    found = [(item.split(" ", 1)[0], item) for item in verdict.items]
    codes = {code for code, _ in found}
    named = [c for c in scenario.pkgdoctor_codes if c in codes]
    if problem:
        if named:
            return f"right ({', '.join(named)})"
        if scenario.key == "f" and any(
            code == "dist-requirement-missing" and "requires nvidia-" in item
            for code, item in found
        ):
            return "right (dist-requirement-missing names the nvidia-* wheels)"
        return "misses it"
    errors = sorted({code for code, item in found if "[error]" in item})
    if errors:
        return f"false alarm (error: {', '.join(errors)})"
    warned = sorted(
        {c for c, item in found if c in scenario.pkgdoctor_codes and "[warning]" in item}
    )
    if warned:
        return f"false alarm (warning: {', '.join(warned)})"
    return "right (no error)"


def judge_env_doctor(
    scenario: Scenario, verdict: Verdict, flagged: str, problem: bool | None
) -> str:
    if verdict.crashed:
        return f"no verdict (exit {verdict.exit})"
    if problem is None:
        return "no ground truth"
    said = "\n".join(verdict.items)
    in_json = re.search(scenario.env_doctor_hit, said) is not None
    in_text = re.search(scenario.env_doctor_hit, flagged) is not None
    if problem:
        if in_json:
            return "right"
        if in_text:
            return "text mode only (not in --json)"
        return "misses it"
    if "arch check mismatch" in verdict.summary:
        return "false alarm (compute_compatibility: mismatch)"
    if verdict.worst == "error":
        return "false alarm (status fail)"
    if verdict.worst == "warning":
        return "warns about unrelated setup (status warning)"
    return "right (pass)"


# --- the whole ------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: Scenario
    truth: str
    env_doctor: Verdict
    env_doctor_text: str
    pkgdoctor: Verdict
    problem: bool | None  # None: the ground truth could not be measured
    judged_env_doctor: str
    judged_pkgdoctor: str


def scenario_env(
    scenario: Scenario, base: dict[str, str], prefix: Path, fake: Path | None, shadow: Path
) -> dict[str, str]:
    env = dict(base)
    env["PATH"] = f"{prefix / 'bin'}:{env['PATH']}"
    if fake is not None:
        env["PATH"] = f"{fake}:{env['PATH']}"
    if scenario.ld_library_path == "<shadow>":
        env["LD_LIBRARY_PATH"] = str(shadow)
    elif scenario.ld_library_path is not None:
        env["LD_LIBRARY_PATH"] = scenario.ld_library_path
    return env


def compare(args: argparse.Namespace) -> list[Row]:
    work: Path = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    base = base_environ(work)
    pkgdoctor = str(args.pkgdoctor)
    if not Path(pkgdoctor).exists() and shutil.which(pkgdoctor) is None:
        raise HarnessError(f"no pkgdoctor at {pkgdoctor} (--pkgdoctor PATH)")
    wanted = [s for s in SCENARIOS if not args.only or s.key in args.only]
    kinds = {s.env for s in wanted}

    if args.env_doctor_venv is not None:
        ed_prefix: Path = args.env_doctor_venv
    else:
        ed_prefix = build_venv(work, "env-doctor-venv", [[ENV_DOCTOR]], args.rebuild, base)
    ed_site = site_packages(ed_prefix)
    if not (ed_site / "env_doctor").is_dir():
        raise HarnessError(f"env-doctor is not installed in {ed_prefix}")

    prefixes: dict[str, Path] = {}
    if "cpu" in kinds:
        prefixes["cpu"] = build_venv(work, "cpu-torch", [[CPU_TORCH]], args.rebuild, base)
    if kinds & {"cuda", "nodeps"}:
        if args.cuda_env is not None:
            prefixes["cuda"] = args.cuda_env  # used read-only
        else:
            prefixes["cuda"] = build_venv(work, "cuda-torch", [CUDA_TORCH], args.rebuild, base)
    if "nodeps" in kinds:
        version = torch_version(prefixes["cuda"])
        prefixes["nodeps"] = build_venv(
            work,
            "cuda-torch-nodeps",
            [["--no-deps", f"torch=={version}"], torch_runtime_requirements(prefixes["cuda"])],
            args.rebuild,
            base,
        )
    if "mixed" in kinds:
        prefixes["mixed"] = build_venv(work, "mixed-cuda", [list(MIXED)], args.rebuild, base)
    shadow = broken_system_cuda(work, base) if any(s.key == "h" for s in wanted) else work

    home = work / "env-doctor-home"
    seed_env_doctor_home(home, ed_site)
    rows = []
    for scenario in wanted:
        prefix = prefixes[scenario.env]
        python = prefix / "bin" / "python"
        if scenario.ld_library_path == SYSTEM_CUDA and not Path(SYSTEM_CUDA).is_dir():
            print(f"({scenario.key}) skipped: no system CUDA at {SYSTEM_CUDA}", file=sys.stderr)
            continue
        print(f"({scenario.key}) {scenario.title} ...", file=sys.stderr, flush=True)
        fake = fake_nvidia_smi(work, scenario.node) if scenario.node else None
        env = scenario_env(scenario, base, prefix, fake, shadow)
        truth = ground_truth(python, env, args.timeout)
        truth_text = describe_truth(truth, prefix)
        problem: bool | None = (
            truth_problem(truth, prefix) if scenario.problem is None else scenario.problem
        )
        if str(truth.get("import", "")).startswith("probe "):  # killed or crashed: unknown
            problem = None
        if scenario.env == "mixed":
            truth_text = mixed_truth(prefix, work, base)
        ed_env = {**env, "HOME": str(home)}
        ed, ed_text = run_env_doctor(python, ed_site, ed_env, args.timeout)
        pd = run_pkgdoctor(pkgdoctor, scenario, python, env, work, args.timeout)
        rows.append(
            Row(
                scenario,
                truth_text,
                ed,
                ed_text,
                pd,
                problem,
                judge_env_doctor(scenario, ed, ed_text, problem),
                judge_pkgdoctor(scenario, pd, problem),
            )
        )
    return rows


YES_NO = {True: "yes", False: "no", None: "?"}


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


# env-doctor's CUDA-toolkit set-up advice, the same on every scenario of this machine, in short.
SHORT = (
    ("CUDA_HOME environment variable not set", "CUDA_HOME unset"),
    ("CUDA bin directory not in PATH or incorrect", "CUDA bin not on PATH"),
    ("LD_LIBRARY_PATH not configured for CUDA", "LD_LIBRARY_PATH lacks CUDA"),
    ("cuDNN library not found on system", "no system cuDNN"),
)


def short(text: str) -> str:
    for long, brief in SHORT:
        text = text.replace(long, brief)
    return text


def markdown(rows: Sequence[Row], pkgdoctor: str) -> str:
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; pkgdoctor: `{pkgdoctor}`;"
        f" {ENV_DOCTOR}.",
        "",
        "| | scenario | ground truth (measured here) | problem? | env-doctor `check --json` |"
        " pkgdoctor `check --json` | env-doctor judged | pkgdoctor judged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s = row.scenario
        ed = f"exit {row.env_doctor.exit}, {row.env_doctor.seconds:.1f} s: {row.env_doctor.summary}"
        if row.env_doctor.items:
            ed += "; " + "; ".join(short(i)[:240] for i in row.env_doctor.items)
        said = [
            line
            for line in row.env_doctor_text.splitlines()
            if not re.match(r"❌\s+(tensorflow|jax) is NOT installed", line)
        ]
        if said:
            ed += "; text mode: " + "; ".join(said)
        pd = f"exit {row.pkgdoctor.exit}, {row.pkgdoctor.seconds:.1f} s: {row.pkgdoctor.summary}"
        lines.append(
            f"| {s.key} | {cell(s.title)} | {cell(row.truth)} | {YES_NO[row.problem]} |"
            f" {cell(ed)} | {cell(pd)} | {cell(row.judged_env_doctor)} |"
            f" {cell(row.judged_pkgdoctor)} |"
        )
    return "\n".join(lines) + "\n"


def details(rows: Sequence[Row]) -> str:
    out = []
    for row in rows:
        s = row.scenario
        out.append(f"({s.key}) {s.title}")
        out.append(f"    truth      {row.truth}")
        out.append(f"               {s.truth_note}")
        out.append(f"               a problem to report: {YES_NO[row.problem]}")
        ed, pd = row.env_doctor, row.pkgdoctor
        out.append(f"    env-doctor exit {ed.exit}, {ed.seconds:.1f} s, {ed.summary}")
        out.extend(f"               {item[:150]}" for item in ed.items)
        if row.env_doctor_text:
            out.append("               text mode also says:")
            out.extend(
                f"                 {line[:140]}" for line in row.env_doctor_text.splitlines()
            )
        out.append(f"    pkgdoctor  exit {pd.exit}, {pd.seconds:.1f} s")
        out.extend(f"               {item[:150]}" for item in pd.items or [pd.summary])
        out.append(
            f"    judged     env-doctor: {row.judged_env_doctor}; pkgdoctor: {row.judged_pkgdoctor}"
        )
        out.append("")
    return "\n".join(out)


def update_doc(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{RESULTS_BEGIN}\n{table}{RESULTS_END}"
    if RESULTS_BEGIN in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_BEGIN, 1)
        text = head + block + rest.split(RESULTS_END, 1)[1]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--pkgdoctor",
        default=str(REPO / ".venv-test" / "bin" / "pkgdoctor"),
        help="the pkgdoctor to compare (default: this checkout's .venv-test)",
    )
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    parser.add_argument(
        "--cuda-env",
        type=Path,
        help="an existing venv with a CUDA torch (python3.11), used read-only; default: build"
        f" one ({' '.join(CUDA_TORCH)}, ~5 GB)",
    )
    parser.add_argument(
        "--env-doctor-venv", type=Path, help=f"a python3.11 venv with {ENV_DOCTOR} installed"
    )
    parser.add_argument("--only", type=lambda s: set(s.split(",")), help="scenario keys: a,b,...")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds for each run of a tool"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the environments")
    parser.add_argument("--markdown", type=Path, help="write the table into this file")
    parser.add_argument("--json", type=Path, help="write every verdict to this JSON file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    try:
        rows = compare(args)
    except HarnessError as error:
        print(f"compare_env_doctor: {error}", file=sys.stderr)
        return 2
    print(details(rows))
    table = markdown(rows, str(args.pkgdoctor))
    print(table)
    print(f"total {time.monotonic() - start:.0f} s", file=sys.stderr)
    if args.markdown is not None:
        update_doc(args.markdown, table)
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "scenario": r.scenario.key,
                        "title": r.scenario.title,
                        "truth": r.truth,
                        "env_doctor": r.env_doctor.__dict__,
                        "env_doctor_text": r.env_doctor_text,
                        "pkgdoctor": r.pkgdoctor.__dict__,
                        "judged": {
                            "env-doctor": r.judged_env_doctor,
                            "pkgdoctor": r.judged_pkgdoctor,
                        },
                    }
                    for r in rows
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
