"""``pkgdoctor wheels`` as a porter uses it, against the real index: ``--deps``, the system
libraries a build looks for, the architecture line, the newest-wheel column.

Two runs (``--json``, then the same as text from the warm cache) per target, shared by the
tests of this module. The index is the registry itself, not a recording: an unreachable
registry makes every answer ``unknown`` and fails these tests, it never skips them. What is
asserted holds for every release so far (pydantic-core is Rust, lxml asks pkg-config for
libxml-2.0, jellyfish's last pure wheel is from 2021) rather than pinning versions.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pkgdoctor.cli import main
from wheel_artefacts import clean_pip_environ, validated

PYPI = ["--index-url", "https://pypi.org/simple"]


@dataclass
class Run:
    status: int
    document: dict[str, Any]
    text: str

    def row(self, name: str) -> dict[str, Any]:
        (found,) = [r for r in self.document["results"] if r["name"] == name]
        return found  # type: ignore[no-any-return]

    def names(self) -> list[str]:
        return [r["name"] for r in self.document["results"]]

    def line(self, start: str) -> str:
        (found,) = [line for line in self.text.splitlines() if line.startswith(start)]
        return found


def _run(directory: Path, requirements: list[str], *target: str) -> Run:
    path = directory / "requirements.txt"
    path.write_text("".join(f"{r}\n" for r in requirements))
    argv = ["wheels", "-r", str(path), "--deps", *target, "--isolated", *PYPI]
    outputs = []
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("PIP_")]:
            patch.delenv(name)
        for name, value in clean_pip_environ().items():
            if name.startswith("PIP_"):
                patch.setenv(name, value)
        for extra in (["--json"], []):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                status = main([*argv, *extra])
            outputs.append((status, out.getvalue()))
    (status, document), (_, text) = outputs
    run = Run(status, validated(json.loads(document)), text)
    unknown = [r for r in run.document["results"] if r["action"] == "unknown"]
    assert not unknown, f"the registry did not answer: {unknown[0]['reasons']}"
    return run


@pytest.fixture(scope="module")
def loongarch(tmp_path_factory: pytest.TempPathFactory) -> Run:
    requirements = ["pydantic", "sqlalchemy", "lxml", "psycopg2", "pillow", "jellyfish"]
    target = ["--platform", "manylinux_2_36_loongarch64", "--python-version", "3.12"]
    return _run(tmp_path_factory.mktemp("loongarch"), requirements, *target)


@pytest.fixture(scope="module")
def musl(tmp_path_factory: pytest.TempPathFactory) -> Run:
    target = ["--platform", "musllinux_1_2_x86_64", "--python-version", "3.10"]
    return _run(tmp_path_factory.mktemp("musl"), ["anyio", "llvmlite"], *target)


def test_pydantic_looks_ready_but_pydantic_core_needs_rust(loongarch: Run) -> None:
    pydantic = loongarch.row("pydantic")
    assert (pydantic["action"], pydantic["dependency_of"], pydantic["depth"]) == ("wheel", [], 0)
    # The chosen wheel's metadata (PEP 658 where the index serves it, else the wheel's own).
    assert pydantic["dependencies_from"].startswith(f"pydantic-{pydantic['version']}-")
    assert "pydantic-core" in pydantic["dependencies"]
    core = loongarch.row("pydantic-core")
    assert core["action"] == "build" and core["depth"] == 1
    assert core["dependency_of"] == [f"pydantic {pydantic['version']}"]
    assert core["requirement"] == f"pydantic-core=={core['version']}"  # pydantic pins it
    assert core["build"]["backend"] == "maturin"
    assert "rust-toolchain" in core["build"]["needs"]
    # Extras nobody asked for stay out.
    assert not {"email-validator", "tzdata"} & set(loongarch.names())
    # The table counts them and says which rows they are, and of what.
    row = loongarch.line("↳ pydantic-core")
    assert "! build" in row and f"← pydantic {pydantic['version']}: maturin: needs" in row
    dependencies = [r for r in loongarch.document["results"] if r["dependency_of"]]
    counts = Counter(r["action"] for r in loongarch.document["results"])
    assert loongarch.document["summary"] == {
        a: counts.get(a, 0) for a in ("wheel", "build", "unavailable", "unknown", "skipped")
    }
    summary = loongarch.text.splitlines()[-1]
    assert summary.startswith(f"6 requirements and {len(dependencies)} dependencies: ")
    assert loongarch.status == 1


def test_each_project_once_for_every_parent(loongarch: Run) -> None:
    names = loongarch.names()
    assert len(names) == len(set(names))
    parents = {p.split()[0] for p in loongarch.row("typing-extensions")["dependency_of"]}
    assert {"pydantic", "sqlalchemy"} <= parents


def test_markers_are_the_targets_not_this_machines(loongarch: Run, musl: Run) -> None:
    """sqlalchemy wants greenlet on x86_64 (this machine) and aarch64, not on loongarch64;
    anyio wants exceptiongroup below Python 3.11 (the target is 3.10, this one newer)."""
    assert "greenlet" not in loongarch.row("sqlalchemy")["dependencies"]
    anyio = musl.row("anyio")
    assert "exceptiongroup" in anyio["dependencies"]
    assert musl.row("exceptiongroup")["dependency_of"] == [f"anyio {anyio['version']}"]


def test_build_needs_name_the_system_libraries_the_sdist_looks_for(loongarch: Run) -> None:
    def libraries(name: str) -> dict[str, tuple[str, str]]:
        build = loongarch.row(name)["build"]
        return {lib["name"]: (lib["how"], lib["evidence"]) for lib in build["libraries"]}

    lxml = libraries("lxml")
    assert lxml["libxml-2.0"][0] == lxml["libxslt"][0] == "pkg-config"
    assert re.match(r"setupinfo\.py:\d+: .*'libxml-2\.0'", lxml["libxml-2.0"][1])
    assert lxml["xml2-config"][0] == "program"
    psycopg2 = libraries("psycopg2")
    assert psycopg2["pg_config"][0] == "program"
    assert psycopg2["pq"] == (
        "library",
        psycopg2["pq"][1],
    ) and psycopg2["pq"][1].startswith("setup.py:")
    pillow = libraries("pillow")
    assert pillow["jpeg"][0] == pillow["z"][0] == "library"
    assert "zdll" not in pillow  # looked for on Windows only
    # The backend is named even where pyproject.toml does not name one.
    assert loongarch.row("lxml")["build"]["backend_name"].endswith(
        "→ setuptools legacy (PEP 517 fallback)"
    )
    assert "libraries: libxml-2.0, libxslt (pkg-config)" in loongarch.line("lxml ")


def test_the_newest_wheel_and_how_old_it_is(loongarch: Run) -> None:
    jellyfish = loongarch.row("jellyfish")
    newest = jellyfish["newest_wheel"]
    assert jellyfish["action"] == "build" and newest["ancient"] is True
    assert newest["days_behind"] >= 2 * 365 and newest["upload_time"].startswith("2021-")
    (reason,) = [r for r in jellyfish["reasons"] if r["kind"] == "ancient-wheel"]
    assert reason["message"].startswith(
        f"the newest version with a wheel for this target, {newest['version']}, was uploaded 2021-"
    )
    assert loongarch.text.splitlines()[3].split()[:6] == [
        "requirement",
        "action",
        "version",
        "newest",
        "wheel",
        "detail",
    ]
    assert f" {newest['version']} (old: 2021) " in loongarch.line("jellyfish ")
    assert re.search(r"! build +\S+ +none ", loongarch.line("lxml "))


def test_the_architecture_line_agrees_with_the_wheels_listed(musl: Run) -> None:
    """llvmlite has manylinux x86_64 and aarch64 wheels and no musllinux ones: on musl x86_64
    there *are* x86_64 wheels; they miss for their C library."""
    llvmlite = musl.row("llvmlite")
    assert any(p.endswith("_x86_64") for p in llvmlite["platforms_with_wheels"])
    (line,) = [r["message"] for r in llvmlite["reasons"] if r["kind"] == "architecture"]
    assert "none for x86_64" not in line
    assert line.endswith("; those for x86_64 do not fit for another reason")
    assert any(r["kind"] == "libc" for r in llvmlite["reasons"])
