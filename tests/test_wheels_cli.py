"""``pkgdoctor wheels`` end to end: text and JSON output, requirements files, the current
environment as the default target, exit statuses, bad input."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from packaging.tags import sys_tags

from conftest import Runner
from pkgdoctor.wheels.command import http_cache_directory
from pkgdoctor.wheels.progress import terminal_progress
from wheel_artefacts import (
    Entry,
    SimpleIndex,
    ask,
    forget_pip_config,
    make_sdist,
    make_wheel,
    validated,
)

MESON = '[build-system]\nrequires = ["meson-python"]\nbuild-backend = "mesonpy"\n'


@pytest.fixture(autouse=True)
def no_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_pip_config(monkeypatch)


@pytest.fixture
def index(tmp_path: Path) -> SimpleIndex:
    made = tmp_path / "made"
    index = SimpleIndex(tmp_path / "simple")
    native = next(t for t in sys_tags() if not t.platform.startswith("linux_"))
    index.add(
        "demo",
        Entry(make_wheel(made, "demo", "1.0", "cp312-cp312-manylinux_2_17_x86_64")),
        Entry(make_wheel(made, "demo", "1.0", "cp312-cp312-musllinux_1_2_aarch64")),
        Entry(make_wheel(made, "demo", "1.0", str(native))),
        Entry(
            make_sdist(
                made,
                "demo",
                "1.0",
                {"pyproject.toml": MESON, "meson.build": "project('demo', 'c')\n"},
            )
        ),
    )
    index.add("pure", Entry(make_wheel(made, "pure", "2.0")))
    index.add("wheelonly", Entry(make_wheel(made, "wheelonly", "0.1", "cp312-cp312-win_amd64")))
    return index


def test_one_requirement_in_words(index: SimpleIndex, pkgdoctor: Runner) -> None:
    loongarch = {"platform": "manylinux_2_36_loongarch64"}
    result = ask(pkgdoctor, "demo", "--index-url", index.url, **loongarch)
    assert result.status == 1, result.err
    assert result.out == (
        "Target: CPython 3.12 (cp312) on Linux loongarch64, glibc 2.36  (described)\n"
        f"Sources: {index.url}  (index; command line)\n"
        "\n"
        "! demo: no wheel fits; pip would build 1.0 from demo-1.0.tar.gz\n"
        "    · 3 wheels for other architectures (aarch64, x86_64); none for loongarch64\n"
        "  build: meson-python  (build-backend 'mesonpy')\n"
        "    requires: meson-python\n"
        "    needs: meson, ninja, a C compiler\n"
        f"  wheels of 1.0 exist for: {', '.join(_platforms())}\n"
        "  no version has a wheel for this target\n"
        "\n"
        "1 requirement: 1 build\n"
    )


def _platforms() -> list[str]:
    native = next(t for t in sys_tags() if not t.platform.startswith("linux_")).platform
    return sorted({"manylinux_2_17_x86_64", "musllinux_1_2_aarch64", native})


def test_a_requirements_file_is_a_readiness_table(
    index: SimpleIndex, pkgdoctor: Runner, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        f"--index-url {index.url}\n"
        "demo\npure>=2\nwheelonly\nnothere\n"
        "pywin32 ; sys_platform == 'win32'\n"
        "./local/project\n"
    )
    args = [
        "wheels",
        "-r",
        str(requirements),
        "--platform",
        "musllinux_1_2_aarch64",
        "--python-version",
        "3.12",
        "--isolated",
    ]
    table = pkgdoctor(*args)
    assert table.status == 1
    lines = table.out.splitlines()
    assert lines[1] == f"Sources: {index.url}  (index; {requirements}:1)"
    assert lines[3:] == [
        "requirement                        action         version  newest wheel  detail",
        "demo                               ✓ wheel        1.0      1.0           "
        "demo-1.0-cp312-cp312-musllinux_1_2_aarch64.whl",
        "pure>=2                            ✓ wheel        2.0      2.0           "
        "pure-2.0-py3-none-any.whl",
        "wheelonly                          ✗ unavailable  0.1      none          "
        "1 wheel for other systems (Windows)",
        "nothere                            ✗ unavailable                         "
        "no source has a project named nothere",
        "pywin32 ; sys_platform == 'win32'  - skipped                             "
        'the marker sys_platform == "win32" is false on this target',
        "./local/project                    ? unknown                             a direct "
        "reference (URL or path): pip builds or downloads exactly that; pkgdoctor answers only "
        "for requirements looked up on indexes",
        "",
        "6 requirements: 2 wheel · 2 unavailable · 1 unknown · 1 skipped",
    ]
    document = validated(json.loads(pkgdoctor(*args, "--json").out))
    assert document["summary"] == {
        "wheel": 2,
        "build": 0,
        "unavailable": 2,
        "unknown": 1,
        "skipped": 1,
    }
    assert [r["origin"].rsplit(":", 1)[1] for r in document["results"]] == [
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
    ]


def test_the_current_environment_is_the_default_target(
    index: SimpleIndex, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    result = pkgdoctor("wheels", "demo", "pure", "--isolated", "--index-url", index.url, "--json")
    document = validated(json.loads(result.out))
    assert result.status == 0
    assert document["target"]["kind"] == "environment"
    assert document["target"]["python_version"] == ".".join(map(str, sys.version_info[:3]))
    native = next(t for t in sys_tags() if not t.platform.startswith("linux_"))
    assert document["results"][0]["file"]["filename"] == f"demo-1.0-{native}.whl"


def test_everything_fits(index: SimpleIndex, pkgdoctor: Runner) -> None:
    insecure = "http://example.invalid/x"
    riscv = {"platform": "manylinux_2_31_riscv64", "python": "3.13"}
    result = ask(
        pkgdoctor, "pure", "--index-url", index.url, "--extra-index-url", insecure, **riscv
    )
    assert result.status == 0
    assert "✓ pure 2.0: pure-2.0-py3-none-any.whl" in result.out
    assert (
        "http://example.invalid/x  (index; command line)  ignored: plain http to a host that is "
        "not --trusted-host example.invalid: pip ignores it" in result.out
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name at least one requirement, or a file with -r FILE"),
        (("numpy", "--platform", "riscv64"), "--platform riscv64: name a system"),
        (
            (
                "-r",
                "/nonexistent/requirements.txt",
                "--platform",
                "linux_x86_64",
                "--python-version",
                "3.12",
            ),
            "no such requirements file: /nonexistent/requirements.txt",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: tuple[str, ...], message: str, pkgdoctor: Runner
) -> None:
    result = pkgdoctor("wheels", *args)
    assert result.status == 2 and result.out == ""
    assert result.err.startswith(f"pkgdoctor: error: {message}")


def test_help_teaches_with_examples(pkgdoctor: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        pkgdoctor("wheels", "--help")
    out = capsys.readouterr().out
    for example in (
        "manylinux_2_36_loongarch64",
        "manylinux_2_31_riscv64",
        "musllinux_1_2_x86_64",
        "--python-version 3.13t",
        "exit status",
    ):
        assert example in out


def test_progress_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with terminal_progress(stream) as progress:
        assert progress is not None
        progress("index", 1, 2)
        progress("index", 2, 2)
    assert "index pages" in stream.getvalue()
    with terminal_progress(io.StringIO()) as nothing:
        assert nothing is None


def test_the_cache_never_lives_in_an_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PKGDOCTOR_CACHE_DIR", str(tmp_path / "env" / "cache"))
    assert http_cache_directory([str(tmp_path / "env")]) is None
    assert http_cache_directory([str(tmp_path / "other")]) == str(tmp_path / "env" / "cache")
