"""``pkgdoctor wheels --deps`` on an index built here: which metadata is read (PEP 658, the
wheel's METADATA, the sdist's PKG-INFO), markers and extras for the target, each project
once through a cycle, and the bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from conftest import Runner
from pkgdoctor.wheels.dependencies import Requires, read_requires, wanted
from pkgdoctor.wheels.evaluate import Evaluator
from pkgdoctor.wheels.http import Session
from pkgdoctor.wheels.platforms import describe_target
from pkgdoctor.wheels.sdist import inspect_archive
from pkgdoctor.wheels.simple import File
from wheel_artefacts import (
    Entry,
    SimpleIndex,
    ask,
    forget_pip_config,
    make_sdist,
    make_wheel,
    serve,
    validated,
)

OLD_PKG_INFO = "Metadata-Version: 2.1\nName: c\nVersion: 1.0\nRequires-Dist: a\n"


@pytest.fixture(autouse=True)
def no_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_pip_config(monkeypatch)


@pytest.fixture
def index(tmp_path: Path) -> SimpleIndex:
    """a → b[x] (and d on Windows only); b → a (a cycle), and c with the extra x; c is an
    sdist whose PKG-INFO predates PEP 643 and requires a again."""
    made = tmp_path / "made"
    index = SimpleIndex(tmp_path / "simple")
    a = make_wheel(made, "a", "1.0", requires=["b[x]>=1", 'd; sys_platform == "win32"'])
    b = make_wheel(made, "b", "1.0", requires=["a", 'c; extra == "x"'])
    index.add("a", Entry(a, metadata=True))
    index.add("b", Entry(b))  # no PEP 658 file: the wheel itself is read
    index.add("c", Entry(make_sdist(made, "c", "1.0", {"PKG-INFO": OLD_PKG_INFO})))
    index.add("d", Entry(make_wheel(made, "d", "1.0")))
    return index


def rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in document["results"]}


def test_each_dependency_once_with_its_parents(index: SimpleIndex, pkgdoctor: Runner) -> None:
    result = ask(pkgdoctor, "a", "--deps", "--index-url", index.url, "--json")
    assert result.status == 1, result.err  # c would be built
    document = validated(json.loads(result.out))
    assert [r["name"] for r in document["results"]] == ["a", "b", "c"]
    a, b, c = (rows(document)[n] for n in "abc")
    assert (a["dependency_of"], a["depth"], a["dependencies"]) == ([], 0, ["b"])
    assert a["dependencies_from"] == "a-1.0-py3-none-any.whl.metadata"
    assert (b["requirement"], b["dependency_of"], b["depth"]) == ("b[x]>=1", ["a 1.0"], 1)
    assert b["dependencies"] == ["a", "c"]  # a: the cycle ends at the requirement given
    assert b["dependencies_from"] == "b-1.0-py3-none-any.whl (METADATA)"
    assert (c["action"], c["dependency_of"], c["depth"]) == ("build", ["b 1.0"], 2)
    assert c["dependencies_from"] == "c-1.0.tar.gz (PKG-INFO)"
    assert any("PEP 643" in r["message"] for r in c["reasons"] if r["kind"] == "dependencies")
    assert document["summary"] == {
        "wheel": 2,
        "build": 1,
        "unavailable": 0,
        "unknown": 0,
        "skipped": 0,
    }


def test_markers_are_evaluated_for_the_target(index: SimpleIndex, pkgdoctor: Runner) -> None:
    windows = ask(
        pkgdoctor, "a", "--deps", "--index-url", index.url, "--json", platform="win_amd64"
    )
    assert [r["name"] for r in validated(json.loads(windows.out))["results"]] == [
        "a",
        "b",
        "d",
        "c",
    ]


def test_the_table_marks_dependencies(index: SimpleIndex, pkgdoctor: Runner) -> None:
    result = ask(pkgdoctor, "a", "--deps", "--index-url", index.url)
    lines = result.out.splitlines()
    assert lines[3:] == [
        "requirement  action         version  newest wheel  detail",
        "a            ✓ wheel        1.0      1.0           a-1.0-py3-none-any.whl",
        "↳ b[x]>=1    ✓ wheel        1.0      1.0           ← a 1.0: b-1.0-py3-none-any.whl",
        "↳ c          ! build        1.0      none          ← b 1.0: unknown (no pyproject.toml) → "
        "setuptools legacy (PEP 517 fallback): needs nothing beyond the backend",
        "",
        "1 requirement and 2 dependencies: 2 wheel · 1 build",
    ]


def test_the_depth_is_bounded(
    index: SimpleIndex, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pkgdoctor.wheels.command.MAX_DEPTH", 1)
    document = validated(
        json.loads(ask(pkgdoctor, "a", "--deps", "--index-url", index.url, "--json").out)
    )
    assert [r["name"] for r in document["results"]] == ["a", "b"]
    assert document["notes"] == [
        "--deps stopped after 1 level of dependencies: those of b 1.0 were not followed"
    ]


def test_the_count_is_bounded(
    index: SimpleIndex, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pkgdoctor.wheels.command.MAX_DEPENDENCIES", 1)
    document = validated(
        json.loads(ask(pkgdoctor, "a", "--deps", "--index-url", index.url, "--json").out)
    )
    assert [r["name"] for r in document["results"]] == ["a", "b"]
    assert document["notes"] == ["--deps answers at most 1 dependencies: 1 more left out (c)"]


def test_without_deps_nothing_more_is_asked(index: SimpleIndex, pkgdoctor: Runner) -> None:
    document = validated(json.loads(ask(pkgdoctor, "a", "--index-url", index.url, "--json").out))
    (only,) = document["results"]
    assert (only["dependencies"], only["dependencies_from"]) == ([], None)


def test_a_wheel_read_whole_is_read_once(index: SimpleIndex, pkgdoctor: Runner) -> None:
    """b has no PEP 658 file: its wheel is downloaded for METADATA once, then remembered."""
    with serve(index.root.parent) as server:
        for _ in range(2):
            result = ask(pkgdoctor, "a", "--deps", "--index-url", f"{server.url}/simple", "--json")
            assert [r["name"] for r in json.loads(result.out)["results"]] == ["a", "b", "c"]
        fetched = [path for path, _ in server.requests if path.endswith(".whl")]
        assert fetched == ["/files/b-1.0-py3-none-any.whl"]
        assert "/files/a-1.0-py3-none-any.whl.metadata" in [p for p, _ in server.requests]


def test_pkg_info_is_enough_when_pep_643_says_so(tmp_path: Path) -> None:
    pkg_info = (
        "Metadata-Version: 2.2\nName: e\nVersion: 1.0\nRequires-Dist: d\n"
        'Requires-Dist: f; python_version < "3"\n'
    )
    sdist = make_sdist(tmp_path, "e", "1.0", {"PKG-INFO": pkg_info})
    with sdist.open("rb") as data:
        build = inspect_archive(data, sdist.name, sdist.as_uri())
    target = describe_target(["manylinux_2_36_loongarch64"], "3.12")
    file = File(sdist.name, sdist.as_uri())
    selection = Evaluator(target).select("e", [file], SpecifierSet())
    with Session() as session:
        got = read_requires(session, selection, file, build)
    assert got == Requires(("d", 'f; python_version < "3"'), "e-1.0.tar.gz (PKG-INFO, PEP 643)")
    assert [str(r) for r in wanted(got.requires, target, frozenset())] == ["d"]


def test_a_direct_reference_in_metadata_is_not_looked_up(tmp_path: Path, pkgdoctor: Runner) -> None:
    made = tmp_path / "made"
    index = SimpleIndex(tmp_path / "simple")
    url = "https://example.invalid/g-1.0.tar.gz"
    index.add("h", Entry(make_wheel(made, "h", "1.0", requires=[f"g @ {url}"])))
    result = ask(pkgdoctor, "h", "--deps", "--index-url", index.url, "--json")
    (_, g) = validated(json.loads(result.out))["results"]
    assert (g["requirement"], g["action"], g["dependency_of"]) == (
        f"g @ {url}",
        "unknown",
        ["h 1.0"],
    )
    assert g["reasons"][0]["kind"] == "direct-reference"


def test_a_missing_metadata_file_falls_back_to_the_wheel(
    index: SimpleIndex, pkgdoctor: Runner
) -> None:
    (index.root.parent / "files" / "a-1.0-py3-none-any.whl.metadata").unlink()
    result = ask(pkgdoctor, "a", "--deps", "--index-url", index.url, "--json")
    a = validated(json.loads(result.out))["results"][0]
    assert (a["dependencies_from"], a["dependencies"]) == (
        "a-1.0-py3-none-any.whl (METADATA)",
        ["b"],
    )
