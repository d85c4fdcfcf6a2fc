"""The manylinux (PEP 600) and musllinux (PEP 656) policies, from auditwheel's data.

auditwheel ships the policies as JSON files in its package (``auditwheel/policy/*.json``):
for each policy its name, legacy aliases, priority, the symbol versions each toolchain
library may provide per architecture, the libraries a wheel may expect from the system
(``lib_whitelist``) and symbols it must not import from them (``blacklist``). They are read
here as data — auditwheel's modules are not imported: that costs ~90 ms and pyelftools,
and only the data is needed. The evaluation mirrors ``auditwheel show`` (see
``docs/design.md`` for where it deliberately differs).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from pkgdoctor._fields import Fact, fact
from pkgdoctor.errors import PkgdoctorError
from pkgdoctor.platforms import musl_libc_soname


class PolicyDataError(PkgdoctorError):
    """auditwheel's policy data cannot be found or read."""


@fact
class Policy(Fact):
    """One platform policy for one architecture, e.g. ``manylinux_2_17_x86_64``."""

    name: str
    aliases: tuple[str, ...]
    priority: int  # higher is more compatible; "linux" (no promise at all) is 0
    libc: str  # "glibc" or "musl"
    version: tuple[int, int] | None  # (2, 17) for manylinux_2_17; None for "linux"
    symbol_versions: Mapping[str, frozenset[str]]  # "GLIBC" -> {"GLIBC_2.2.5", ...}
    whitelist: frozenset[str]
    blacklist: Mapping[str, frozenset[str]]

    @property
    def is_linux(self) -> bool:
        return self.version is None

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _data_file(name: str) -> str:
    spec = importlib.util.find_spec("auditwheel")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, "policy", name)
        if os.path.isfile(path):
            return path
    raise PolicyDataError(
        f"auditwheel's policy data ({name}) is not installed; audit-wheel needs it: "
        "python -m pip install 'auditwheel>=6.1'"
    )


@functools.cache
def _load(libc: str) -> tuple[dict[str, Any], ...]:
    name = "manylinux-policy.json" if libc == "glibc" else "musllinux-policy.json"
    path = _data_file(name)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise PolicyDataError(f"cannot read auditwheel's {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
        raise PolicyDataError(f"{path} is not a list of policies")
    return tuple(data)


def _version_of(name: str) -> tuple[int, int] | None:
    match = re.match(r"^(?:manylinux|musllinux)_(\d+)_(\d+)$", name)
    return (int(match[1]), int(match[2])) if match else None


@functools.cache
def policies(libc: str, arch: str) -> tuple[Policy, ...]:
    """Every policy of ``libc`` ("glibc" or "musl") for ``arch``, most compatible first and
    ``linux_<arch>`` last.

    :raises PolicyDataError: if auditwheel's data is missing or not what it should be.
    """
    result = []
    try:
        for raw in _load(libc):
            name = str(raw["name"])
            versions: dict[str, Any] = raw["symbol_versions"]
            if name != "linux" and arch not in versions:
                continue
            whitelist = set(raw["lib_whitelist"])
            soname = musl_libc_soname(arch)
            if libc == "musl" and name != "linux" and soname:
                # musl's libc soname is not the policies' "libc.so" (auditwheel maps it too).
                whitelist.add(soname)
            result.append(
                Policy(
                    name=f"{name}_{arch}",
                    aliases=tuple(f"{alias}_{arch}" for alias in raw["aliases"]),
                    priority=int(raw["priority"]),
                    libc=libc,
                    version=_version_of(name),
                    symbol_versions={
                        prefix: frozenset(f"{prefix}_{v}" for v in values)
                        for prefix, values in (versions.get(arch) or {}).items()
                    },
                    whitelist=frozenset(whitelist) if name != "linux" else frozenset(),
                    blacklist={k: frozenset(v) for k, v in raw["blacklist"].items()},
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PolicyDataError(f"auditwheel's {libc} policy data is not understood: {exc}") from exc
    if not any(p.is_linux for p in result):
        raise PolicyDataError(f"auditwheel's {libc} policy data has no 'linux' policy")
    return tuple(sorted(result, key=lambda p: -p.priority))


def known_architectures(libc: str) -> frozenset[str]:
    arches: set[str] = set()
    for raw in _load(libc):
        versions = raw.get("symbol_versions")
        if isinstance(versions, dict):
            arches.update(versions)
    return frozenset(arches)
