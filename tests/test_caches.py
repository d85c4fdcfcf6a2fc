"""``pkgdoctor cache`` (src/pkgdoctor/caches/) on real caches: pip's and uv's filled by the
real tools (``PIP_CACHE_DIR``/``UV_CACHE_DIR`` in tmp), conda's ``pkgs/`` filled by rattler
(tests/conda_env.py) and, in conda's own layout, by copying a channel's ``.conda`` beside
the extracted package as conda downloads it. Each tool is the oracle: ``pip cache dir`` and
``uv cache dir`` say where, ``pip cache purge`` / ``uv cache prune`` remove what was said
to be reclaimable, ``find`` sums the sizes.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from artefacts import run
from conda_env import Channels
from conftest import Runner
from pkgdoctor.caches import locate

UV = Path(sys.executable).with_name("uv")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private home: no cache variable of the machine leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith(("PIP_", "UV_", "CONDA_", "XDG_", "PIXI_", "RATTLER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    return home


def find_bytes(root: Path) -> tuple[int, int]:
    """(files, bytes) of the regular files under ``root``, each inode once, by find(1)."""
    out = run(["find", str(root), "-type", "f", "-printf", "%i %s\n"]).stdout.split("\n")
    sizes = dict(line.split() for line in out if line)
    return len(sizes), sum(int(s) for s in sizes.values())


def cache_of(document: dict[str, Any], tool: str) -> dict[str, Any]:
    return next(c for c in document["caches"] if c["tool"] == tool)


def part(cache: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in cache["parts"] if p["name"] == name)


# --- where --------------------------------------------------------------------------------------


def test_where_pip_and_uv_say_their_cache_is(home: Path, tmp_path: Path, pkgdoctor: Runner) -> None:
    """pip's and uv's own answers (``pip cache dir``, ``uv cache dir``) for the defaults,
    XDG_CACHE_HOME, PIP_CACHE_DIR/UV_CACHE_DIR and cache-dir in a pip configuration file."""
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\ncache-dir = {tmp_path / 'from-conf'}\n")
    cases: list[dict[str, str]] = [
        {},
        {"XDG_CACHE_HOME": str(tmp_path / "xdg")},
        {"PIP_CACHE_DIR": str(tmp_path / "p"), "UV_CACHE_DIR": str(tmp_path / "u")},
        {"PIP_CONFIG_FILE": str(conf)},
    ]
    for extra in cases:
        env = dict(os.environ, **extra)
        pip_says = run([sys.executable, "-m", "pip", "cache", "dir"], env=env).stdout.strip()
        uv_says = run([str(UV), "cache", "dir"], env=env).stdout.strip()
        saved = dict(os.environ)
        os.environ.update(extra)
        try:
            document = pkgdoctor("cache", "--python", sys.executable, "--json").json
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert cache_of(document, "pip")["path"] == pip_says, extra
        assert cache_of(document, "uv")["path"] == uv_says, extra
    assert cache_of(document, "pip")["source"] == f"{conf} [global]"
    # PIP_NO_CACHE_DIR=false turns pip's cache off too (pip says so and refuses).
    env = dict(os.environ, PIP_NO_CACHE_DIR="false")
    said = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert said.returncode != 0 and "cache is disabled" in said.stderr
    os.environ["PIP_NO_CACHE_DIR"] = "false"
    try:
        off = cache_of(pkgdoctor("cache", "--python", sys.executable, "--json").json, "pip")
    finally:
        del os.environ["PIP_NO_CACHE_DIR"]
    assert off["path"] is None and off["disabled"] == "PIP_NO_CACHE_DIR"


def test_caches_turned_off() -> None:
    # pip turns its cache off on any value of PIP_NO_CACHE_DIR, "false" included
    # (cmdoptions._handle_no_cache_dir); uv on a true UV_NO_CACHE.
    off = locate.pip_cache({}, "/h", config_no_cache="PIP_NO_CACHE_DIR")
    assert off.path is None and off.disabled == "PIP_NO_CACHE_DIR"
    assert locate.uv_cache({"UV_NO_CACHE": "1"}, "/h").path is None
    assert locate.uv_cache({"UV_NO_CACHE": "0"}, "/h").path == "/h/.cache/uv"
    # A relative XDG_CACHE_HOME is invalid (XDG base directory spec) and ignored.
    assert locate.pip_cache({"XDG_CACHE_HOME": "rel"}, "/h").path == "/h/.cache/pip"


def test_conda_pkgs_dirs_in_condas_order() -> None:
    env = {"CONDA_PKGS_DIRS": "/a/pkgs,~/b"}
    found = locate.conda_pkgs_dirs(env, "/h", "/opt/conda")
    assert [(c.path, c.source) for c in found] == [
        ("/a/pkgs", "CONDA_PKGS_DIRS"),
        (os.path.expanduser("~/b"), "CONDA_PKGS_DIRS"),
    ]
    found = locate.conda_pkgs_dirs({}, "/h", "/opt/conda", linked_from=["/x/pkgs"])
    assert [c.path for c in found] == ["/opt/conda/pkgs", "/h/.conda/pkgs", "/x/pkgs"]
    root = locate.conda_root_prefix({"CONDA_EXE": "/opt/mf/bin/conda"}, "/e", [])
    assert root == "/opt/mf"
    assert locate.conda_root_prefix({}, "/opt/mf/envs/ml", ["/opt/mf/conda-meta"]) == "/opt/mf"


# --- pip ------------------------------------------------------------------------------------------

_BACKEND = """
import base64, hashlib, zipfile

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "demo_cached-1.0-py3-none-any.whl"
    files = {
        "demo_cached.py": b"VALUE = 1\\n" + b"#" * 50000 + b"\\n",
        "demo_cached-1.0.dist-info/METADATA":
            b"Metadata-Version: 2.1\\nName: demo-cached\\nVersion: 1.0\\n",
        "demo_cached-1.0.dist-info/WHEEL":
            b"Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    rows = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append("demo_cached-1.0.dist-info/RECORD,,")
    files["demo_cached-1.0.dist-info/RECORD"] = ("\\n".join(rows) + "\\n").encode()
    with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return name
"""


@pytest.fixture
def index(tmp_path: Path) -> Iterator[str]:
    """A simple index on 127.0.0.1 with one sdist, demo-cached 1.0, whose in-tree build
    backend needs nothing installed (so pip builds it offline)."""
    root = tmp_path / "index"
    (root / "simple" / "demo-cached").mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in {
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
            'backend-path = ["."]\n',
            "backend.py": _BACKEND,
            "PKG-INFO": "Metadata-Version: 2.1\nName: demo-cached\nVersion: 1.0\n",
        }.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(f"demo_cached-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (root / "simple" / "demo-cached" / "demo_cached-1.0.tar.gz").write_bytes(buffer.getvalue())
    (root / "simple" / "demo-cached" / "index.html").write_text(
        '<a href="demo_cached-1.0.tar.gz">demo_cached-1.0.tar.gz</a>\n'
    )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            # What PyPI's CDN sends: pip's HTTP cache (cachecontrol) stores the answer.
            self.send_header("Cache-Control", "max-age=600, public")
            super().end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()


def test_a_real_pip_cache_and_what_purge_frees(
    home: Path, tmp_path: Path, index: str, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "pip-cache"
    monkeypatch.setenv("PIP_CACHE_DIR", str(cache))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # pip caches plain-http answers only from a trusted host (PipSession mounts its caching
    # adapter for http:// on trusted hosts alone).
    run([*pip, "install", "--no-deps", "--index-url", index, "--trusted-host", "127.0.0.1",
         "--target", str(tmp_path / "t"), "demo-cached"])  # fmt: skip
    files, size = find_bytes(cache)
    document = pkgdoctor("cache", "--python", sys.executable, "--json").json
    found = cache_of(document, "pip")
    assert found["path"] == str(cache) and found["source"] == "PIP_CACHE_DIR"
    assert (found["total"]["files"], found["total"]["bytes"]) == (files, size)
    assert part(found, "wheels")["bytes"] > 50000  # the wheel pip built from the sdist
    http_parts = [p for p in found["parts"] if p["name"].startswith("http")]
    assert http_parts and sum(p["bytes"] for p in http_parts) > 0  # the index page, the sdist
    reclaimable = found["reclaimable"]["bytes"]
    assert found["reclaim_command"] == "pip cache purge"
    run([*pip, "cache", "purge"])
    left = find_bytes(cache)[1]
    after = cache_of(pkgdoctor("cache", "--python", sys.executable, "--json").json, "pip")
    assert after["total"]["bytes"] == left
    # pip >= 24 removes all of it; an older pip leaves the wheels' origin.json behind,
    # which is still said to be reclaimable (the next purge of a newer pip removes it).
    assert size - left == reclaimable - after["reclaimable"]["bytes"]
    assert after["reclaimable"]["bytes"] < 1024
    text = pkgdoctor("cache", "--python", sys.executable).out
    assert f"pip      {cache}" in text


# --- uv -------------------------------------------------------------------------------------------


def test_a_real_uv_cache_and_what_prune_frees(
    home: Path, tmp_path: Path, wheelhouse: Any, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    wheels = wheelhouse.fetch("six==1.17.0")
    run([str(UV), "pip", "install", "--offline", "--no-index", "--find-links", str(wheels),
         "--target", str(tmp_path / "t"), "six==1.17.0"], env=dict(os.environ))  # fmt: skip
    document = pkgdoctor("cache", "--python", sys.executable, "--json").json
    found = cache_of(document, "uv")
    assert found["path"] == str(cache)
    assert (found["total"]["files"], found["total"]["bytes"]) == find_bytes(cache)
    assert found["reclaimable"]["bytes"] == 0
    # A bucket an older uv left (its name's version is below the current one's).
    buckets = [p for p in cache.iterdir() if p.is_dir() and "-v" in p.name]
    current = max(
        (p for p in buckets if not p.name.endswith("-v0")), key=lambda p: find_bytes(p)[1]
    )
    stem, _, version = current.name.rpartition("-v")
    old = cache / f"{stem}-v{int(version) - 1}"
    shutil.copytree(current, old, symlinks=True)
    stale = find_bytes(old)[1]
    found = cache_of(pkgdoctor("cache", "--python", sys.executable, "--json").json, "uv")
    assert found["reclaimable"]["bytes"] == stale > 0
    run([str(UV), "cache", "prune"], env=dict(os.environ))
    assert not old.exists()  # uv agrees: prune removed it


# --- conda ---------------------------------------------------------------------------------------


@pytest.fixture
def channels(conda_channels: Channels, tmp_path: Path) -> Channels:
    """The session's channels with a package cache of this test's own (it gets broken);
    the packages are hard links, the repodata this test's copies."""

    def copy(source: str, destination: str) -> None:
        if source.endswith(".json"):
            shutil.copy2(source, destination)
        else:
            os.link(source, destination)

    channels = Channels(tmp_path / "conda")
    for channel in ("conda-forge",):
        shutil.copytree(
            conda_channels.directory(channel), channels.directory(channel), copy_function=copy
        )
    return channels


def test_a_conda_environment_shares_its_files_with_pkgs(
    home: Path, channels: Channels, tmp_path: Path, pkgdoctor: Runner
) -> None:
    env = channels.create(tmp_path / "env", ["python", "libblas"])
    document = pkgdoctor("cache", "--prefix", str(env.prefix), "--static", "--json").json
    linkage = document["environment"]
    regular = [
        p for p in env.prefix.rglob("*")
        if p.is_file() and not p.is_symlink() and "conda-meta" not in p.parts
        and p.name != "CACHEDIR.TAG"  # rattler's mark in the prefix, no package's file
    ]  # fmt: skip
    assert linkage["hardlinked"]["files"] == len(regular)
    assert linkage["hardlinked"]["bytes"] == sum(p.stat().st_size for p in regular)
    assert linkage["copied"]["files"] == 0 and linkage["missing"] == 0
    assert linkage["sources"] == [str(channels.pkgs)]
    pkgs = next(c for c in document["caches"] if c["path"] == str(channels.pkgs))
    assert pkgs["layout"] == "rattler" and pkgs["packages"] == 2
    assert pkgs["reclaimable"]["bytes"] == 0  # every package is linked into env
    assert document["findings"] == []
    # Another environment, then removed: what only it used is reclaimable, as conda clean
    # --packages decides (no file with a link count above 1).
    channels.package("conda-forge", "extra", "1.0", "0", {"share/extra.txt": b"x" * 4096})
    other = channels.create(tmp_path / "other", ["extra"])
    shutil.rmtree(other.prefix)
    pkgs = next(
        c for c in pkgdoctor("cache", "--prefix", str(env.prefix), "--static", "--json")
        .json["caches"] if c["path"] == str(channels.pkgs)
    )  # fmt: skip
    unused = part(pkgs, "unused packages")
    assert unused["bytes"] == find_bytes(channels.pkgs / "extra-1.0-0")[1] and unused["files"] > 3


def test_broken_and_partial_packages_in_pkgs(
    home: Path, channels: Channels, tmp_path: Path, pkgdoctor: Runner
) -> None:
    env = channels.create(tmp_path / "env", ["python", "libblas"])
    pkgs = channels.pkgs
    # conda's own layout: the package file beside its extracted directory, urls.txt.
    source = next((channels.directory("conda-forge") / "linux-64").glob("libblas-*.conda"))
    shutil.copy(source, pkgs / source.name)
    (pkgs / "urls.txt").write_text(source.as_uri() + "\n")
    # A download cut short, a file deleted from an extracted package, an extraction that
    # stopped before info/index.json.
    (pkgs / source.name).write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    python_dir = next(pkgs.glob("python-*"))
    (python_dir / "lib" / "python3.11" / "os.py").unlink(missing_ok=True)
    gone = next(p for p in (python_dir / "lib").rglob("*.py"))
    gone.unlink()
    partial = pkgs / "zlib-1.3.1-h0_0"
    (partial / "lib").mkdir(parents=True)
    (partial / "lib" / "libz.so.1").write_bytes(b"\x7fELF")
    os.mkfifo(pkgs / "fifo-1.0-0.conda")  # never opened
    hostile = pkgs / "hostile-1.0-0"
    (hostile / "info").mkdir(parents=True)
    (hostile / "info" / "index.json").write_text("{}")
    os.mkfifo(hostile / "info" / "paths.json")  # never opened: the package lists no files
    (hostile / "info" / "files").symlink_to("/etc/passwd")  # never read through
    nested = pkgs / "nested-1.0-0"  # a paths.json nested past the JSON parser's limit
    (nested / "info").mkdir(parents=True)
    (nested / "info" / "index.json").write_text("{}")
    (nested / "info" / "paths.json").write_text("[" * 200_000)
    result = pkgdoctor("cache", "--prefix", str(env.prefix), "--static", "--json")
    document = result.json
    assert result.status == 0  # warnings; --fail-on error
    cache = next(c for c in document["caches"] if c["path"] == str(pkgs))
    assert cache["layout"] == "conda" and cache["reclaim_command"] == (
        "conda clean --packages --tarballs"
    )
    assert part(cache, "tarballs")["bytes"] == source.stat().st_size // 2  # extracted beside
    by_path = {f["path"]: f for f in document["findings"]}
    assert set(by_path) == {
        str(pkgs / source.name), str(python_dir), str(partial), str(hostile), str(nested)
    }  # fmt: skip
    assert "lists the package's files" in by_path[str(hostile)]["message"]
    assert "lists the package's files" in by_path[str(nested)]["message"]
    assert by_path[str(pkgs / source.name)]["code"] == "cache-archive-invalid"
    incomplete = by_path[str(python_dir)]
    assert incomplete["code"] == "cache-package-incomplete"
    assert str(gone.relative_to(python_dir)) in incomplete["evidence"]["missing"]
    assert incomplete["evidence"]["linked_into_an_environment"] is True
    assert "info/index.json" in by_path[str(partial)]["message"]
    # The fixes are the commands, run as they are.
    for finding in document["findings"]:
        subprocess.run(finding["command"], shell=True, check=True)
    after = pkgdoctor("cache", "--prefix", str(env.prefix), "--static", "--json").json
    assert after["findings"] == []
    # The environment kept its files: they were hard links.
    out = subprocess.run([str(env.python), "-c", "import os; print('ok')"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "ok"
    text = pkgdoctor("cache", "--prefix", str(env.prefix), "--static").out
    assert "hard-linked from pkgs/" in text


def test_limits_make_lower_bounds_and_the_run_ends(
    home: Path, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "pip-cache"
    deep = cache / "http"
    for _depth in range(80):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"x")
    os.mkfifo(cache / "http" / "fifo")
    (cache / "wheels").mkdir()
    (cache / "wheels" / "loop").symlink_to(cache)  # never followed
    monkeypatch.setenv("PIP_CACHE_DIR", str(cache))
    started = time.monotonic()
    document = pkgdoctor("cache", "--python", sys.executable, "--json").json
    assert time.monotonic() - started < 10
    found = cache_of(document, "pip")
    assert found["total"]["complete"] is False  # deeper than MAX_DEPTH
    assert found["total"]["files"] == 0
    assert any("lower bounds" in note for note in document["notes"])
    result = pkgdoctor("cache", "--python", sys.executable, "--time-limit", "0.000001")
    assert "≥" in result.out
    assert all(len(line) <= 60 for line in _columns(pkgdoctor, 60).splitlines())


def _columns(pkgdoctor: Runner, width: int) -> str:
    os.environ["COLUMNS"] = str(width)
    try:
        return pkgdoctor("cache", "--python", sys.executable).out
    finally:
        del os.environ["COLUMNS"]


def test_a_record_pointing_outside_is_not_walked(
    home: Path, channels: Channels, tmp_path: Path, pkgdoctor: Runner
) -> None:
    """``link.source`` comes from the target's files: a directory not named like a package
    cache is never taken for one (never walked, never counted)."""
    import json

    env = channels.create(tmp_path / "env", ["libblas"])
    elsewhere = tmp_path / "elsewhere" / "libblas-3.9.0-20_linux64_openblas"
    shutil.copytree(next(channels.pkgs.glob("libblas-*")), elsewhere)
    record = next(env.meta.glob("libblas-*.json"))
    doc = json.loads(record.read_text())
    doc["link"]["source"] = str(elsewhere)
    record.write_text(json.dumps(doc))
    document = pkgdoctor("cache", "--prefix", str(env.prefix), "--static", "--json").json
    assert all(str(tmp_path / "elsewhere") not in (c["path"] or "") for c in document["caches"])
    # The file is compared with the record's own source: a copy there, not the same inode.
    assert document["environment"]["copied"]["files"] == 1
    assert document["environment"]["hardlinked"]["files"] == 0


def test_a_huge_cache_leaves_the_others_their_share(
    home: Path, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pkgdoctor.caches import look

    monkeypatch.setattr(look, "MAX_ENTRIES", 2000)
    pip_cache, uv_cache = tmp_path / "pip", tmp_path / "uv"
    for index in range(3000):
        directory = pip_cache / "http-v2" / f"{index % 50}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{index}").write_bytes(b"x")
    (uv_cache / "wheels-v5").mkdir(parents=True)
    (uv_cache / "wheels-v5" / "a").write_bytes(b"y" * 10)
    monkeypatch.setenv("PIP_CACHE_DIR", str(pip_cache))
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    document = pkgdoctor("cache", "--python", sys.executable, "--json").json
    assert cache_of(document, "pip")["total"]["complete"] is False
    assert 0 < cache_of(document, "pip")["total"]["files"] < 3000
    assert cache_of(document, "uv")["total"] == {"files": 1, "bytes": 10, "complete": True}
