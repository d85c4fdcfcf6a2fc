"""The target of ``pkgdoctor wheels``: a Python and a platform, and the wheel tags they accept.

A target is either *the current environment* (its interpreter's implementation, version and
ABI, its architecture and C library, as the probe or the static reader found them) or
*described* on the command line like pip's ``--platform/--python-version/--implementation/
--abi``. The tags are computed with ``packaging.tags`` for that target, never with
``sys_tags()``, which describes pkgdoctor's own interpreter and this machine's glibc.

One difference from pip's ``--platform``, on purpose: a ``manylinux``/``musllinux`` tag
names *a system of that kind*. ``--platform manylinux_2_28_aarch64`` is a glibc 2.28 aarch64
system, which accepts every older manylinux tag of its architecture (and the legacy
``manylinux2014`` alias) and ``linux_aarch64``, in the order pip on such a system prefers
them (``packaging._manylinux.platform_tags``). pip itself accepts only the exact tags given
(plus ``manylinux2010``/``manylinux1`` under ``manylinux2014``, see pip's
``_get_custom_platforms``).

Example::

    >>> target = describe_target(platforms=["musllinux_1_2_x86_64"], python_version="3.12")
    >>> target.platforms
    ('linux_x86_64', 'musllinux_1_2_x86_64', 'musllinux_1_1_x86_64', 'musllinux_1_0_x86_64')
    >>> str(target.tags()[1])
    'cp312-cp312-musllinux_1_2_x86_64'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, replace
from typing import TYPE_CHECKING, Any

from pkgdoctor._fields import Fact, fact
from pkgdoctor.errors import TargetError, UsageError
from pkgdoctor.platforms import (
    LINUX_ARCHITECTURES,
    accepted_tags,
    cpython_abis,
    linux_platforms,
    parse_platform_tag,
)

if TYPE_CHECKING:
    from packaging.tags import Tag

    from pkgdoctor.target.facts import Target

_TAG_PART = re.compile(r"[a-z0-9_]+")

# Marker values a described target implies (PEP 508 environment markers).
_IMPLEMENTATION_NAMES = {
    "cp": ("cpython", "CPython"),
    "pp": ("pypy", "PyPy"),
    "ip": ("ironpython", "IronPython"),
    "jy": ("jython", "Jython"),
    "gp": ("graalpy", "GraalVM"),
}
_OS_LABELS = {
    "macos": "macOS",
    "windows": "Windows",
    "linux": "Linux",
    "android": "Android",
    "ios": "iOS",
}
_WINDOWS_MACHINE = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64"}


@fact
class Platform(Fact):
    """What a platform tag says about the system it is for."""

    tag: str
    os: str  # "linux", "macos", "windows", "android", "ios", "any" or "other"
    arch: str | None = None
    libc: str | None = None  # "glibc" (manylinux), "musl" (musllinux), None: not said
    libc_version: tuple[int, int] | None = None

    @property
    def os_label(self) -> str:
        return _OS_LABELS.get(self.os, self.tag)


def parse_platform(tag: str) -> Platform:
    """Read a platform tag: ``manylinux_2_28_aarch64`` is Linux, aarch64, glibc 2.28.

    >>> info = parse_platform("musllinux_1_2_x86_64")
    >>> info.os, info.arch, info.libc, info.libc_version
    ('linux', 'x86_64', 'musl', (1, 2))
    """
    if tag == "any":
        return Platform(tag, "any")
    linux = parse_platform_tag(tag)
    if linux is not None:
        return Platform(tag, "linux", linux.arch, linux.libc, linux.version)
    prefix, _, arch = tag.partition("_")
    if tag.startswith("macosx_"):
        return Platform(tag, "macos", tag.split("_", 3)[-1])
    if tag == "win32" or tag.startswith("win_"):
        return Platform(tag, "windows", "x86" if tag == "win32" else tag[4:])
    if prefix in ("android", "ios"):
        return Platform(tag, prefix, tag.split("_", 2)[-1])
    return Platform(tag, "other", arch or None)


def system_platforms(tag: str) -> list[str]:
    """The platform tags that a system named by ``tag`` accepts, most preferred first.

    A manylinux tag stands for a glibc system: ``linux_<arch>``, then every manylinux tag of
    the same architecture from its glibc down to 2.5 (x86) or 2.17 (other architectures),
    each legacy alias next to the version it stands for — the order pip 26.3 uses on such a
    system. A musllinux tag likewise counts its musl minor versions down to 0. macOS tags
    expand as pip expands them (``packaging.tags.mac_platforms``); any other tag stands for
    itself.

    >>> system_platforms("manylinux_2_19_aarch64")
    ['linux_aarch64', 'manylinux_2_19_aarch64', 'manylinux_2_18_aarch64', \
'manylinux_2_17_aarch64', 'manylinux2014_aarch64']
    """
    info = parse_platform(tag)
    if info.os == "linux" and info.libc is not None and info.libc_version and info.arch:
        # linux_<arch> first, as pip 26.3 orders them (pkgdoctor.platforms.linux_platforms).
        return linux_platforms(info.arch, info.libc, info.libc_version)
    if info.os == "macos":
        match = re.fullmatch(r"(macosx)_(\d+)_(\d+)_(.+)", tag)
        if match:
            from packaging.tags import mac_platforms

            return list(mac_platforms((int(match[2]), int(match[3])), match[4]))
    return [tag]


def expand_platforms(tags: Iterable[str]) -> list[str]:
    """Every tag's :func:`system_platforms`, in order, each platform once."""
    seen: set[str] = set()
    result: list[str] = []
    for tag in tags:
        for platform in system_platforms(tag):
            if platform not in seen:
                seen.add(platform)
                result.append(platform)
    return result


def check_platform_tag(tag: str) -> str:
    """``tag`` if it can be a platform tag, else a :class:`UsageError` that says what to type."""
    if tag in LINUX_ARCHITECTURES:
        raise UsageError(
            f"--platform {tag}: name a system, not only its architecture, e.g. "
            f"manylinux_2_36_{tag} (glibc 2.36), musllinux_1_2_{tag} (musl 1.2) or linux_{tag}"
        )
    if not _TAG_PART.fullmatch(tag):
        raise UsageError(
            f"--platform {tag!r} is not a platform tag (expected e.g. manylinux_2_28_x86_64, "
            "musllinux_1_2_aarch64, linux_riscv64, macosx_11_0_arm64, win_amd64)"
        )
    return tag


@fact
class WheelTarget(Fact):
    """A Python and a platform: what decides which wheels fit.

    ``python_version`` is the full version that ``Requires-Python`` is checked against
    (pip uses ``X.Y.0`` for ``--python-version X.Y``); ``platforms`` is already expanded, most
    preferred first. ``environment`` names the interpreter when the target is a real one.
    """

    implementation: str  # short name: "cp", "pp", ...
    python_version: tuple[int, int, int]
    abis: tuple[str, ...]
    platforms: tuple[str, ...]
    described: bool
    platforms_given: tuple[str, ...] = ()
    environment: str | None = None
    markers: Mapping[str, str] = field(default_factory=dict)

    @property
    def nodot(self) -> str:
        return f"{self.python_version[0]}{self.python_version[1]}"

    @property
    def short_version(self) -> str:
        return f"{self.python_version[0]}.{self.python_version[1]}"

    @property
    def full_version(self) -> str:
        return ".".join(map(str, self.python_version))

    @property
    def free_threaded(self) -> bool:
        return any(re.fullmatch(r"cp\d+t?d?", a) and "t" in a[2:] for a in self.abis)

    def tags(self) -> list[Tag]:
        """The supported tags, most preferred first — pip's ``get_supported`` for this target:
        ``cpython_tags`` (or ``generic_tags``) followed by ``compatible_tags``."""
        return accepted_tags(self.implementation, self.python_version, self.abis, self.platforms)

    def platform_infos(self) -> list[Platform]:
        return [parse_platform(p) for p in self.platforms]

    def summary(self) -> str:
        """One line, e.g. ``CPython 3.12 (cp312) on Linux loongarch64, glibc 2.36``."""
        name = _IMPLEMENTATION_NAMES.get(self.implementation, ("", self.implementation))[1]
        python = f"{name} {self.short_version}"
        if self.free_threaded:
            python += " free-threaded"
        return f"{python} ({', '.join(self.abis) or 'no ABI'}) on {self.platform_summary()}"

    def platform_summary(self) -> str:
        given = [parse_platform(p) for p in (self.platforms_given or self.platforms[:1])]
        parts = []
        for info in given:
            if info.os == "linux" and info.libc and info.libc_version:
                version = ".".join(map(str, info.libc_version))
                parts.append(f"Linux {info.arch}, {info.libc} {version}")
            elif info.os == "linux":
                parts.append(f"Linux {info.arch}, any libc ({info.tag} only)")
            else:
                parts.append(info.tag)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "described" if self.described else "environment",
            "environment": self.environment,
            "summary": self.summary(),
            "implementation": self.implementation,
            "python_version": self.full_version,
            "abis": list(self.abis),
            "platforms_given": list(self.platforms_given),
            "platforms": list(self.platforms),
            "tag_count": len(self.tags()),
        }


#: The first CPython with a free-threaded build (PEP 703; "What's New in Python 3.13").
FREE_THREADING_SINCE = (3, 13)


def parse_python_version(value: str) -> tuple[tuple[int, int, int], bool]:
    """``--python-version``: ``3.12``, ``312``, ``3.12.4`` (as pip reads it), or ``3.13t``
    for a free-threaded build. Returns the full version (``X.Y.0`` when the micro version is
    not given, as pip does) and whether ``t`` was given."""
    text = value.strip()
    threaded = text.endswith("t")
    if threaded:
        text = text[:-1]
    parts = text.split(".")
    if len(parts) == 1 and len(text) > 1 and text.isdigit():
        parts = [text[0], text[1:]]
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise UsageError(
            f"--python-version {value!r}: expected X.Y (e.g. 3.12, or 3.13t for free-threaded)"
        )
    numbers = [int(p) for p in parts] + [0]
    version = (numbers[0], numbers[1], numbers[2])
    if threaded and version[:2] < FREE_THREADING_SINCE:
        since = ".".join(map(str, FREE_THREADING_SINCE))
        raise UsageError(
            f"--python-version {value!r}: no such Python: free-threaded CPython builds start at "
            f"{since} (PEP 703); use {since}t or later, or {text} without t"
        )
    return version, threaded


def describe_target(
    platforms: Sequence[str] = (),
    python_version: str | None = None,
    implementation: str | None = None,
    abis: Sequence[str] = (),
    environment: Callable[[], WheelTarget] | None = None,
) -> WheelTarget:
    """The target the options describe; what they leave out comes from ``environment()``
    (the current environment), which is called only when needed.

    With no option at all this is ``environment()`` itself. Like pip, ``--python-version``
    without ``--abi`` means the default ABI of that version (``cp312``), and ``--platform``
    without ``--python-version`` keeps the environment's Python.
    """
    if not (platforms or python_version or implementation or abis):
        if environment is None:
            raise UsageError("no target: describe one with --platform and --python-version")
        return environment()
    base: WheelTarget | None = None

    def env() -> WheelTarget:
        nonlocal base
        if base is None:
            if environment is None:
                raise UsageError("describe the whole target (--platform and --python-version)")
            base = environment()
        return base

    impl = _short_implementation(implementation) if implementation else None
    threaded = False
    if python_version is not None:
        version, threaded = parse_python_version(python_version)
    else:
        version = env().python_version
    impl = impl or (env().implementation if python_version is None else "cp")
    if abis:
        abi_list = tuple(a.strip() for a in abis if a.strip())
    elif python_version is None and impl == env().implementation:
        abi_list = env().abis
    elif impl == "cp":
        abi_list = (f"cp{version[0]}{version[1]}{'t' if threaded else ''}",)
    else:
        abi_list = ()
    given = tuple(check_platform_tag(p.strip()) for p in platforms if p.strip())
    expanded = tuple(expand_platforms(given)) if given else env().platforms
    target = WheelTarget(
        implementation=impl,
        python_version=version,
        abis=abi_list,
        platforms=expanded,
        described=True,
        platforms_given=given or env().platforms_given,
    )
    markers = dict(described_markers(target))
    if not given:
        # The environment's own platform markers are better than what a tag implies.
        for key in (
            "platform_machine",
            "platform_release",
            "platform_system",
            "platform_version",
            "os_name",
            "sys_platform",
        ):
            if key in env().markers:
                markers[key] = env().markers[key]
    return replace(target, markers=markers)


def _short_implementation(name: str) -> str:
    from packaging.tags import INTERPRETER_SHORT_NAMES

    name = name.strip().lower()
    return INTERPRETER_SHORT_NAMES.get(name, name)


def described_markers(target: WheelTarget) -> dict[str, str]:
    """PEP 508 marker values a described target implies. What a tag cannot say
    (``platform_release``, ``platform_version``) is empty."""
    info = parse_platform(target.platforms[0]) if target.platforms else Platform("any", "any")
    name, python_implementation = _IMPLEMENTATION_NAMES.get(
        target.implementation, (target.implementation, target.implementation)
    )
    system, sys_platform, os_name = {
        "linux": ("Linux", "linux", "posix"),
        "macos": ("Darwin", "darwin", "posix"),
        "windows": ("Windows", "win32", "nt"),
    }.get(info.os, ("", "", "posix"))
    machine = info.arch or ""
    if info.os == "windows":
        machine = _WINDOWS_MACHINE.get(info.tag, machine)
    elif info.os == "macos":
        machine = "arm64" if machine in ("arm64", "universal2") else "x86_64"
    return {
        "implementation_name": name,
        "implementation_version": target.full_version,
        "os_name": os_name,
        "platform_machine": machine,
        "platform_python_implementation": python_implementation,
        "platform_release": "",
        "platform_system": system,
        "platform_version": "",
        "python_full_version": target.full_version,
        "python_version": target.short_version,
        "sys_platform": sys_platform,
    }


def environment_target(target: Target) -> WheelTarget:
    """The tags of a real environment, from the facts the probe or static reader found:
    its interpreter's implementation, version and ABI (``SOABI``: free-threaded ``t``,
    debug ``d``), its architecture and its C library with version."""
    interp = target.interpreter
    impl = _short_implementation(interp.implementation)
    if impl == "cp":
        abis = list(
            cpython_abis(interp.version, free_threaded=interp.gil_disabled, debug=interp.debug)
        )
    elif interp.soabi:
        abis = [re.sub(r"[.-]", "_", interp.soabi)]
    else:
        abis = []
    arch = interp.architecture
    libc = interp.libc
    where = target.interpreter.executable or target.prefix
    if arch is None:
        raise TargetError(
            f"cannot tell the architecture of {where}; describe the target with --platform"
        )
    libc_version = libc.version_tuple() if libc else None
    if libc is None or libc_version is None or libc.family not in ("glibc", "musl"):
        raise TargetError(
            f"cannot tell the C library version of {where}; describe the target with "
            f"--platform (e.g. manylinux_2_36_{arch} or musllinux_1_2_{arch})"
        )
    kind = "manylinux" if libc.family == "glibc" else "musllinux"
    tag = f"{kind}_{libc_version[0]}_{libc_version[1]}_{arch}"
    wheel_target = WheelTarget(
        implementation=impl,
        python_version=interp.version,
        abis=tuple(abis),
        platforms=tuple(system_platforms(tag)),
        described=False,
        platforms_given=(tag,),
        environment=where,
    )
    markers = described_markers(wheel_target)
    markers.update({k: v for k, v in target.markers.items() if isinstance(v, str)})
    return replace(wheel_target, markers=markers)
