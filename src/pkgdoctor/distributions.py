"""Which installed distribution owns a file, read from the target's metadata directories.

``importlib.metadata`` only sees pkgdoctor's own interpreter, so the target's ``*.dist-info``
(``RECORD``, PEP 376/627) and ``*.egg-info`` (``installed-files.txt``) are read here
directly and tolerantly: a broken RECORD makes its files ownerless, never an exception.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass

_METADATA_DIR = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(?:-py\d.*)?\.(dist|egg)-info$")


@dataclass(frozen=True)
class Distribution:
    """An installed distribution, as far as ownership of files is concerned."""

    name: str
    version: str | None
    metadata_dir: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name

    @property
    def key(self) -> str:
        """The normalized name (PEP 503), e.g. ``"zope-interface"``."""
        # Imported here: only needed once something is found, and it costs ~20 ms at start-up.
        from packaging.utils import canonicalize_name

        return canonicalize_name(self.name)


def _read_header(metadata_path: str) -> dict[str, str]:
    """Name and Version from a METADATA/PKG-INFO header (the lines before the first blank)."""
    found: dict[str, str] = {}
    try:
        with open(metadata_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key in ("Name", "Version") and key not in found:
                    found[key] = value.strip()
                    if len(found) == 2:
                        break
    except OSError:
        pass
    return found


def read_distribution(metadata_dir: str) -> Distribution:
    base = os.path.basename(metadata_dir)
    meta_name = "METADATA" if base.endswith(".dist-info") else "PKG-INFO"
    header = _read_header(os.path.join(metadata_dir, meta_name))
    match = _METADATA_DIR.match(base)
    name = header.get("Name") or (match["name"] if match else base.rsplit(".", 1)[0])
    version = header.get("Version") or (match["version"] if match else None)
    return Distribution(name, version, metadata_dir)


def _record_paths(metadata_dir: str, site_dir: str) -> list[str]:
    paths: list[str] = []
    if metadata_dir.endswith(".dist-info"):
        try:
            with open(
                os.path.join(metadata_dir, "RECORD"),
                encoding="utf-8",
                errors="surrogateescape",
                newline="",
            ) as f:
                for row in csv.reader(f):
                    if row and row[0]:
                        paths.append(os.path.normpath(os.path.join(site_dir, row[0])))
        except (OSError, csv.Error):
            pass
        return paths
    try:
        with open(
            os.path.join(metadata_dir, "installed-files.txt"),
            encoding="utf-8",
            errors="surrogateescape",
        ) as f:
            for line in f:
                line = line.strip()
                if line:
                    paths.append(os.path.normpath(os.path.join(metadata_dir, line)))
    except OSError:
        pass
    return paths


class Ownership:
    """Maps files to the distribution that installed them, one site directory at a time.

    A site directory's metadata is only read the first time a file under it is asked about.
    """

    def __init__(self) -> None:
        self._sites: dict[str, dict[str, Distribution]] = {}
        self._dists: dict[str, list[Distribution]] = {}

    def distributions(self, site_dir: str) -> list[Distribution]:
        self._index(site_dir)
        return self._dists[site_dir]

    def files(self, site_dir: str) -> dict[str, Distribution]:
        """Every file the RECORDs under ``site_dir`` list, with its owner."""
        return self._index(site_dir)

    def owner(self, path: str, site_dir: str) -> Distribution | None:
        return self._index(site_dir).get(os.path.normpath(path))

    def _index(self, site_dir: str) -> dict[str, Distribution]:
        index = self._sites.get(site_dir)
        if index is not None:
            return index
        index = {}
        dists = []
        try:
            with os.scandir(site_dir) as it:
                names = sorted(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            names = []
        for name in names:
            metadata_dir = os.path.join(site_dir, name)
            if not os.path.isdir(metadata_dir):
                continue
            dist = read_distribution(metadata_dir)
            dists.append(dist)
            for path in _record_paths(metadata_dir, site_dir):
                index.setdefault(path, dist)
        self._sites[site_dir] = index
        self._dists[site_dir] = dists
        return index
