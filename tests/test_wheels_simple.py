"""The simple API client: PEP 503 HTML and PEP 691 JSON pages, a real HTTP index on
localhost (content negotiation, the on-disk cache, revalidation) and what happens when a
source fails: a message for that source, and the answer from the others."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Runner
from pkgdoctor.wheels.http import Session, Stats
from pkgdoctor.wheels.simple import (
    File,
    FindLinksSource,
    IndexSource,
    Listing,
    MalformedPage,
    Source,
    parse_html_page,
    parse_json_page,
)
from wheel_artefacts import Entry, Server, SimpleIndex, ask, make_wheel, serve, validated

PAGE = "https://index.example/simple/demo/"


def test_html_pages_as_pip_reads_them() -> None:
    html = """<!DOCTYPE html><html><head><base href="https://files.example/base/"></head><body>
    <a href="demo-1.0.tar.gz#sha256=ab" data-requires-python="&gt;=3.9,&lt;4">demo-1.0.tar.gz</a>
    <a href="/x/demo-2.0-py3-none-any.whl" data-yanked="bad build">x</a>
    <a href="demo-2.1-py3-none-any.whl" data-yanked="">x</a>
    <a href="demo%2B-3.0-py3-none-any.whl" data-yanked>x</a>
    <a name="no-href">x</a>
    </body></html>"""
    files = parse_html_page(html, PAGE)
    assert [(f.filename, f.url, f.requires_python, f.yanked) for f in files] == [
        (
            "demo-1.0.tar.gz",
            "https://files.example/base/demo-1.0.tar.gz#sha256=ab",
            ">=3.9,<4",
            None,
        ),
        (
            "demo-2.0-py3-none-any.whl",
            "https://files.example/x/demo-2.0-py3-none-any.whl",
            None,
            "bad build",
        ),
        (
            "demo-2.1-py3-none-any.whl",
            "https://files.example/base/demo-2.1-py3-none-any.whl",
            None,
            "",
        ),
        # a valueless data-yanked reads as None in pip's parser: not yanked
        (
            "demo+-3.0-py3-none-any.whl",
            "https://files.example/base/demo%2B-3.0-py3-none-any.whl",
            None,
            None,
        ),
    ]


def test_json_pages_as_pip_reads_them() -> None:
    page = {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0.tar.gz",
                "url": "../../f/demo-1.0.tar.gz",
                "hashes": {},
                "requires-python": ">=3.8",
                "yanked": False,
            },
            {
                "filename": "x",
                "url": "https://f.example/demo-2.0-py3-none-any.whl",
                "hashes": {},
                "yanked": True,
            },
            {
                "filename": "y",
                "url": "demo-2.1-py3-none-any.whl",
                "hashes": {},
                "yanked": "security",
            },
            {"filename": "no url"},
        ],
    }
    files = parse_json_page(json.dumps(page).encode(), PAGE)
    assert [(f.filename, f.url, f.requires_python, f.yanked) for f in files] == [
        ("demo-1.0.tar.gz", "https://index.example/f/demo-1.0.tar.gz", ">=3.8", None),
        ("demo-2.0-py3-none-any.whl", "https://f.example/demo-2.0-py3-none-any.whl", None, ""),
        ("demo-2.1-py3-none-any.whl", PAGE + "demo-2.1-py3-none-any.whl", None, "security"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"[" * 200_000, "invalid JSON: nested too deeply"),  # an index can send anything
        (b'{"meta": {"api-version": "2.0"}, "files": []}', "unsupported simple API version 2.0"),
        (b'{"name": "demo"}', "JSON without a 'files' list"),
    ],
)
def test_malformed_json_pages(body: bytes, message: str) -> None:
    with pytest.raises(MalformedPage, match=message):
        parse_json_page(body, PAGE)


@pytest.fixture
def http_index(tmp_path: Path) -> Iterator[tuple[SimpleIndex, Server]]:
    index = SimpleIndex(tmp_path / "simple")
    index.add("demo", Entry(make_wheel(tmp_path / "made", "demo", "1.0")))
    with serve(tmp_path) as server:
        yield index, server


def listed(source: Source, **session: Any) -> tuple[Listing, Stats]:
    """What ``source`` lists for demo, through a new session (closed after)."""
    with Session(**session) as client:
        return source.list(client, "demo"), client.stats


def test_json_is_negotiated_and_cached(
    http_index: tuple[SimpleIndex, Server], tmp_path: Path
) -> None:
    _, server = http_index
    cache = str(tmp_path / "cache")
    source = IndexSource(server.url + "/simple", "test")
    listing, _ = listed(source, cache_dir=cache)
    assert [f.filename for f in listing.files] == ["demo-1.0-py3-none-any.whl"]
    assert listing.files[0].url == server.url + "/files/demo-1.0-py3-none-any.whl"
    ((path, accept),) = server.requests
    assert path == "/simple/demo/" and accept.startswith("application/vnd.pypi.simple.v1+json")
    again, stats = listed(source, cache_dir=cache)
    assert again.files == listing.files
    assert (stats.requests, stats.cache_hits) == (0, 1)
    # An hour later the entry is stale: asked again with its ETag, the 304 keeps it.
    later, stats = listed(source, cache_dir=cache, clock=lambda: time.time() + 3600)
    assert later.files == listing.files
    assert (stats.requests, stats.revalidated) == (1, 1)
    assert listed(source, cache_dir=cache)[0].files == listing.files


def test_html_answers_and_find_links_pages(
    http_index: tuple[SimpleIndex, Server], tmp_path: Path
) -> None:
    _, server = http_index
    server.behaviour["/simple/"] = "html"
    listing, _ = listed(IndexSource(server.url + "/simple/", "test"))
    assert [f.filename for f in listing.files] == ["demo-1.0-py3-none-any.whl"]
    page, _ = listed(FindLinksSource(server.url + "/simple/demo/", "test"))
    assert page.files == listing.files
    local, _ = listed(FindLinksSource(str(tmp_path / "made"), "test"))
    assert [(f.filename, f.direct) for f in local.files] == [("demo-1.0-py3-none-any.whl", True)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_each_failing_source_gets_a_message_and_the_others_answer(
    http_index: tuple[SimpleIndex, Server], pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, server = http_index
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "0.5")
    server.behaviour.update({"/down/": "503", "/broken/": "malformed", "/slow/": "slow"})
    refused = f"http://127.0.0.1:{_closed_port()}/simple"
    result = pkgdoctor(
        "wheels",
        "demo",
        "--platform",
        "manylinux_2_17_x86_64",
        "--python-version",
        "3.12",
        "--index-url",
        index.url,
        "--json",
        "--no-cache",
        *(
            f"--extra-index-url={u}"
            for u in (server.url + "/down", server.url + "/broken", server.url + "/slow", refused)
        ),
        "--extra-index-url",
        server.url + "/missing/",
    )
    document = validated(json.loads(result.out))
    assert result.status == 0, result.err
    (answer,) = document["results"]
    assert answer["action"] == "wheel"
    assert answer["file"]["filename"] == "demo-1.0-py3-none-any.whl"
    errors = {s["url"]: s["errors"] for s in document["sources"]}
    assert errors[index.url] == []
    assert errors[server.url + "/down"] == [
        f"{server.url}/down/demo/: HTTP 503 Service Unavailable"
    ]
    assert errors[server.url + "/broken"] == [
        f"{server.url}/broken/demo/: malformed page: invalid JSON: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)"
    ]
    assert errors[server.url + "/slow"] == [f"{server.url}/slow/demo/: timed out after 0.5 s"]
    assert errors[refused] == [f"{refused}/demo/: cannot connect to 127.0.0.1: Connection refused"]
    assert errors[server.url + "/missing/"] == []  # one project not there: not an error
    (source_reason,) = [r for r in answer["reasons"] if r["kind"] == "source"]
    assert source_reason["message"].startswith("not every source could be read")


def test_nothing_answered_exits_2(pkgdoctor: Runner, tmp_path: Path) -> None:
    refused = f"http://127.0.0.1:{_closed_port()}/simple"
    result = ask(pkgdoctor, "demo", "other", "--index-url", refused)
    assert result.status == 2
    assert "? unknown" in result.out and "cannot connect to 127.0.0.1" in result.out


def test_a_404_index_is_named(pkgdoctor: Runner, tmp_path: Path) -> None:
    (tmp_path / "simple").mkdir()
    result = ask(
        pkgdoctor, "demo", "other", "--index-url", (tmp_path / "simple").as_uri(), "--json"
    )
    assert result.status == 1
    document = validated(json.loads(result.out))
    (source,) = document["sources"]
    assert source["errors"] == [
        "none of the 2 projects asked for is on it: is it a simple index (PEP 503), like "
        "https://pypi.org/simple/?"
    ]
    assert [r["action"] for r in document["results"]] == ["unavailable", "unavailable"]
    gone = tmp_path / "nowhere"
    result = ask(pkgdoctor, "demo", "--index-url", gone.as_uri(), "--json")
    (source,) = validated(json.loads(result.out))["sources"]
    assert source["errors"] == [f"no such directory: {gone}"]


def test_core_metadata_and_upload_time() -> None:
    """PEP 658/714 (either name, HTML or JSON) and PEP 700's upload-time (JSON only)."""
    html = (
        '<a href="a-1.0-py3-none-any.whl#sha256=00" data-core-metadata="sha256=11">a</a>'
        '<a href="a-1.1-py3-none-any.whl" data-dist-info-metadata="true">a</a>'
        '<a href="a-1.2-py3-none-any.whl" data-core-metadata="false">a</a>'
        '<a href="a-1.3.tar.gz">a</a>'
    )
    files = parse_html_page(html, PAGE)
    assert [f.metadata for f in files] == [True, True, False, False]
    assert files[0].metadata_url == PAGE + "a-1.0-py3-none-any.whl.metadata"
    assert files[3].metadata_url is None
    page = {
        "meta": {"api-version": "1.1"},
        "files": [
            {
                "filename": "a-1.0-py3-none-any.whl",
                "url": "a-1.0-py3-none-any.whl",
                "core-metadata": {"sha256": "11"},
                "upload-time": "2024-09-17T15:59:51.827231Z",
            },
            {"filename": "a-1.1.tar.gz", "url": "a-1.1.tar.gz", "dist-info-metadata": False},
        ],
    }
    first, second = parse_json_page(json.dumps(page).encode(), PAGE)
    assert (first.metadata, first.upload_time) == (True, "2024-09-17T15:59:51.827231Z")
    assert (second.metadata, second.upload_time) == (False, None)
    assert File.from_row(first.to_row()) == first
    # A row cached by an older pkgdoctor (five fields) still reads.
    assert File.from_row(first.to_row()[:5]).metadata is False
