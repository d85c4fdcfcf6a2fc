# This file is not imported by pkgdoctor: its source is sent to the *target* interpreter with
# ``python -B -c``.  It must therefore run on every CPython 3.8+ (and PyPy), use only the
# standard library, write nothing (no bytecode, no files) and print exactly one JSON document.
# It waits on the critical path of every ``check``, so it imports as little as it can: no
# ``json`` (which brings ``re``), ``typing`` or ``platform`` — about 10 ms of a 25 ms run.
import sys

# Modules the interpreter imported before any user code runs: a file of the same name on
# sys.path can no longer shadow them. Taken first, before this probe imports anything.
startup_modules = sorted(sys.modules)

import importlib.machinery
import os
import site
import sysconfig

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads the type comments; the probe never imports typing
    from typing import Any, Dict, List, Optional, Union  # noqa: F401 (type comments)

extension_suffixes = list(importlib.machinery.EXTENSION_SUFFIXES)


def _config_var(name):
    # type: (str) -> Union[str, int, None]
    value = sysconfig.get_config_var(name)
    if isinstance(value, (str, int)) or value is None:
        return value
    return str(value)


def _libc():
    # type: () -> Optional[Dict[str, Optional[str]]]
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        text = None
    if text:
        family, _, version = text.partition(" ")
        return {"family": family, "version": version or None}
    return None


def _user_site():
    # type: () -> Optional[str]
    try:
        return site.getusersitepackages()
    except Exception:
        return None


def _site_packages():
    # type: () -> List[str]
    try:
        return list(site.getsitepackages())
    except Exception:  # old virtualenv's site.py lacks getsitepackages
        return []


def _python_full_version():
    # type: () -> str
    """``platform.python_version()``: the leading ``[\\w.+]`` run of ``sys.version``."""
    text = sys.version
    end = 0
    while end < len(text) and (text[end].isalnum() or text[end] in "._+"):
        end += 1
    return text[:end]


_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython"}


def _marker_environment():
    # type: () -> Dict[str, str]
    """PEP 508 marker variables, as packaging.markers.default_environment() computes them
    (through ``platform``, whose answers on POSIX come from ``os.uname()`` and ``sys``)."""
    impl = sys.implementation
    info = impl.version
    version = "{0.major}.{0.minor}.{0.micro}".format(info)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    uname = getattr(os, "uname", None)
    name = _IMPLEMENTATIONS.get(impl.name)
    if uname is None or name is None:  # not POSIX, or an implementation platform knows better
        import platform

        machine, release, system, kernel = (
            platform.machine(),
            platform.release(),
            platform.system(),
            platform.version(),
        )
        name = platform.python_implementation()
    else:
        system, _, release, kernel, machine = uname()
    return {
        "implementation_name": impl.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": machine,
        "platform_release": release,
        "platform_system": system,
        "platform_version": kernel,
        "python_full_version": _python_full_version(),
        "platform_python_implementation": name,
        "python_version": "%d.%d" % sys.version_info[:2],
        "sys_platform": sys.platform,
    }


def _frozen_modules():
    # type: () -> List[str]
    try:
        import _imp

        return sorted(_imp._frozen_module_names())  # type: ignore[attr-defined]
    except (ImportError, AttributeError):  # before 3.11
        return []


# ``-c`` puts the working directory (as "") first on sys.path; pkgdoctor runs the probe in an
# empty private directory and evaluates the user's working directory itself.
# Only sys.path[0] ("" for -c) is the working directory itself; a PYTHONPATH entry "." was
# made absolute (the probe's directory, reported as probe_cwd) and is the user's.
# An entry that is not a str (a .pth file's code can append anything) is skipped by the
# import system (importlib._bootstrap_external.PathFinder._get_spec), and so here.
path = [entry for entry in sys.path if isinstance(entry, str) and entry != ""]
paths = sysconfig.get_paths()


def _environ():
    # type: () -> Dict[str, str]
    """The variables that change what Python imports, what the loader maps and what pip or
    uv install; a secret's value is never reported, nor the credentials in a URL."""
    result = {}
    for key, value in os.environ.items():
        if key in _ENV_NAMES or key.startswith(_ENV_PREFIXES):
            upper = key.upper()
            if any(word in upper for word in _SECRET_WORDS):
                value = "***"
            else:
                value = _without_credentials(value)
            result[key] = value
    return result


_ENV_NAMES = frozenset((
    "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONSAFEPATH", "PYTHONUSERBASE",
    "LD_LIBRARY_PATH", "LD_PRELOAD", "VIRTUAL_ENV", "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV", "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES",
))  # fmt: skip
# pip's and uv's configuration variables, CUDA's and conda's.
_ENV_PREFIXES = ("PIP_", "UV_", "CUDA_", "CONDA_")
_SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "AUTH", "KEYRING", "CREDENTIAL")


def _without_credentials(value):
    # type: (str) -> str
    """``https://user:token@host/simple`` -> ``https://***@host/simple``, for every URL in
    ``value`` (pip takes several, space-separated). No ``re``: the probe imports little."""
    if "://" not in value or "@" not in value:
        return value
    out = []
    for word in value.split(" "):
        scheme, sep, rest = word.partition("://")
        if sep:
            authority, slash, path = rest.partition("/")
            if "@" in authority:
                word = scheme + sep + "***@" + authority.rpartition("@")[2] + slash + path
        out.append(word)
    return " ".join(out)


facts = {
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
    "environ": _environ(),
}


def _json(value):
    # type: (Union[str, int, None, Dict[str, Any], List[Any]]) -> str
    """JSON text of plain data (what ``json.dumps`` gives, without importing ``json``)."""
    if isinstance(value, str):
        return _encode_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, dict):
        return "{%s}" % ", ".join(_encode_string(k) + ": " + _json(v) for k, v in value.items())
    return "[%s]" % ", ".join(_json(item) for item in value)


try:
    from _json import encode_basestring_ascii as _encode_string
except ImportError:  # an interpreter without the accelerator: the real thing
    from json import dumps as _encode_string

sys.stdout.write(_json(facts))
