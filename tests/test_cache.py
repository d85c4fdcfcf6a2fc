"""The persistent cache: used when files are unchanged, never when they changed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from artefacts import (
    EM_AARCH64,
    compile_extension,
    compile_library,
    make_venv,
    patch_machine,
    without_user_config,
    write_dist_info,
)
from conftest import Runner
from pkgdoctor.cache import Cache, pack, unpack
from pkgdoctor.cache import stamp as cache_stamp
from pkgdoctor.checks import run_checks
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding
from pkgdoctor.look import collect
from pkgdoctor.target import Target, find_target


def cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("target-*.marshal"))


def age(root: Path, seconds: float = 60) -> None:
    """Date every directory below ``root`` back by ``seconds``."""
    past = time.time() - seconds
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.utime(directory, (past, past))


def test_second_run_reads_from_the_cache(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "fast")
    write_dist_info(venv.site_packages, "fast", "1.0", [ext.name])
    (venv.site_packages / "fast-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fast\nVersion: 1.0\nRequires-Dist: absent>=1\n\n"
    )
    age(venv.prefix)  # answers about directories changed seconds ago are not cached
    cache_path = tmp_path / "cache.marshal"
    target = find_target(prefix=str(venv.prefix))
    first = Cache(str(cache_path))
    found = run_checks(Context(collect(target, cache=first), first))
    first.save()
    assert first.misses > 0 and cache_path.exists()
    second = Cache(str(cache_path))
    assert run_checks(Context(collect(target, cache=second), second)) == found
    assert second.misses == 0 and second.hits > 0  # ELF, METADATA, requirements, RECORDs


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


def checked_with_a_cache(tmp_path: Path) -> tuple[Target, Path, list[Finding]]:
    """A venv with one extension module, checked once with a cache file that is then saved:
    the target, the cache file and the findings."""
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "fast")
    write_dist_info(venv.site_packages, "fast", "1.0", [ext.name])
    age(venv.prefix)
    target = find_target(prefix=str(venv.prefix))
    cache_path = tmp_path / "cache.marshal"
    first = Cache(str(cache_path))
    found = run_checks(Context(collect(target, cache=first), first))
    first.save()
    return target, cache_path, found


def test_flipped_bytes_in_the_cache_never_change_a_verdict(tmp_path: Path) -> None:
    """A cache file damaged after it was written (one flipped byte anywhere in the payload,
    or cut short) is ignored whole: the findings are those of a run without a cache."""
    target, cache_path, found = checked_with_a_cache(tmp_path)
    good = cache_path.read_bytes()
    assert Cache(str(cache_path)).cold is False
    # Flip one bit in each of a spread of bytes (a glibc version in an ELF entry, a version
    # string, a path: wherever they land); every such file is a miss.
    for offset in range(len(good) // 2, len(good), max(1, len(good) // 97)):
        damaged = bytearray(good)
        damaged[offset] ^= 0x04
        cache_path.write_bytes(bytes(damaged))
        cache = Cache(str(cache_path))
        assert cache.cold, offset
        assert run_checks(Context(collect(target, cache=cache), cache)) == found
    cache_path.write_bytes(good[: len(good) - 7])
    assert Cache(str(cache_path)).cold
    with pytest.raises(ValueError, match="checksum"):
        unpack(good[:-1] + bytes([good[-1] ^ 1]))


def test_a_fifo_in_place_of_the_cache_file_does_not_block(tmp_path: Path) -> None:
    """A FIFO where the cache file should be is not opened for a blocking read: the run goes
    on without a cache (in a child with a hard timeout, so a regression fails, not hangs)."""
    venv = make_venv(tmp_path / "env")
    args = [sys.executable, "-m", "pkgdoctor", "check", "--prefix", str(venv.prefix), "--json"]
    env = {**without_user_config(), "PKGDOCTOR_CACHE_DIR": str(tmp_path / "cache")}
    assert subprocess.run(args, env=env, capture_output=True, timeout=120).returncode == 0
    (written,) = cache_files(tmp_path / "cache")
    written.unlink()
    os.mkfifo(written)
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["findings"] == []


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


def test_record_verdicts_follow_directory_changes(tmp_path: Path) -> None:
    """record-missing-file verdicts are cached with the directories they looked at, and a
    file deleted later is still found."""
    venv = make_venv(tmp_path / "env")
    package = venv.site_packages / "pkg" / "sub"
    package.mkdir(parents=True)
    names = ["pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/data.txt"]
    for name in names:
        (venv.site_packages / name).write_text("")
    write_dist_info(venv.site_packages, "pkg", "1.0", names)
    age(venv.prefix)
    env = {**without_user_config(), "PKGDOCTOR_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "pkgdoctor", "check", "--prefix", str(venv.prefix), "--json"]

    def check() -> list[str]:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert proc.returncode in (0, 1), proc.stderr
        return [f["code"] for f in json.loads(proc.stdout)["findings"]]

    assert check() == []
    [cache_file] = cache_files(tmp_path / "cache")
    _, sections = unpack(cache_file.read_bytes())
    record = str(venv.site_packages / "pkg-1.0.dist-info" / "RECORD")
    assert record in sections["record-presence"]
    assert record in sections["record"]  # the parsed rows
    assert check() == []  # from the cache
    (package / "data.txt").unlink()
    assert check() == ["record-missing-file"]
    (package / "data.txt").write_text("")
    assert check() == []


def test_extension_walk_sees_new_files(tmp_path: Path, pkgdoctor: Runner) -> None:
    """The walk for extension modules is cached with the directories it listed: a module
    added to an unchanged tree afterwards is still found."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "pkg").mkdir()
    (venv.site_packages / "pkg" / "__init__.py").write_text("")
    compile_extension(venv.site_packages / "pkg", "good")
    age(venv.prefix)
    args = ("check", "--prefix", str(venv.prefix), "--json")
    assert pkgdoctor(*args).json["examined"]["Extension modules"] == 1
    assert pkgdoctor(*args).json["examined"]["Extension modules"] == 1  # from the cache
    patch_machine(compile_extension(venv.site_packages / "pkg", "added"), EM_AARCH64)
    result = pkgdoctor(*args)
    assert result.json["examined"]["Extension modules"] == 2
    assert result.codes() == ["ext-wrong-arch"]


def test_file_owner_follows_record_changes(tmp_path: Path, pkgdoctor: Runner) -> None:
    """The owner of a .pth file is remembered while no RECORD changes, and asked again
    when one does."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "hook.pth").write_text("import os; os.environ.get('X')\n")
    write_dist_info(venv.site_packages, "first", "1.0", ["hook.pth"])
    write_dist_info(venv.site_packages, "second", "1.0", [])
    args = ("check", "--prefix", str(venv.prefix), "--json", "--select", "pth-executes-code")

    def owner() -> str:
        [finding] = pkgdoctor(*args).json["findings"]
        return str(finding["evidence"]["owner"])

    assert owner() == "first 1.0"
    assert owner() == "first 1.0"  # from the cache
    write_dist_info(venv.site_packages, "first", "1.0", [])
    write_dist_info(venv.site_packages, "second", "1.0", ["hook.pth"])
    assert owner() == "second 1.0"


def test_directories_changed_just_now_are_not_trusted(tmp_path: Path) -> None:
    """An answer about a directory modified within two seconds of the run is not cached: a
    change in the same timestamp tick would not show in its mtime."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "fresh.py").write_text("")
    write_dist_info(venv.site_packages, "fresh", "1.0", ["fresh.py"])
    record = str(venv.site_packages / "fresh-1.0.dist-info" / "RECORD")
    target = find_target(prefix=str(venv.prefix))

    def cached_sections() -> dict[str, Any]:
        cache_path = tmp_path / "cache.marshal"
        cache_path.unlink(missing_ok=True)
        cache = Cache(str(cache_path))
        run_checks(Context(collect(target, cache=cache), cache))
        cache.save()
        _, sections = unpack(cache_path.read_bytes())
        return dict(sections)

    sections = cached_sections()
    assert record not in sections.get("record-presence", {})
    assert not sections.get("extension-walk")
    age(venv.prefix)
    sections = cached_sections()
    assert record in sections["record-presence"]
    assert sections["extension-walk"]


def test_a_cache_of_another_version_or_damaged_entries_are_misses(tmp_path: Path) -> None:
    """A cache written by another pkgdoctor, schema or packaging is ignored whole; an entry
    that does not decode is a miss, never an exception."""
    target, cache_path, found = checked_with_a_cache(tmp_path)
    stamp, sections = unpack(cache_path.read_bytes())
    assert stamp == cache_stamp()
    # Another release wrote it: nothing is used.
    cache_path.write_bytes(pack(((*stamp[:2], "0.0.1", stamp[3]), sections)))
    other = Cache(str(cache_path))
    assert run_checks(Context(collect(target, cache=other), other)) == found
    assert other.hits == 0
    # Every entry replaced by something of the wrong shape: all misses, same findings.
    broken = {name: {k: (v[0], {1: 2}) for k, v in entries.items()}
              for name, entries in sections.items()}  # fmt: skip
    cache_path.write_bytes(pack((stamp, broken)))
    damaged = Cache(str(cache_path))
    assert run_checks(Context(collect(target, cache=damaged), damaged)) == found


def test_cached_links_follow_the_searched_directories(
    tmp_path: Path, pkgdoctor: Runner, private_cache: Path
) -> None:
    """What an extension module links is cached with the directories its lookups searched:
    a library that appears there later (or disappears) is seen on the next run."""
    venv = make_venv(tmp_path / "env")
    built = compile_library(tmp_path / "build", "libpkgdlater.so.1")
    compile_extension(
        venv.site_packages / "pkg",
        "_ext",
        link=[str(built), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../pkg.libs"],
    )
    (venv.site_packages / "pkg.libs").mkdir()
    age(venv.prefix)
    args = ("check", "--prefix", str(venv.prefix), "--json", "--select", "ext-missing-library")
    assert pkgdoctor(*args).codes() == ["ext-missing-library"]
    module = str(next((venv.site_packages / "pkg").glob("_ext*.so")))
    stored = []
    for cache_file in cache_files(private_cache):
        try:  # other tests of this worker leave corrupt files behind on purpose
            _, sections = unpack(cache_file.read_bytes())
        except (ValueError, EOFError, TypeError):
            continue
        stored += list(sections.get("extension-links", {}))
    assert any(key[0] == module for key in stored)  # every searched directory is settled
    shutil.copy(built, venv.site_packages / "pkg.libs" / built.name)
    assert pkgdoctor(*args).codes() == []
    (venv.site_packages / "pkg.libs" / built.name).unlink()
    assert pkgdoctor(*args).codes() == ["ext-missing-library"]


def test_facts_restored_from_the_cache_equal_facts_read_anew(tmp_path: Path) -> None:
    """Cached ELF facts and distributions are rebuilt without their ``__init__`` (speed):
    what comes back must equal what was read."""
    from pkgdoctor.elf import read_elf
    from pkgdoctor.inventory import (
        _distribution_from_tuple,
        _distribution_to_tuple,
        read_distribution,
    )
    from pkgdoctor.loader import _elf_from_tuple, _elf_to_tuple

    for path in (sys.executable, *sorted(glob_libs())[:20]):
        elf = read_elf(path)
        assert _elf_from_tuple(path, _elf_to_tuple(elf)) == elf
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(venv.site_packages, "fast")
    meta = write_dist_info(venv.site_packages, "fast", "1.0", [ext.name])
    dist = read_distribution(str(meta), str(venv.site_packages))
    assert dist is not None
    restored = _distribution_from_tuple(
        _distribution_to_tuple(dist), dist.metadata_dir, dist.site_dir, dist.site_real
    )
    assert restored == dist
    assert restored.top_level_names == dist.top_level_names == {"fast"}
    assert repr(restored) == repr(dist)


def glob_libs() -> list[str]:
    import glob

    return [p for p in glob.glob("/lib/x86_64-linux-gnu/lib*.so.*") if os.path.isfile(p)]
