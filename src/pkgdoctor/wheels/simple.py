"""Where files come from: simple-API indexes (PEP 691 JSON, PEP 503 HTML, ``file://``) and
find-links locations (a directory, a local file, an HTML page of links), as pip reads them.

* An *index* is asked for ``<index>/<normalized name>/`` with the PEP 691 ``Accept`` header;
  the answer is read according to its ``Content-Type`` (JSON or HTML). A local directory
  index reads ``<dir>/<name>/index.html``, as pip does.
* A *find-links* directory is listed once and its archives are matched to the project by
  the name in their file name; HTML files in it are pages of links. A find-links URL is one
  page of links, fetched once per run.

Files carry what pip reads from the page: ``data-requires-python`` / ``requires-python``
(PEP 503/691), ``data-yanked`` / ``yanked`` (PEP 592) and the URL's hash fragment. Problems
of a source (unreachable, 404 for the whole index, a malformed page) are collected per source
by the caller; nothing here prints.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor._typed import loads
from pkgdoctor.wheels.http import ACCEPT_SIMPLE, FetchError, NotFound, Response, Session

_SIMPLE_TYPES = (
    "application/vnd.pypi.simple.v1+json",
    "application/vnd.pypi.simple.v1+html",
    "text/html",
)


class MalformedPage(ValueError):
    """A simple-API page that cannot be read (bad JSON, wrong structure, not a page)."""


@fact
class File(Fact):
    """One downloadable file as an index or find-links location lists it."""

    filename: str
    url: str
    requires_python: str | None = None
    yanked: str | None = None  # the reason ("" when none was given); None: not yanked
    # Listed directly (a find-links directory or file): pip considers these before files
    # from pages (``PackageFinder.find_all_candidates``).
    direct: bool = False
    # PEP 658/714: the index serves the file's core metadata at ``<url>.metadata``.
    metadata: bool = False
    # PEP 700 (JSON pages only): ISO 8601 upload time, e.g. "2024-09-17T15:59:51.827231Z".
    upload_time: str | None = None

    @property
    def metadata_url(self) -> str | None:
        """Where the core metadata is (PEP 658: the file's URL, without its fragment, plus
        ``.metadata``), when the index says it has it."""
        return self.url.split("#")[0] + ".metadata" if self.metadata else None

    def to_row(self) -> list[Any]:
        return [
            self.filename,
            self.url,
            self.requires_python,
            self.yanked,
            self.direct,
            self.metadata,
            self.upload_time,
        ]

    @classmethod
    def from_row(cls, row: list[Any]) -> File:
        metadata, upload_time = row[5:7] if len(row) >= 7 else (False, None)
        return cls(row[0], row[1], row[2], row[3], bool(row[4]), bool(metadata), upload_time)


def decode_page(response: Response) -> list[list[Any]]:
    """The files a simple-API response lists, as rows (what the HTTP cache keeps)."""
    content_type = response.content_type.split(";")[0].strip().lower()
    if content_type not in _SIMPLE_TYPES:
        raise MalformedPage(
            f"not a simple-API page (Content-Type {response.content_type or 'missing'})"
        )
    if content_type.endswith("+json"):
        return [f.to_row() for f in parse_json_page(response.body, response.url)]
    text = response.body.decode(response.charset, errors="replace")
    return [f.to_row() for f in parse_html_page(text, response.url)]


def parse_json_page(body: bytes, page_url: str) -> list[File]:
    """PEP 691: ``{"meta": {"api-version": "1.x"}, "files": [{"filename", "url", ...}]}``."""
    try:
        data = loads(body)
    except ValueError as exc:
        raise MalformedPage(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise MalformedPage("JSON without a 'files' list (PEP 691)")
    meta = data.get("meta")
    version = str(meta.get("api-version", "1.0")) if isinstance(meta, dict) else "1.0"
    if not version.startswith("1."):
        raise MalformedPage(f"unsupported simple API version {version} (PEP 691 knows 1.x)")
    files = []
    for item in data["files"]:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            continue
        url = urllib.parse.urljoin(page_url, item["url"])
        filename = _filename(url)  # pip names a file by its URL, not by "filename"
        requires_python = item.get("requires-python")
        yanked = item.get("yanked")
        # PEP 691: yanked is a bool or a reason; pip keeps "" for True and None for False.
        reason = yanked if isinstance(yanked, str) and yanked else ("" if yanked else None)
        # PEP 714 renamed PEP 658's key; either is true or a dict of hashes when present.
        metadata = item.get("core-metadata", item.get("dist-info-metadata"))
        upload_time = item.get("upload-time")
        files.append(
            File(
                filename,
                url,
                requires_python if isinstance(requires_python, str) else None,
                reason,
                metadata=bool(metadata),
                upload_time=upload_time if isinstance(upload_time, str) else None,
            )
        )
    return files


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")


def parse_html_page(text: str, page_url: str) -> list[File]:
    """PEP 503: one ``<a href>`` per file, with ``data-requires-python`` (HTML-escaped) and
    ``data-yanked`` (PEP 592); a ``<base href>`` changes what links are relative to.

    A ``data-yanked`` attribute without a value counts as *not* yanked, as in pip (its
    parser reads the value as None)."""
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    base = urllib.parse.urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    for anchor in parser.anchors:
        href = anchor.get("href")
        if not href:
            continue
        url = urllib.parse.urljoin(base, href.strip())
        # PEP 714 (data-core-metadata), PEP 658's older name; "false" is not a promise.
        metadata = anchor.get("data-core-metadata", anchor.get("data-dist-info-metadata"))
        files.append(
            File(
                _filename(url),
                url,
                anchor.get("data-requires-python"),
                anchor.get("data-yanked"),
                metadata=metadata is not None and metadata.lower() != "false",
            )
        )
    return files


def _filename(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def path_to_url(path: str) -> str:
    return urllib.parse.urljoin("file:", urllib.request.pathname2url(os.path.abspath(path)))


# --- sources --------------------------------------------------------------------------------


@dataclass(repr=False)
class Listing(FieldRepr):
    """What one source says about one project: its files, or why it could not say."""

    files: list[File]
    error: str | None = None  # the source could not be read for this project
    not_found: bool = False  # the source answered: no such project (404)


class Source:
    """A place pip looks for files (an index or a find-links location)."""

    kind = "source"

    def __init__(self, location: str, origin: str) -> None:
        self.location = location
        self.origin = origin  # where the setting came from, e.g. "PIP_EXTRA_INDEX_URL"
        self.ignored: str | None = None  # why pip would not use it (then nothing is asked)

    @property
    def label(self) -> str:
        return redact(self.location)

    def list(self, session: Session, project: str) -> Listing:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.label,
            "origin": self.origin,
            "ignored": self.ignored,
        }


class IndexSource(Source):
    """``--index-url`` / ``--extra-index-url``: ``<url>/<name>/`` per project (PEP 503)."""

    kind = "index"

    def __init__(self, location: str, origin: str) -> None:
        local = os.path.exists(location) and "://" not in location
        super().__init__(path_to_url(location) if local else location, origin)

    def page_url(self, project: str) -> str:
        return f"{self.location.rstrip('/')}/{urllib.parse.quote(project)}/"

    def list(self, session: Session, project: str) -> Listing:
        url = self.page_url(project)
        try:
            rows = session.get(url, accept=ACCEPT_SIMPLE, decode=decode_page)
        except NotFound:
            return Listing([], not_found=True)
        except FetchError as exc:
            return Listing([], error=f"{redact(url)}: {exc}")
        except MalformedPage as exc:
            return Listing([], error=f"{redact(url)}: malformed page: {exc}")
        return Listing([File.from_row(row) for row in rows])


class FindLinksSource(Source):
    """``--find-links``: a directory of archives, a local file, or a URL of a page of links."""

    kind = "find-links"

    def __init__(self, location: str, origin: str) -> None:
        super().__init__(location, origin)
        self._lock = threading.Lock()
        self._files: list[File] | None = None
        self._error: str | None = None

    def list(self, session: Session, project: str) -> Listing:
        # Everything is read once; the evaluation drops files of other projects, as pip's
        # does ("wrong project name").
        with self._lock:
            if self._files is None and self._error is None:
                try:
                    self._files = list(self._read(session))
                except (FetchError, MalformedPage) as exc:
                    self._error = f"{self.label}: {exc}"
        if self._error is not None:
            return Listing([], error=self._error)
        return Listing(list(self._files or ()))

    def _read(self, session: Session) -> Iterator[File]:
        location = self.location
        path: str | None = None
        if os.path.exists(location):
            path = location
        elif location.startswith("file:"):
            path = urllib.request.url2pathname(urllib.parse.urlsplit(location).path)
        if path is None:
            if "://" not in location:
                raise FetchError("not an existing path or a URL (pip ignores it)")
            for row in session.get(location, accept="text/html", decode=decode_page):
                yield File.from_row(row)
            return
        if os.path.isdir(path):
            for entry in sorted(os.scandir(path), key=lambda e: e.name):
                url = path_to_url(entry.path)
                if entry.name.endswith((".html", ".htm")):
                    yield from self._page(session, url)
                elif entry.is_file():
                    yield File(entry.name, url, direct=True)
        elif os.path.isfile(path):
            url = path_to_url(path)
            if path.endswith((".html", ".htm")):
                yield from self._page(session, url)
            else:
                yield File(os.path.basename(path), url, direct=True)
        else:
            raise FetchError("neither a file nor a directory")

    @staticmethod
    def _page(session: Session, url: str) -> Iterator[File]:
        for row in session.get(url, accept="text/html", decode=decode_page):
            yield File.from_row(row)


def redact(url: str) -> str:
    """``url`` without a password (``https://user:****@host/``), for messages and JSON."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:****@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
