"""gpu-system-cuda-shadows (checks/gpu_shadows.py): a system CUDA on LD_LIBRARY_PATH, or in
ld.so.cache, loaded instead of the nvidia-* wheel's copy of the same soname.

Real artefacts: NVIDIA's wheels from the registry (nvidia-nvjitlink-cu12 12.9.86, ~40 MB;
nvidia-cuda-runtime 13.1.80, 2 MB), "frameworks" compiled with gcc against the wheels' real
libraries (so their references carry the wheels' symbol versions, like libcusparse's
``__nvJitLinkAddData_12_4@libnvJitLink.so.12``), a "CUDA 12.1 toolkit" built with gcc (its
libnvJitLink.so.12 defines the 12.0 and 12.1 entry points only, as the real one does:
pytorch/pytorch#111469), and this machine's real CUDA 13.0 in /usr/local/cuda-13.0/lib (in
ld.so.cache), whose libcudart.so.13 lacks the entry points CUDA 13.1 added. Every break is
proven by importing the module, and every fix is run in a shell, then checked again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artefacts import (
    Venv,
    Wheelhouse,
    compile_extension,
    make_venv,
    run,
    without_user_config,
    write_dist_info,
)
from conftest import Runner, validated

NVJITLINK = "nvidia-nvjitlink-cu12==12.9.86"
CURAND_CU11 = "nvidia-curand-cu11==10.3.0.86"  # 58 MB
CUDART = "nvidia-cuda-runtime==13.1.80"
SYSTEM_CUDA = Path("/usr/local/cuda-13.0/lib")
CODE = "gpu-system-cuda-shadows"

# CUDA 12.1.1's version.json (the entries that matter here, values as NVIDIA ships them).
VERSION_JSON = {
    "cuda": {"name": "CUDA SDK", "version": "12.1.1"},
    "cuda_cudart": {"name": "CUDA Runtime (cudart)", "version": "12.1.105"},
    "libnvjitlink": {"name": "JIT Linker Library", "version": "12.1.105"},
    "libcurand": {"name": "CUDA cuRAND", "version": "10.3.2.106"},
}
# nvJitLink 12.1 defines the 12.0 and 12.1 versions of its entry points; 12.4 added
# __nvJitLinkAddData_12_4 and the others (CUDA's nvJitLink.h maps nvJitLinkAddData to the
# name of the release a program is compiled against).


def _shadows(result: Any) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["code"] == CODE]


def _import(venv: Venv, module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv.python), "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _env(ld_library_path: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    if ld_library_path is not None:
        env["LD_LIBRARY_PATH"] = ld_library_path
    return env


def _fixed(finding: dict[str, Any], venv: Venv, module: str, env: dict[str, str]) -> Any:
    """Run the finding's command in a shell, then, in that shell, import the module and
    check the environment again: the JSON report of that check."""
    script = (
        f"{finding['command']} && {venv.python} -c 'import {module}' && "
        f"{sys.executable} -m pkgdoctor check --prefix {venv.prefix} --json; true"
    )
    proc = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=without_user_config(env)
    )
    assert proc.stdout, proc.stderr
    return validated(json.loads(proc.stdout))


def _toolkit(
    root: Path, soname: str, real_name: str, symbols: list[str], versions: dict[str, Any]
) -> Path:
    """A CUDA toolkit laid out as NVIDIA's installer does (lib64 -> targets/x86_64-linux/lib,
    the soname a symlink to the versioned file, version.json at the top), with one library
    built by gcc that defines ``symbols``, versioned with its soname like NVIDIA's are
    (readelf -V on the wheels' copies)."""
    lib = root / "targets" / "x86_64-linux" / "lib"
    lib.mkdir(parents=True)
    source = root / "lib.c"
    source.write_text("".join(f"int {name}(void) {{ return 0; }}\n" for name in symbols))
    script = root / "lib.map"
    script.write_text(f"{soname} {{ global: {'; '.join(symbols)}; local: *; }};\n")
    real = lib / real_name
    run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}",
         f"-Wl,--version-script,{script}", "-o", str(real), str(source)])  # fmt: skip
    (lib / soname).symlink_to(real.name)
    if not (root / "lib64").exists():
        (root / "lib64").symlink_to("targets/x86_64-linux/lib")
    (root / "version.json").write_text(json.dumps(versions, indent=4))
    return root / "lib64"


def _old_toolkit(root: Path) -> Path:
    """CUDA 12.1.1's libnvJitLink.so.12.1.105: the 12.0 and 12.1 entry points only."""
    symbols = [
        f"__nvJitLink{fn}_12_{minor}"
        for fn in ("Create", "AddData", "Complete", "Destroy")
        for minor in (0, 1)
    ]
    return _toolkit(root, "libnvJitLink.so.12", "libnvJitLink.so.12.1.105", symbols, VERSION_JSON)


def test_old_toolkit_on_ld_library_path_shadows_nvjitlink_wheel(
    tmp_path: Path, pkgdoctor: Runner, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytorch/pytorch#111469: "libcusparse.so.12: undefined symbol: __nvJitLinkAddData_12_1,
    version libnvJitLink.so.12", with CUDA 12.1's lib64 on LD_LIBRARY_PATH."""
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, NVJITLINK)
    wheel_lib = venv.site_packages / "nvidia" / "nvjitlink" / "lib"
    # Like libcusparse.so.12: a RUNPATH to the wheel, a reference to the 12.4 entry point.
    compile_extension(
        venv.site_packages,
        "jitfw",
        extra="#include <stdlib.h>\nint __nvJitLinkAddData_12_4();",
        body='if (getenv("PKGDOCTOR_NEVER")) __nvJitLinkAddData_12_4();',
        link=[
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN/nvidia/nvjitlink/lib",
            f"-L{wheel_lib}",
            "-l:libnvJitLink.so.12",
        ],
    )
    assert _import(venv, "jitfw", _env(None)).returncode == 0
    healthy = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert _shadows(healthy) == []  # the wheel's copy is what resolves

    toolkit = _old_toolkit(tmp_path / "cuda-12.1")
    other = tmp_path / "other-libs"
    other.mkdir()
    ld_path = f"{other}:{toolkit}"
    broken = _import(venv, "jitfw", _env(ld_path))
    assert "undefined symbol: __nvJitLinkAddData_12_4, version libnvJitLink.so.12" in (
        broken.stderr
    )
    monkeypatch.setenv("LD_LIBRARY_PATH", ld_path)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = _shadows(result)
    loaded = f"{toolkit}/libnvJitLink.so.12"
    copy = f"{wheel_lib}/libnvJitLink.so.12"
    assert finding["severity"] == "error"
    assert finding["message"] == (
        f"libnvJitLink.so.12, needed by jitfw, is loaded from {loaded} (LD_LIBRARY_PATH; "
        "CUDA 12.1.1, libnvjitlink 12.1.105, file libnvJitLink.so.12.1.105), not from "
        f"{copy} (nvidia-nvjitlink-cu12 12.9.86): it lacks 1 symbol(s) that jitfw need "
        "(__nvJitLinkAddData_12_4@libnvJitLink.so.12)."
    )
    evidence = finding["evidence"]
    assert evidence["lacking"] == ["__nvJitLinkAddData_12_4@libnvJitLink.so.12"]
    assert evidence["real_file"] == "libnvJitLink.so.12.1.105"
    assert evidence["toolkit_file"] == str(tmp_path / "cuda-12.1" / "version.json")
    assert evidence["cuda_majors"] == {"loaded": "12", "wheel": "12"}
    assert finding["command"] == f"export LD_LIBRARY_PATH={other}"
    assert "LD_LIBRARY_PATH before the RUNPATH" in finding["explanation"]
    after = _fixed(finding, venv, "jitfw", _env(ld_path))
    assert [f for f in after["findings"] if f["code"] == CODE] == []

    # torch 2.6 and later load the wheel's libnvJitLink by its path before their own
    # libraries (pytorch/pytorch#141063): its import works; a note says what else breaks.
    (module,) = venv.site_packages.glob("jitfw.*.so")
    write_dist_info(venv.site_packages, "torch", "2.6.0", [module.name])
    (finding,) = _shadows(pkgdoctor("check", "--prefix", str(venv.prefix), "--json"))
    assert finding["severity"] == "info"
    assert finding["evidence"]["preloaded_by"] == "torch 2.6.0"
    assert finding["explanation"].startswith(
        "torch 2.6.0 loads nvidia-nvjitlink-cu12's libnvJitLink.so.12 by its path before its "
        "own libraries, so `import torch` gets the wheel's copy; "
    )


def _cudart_framework(site: Path, name: str, *, runpath: bool, new_api: bool) -> Path:
    """A framework module needing libcudart.so.13, linked against the 13.1 wheel's copy;
    with ``new_api`` it calls cudaDeviceGetExecutionCtx, which CUDA 13.1 added."""
    wheel_lib = site / "nvidia" / "cu13" / "lib"
    link = [f"-L{wheel_lib}", "-l:libcudart.so.13"]
    if runpath:
        link.insert(0, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/nvidia/cu13/lib")
    extra = "#include <stdlib.h>\nint cudaDeviceGetExecutionCtx();\nint cudaGetDeviceCount();"
    call = "cudaDeviceGetExecutionCtx" if new_api else "cudaGetDeviceCount"
    return compile_extension(
        site, name, extra=extra, body=f'if (getenv("PKGDOCTOR_NEVER")) {call}();', link=link
    )


def _require_system_cuda() -> None:
    if not (SYSTEM_CUDA / "libcudart.so.13").exists():
        pytest.fail(f"this test needs the machine's CUDA 13.0 in {SYSTEM_CUDA} (see its docs)")


def test_real_system_cuda_13_0_on_ld_library_path(
    tmp_path: Path, pkgdoctor: Runner, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This machine's CUDA 13.0 (/usr/local/cuda-13.0/lib) in front of the 13.1.80 wheel."""
    _require_system_cuda()
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, CUDART)
    _cudart_framework(venv.site_packages, "rtfw", runpath=True, new_api=True)
    assert _import(venv, "rtfw", _env(None)).returncode == 0
    assert _shadows(pkgdoctor("check", "--prefix", str(venv.prefix), "--json")) == []

    broken = _import(venv, "rtfw", _env(str(SYSTEM_CUDA)))
    assert "undefined symbol: cudaDeviceGetExecutionCtx, version libcudart.so.13" in (broken.stderr)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(SYSTEM_CUDA))
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = _shadows(result)
    assert finding["severity"] == "error"
    assert finding["message"].startswith(
        f"libcudart.so.13, needed by rtfw, is loaded from {SYSTEM_CUDA}/libcudart.so.13 "
        "(LD_LIBRARY_PATH; CUDA 13.0 by its directory), not from "
        f"{venv.site_packages}/nvidia/cu13/lib/libcudart.so.13 (nvidia-cuda-runtime 13.1.80): "
        "it lacks "
    )
    assert "cudaDeviceGetExecutionCtx@libcudart.so.13" in finding["evidence"]["lacking"]
    assert finding["command"] == "unset LD_LIBRARY_PATH"
    after = _fixed(finding, venv, "rtfw", _env(str(SYSTEM_CUDA)))
    assert [f for f in after["findings"] if f["code"] == CODE] == []


def test_ld_so_cache_copy_and_what_is_not_shadowed(
    tmp_path: Path, pkgdoctor: Runner, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A framework without a search path to the wheel gets ld.so.cache's CUDA 13.0 copy:
    a note (it imports; nothing proves a break). Not shadowed: a system-CUDA build with no
    NVIDIA wheel installed, and a plugin whose framework (a dependency, imported first)
    already loaded the wheel's copy."""
    _require_system_cuda()
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    # First no wheel: the runtime comes from the toolkit, legitimately.
    plain = compile_extension(site, "sysfw", link=[f"-L{SYSTEM_CUDA}", "-l:libcudart.so.13"])
    write_dist_info(site, "sysfw", "1.0", [plain.name])
    assert _import(venv, "sysfw", _env(None)).returncode == 0
    assert _shadows(pkgdoctor("check", "--prefix", str(venv.prefix), "--json")) == []

    wheelhouse.install(venv, CUDART)
    # A framework with a RUNPATH to the wheel, and its plugin without one.
    core = _cudart_framework(site, "corefw", runpath=True, new_api=False)
    write_dist_info(site, "corefw", "1.0", [core.name])
    plugin = _cudart_framework(site, "pluginfw", runpath=False, new_api=False)
    dist_info = write_dist_info(site, "pluginfw", "1.0", [plugin.name])
    metadata = dist_info / "METADATA"
    metadata.write_text(metadata.read_text().rstrip("\n") + "\nRequires-Dist: corefw\n\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = _shadows(result)  # sysfw's, not pluginfw's
    assert finding["severity"] == "info"
    assert finding["distribution"] == "sysfw"
    assert finding["evidence"]["via"] == "ld.so.cache"
    assert finding["evidence"]["needed_by"] == [str(plain)]
    copy = site / "nvidia" / "cu13" / "lib"
    assert finding["command"] == f"export LD_LIBRARY_PATH={copy}"
    assert "has no RPATH or RUNPATH entry" in finding["explanation"]
    after = _fixed(finding, venv, "sysfw", _env(None))
    assert [f for f in after["findings"] if f["code"] == CODE] == []


def test_another_cuda_major_under_the_same_soname(
    tmp_path: Path, pkgdoctor: Runner, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libcurand.so.10 ships with CUDA 11 and 12 alike: a cu11 framework (torch +cu118
    requires nvidia-curand-cu11) with CUDA 12.1's lib64 on LD_LIBRARY_PATH imports, and
    runs CUDA 12's cuRAND (which needs a CUDA 12 driver) beside CUDA 11's runtime."""
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, CURAND_CU11)
    wheel_lib = venv.site_packages / "nvidia" / "curand" / "lib"
    compile_extension(
        venv.site_packages,
        "randfw",
        extra="#include <stdlib.h>\nint curandCreateGenerator();",
        body='if (getenv("PKGDOCTOR_NEVER")) curandCreateGenerator();',
        link=[
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN/nvidia/curand/lib",
            f"-L{wheel_lib}",
            "-l:libcurand.so.10",
        ],
    )
    toolkit = _toolkit(
        tmp_path / "cuda-12.1",
        "libcurand.so.10",
        "libcurand.so.10.3.2.106",
        ["curandCreateGenerator", "curandDestroyGenerator"],
        VERSION_JSON,
    )
    assert _import(venv, "randfw", _env(str(toolkit))).returncode == 0  # it imports
    monkeypatch.setenv("LD_LIBRARY_PATH", str(toolkit))
    (finding,) = _shadows(pkgdoctor("check", "--prefix", str(venv.prefix), "--json"))
    assert finding["severity"] == "error"
    assert finding["message"] == (
        f"libcurand.so.10, needed by randfw, is loaded from {toolkit}/libcurand.so.10 "
        "(LD_LIBRARY_PATH; CUDA 12.1.1, libcurand 10.3.2.106, file libcurand.so.10.3.2.106), "
        f"not from {wheel_lib}/libcurand.so.10 (nvidia-curand-cu11 10.3.0.86): CUDA 12's "
        "library where CUDA 11's is expected."
    )
    assert finding["evidence"]["cuda_majors"] == {"loaded": "12", "wheel": "11"}
    assert "lacking" not in finding["evidence"]
    assert finding["command"] == "unset LD_LIBRARY_PATH"
    after = _fixed(finding, venv, "randfw", _env(str(toolkit)))
    assert [f for f in after["findings"] if f["code"] == CODE] == []


def test_hostile_files_beside_an_outside_library(tmp_path: Path) -> None:
    """A toolkit's version.json nested past the JSON parser's limit tells no version; a FIFO
    where a library copy should be is not read (it would block) and compares as unknown."""
    from pkgdoctor.look import library_copies

    nested = tmp_path / "version.json"
    nested.write_text("[" * 200_000)
    assert library_copies._read_versions(str(nested)) == {}
    fifo = tmp_path / "libcudart.so.12"
    os.mkfifo(fifo)
    regular = tmp_path / "copy.so"
    regular.write_bytes(b"\x7fELF" + b"\0" * 60)
    assert library_copies._same_bytes(str(fifo), str(regular)) is None
    twin = tmp_path / "twin.so"
    twin.write_bytes(regular.read_bytes())
    assert library_copies._same_bytes(str(regular), str(twin)) is True
    twin.write_bytes(b"\x7fELF" + b"\1" * 60)
    assert library_copies._same_bytes(str(regular), str(twin)) is False
