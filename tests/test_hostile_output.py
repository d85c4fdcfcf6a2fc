"""Text that came from outside never reaches the terminal raw (issue 9 item 5).

A build backend read from an sdist an index served, a requirements line, a distribution's
name or version, a path, a wheel's file name: any of them may carry ``ESC ] 0 ; ... BEL``
(which sets the terminal's title) or another control sequence. Every command's text output
and every message shows them as ``\\xNN`` (pkgdoctor.render.terminal_text); the JSON
documents escape them as JSON does.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artefacts import Venv, make_venv, write_dist_info
from conftest import Runner
from pkgdoctor import __version__
from pkgdoctor.render import terminal_json, terminal_text
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

TITLE = "\x1b]0;pwned\x07"  # OSC 0: set the window title, ended by BEL
SHOWN = "\\x1b]0;pwned\\x07"
CSI = "\x9b2J"  # C1 CSI: erase the screen, in terminals that honour C1 controls
CSI_SHOWN = "\\x9b2J"
# Every C0 control but the newline, DEL, and every C1 control.
RAW = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def assert_clean(*texts: str) -> None:
    for text in texts:
        found = RAW.search(text)
        assert found is None, f"raw {found[0]!r} at {found.start()} in {text!r}"


def _shown(path: Path) -> str:
    return str(path).replace(TITLE, SHOWN)


@pytest.fixture(autouse=True)
def no_pip_config(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_pip_config(monkeypatch)


# --- wheels: an sdist's build backend, served over HTTP; requirements lines -----------------


@pytest.fixture
def hostile_index(tmp_path: Path) -> SimpleIndex:
    made = tmp_path / "made"
    index = SimpleIndex(tmp_path / "simple")
    # TOML basic strings take control characters as \uXXXX escapes (TOML 1.0, "Strings").
    pyproject = (
        "[build-system]\n"
        'requires = ["setuptools", "x\\u009b2J"]\n'
        'build-backend = "evil\\u001b]0;pwned\\u0007"\n'
    )
    index.add("hostile", Entry(make_sdist(made, "hostile", "1.0", {"pyproject.toml": pyproject})))
    index.add("pure", Entry(make_wheel(made, "pure", "2.0")))
    return index


def test_wheels_build_backend_from_a_served_sdist(
    hostile_index: SimpleIndex, pkgdoctor: Runner, tmp_path: Path
) -> None:
    with serve(tmp_path) as server:
        url = f"{server.url}/simple/"
        text = ask(pkgdoctor, "hostile", "--index-url", url)
        document = ask(pkgdoctor, "hostile", "--index-url", url, "--json")
    assert text.status == 1, text.err
    assert_clean(text.out, text.err)
    assert f"  build: evil{SHOWN}  (build-backend 'evil\\x1b]0;pwned\\x07')\n" in text.out
    assert f"    requires: setuptools, x{CSI_SHOWN}\n" in text.out
    # JSON escapes C0 itself; DEL and C1, which json.dumps(ensure_ascii=False) leaves raw, are
    # \u00XX: the same document, decoded.
    assert_clean(document.out, document.err)
    assert "x\\u009b2J" in document.out
    build = validated(json.loads(document.out))["results"][0]["build"]
    assert build["backend"] == f"evil{TITLE}"
    assert build["requires"] == ["setuptools", f"x{CSI}"]


NOTHING = "nothing beyond the backend"


def test_wheels_requirements_file_lines(
    hostile_index: SimpleIndex, pkgdoctor: Runner, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"pure\nhostile\n{TITLE}bad\n")
    result = ask(pkgdoctor, "-r", str(requirements), "--index-url", hostile_index.url)
    assert_clean(result.out, result.err)
    assert SHOWN in result.out + result.err
    # The table's columns are measured on the escaped text; a row stays one line.
    table = result.out.split("\n\n")[1].splitlines()
    assert table[:3] == [
        "requirement          action         version  newest wheel  detail",
        "pure                 ✓ wheel        2.0      2.0           pure-2.0-py3-none-any.whl",
        f"hostile              ! build        1.0      none          evil{SHOWN}: needs {NOTHING}",
    ]
    assert table[3] == (
        f"{SHOWN}bad  ? unknown                             not a valid requirement: "
        "Expected package name at the start of dependency specifier"
    )
    assert len(table) == 4


def test_wheels_one_requirement_in_words(pkgdoctor: Runner) -> None:
    result = ask(pkgdoctor, f"{TITLE}bad", "--no-index")
    assert result.status == 2, result.err
    assert_clean(result.out, result.err)
    # packaging's pointer at the fault keeps its own lines, each escaped.
    assert result.out.split("\n\n")[1] == (
        f"? {SHOWN}bad: cannot tell\n"
        "    · not a valid requirement: Expected package name at the start of dependency "
        "specifier\n"
        f"    {SHOWN}bad\n"
        "    ^"
    )


def test_wheels_index_url_in_a_message(pkgdoctor: Runner) -> None:
    result = ask(pkgdoctor, "pure", "--index-url", f"file:///nowhere/{TITLE}/simple/")
    assert_clean(result.out, result.err)
    assert SHOWN in result.out + result.err


# --- check, export, diff: names, versions and paths in an environment ----------------------


@pytest.fixture(scope="module")
def hostile_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("hostile") / f"env{TITLE}")
    write_dist_info(venv.site_packages, f"evil{TITLE}", "1.0", ["evil/__init__.py"])
    write_dist_info(venv.site_packages, "good", f"1.0{CSI}", ["good/__init__.py"])
    (venv.site_packages / "good").mkdir()
    (venv.site_packages / "good" / "__init__.py").write_text("")
    return venv


def test_check(hostile_venv: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("check", "--prefix", str(hostile_venv.prefix))
    assert result.status == 1, result.err
    assert_clean(result.out, result.err)
    assert result.out.startswith(f"pkgdoctor {__version__} check {_shown(hostile_venv.prefix)}  (")
    assert f"✗ evil{SHOWN} 1.0 is missing evil/__init__.py" in result.out
    assert f"The metadata of good 1.0{CSI_SHOWN} is invalid" in result.out
    # The JSON document is untouched by the terminal's rule: json escapes controls itself.
    document = pkgdoctor("check", "--prefix", str(hostile_venv.prefix), "--json")
    assert_clean(document.out)
    findings = json.loads(document.out)["findings"]
    assert any(f"evil{TITLE} 1.0 is missing" in f["message"] for f in findings)


def test_export_to_standard_output(hostile_venv: Venv, pkgdoctor: Runner, tmp_path: Path) -> None:
    result = pkgdoctor("export", "--prefix", str(hostile_venv.prefix))
    assert result.status == 0, result.err
    assert_clean(result.out, result.err)
    assert f"# Exported by pkgdoctor {__version__} from {_shown(hostile_venv.prefix)}\n" in (
        result.out
    )
    assert f"evil{SHOWN}==1.0\n" in result.out
    # A file written with -o keeps its format: the bytes as they are; the message is escaped.
    written = tmp_path / f"req{TITLE}.txt"
    result = pkgdoctor("export", "--prefix", str(hostile_venv.prefix), "-o", str(written))
    assert_clean(result.out, result.err)
    assert result.err == f"pkgdoctor: wrote {_shown(written)}\n"
    assert f"evil{TITLE}==1.0\n" in written.read_text()


def test_diff(hostile_venv: Venv, pkgdoctor: Runner, tmp_path: Path) -> None:
    other = make_venv(tmp_path / f"other{TITLE}")
    write_dist_info(other.site_packages, f"evil{TITLE}", "2.0", ["evil/__init__.py"])
    result = pkgdoctor("diff", str(hostile_venv.prefix), str(other.prefix), "--static")
    assert result.status == 1, result.err
    assert_clean(result.out, result.err)
    assert f"other{SHOWN}" in result.out
    assert f"evil{SHOWN}" in result.out
    document = pkgdoctor("diff", str(hostile_venv.prefix), str(other.prefix), "--static", "--json")
    assert_clean(document.out)
    assert json.loads(document.out)["b"]["source"] == str(other.prefix)


# --- audit-wheel, error messages --------------------------------------------------------------


def test_audit_wheel_file_names(pkgdoctor: Runner, tmp_path: Path) -> None:
    directory = tmp_path / f"dir{TITLE}"
    good = make_wheel(directory, "demo", "1.0")
    bad = good.with_name(f"demo-1.0-py3-none-any{TITLE}.whl")
    bad.write_bytes(b"not a zip")
    result = pkgdoctor("audit-wheel", str(good), str(bad))
    assert result.status == 2
    assert_clean(result.out, result.err)
    assert f"any{SHOWN}.whl" in result.out
    assert result.err.startswith(f"pkgdoctor: error: {_shown(bad)}: ")
    document = pkgdoctor("audit-wheel", str(bad), "--json")
    assert_clean(document.out, document.err)


def test_error_messages(
    pkgdoctor: Runner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / f"gone{TITLE}"
    for argv in (
        ["check", "--prefix", str(missing)],
        ["check", "--from", str(missing)],
        ["export", "--from", str(missing)],
        ["diff", str(missing), str(missing)],
    ):
        result = pkgdoctor(*argv)
        assert result.status == 2, argv
        assert_clean(result.out, result.err)
        assert result.err.startswith("pkgdoctor: error: ")
        assert SHOWN in result.err, argv
    # argparse quotes the command line's words as they are (a glob's file names among them).
    with pytest.raises(SystemExit):
        pkgdoctor("check", f"stray{TITLE}")
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.endswith(f"pkgdoctor check: error: unrecognized arguments: stray{SHOWN}\n")
    # An unknown option's suggestion is escaped too.
    with pytest.raises(SystemExit):
        pkgdoctor("check", f"--jsn{TITLE}")
    err = capsys.readouterr().err
    assert_clean(err)
    assert err.endswith(f"unrecognized arguments: --jsn{SHOWN}\n")


# --- colour on a terminal ---------------------------------------------------------------------

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours rich writes (ECMA-48 8.3.117)


def test_colour_on_a_terminal_has_only_colours(tmp_path: Path) -> None:
    """On a terminal the lines go through rich: its colour sequences are the only ESCs."""
    wheel = make_wheel(tmp_path / f"dir{TITLE}", "demo", "1.0")
    bad = wheel.with_name(f"demo-1.0-py3-none-any{TITLE}.whl")
    bad.write_bytes(b"not a zip")
    out = _on_a_terminal([sys.executable, "-m", "pkgdoctor", "audit-wheel", str(bad)])
    assert SGR.search(out), out  # it did write colour
    assert_clean(SGR.sub("", out).replace("\r\n", "\n"))
    assert f"any{SHOWN}.whl" in SGR.sub("", out)


def _on_a_terminal(argv: list[str]) -> str:
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLUMNS="200")
    with subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            ready, _, _ = select.select([leader], [], [], 30)
            if not ready:
                proc.kill()
                pytest.fail("no output from pkgdoctor on a terminal in 30 s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


# --- the functions ------------------------------------------------------------------------------


def test_terminal_text_keeps_printable_text() -> None:
    assert terminal_text("café ✓ naïve — 日本") == "café ✓ naïve — 日本"
    assert terminal_text(f"a{TITLE}\tb\nc\x7f{CSI}") == f"a{SHOWN}\\x09b\\x0ac\\x7f{CSI_SHOWN}"
    assert terminal_text("bad\udcff byte") == "bad\\xff byte"  # an undecodable file-name byte
    assert terminal_text(terminal_text(TITLE)) == SHOWN  # idempotent: the CLI escapes again


@given(
    st.recursive(
        st.text() | st.integers() | st.none(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_terminal_json_is_the_same_document(value: object) -> None:
    try:
        dumped = json.dumps(value, indent=2, ensure_ascii=False)
        dumped.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates: not what a renderer hands over
    escaped = terminal_json(dumped)
    assert json.loads(escaped) == value
    assert_clean(escaped)
    if not re.search(r"[\x7f-\x9f]", dumped):
        assert escaped == dumped  # byte-identical for everything else
