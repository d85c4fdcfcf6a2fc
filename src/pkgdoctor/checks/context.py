"""What every check receives: a Snapshot, and a memo for pure verdicts.

A check reads nothing but the Snapshot: no file, no process, no clock. The memo holds
answers that are pure functions of their inputs (a requirement string parsed for a marker
environment); the caller decides whether it lives in memory or in the persistent cache.
"""

from __future__ import annotations

import functools
import posixpath
import shlex
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pkgdoctor.conda_owners import CondaOwners, conda_owners
from pkgdoctor.snapshot.model import (
    CondaFacts,
    CondaRecord,
    Distribution,
    Inventory,
    OsPackage,
    OsPackages,
    Snapshot,
    conda_channel,
)
from pkgdoctor.target.facts import Target

T = TypeVar("T")


class Memo(Protocol):
    """Where pure verdicts are kept between calls (and, through the cache, between runs).
    ``decoded`` gives None for an entry that ``decode`` refuses: a miss, not an error."""

    def decoded(
        self, section: str, key: Any, check: Any, decode: Callable[[Any], T]
    ) -> T | None: ...

    def put(self, section: str, key: Any, value: Any, check: Any = None) -> None: ...


class _Dict:
    def __init__(self) -> None:
        self._data: dict[tuple[str, Any], Any] = {}

    def decoded(self, section: str, key: Any, check: Any, decode: Callable[[Any], T]) -> T | None:
        value = self._data.get((section, key))
        return None if value is None else decode(value)

    def put(self, section: str, key: Any, value: Any, check: Any = None) -> None:
        self._data[(section, key)] = value


class Context:
    """The snapshot plus what the checks share while judging it."""

    def __init__(self, snapshot: Snapshot, memo: Memo | None = None) -> None:
        self.snapshot = snapshot
        self.memo: Memo = memo if memo is not None else _Dict()
        # What the checks looked at, by area, for the report: {"Extension modules": 141}.
        self.examined: dict[str, int] = {}
        # Views of the facts that several families derive (the conda ledger), built once.
        self.derived: dict[str, Any] = {}

    @property
    def target(self) -> Target:
        return self.snapshot.target

    @property
    def inventory(self) -> Inventory:
        return self.snapshot.inventory

    @property
    def python(self) -> str:
        """How to call the target interpreter in a fix, quoted for a POSIX shell."""
        exe = self.target.interpreter.executable
        return shlex.quote(exe) if exe else "python"

    @functools.cached_property
    def pip_broken(self) -> bool:
        """Whether the target's pip is broken, so that no ``python -m pip`` fix can work: an
        interrupted ``pip install -U pip`` left ``~ip`` behind and pip is gone or cannot be
        imported, or pip's metadata is there but its package is not. A target without pip
        at all (``venv --without-pip``, uv) is not broken: it has another installer."""
        inventory = self.inventory
        dist = inventory.get("pip")
        # pip's stash of itself: "~ip", "~ip-23.2.1.dist-info" (not "~ipp", zipp's).
        leftover = any(_stem(posixpath.basename(p)[1:]) == "ip" for p in inventory.leftovers)
        if dist is None:
            return leftover
        init = posixpath.join(posixpath.normpath(dist.site_dir), "pip", "__init__.py")
        if init in dist.missing_paths:
            return True
        entries = self.snapshot.paths.entries
        provided = any((p := e.provides.get("pip")) is not None and p.regular for e in entries)
        return bool(entries) and not provided

    @property
    def os_packages(self) -> OsPackages | None:
        """What the OS package manager owns of the target (None: no OS database)."""
        return self.snapshot.os_packages

    def os_package(self, dist: Distribution | None) -> OsPackage | None:
        """The OS package that installed ``dist`` (it owns its metadata directory): its
        fixes go through that manager, never pip or ``rm`` on its files."""
        facts = self.snapshot.os_packages
        return facts.package_of(dist) if facts is not None and dist is not None else None

    def os_describe(self, package: OsPackage) -> str:
        """``dpkg package python3-gi 3.42.2-3+b1``, for evidence."""
        facts = self.snapshot.os_packages
        return facts.describe(package) if facts is not None else package.name

    def os_owned_by(self, package: OsPackage) -> str:
        """``owned by dpkg package python3-gi 3.42.2-3+b1``, for messages."""
        return f"owned by {self.os_describe(package)}"

    @property
    def ensurepip(self) -> str:
        """The command that repairs pip with the copy bundled in the standard library
        (``ensurepip``); pip's own metadata goes first when it is still there, or ensurepip
        would find pip "already satisfied" and do nothing. A pip the OS installed is
        reinstalled through the OS's manager."""
        dist = self.inventory.get("pip")
        package = self.os_package(dist)
        if package is not None and self.os_packages is not None:
            return self.os_packages.reinstall(package.name)
        first = f"rm -rf {shlex.quote(dist.metadata_dir)} && " if dist is not None else ""
        return f"{first}{self.python} -m ensurepip --upgrade"

    def pip(self, args: str) -> str:
        """``python -m pip ARGS`` for the target, preceded by :attr:`ensurepip` when its pip
        is broken, or ``uv pip ARGS --python PY`` for a venv that uv made and that has no pip
        (``python -m pip`` would fail there; uv takes pip's options): the one place that
        decides how a fix calls the installer."""
        if self.pip_broken:
            return f"{self.ensurepip} && {self.python} -m pip {args}"
        venv = self.snapshot.venv
        if venv is not None and "uv" in venv.cfg and self.inventory.get("pip") is None:
            verb, _, rest = args.partition(" ")
            return f"uv pip {verb} --python {self.python} {rest}".rstrip()
        return f"{self.python} -m pip {args}"

    @property
    def conda_facts(self) -> CondaFacts | None:
        """The conda records of the target's prefix (None: not a conda environment)."""
        return self.snapshot.conda

    @functools.cached_property
    def conda_owners(self) -> CondaOwners | None:
        """Which distributions conda packages own and which pip put on top (conda's own
        rule, :mod:`pkgdoctor.conda_owners`); None outside a conda environment."""
        return conda_owners(self.snapshot)

    def conda_record(self, dist: Distribution | None) -> CondaRecord | None:
        """The conda package that installed ``dist``: the record that lists its metadata
        directory. Its fixes go through conda; pip would make conda's package pip's, and
        ``rm`` would pull files from under conda's record."""
        owners = self.conda_owners
        if dist is None or owners is None:
            return None
        return owners.record_of(dist)

    def conda(self, args: str) -> str:
        """``conda ARGS -p PREFIX``: the one place that decides how a fix calls conda for the
        target's prefix (``-p``: the environment may have no name, or another one)."""
        facts = self.snapshot.conda
        prefix = facts.prefix if facts is not None else self.target.prefix
        verb, _, rest = args.partition(" ")
        return f"conda {verb} -p {shlex.quote(prefix)} {rest}".rstrip()

    def conda_reinstall(self, *records: CondaRecord) -> str:
        """The command that links ``records`` into the prefix again, as recorded: the same
        channel, version and build (conda's ``--force-reinstall`` unlinks and relinks every
        file of a package the environment already has)."""
        specs = " ".join(shlex.quote(conda_spec(r)) for r in records)
        return self.conda(f"install --force-reinstall -y {specs}")

    def pip_reinstall(self, dist: Distribution | None, *, no_deps: bool = True) -> str:
        """The command that installs ``dist`` again: through the OS package manager when
        the OS installed it (``apt install --reinstall python3-gi``), through conda when a
        conda package did, else pip."""
        package = self.os_package(dist)
        if package is not None and self.os_packages is not None:
            return self.os_packages.reinstall(package.name)
        record = self.conda_record(dist)
        if record is not None:
            return self.conda_reinstall(record)
        if dist is not None and dist.key == "pip" and self.pip_broken:
            return self.ensurepip
        what = shlex.quote(dist.requirement) if dist else "PACKAGE"
        deps = " --no-deps" if no_deps else ""
        return self.pip(f"install --force-reinstall{deps} {what}")

    def owner(self, path: str) -> Distribution | None:
        """The distribution whose RECORD lists ``path``."""
        return self.inventory.owner(path)


def conda_spec(record: CondaRecord) -> str:
    """A match spec for exactly ``record``: ``conda-forge::numpy=1.26.4=py311h64a7726_0``
    (conda's MatchSpec ``channel::name=version=build``, the form ``conda env export`` writes:
    with a build, the version is exact)."""
    # By name where Anaconda's servers serve it (conda-forge, pkgs/main), else its URL: the
    # form environment.yml takes too (conda_channel).
    channel = conda_channel(record.channel) if record.channel else ""
    prefix = f"{channel}::" if channel else ""
    return f"{prefix}{record.name}={record.version}={record.build}"


def _stem(name: str) -> str:
    return name.split("-", 1)[0].removesuffix(".dist-info").lower()
