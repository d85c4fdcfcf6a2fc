"""Facts about a target environment: what the probe or the static reader found.

These frozen dataclasses are the only thing checks see of the target. They are produced by
the live probe (:mod:`pkgdoctor.target.live`), the static reader
(:mod:`pkgdoctor.target.static`) or, in tests, built directly from recorded values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal

from pkgdoctor._fields import Fact, fact

Mode = Literal["live", "static"]


@fact
class Binary(Fact):
    """The identity of an ELF file as the dynamic loader sees it."""

    architecture: str  # "x86_64", "aarch64", "loongarch64", ...
    elf_class: int  # 32 or 64
    machine: int  # e_machine
    little_endian: bool
    interpreter: str | None = None  # PT_INTERP, e.g. "/lib64/ld-linux-x86-64.so.2"

    def to_json(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "elf_class": self.elf_class,
            "machine": self.machine,
            "endianness": "little" if self.little_endian else "big",
            "interpreter": self.interpreter,
        }


@fact
class Libc(Fact):
    """The C library of the target: ``family`` is "glibc" or "musl"."""

    family: str
    version: str | None = None

    def version_tuple(self) -> tuple[int, ...] | None:
        if self.version is None:
            return None
        match = re.match(r"(\d+)\.(\d+)", self.version)
        return (int(match[1]), int(match[2])) if match else None

    def __str__(self) -> str:
        return f"{self.family} {self.version}" if self.version else self.family


@fact
class Interpreter(Fact):
    """The Python interpreter of the target and the extension modules it can load."""

    implementation: str  # sys.implementation.name: "cpython", "pypy"
    version: tuple[int, int, int]
    executable: str | None
    real_executable: str | None
    extension_suffixes: tuple[str, ...]
    ext_suffix: str | None
    soabi: str | None
    multiarch: str | None  # platform triplet, e.g. "x86_64-linux-gnu"; None when built without
    gil_disabled: bool = False
    debug: bool = False
    binary: Binary | None = None
    libc: Libc | None = None

    @property
    def short_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def architecture(self) -> str | None:
        return self.binary.architecture if self.binary else None


@fact
class StartFailure(Fact):
    """The target's interpreter exits before any code of ours runs (live mode could not
    probe it): how, and which of the user's start-up variables are to blame.

    ``variables``: the ``PYTHON*`` variables (Python's "Environment variables" docs) set in
    the environment the probe inherited, with their values. ``culprits``: those whose
    removal alone lets the interpreter start (each tried: ``python -c pass`` without it).
    ``starts_isolated``: whether it starts with ``-E`` (every ``PYTHON*`` variable ignored).
    ``starts_without_site``: whether it starts with ``-S`` (no ``site``: no ``.pth`` file,
    no ``sitecustomize``), tried only when no variable is to blame.
    """

    executable: str
    returncode: int
    stderr_tail: tuple[str, ...]  # its last lines, as kept (see live.STDERR_LINES)
    variables: Mapping[str, str] = field(default_factory=dict)
    culprits: tuple[str, ...] = ()
    starts_isolated: bool = False
    starts_without_site: bool = False


@fact
class Target(Fact):
    """One environment under inspection."""

    mode: Mode
    prefix: str
    base_prefix: str
    interpreter: Interpreter
    sys_path: tuple[str, ...]
    site_packages: tuple[str, ...]
    stdlib: tuple[str, ...]
    user_site: str | None = None
    user_site_enabled: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)
    static_reason: str | None = None
    # PEP 508 marker variables of the target (python_version, platform_machine, ...).
    markers: Mapping[str, str] = field(default_factory=dict)
    # Module names the import system resolves before or without sys.path (empty if unknown):
    stdlib_module_names: frozenset[str] = frozenset()  # sys.stdlib_module_names (3.10+)
    builtin_module_names: frozenset[str] = frozenset()
    frozen_module_names: frozenset[str] = frozenset()  # frozen stdlib modules (3.11+)
    startup_modules: frozenset[str] = frozenset()  # already imported when user code starts
    no_user_site: bool = False  # -s / PYTHONNOUSERSITE
    # The private directory the probe ran in: sys.path entries below it came from relative
    # PYTHONPATH entries and are the user's working directory's.
    probe_cwd: str | None = None
    # Whether library lookups in system directories (ld.so cache, /usr/lib...) describe the
    # system this environment runs on. False for a tree copied from another architecture.
    system_is_host: bool = True
    # Live mode found an interpreter that cannot start: why (the tree was read statically).
    start_failure: StartFailure | None = None

    @property
    def is_venv(self) -> bool:
        return self.prefix != self.base_prefix

    def to_json(self) -> dict[str, Any]:
        interp = self.interpreter
        return {
            "mode": self.mode,
            "static_reason": self.static_reason,
            "prefix": self.prefix,
            "base_prefix": self.base_prefix,
            "python": {
                "implementation": interp.implementation,
                "version": ".".join(map(str, interp.version)),
                "executable": interp.executable,
                "real_executable": interp.real_executable,
                "ext_suffix": interp.ext_suffix,
                "soabi": interp.soabi,
                "multiarch": interp.multiarch,
                "extension_suffixes": list(interp.extension_suffixes),
                "gil_disabled": interp.gil_disabled,
                "debug": interp.debug,
            },
            "binary": interp.binary.to_json() if interp.binary else None,
            "libc": (
                {"family": interp.libc.family, "version": interp.libc.version}
                if interp.libc
                else None
            ),
            "sys_path": list(self.sys_path),
            "site_packages": list(self.site_packages),
            "stdlib": list(self.stdlib),
            "user_site": self.user_site,
            "user_site_enabled": self.user_site_enabled,
            "environ": dict(self.environ),
            "markers": dict(self.markers),
        }
