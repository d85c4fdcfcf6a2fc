"""``pkgdoctor wheels`` against pip itself: for each case, the file pip picks with the same
target and the same sources must be the file pkgdoctor names.

Two tables. The *local* one runs on a ``file://`` simple index and a find-links directory
built here from real registry wheels (markupsafe for three platforms) and wheels made to
exercise pip's rules: tag preference, build tags, yanked files, Requires-Python, pre-releases,
the same file on two sources. The *registry* one asks the real index (numpy, orjson, six,
markupsafe) for foreign targets. pip runs with ``--isolated`` and ``PIP_CONFIG_FILE`` set to
``/dev/null``, like pkgdoctor, so this machine's pip configuration plays no part.

pip gets our expanded platform list (``--platform`` once per tag): a manylinux tag means a
system of that kind to pkgdoctor, and that list is how pip is told the same thing. pip picks
with ``--only-binary=:all:``; pkgdoctor's matching answer is its wheel, or the
``newest_wheel`` it reports beside a build.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from artefacts import Wheelhouse
from conftest import Runner
from pkgdoctor.wheels.platforms import describe_target
from wheel_artefacts import (
    Entry,
    SimpleIndex,
    clean_pip_environ,
    make_sdist,
    make_wheel,
    pip_choice,
    validated,
)


@pytest.fixture(autouse=True)
def no_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """pkgdoctor, in this process, sees pip's configuration as pip does in the oracle."""
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    for name, value in clean_pip_environ().items():
        if name.startswith("PIP_"):
            monkeypatch.setenv(name, value)


@dataclass(frozen=True)
class Case:
    requirement: str
    platform: str
    python: str
    action: str  # what pkgdoctor must answer (pip's default, sdists allowed)

    def __str__(self) -> str:
        return f"{self.requirement}@{self.platform}/py{self.python}"


def ours(pkgdoctor: Runner, case: Case, *sources: str) -> dict[str, Any]:
    result = pkgdoctor(
        "wheels",
        case.requirement,
        "--platform",
        case.platform,
        "--python-version",
        case.python,
        "--isolated",
        "--json",
        *sources,
    )
    assert result.status in (0, 1), result.err
    (answer,) = validated(json.loads(result.out))["results"]
    assert answer["action"] == case.action, answer["reasons"]
    return answer  # type: ignore[no-any-return]


def only_binary_choice(answer: dict[str, Any], key: str) -> str | None:
    """What pkgdoctor says ``pip --only-binary=:all:`` installs."""
    if answer["action"] == "wheel":
        return answer["file"][key]  # type: ignore[no-any-return]
    return answer["newest_wheel"][key] if answer["newest_wheel"] else None


def pip_target(case: Case) -> dict[str, Any]:
    target = describe_target([case.platform], case.python)
    return {
        "platforms": target.platforms,
        "python_version": target.short_version,
        "abis": target.abis,
    }


# --- the local table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Local:
    index: str
    find_links: str


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Local:
    base = tmp_path_factory.mktemp("local-index")
    made = base / "made"
    index = SimpleIndex(base / "simple")
    x86 = "cp312-cp312-manylinux_2_17_x86_64"
    index.add(
        "demo",
        Entry(make_wheel(made, "demo", "1.0")),
        Entry(make_wheel(made, "demo", "2.0", x86)),
        Entry(make_wheel(made, "demo", "2.0", "cp312-cp312-manylinux_2_28_x86_64")),
        Entry(make_wheel(made, "demo", "2.0", x86, build="1")),
        Entry(make_wheel(made, "demo", "2.0", "cp39-abi3-musllinux_1_1_x86_64")),
        Entry(make_sdist(made, "demo", "2.0"), requires_python=">=3.9"),
        Entry(make_wheel(made, "demo", "2.1"), yanked="broken upload"),
        Entry(make_wheel(made, "demo", "3.0"), requires_python=">=3.13"),
        Entry(make_wheel(made, "demo", "4.0rc1")),
    )
    real = []
    for platform, python in [
        ("manylinux_2_17_aarch64", "3.12"),
        ("musllinux_1_2_x86_64", "3.12"),
        ("manylinux_2_17_x86_64", "3.13"),
    ]:
        directory = wheelhouse.fetch("markupsafe==3.0.3", platform=platform, python=python)
        real += [Entry(p, requires_python=">=3.9") for p in directory.glob("*.whl")]
    index.add("markupsafe", *real)
    find_links = base / "find-links"
    find_links.mkdir()
    # The very file the index has: pip's tie rule decides which URL is taken.
    (find_links / "demo-2.0-cp312-cp312-manylinux_2_28_x86_64.whl").write_bytes(
        (made / "demo-2.0-cp312-cp312-manylinux_2_28_x86_64.whl").read_bytes()
    )
    make_wheel(find_links, "demo", "1.5")
    make_wheel(find_links, "other", "1.0")
    return Local(index.url, str(find_links))


LOCAL_CASES = [
    # the most specific manylinux tag first; the same file on both sources
    Case("demo", "manylinux_2_28_x86_64", "3.12", "wheel"),
    # a build tag wins over no build tag at equal tag priority
    Case("demo", "manylinux_2_17_x86_64", "3.12", "wheel"),
    # musl: the abi3 musllinux wheel
    Case("demo", "musllinux_1_2_x86_64", "3.12", "wheel"),
    # no aarch64 wheel of 2.0, 2.1 yanked, 3.0 needs 3.13: pip builds 2.0; else find-links 1.5
    Case("demo", "manylinux_2_17_aarch64", "3.12", "build"),
    # pinned to the yanked version: pip takes it
    Case("demo==2.1", "manylinux_2_17_aarch64", "3.12", "wheel"),
    # Requires-Python lets 3.0 in on 3.13
    Case("demo", "manylinux_2_28_x86_64", "3.13", "wheel"),
    # a pre-release when the specifier names one
    Case("demo>=4.0rc1", "manylinux_2_17_x86_64", "3.12", "wheel"),
    Case("demo>=5", "manylinux_2_17_x86_64", "3.12", "unavailable"),
    # real wheels from the registry, three platforms
    Case("markupsafe", "manylinux_2_28_aarch64", "3.12", "wheel"),
    Case("markupsafe", "musllinux_1_2_x86_64", "3.12", "wheel"),
    Case("markupsafe", "manylinux_2_17_x86_64", "3.13", "wheel"),
    Case("markupsafe", "manylinux_2_36_loongarch64", "3.12", "unavailable"),
]


@pytest.mark.parametrize("case", LOCAL_CASES, ids=str)
def test_local_index_and_find_links_agree_with_pip(
    case: Case, local: Local, pkgdoctor: Runner, tmp_path: Path
) -> None:
    sources = ["--index-url", local.index, "--find-links", local.find_links]
    answer = ours(pkgdoctor, case, *sources)
    url = pip_choice(case.requirement, **pip_target(case), sources=sources, work=tmp_path)
    assert only_binary_choice(answer, "url") == url


def test_the_local_cases_mean_what_they_say(local: Local, pkgdoctor: Runner) -> None:
    sources = ("--index-url", local.index, "--find-links", local.find_links)
    tie = ours(pkgdoctor, LOCAL_CASES[0], *sources)
    assert tie["file"]["url"].startswith(local.index.rsplit("/", 1)[0] + "/files/")
    assert ours(pkgdoctor, LOCAL_CASES[1], *sources)["file"]["filename"] == (
        "demo-2.0-1-cp312-cp312-manylinux_2_17_x86_64.whl"
    )
    aarch64 = ours(pkgdoctor, LOCAL_CASES[3], *sources)
    assert aarch64["version"] == "2.0"
    assert aarch64["newest_wheel"]["filename"] == "demo-1.5-py3-none-any.whl"
    kinds = {r["kind"] for r in aarch64["reasons"]}
    assert kinds == {"architecture", "requires-python", "yanked"}, aarch64["reasons"]
    assert (
        ours(pkgdoctor, LOCAL_CASES[4], *sources)["file"]["filename"] == "demo-2.1-py3-none-any.whl"
    )


# --- the registry table ------------------------------------------------------------------------

PYPI = ("--index-url", "https://pypi.org/simple")
REGISTRY_CASES = [
    Case("numpy", "manylinux_2_28_aarch64", "3.12", "wheel"),
    Case("numpy", "musllinux_1_2_x86_64", "3.12", "wheel"),
    Case("numpy", "manylinux_2_36_loongarch64", "3.12", "build"),
    Case("orjson", "manylinux_2_17_x86_64", "3.13", "wheel"),
    Case("six", "manylinux_2_31_riscv64", "3.12", "wheel"),
    Case("numpy==2.4.0", "manylinux_2_28_x86_64", "3.12", "wheel"),  # yanked, pinned
    Case("numpy>=2.4.0,<2.4.1", "manylinux_2_28_x86_64", "3.12", "unavailable"),  # only yanked
    Case("numpy<2.4.1", "manylinux_2_28_x86_64", "3.12", "wheel"),  # passes over the yanked
    Case("numpy", "manylinux_2_28_x86_64", "3.10", "wheel"),  # Requires-Python cut-off
    Case("markupsafe==3.0.3", "manylinux_2_17_x86_64", "3.13t", "wheel"),  # free-threaded
]


@pytest.mark.parametrize("case", REGISTRY_CASES, ids=str)
def test_registry_agrees_with_pip(case: Case, pkgdoctor: Runner, tmp_path: Path) -> None:
    answer = ours(pkgdoctor, case, *PYPI)
    name = pip_choice(
        case.requirement, **pip_target(case), sources=PYPI, work=tmp_path, download=True
    )
    assert only_binary_choice(answer, "filename") == name
    if case.action == "build":  # the backend comes from the sdist itself
        assert answer["build"]["backend"] == "mesonpy"
        assert {"meson", "ninja", "c-compiler", "c++-compiler"} <= set(answer["build"]["needs"])
    if "==" in case.requirement:
        assert answer["version"] == case.requirement.split("==")[1]
