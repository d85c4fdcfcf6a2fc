"""Every finding code, as plain data: its area, default severity and one-line summary.

The bottom of pkgdoctor's layers (it imports only :mod:`pkgdoctor.findings`): the check
families build their findings from these objects (``EXT_WRONG_ARCH.finding(...)``),
``audit-wheel`` reuses them, the renderers learn a code's area here, and ``--list-checks`` and
the documentation test (``docs/checks.md`` documents every code) read :func:`all_codes` —
none of them has to import a check family to know what a code means.

>>> EXT_WRONG_ARCH.area, EXT_WRONG_ARCH.severity.label
('Extension modules', 'error')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pkgdoctor._fields import Fact, fact
from pkgdoctor.findings import Finding, Fix, Severity

# In the order the terminal report shows them.
AREAS = (
    "Interpreter",
    "sys.path",
    "Distributions",
    "Integrity",
    "conda",
    "Extension modules",
    "GPU",
    "Imports",
    "Configuration",
    "Wheels",
    "Caches",
)


@fact
class Code(Fact):
    """A finding code and what it means."""

    code: str
    area: str
    severity: Severity
    summary: str

    def finding(
        self,
        message: str,
        *,
        distribution: str | None = None,
        path: str | None = None,
        evidence: Mapping[str, Any] | None = None,
        command: str | None = None,
        explanation: str | None = None,
        fix: Fix | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        """The finding; its fix as ``command``/``explanation``, or as a :class:`Fix`."""
        if fix is not None:
            command = fix.command or command
            explanation = fix.explanation or explanation
        return Finding(
            code=self.code,
            severity=severity or self.severity,
            message=message,
            distribution=distribution,
            path=path,
            evidence=dict(evidence or {}),
            command=command,
            explanation=explanation,
        )


_CODES: dict[str, Code] = {}


def _register(code: str, area: str, severity: Severity, summary: str) -> Code:
    if code in _CODES:
        raise ValueError(f"finding code {code!r} registered twice")
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}")
    _CODES[code] = Code(code, area, severity, summary)
    return _CODES[code]


def all_codes() -> list[Code]:
    """Every finding code, in area order then code order (``--list-checks``)."""
    return sorted(_CODES.values(), key=lambda c: (AREAS.index(c.area), c.code))


def area_of(code: str) -> str | None:
    """The area of a registered ``code``, or None."""
    found = _CODES.get(code)
    return found.area if found else None


# --- Interpreter ------------------------------------------------------------------------------

ENV_EXTERNALLY_MANAGED = _register(
    "env-externally-managed",
    "Interpreter",
    Severity.INFO,
    "The interpreter is managed by the system (PEP 668): pip will not install into it.",
)
INTERPRETER_NO_TRIPLET = _register(
    "interpreter-no-platform-triplet",
    "Interpreter",
    Severity.ERROR,
    "The interpreter was built without a platform triplet and ignores correctly named modules.",
)
PATH_UNREADABLE = _register(
    "path-unreadable",
    "Interpreter",
    Severity.WARNING,
    "A directory on sys.path (or inside a package) cannot be read.",
)
PATH_TOO_DEEP = _register(
    "path-too-deep",
    "Interpreter",
    Severity.WARNING,
    "Directories nest deeper below a sys.path entry than pkgdoctor looks; below is unchecked.",
)

INTERPRETER_CANNOT_START = _register(
    "interpreter-cannot-start",
    "Interpreter",
    Severity.ERROR,
    "The interpreter exits before running anything (often PYTHONHOME or PYTHONPATH set wrong).",
)
STARTUP_FILE_BLOCKS = _register(
    "startup-file-blocks",
    "Interpreter",
    Severity.ERROR,
    "A file the interpreter reads at every start (pyvenv.cfg, a .pth file) is a FIFO or a device.",
)

# --- The venv's own integrity (checks/venv.py) ------------------------------------------------

VENV_BASE_MISSING = _register(
    "venv-base-missing",
    "Interpreter",
    Severity.ERROR,
    "The venv's base interpreter (pyvenv.cfg's home) is gone: its Python cannot start.",
)
VENV_PYTHON_MISMATCH = _register(
    "venv-python-mismatch",
    "Interpreter",
    Severity.ERROR,
    "bin/python runs another Python version than the venv was made for; its packages go unread.",
)
VENV_SCRIPT_INTERPRETER_MISSING = _register(
    "venv-script-interpreter-missing",
    "Interpreter",
    Severity.ERROR,
    "Scripts in the venv's bin/ name an interpreter that does not exist (a moved venv).",
)
VENV_SCRIPT_INTERPRETER_FOREIGN = _register(
    "venv-script-interpreter-foreign",
    "Interpreter",
    Severity.ERROR,
    "Scripts in the venv's bin/ run another environment's interpreter (a copied venv).",
)

# --- sys.path (checks/paths.py) ---------------------------------------------------------------

PATH_FOREIGN_SITE = _register(
    "path-foreign-site-packages",
    "sys.path",
    Severity.ERROR,
    "A site-packages directory of another Python version or installation is on sys.path.",
)
PATH_USER_SITE_LEAK = _register(
    "path-user-site-leak",
    "sys.path",
    Severity.WARNING,
    "The user site-packages (pip install --user) is visible inside a venv or conda env.",
)
MODULE_SHADOWED = _register(
    "module-shadowed",
    "sys.path",
    Severity.ERROR,
    "A module of the stdlib or of an installed distribution is found first somewhere else.",
)

PTH_EXECUTES_CODE = _register(
    "pth-executes-code",
    "sys.path",
    Severity.WARNING,
    "A .pth file runs code at every interpreter start-up.",
)

# --- Distributions (checks/distributions.py) --------------------------------------------------

DIST_REQUIREMENT_MISSING = _register(
    "dist-requirement-missing",
    "Distributions",
    Severity.ERROR,
    "A distribution requires another that is not installed (as pip check reports).",
)
DIST_REQUIREMENT_CONFLICT = _register(
    "dist-requirement-conflict",
    "Distributions",
    Severity.ERROR,
    "A distribution requires a version of another that is not the one installed.",
)
DIST_DUPLICATE = _register(
    "dist-duplicate",
    "Distributions",
    Severity.WARNING,
    "Two metadata directories for one distribution are on sys.path; only one is used.",
)
DIST_CLOBBER = _register(
    "dist-clobber",
    "Distributions",
    Severity.ERROR,
    "Two distributions install the same files; uninstalling either one breaks the other.",
)
DIST_METADATA_INVALID = _register(
    "dist-metadata-invalid",
    "Distributions",
    Severity.WARNING,
    "A distribution's metadata is missing, unreadable or does not follow the spec.",
)
DIST_PARTIAL_UNINSTALL = _register(
    "dist-partial-uninstall",
    "Distributions",
    Severity.WARNING,
    "pip left '~name' directories behind: an install or uninstall was interrupted.",
)
DIST_EDITABLE_SOURCE_MISSING = _register(
    "dist-editable-source-missing",
    "Distributions",
    Severity.ERROR,
    "An editable install's source directory (or a .pth file's directory) no longer exists.",
)
DIST_WHEEL_TAG_MISMATCH = _register(
    "dist-wheel-tag-mismatch",
    "Distributions",
    Severity.ERROR,
    "An installed wheel's tags (its WHEEL file) do not fit this interpreter or platform.",
)

# --- Integrity (checks/integrity.py) ----------------------------------------------------------

RECORD_MISSING_FILE = _register(
    "record-missing-file",
    "Integrity",
    Severity.ERROR,
    "Files that a distribution's RECORD lists are missing from disk.",
)
RECORD_PATH_OUTSIDE = _register(
    "record-path-outside",
    "Integrity",
    Severity.WARNING,
    "A RECORD lists files outside every directory an installer writes to; they are not read.",
)
RECORD_HASH_MISMATCH = _register(
    "record-hash-mismatch",
    "Integrity",
    Severity.ERROR,
    "Installed files differ from the hash or size in their RECORD (only with --deep).",
)

# --- conda: one ledger of conda's records and pip's RECORDs (checks/ownership.py) -------------

CONDA_PIP_CLOBBER = _register(
    "conda-pip-clobber",
    "conda",
    Severity.WARNING,
    "pip or uv replaced or overwrote files of a conda package; conda's record no longer holds.",
)
CONDA_PIP_DUPLICATE = _register(
    "conda-pip-duplicate",
    "conda",
    Severity.WARNING,
    "A project is installed by conda and again by pip; `conda list` shows it twice.",
)
CONDA_CLOBBER = _register(
    "conda-clobber",
    "conda",
    Severity.WARNING,
    "Two conda packages install the same file; the one linked last overwrote the other's.",
)
CONDA_FILE_UNOWNED = _register(
    "conda-file-unowned",
    "conda",
    Severity.INFO,
    "Modules in the conda environment's site-packages that no conda package and no pip "
    "distribution installed.",
)
CONDA_CHANNELS_MIXED = _register(
    "conda-channels-mixed",
    "conda",
    Severity.WARNING,
    "Packages from Anaconda's defaults and from conda-forge in one environment (ABIs differ).",
)

# --- conda: what ``conda doctor`` checks, with evidence (checks/conda.py) ----------------------

CONDA_FILES_MISSING = _register(
    "conda-files-missing",
    "conda",
    Severity.ERROR,
    "Files a conda package's record lists are gone from the prefix.",
)
CONDA_FILES_ALTERED = _register(
    "conda-files-altered",
    "conda",
    Severity.WARNING,
    "Files of a conda package differ from its record and no other package installed them.",
)
CONDA_DEPENDENCY_MISSING = _register(
    "conda-dependency-missing",
    "conda",
    Severity.ERROR,
    "A conda package depends on a package that is not installed (nor a virtual package).",
)
CONDA_DEPENDENCY_CONFLICT = _register(
    "conda-dependency-conflict",
    "conda",
    Severity.ERROR,
    "An installed conda package does not satisfy another's depends or constrains.",
)
CONDA_SPECS_NOT_JUDGED = _register(
    "conda-specs-not-judged",
    "conda",
    Severity.INFO,
    "conda's match specs were not judged: py-rattler (the conda extra) is not installed.",
)
CONDA_PINNED_MALFORMED = _register(
    "conda-pinned-malformed",
    "conda",
    Severity.ERROR,
    "conda-meta/pinned cannot be read, has specs conda cannot parse, or pins what is not there.",
)
CONDA_ENV_UNREGISTERED = _register(
    "conda-env-unregistered",
    "conda",
    Severity.INFO,
    "The environment is not in ~/.conda/environments.txt; `conda env list` does not show it.",
)
CONDA_RECORD_INVALID = _register(
    "conda-record-invalid",
    "conda",
    Severity.WARNING,
    "A conda-meta record or the history cannot be read as conda reads it.",
)

# --- GPU stacks (checks/gpu.py) ----------------------------------------------------------------

GPU_CUDA_MIXED_MAJORS = _register(
    "gpu-cuda-mixed-majors",
    "GPU",
    Severity.WARNING,
    "Packages built for different CUDA majors (cu11 and cu12 wheels) in one environment.",
)
GPU_SYSTEM_CUDA_SHADOWS = _register(
    "gpu-system-cuda-shadows",
    "GPU",
    Severity.WARNING,
    "A CUDA library is loaded from a system CUDA (LD_LIBRARY_PATH, ld.so.cache) instead of the "
    "nvidia-* wheel's copy.",
)

GPU_CPU_ONLY_BUILD = _register(
    "gpu-cpu-only-build",
    "GPU",
    Severity.WARNING,
    "A CPU-only (or ROCm) build of a framework on a machine with an NVIDIA driver or GPU.",
)

GPU_DRIVER_TOO_OLD = _register(
    "gpu-driver-too-old",
    "GPU",
    Severity.ERROR,
    "The NVIDIA driver is older than the CUDA a framework was built for requires.",
)

GPU_ARCH_NOT_COMPILED = _register(
    "gpu-arch-not-compiled",
    "GPU",
    Severity.ERROR,
    "A framework's build carries no GPU code for the device's compute capability (\"no "
    'kernel image is available for execution on the device").',
)

GPU_DEVICES_HIDDEN = _register(
    "gpu-devices-hidden",
    "GPU",
    Severity.WARNING,
    "The machine has an NVIDIA driver, but no GPU is visible here (CUDA_VISIBLE_DEVICES or "
    "NVIDIA_VISIBLE_DEVICES set to none, no /dev/nvidia* device files).",
)

GPU_NO_DRIVER = _register(
    "gpu-no-driver",
    "GPU",
    Severity.INFO,
    "CUDA builds are installed on a machine without an NVIDIA driver: they run on the CPU only.",
)

GPU_MISSING_CUDA_LIBS = _register(
    "gpu-missing-cuda-libs",
    "GPU",
    Severity.ERROR,
    "A CUDA build is installed without the NVIDIA library wheels it requires (--no-deps).",
)

# --- Extension modules (checks/extensions.py; audit-wheel reuses them) ------------------------

EXT_INVALID_ELF = _register(
    "ext-invalid-elf",
    "Extension modules",
    Severity.ERROR,
    "An extension module, or a library it loads, is not a loadable ELF file (truncated, corrupt, "
    "unreadable).",
)
EXT_WRONG_ARCH = _register(
    "ext-wrong-arch",
    "Extension modules",
    Severity.ERROR,
    "Extension modules are built for another CPU architecture or ELF class than the interpreter.",
)
EXT_LIBC_MISMATCH = _register(
    "ext-libc-mismatch",
    "Extension modules",
    Severity.ERROR,
    "Extension modules are built for musl under a glibc interpreter, or the reverse.",
)
EXT_ABI_MISMATCH = _register(
    "ext-abi-mismatch",
    "Extension modules",
    Severity.ERROR,
    "Extension modules are built for another Python version or ABI (e.g. cpython-310 under 3.11).",
)
EXT_SUFFIX_MISMATCH = _register(
    "ext-suffix-mismatch",
    "Extension modules",
    Severity.ERROR,
    "Extension modules carry a file suffix this interpreter does not load, for another reason.",
)
EXT_GLIBC_TOO_NEW = _register(
    "ext-glibc-too-new",
    "Extension modules",
    Severity.ERROR,
    "Extension modules need GLIBC_/GLIBCXX_/CXXABI_ versions the loaded libraries lack.",
)
EXT_MISSING_LIBRARY = _register(
    "ext-missing-library",
    "Extension modules",
    Severity.ERROR,
    "A shared library an extension module needs (DT_NEEDED) will not be found by the loader.",
)
EXT_NUMPY_ABI = _register(
    "ext-numpy-abi",
    "Extension modules",
    Severity.ERROR,
    "Extension modules compiled against NumPy 1.x, with NumPy 2 installed: they cannot load.",
)
EXT_UNDEFINED_SYMBOL = _register(
    "ext-undefined-symbol",
    "Extension modules",
    Severity.ERROR,
    "A symbol an extension module needs is defined by no library it loads (`why`).",
)

# --- Imports (checks/imports.py, `pkgdoctor why`) ---------------------------------------------

IMPORT_REMOVED_STDLIB = _register(
    "import-removed-stdlib",
    "Imports",
    Severity.ERROR,
    "The import needs a standard-library module that this Python version removed.",
)

IMPORT_NAMESPACE_FALLBACK = _register(
    "import-namespace-fallback",
    "Imports",
    Severity.ERROR,
    "A package imports as an empty namespace package: the __init__.py its RECORD lists is gone.",
)

IMPORT_OTHER_PYTHON = _register(
    "import-other-python",
    "Imports",
    Severity.ERROR,
    "The module is installed only in another Python version's site-packages, never read here.",
)

IMPORT_FAILED = _register(
    "import-failed",
    "Imports",
    Severity.ERROR,
    "The import fails (or crashes the interpreter) for a reason no other check explains.",
)

# --- Wheels (wheelaudit/, `pkgdoctor audit-wheel`) --------------------------------------------

WHEEL_TAG_OVERCLAIMS = _register(
    "wheel-tag-overclaims",
    "Wheels",
    Severity.ERROR,
    "A platform tag in the wheel's name promises more than its ELF files satisfy.",
)
WHEEL_TAG_UNDERCLAIMS = _register(
    "wheel-tag-underclaims",
    "Wheels",
    Severity.INFO,
    "The wheel's ELF files satisfy a more compatible platform tag than its name claims.",
)
WHEEL_PURE_WITH_EXTENSIONS = _register(
    "wheel-pure-with-extensions",
    "Wheels",
    Severity.ERROR,
    "A wheel tagged for any platform (or its purelib) contains compiled ELF files.",
)
WHEEL_RECORD_MISMATCH = _register(
    "wheel-record-mismatch",
    "Wheels",
    Severity.ERROR,
    "The wheel's RECORD does not describe its files (missing, unlisted, wrong hash or size).",
)
WHEEL_METADATA_INVALID = _register(
    "wheel-metadata-invalid",
    "Wheels",
    Severity.ERROR,
    "The wheel's METADATA, WHEEL or .dist-info layout is invalid or contradicts its file name.",
)
WHEEL_CLASSIFIER_UNKNOWN = _register(
    "wheel-classifier-unknown",
    "Wheels",
    Severity.WARNING,
    "A trove classifier is unknown or deprecated; PyPI rejects the upload.",
)
WHEEL_CLASSIFIER_CONTRADICTS = _register(
    "wheel-classifier-contradicts-requires-python",
    "Wheels",
    Severity.WARNING,
    "A Python version classifier names versions that Requires-Python excludes.",
)


# --- Caches (pkgdoctor cache) -----------------------------------------------------------------

CACHE_PACKAGE_INCOMPLETE = _register(
    "cache-package-incomplete",
    "Caches",
    Severity.WARNING,
    "An extracted package in a conda package cache lacks its metadata or some of its files.",
)
CACHE_ARCHIVE_INVALID = _register(
    "cache-archive-invalid",
    "Caches",
    Severity.WARNING,
    "A package file (.conda, .tar.bz2) in a conda package cache is damaged or truncated.",
)


# --- pip's and conda's configuration (checks/config.py) --------------------------------------

CONFIG_UNREADABLE = _register(
    "config-unreadable",
    "Configuration",
    Severity.ERROR,
    "pip cannot read one of its configuration files (or rejects a value): every pip command fails.",
)
CONFIG_INSECURE_INDEX = _register(
    "config-insecure-index",
    "Configuration",
    Severity.WARNING,
    "pip is configured to fetch over plain HTTP, without TLS verification, or with a missing cert.",
)
CONFIG_EXTRA_INDEX_CONFUSION = _register(
    "config-extra-index-confusion",
    "Configuration",
    Severity.WARNING,
    "An extra index beside another: pip takes the highest version of a name from any of them.",
)
CONFIG_INDEX_HIDES_LOCAL_VERSION = _register(
    "config-index-hides-local-version",
    "Configuration",
    Severity.WARNING,
    "An installed local version (+cu118) cannot come from the configured indexes (PyPI has none).",
)
CONFIG_INDEX_RETIRED = _register(
    "config-index-retired",
    "Configuration",
    Severity.WARNING,
    "A configured index is a retired or moved PyPI mirror.",
)
CONFIG_CONDA_CHANNELS_MIXED = _register(
    "config-conda-channels-mixed",
    "Configuration",
    Severity.WARNING,
    "conda's channels mix defaults (Anaconda's pkgs/main) with conda-forge: C/C++ runtimes mix.",
)
CONFIG_CONDA_PRIORITY_DISABLED = _register(
    "config-conda-priority-disabled",
    "Configuration",
    Severity.WARNING,
    "conda's channel_priority is disabled: the highest version wins from any channel.",
)
CONFIG_CA_BUNDLE_MISSING = _register(
    "config-ca-bundle-missing",
    "Configuration",
    Severity.ERROR,
    "A CA bundle variable (REQUESTS_CA_BUNDLE, SSL_CERT_FILE...) or ssl_verify names no file.",
)
