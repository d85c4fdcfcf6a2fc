"""The persistent cache: used when files are unchanged, never when they changed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from artefacts import EM_AARCH64, compile_extension, make_venv, patch_machine, write_dist_info
from conftest import Runner
from pkgdoctor.cache import Cache
from pkgdoctor.checks import run_checks
from pkgdoctor.checks.context import Context, Options
from pkgdoctor.target import find_target


def cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("target-*.marshal"))


def test_second_run_reads_from_the_cache(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "fast")
    write_dist_info(venv.site_packages, "fast", "1.0", [ext.name])
    (venv.site_packages / "fast-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fast\nVersion: 1.0\nRequires-Dist: absent>=1\n\n"
    )
    cache_path = tmp_path / "cache.marshal"
    target = find_target(prefix=str(venv.prefix))
    first = Cache(str(cache_path))
    found = run_checks(Context(target, Options(), first))
    first.save()
    assert first.hits == 0 and cache_path.exists()
    second = Cache(str(cache_path))
    assert run_checks(Context(target, Options(), second)) == found
    assert second.misses == 0 and second.hits > 0  # ELF files, METADATA, requirements


def test_changed_files_are_read_again(
    tmp_path: Path, pkgdoctor: Runner, private_cache: Path
) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "mod")
    write_dist_info(venv.site_packages, "mod", "1.0", [ext.name])
    metadata = venv.site_packages / "mod-1.0.dist-info" / "METADATA"
    args = ("check", "--prefix", str(venv.prefix), "--json")
    assert pkgdoctor(*args).json["findings"] == []
    assert cache_files(private_cache)
    # Same size, new content: the ELF machine and the metadata change in place.
    time.sleep(0.01)
    patch_machine(ext, EM_AARCH64)
    metadata.write_text(metadata.read_text().replace("Version: 1.0", "Version: 1.1"))
    result = pkgdoctor(*args)
    assert result.codes() == ["ext-wrong-arch"]
    assert "--no-deps mod==1.1 " in result.json["findings"][0]["fix"]


def test_a_corrupt_cache_is_ignored(tmp_path: Path, pkgdoctor: Runner, private_cache: Path) -> None:
    venv = make_venv(tmp_path / "env")
    args = ("check", "--prefix", str(venv.prefix), "--json")
    assert pkgdoctor(*args).status == 0
    for path in cache_files(private_cache):
        path.write_bytes(b"\x00garbage" * 100)
    assert pkgdoctor(*args).status == 0


def test_no_cache_writes_nothing(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "cache"
    monkeypatch.setenv("PKGDOCTOR_CACHE_DIR", str(directory))
    venv = make_venv(tmp_path / "env")
    compile_extension(venv.site_packages, "cached")  # something worth caching
    assert pkgdoctor("check", "--prefix", str(venv.prefix), "--no-cache").status == 0
    assert not directory.exists()
    assert pkgdoctor("check", "--prefix", str(venv.prefix)).status == 0
    assert cache_files(directory)


def test_the_cache_never_goes_into_the_target(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "env")
    compile_extension(venv.site_packages, "cached")
    inside = venv.prefix / "cache"
    monkeypatch.setenv("PKGDOCTOR_CACHE_DIR", str(inside))
    assert pkgdoctor("check", "--prefix", str(venv.prefix)).status == 0
    assert not inside.exists()
