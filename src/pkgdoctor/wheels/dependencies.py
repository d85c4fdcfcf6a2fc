"""What a chosen file pulls in on the target: its ``Requires-Dist``, with markers evaluated
for the *target's* environment (``packaging.markers``, never this machine's).

The metadata is read from the version pip would choose, cheapest source first:

1. the index's copy of the chosen file's core metadata (PEP 658/714: ``<url>.metadata``);
2. for a wheel without it, the ``*.dist-info/METADATA`` inside the wheel (downloaded, at most
   :data:`MAX_WHEEL_BYTES`);
3. for an sdist, its ``PKG-INFO`` when PEP 643 makes it authoritative (Metadata-Version 2.2 or
   newer, ``Requires-Dist`` not ``Dynamic``); else the PEP 658 metadata of a wheel of the same
   version for another platform (what the build would most likely say); else the ``PKG-INFO``
   anyway, marked as possibly incomplete.

This is not a resolver: :mod:`~pkgdoctor.wheels.command` answers each project once, for the
specifiers the first level that reaches it asks for (see docs/wheels.md).

Example::

    >>> from pkgdoctor.wheels.platforms import describe_target
    >>> target = describe_target(["manylinux_2_36_loongarch64"], "3.12")
    >>> wanted(["pydantic-core==2.33.2", "tzdata; python_version >= '3.9' and sys_platform == "
    ...         "'win32'", "email-validator>=2; extra == 'email'"], target, frozenset())
    [<Requirement('pydantic-core==2.33.2')>]
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from typing import TYPE_CHECKING

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pkgdoctor._fields import Fact, fact
from pkgdoctor.archive import DAMAGE
from pkgdoctor.wheels.http import FetchError, Response

if TYPE_CHECKING:
    from pkgdoctor.wheels.evaluate import Selection
    from pkgdoctor.wheels.http import Session
    from pkgdoctor.wheels.platforms import WheelTarget
    from pkgdoctor.wheels.sdist import BuildInfo
    from pkgdoctor.wheels.simple import File

# A core metadata file is kilobytes (botocore's, among the largest, is 5 KiB).
MAX_METADATA_BYTES = 4 * 1024 * 1024
# A wheel without PEP 658 metadata is downloaded to read METADATA; beyond this, rather not.
MAX_WHEEL_BYTES = 64 * 1024 * 1024
# How far and how wide ``--deps`` goes: deep enough for real stacks (pip's own resolution of
# jupyter goes 7 levels deep), bounded so one requirement cannot fetch an index's worth.
MAX_DEPTH = 10
MAX_DEPENDENCIES = 300
CACHE_FORMAT = 1


@fact
class Requires(Fact):
    """The ``Requires-Dist`` of one file, and where it was read (``source``)."""

    requires: tuple[str, ...]
    source: str
    note: str | None = None  # why the list may be incomplete


class MetadataError(Exception):
    """The metadata could not be read; ``str()`` says why in one sentence."""


def wanted(
    requires: Iterable[str], target: WheelTarget, extras: frozenset[str]
) -> list[Requirement]:
    """The requirements among ``requires`` whose marker is true on ``target`` for the base
    install or one of ``extras`` (invalid lines are dropped: pip would fail on them too)."""
    result = []
    environment = dict(target.markers)
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None:
            result.append(requirement)
            continue
        # PEP 508: ``extra`` is compared to each requested extra (normalized, PEP 685).
        for extra in ("", *sorted(extras)):
            if marker.evaluate({**environment, "extra": extra}):
                result.append(requirement)
                break
    return result


def read_requires(
    session: Session,
    selection: Selection,
    file: File,
    build: BuildInfo | None,
    cache_dir: str | None = None,
) -> Requires:
    """The ``Requires-Dist`` of ``file`` (the chosen one of ``selection``); raises
    :class:`MetadataError`. A wheel read whole is remembered in ``cache_dir`` by its URL (a
    file on an index never changes under the same URL); index metadata is cached with pages."""
    if file.metadata_url is not None:
        try:
            return Requires(
                _index_metadata(session, file.metadata_url), f"{file.filename}.metadata"
            )
        except MetadataError:
            if not file.filename.endswith(".whl"):
                raise
            # A promised .metadata that cannot be fetched: the wheel carries the same
            # METADATA (PEP 658 requires the file to be that one, byte for byte).
    if file.filename.endswith(".whl"):
        source = f"{file.filename} (METADATA)"
        cached = _load(cache_dir, file.url)
        if cached is not None:
            return Requires(cached, source)
        requires = _wheel_metadata(session, file)
        _store(cache_dir, file.url, requires)
        return Requires(requires, source)
    # An sdist.
    pkg_info = build.pkg_info if build is not None else None
    if pkg_info is not None and _authoritative(pkg_info):
        return Requires(_requires_dist(pkg_info), f"{file.filename} (PKG-INFO, PEP 643)")
    sibling = _sibling_with_metadata(selection, file)
    if sibling is not None and sibling.metadata_url is not None:
        return Requires(
            _index_metadata(session, sibling.metadata_url),
            f"{sibling.filename}.metadata (a wheel of the same version)",
        )
    if pkg_info is not None:
        return Requires(
            _requires_dist(pkg_info),
            f"{file.filename} (PKG-INFO)",
            "the sdist's PKG-INFO predates PEP 643 or marks Requires-Dist dynamic: "
            "the build may add dependencies",
        )
    raise MetadataError("no metadata: the index has none for this sdist and it was not read")


def _index_metadata(session: Session, url: str) -> tuple[str, ...]:
    def decode(response: Response) -> list[str]:
        return list(_requires_dist(response.body.decode("utf-8", errors="replace")))

    try:
        return tuple(session.get(url, accept="*/*", decode=decode))
    except FetchError as exc:
        raise MetadataError(f"cannot fetch {url.rsplit('/', 1)[-1]}: {exc}") from exc


def _wheel_metadata(session: Session, file: File) -> tuple[str, ...]:
    try:
        url = file.url.split("#")[0]
        with session.download(url, MAX_WHEEL_BYTES) as data, zipfile.ZipFile(data) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                raise MetadataError(f"{file.filename} has {len(names)} METADATA files")
            with archive.open(names[0]) as member:
                text = member.read(MAX_METADATA_BYTES).decode("utf-8", errors="replace")
    except FetchError as exc:
        raise MetadataError(f"cannot download {file.filename}: {exc}") from exc
    except DAMAGE as exc:
        raise MetadataError(f"cannot read {file.filename}: {exc}") from exc
    return _requires_dist(text)


def _cache_path(cache_dir: str | None, url: str) -> str | None:
    if cache_dir is None or url.startswith("file:"):
        return None
    key = hashlib.sha256(f"{CACHE_FORMAT}\0{url.split('#')[0]}".encode()).hexdigest()
    return os.path.join(cache_dir, f"{key}.json")


def _load(cache_dir: str | None, url: str) -> tuple[str, ...] | None:
    path = _cache_path(cache_dir, url)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, list) or not all(isinstance(r, str) for r in data):
        return None
    return tuple(data)


def _store(cache_dir: str | None, url: str, requires: tuple[str, ...]) -> None:
    path = _cache_path(cache_dir, url)
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(list(requires), f)
        os.replace(tmp, path)
    except OSError:
        pass


def _requires_dist(text: str) -> tuple[str, ...]:
    raw, _ = parse_email(text)
    return tuple(raw.get("requires_dist") or ())


def _authoritative(pkg_info: str) -> bool:
    """PEP 643: from Metadata-Version 2.2, a field not listed as ``Dynamic`` is what every
    wheel built from the sdist will say."""
    raw, _ = parse_email(pkg_info)
    try:
        version = Version(raw.get("metadata_version") or "1.0")
    except InvalidVersion:
        return False
    dynamic = {d.lower() for d in raw.get("dynamic") or ()}
    return version >= Version("2.2") and "requires-dist" not in dynamic


def _sibling_with_metadata(selection: Selection, file: File) -> File | None:
    """A wheel of the same version as ``file`` (any platform) whose metadata the index has."""
    version = next((c.version for c in selection.candidates if c.file is file), None)
    if version is None:
        return None
    files = [c.file for c in selection.candidates if c.version == version]
    files += [r.file for r in selection.rejected if r.version == version]
    for other in files:
        if other.filename.endswith(".whl") and other.metadata:
            return other
    return None


def project_of(requirement: Requirement) -> str:
    return canonicalize_name(requirement.name)
