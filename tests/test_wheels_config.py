"""pip's configuration as pkgdoctor reads it, against pip's own "Looking in indexes/links"
lines for the same files, variables and options (in a private HOME and XDG directories)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pkgdoctor.wheels.config import (
    PYPI,
    ConfigError,
    FormatControl,
    apply_command_line,
    read_pip_config,
)
from pkgdoctor.wheels.requirements import read_requirements_file


@dataclass
class Setup:
    files: dict[str, str] = field(default_factory=dict)  # "user", "legacy", "xdg", "env" -> text
    environ: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # --extra-index-url/--find-links/--index-url
    isolated: bool = False


CASES = {
    "user file": Setup(
        files={
            "user": "[global]\nindex-url = file:///A\nextra-index-url = file:///B\n"
            "    file:///C\nfind-links = /L1\n"
        }
    ),
    "new user file over legacy": Setup(
        files={
            "legacy": "[global]\nextra-index-url = file:///D\nfind_links = /L0\n",
            "user": "[global]\nindex-url = file:///A\nextra-index-url = file:///B\n",
        }
    ),
    "install section over global": Setup(
        files={
            "xdg": "[global]\nfind-links = /G\n[install]\nextra-index-url = file:///E\n",
            "user": "[global]\nindex-url = file:///A\nextra-index-url = file:///B\n",
        }
    ),
    "PIP_CONFIG_FILE hides the user file": Setup(
        files={
            "user": "[global]\nindex-url = file:///A\n",
            "env": "[global]\nindex-url = file:///F\n",
        }
    ),
    "variables replace, the command line adds": Setup(
        files={
            "user": "[global]\nindex-url = file:///A\nextra-index-url = file:///B\n"
            "find-links = /L1\n"
        },
        environ={"PIP_EXTRA_INDEX_URL": "file:///H file:///I", "PIP_FIND_LINKS": "/L2"},
        args=["--extra-index-url", "file:///J", "--find-links", "/K", "--index-url", "file:///M"],
    ),
    "isolated": Setup(
        files={"user": "[global]\nindex-url = file:///A\n", "xdg": "[global]\nfind-links = /G\n"},
        environ={"PIP_INDEX_URL": "file:///H", "PIP_FIND_LINKS": "/L2"},
        isolated=True,
    ),
    "no index": Setup(
        files={"user": "[global]\nindex-url = file:///A\nfind-links = /L1\n"},
        environ={"PIP_NO_INDEX": "yes"},
    ),
    "devnull": Setup(
        files={"user": "[global]\nindex-url = file:///A\n"},
        environ={"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "file:///H"},
    ),
}


def environ_for(setup: Setup, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_DIRS=str(home / "xdg"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    paths = {
        "user": home / ".config/pip/pip.conf",
        "legacy": home / ".pip/pip.conf",
        "xdg": home / "xdg/pip/pip.conf",
        "env": home / "env.conf",
    }
    for kind, text in setup.files.items():
        paths[kind].parent.mkdir(parents=True, exist_ok=True)
        paths[kind].write_text(text)
    if "env" in setup.files:
        env["PIP_CONFIG_FILE"] = str(paths["env"])
    env.update(setup.environ)
    return env


def pips_view(env: dict[str, str], setup: Setup, work: Path) -> tuple[list[str], list[str]]:
    isolated = ["--isolated"] if setup.isolated else []
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            *isolated,
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "--target",
            str(work / "target"),
            *setup.args,
            "pkgdoctor-no-such-project-xyz",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=work,
    )
    indexes: list[str] | None = None
    links: list[str] = []
    for line in proc.stdout.splitlines():
        if line.startswith("Looking in indexes: "):
            indexes = line.split(": ", 1)[1].split(", ")
        elif line.startswith("Looking in links: "):
            links = line.split(": ", 1)[1].split(", ")
    if indexes is None:  # pip names the indexes only when they are not just PyPI
        indexes = [] if "--no-index" in setup.args or env.get("PIP_NO_INDEX") else [PYPI]
    return indexes, links


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_sources_as_pip(name: str, tmp_path: Path) -> None:
    setup = CASES[name]
    env = environ_for(setup, tmp_path / "home")
    expected = pips_view(env, setup, tmp_path)
    settings = read_pip_config(env, isolated=setup.isolated, site_prefix=sys.prefix)
    options = dict(zip(setup.args[::2], setup.args[1::2]))
    apply_command_line(
        settings,
        index_url=options.get("--index-url"),
        extra_index_urls=[options["--extra-index-url"]] if "--extra-index-url" in options else [],
        find_links=[options["--find-links"]] if "--find-links" in options else [],
    )
    ours = ([u.value for u in settings.index_urls()], [u.value for u in settings.find_links])
    assert ours == expected


def test_where_each_value_came_from(tmp_path: Path) -> None:
    setup = CASES["variables replace, the command line adds"]
    env = environ_for(setup, tmp_path)
    settings = read_pip_config(env, site_prefix=str(tmp_path / "venv"))
    apply_command_line(settings, extra_index_urls=["file:///J"])
    assert [(u.value, u.origin) for u in settings.index_urls()] == [
        ("file:///A", f"{tmp_path}/.config/pip/pip.conf [global]"),
        ("file:///H", "PIP_EXTRA_INDEX_URL"),
        ("file:///I", "PIP_EXTRA_INDEX_URL"),
        ("file:///J", "command line"),
    ]
    assert ("site", str(tmp_path / "venv/pip.conf"), False) in settings.files


def test_site_file_options_and_bad_files(tmp_path: Path) -> None:
    site = tmp_path / "venv"
    site.mkdir()
    (site / "pip.conf").write_text(
        "[global]\ntimeout = 3\ntrusted-host = a.example b.example\npre = true\n"
        "only-binary = :all:\nno-binary = numpy\ncert = /ca.pem\n"
    )
    env = {"HOME": str(tmp_path), "XDG_CONFIG_DIRS": str(tmp_path / "none")}
    settings = read_pip_config(env, site_prefix=str(site))
    assert settings.timeout == 3.0 and settings.pre and settings.cert == "/ca.pem"
    assert settings.trusted_hosts == ["a.example", "b.example"]
    assert settings.format_control.formats("numpy") == {"source"}
    assert settings.format_control.formats("scipy") == {"binary"}
    (site / "pip.conf").write_text("[global]\nno-index = maybe\n")
    with pytest.raises(ConfigError, match="pip rejects no-index = 'maybe'"):
        read_pip_config(env, site_prefix=str(site))
    (site / "pip.conf").write_text("index-url = no section\n")
    with pytest.raises(ConfigError, match=r"pip cannot read .*pip\.conf: File contains no section"):
        read_pip_config(env, site_prefix=str(site))


def test_format_control_follows_pip() -> None:
    control = FormatControl()
    control.add(":all:", binary_only=True)
    control.add("numpy", binary_only=False)
    assert control.formats("numpy") == {"source"} and control.formats("scipy") == {"binary"}
    control.add(":none:", binary_only=True)
    assert control.formats("scipy") == {"binary", "source"}


def test_requirements_files_as_pip_reads_them(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    (tmp_path / "more.txt").write_text("scipy>=1.10  # trailing comment\n")
    (tmp_path / "constraints.txt").write_text("numpy<2\nother==1\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# a comment\n"
        "--index-url file:///replaced\n"
        "-i ${PKGD_TEST_INDEX}\n"
        "--extra-index-url=file:///extra\n"
        "-f links\n"
        "numpy \\\n"
        "  >=1.20 --hash=sha256:abc\n"
        "-r more.txt\n"
        "-c constraints.txt\n"
        "pywin32; sys_platform == 'win32'\n"
        "-e ./src/mine\n"
        "https://example.com/pkg-1.0.tar.gz\n"
        "not a requirement !\n"
    )
    settings = read_pip_config({"HOME": str(tmp_path)}, isolated=True)
    parsed = read_requirements_file(
        str(requirements), settings, {"PKGD_TEST_INDEX": "file:///from-env"}
    )
    assert [(line.text, line.origin.rsplit("/", 1)[1]) for line in parsed.lines] == [
        ("numpy   >=1.20", "requirements.txt:6"),
        ("scipy>=1.10", "more.txt:1"),
        ("pywin32; sys_platform == 'win32'", "requirements.txt:10"),
        ("./src/mine", "requirements.txt:11"),
        ("https://example.com/pkg-1.0.tar.gz", "requirements.txt:12"),
        ("not a requirement !", "requirements.txt:13"),
    ]
    assert parsed.lines[3].editable and parsed.lines[4].url and parsed.lines[5].error
    assert {k: str(v) for k, v in parsed.constraints.items()} == {"numpy": "<2", "other": "==1"}
    assert [u.value for u in settings.index_urls()] == ["file:///from-env", "file:///extra"]
    assert [u.value for u in settings.find_links] == [str(links)]
