"""Looking at ``sys.path``: where each entry came from, what it provides, the ``.pth`` files.

The target's ``sys.path`` comes from the probe (live) or the static reader without the
working-directory entry; the user's working directory (``--cwd``) is put back in front, as
``python -c``, ``python -m`` and the REPL do (a script's own directory takes its place),
unless ``PYTHONSAFEPATH`` is set (3.11+).

Every directory is listed once (``os.scandir``); nothing walks a tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from pkgdoctor.files import blocking_kind, read_regular
from pkgdoctor.snapshot.model import (
    ExternallyManaged,
    PathEntry,
    PathFacts,
    Provision,
    PthFile,
    PthLine,
    SourceDir,
)
from pkgdoctor.target.facts import Target

#: The most of one .pth file read: real ones are a line or two (a distutils-precedence.pth,
#: an editable install's path); 1 MiB is ~10,000 path lines.
MAX_PTH_BYTES = 1 << 20
_MAX_MARKER_BYTES = 1 << 16


def collect(target: Target, cwd: str | None) -> PathFacts:
    """The effective path of ``target`` as the user's Python in ``cwd`` gets it."""
    safe_path = target.interpreter.version[:2] >= (3, 11) and bool(
        target.environ.get("PYTHONSAFEPATH")
    )
    pythonpath = _pythonpath(target)
    pythonpath_norm = {_norm(os.path.join(cwd or "", p)) for p in pythonpath or ()}
    stdlib = set()
    for directory in target.stdlib:
        stdlib |= {_norm(directory), _norm(os.path.join(directory, "lib-dynload"))}
    site = {_norm(p) for p in target.site_packages}
    user_site = _norm(target.user_site) if target.user_site else None
    pth_files = read_pth_files(target)
    added_by: dict[str, str] = {}
    for pth in pth_files:
        for line in pth.lines:
            if not line.executes:
                added_by.setdefault(_norm(os.path.join(pth.site_dir, line.text)), pth.path)

    raw_entries: list[tuple[str, str, str | None]] = []
    if cwd and not safe_path:
        raw_entries.append((cwd, "working directory", None))
    for raw in target.sys_path:
        path = _probe_relative(raw, cwd, target.probe_cwd) if pythonpath else raw
        norm = _norm(path)
        pth_file = None
        if norm in pythonpath_norm:
            origin = "PYTHONPATH"
        elif norm in stdlib or path.endswith(".zip"):
            origin = "stdlib"
        elif norm in site:
            origin = "site-packages"
        elif norm == user_site:
            origin = "user site"
        elif norm in added_by:
            origin, pth_file = ".pth", added_by[norm]
        else:
            origin = "unknown"
        raw_entries.append((path, origin, pth_file))

    suffixes = target.interpreter.extension_suffixes
    listed: dict[str, Mapping[str, Provision]] = {}
    entries = []
    for index, (path, origin, pth_file) in enumerate(raw_entries):
        real = os.path.realpath(path)
        if path.endswith(".zip"):
            provides: Mapping[str, Provision] = {}  # read by zipimport: not listed
        else:
            if real not in listed:
                listed[real] = list_provisions(path, suffixes)
            provides = listed[real]
        entries.append(PathEntry(path, index, origin, real, pth_file, provides))
    return PathFacts(
        entries=tuple(entries),
        pythonpath=None if pythonpath is None else tuple(pythonpath),
        pth_files=tuple(pth_files),
        cwd=cwd,
        externally_managed=_externally_managed(target),
        conda=os.path.isdir(os.path.join(target.prefix, "conda-meta")),
        prefix_real=(os.path.realpath(target.prefix), os.path.realpath(target.base_prefix)),
        venv_cfg_blocking=blocking_kind(os.path.join(target.prefix, "pyvenv.cfg")),
        sources=tuple(read_sources(target, pth_files)),
    )


def _norm(path: str) -> str:
    return os.path.normpath(path)


def _pythonpath(target: Target) -> list[str] | None:
    if target.mode != "live":
        return None
    raw = target.environ.get("PYTHONPATH")
    if not raw:
        return []
    return [p for p in raw.split(os.pathsep) if p]


def _probe_relative(entry: str, cwd: str | None, probe_cwd: str | None) -> str:
    """The probe ran in a private directory (``probe_cwd``), so a relative PYTHONPATH entry
    (``src``) shows up below it; for the user it is below ``cwd``."""
    if cwd is None or not probe_cwd:
        return entry
    if entry == probe_cwd:
        return cwd
    if entry.startswith(probe_cwd + os.sep):
        return os.path.join(cwd, entry[len(probe_cwd) + 1 :])
    return entry


# --- what a directory provides --------------------------------------------------------------


def list_provisions(directory: str, extension_suffixes: Sequence[str]) -> dict[str, Provision]:
    """Every top-level name ``directory`` provides, the way importlib's FileFinder sees it:
    one ``os.scandir`` plus a ``stat`` or two for each candidate package directory. Missing
    or unreadable directories provide nothing.
    """
    # FileFinder's loader order: extension modules, source, bytecode.
    suffixes = [(s, "extension") for s in extension_suffixes]
    suffixes += [(".py", "module"), (".pyc", "bytecode")]
    # Any __init__ makes a package: __init__.py, by far the most common, is asked for first.
    init_files = ["__init__" + s for s, _ in sorted(suffixes, key=lambda s: s[0] != ".py")]
    rank = {"package": 0, "extension": 1, "module": 2, "bytecode": 3, "namespace": 4}
    found: dict[str, Provision] = {}
    try:
        with os.scandir(directory) as it:
            items = list(it)
    except (OSError, ValueError):
        return found
    for item in items:
        name = item.name
        if name.isidentifier():
            if _is_dir(item):
                path = item.path
                kind = "package" if _has_init(path, init_files) else "namespace"
                _keep(found, name, Provision(kind, path), rank)
            continue
        for suffix, kind in suffixes:
            if name.endswith(suffix):
                stem = name[: -len(suffix)]
                if stem.isidentifier() and _is_file(item):
                    _keep(found, stem, Provision(kind, item.path), rank)
                break
    return found


def _has_init(path: str, init_files: Sequence[str]) -> bool:
    return any(os.path.isfile(os.path.join(path, name)) for name in init_files)


def _is_file(item: os.DirEntry[str]) -> bool:
    try:
        return item.is_file()
    except OSError:
        return False


def _is_dir(item: os.DirEntry[str]) -> bool:
    try:
        return item.is_dir()
    except OSError:
        return False


def _keep(
    found: dict[str, Provision], name: str, provision: Provision, rank: Mapping[str, int]
) -> None:
    old = found.get(name)
    if old is None or rank[provision.kind] < rank[old.kind]:
        found[name] = provision


# --- .pth files -----------------------------------------------------------------------------


def parse_pth(text: str, *, version: tuple[int, int] = (3, 13)) -> list[PthLine]:
    """The lines of a ``.pth`` file the way ``site.addpackage`` reads them.

    Comments (``#`` in the first column) and blank lines are skipped; a line that starts with
    ``import`` followed by a space or a tab is executed, any other names a directory. From
    3.13 site.py splits with ``str.splitlines()``; before, it iterated over a text file
    (universal newlines).

    >>> [(line.number, line.executes) for line in parse_pth("# hook\\nimport os\\n../src\\n")]
    [(2, True), (3, False)]
    """
    lines = text.splitlines() if version >= (3, 13) else re.split(r"\r\n|\r|\n", text)
    result = []
    for number, line in enumerate(lines, 1):
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(("import ", "import\t")):
            result.append(PthLine(number, line.rstrip("\r\n"), True))
        else:
            result.append(PthLine(number, line.rstrip(), False))
    return result


def decode_pth(data: bytes) -> str:
    """site.py 3.13: UTF-8 (a BOM allowed), else the locale's encoding (Latin-1 here)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _site_dirs(target: Target) -> list[str]:
    """The directories whose ``.pth`` files site.py processes, as spelled on sys.path."""
    candidates = list(target.site_packages)
    if target.user_site and target.user_site_enabled and not target.no_user_site:
        candidates.append(target.user_site)
    by_real = {os.path.realpath(p): p for p in reversed(target.sys_path)}
    result: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if real in seen or not os.path.isdir(candidate):
            continue
        seen.add(real)
        result.append(by_real.get(real, candidate))
    return result


def read_pth_files(target: Target) -> list[PthFile]:
    """Every ``.pth`` file of the target's site directories, in site.py's order."""
    version = target.interpreter.version[:2]
    files = []
    for site_dir in _site_dirs(target):
        try:
            names = sorted(n for n in os.listdir(site_dir) if n.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            if name.startswith(".") and version >= (3, 13):
                continue  # 3.13 skips hidden .pth files (python/cpython#113659)
            path = os.path.join(site_dir, name)
            blocking = blocking_kind(path)
            if blocking is not None:  # site.py blocks on it at every start: a fact to report
                files.append(PthFile(path, site_dir, (), blocking))
                continue
            try:
                data = read_regular(path, MAX_PTH_BYTES)
            except OSError:
                continue  # gone, unreadable, or a directory (site.py skips those too)
            lines = tuple(parse_pth(decode_pth(data), version=version))
            files.append(PthFile(path, site_dir, lines))
    return files


# --- where editable installs point ----------------------------------------------------------

# The hook line of a PEP 660 editable install by setuptools (>= 64) in "lenient" mode:
# ``import __editable___NAME_VERSION_finder; __editable___NAME_VERSION_finder.install()``
# (setuptools/command/editable_wheel.py, ``_TopLevelFinder``).
_FINDER_IMPORT = re.compile(r"^import\s+(__editable___\w+_finder)\b")
# The finder module's mapping of top-level names to their source (``_FINDER_TEMPLATE``:
# ``MAPPING: dict[str, str] = {...}``, one line: it is written with ``repr``).
_FINDER_MAPPING = re.compile(r"^MAPPING\s*(?::[^=]*)?=\s*(\{.*\})\s*$", re.MULTILINE)
_MAX_FINDER_BYTES = 1 << 20
_MAX_EGG_LINK_BYTES = 1 << 16


#: Linux's PATH_MAX (<linux/limits.h>): the longest path the kernel resolves, NUL included.
PATH_MAX = 4096


def read_sources(target: Target, pth_files: Sequence[PthFile]) -> list[SourceDir]:
    """The directories ``.pth`` lines, editable finders and ``.egg-link`` files point at,
    with whether each exists: an editable install whose source was deleted leaves them
    behind, and site.py skips a missing directory without a word."""
    found: list[SourceDir] = []
    for pth in pth_files:
        if not _inside(pth.path, pth.site_dir):
            continue
        for line in pth.lines:
            if not line.executes:
                if len(line.text) > PATH_MAX:
                    # No file system names it (open(2) fails with ENAMETOOLONG), so it is no
                    # one's source; and a 1 MiB line must not be echoed in five places.
                    continue
                path = _norm(os.path.join(pth.site_dir, line.text))  # as site.addpackage
                # exists, not isdir: site.py adds a zipped egg (a file) as well
                found.append(SourceDir(path, pth.path, "pth", os.path.exists(path)))
                continue
            match = _FINDER_IMPORT.match(line.text)
            if match:
                finder = os.path.join(pth.site_dir, match[1] + ".py")
                if not _inside(finder, pth.site_dir):
                    continue
                for name, path in _finder_mapping(finder).items():
                    exists = _module_exists(path, target.interpreter.extension_suffixes)
                    found.append(SourceDir(path, finder, "finder", exists, name))
    for site_dir in _site_dirs(target):
        try:
            names = sorted(n for n in os.listdir(site_dir) if n.endswith(".egg-link"))
        except OSError:
            continue
        for name in names:
            link = os.path.join(site_dir, name)
            if not _inside(link, site_dir):
                continue
            try:
                text = decode_pth(read_regular(link, _MAX_EGG_LINK_BYTES))
            except OSError:
                continue
            # setuptools' develop writes the source directory, then its path relative to
            # the site directory (pkg_resources reads only the first line).
            first = next((ln.strip() for ln in text.splitlines() if ln.strip()), None)
            if first is None:
                continue
            path = _norm(os.path.join(site_dir, first))
            found.append(SourceDir(path, link, "egg-link", os.path.isdir(path), name[:-9]))
    return found


def _inside(path: str, site_dir: str) -> bool:
    """Whether ``path`` really lies in ``site_dir``: the content of a file linked from
    elsewhere is not repeated in a report (it may be anything: a secret)."""
    real = os.path.realpath(site_dir)
    return os.path.realpath(path).startswith(real.rstrip("/") + "/")


def _module_exists(path: str, extension_suffixes: Sequence[str]) -> bool:
    """Whether the finder can import from ``path``: a package directory, or a module whose
    file name is ``path`` plus a suffix (a ``py-modules`` entry is mapped without it; the
    finder's ``_find_spec`` tries ``with_suffix`` for each of importlib's suffixes)."""
    if os.path.exists(path):
        return True
    return any(os.path.isfile(path + s) for s in (".py", ".pyc", *extension_suffixes))


def _finder_mapping(finder: str) -> dict[str, str]:
    import ast  # only for editable installs: kept off the start-up path

    try:
        text = read_regular(finder, _MAX_FINDER_BYTES).decode("utf-8", "replace")
    except OSError:
        return {}
    match = _FINDER_MAPPING.search(text)
    if match is None:
        return {}
    try:
        mapping = ast.literal_eval(match[1])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {}
    if not isinstance(mapping, dict):
        return {}
    return {
        k: _norm(v)
        for k, v in mapping.items()
        if isinstance(k, str) and isinstance(v, str) and os.path.isabs(v)
    }


# --- PEP 668 --------------------------------------------------------------------------------


def _externally_managed(target: Target) -> ExternallyManaged | None:
    """PEP 668: ``EXTERNALLY-MANAGED`` in ``sysconfig.get_path("stdlib")``; venvs are exempt."""
    if target.is_venv:
        return None
    for directory in target.stdlib:
        marker = os.path.join(directory, "EXTERNALLY-MANAGED")
        if os.path.isfile(marker):
            return ExternallyManaged(marker, _marker_error(marker))
    return None


def _marker_error(path: str) -> str | None:
    """The ``Error`` key of the ``[externally-managed]`` section (PEP 668), if any."""
    import configparser  # rarely needed: kept off the start-up path

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(read_regular(path, _MAX_MARKER_BYTES).decode("utf-8", "replace"))
        error = parser.get("externally-managed", "Error", fallback=None)
    except (OSError, configparser.Error):
        return None
    return " ".join(error.split()) if error else None  # one line: it is wrapped for a terminal
