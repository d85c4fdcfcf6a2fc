"""The index file an installed distribution came from, for ``export --format pylock``.

A dist-info does not say which file it was installed from, nor that file's hash, and PEP 751
requires both (``url`` or ``path``, and ``hashes`` with at least one entry) for every wheel
and sdist it locks. So each distribution that came from an index is looked up there (the
simple API, PEP 503 HTML or PEP 691 JSON) and the one file that *is* it is taken: the wheel
whose name, version, build tag and set of tags (from the file name, PEP 427) equal the
installed WHEEL's; failing that (a wheel built here from the sdist), the version's sdist.
Anything else is an answer saying why not, never a guess.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pkgdoctor._fields import Fact, fact
from pkgdoctor.snapshot.model import Distribution
from pkgdoctor.wheels.http import (
    ACCEPT_SIMPLE,
    FetchError,
    NotFound,
    Response,
    Session,
    request_pool,
)
from pkgdoctor.wheels.simple import MalformedPage, parse_html_page, redact

PYPI = "https://pypi.org/simple/"


@fact
class LockedFile(Fact):
    """The file of an index that is an installed distribution."""

    kind: Literal["wheel", "sdist"]
    filename: str
    url: str  # without the hash fragment
    hashes: Mapping[str, str]  # algorithm → hex digest, as the index gives them
    index: str


def _decode(response: Response) -> list[list[Any]]:
    """Rows ``[filename, url without fragment, {algorithm: hex}]`` of a simple-API page: the
    hashes from PEP 691's ``hashes`` or PEP 503's URL fragment (``#sha256=<hex>``)."""
    content_type = response.content_type.split(";")[0].strip().lower()
    rows: list[list[Any]] = []
    if content_type == "application/vnd.pypi.simple.v1+json":
        try:
            data = json.loads(response.body)
        except ValueError as exc:
            raise MalformedPage(f"invalid JSON: {exc}") from exc
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, list):
            raise MalformedPage("JSON without a 'files' list (PEP 691)")
        for item in files:
            if isinstance(item, dict) and isinstance(item.get("url"), str):
                url = urllib.parse.urljoin(response.url, item["url"])
                hashes = item.get("hashes")
                hashes = hashes if isinstance(hashes, dict) else {}
                rows.append([_name(url), url.partition("#")[0], _strs(hashes)])
        return rows
    if content_type not in ("application/vnd.pypi.simple.v1+html", "text/html"):
        raise MalformedPage(f"not a simple-API page (Content-Type {content_type or 'missing'})")
    text = response.body.decode(response.charset, errors="replace")
    for file in parse_html_page(text, response.url):
        url, _, fragment = file.url.partition("#")
        algorithm, _, digest = fragment.partition("=")
        rows.append([file.filename, url, {algorithm.lower(): digest} if digest else {}])
    return rows


def _strs(mapping: dict[Any, Any]) -> dict[str, str]:
    return {str(k).lower(): v for k, v in mapping.items() if isinstance(v, str) and v}


def _name(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def _same_version(a: Version | str, b: str) -> bool:
    try:
        return Version(str(a)) == Version(b)
    except InvalidVersion:
        return str(a) == b


def match(dist: Distribution, rows: Sequence[list[Any]], index: str) -> LockedFile | str:
    """The file of ``rows`` (an index page of ``index``) that is the installed ``dist``, or
    why there is none."""
    if not dist.version:
        return "its metadata has no version"
    tags = frozenset(dist.wheel_tags)
    build = dist.wheel_build or ""
    sdist = None
    for filename, url, hashes in rows:
        try:
            name, version, wheel_build, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            try:
                sname, sversion = parse_sdist_filename(filename)
            except InvalidSdistFilename:
                continue
            if sname == dist.key and _same_version(sversion, dist.version):
                sdist = LockedFile("sdist", filename, url, hashes, index)
            continue
        if name != canonicalize_name(dist.name) or not _same_version(version, dist.version):
            continue
        if "".join(map(str, wheel_build)) != build:
            continue
        if tags and frozenset(str(t) for t in wheel_tags) == tags:
            if not hashes:
                return f"{redact(index)} lists {filename} without a hash"
            return LockedFile("wheel", filename, url, hashes, index)
    if sdist is not None and tags and not any(t.endswith("-any") for t in tags):
        # Wheel tags no file has: pip built this wheel here, from the version's sdist.
        if not sdist.hashes:
            return f"{redact(index)} lists {sdist.filename} without a hash"
        return sdist
    if not tags:
        return f"not installed from a wheel, and {redact(index)} has no sdist of it"
    return f"{redact(index)} has no file with the installed wheel's tags ({' '.join(sorted(tags))})"


def locate(
    wanted: Sequence[tuple[Distribution, str | None]], session: Session, index: str = PYPI
) -> dict[str, LockedFile | str]:
    """For each ``(distribution, its own index or None)``: its file on that index, else on
    ``index``, or why it could not be found; keyed by normalized name.

    ``session`` must not share its cache directory with :mod:`pkgdoctor.wheels.command`'s:
    the same page is cached here decoded differently (with its files' hashes)."""

    def one(item: tuple[Distribution, str | None]) -> LockedFile | str:
        dist, own = item
        where = own or index
        url = f"{where.rstrip('/')}/{urllib.parse.quote(dist.key)}/"
        try:
            rows = session.get(url, accept=ACCEPT_SIMPLE, decode=_decode)
        except NotFound:
            return f"{redact(where)} does not know {dist.name}"
        except (FetchError, MalformedPage) as exc:
            return f"{redact(url)}: {exc}"
        return match(dist, rows, where)

    with request_pool(8) as pool:
        return dict(zip([d.key for d, _ in wanted], pool.map(one, wanted)))
