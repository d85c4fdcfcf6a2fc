"""``pkgdoctor wheels --deps`` on an index built here: which metadata is read (PEP 658, the
wheel's METADATA, the sdist's PKG-INFO), markers and extras for the target, each project
once through a cycle, and the bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import Runner
from wheel_artefacts import (
    Entry,
    SimpleIndex,
    ask,
    forget_pip_config,
    make_sdist,
    make_wheel,
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
