# This file is not imported by pkgdoctor: its source is sent to the *target* interpreter with
# ``python -B -c``.  It must therefore run on every CPython 3.8+ (and PyPy), use only the
# standard library, write nothing (no bytecode, no files) and print exactly one JSON document.
from __future__ import annotations

import sys

# Modules the interpreter imported before any user code runs: a file of the same name on
# sys.path can no longer shadow them. Taken first, before this probe imports anything.
startup_modules = sorted(sys.modules)

import importlib.machinery
import json
import os
import platform
import site
import sysconfig
from typing import Any, Dict, List, Optional, Union

extension_suffixes: List[str] = list(importlib.machinery.EXTENSION_SUFFIXES)


def _config_var(name: str) -> Union[str, int, None]:
    value = sysconfig.get_config_var(name)
    if isinstance(value, (str, int)) or value is None:
        return value
    return str(value)


def _libc() -> Optional[Dict[str, Optional[str]]]:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        text = None
    if text:
        family, _, version = text.partition(" ")
        return {"family": family, "version": version or None}
    return None


def _user_site() -> Optional[str]:
    try:
        return site.getusersitepackages()
    except Exception:
        return None


def _site_packages() -> List[str]:
    try:
        return list(site.getsitepackages())
    except Exception:  # old virtualenv's site.py lacks getsitepackages
        return []


def _marker_environment() -> Dict[str, str]:
    """PEP 508 marker variables, as packaging.markers.default_environment() computes them."""
    impl = sys.implementation
    info = impl.version
    version = "{0.major}.{0.minor}.{0.micro}".format(info)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _frozen_modules() -> List[str]:
    try:
        import _imp

        return sorted(_imp._frozen_module_names())  # type: ignore[attr-defined]
    except (ImportError, AttributeError):  # before 3.11
        return []


# ``-c`` puts the working directory (as "") first on sys.path; pkgdoctor runs the probe in an
# empty private directory and evaluates the user's working directory itself.
# Only sys.path[0] ("" for -c) is the working directory itself; a PYTHONPATH entry "." was
# made absolute (the probe's directory, reported as probe_cwd) and is the user's.
path = [entry for entry in sys.path if entry != ""]
paths = sysconfig.get_paths()
facts: Dict[str, Any] = {
    "implementation": sys.implementation.name,
    "version": list(sys.version_info[:3]),
    "version_string": sys.version.split()[0],
    "cache_tag": sys.implementation.cache_tag,
    "multiarch": getattr(sys.implementation, "_multiarch", None),
    "executable": sys.executable,
    "real_executable": os.path.realpath(sys.executable) if sys.executable else None,
    "prefix": sys.prefix,
    "base_prefix": getattr(sys, "base_prefix", sys.prefix),
    "exec_prefix": sys.exec_prefix,
    "extension_suffixes": extension_suffixes,
    "ext_suffix": _config_var("EXT_SUFFIX"),
    "soabi": _config_var("SOABI"),
    "sysconfig_multiarch": _config_var("MULTIARCH"),
    "gil_disabled": bool(_config_var("Py_GIL_DISABLED")),
    "debug": bool(_config_var("Py_DEBUG")),
    "maxsize_bits": 64 if sys.maxsize > 2**32 else 32,
    "byteorder": sys.byteorder,
    "sys_path": path,
    "site_packages": _site_packages(),
    "user_site": _user_site(),
    "user_site_enabled": bool(site.ENABLE_USER_SITE),
    "stdlib": [paths.get("stdlib"), paths.get("platstdlib")],
    "purelib": paths.get("purelib"),
    "platlib": paths.get("platlib"),
    "libc": _libc(),
    "probe_cwd": os.getcwd(),
    "markers": _marker_environment(),
    "stdlib_module_names": sorted(getattr(sys, "stdlib_module_names", ())),
    "builtin_module_names": sorted(sys.builtin_module_names),
    "frozen_module_names": _frozen_modules(),
    "startup_modules": startup_modules,
    "no_user_site": bool(sys.flags.no_user_site),
    "environ": {
        key: os.environ[key]
        for key in (
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONNOUSERSITE",
            "PYTHONSAFEPATH",
            "PYTHONUSERBASE",
            "LD_LIBRARY_PATH",
            "LD_PRELOAD",
            "VIRTUAL_ENV",
            "CONDA_PREFIX",
        )
        if key in os.environ
    },
}
sys.stdout.write(json.dumps(facts))
