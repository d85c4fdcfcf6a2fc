"""Looking at the machine's NVIDIA driver and devices, without loading any of its libraries.

Where each fact comes from, in order of trust:

- the driver's version: ``/sys/module/nvidia/version`` (what NVIDIA's open kernel modules
  recommend, NVIDIA/open-gpu-kernel-modules discussion #297), else the ``NVRM version:`` line
  of ``/proc/driver/nvidia/version``, whose layout changed with the open modules ("NVIDIA UNIX
  x86_64 Kernel Module  550.54.15", "NVIDIA UNIX Open Kernel Module for x86_64  565.57.01");
- the devices: ``/proc/driver/nvidia/gpus/*/information`` (``Model:``, ``GPU UUID:``,
  ``Bus Location:``); their compute capability and the CUDA version the driver supports only
  from ``nvidia-smi`` (``--query-gpu=...compute_cap`` and its header's ``CUDA Version:``),
  run for a live target only (``--static`` executes nothing), bounded in time and output;
- ``/dev/nvidia*``: what a container started without GPU access lacks;
- ``libcuda.so.1``: the driver's own library, where ld.so.cache names it.

Only for a target on this machine (``Target.system_is_host``): another machine's tree says
nothing about this machine's GPU, nor this machine about its.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Mapping

from pkgdoctor.files import read_regular
from pkgdoctor.snapshot.model import GpuDevice, GpuFacts
from pkgdoctor.target.facts import Target

SMALL = 64 << 10  # /proc and /sys files of the driver are a few hundred bytes
MAX_DEVICES = 64
NVIDIA_SMI_TIMEOUT = 10.0
VISIBLE = ("NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)?$")
_CUDA_VERSION = re.compile(r"CUDA Version:\s*(\d+\.\d+)")


def collect(
    target: Target,
    *,
    root: str = "/",
    environ: Mapping[str, str] | None = None,
    run_nvidia_smi: bool | None = None,
) -> GpuFacts | None:
    """The GPU facts of this machine; None when ``target`` is not on it."""
    if not target.system_is_host:
        return None
    env = os.environ if environ is None else environ
    sources: list[str] = []
    problems: list[str] = []
    driver = _driver_version(root, sources)
    devices = _proc_devices(root, sources)
    nodes = _device_nodes(root)
    cuda = None
    live = target.mode == "live" if run_nvidia_smi is None else run_nvidia_smi
    if live and (driver or nodes):
        smi = _nvidia_smi(problems)
        if smi is not None:
            sources.append("nvidia-smi")
            queried, cuda, smi_driver = smi
            driver = driver or smi_driver
            devices = _merge(devices, queried)
    return GpuFacts(
        driver_version=driver,
        cuda_driver_version=cuda,
        devices=tuple(devices),
        source=", ".join(sources),
        device_nodes=nodes,
        visible={k: env[k] for k in VISIBLE if k in env},
        libcuda=_libcuda(root),
        container=container(root, env),
        problems=tuple(problems),
    )


def _read(path: str) -> str | None:
    try:
        return read_regular(path, SMALL).decode("utf-8", "replace")
    except OSError:
        return None


def parse_nvrm(text: str) -> str | None:
    """The driver version in ``/proc/driver/nvidia/version``'s first line, in any of the
    layouts NVIDIA has used.

    >>> parse_nvrm("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5 2024")
    '550.54.15'
    >>> parse_nvrm("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release")
    '565.57.01'
    >>> parse_nvrm("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  35.3.1  Release")
    '35.3.1'
    """
    for line in text.splitlines():
        if line.startswith("NVRM version:"):
            for word in line.split()[2:]:
                if _VERSION.match(word):
                    return word
    return None


def _driver_version(root: str, sources: list[str]) -> str | None:
    path = os.path.join(root, "sys/module/nvidia/version")
    text = _read(path)
    if text and _VERSION.match(text.strip()):
        sources.append("/sys/module/nvidia/version")
        return text.strip()
    path = os.path.join(root, "proc/driver/nvidia/version")
    text = _read(path)
    version = parse_nvrm(text) if text else None
    if version:
        sources.append("/proc/driver/nvidia/version")
    return version


def _proc_devices(root: str, sources: list[str]) -> list[GpuDevice]:
    directory = os.path.join(root, "proc/driver/nvidia/gpus")
    try:
        names = sorted(os.listdir(directory))[:MAX_DEVICES]
    except OSError:
        return []
    devices = []
    for name in names:
        text = _read(os.path.join(directory, name, "information"))
        if text is None:
            continue
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        devices.append(
            GpuDevice(
                name=fields.get("Model"),
                uuid=fields.get("GPU UUID"),
                bus=fields.get("Bus Location") or name,
            )
        )
    if devices:
        sources.append("/proc/driver/nvidia/gpus")
    return devices


def _device_nodes(root: str) -> tuple[str, ...]:
    try:
        names = os.listdir(os.path.join(root, "dev"))
    except OSError:
        return ()
    return tuple(sorted(f"/dev/{n}" for n in names if n.startswith("nvidia")))[:MAX_DEVICES]


def _libcuda(root: str) -> str | None:
    from pkgdoctor.ldcache import read_ld_cache

    cache = read_ld_cache(os.path.join(root, "etc/ld.so.cache"))
    if cache is None:
        return None
    found = cache.lookup("libcuda.so.1")
    return found[0].path if found else None


def container(root: str, environ: Mapping[str, str]) -> str | None:
    """What says this machine is a container, as the container engines mark it: Docker's
    ``/.dockerenv``, Podman's ``/run/.containerenv``, the ``container`` variable that
    systemd-nspawn, Podman and LXC set for PID 1 (systemd's CONTAINER_INTERFACE), and a
    Kubernetes or Docker cgroup of PID 1. None: nothing does (a host, or an unmarked one)."""
    for marker in ("/.dockerenv", "/run/.containerenv"):
        if os.path.lexists(os.path.join(root, marker.lstrip("/"))):
            return marker
    engine = environ.get("container", "")
    if engine and len(engine) <= 64 and engine.isprintable():
        return f"container={engine}"
    cgroup = _read(os.path.join(root, "proc/1/cgroup")) or ""
    for word in ("kubepods", "docker", "libpod", "containerd"):
        if word in cgroup:
            return f"/proc/1/cgroup: {word}"
    return None


def parse_nvidia_smi(query: str, header: str) -> tuple[list[GpuDevice], str | None, str | None]:
    """Devices from ``nvidia-smi --query-gpu=name,compute_cap,uuid,pci.bus_id,driver_version
    --format=csv,noheader`` and the CUDA version from the plain ``nvidia-smi`` header.

    >>> devices, cuda, driver = parse_nvidia_smi(
    ...     "NVIDIA H200, 9.0, GPU-5e1c, 00000000:19:00.0, 550.54.15\\n",
    ...     "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4     |")
    >>> devices[0].name, devices[0].compute_capability, cuda, driver
    ('NVIDIA H200', '9.0', '12.4', '550.54.15')
    """
    devices = []
    driver = None
    for line in query.splitlines()[:MAX_DEVICES]:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0]:
            continue
        name, cap, uuid, bus, version = parts[:5]
        devices.append(
            GpuDevice(
                name=name,
                compute_capability=cap if re.match(r"^\d+\.\d+$", cap) else None,
                uuid=uuid or None,
                bus=bus or None,
            )
        )
        driver = driver or (version if _VERSION.match(version) else None)
    match = _CUDA_VERSION.search(header)
    return devices, match.group(1) if match else None, driver


def _nvidia_smi(problems: list[str]) -> tuple[list[GpuDevice], str | None, str | None] | None:
    program = shutil.which("nvidia-smi")
    if program is None:
        return None
    query = _run(
        [program, "--query-gpu=name,compute_cap,uuid,pci.bus_id,driver_version",
         "--format=csv,noheader"], problems)  # fmt: skip
    if query is None:
        return None
    header = _run([program], problems) or ""
    return parse_nvidia_smi(query, header)


def _run(args: list[str], problems: list[str]) -> str | None:
    from pkgdoctor.target import process

    try:
        child = process.start(args, cwd="/", env={"PATH": "/usr/bin:/bin"})
    except OSError as exc:
        problems.append(f"{args[0]} could not start: {exc.strerror or exc}")
        return None
    stdout, stderr = process.Kept(SMALL), process.Kept(4096)
    ended = process.collect(
        child, time.monotonic() + NVIDIA_SMI_TIMEOUT, stdout, stderr, stop_on_overflow=True
    )
    if ended.how != "done" or ended.returncode != 0:
        said = (stderr.text() or stdout.text()).strip().splitlines()
        why = said[0] if said else f"{ended.how}, exit status {ended.returncode}"
        problems.append(f"nvidia-smi failed: {why[:200]}")
        return None
    return stdout.text()


def _merge(proc: list[GpuDevice], smi: list[GpuDevice]) -> list[GpuDevice]:
    """nvidia-smi's devices (they carry the compute capability), else /proc's."""
    return smi or proc
