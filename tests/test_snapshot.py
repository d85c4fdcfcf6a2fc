"""``pkgdoctor snapshot`` and ``check --from``: facts you can keep, judged anywhere.

The suite's ``pkgdoctor`` runner already replays *every* in-process ``check`` from its
snapshot with the environment moved away (tests/conftest.py); these tests cover the command
itself, the file format, damaged files, and an environment deleted for good.
"""

from __future__ import annotations

import ast
import gzip
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from artefacts import compile_extension, compile_library, make_venv, write_dist_info
from conftest import SNAPSHOT_VALIDATOR, Runner
from pkgdoctor.look import collect
from pkgdoctor.snapshot import codec
from pkgdoctor.snapshot.model import SCHEMA_VERSION, SymbolDefinition, SymbolSearch
from pkgdoctor.target import find_target

CHECKS = Path(__file__).parent.parent / "src" / "pkgdoctor" / "checks"


def broken_env(root: Path) -> Path:
    """A venv with three real problems: an extension whose library is gone, a RECORD entry
    without its file, and a requirement that is not installed."""
    venv = make_venv(root / "env")
    lib = compile_library(root / "gone", "libpkgdoctorgone.so.1")
    ext = compile_extension(venv.site_packages / "broken", "_speedups", link=[str(lib)])
    (venv.site_packages / "broken" / "__init__.py").write_text("")
    (venv.site_packages / "broken" / "data.txt").write_text("x")
    files = ["broken/__init__.py", f"broken/{ext.name}", "broken/data.txt", "broken/util.py"]
    meta = write_dist_info(venv.site_packages, "broken", "1.0", files)
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken\nVersion: 1.0\nRequires-Dist: absent-dep>=2\n\n"
    )
    shutil.rmtree(root / "gone")
    return venv.prefix


def test_snapshot_then_check_from_after_the_environment_is_deleted(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    prefix = broken_env(tmp_path)
    live = pkgdoctor("check", "--prefix", str(prefix), "--json")
    assert {"ext-missing-library", "record-missing-file", "dist-requirement-missing"} <= set(
        live.codes()
    )
    out = tmp_path / "env.json.gz"
    written = pkgdoctor("snapshot", "--prefix", str(prefix), "-o", str(out))
    assert written.status == 0 and f"wrote {out}" in written.err
    document = json.loads(gzip.decompress(out.read_bytes()))
    SNAPSHOT_VALIDATOR.validate(document)
    assert document["schema_version"] == SCHEMA_VERSION
    shutil.rmtree(prefix)
    replayed = pkgdoctor("check", "--from", str(out), "--json")
    assert replayed.status == live.status == 1
    assert replayed.json["findings"] == live.json["findings"]
    assert replayed.json["target"] == live.json["target"]
    text = pkgdoctor("check", "--from", str(out))
    assert "libpkgdoctorgone.so.1" in text.out and "[ext-missing-library]" in text.out
    header = text.out.splitlines()[0]
    assert f"(live; recorded in {out}, taken {document['created']})" in header


def test_snapshot_to_standard_output_and_redacted(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = broken_env(tmp_path)
    plain = pkgdoctor("snapshot", "--prefix", str(prefix), "-o", "-")
    assert plain.status == 0
    document = json.loads(plain.out)
    SNAPSHOT_VALIDATOR.validate(document)
    assert document["target"]["prefix"] == str(prefix)
    # Paths under the home directory become ~ (the tests' tmp_path plays the home here).
    monkeypatch.setenv("HOME", str(tmp_path))
    redacted = pkgdoctor("snapshot", "--prefix", str(prefix), "--redact", "-o", "-")
    text = redacted.out
    assert str(tmp_path) not in text
    document = json.loads(text)
    SNAPSHOT_VALIDATOR.validate(document)
    assert document["target"]["prefix"] == "~/env"
    path = tmp_path / "redacted.json"
    path.write_text(text)
    assert pkgdoctor("check", "--from", str(path), "--json").status == 1  # still judged


def test_round_trip_is_exact(tmp_path: Path) -> None:
    prefix = broken_env(tmp_path)
    snapshot = collect(find_target(prefix=str(prefix)))
    again = codec.loads(codec.dumps(snapshot))
    assert again == snapshot
    assert codec.dumps(again) == codec.dumps(snapshot)


def test_round_trip_of_why_and_numpy_facts(tmp_path: Path) -> None:
    """The optional facts (``numpy_headers``, ``symbol_searches``) survive the file, and the
    file follows the schema."""
    prefix = broken_env(tmp_path)
    snapshot = collect(find_target(prefix=str(prefix)))
    module = snapshot.extensions.modules[0]
    searches = (
        SymbolSearch(
            "foo_fn",
            None,
            module.file.path,
            module.file.path,
            (SymbolDefinition("/opt/lib/libfoo.so", "LD_LIBRARY_PATH", None, None),),
            5,
        ),
        SymbolSearch(
            None,
            "LIBFOO_2",
            module.file.path,
            module.file.path,
            (),
            2,
            False,
            "/opt/old/libfoo.so.1",
        ),
    )
    extensions = replace(
        snapshot.extensions,
        modules=(replace(module, numpy_headers=1), *snapshot.extensions.modules[1:]),
        symbol_searches=searches,
    )
    snapshot = replace(snapshot, extensions=extensions)
    document = json.loads(codec.dumps(snapshot))
    SNAPSHOT_VALIDATOR.validate(document)
    assert document["extensions"]["modules"][0]["numpy_headers"] == 1
    again = codec.loads(codec.dumps(snapshot))
    assert again == snapshot


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not JSON"),
        (b'{"schema_version": 1, "target": {', "not JSON"),
        (b"[1, 2]", "no schema_version"),
        (b'{"schema_version": 1}', "missing field"),
        (b'{"schema_version": 99, "tool": {"version": "9.0"}}', "upgrade pkgdoctor"),
        (b'{"schema_version": "one"}', "schema_version 'one'"),
        (gzip.compress(b'{"schema_version": 1}', mtime=0)[:20], "damaged gzip"),
        (b"\xff\xfe not utf-8", "not JSON"),
    ],
)
def test_bad_snapshot_files_are_one_line_errors(
    tmp_path: Path, pkgdoctor: Runner, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = pkgdoctor("check", "--from", str(path))
    assert result.status == 2 and result.out == ""
    assert result.err.count("\n") == 1 and message in result.err, result.err
    assert "Traceback" not in result.err


def test_a_field_of_the_wrong_type_is_refused(tmp_path: Path, pkgdoctor: Runner) -> None:
    prefix = broken_env(tmp_path)
    document = codec.to_json(collect(find_target(prefix=str(prefix))))
    document["inventory"]["distributions"][0]["record"][0][2] = "12"  # size as a string
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    result = pkgdoctor("check", "--from", str(path))
    assert result.status == 2 and "not a valid snapshot" in result.err
    assert "expected an integer" in result.err


def test_check_from_refuses_target_options(tmp_path: Path, pkgdoctor: Runner) -> None:
    prefix = broken_env(tmp_path)
    path = tmp_path / "s.json"
    pkgdoctor("snapshot", "--prefix", str(prefix), "-o", str(path))
    result = pkgdoctor("check", "--from", str(path), "--prefix", str(prefix))
    assert result.status == 2 and "--prefix cannot be used with --from" in result.err
    result = pkgdoctor("check", "--from", str(path), "--deep")
    assert result.status == 2 and "snapshot --deep" in result.err
    missing = pkgdoctor("check", "--from", str(tmp_path / "nope.json"))
    assert missing.status == 2 and "cannot read" in missing.err


# --- checks are pure functions of the snapshot ----------------------------------------------

# Modules whose import gives a check a way to the file system, processes or the clock.
_FORBIDDEN_MODULES = {
    "os", "io", "sys", "subprocess", "shutil", "pathlib", "glob", "tempfile", "socket",
    "time", "datetime", "threading", "multiprocessing", "concurrent", "signal", "ctypes",
    "mmap", "select", "fcntl", "pickle", "marshal", "zipfile", "tarfile", "urllib", "http",
    "importlib.metadata", "pkgdoctor.cache", "pkgdoctor.look", "pkgdoctor.inventory",
    "pkgdoctor.loader", "pkgdoctor.listings", "pkgdoctor.target", "pkgdoctor.archive",
    "pkgdoctor.ldcache", "pkgdoctor.snapshot.codec",
}  # fmt: skip
# Names of functions that read files or print, wherever they come from.
_FORBIDDEN_CALLS = {
    "open", "print", "input", "exec", "eval", "__import__", "breakpoint",
    "read_elf", "iter_extensions", "read_importers",
}  # fmt: skip
_ALLOWED_TYPE_ONLY = {"pkgdoctor.look.imports", "pkgdoctor.look.gpu_probe"}  # types, not calls
_FACTS = {"pkgdoctor.target.facts"}  # plain frozen dataclasses, whatever package they live in


def _forbidden(name: str) -> bool:
    if any(name == m or name.startswith(m + ".") for m in _FACTS):
        return False
    return any(name == m or name.startswith(m + ".") for m in _FORBIDDEN_MODULES)


def violations(source: str) -> list[str]:
    """What in ``source`` gives a check a way to files, processes or the clock."""
    tree = ast.parse(source)
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for child in node.body for n in ast.walk(child)}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += [f"import {a.name}" for a in node.names if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if id(node) in type_only and node.module in _ALLOWED_TYPE_ONLY:
                continue
            if _forbidden(node.module):
                problems.append(f"from {node.module} import ...")
            problems += [
                f"from {node.module} import {a.name}"
                for a in node.names
                if _forbidden(f"{node.module}.{a.name}") or a.name in _FORBIDDEN_CALLS
            ]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in _FORBIDDEN_CALLS:
                problems.append(f"calls {name}() on line {node.lineno}")
    return problems


@pytest.mark.parametrize("module", sorted(p.name for p in CHECKS.glob("*.py")))
def test_check_modules_read_nothing(module: str) -> None:
    """No check module imports or calls file-system, process or clock APIs (checks are
    pure functions of the Snapshot; reading is the look layer's job)."""
    assert violations((CHECKS / module).read_text()) == []


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("import os", True),
        ("import os.path", True),
        ("from os import path", True),
        ("from pkgdoctor import look", True),
        ("from pkgdoctor.look import collect", True),
        ("from pkgdoctor.elf import read_elf", True),
        ("x = open('f')", True),
        ("print('x')", True),
        ("p.read_text().splitlines() or Path('x').open()", True),
        ("import time", True),
        ("import posixpath", False),
        ("from pkgdoctor.snapshot.model import Snapshot", False),
        ("if TYPE_CHECKING:\n    from pkgdoctor.look.imports import ImportOutcome", False),
        ("if TYPE_CHECKING:\n    from pkgdoctor.look import collect", True),
    ],
)
def test_the_purity_rules_can_fail(source: str, bad: bool) -> None:
    """The rules catch what they are meant to (a check that cannot fail is a defect)."""
    assert bool(violations(source)) is bad, source


def test_why_from_a_snapshot_judges_the_recorded_modules(tmp_path: Path, pkgdoctor: Runner) -> None:
    """why's static part on a snapshot: no import, the recorded facts of the module."""
    prefix = broken_env(tmp_path)
    path = tmp_path / "s.json"
    pkgdoctor("snapshot", "--prefix", str(prefix), "-o", str(path))
    shutil.rmtree(prefix)
    result = pkgdoctor("why", "broken", "--from", str(path), "--json")
    assert result.status == 1
    assert [f["code"] for f in result.json["findings"]] == ["ext-missing-library"]
    other = pkgdoctor("why", "json", "--from", str(path))
    assert other.status == 0 and "records no extension module of json" in other.err
