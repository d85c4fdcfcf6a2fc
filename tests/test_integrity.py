"""Integrity: RECORD entries against the files on disk, in real venvs that pip installed.

One healthy venv is built per module (per xdist worker); every test that breaks something
breaks a copy of it (``shutil.copytree`` keeps RECORD's relative paths valid).
"""

from __future__ import annotations

import base64
import csv
import glob
import hashlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.metadata import parse_email

from artefacts import PY, Venv, Wheelhouse, make_venv, pip, without_user_config, write_dist_info
from conftest import Runner
from pkgdoctor.checks.integrity import SHEBANG_NOTE
from pkgdoctor.inventory import (
    Distribution,
    RecordEntry,
    egg_info_requirements,
    parse_headers,
    parse_record,
    read_distribution,
)
from pkgdoctor.look.records import HashJob, hash_files, record_digest, terminal_progress
from pkgdoctor.snapshot.model import record_locations

# The versions test_check_extensions.py pins, numpy left out (it adds nothing here but time).
HEALTHY = (
    "requests==2.32.3",
    "certifi==2024.8.30",
    "idna==3.10",
    "urllib3==2.2.3",
    "charset-normalizer==3.4.0",
)
CODES = ("record-missing-file", "record-hash-mismatch")


def b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("integrity") / "env")
    wheelhouse.install(venv, *HEALTHY)
    return venv


@pytest.fixture
def broken(healthy: Venv, tmp_path: Path, wheelhouse: Wheelhouse) -> Venv:
    """A copy of the healthy venv, to break. A plain copy's console script (``normalizer``)
    still runs the original's interpreter (``venv-script-interpreter-foreign``): its
    distribution is reinstalled into the copy, as that finding's fix does, so the copy starts
    healthy."""
    copy = tmp_path / "env"
    shutil.copytree(healthy.prefix, copy, symlinks=True)
    venv = Venv(copy)
    wheels = wheelhouse.fetch(*HEALTHY)
    pip(
        "--python", str(venv.python), "install", "--force-reinstall", "--no-deps",
        "--no-index", "--find-links", str(wheels), "charset-normalizer==3.4.0",
    )  # fmt: skip
    return venv


def check(pkgdoctor: Runner, venv: Venv, *extra: str) -> Any:
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", *extra)
    assert "Traceback" not in result.err
    return result


def integrity(result: Any) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["code"] in CODES]


def only(result: Any, code: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [f for f in result.json["findings"] if f["code"] == code]
    assert len(found) == 1, result.json["findings"]
    return found[0]


def record_rows(dist_info: Path) -> dict[str, list[str]]:
    with (dist_info / "RECORD").open(newline="") as f:
        return {row[0]: row for row in csv.reader(f) if row}


def examined(venv: Venv) -> int:
    """Every RECORD row but the bytecode pip compiled, counted independently of pkgdoctor."""
    return sum(
        1
        for record in venv.site_packages.glob("*.dist-info/RECORD")
        for row in record_rows(record.parent)
        if not row.endswith(".pyc")
    )


def fix_for(venv: Venv, requirement: str) -> str:
    return f"{venv.prefix}/bin/python3 -m pip install --force-reinstall --no-deps {requirement}"


# --- healthy --------------------------------------------------------------------------------


@pytest.mark.parametrize("deep", [False, True], ids=["stat", "deep"])
def test_healthy_venv_has_no_findings(healthy: Venv, pkgdoctor: Runner, deep: bool) -> None:
    result = check(pkgdoctor, healthy, *(["--deep"] if deep else []))
    assert result.status == 0
    assert result.json["findings"] == []
    assert examined(healthy) > 100
    assert result.json["examined"]["Integrity"] == examined(healthy)


# --- record-missing-file --------------------------------------------------------------------


def test_deleted_module_is_an_error(broken: Venv, pkgdoctor: Runner) -> None:
    (broken.site_packages / "urllib3/util/retry.py").unlink()
    result = check(pkgdoctor, broken)
    assert result.status == 1
    finding = only(result, "record-missing-file")
    dist_info = broken.site_packages / "urllib3-2.2.3.dist-info"
    assert finding == {
        "code": "record-missing-file",
        "severity": "error",
        "message": (
            "urllib3 2.2.3 is missing urllib3/util/retry.py, a file its RECORD lists (code)."
        ),
        "distribution": "urllib3",
        "path": str(dist_info),
        "evidence": {
            "missing": ["urllib3/util/retry.py"],
            "missing_count": 1,
            "code_or_metadata": ["urllib3/util/retry.py"],
            "missing_in": ["urllib3/util"],
            "record": str(dist_info / "RECORD"),
        },
        "fix": fix_for(broken, "urllib3==2.2.3"),
        "command": fix_for(broken, "urllib3==2.2.3"),
        "explanation": None,
    }


def test_deleted_extension_module_is_an_error(broken: Venv, pkgdoctor: Runner) -> None:
    package = broken.site_packages / "charset_normalizer"
    extensions = sorted(package.glob("*.so"))
    assert extensions, "charset-normalizer 3.4.0 ships mypyc-compiled modules"
    for path in extensions:
        path.unlink()
    finding = only(check(pkgdoctor, broken), "record-missing-file")
    assert finding["severity"] == "error"
    names = {f"charset_normalizer/{p.name}" for p in extensions}
    assert set(finding["evidence"]["missing"]) == names
    assert finding["evidence"]["missing_count"] == len(names)


def test_deleted_bytecode_is_fine(broken: Venv, pkgdoctor: Runner) -> None:
    caches = list((broken.site_packages / "urllib3").rglob("__pycache__"))
    rows = record_rows(broken.site_packages / "urllib3-2.2.3.dist-info")
    assert caches and any(row.endswith(".pyc") for row in rows), "pip records its bytecode"
    for cache in caches:
        shutil.rmtree(cache)
    result = check(pkgdoctor, broken)
    assert result.status == 0
    assert result.json["findings"] == []


def test_deleted_licence_and_script_are_a_warning(broken: Venv, pkgdoctor: Runner) -> None:
    dist_info = broken.site_packages / "charset_normalizer-3.4.0.dist-info"
    licence = next(p for p in dist_info.iterdir() if p.name.startswith("LICENSE"))
    licence.unlink()
    (broken.prefix / "bin" / "normalizer").unlink()
    result = check(pkgdoctor, broken)
    assert result.status == 0  # warnings do not fail the default --fail-on error
    finding = only(result, "record-missing-file")
    assert finding["severity"] == "warning"
    assert sorted(finding["evidence"]["missing"]) == [
        "../../../bin/normalizer",
        f"{dist_info.name}/{licence.name}",
    ]
    assert finding["evidence"]["code_or_metadata"] == []
    assert finding["message"] == (
        "charset-normalizer 3.4.0 is missing 2 files its RECORD lists (none of them code: "
        f"scripts, data or documentation): {finding['evidence']['missing'][0]} …"
    )


def test_pip_target_layout_is_not_missing(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    # pip --target moves bin/ into the target but RECORD keeps ../../bin/ (pypa/pip#7658).
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, "charset-normalizer==3.4.0", python=PY)
    rows = record_rows(venv.site_packages / "charset_normalizer-3.4.0.dist-info")
    assert "../../bin/normalizer" in rows and (venv.site_packages / "bin/normalizer").exists()
    result = check(pkgdoctor, venv, "--deep")
    assert integrity(result) == []


def test_deleted_metadata_is_an_error(broken: Venv, pkgdoctor: Runner) -> None:
    (broken.site_packages / "requests-2.32.3.dist-info" / "WHEEL").unlink()
    finding = only(check(pkgdoctor, broken), "record-missing-file")
    assert finding["severity"] == "error"
    assert finding["message"].endswith("a file its RECORD lists (metadata).")


def test_many_missing_files_are_capped(broken: Venv, pkgdoctor: Runner) -> None:
    for path in (broken.site_packages / "urllib3").rglob("*.py"):
        path.unlink()
    evidence = only(check(pkgdoctor, broken), "record-missing-file")["evidence"]
    assert evidence["missing_count"] > 20
    assert len(evidence["missing"]) == 20


# --- record-hash-mismatch -------------------------------------------------------------------


def test_edited_file_is_found_only_with_deep(broken: Venv, pkgdoctor: Runner) -> None:
    target = broken.site_packages / "urllib3/util/retry.py"
    recorded = record_rows(broken.site_packages / "urllib3-2.2.3.dist-info")[
        "urllib3/util/retry.py"
    ]
    data = target.read_bytes() + b"# edited in place\n"
    target.write_bytes(data)
    assert check(pkgdoctor, broken).json["findings"] == []
    result = check(pkgdoctor, broken, "--deep")
    assert result.status == 1
    finding = only(result, "record-hash-mismatch")
    dist_info = broken.site_packages / "urllib3-2.2.3.dist-info"
    assert finding == {
        "code": "record-hash-mismatch",
        "severity": "error",
        "message": (
            "A file of urllib3 2.2.3 differs from the hash in its RECORD (edited in place or "
            "corrupted): urllib3/util/retry.py."
        ),
        "distribution": "urllib3",
        "path": str(dist_info),
        "evidence": {
            "files": [
                {
                    "path": "urllib3/util/retry.py",
                    "recorded_hash": recorded[1],
                    "actual_hash": "sha256=" + b64(hashlib.sha256(data).digest()),
                    "recorded_size": int(recorded[2]),
                    "actual_size": len(data),
                }
            ],
            "file_count": 1,
            "record": str(dist_info / "RECORD"),
        },
        "fix": fix_for(broken, "urllib3==2.2.3"),
        "command": fix_for(broken, "urllib3==2.2.3"),
        "explanation": None,
    }


def test_rewritten_shebang_is_a_note(broken: Venv, pkgdoctor: Runner) -> None:
    script = broken.prefix / "bin" / "normalizer"
    lines = script.read_bytes().split(b"\n", 1)
    assert lines[0].startswith(b"#!")
    # As a relocation tool (venv-pack, conda-pack) rewrites it for the environment's new
    # place; a #! line naming a Python that does not exist would be an error of its own
    # (venv-script-interpreter-missing).
    script.write_bytes(f"#!{broken.prefix}/bin/python3\n".encode() + lines[1])
    result = check(pkgdoctor, broken, "--deep")
    assert result.status == 0
    finding = only(result, "record-hash-mismatch")
    assert finding["severity"] == "info"
    assert finding["distribution"] == "charset-normalizer"
    (item,) = finding["evidence"]["files"]
    assert item["path"] == "../../../bin/normalizer"
    assert item["note"] == SHEBANG_NOTE
    assert item["recorded_hash"] != item["actual_hash"]


def test_text_output_of_a_rewritten_shebang(broken: Venv, pkgdoctor: Runner) -> None:
    script = broken.prefix / "bin" / "normalizer"
    data = b"#!/moved/env/bin/python\n" + script.read_bytes().split(b"\n", 1)[1]
    script.write_bytes(data)
    dist_info = broken.site_packages / "charset_normalizer-3.4.0.dist-info"
    _, recorded, size = record_rows(dist_info)["../../../bin/normalizer"]
    actual = record_digest("sha256", data)
    out = pkgdoctor("check", "--prefix", str(broken.prefix), "--deep", "-v").out
    block = out[out.index("[i] Integrity") : out.index("[✓] Extension modules")]
    assert block == (
        f"[i] Integrity  ({examined(broken)} checked)  1 note\n"
        "    i A file of charset-normalizer 3.4.0 differs from the hash in its RECORD (only "
        "scripts: their #! line was probably rewritten when the environment moved): "
        "../../../bin/normalizer.  [record-hash-mismatch]\n"
        f"        ../../../bin/normalizer: recorded hash {recorded}, actual hash {actual}, "
        f"recorded size {size}, actual size {len(data)}, note shebang rewritten?\n"
        "        record: RECORD\n"
        "      fix:\n"
        f"        {fix_for(broken, 'charset-normalizer==3.4.0')}\n"
    )


def test_file_overwritten_by_another_distribution_is_a_warning(
    broken: Venv, pkgdoctor: Runner
) -> None:
    site = broken.site_packages
    shared = site / "sharedmod.py"
    old, new = b"VALUE = 1\n", b"VALUE = 2\n"
    shared.write_bytes(new)
    for name, data in (("first", old), ("second", new)):
        dist_info = write_dist_info(site, name, "1.0", [])
        with (dist_info / "RECORD").open("a") as f:
            f.write(f"sharedmod.py,{record_digest('sha256', data)},{len(data)}\n")
    finding = only(check(pkgdoctor, broken, "--deep"), "record-hash-mismatch")
    assert finding["distribution"] == "first"
    assert finding["severity"] == "warning"
    assert (
        finding["evidence"]["files"][0]["note"] == "overwritten by another distribution: second 1.0"
    )


# --- tolerance ------------------------------------------------------------------------------


def test_garbage_record_and_missing_record_do_not_crash(broken: Venv, pkgdoctor: Runner) -> None:
    site = broken.site_packages
    (site / "idna-3.10.dist-info" / "RECORD").unlink()
    garbage = write_dist_info(site, "garbage", "0.1", [])
    present = site / "garbage.txt"
    present.write_text("present\n")
    (garbage / "RECORD").write_bytes(
        b"\xff\xfe,,\n"  # not UTF-8: read with surrogateescape, missing
        b"nul\x00path,sha256=zz,1\n"  # os.stat refuses NUL: skipped
        + b"x"
        * 5000  # longer than NAME_MAX: skipped
        + b",md5=??,notasize\n,,\ndir/,,\n"
        b"garbage.txt,nosuchalgo=abc,1\n"  # an algorithm hashlib does not know: not hashed
        b"garbage.txt,sha256=abc,\xc2\xb2\n"  # a malformed digest, a size of "2": not hashed
        b"garbage.txt,shake_128=AAAA,8\n"  # no fixed digest size: not hashed
        b'"unterminated,\n'  # an unterminated quote at the end
    )
    for deep in ((), ("--deep",)):
        result = check(pkgdoctor, broken, *deep)
        assert result.status == 0
        (finding,) = integrity(result)  # a missing RECORD (idna) says nothing in this family
        assert finding["distribution"] == "garbage"
        assert finding["severity"] == "warning"
        assert finding["evidence"]["missing"] == ["\\xff\\xfe", "unterminated,\n"]


def test_egg_info_installed_files(broken: Venv, pkgdoctor: Runner) -> None:
    egg = broken.site_packages / "legacy-1.0-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 1.0\n\n")
    (broken.site_packages / "legacy.py").write_text("")
    (egg / "installed-files.txt").write_text("../legacy.py\n../legacy_gone.py\nPKG-INFO\n")
    finding = only(check(pkgdoctor, broken), "record-missing-file")
    assert finding["distribution"] == "legacy"
    assert finding["evidence"]["missing"] == ["legacy_gone.py"]
    assert finding["evidence"]["record"] == str(egg / "installed-files.txt")


# --- hashing, directly ----------------------------------------------------------------------


class Recorder:
    """A progress sink that remembers what it was told (thread-safe enough: list.append)."""

    def __init__(self) -> None:
        self.advances: list[int] = []
        self.closed = False

    def advance(self, nbytes: int) -> None:
        self.advances.append(nbytes)

    def close(self) -> None:
        self.closed = True


def test_hash_files_in_parallel_with_progress(tmp_path: Path) -> None:
    sizes = [0, 1, 2047, 2048, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 17]
    dist = Distribution("x", "1", str(tmp_path / "x-1.dist-info"), str(tmp_path))
    jobs = []
    expected = {}
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        path = tmp_path / f"f{i}"
        path.write_bytes(data)
        algorithm = ("sha256", "sha512", "md5", "blake2b")[i % 4]
        expected[str(path)] = record_digest(algorithm, data)
        # Every other file is recorded with padding: it must still match.
        recorded = expected[str(path)] + ("==" if i % 2 else "")
        jobs.append(HashJob(dist, RecordEntry(path.name, recorded, size), str(path), size))
    calls: list[tuple[int, int]] = []
    recorder = Recorder()

    def factory(total: int, files: int) -> Recorder:
        calls.append((total, files))
        return recorder

    results = hash_files(jobs, workers=3, progress=factory)
    assert calls == [(sum(sizes), len(sizes))]
    assert sum(recorder.advances) == sum(sizes) and recorder.closed
    assert {r.job.path: r.digest for r in results} == expected
    assert all(r.matches for r in results)
    assert {r.size for r in results} == set(sizes)


def test_hash_result_size_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"#!python\n")
    dist = Distribution("x", "1", str(tmp_path / "x-1.dist-info"), str(tmp_path))
    good = record_digest("sha256", b"#!python\n")
    wrong_size = HashJob(dist, RecordEntry("f", good, 99), str(path), 9)
    gone = HashJob(dist, RecordEntry("g", good, 9), str(tmp_path / "g"), 9)
    results = {r.job.entry.path: r for r in hash_files([wrong_size, gone], workers=1)}
    assert not results["f"].matches and results["f"].shebang
    assert results["g"].digest is None and results["g"].matches  # unreadable: nothing proven


def test_terminal_progress_only_on_a_terminal(tmp_path: Path) -> None:
    assert terminal_progress(io.StringIO(), min_bytes=0)(10**9, 1) is None
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            factory = terminal_progress(tty, min_bytes=1000)
            assert factory(999, 1) is None  # small jobs: no bar
            bar = factory(10**6, 3)
            assert bar is not None
            bar.advance(10**6)
            bar.close()
        # The bar reaches the terminal in several writes: read what is there, all of it.
        written = b""
        while select.select([master], [], [], 0.5)[0]:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            written += chunk
        assert b"hashing 3 files" in written
    finally:
        os.close(slave)
        os.close(master)


# --- parsers: property tests and an oracle --------------------------------------------------


@given(st.text())
def test_parse_record_never_raises(text: str) -> None:
    for entry in parse_record(text):
        assert entry.path
        assert entry.size is None or entry.size >= 0


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1),
            st.one_of(st.none(), st.text()),
            st.one_of(st.none(), st.integers(min_value=0, max_value=2**63), st.text()),
        )
    )
)
def test_parse_record_reads_what_csv_writes(rows: list[tuple[str, Any, Any]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(["" if v is None else v for v in row] for row in rows)
    parsed = list(parse_record(buffer.getvalue()))
    assert [e.path for e in parsed] == [r[0] for r in rows]
    for entry, (_, digest, size) in zip(parsed, rows):
        assert entry.hash == (digest or None)
        if isinstance(size, int):
            assert entry.size == size


@given(st.text())
def test_parse_headers_never_raises(text: str) -> None:
    for key, values in parse_headers(text).items():
        assert key == key.lower() and values


@given(st.text())
def test_egg_info_requirements_never_raises(text: str) -> None:
    assert all(isinstance(line, str) for line in egg_info_requirements(text))


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Name", "Version", "Requires-Dist", "Provides-Extra", "X-Y"]),
            st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=20),
        ),
        max_size=8,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["", "\n", "        \n", " continued\n"]),
)
def test_parse_headers_agrees_with_email(
    fields: list[tuple[str, str]], eol: str, extra: str
) -> None:
    text = "Metadata-Version: 2.1" + eol + extra.replace("\n", eol)
    text += "".join(f"{k}: {v}{eol}" for k, v in fields) + eol + "Body: not a header" + eol
    ours = parse_headers(text)
    email = _email_fields(text.encode())
    for key in ("name", "version", "requires-dist", "provides-extra", "metadata-version"):
        assert _plain(ours.get(key)) == email.get(key), (key, text)


def _email_fields(data: bytes) -> dict[str, list[str]]:
    from email import message_from_bytes
    from email.policy import compat32

    message = message_from_bytes(data, policy=compat32)
    return {
        key: [_plain_value(v) for v in message.get_all(key, [])]
        for key in {k.lower() for k in message}
    }


def _plain_value(value: Any) -> str:
    return " ".join(str(value).split())


def _plain(values: list[str] | None) -> list[str] | None:
    return [" ".join(v.split()) for v in values] if values is not None else None


# packaging.metadata.parse_email's names for the fields pkgdoctor reads.
ORACLE_FIELDS = {
    "name": "name",
    "version": "version",
    "requires-dist": "requires_dist",
    "requires-python": "requires_python",
    "provides-extra": "provides_extra",
    "metadata-version": "metadata_version",
}
SITE_DIRS = (
    os.path.join(sys.prefix, "lib", f"python{PY}", "site-packages"),
    "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages",
)


def metadata_files() -> Iterator[str]:
    for site in SITE_DIRS:
        yield from sorted(glob.glob(os.path.join(site, "*.dist-info", "METADATA")))


def test_parse_headers_agrees_with_packaging_on_real_metadata() -> None:
    files = list(metadata_files())
    assert len(files) >= 20, f"only {len(files)} METADATA files in {SITE_DIRS}"
    differences = []
    for path in files:
        data = Path(path).read_bytes()
        raw, unparsed = parse_email(data)
        ours = parse_headers(data.decode("utf-8"))
        for key, attr in ORACLE_FIELDS.items():
            theirs: Any = unparsed.get(attr, raw.get(attr))
            if isinstance(theirs, str):
                theirs = [theirs]
            if (theirs or None) != (ours.get(key) or None):
                differences.append((path, key, theirs, ours.get(key)))
        # The whole reader agrees too: name and version as read for a Distribution.
        dist = read_distribution(os.path.dirname(path), os.path.dirname(os.path.dirname(path)))
        assert dist is not None and dist.name == raw.get("name")
    assert differences == []


WRONGREC_MODULE = "wrongrec/__init__.py"


def write_wrongrec_wheel(
    wheel: Path, content: bytes, compression: int = zipfile.ZIP_STORED
) -> None:
    """A wheel whose RECORD gives ``wrongrec/__init__.py`` the hash of other content."""
    stale = "sha256=" + b64(hashlib.sha256(b"VALUE = 0\n").digest())
    info = "wrongrec-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(WRONGREC_MODULE, content, compress_type=compression)
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: wrongrec\nVersion: 1.0\n"
        )
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        )  # fmt: skip
        archive.writestr(
            f"{info}/RECORD", f"wrongrec/__init__.py,{stale},{len(content)}\n"
            f"{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n"
        )  # fmt: skip


def member_data(wheel: Path, name: str) -> tuple[int, int]:
    """(offset, length) of a member's compressed data in the file: after its local header,
    whose name and extra field lengths are at offsets 26 and 28 (APPNOTE.TXT 4.3.7)."""
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(name)
    raw = wheel.read_bytes()
    start = info.header_offset
    name_length = int.from_bytes(raw[start + 26 : start + 28], "little")
    extra_length = int.from_bytes(raw[start + 28 : start + 30], "little")
    return start + 30 + name_length + extra_length, info.compress_size


def test_a_wheel_published_with_a_wrong_record(tmp_path: Path, pkgdoctor: Runner) -> None:
    """pip keeps a wheel's RECORD rows for the files it copies: a wheel built with a wrong
    hash is installed with it. When the wheel is still here (direct_url.json), that is
    told apart from a file edited after the install."""
    wheel = tmp_path / "wrongrec-1.0-py3-none-any.whl"
    write_wrongrec_wheel(wheel, b"VALUE = 1\n")
    venv = make_venv(tmp_path / "env")
    pip("--python", str(venv.python), "install", "--no-deps", "--no-index", str(wheel))
    result = check(pkgdoctor, venv, "--deep")
    finding = only(result, "record-hash-mismatch")
    assert finding["severity"] == "info"
    assert "published this way" in finding["message"]
    assert finding["evidence"]["files"][0]["note"] == "published this way"
    assert finding["evidence"]["installed_from"] == str(wheel)
    assert finding["fix"].startswith("Nothing to repair here: wrongrec-1.0-py3-none-any.whl")
    # Edited after the install: the wheel no longer explains it.
    (venv.site_packages / "wrongrec" / "__init__.py").write_bytes(b"VALUE = 2\n")
    finding = only(check(pkgdoctor, venv, "--deep"), "record-hash-mismatch")
    assert finding["severity"] == "error"
    assert "note" not in finding["evidence"]["files"][0]


def test_a_damaged_wheel_cannot_tell(tmp_path: Path, pkgdoctor: Runner) -> None:
    """The wheel that direct_url.json names is read with the hardened reader: truncated, or
    with a member whose data is damaged (the CRC fails, the deflate stream is invalid), it
    cannot tell whether the RECORD was published wrong — no note, no traceback."""
    wheel = tmp_path / "wrongrec-1.0-py3-none-any.whl"
    content = b"VALUE = 1\n" + b"# a line that deflate compresses well\n" * 200
    write_wrongrec_wheel(wheel, content, zipfile.ZIP_DEFLATED)
    venv = make_venv(tmp_path / "env")
    pip("--python", str(venv.python), "install", "--no-deps", "--no-index", str(wheel))
    assert only(check(pkgdoctor, venv, "--deep"), "record-hash-mismatch")["severity"] == "info"

    def flipped(compression: int) -> bytes:
        write_wrongrec_wheel(wheel, content, compression)
        offset, length = member_data(wheel, WRONGREC_MODULE)
        data = bytearray(wheel.read_bytes())
        for i in range(offset + length // 3, offset + length // 3 + 8):
            data[i] ^= 0xFF
        return bytes(data)

    intact = wheel.read_bytes()
    damaged = {
        "truncated": intact[: len(intact) // 2],
        "crc": flipped(zipfile.ZIP_STORED),
        "deflate": flipped(zipfile.ZIP_DEFLATED),
    }
    # The damage is real: the CRC fails; zlib fails (zipfile raises zlib.error, not BadZipFile).
    with (
        zipfile.ZipFile(io.BytesIO(damaged["crc"])) as archive,
        pytest.raises(zipfile.BadZipFile, match="CRC"),
    ):
        archive.read(WRONGREC_MODULE)
    with zipfile.ZipFile(io.BytesIO(damaged["deflate"])) as archive, pytest.raises(zlib.error):
        archive.read(WRONGREC_MODULE)
    for kind, data in damaged.items():
        wheel.write_bytes(data)
        result = check(pkgdoctor, venv, "--deep")
        assert result.status == 1, kind
        finding = only(result, "record-hash-mismatch")
        # Told nothing by the wheel: a changed file, as if the wheel were gone.
        assert finding["severity"] == "error", kind
        assert "note" not in finding["evidence"]["files"][0], kind
        assert finding["fix"] == fix_for(venv, "wrongrec==1.0"), kind


# --- record-path-outside (issue 9, item 6) --------------------------------------------------

# Run in a child, under a hard time limit: pkgdoctor's check, with every path it opens, lists
# or stats recorded (audit hooks for open/listdir/scandir; os.stat and os.lstat, which have
# no audit event, are wrapped, still calling the real ones), written to argv[1] as JSON.
_WATCHED = """
import json, os, sys
touched = []
def hook(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None:
        touched.append([event, os.fsdecode(args[0]) if not isinstance(args[0], int) else ""])
sys.addaudithook(hook)
for name in ("stat", "lstat"):
    real = getattr(os, name)
    def spy(path, *a, _real=real, _name=name, **k):
        if not isinstance(path, int):
            touched.append([_name, os.fsdecode(path)])
        return _real(path, *a, **k)
    setattr(os, name, spy)
from pkgdoctor.cli import main
status = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump(touched, f)
sys.exit(status)
"""


def test_record_rows_outside_the_environment_are_never_touched(
    broken: Venv, tmp_path: Path, pkgdoctor: Runner
) -> None:
    site = broken.site_packages
    dist_info = site / "urllib3-2.2.3.dist-info"
    # A secret beside the environment, a FIFO (opening it would wait for a writer forever),
    # and a file of the system: reached by a relative escape and by absolute paths.
    beside = tmp_path / "beside"
    beside.mkdir()
    secret = beside / "secret.txt"
    data = b"not for pkgdoctor\n" * 7000
    secret.write_bytes(data)
    fifo = beside / "fifo"
    os.mkfifo(fifo)
    digest = "sha256=" + b64(hashlib.sha256(b"something else").digest())
    rows = [
        os.path.relpath(secret, site),  # ../../../../beside/secret.txt
        str(fifo),
        os.path.relpath(fifo, site),
        "/proc/self/environ",
        "../../../../../../../../etc/shadow",
    ]
    assert rows[0].startswith("../../../../") and "/env/" not in rows[0]
    with (dist_info / "RECORD").open("a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([row, digest, "14"] for row in rows)

    # The console script pip installed is a row outside site-packages too, but inside the
    # venv: it gives no finding (the only one below is urllib3's).
    charset = record_rows(site / "charset_normalizer-3.4.0.dist-info")
    assert "../../../bin/normalizer" in charset
    result = check(pkgdoctor, broken, "--deep")
    assert result.status == 0  # a warning
    assert result.json["findings"] == [
        {
            "code": "record-path-outside",
            "severity": "warning",
            "message": (
                f"The RECORD of urllib3 2.2.3 lists 5 files ({rows[0]} …) outside "
                f"{broken.prefix}, where its installer writes; pip refuses to install such a "
                "row, and pkgdoctor did not look at them."
            ),
            "distribution": "urllib3",
            "path": str(dist_info),
            "evidence": {
                "outside": rows,
                "outside_count": 5,
                "install_base": str(broken.prefix),
                "record": str(dist_info / "RECORD"),
            },
            "fix": (
                f"Find out what wrote these rows, and delete them from {dist_info / 'RECORD'} "
                "before pip uninstalls or upgrades urllib3: outside a virtual environment pip "
                "removes every file a RECORD lists"
            ),
            "command": None,
            "explanation": (
                f"Find out what wrote these rows, and delete them from {dist_info / 'RECORD'} "
                "before pip uninstalls or upgrades urllib3: outside a virtual environment pip "
                "removes every file a RECORD lists"
            ),
        }
    ]
    assert result.json["examined"]["Integrity"] == examined(broken) - len(rows)
    secret_digest = b64(hashlib.sha256(data).digest())
    for out in (result.out, pkgdoctor("check", "--prefix", str(broken.prefix), "--deep").out):
        assert secret_digest not in out and str(len(data)) not in out

    # As a user runs it: it ends, and nothing outside was opened, listed or stat'ed.
    log = tmp_path / "touched.json"
    argv = ["check", "--prefix", str(broken.prefix), "--deep", "--json", "--no-cache"]
    proc = subprocess.run(
        [sys.executable, "-c", _WATCHED, str(log), *argv],
        env=without_user_config(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["record-path-outside"]
    touched = json.loads(log.read_text())
    assert any(path == str(site / "urllib3/util/retry.py") for _, path in touched)  # it works
    outside = (str(secret), str(fifo), "/proc/self/environ", "/etc/shadow", str(beside))
    assert [t for t in touched if t[1] in outside] == []


def test_pip_target_directory_off_any_scheme_has_no_outside_rows(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pip install --target DIR``, DIR on PYTHONPATH: RECORD's ``../../bin/normalizer``
    is DIR/bin/normalizer (pypa/pip#7658), inside; its literal place is never looked at."""
    venv = make_venv(tmp_path / "env")
    libs = tmp_path / "libs"
    wheels = wheelhouse.fetch("charset-normalizer==3.4.0", python=PY)
    pip(
        "install", "--no-index", "--no-deps", "--target", str(libs), *map(str, wheels.glob("*.whl"))
    )
    rows = record_rows(libs / "charset_normalizer-3.4.0.dist-info")
    assert "../../bin/normalizer" in rows and (libs / "bin/normalizer").is_file()
    monkeypatch.setenv("PYTHONPATH", str(libs))
    result = check(pkgdoctor, venv, "--deep")
    assert [f for f in result.json["findings"] if f["code"].startswith("record-")] == []


def test_bytecode_under_a_pycache_prefix_is_not_outside(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip run with ``PYTHONPYCACHEPREFIX`` compiles the ``.pyc`` files under that prefix and
    lists them in RECORD as ``../../../../PREFIX/...``: legitimate, no finding."""
    venv = make_venv(tmp_path / "env")
    prefix = tmp_path / "pycache"
    wheels = wheelhouse.fetch("charset-normalizer==3.4.0", python=PY)
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(prefix))
    pip(
        "--python", str(venv.python), "install", "--no-index", "--no-deps",
        *map(str, wheels.glob("*.whl")),
    )  # fmt: skip
    monkeypatch.delenv("PYTHONPYCACHEPREFIX")
    rows = record_rows(venv.site_packages / "charset_normalizer-3.4.0.dist-info")
    compiled = [r for r in rows if r.endswith(".pyc")]
    located = [os.path.normpath(venv.site_packages / r) for r in compiled]
    assert compiled and all(p.startswith(f"{prefix}/") for p in located), located[:3]
    result = check(pkgdoctor, venv, "--deep")
    assert [f for f in result.json["findings"] if f["code"].startswith("record-")] == []


@pytest.mark.parametrize(
    ("site", "row", "expected"),
    [
        # Scripts, headers and data of the install schemes: within the scheme's base.
        ("/venv/lib/python3.12/site-packages", "../../../bin/x", ("/venv/bin/x",)),
        (
            "/venv/lib64/python3.13t/site-packages",
            "../../../include/site/a.h",
            ("/venv/include/site/a.h",),
        ),
        (
            "/venv/lib/python3.12/site-packages",
            "../../../share/jupyter/k.json",
            ("/venv/share/jupyter/k.json",),
        ),
        ("/usr/lib/python3/dist-packages", "../../../bin/x", ("/usr/bin/x",)),
        ("/usr/local/lib/python3.11/dist-packages", "../../../bin/x", ("/usr/local/bin/x",)),
        (
            "/home/u/.local/lib/python3.12/site-packages",
            "../../../bin/x",
            ("/home/u/.local/bin/x",),
        ),
        ("/pypy/lib/pypy3.10/site-packages", "../../../bin/x", ("/pypy/bin/x",)),
        (
            "/home/u/py/lib/python",
            "../../bin/x",
            ("/home/u/py/bin/x", "/home/u/py/lib/python/bin/x"),
        ),
        ("/venv/lib/python3.12/site-packages", "/venv/bin/x", ("/venv/bin/x",)),
        (
            "/venv/lib/python3.12/site-packages",
            "pkg/../pkg/a.py",
            ("/venv/lib/python3.12/site-packages/pkg/a.py",),
        ),
        # pip install --target: the literal place is outside, the moved one inside.
        ("/opt/libs", "../../bin/x", ("/opt/libs/bin/x",)),
        ("/opt/libs", "../python/pkg/a.py", ("/opt/libs/pkg/a.py",)),
        (
            "/venv/lib/python3.12/site-packages",
            "../../bin/x",
            ("/venv/lib/bin/x", "/venv/lib/python3.12/site-packages/bin/x"),
        ),
        # Outside.
        ("/venv/lib/python3.12/site-packages", "../../../../etc/shadow", ()),
        ("/venv/lib/python3.12/site-packages", "/proc/self/environ", ()),
        ("/venv/lib/python3.12/site-packages", "/venvx/bin/x", ()),
        ("/venv/lib/python3.12/site-packages", "pkg/../../../../../etc/x", ()),
        ("/opt/libs", "../../../etc/x", ()),
        ("/opt/libs", "/opt/libs2/x", ()),
        ("/lib/python3/dist-packages", "../../../etc/x", ()),  # no base: only the site
    ],
)
def test_record_locations(site: str, row: str, expected: tuple[str, ...]) -> None:
    assert record_locations(site, row) == expected
