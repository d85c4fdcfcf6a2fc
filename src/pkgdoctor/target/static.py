"""Static mode: read an environment tree's facts from its files, executing nothing.

Used with ``--static`` or automatically when the interpreter cannot run here (an
environment copied from a loongarch64 machine, a venv whose base interpreter is gone).
The facts come from the interpreter's ELF header, ``pyvenv.cfg``, the
``_sysconfigdata_*`` module (parsed with :func:`ast.literal_eval`, never imported) and the
``lib/pythonX.Y`` layout.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pkgdoctor.errors import TargetError
from pkgdoctor.files import read_regular
from pkgdoctor.look.paths import MAX_PTH_BYTES, decode_pth, parse_pth
from pkgdoctor.target.binary import host_binary, host_libc, libc_from_binary, read_binary
from pkgdoctor.target.facts import Binary, Interpreter, Libc, Target
from pkgdoctor.target.prefix import find_interpreter

# lib/python3.10, lib/python3.13t (free-threaded), lib/pypy3.10
_LIBDIR = re.compile(r"^(python|pypy)(\d+)\.(\d+)(t?)$")
_RELEVANT_ENV = ("LD_LIBRARY_PATH", "LD_PRELOAD")
#: pyvenv.cfg is a handful of lines (venv and uv write ~200 bytes); more is not a pyvenv.cfg.
PYVENV_CFG_LIMIT = 64 << 10
#: CPython's _sysconfigdata_*.py is ~30-60 KB; a file cut at this limit fails to parse.
SYSCONFIGDATA_LIMIT = 4 << 20


def read_pyvenv_cfg(prefix: Path) -> dict[str, str]:
    """``key = value`` lines of ``pyvenv.cfg`` (as ``site.venv()`` reads them)."""
    try:
        raw = read_regular(str(prefix / "pyvenv.cfg"), PYVENV_CFG_LIMIT)
    except OSError:  # missing, or a FIFO/device/directory: no configuration
        return {}
    text = raw.decode("utf-8", "replace")
    config = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            config[key.strip().lower()] = value.strip()
    return config


def _libdirs(prefix: Path) -> Iterator[tuple[Path, str, tuple[int, int], bool]]:
    """(dir, implementation, (major, minor), free-threaded) for each lib/pythonX.Y."""
    for libname in ("lib", "lib64"):
        try:
            children = sorted((prefix / libname).iterdir())
        except OSError:
            continue
        for child in children:
            match = _LIBDIR.match(child.name)
            if match and child.is_dir():
                impl = "cpython" if match[1] == "python" else "pypy"
                yield child, impl, (int(match[2]), int(match[3])), bool(match[4])


def read_sysconfigdata(libdir: Path) -> dict[str, Any] | None:
    """``build_time_vars`` of the ``_sysconfigdata_*.py`` module in ``libdir``, if any.

    The module is a plain ``build_time_vars = {...}`` assignment; it is parsed with
    :func:`ast.literal_eval` so that nothing from the target is executed.
    """
    try:
        candidates = sorted(libdir.glob("_sysconfigdata_*.py"))
    except OSError:
        return None
    for candidate in candidates:
        try:
            tree = ast.parse(read_regular(str(candidate), SYSCONFIGDATA_LIMIT), str(candidate))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "build_time_vars" for t in node.targets
            ):
                try:
                    value = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    break
                if isinstance(value, dict):
                    return value
    return None


def _pth_entries(site_dir: Path) -> list[str]:
    """Directories that ``.pth`` files in ``site_dir`` add (import lines are not executed)."""
    entries: list[str] = []
    try:
        pth_files = sorted(site_dir.glob("*.pth"))
    except OSError:
        return entries
    for pth in pth_files:
        try:  # never a FIFO: site.py would hang on it, pkgdoctor must not
            text = decode_pth(read_regular(str(pth), MAX_PTH_BYTES))
        except OSError:
            continue
        for line in parse_pth(text):
            # site.addpackage adds a line only if os.path.exists(), which is False for a
            # path with a NUL (where realpath and resolve raise ValueError).
            if line.executes or "\0" in line.text:
                continue
            # realpath, not Path.resolve: resolve raises RuntimeError on a symlink loop
            # (Python 3.11, 3.12); realpath leaves the looping part as is. os.path.isdir,
            # not Path.is_dir: False for whatever stat refuses (a loop, a name too long).
            path = os.path.realpath(site_dir / line.text)
            if os.path.isdir(path):
                entries.append(path)
    return entries


def read_static(prefix_arg: str | os.PathLike[str], reason: str) -> Target:
    """Read the facts of the environment at ``prefix_arg`` from files only."""
    prefix = Path(os.path.abspath(prefix_arg))
    cfg = read_pyvenv_cfg(prefix)
    found = find_interpreter(str(prefix))
    exe = Path(found) if found else None
    libdirs = list(_libdirs(prefix))
    if exe is None and not libdirs:
        raise TargetError(
            f"{prefix} is not a Python environment (no bin/python3, no lib/python3.*)"
        )

    base_prefix = prefix
    if cfg.get("home"):
        base_prefix = Path(cfg["home"]).parent
    base_libdirs = list(_libdirs(base_prefix)) if base_prefix != prefix else libdirs

    real_exe = os.path.realpath(exe) if exe is not None else None
    binary = read_binary(real_exe) if real_exe else None
    if binary is None and exe is not None:
        # A venv copied from elsewhere: bin/python points at a base interpreter that is not
        # here. Its home may still be readable under the same name.
        for name in (exe.name, "python3"):
            binary = read_binary(str(base_prefix / "bin" / name))
            if binary:
                break

    version, impl, free_threaded = _version(cfg, libdirs or base_libdirs, exe)
    if not (cfg.get("version_info") or cfg.get("version")):
        # A conda environment records its python package's full version (3.11.7, not 3.11).
        from pkgdoctor.look.conda import python_version

        recorded = python_version(str(prefix))
        if recorded is not None and recorded[:2] == version[:2]:
            version = recorded
    libdir_name = f"{'pypy' if impl == 'pypy' else 'python'}{version[0]}.{version[1]}"
    libdir_name += "t" if free_threaded else ""
    stdlib_dir = base_prefix / "lib" / libdir_name
    build_vars = read_sysconfigdata(stdlib_dir) or read_sysconfigdata(prefix / "lib" / libdir_name)

    host = host_binary()
    system_is_host = binary is not None and host is not None and _same_abi(binary, host)
    libc: Libc | None = libc_from_binary(binary) if binary else None
    if system_is_host and libc is not None:
        host_c = host_libc()
        if host_c is not None and host_c.family == libc.family:
            libc = host_c

    interpreter = _interpreter(
        impl, version, free_threaded, exe, real_exe, binary, libc, build_vars
    )
    site_dirs = _site_dirs(prefix, base_prefix, libdir_name, cfg)
    sys_path: list[str] = [str(base_prefix / "lib" / f"python{version[0]}{version[1]}.zip")]
    sys_path += [str(stdlib_dir), str(stdlib_dir / "lib-dynload")]
    for site_dir in site_dirs:
        sys_path.append(str(site_dir))
        sys_path.extend(_pth_entries(site_dir))
    environ = {k: os.environ[k] for k in _RELEVANT_ENV if k in os.environ} if system_is_host else {}
    return Target(
        markers=_markers(interpreter),
        mode="static",
        prefix=str(prefix),
        base_prefix=str(base_prefix),
        interpreter=interpreter,
        sys_path=tuple(dict.fromkeys(sys_path)),
        site_packages=tuple(str(s) for s in site_dirs),
        stdlib=(str(stdlib_dir),),
        environ=environ,
        static_reason=reason,
        system_is_host=system_is_host,
    )


def _markers(interpreter: Interpreter) -> dict[str, str]:
    """PEP 508 marker variables as far as files tell them; the kernel's are unknown ("")."""
    version = ".".join(map(str, interpreter.version))
    impl = interpreter.implementation
    return {
        "implementation_name": impl,
        "implementation_version": version,
        "os_name": "posix",
        "platform_machine": interpreter.architecture or "",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": version,
        "platform_python_implementation": "CPython" if impl == "cpython" else "PyPy",
        "python_version": interpreter.short_version,
        "sys_platform": "linux",
    }


def _same_abi(a: Binary, b: Binary) -> bool:
    return (a.machine, a.elf_class, a.little_endian) == (b.machine, b.elf_class, b.little_endian)


def _version(
    cfg: dict[str, str],
    libdirs: list[tuple[Path, str, tuple[int, int], bool]],
    exe: Path | None,
) -> tuple[tuple[int, int, int], str, bool]:
    impl = libdirs[0][1] if libdirs else "cpython"
    free_threaded = any(ft for *_, ft in libdirs)
    for key in ("version_info", "version"):
        match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", cfg.get(key, ""))
        if match:
            return (int(match[1]), int(match[2]), int(match[3] or 0)), impl, free_threaded
    if libdirs:
        major, minor = libdirs[0][2]
        return (major, minor, 0), impl, free_threaded
    match = re.search(r"(\d+)\.(\d+)", exe.name if exe else "")
    if match:
        return (int(match[1]), int(match[2]), 0), impl, free_threaded
    raise TargetError("cannot tell the Python version of this environment")


def _interpreter(
    impl: str,
    version: tuple[int, int, int],
    free_threaded: bool,
    exe: Path | None,
    real_exe: str | None,
    binary: Binary | None,
    libc: Libc | None,
    build_vars: dict[str, Any] | None,
) -> Interpreter:
    ext_suffix = soabi = multiarch = None
    suffixes: tuple[str, ...] = ()
    gil_disabled, debug = free_threaded, False
    if build_vars is not None:
        ext_suffix = _str(build_vars.get("EXT_SUFFIX"))
        soabi = _str(build_vars.get("SOABI"))
        multiarch = _str(build_vars.get("MULTIARCH"))
        gil_disabled = bool(build_vars.get("Py_GIL_DISABLED")) or free_threaded
        debug = bool(build_vars.get("Py_DEBUG"))
        if ext_suffix:
            # importlib.machinery.EXTENSION_SUFFIXES on CPython/Linux (Python/dynload_shlib.c):
            # the full tag, the stable ABI (not under free-threading), then a bare ".so".
            stable = () if gil_disabled else (".abi3.so",)
            suffixes = (ext_suffix, *stable, ".so")
    return Interpreter(
        implementation=impl,
        version=version,
        executable=str(exe) if exe else None,
        real_executable=real_exe,
        extension_suffixes=suffixes,
        ext_suffix=ext_suffix,
        soabi=soabi,
        multiarch=multiarch,
        gil_disabled=gil_disabled,
        debug=debug,
        binary=binary,
        libc=libc,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _site_dirs(
    prefix: Path, base_prefix: Path, libdir_name: str, cfg: dict[str, str]
) -> list[Path]:
    prefixes = [prefix]
    if prefix == base_prefix or cfg.get("include-system-site-packages", "").lower() == "true":
        prefixes.append(base_prefix)
    dirs: list[Path] = []
    for p in dict.fromkeys(prefixes):
        for lib in ("lib", "lib64"):
            dirs.append(p / lib / libdir_name / "site-packages")
        # Debian's layout for its own and for pip-installed system packages.
        dirs.append(p / "local" / "lib" / libdir_name / "dist-packages")
        dirs.append(p / "lib" / "python3" / "dist-packages")
    seen: set[str] = set()
    existing = []
    for d in dirs:
        real = os.path.realpath(d)
        if real not in seen and d.is_dir():
            seen.add(real)
            existing.append(d)
    return existing
