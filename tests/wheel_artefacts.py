"""Builders for ``pkgdoctor wheels`` tests: real wheel and sdist archives written from dicts,
PEP 503 / PEP 691 simple indexes on disk, a local HTTP index server, and pip itself run in
isolation from this machine's configuration (the oracle)."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import Result, Runner

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "src/pkgdoctor/schema/wheels-v1.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validated(document: Any) -> Any:
    """``document`` after checking it against ``schema/wheels-v1.json``."""
    VALIDATOR.validate(document)
    return document


def ask(
    pkgdoctor: Runner, *args: str, platform: str = "linux_x86_64", python: str = "3.12"
) -> Result:
    """``pkgdoctor wheels ARGS`` for a described target, with ``--isolated``."""
    target = ["--platform", platform, "--python-version", python, "--isolated"]
    return pkgdoctor("wheels", *args, *target)


def clean_pip_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``PIP_*`` setting and with no pip.conf:
    neither pip nor pkgdoctor may see the machine's indexes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(extra or {})
    return env


# --- archives -------------------------------------------------------------------------------


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    tag: str = "py3-none-any",
    build: str | None = None,
    requires_python: str | None = None,
    requires: Sequence[str] = (),
) -> Path:
    """A valid wheel (METADATA, WHEEL, RECORD with hashes) named as PEP 427 says;
    ``requires`` are its ``Requires-Dist`` lines."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    wheel = "Wheel-Version: 1.0\nGenerator: pkgdoctor-tests\nRoot-Is-Purelib: true\n"
    wheel += "".join(f"Tag: {t}\n" for t in _expand_tag(tag))
    if build:
        wheel += f"Build: {build}\n"
    files = {
        f"{dist}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": wheel.encode(),
    }
    record = "".join(_record_line(n, d) + "\n" for n, d in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    parts = [dist, version, *([build] if build else []), tag]
    path = directory / ("-".join(parts) + ".whl")
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def _expand_tag(tag: str) -> list[str]:
    interpreters, abis, platforms = (part.split(".") for part in tag.split("-"))
    return [f"{i}-{a}-{p}" for i in interpreters for a in abis for p in platforms]


def make_sdist(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, str | bytes] | None = None,
    *,
    fmt: str = "tar.gz",
) -> Path:
    """An sdist ``name-version.tar.gz`` (or ``.zip``) with PKG-INFO and ``files``."""
    directory.mkdir(parents=True, exist_ok=True)
    root = f"{name.replace('-', '_')}-{version}"
    members: dict[str, str | bytes] = {
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    }
    members.update(files or {})
    path = directory / f"{root}.{fmt}"
    if fmt == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            for member, data in members.items():
                archive.writestr(f"{root}/{member}", data)
        return path
    with tarfile.open(path, "w:gz") as archive:
        for member, data in members.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(f"{root}/{member}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


# --- indexes ----------------------------------------------------------------------------------


@dataclass
class Entry:
    """A file an index lists, with the PEP 503/592 attributes of its link."""

    path: Path
    requires_python: str | None = None
    yanked: str | None = None  # the reason; "" for yanked without one
    # PEP 658/714: the wheel's METADATA is served beside it as ``<file>.metadata``.
    metadata: bool = False


@dataclass
class SimpleIndex:
    """A PEP 503 index on disk (``root/<name>/index.html``, files in ``root/../files``),
    with a PEP 691 JSON twin (``index.json``) for the HTTP server."""

    root: Path
    projects: dict[str, list[Entry]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def add(self, project: str, *entries: Entry) -> None:
        self.projects.setdefault(project, []).extend(entries)
        self.write()

    def write(self) -> None:
        files = self.root.parent / "files"
        files.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(self.projects))
        (self.root / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>")
        for project, entries in self.projects.items():
            page = self.root / project
            page.mkdir(exist_ok=True)
            anchors = []
            json_files = []
            for entry in entries:
                target = files / entry.path.name
                if not target.exists():
                    shutil.copy(entry.path, target)
                sha = hashlib.sha256(target.read_bytes()).hexdigest()
                href = f"../../files/{entry.path.name}#sha256={sha}"
                attrs = ""
                item: dict[str, Any] = {
                    "filename": entry.path.name,
                    "url": f"../../files/{entry.path.name}",
                    "hashes": {"sha256": sha},
                }
                if entry.requires_python is not None:
                    attrs += f' data-requires-python="{html.escape(entry.requires_python)}"'
                    item["requires-python"] = entry.requires_python
                if entry.yanked is not None:
                    attrs += f' data-yanked="{html.escape(entry.yanked)}"'
                    item["yanked"] = entry.yanked or True
                if entry.metadata:
                    with zipfile.ZipFile(target) as wheel:
                        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
                        data = wheel.read(name)
                    (files / f"{entry.path.name}.metadata").write_bytes(data)
                    digest = hashlib.sha256(data).hexdigest()
                    attrs += f' data-core-metadata="sha256={digest}"'
                    item["core-metadata"] = {"sha256": digest}
                anchors.append(f'<a href="{href}"{attrs}>{entry.path.name}</a><br/>\n')
                json_files.append(item)
            (page / "index.html").write_text(
                "<!DOCTYPE html><html><body>\n" + "".join(anchors) + "</body></html>\n"
            )
            (page / "index.json").write_text(
                json.dumps({"meta": {"api-version": "1.1"}, "name": project, "files": json_files})
            )


# --- an HTTP index --------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    requests: list[tuple[str, str]]  # (path, Accept header)
    behaviour: dict[str, str]  # path prefix -> "404" | "503" | "malformed" | "slow" | "html"


@contextmanager
def serve(directory: Path) -> Iterator[Server]:
    """Serve ``directory`` (a :class:`SimpleIndex` root's parent) over HTTP on localhost.

    ``/simple/<name>/`` answers with the PEP 691 JSON page when the client accepts it, else
    the HTML page; ``behaviour`` makes chosen paths fail in chosen ways."""
    requests: list[tuple[str, str]] = []
    behaviour: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            accept = self.headers.get("Accept", "")
            requests.append((self.path, accept))
            for prefix, what in behaviour.items():
                if self.path.startswith(prefix):
                    if what == "slow":
                        time.sleep(3)
                    elif what in ("404", "503"):
                        return self._send(int(what), b"", "text/plain")
                    elif what == "malformed":
                        return self._send(200, b"{not json", "application/vnd.pypi.simple.v1+json")
                    elif what == "html":
                        accept = "text/html"
            path = directory / self.path.lstrip("/").split("?")[0]
            if path.is_dir():
                if "json" in accept and (path / "index.json").exists():
                    data = (path / "index.json").read_bytes()
                    return self._send(200, data, "application/vnd.pypi.simple.v1+json")
                path = path / "index.html"
            if not path.is_file():
                return self._send(404, b"not found", "text/plain")
            kind = "text/html" if path.suffix == ".html" else "application/octet-stream"
            return self._send(200, path.read_bytes(), kind)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            etag = f'"{hashlib.sha1(body).hexdigest()}"'
            if status == 200 and self.headers.get("If-None-Match") == etag:
                status, body = 304, b""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status in (200, 304):
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_address[1]}", requests, behaviour)
    finally:
        server.shutdown()
        server.server_close()


# --- pip, the oracle ----------------------------------------------------------------------


def pip_choice(
    requirement: str,
    *,
    platforms: Sequence[str],
    python_version: str,
    abis: Sequence[str],
    sources: Sequence[str],
    work: Path,
    download: bool = False,
) -> str | None:
    """The URL (``download=False``: ``pip install --dry-run --report``) or file name
    (``download=True``: ``pip download``) pip picks with ``--only-binary=:all:`` for that
    target and those sources, or None when pip finds no matching distribution."""
    work.mkdir(parents=True, exist_ok=True)
    target = ["--python-version", python_version, "--implementation", "cp"]
    for platform in platforms:
        target += ["--platform", platform]
    for abi in abis:
        target += ["--abi", abi]
    common = ["--isolated", "--no-deps", "--only-binary=:all:", *sources, *target]
    if download:
        out = work / "downloads"
        cmd = ["download", *common, "--dest", str(out), requirement]
    else:
        cmd = [
            "install",
            "--dry-run",
            "--ignore-installed",
            "--target",
            str(work / "target"),
            "--report",
            str(work / "report.json"),
            *common,
            requirement,
        ]
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *cmd],
        capture_output=True,
        text=True,
        env=clean_pip_environ(),
        check=False,
    )
    if proc.returncode != 0:
        if "No matching distribution found" in proc.stderr:
            return None
        pytest.fail(f"pip failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    if download:
        (name,) = [p.name for p in out.iterdir()]
        return name
    report = json.loads((work / "report.json").read_text())
    (install,) = report["install"]
    return str(install["download_info"]["url"])


def forget_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PIP_* variable and no pip configuration file: pkgdoctor's sources are the test's."""
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
