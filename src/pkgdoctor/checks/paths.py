"""sys.path: where Python will import each module from, and who put that directory there.

The target's ``sys.path`` comes from the probe (live) or the static reader without the
working-directory entry; this module puts the user's working directory (``--cwd``) back in
front, as ``python -c``, ``python -m`` and the REPL do (a script's own directory takes its
place), unless ``PYTHONSAFEPATH`` is set (3.11+).

- ``path-foreign-site-packages``: a ``site-packages``/``dist-packages`` directory of another
  Python (``.../python3.10/site-packages`` under 3.11) or of another installation prefix.
- ``path-user-site-leak``: the user site (``~/.local/lib/pythonX.Y/site-packages``) is on
  ``sys.path`` of a venv or conda env and holds distributions.
- ``module-shadowed``: a module that the stdlib or an installed distribution provides is
  found first somewhere else, judged with the import system's own rules (see
  :func:`resolve`).
- ``pth-executes-code``: ``.pth`` lines that start with ``import`` (``site.addpackage``).
- ``env-externally-managed``: the PEP 668 marker.

The facts (the effective path, what each entry provides, the ``.pth`` files) come from the
look layer (:mod:`pkgdoctor.look.paths`); this module only judges them.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pkgdoctor import codes
from pkgdoctor._fields import Fact, fact
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding, Fix, Severity
from pkgdoctor.snapshot.model import Distribution, PathEntry, PathFacts, Provision, PthFile, PthLine

# The target is a POSIX system: its paths are judged with posixpath whatever runs the check.
_join, _norm, _basename, _dirname = (
    posixpath.join,
    posixpath.normpath,
    posixpath.basename,
    posixpath.dirname,
)
Entry = PathEntry
PathModel = PathFacts

AREA = "sys.path"

# This family's finding codes, defined in pkgdoctor.codes.
FOREIGN_SITE = codes.PATH_FOREIGN_SITE
USER_SITE_LEAK = codes.PATH_USER_SITE_LEAK
MODULE_SHADOWED = codes.MODULE_SHADOWED
PTH_EXECUTES_CODE = codes.PTH_EXECUTES_CODE
STARTUP_FILE_BLOCKS = codes.STARTUP_FILE_BLOCKS
EXTERNALLY_MANAGED = codes.ENV_EXTERNALLY_MANAGED

# --- facts about the import system ----------------------------------------------------------

# lib/python3.10/site-packages, lib/python3.13t/site-packages, lib/pypy3.10/site-packages.
_VERSIONED_DIR = re.compile(r"^(python|pypy)(\d+)\.(\d+)(t?)$")
_SITE_DIR_NAMES = ("site-packages", "dist-packages")

# Frozen modules of CPython 3.11+ (Tools/build/freeze_modules.py): the FrozenImporter comes
# before the PathFinder on sys.meta_path, so no file on sys.path can replace them. Used when
# the facts do not list them (static mode); the probe reports _imp._frozen_module_names().
_FROZEN_311 = frozenset({
    "_collections_abc", "_sitebuiltins", "abc", "codecs", "genericpath", "io", "ntpath", "os",
    "posixpath", "runpy", "site", "stat", "zipimport",
})  # fmt: skip
# Imported by every CPython 3.8-3.13 before user code runs (with site enabled, before any
# .pth file): the intersection of sys.modules at start-up. Static mode's stand-in for
# ``startup_modules``.
_ALWAYS_IMPORTED = frozenset({
    "__main__", "_abc", "_codecs", "_collections_abc", "_frozen_importlib",
    "_frozen_importlib_external", "_imp", "_io", "_signal", "_sitebuiltins", "_stat",
    "_thread", "_warnings", "_weakref", "abc", "builtins", "codecs", "encodings",
    "genericpath", "io", "marshal", "os", "posix", "posixpath", "site", "stat", "sys", "time",
    "zipimport",
})  # fmt: skip
# Names that badly packaged distributions install at the top level of site-packages. Nobody
# imports *those*; a project's own tests/ or setup.py in the working directory hiding them is
# not a problem worth an error.
_NOT_REALLY_PROVIDED = frozenset({
    "tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks",
    "benchmark", "scripts", "tools", "build", "src", "conftest", "setup",
})  # fmt: skip
# In lib/ and lib-dynload/ but not in sys.stdlib_module_names (CPython's own test helpers):
# used when deriving the stdlib's names from the directory listing (3.8, 3.9, static mode).
_NOT_STDLIB = re.compile(r"^(test|_test\w*|_xx\w*|xx\w*|_ctypes_test|__(?!future__)\w*)$")

_MAX_LISTED = 20  # names or distributions listed in one finding's evidence


@fact
class Found(Fact):
    """Where an ``import name`` is satisfied from: a regular provider or namespace portions."""

    entry: Entry
    provision: Provision


def resolve(name: str, entries: Sequence[Entry]) -> Found | None:
    """The entry that ``import name`` uses, per importlib's PathFinder and FileFinder.

    The first entry with a *regular* package or module wins. A namespace portion (a
    directory without ``__init__``) never stops the search: only when no entry has a regular
    provider does the import become a namespace package of all portions (PEP 420); the first
    portion is returned then. Within one directory FileFinder prefers a package, then an
    extension module, then ``.py``, then a sourceless ``.pyc``.
    """
    first_portion: Found | None = None
    for entry in entries:
        provision = entry.provides.get(name)
        if provision is None:
            continue
        if provision.regular:
            return Found(entry, provision)
        if first_portion is None:
            first_portion = Found(entry, provision)
    return first_portion


# --- .pth files -----------------------------------------------------------------------------


@fact
class Hook(Fact):
    """A well-known start-up hook that packaging tools install as a ``.pth`` file."""

    name: str
    file: re.Pattern[str]  # the .pth file name
    line: re.Pattern[str]  # the executed line
    helper: str | None = None  # module the line imports from sys.path (None: stdlib only)


_HOOKS = (
    # setuptools' editable installs (PEP 660): __editable__.NAME-VERSION.pth
    Hook(
        "setuptools editable install finder",
        re.compile(r"^__editable__\..*\.pth$"),
        re.compile(r"^import (__editable___\w+_finder); \1\.install\(\)\s*$"),
        helper="",  # the finder module named in the line
    ),
    # Other PEP 660 backends (scikit-build-core, meson-python, hatchling's editables).
    Hook(
        "editable install hook",
        re.compile(r"^.*editable.*\.pth$", re.IGNORECASE),
        re.compile(r"^import (\w*editable\w*)(?:; \1\.install\(\))?\s*$", re.IGNORECASE),
        helper="",
    ),
    # setuptools >= 49: distutils-precedence.pth (pypa/setuptools#2230)
    Hook(
        "setuptools' distutils shim",
        re.compile(r"^distutils-precedence\.pth$"),
        re.compile(
            r"^import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os\.environ\.get\(var, "
            r"'(?:local|stdlib)'\) == 'local'; enabled and "
            r"__import__\('_distutils_hack'\)\.add_shim\(\); ?\s*$"
        ),
        helper="_distutils_hack",
    ),
    # setuptools' legacy namespace packages (namespace_packages=..., *-nspkg.pth).
    Hook(
        "setuptools namespace package (-nspkg.pth)",
        re.compile(r"^.*-nspkg\.pth$"),
        re.compile(r"^import sys, types, os;"),
    ),
    # virtualenv >= 20 patches distutils through _virtualenv.pth.
    Hook(
        "virtualenv's patch",
        re.compile(r"^_virtualenv\.pth$"),
        re.compile(r"^import _virtualenv\s*$"),
        helper="_virtualenv",
    ),
    # coverage's subprocess measurement (coverage.readthedocs.io, "Measuring subprocesses").
    Hook(
        "coverage's process start-up hook",
        re.compile(r"^.*\.pth$"),
        re.compile(r"^import coverage; coverage\.process_startup\(\)\s*$"),
        helper="coverage",
    ),
    # pytest-cov < 6 (pytest-cov.pth, subprocess coverage when COV_CORE_SOURCE is set).
    Hook(
        "pytest-cov's subprocess hook",
        re.compile(r"^pytest-cov\.pth$"),
        re.compile(r"^import os, sys;exec\(.*pytest_cov\.embed"),
        helper="pytest_cov",
    ),
    # easy_install's easy-install.pth moves eggs ahead of site-packages.
    Hook(
        "easy_install's egg ordering",
        re.compile(r"^easy-install\.pth$"),
        re.compile(
            r"^import sys; (sys\.__plen = len\(sys\.path\)|new = sys\.path\[sys\.__plen:\])"
        ),
    ),
)


def known_hook(pth_name: str, line: str) -> Hook | None:
    """The well-known hook this executed ``.pth`` line is, or None."""
    for hook in _HOOKS:
        if hook.file.match(pth_name) and hook.line.match(line):
            return hook
    return None


def _hook_helper(hook: Hook, line: str) -> str | None:
    if hook.helper == "":
        match = hook.line.match(line)
        return match[1] if match else None
    return hook.helper


# --- the check ------------------------------------------------------------------------------


_DUPLICATE = "dist-duplicate"  # distributions' code: two copies of one project on the path
# Two copies of one project, one conda's and one pip's (checks/ownership.py): folded alike.
_DUPLICATES = (_DUPLICATE, "conda-pip-duplicate")


def reconcile(ctx: Context, findings: list[Finding]) -> list[Finding]:
    """Fold ``dist-duplicate`` into the sys.path finding that explains it.

    A foreign site-packages or a leaking user site that holds a second copy of a project
    is the cause; the duplicate is its consequence. It becomes evidence of the path finding
    (``duplicates``) instead of a second finding for the same root cause. Any other finding
    about a file under such an entry points to it (:func:`_point_to_cause`).
    """
    by_entry = {
        _norm(f.path): f
        for f in findings
        if f.code in (FOREIGN_SITE.code, USER_SITE_LEAK.code) and f.path
    }
    if not by_entry:
        return findings
    folded: dict[str, list[dict[str, Any]]] = {}
    kept = []
    for finding in findings:
        if finding.code in _DUPLICATES:
            copies = (finding.evidence.get("used"), finding.evidence.get("shadowed"))
            sites = [_dirname(_norm(c)) for c in copies if isinstance(c, str)]
            cause = next((site for site in sites if site in by_entry), None)
            if cause is not None:
                record = {"distribution": finding.distribution, **finding.evidence}
                folded.setdefault(cause, []).append(record)
                continue
        kept.append(finding)
    result = []
    for finding in kept:
        duplicates = folded.get(_norm(finding.path or ""))
        if duplicates and finding.code in (FOREIGN_SITE.code, USER_SITE_LEAK.code):
            finding = replace(finding, evidence={**finding.evidence, "duplicates": duplicates})
        result.append(finding)
    return [_point_to_cause(f, by_entry) for f in result]


def _point_to_cause(finding: Finding, causes: dict[str, Finding]) -> Finding:
    """A finding about a file that only reaches sys.path through a foreign site-packages or a
    leaking user site: its own fix (reinstall, rebuild) would not help, so it points to the
    path finding and takes that one's command (issue 10: the fix is the PYTHONPATH, not a
    reinstall)."""
    if finding.code in (FOREIGN_SITE.code, USER_SITE_LEAK.code) or not finding.path:
        return finding
    path = _norm(finding.path)
    cause = next(
        (c for entry, c in causes.items() if path == entry or path.startswith(entry + "/")),
        None,
    )
    if cause is None:
        return finding
    return replace(
        finding,
        evidence={**finding.evidence, "caused_by": f"{cause.code} {cause.path}"},
        command=cause.command,
        explanation=(
            f"Caused by {cause.path} on sys.path (the {cause.code} finding): fix that; "
            "a reinstall here would not help."
        ),
    )


def check(ctx: Context) -> list[Finding]:
    facts = ctx.snapshot.paths
    ctx.examined[AREA] = len(facts.entries)
    findings = _externally_managed(ctx)

    # The stdlib's directories count whole (their names are the stdlib's names), every other
    # directory for the names worth checking only.
    full = facts.entries
    stdlib_names = _stdlib_names(ctx, facts)
    wanted = set(stdlib_names)
    for dist in ctx.inventory.distributions:
        wanted |= dist.top_level_names
    model = replace(facts, entries=tuple(_restricted(e, wanted) for e in full))
    hooks = _pth_hooks(model)
    helpers = {helper for *_, helper in hooks if helper}
    if helpers - wanted:
        model = replace(facts, entries=tuple(_restricted(e, wanted | helpers) for e in full))

    foreign = _foreign_site_packages(ctx, model)
    leak = _user_site_leak(ctx, model)
    findings += foreign + leak
    reported = {f.path for f in [*foreign, *leak] if f.path}
    findings += _shadowed(ctx, model, stdlib_names, reported)
    findings += _pth_findings(ctx, model, hooks)
    findings += _blocking_pth(ctx, facts)
    return findings


def _restricted(entry: Entry, names: set[str]) -> Entry:
    if entry.origin == "stdlib":
        return entry
    provides = {n: p for n, p in entry.provides.items() if n in names}
    return replace(entry, provides=provides)


# --- env-externally-managed -----------------------------------------------------------------


def _externally_managed(ctx: Context) -> list[Finding]:
    """PEP 668: ``EXTERNALLY-MANAGED`` in ``sysconfig.get_path("stdlib")``; venvs are exempt."""
    marker = ctx.snapshot.paths.externally_managed
    if marker is None:
        return []
    version = ctx.target.interpreter.short_version
    facts = ctx.os_packages
    evidence: dict[str, Any] = {"marker": marker.marker, "error": marker.error}
    if facts is not None:
        # What the marker says, the OS's database confirms: these are its packages.
        system = facts.install(f"{facts.tool.python_prefix}NAME")
        owned = [d.name for d in ctx.inventory.distributions if ctx.os_package(d) is not None]
        evidence["manager"] = f"{facts.manager} (under {facts.root})"
        evidence["os_owned_distributions"] = len(owned)
    else:
        system = "apt install python3-NAME"
    return [
        EXTERNALLY_MANAGED.finding(
            "This Python is managed by the system's package manager (PEP 668): pip "
            "refuses to install into it.",
            path=marker.marker,
            evidence=evidence,
            command=f"{ctx.python} -m venv ~/.venvs/default",
            explanation=(
                "Install into a venv instead (this command makes one; then "
                "~/.venvs/default/bin/python -m pip install PACKAGE); for command-line "
                "applications use pipx; or install the system's package "
                f"({system}). Python {version} itself is fine."
            ),
        )
    ]


# --- path-foreign-site-packages -------------------------------------------------------------


def _version_in_path(path: str) -> tuple[str, int, int, bool] | None:
    """``(implementation, major, minor, free-threaded)`` from ``.../python3.10t/site-packages``."""
    parent = _basename(_dirname(_norm(path)))
    match = _VERSIONED_DIR.match(parent)
    if not match:
        return None
    impl = "cpython" if match[1] == "python" else "pypy"
    return impl, int(match[2]), int(match[3]), bool(match[4])


def _under(path: str, roots: Iterable[str]) -> bool:
    for root in roots:
        root = root.rstrip("/")
        if root and (path == root or path.startswith(root + "/")):
            return True
    return False


def _own_roots(ctx: Context) -> tuple[list[str], list[str]]:
    target = ctx.target
    roots = [target.prefix, target.base_prefix]
    norm = [_norm(r) for r in roots]
    real = list(ctx.snapshot.paths.prefix_real)
    return norm, real


def _site_entries(model: PathModel) -> list[Entry]:
    return [e for e in model.entries if e.origin in ("site-packages", "user site")]


def _dists_in(ctx: Context, entry: Entry) -> list[Distribution]:
    inventory = ctx.inventory
    return [d for d in [*inventory.distributions, *inventory.shadowed] if d.site_real == entry.real]


def _shadow_records(entry: Entry, others: Sequence[Entry]) -> list[dict[str, Any]]:
    """Top-level names that ``entry`` and one of ``others`` both provide: which one wins."""
    records = []
    for name in sorted(entry.provides):
        mine = entry.provides[name]
        for other in others:
            theirs = other.provides.get(name)
            if theirs is None or other.real == entry.real:
                continue
            if not (mine.regular or theirs.regular):
                continue  # two namespace portions merge
            used, hidden = (mine, theirs) if entry.index < other.index else (theirs, mine)
            if not used.regular:
                used, hidden = hidden, used
            records.append({"module": name, "used": used.path, "not_used": hidden.path})
            break
    return records


def _foreign_site_packages(ctx: Context, model: PathModel) -> list[Finding]:
    target = ctx.target
    interp = target.interpreter
    own_norm, own_real = _own_roots(ctx)
    own_sites = _site_entries(model)
    findings = []
    for entry in model.entries:
        if _basename(_norm(entry.path)) not in _SITE_DIR_NAMES:
            continue
        if entry.origin in ("site-packages", "user site", "stdlib", "working directory"):
            continue
        version = _version_in_path(entry.path)
        other_python = version is not None and (
            version[0] != interp.implementation
            or (version[1], version[2]) != interp.version[:2]
            or version[3] != interp.gil_disabled
        )
        other_prefix = not (_under(_norm(entry.path), own_norm) or _under(entry.real, own_real))
        if not (other_python or other_prefix):
            continue
        findings.append(_foreign(ctx, model, entry, version, other_python, own_sites))
    return findings


def _python_label(version: tuple[str, int, int, bool] | None) -> str | None:
    if version is None:
        return None
    impl, major, minor, ft = version
    name = "PyPy" if impl == "pypy" else "Python"
    return f"{name} {major}.{minor}{'t (free-threaded)' if ft else ''}"


def _origin_text(model: PathModel, entry: Entry) -> str:
    if entry.origin == "PYTHONPATH":
        return "the PYTHONPATH environment variable"
    if entry.origin == ".pth":
        return f"the .pth file {entry.pth_file}"
    if model.pythonpath is None:
        return "unknown (static mode: PYTHONPATH cannot be known)"
    return "unknown (not PYTHONPATH, not a .pth file: sitecustomize.py or code in a .pth?)"


def _foreign(
    ctx: Context,
    model: PathModel,
    entry: Entry,
    version: tuple[str, int, int, bool] | None,
    other_python: bool,
    own_sites: Sequence[Entry],
) -> Finding:
    interp = ctx.target.interpreter
    label = _python_label(version)
    dists = sorted(_dists_in(ctx, entry), key=lambda d: d.key)
    shadows = _shadow_records(entry, own_sites)
    wins = [r for r in shadows if _dirname(r["used"]) == _norm(entry.path)]
    this_python = f"Python {interp.short_version}"
    if other_python:
        what = f"a site-packages directory of {label}, not {this_python},"
    else:
        what = "a site-packages directory of another installation"
    message = f"{entry.path} is {what} on sys.path"
    message += f" (from {_origin_text(model, entry)})"
    if wins:
        message += f"; it hides this environment's own {_names([r['module'] for r in wins])}"
    message += "."
    own_first = next((s.index for s in own_sites), None)
    evidence: dict[str, Any] = {
        "entry": entry.path,
        "origin": entry.origin if entry.origin in ("PYTHONPATH", ".pth") else "unknown",
        "pth_file": entry.pth_file,
        "python_version": label,
        "target_python": this_python,
        "position": entry.index,
        "before_own_site_packages": own_first is not None and entry.index < own_first,
        "distributions": [str(d) for d in dists[:_MAX_LISTED]],
        "shadows": shadows[:_MAX_LISTED],
    }
    if len(dists) > _MAX_LISTED:
        evidence["distributions_omitted"] = len(dists) - _MAX_LISTED
    return FOREIGN_SITE.finding(
        message,
        severity=Severity.ERROR if other_python else Severity.WARNING,
        path=entry.path,
        evidence=evidence,
        fix=_removal_fix(model, entry),
    )


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _pythonpath_command(model: PathModel, entry: Entry) -> str:
    """The shell command that leaves ``entry`` out of PYTHONPATH."""
    keep = [p for p in model.pythonpath or () if model.from_pythonpath(p) != _norm(entry.path)]
    if keep:
        return f"export PYTHONPATH={shlex.quote(':'.join(keep))}"
    return "unset PYTHONPATH"


def _removal_fix(model: PathModel, entry: Entry) -> Fix:
    """How to take ``entry`` off sys.path, given where it came from."""
    if entry.origin == "PYTHONPATH" and model.pythonpath is not None:
        return Fix(
            _pythonpath_command(model, entry),
            "Remove it from PYTHONPATH in this shell (and where your shell profile sets it).",
        )
    if entry.origin == ".pth" and entry.pth_file:
        return Fix(
            None,
            f"Remove the line {entry.path!r} from {entry.pth_file} (delete the file if that "
            f"is its only line: rm {shlex.quote(entry.pth_file)})",
        )
    return Fix(
        None,
        "Find what adds it (PYTHONPATH in the shell that runs Python, sitecustomize.py, "
        "usercustomize.py, code in a .pth file) and remove it there",
    )


# --- path-user-site-leak --------------------------------------------------------------------


def _user_site_leak(ctx: Context, model: PathModel) -> list[Finding]:
    target = ctx.target
    conda = ctx.snapshot.paths.conda
    if not (target.is_venv or conda):
        return []
    if not target.user_site or not target.user_site_enabled or target.no_user_site:
        return []
    entry = next((e for e in model.entries if e.origin == "user site"), None)
    if entry is None:
        return []
    dists = sorted(_dists_in(ctx, entry), key=lambda d: d.key)
    if not dists:
        return []
    env_sites = [e for e in model.entries if e.origin == "site-packages"]
    env_by_key: dict[str, Distribution] = {}
    for site in env_sites:
        for dist in _dists_in(ctx, site):
            env_by_key.setdefault(dist.key, dist)
    differs: list[dict[str, Any]] = []
    for dist in dists:
        other = env_by_key.get(dist.key)
        if other is not None:
            first = entry.index < min(
                (s.index for s in env_sites if s.real == other.site_real),
                default=entry.index + 1,
            )
            differs.append(
                {
                    "distribution": dist.name,
                    "user_site": dist.version,
                    "environment": other.version,
                    "used": "user site" if first else "environment",
                }
            )
    kind = "venv" if target.is_venv else "conda environment"
    hidden = [d["distribution"] for d in differs if d["used"] == "user site"]
    message = (
        f"The user site-packages {entry.path} is on sys.path of this {kind} and holds "
        f"{_count(len(dists), 'distribution')}"
    )
    if hidden:
        message += f"; its {_names(hidden)} {'is' if len(hidden) == 1 else 'are'} used instead"
        message += f" of the {kind}'s copies."
    else:
        message += "."
    why = (
        "pyvenv.cfg has include-system-site-packages = true"
        if target.is_venv
        else "conda environments keep the user site enabled"
    )
    names = " ".join(shlex.quote(d.name) for d in dists[:_MAX_LISTED])
    if target.is_venv:
        explanation = (
            f"Ignore the user site in this {kind} (or run python -s); or remove them from "
            "the user site, outside any venv: "
            f"python{target.interpreter.short_version} -m pip uninstall {names}"
        )
    else:
        # conda: its own variables (`conda env config vars`, conda/cli/main_env_vars.py)
        # keep the setting with the environment. The environment's pip uninstalls the first
        # copy on sys.path, which is the user site's when the user site comes first for all
        # of them; a system python3.X may refuse (PEP 668, externally managed).
        prefix = shlex.quote(target.prefix)
        explanation = (
            f"Ignore the user site in this {kind} (or run python -s; conda env config vars "
            f"set PYTHONNOUSERSITE=1 -p {prefix} keeps it set there); or remove them from "
        )
        if all(d["used"] == "user site" for d in differs):
            python = shlex.quote(target.interpreter.executable or f"{target.prefix}/bin/python")
            explanation += (
                "the user site with the environment's pip, which finds their copies there "
                f"first: {python} -m pip uninstall {names}"
            )
        else:
            own = [d["distribution"] for d in differs if d["used"] != "user site"]
            explanation += (
                f"{entry.path} by hand (the environment's pip would uninstall its own "
                f"{_names(own)}, which come first)"
            )
    return [
        USER_SITE_LEAK.finding(
            message,
            path=entry.path,
            evidence={
                "user_site": entry.path,
                "why": why,
                "distributions": [str(d) for d in dists[:_MAX_LISTED]],
                "also_in_environment": differs[:_MAX_LISTED],
                "shadows": _shadow_records(entry, env_sites)[:_MAX_LISTED],
            },
            command="export PYTHONNOUSERSITE=1",
            explanation=explanation,
        )
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- module-shadowed ------------------------------------------------------------------------


def _stdlib_names(ctx: Context, model: PathModel) -> frozenset[str]:
    """Top-level stdlib modules that live in the stdlib's directories (so can be shadowed).

    ``sys.stdlib_module_names`` (3.10+) says which names are the stdlib's; before 3.10 and in
    static mode they come from listing ``lib/pythonX.Y`` and ``lib-dynload``, less CPython's
    test helpers.
    """
    known = ctx.target.stdlib_module_names
    names: set[str] = set()
    for entry in model.entries:
        if entry.origin == "stdlib":
            names.update(entry.provides)
    if known:
        names &= known
    else:
        names = {n for n in names if not _NOT_STDLIB.match(n)}
    return frozenset(names)


def _unshadowable(ctx: Context) -> frozenset[str]:
    """Names the import system resolves without sys.path, or that are already imported."""
    target = ctx.target
    names = set(target.builtin_module_names)
    frozen = target.frozen_module_names
    if not frozen and target.interpreter.version[:2] >= (3, 11):
        frozen = _FROZEN_311
    names |= {n for n in frozen if "." not in n}  # importlib.util frozen: importlib is not
    startup = target.startup_modules or _ALWAYS_IMPORTED
    names |= {n for n in startup if "." not in n}
    return frozenset(names)


def _shadowed(
    ctx: Context, model: PathModel, stdlib_names: frozenset[str], reported: set[str]
) -> list[Finding]:
    """A name whose real provider (the stdlib, or the distribution that comes first) is
    preceded by a regular module or package that no installed distribution records."""
    unshadowable = _unshadowable(ctx)
    providers: dict[str, list[tuple[int, str, Distribution | None]]] = {}
    portions: set[str] = set()  # names that distributions install as namespace packages
    by_real = {e.real: e for e in reversed(model.entries)}
    for name in stdlib_names:
        for entry in model.entries:
            provision = entry.provides.get(name)
            if entry.origin == "stdlib" and provision is not None and provision.regular:
                providers.setdefault(name, []).append((entry.index, provision.path, None))
                break
    for dist in ctx.inventory.distributions:
        site = by_real.get(dist.site_real)
        if site is None:
            continue
        for name in dist.top_level_names - _NOT_REALLY_PROVIDED:
            provision = site.provides.get(name)
            if provision is not None:
                providers.setdefault(name, []).append((site.index, provision.path, dist))
                if not provision.regular:
                    portions.add(name)
    real_of = {e.path: e.real for e in model.entries}
    reported_real = {real_of.get(p, p) for p in reported}
    findings = []
    for name in sorted(providers):
        if name in unshadowable:
            continue
        index, real_path, provider = min(providers[name], key=lambda p: p[0])
        found = resolve(name, model.entries)
        if found is None or found.entry.index >= index or not found.provision.regular:
            continue
        shadow = found.entry
        if shadow.origin == "stdlib" or shadow.real in reported_real:
            continue  # by design (a backport under the stdlib), or reported with its cause
        if shadow.real == model.entries[index].real:
            continue  # the same directory twice (the working directory is site-packages)
        if _owner(ctx, found.provision) is not None:
            continue  # a distribution's own file: dist-duplicate's business
        if name in portions and found.provision.kind == "package" and provider is not None:
            findings.append(_namespace_hidden(model, name, found, provider))
            continue
        findings.append(_shadow_finding(ctx, model, name, found, real_path, provider))
    return findings


def _owner(ctx: Context, provision: Provision) -> Distribution | None:
    if provision.kind == "package":
        for init in ("__init__.py", "__init__.pyc"):
            owner = ctx.owner(_join(provision.path, init))
            if owner is not None:
                return owner
        return None
    return ctx.owner(provision.path)


def _shadow_finding(
    ctx: Context,
    model: PathModel,
    name: str,
    found: Found,
    real_path: str,
    dist: Distribution | None,
) -> Finding:
    shadow = found.entry
    provider = "the standard library" if dist is None else str(dist)
    kind = {"package": "package", "extension": "extension module", "module": "module"}.get(
        found.provision.kind, "compiled module without source"
    )
    if shadow.origin == "working directory":
        why = (
            "the working directory comes first on sys.path (python -c, python -m and the REPL "
            "put it there; a script's own directory takes its place)"
        )
    elif shadow.origin == "PYTHONPATH":
        why = f"{shadow.path} is on PYTHONPATH, which comes before the stdlib and site-packages"
    elif shadow.origin == ".pth":
        why = f"{shadow.path} is added by {shadow.pth_file}, earlier on sys.path"
    else:
        why = f"{shadow.path} comes earlier on sys.path (position {shadow.index})"
    place = "in the working directory" if shadow.origin == "working directory" else "earlier"
    message = (
        f"import {name} gets the {kind} {found.provision.path} ({place}), not {provider}'s {name}."
    )
    if found.provision.kind == "package":
        rename = f"Rename or remove the directory {shlex.quote(found.provision.path)}"
    else:
        pycache = _join(_dirname(found.provision.path), "__pycache__")
        rename = (
            f"Rename {shlex.quote(found.provision.path)} (and delete "
            f"{shlex.quote(pycache)}/{name}.*.pyc)"
        )
    if shadow.origin == "working directory":
        fix = Fix(None, f"{rename}, or run Python from another directory")
    elif shadow.origin == "PYTHONPATH":
        fix = Fix(
            _pythonpath_command(model, shadow),
            f"Take {shadow.path} off PYTHONPATH; or {rename[0].lower()}{rename[1:]}",
        )
    else:
        fix = Fix(None, rename)
    return MODULE_SHADOWED.finding(
        message,
        distribution=dist.name if dist else None,
        path=found.provision.path,
        evidence={
            "module": name,
            "shadowing": found.provision.path,
            "shadowing_kind": found.provision.kind,
            "provider": "stdlib" if dist is None else dist.name,
            "provider_path": real_path,
            "origin": shadow.origin,
            "why": why,
        },
        fix=fix,
    )


def _namespace_hidden(model: PathModel, name: str, found: Found, dist: Distribution) -> Finding:
    """module-shadowed, where the hidden one is a namespace package (PEP 420): a directory
    of that name *with* an ``__init__.py`` earlier on the path is a regular package, which
    ends the search, so none of the distributions' portions is seen (``import
    jaraco.functools``: "No module named 'jaraco.functools'"). Without its ``__init__.py``
    that directory would be one more portion, and everything would import."""
    shadow = found.entry
    directory = found.provision.path
    init = _join(directory, "__init__.py")
    if shadow.origin == "PYTHONPATH":
        where = f"{shadow.path}, on PYTHONPATH"
    elif shadow.origin == "working directory":
        where = f"{shadow.path}, the working directory"
    elif shadow.origin == ".pth":
        where = f"{shadow.path}, added by {shadow.pth_file}"
    else:
        where = f"{shadow.path}, earlier on sys.path"
    message = (
        f"import {name} gets the regular package {directory} ({where}): its stray {init} "
        f"hides the namespace package {name} of {dist} (PEP 420), so its modules cannot be "
        "imported."
    )
    removal = f"delete {shlex.quote(init)} if {directory} is meant to be one more portion of {name}"
    command = None
    if shadow.origin == "PYTHONPATH" and model.pythonpath is not None:
        command = _pythonpath_command(model, shadow)
        explanation = (
            f"Take {shadow.path} off PYTHONPATH (in your shell profile too); or {removal}."
        )
    elif shadow.origin == "working directory":
        explanation = f"Run Python from another directory, or {removal}."
    else:
        taken_off = _removal_fix(model, shadow)
        command = taken_off.command
        explanation = f"{taken_off.explanation}; or {removal}."
    return MODULE_SHADOWED.finding(
        message,
        distribution=dist.name,
        path=init,
        evidence={
            "module": name,
            "shadowing": directory,
            "shadowing_kind": "package",
            "stray_init": init,
            "provider": dist.name,
            "provider_kind": "namespace",
            "origin": shadow.origin,
            "entry": shadow.path,
        },
        command=command,
        explanation=explanation,
    )


# --- pth-executes-code ----------------------------------------------------------------------


def _pth_hooks(model: PathModel) -> list[tuple[PthFile, PthLine, Hook | None, str | None]]:
    result = []
    for pth in model.pth_files:
        name = _basename(pth.path)
        for line in pth.lines:
            if line.executes:
                hook = known_hook(name, line.text)
                result.append((pth, line, hook, _hook_helper(hook, line.text) if hook else None))
    return result


def _pth_findings(
    ctx: Context,
    model: PathModel,
    hooks: list[tuple[PthFile, PthLine, Hook | None, str | None]],
) -> list[Finding]:
    by_file: dict[str, list[tuple[PthFile, PthLine, Hook | None, str | None]]] = {}
    for item in hooks:
        by_file.setdefault(item[0].path, []).append(item)
    findings = []
    for path, items in by_file.items():
        owner = ctx.owner(path)
        lines = []
        unknown = []
        broken = []
        for _, line, hook, helper in items:
            record: dict[str, Any] = {"line": line.number, "code": line.text}
            if hook is None:
                unknown.append(line.number)
            else:
                record["hook"] = hook.name
                if helper and resolve(helper, model.entries) is None:
                    broken.append(helper)
                    record["missing_module"] = helper
            lines.append(record)
        if unknown:
            severity = Severity.WARNING
            what = "runs code at every interpreter start-up that is not one of the usual hooks"
        elif broken:
            severity = Severity.WARNING
            what = (
                f"imports {_names(broken)}, which is not on sys.path: every start-up prints "
                '"Error processing line"'
            )
        else:
            severity = Severity.INFO
            hook_names = sorted({h.name for _, _, h, _ in items if h})
            what = f"runs {_names(hook_names)} at every interpreter start-up (a usual hook)"
        count = len(lines)
        command, explanation = _pth_fix(ctx, path, owner, severity)
        where = f"line {lines[0]['line']}" if count == 1 else f"{count} lines"
        message = f"{_basename(path)} ({where}) {what}."
        findings.append(
            PTH_EXECUTES_CODE.finding(
                message,
                severity=severity,
                distribution=owner.name if owner else None,
                path=path,
                evidence={
                    "file": path,
                    "owner": str(owner) if owner else None,
                    "lines": lines[:_MAX_LISTED],
                },
                command=command,
                explanation=explanation,
            )
        )
    return findings


def _blocking_pth(ctx: Context, facts: PathFacts) -> list[Finding]:
    """startup-file-blocks: site.py opens and reads every ``.pth`` file of a site directory
    (``site.addpackage``); a FIFO there waits for a writer, a device never ends."""
    findings = []
    if facts.venv_cfg_blocking is not None:
        target = ctx.snapshot.target
        prefix = target.prefix.rstrip("/")
        cfg = f"{prefix}/pyvenv.cfg"
        waits = "waits for a writer" if facts.venv_cfg_blocking == "a FIFO" else "never ends"
        # `venv` run again on an existing environment writes pyvenv.cfg anew and keeps
        # site-packages; it must be the real interpreter (a link in the environment would
        # make the environment its own home).
        base = (
            target.interpreter.real_executable or f"$(realpath {shlex.quote(prefix)}/bin/python3)"
        )
        findings.append(
            STARTUP_FILE_BLOCKS.finding(
                f"pyvenv.cfg is {facts.venv_cfg_blocking}: the interpreter reads it at every "
                f"start, so every start of this environment's Python {waits}.",
                path=cfg,
                evidence={"file": cfg, "is": facts.venv_cfg_blocking},
                command=(
                    f"rm {shlex.quote(cfg)} && {base} -m venv --without-pip {shlex.quote(prefix)}"
                ),
                explanation=(
                    "No tool writes a pyvenv.cfg that is not a regular file; write it anew "
                    "(installed packages stay)."
                ),
            )
        )
    for pth in facts.pth_files:
        if pth.blocking is None:
            continue
        owner = ctx.owner(pth.path)
        waits = "waits for a writer" if pth.blocking == "a FIFO" else "reads it without end"
        package = ctx.os_packages.owner(pth.path) if ctx.os_packages is not None else None
        if owner is not None:
            # Removed first: the interpreter that runs pip would block on it too.
            command = f"rm {shlex.quote(pth.path)} && {ctx.pip_reinstall(owner)}"
            fix = f"It belongs to {owner}, damaged: remove it and install {owner.name} again."
        elif package is not None and ctx.os_packages is not None:
            # dpkg and apk unpack each file beside it and rename it over what is there,
            # which replaces the FIFO.
            command = ctx.os_packages.reinstall(package.name)
            fix = f"It is {ctx.os_owned_by(package)}, damaged: the command installs it again."
        else:
            command = f"rm {shlex.quote(pth.path)}"
            fix = (
                "No installed distribution records this file, and no installer writes a "
                ".pth file that is not a regular file; remove it."
            )
        findings.append(
            STARTUP_FILE_BLOCKS.finding(
                f"{_basename(pth.path)} is {pth.blocking}: site.py reads every .pth file at "
                f"start-up, so every start of this interpreter {waits}.",
                distribution=owner.name if owner else None,
                path=pth.path,
                evidence={"file": pth.path, "is": pth.blocking, "site_dir": pth.site_dir},
                command=command,
                explanation=fix,
            )
        )
    return findings


def _pth_fix(
    ctx: Context, path: str, owner: Distribution | None, severity: Severity
) -> tuple[str | None, str]:
    """The command and explanation of ``pth-executes-code``: who installed the file, and
    how to remove it through that."""
    if owner is not None:
        if severity is Severity.INFO:  # a usual hook: removing it is no fix
            return None, f"Nothing to do: it belongs to {owner}, which runs it on purpose."
        return (
            ctx.pip(f"uninstall {shlex.quote(owner.name)}"),
            f"It belongs to {owner}: the command removes it, if you do not need {owner.name}.",
        )
    facts = ctx.os_packages
    package = facts.owner(path) if facts is not None else None
    if facts is not None and package is not None:
        # The OS's file: rm would break its package; removing the package is the user's
        # call, not a fix.
        return (
            None,
            f"It is {ctx.os_owned_by(package)}: the OS installed it there"
            + (" (a usual hook); nothing to do." if severity is Severity.INFO else "."),
        )
    # Nobody owns it: whoever put it there may still need it (a site's CA bundle hook), so
    # removing it is the user's call, said in words, never a command to paste.
    if facts is not None:
        return (
            None,
            f"Neither an installed distribution nor a {facts.manager} package owns this file "
            f"({facts.manager}'s database under {facts.root} was read); find out what put it "
            f"there, and if that is gone, remove it: rm {shlex.quote(path)}",
        )
    # No OS database for this prefix (a venv, pyenv, conda, /usr/local): no OS package is
    # expected to own it, so no dpkg -S to suggest.
    return (
        None,
        "No installed distribution records this file; find out what put it there, and if "
        f"that is gone, remove it: rm {shlex.quote(path)}",
    )
