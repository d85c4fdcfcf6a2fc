"""``pkgdoctor report``: the block for a bug report, on real venvs: its facts and verdicts,
its Markdown structure against hostile names, and what it redacts."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from artefacts import loongarch_interpreter, make_venv, write_dist_info
from conftest import Runner
from pkgdoctor.look import collect
from pkgdoctor.look.system import parse_os_release
from pkgdoctor.redact import Redactor
from pkgdoctor.target import find_target


def broken_venv(path: Path, name: str = "brokenpkg", module: str = "brokenpkg") -> Path:
    """A venv with one distribution whose RECORD lists a file that is gone
    (record-missing-file, an error with a pip command as its fix)."""
    venv = make_venv(path)
    (venv.site_packages / module).mkdir()
    (venv.site_packages / module / "__init__.py").write_text("")
    write_dist_info(venv.site_packages, name, "1.0", [f"{module}/__init__.py", f"{module}/core.py"])
    return venv.prefix


def test_healthy_venv(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    result = pkgdoctor("report", "--prefix", str(venv.prefix))
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    # One fenced block: it pastes into an issue as it is.
    assert lines[0] == "```text" and lines[-1] == "```"
    assert lines[1] == "pkgdoctor report: 0 errors, 0 warnings, 0 notes"
    assert lines[2].startswith("Redacted: ")
    text = result.out
    assert f"command       pkgdoctor report --prefix {venv.prefix}\n" in text
    assert "python        CPython 3." in text
    assert "abi           EXT_SUFFIX .cpython-3" in text
    assert "environment   venv (base " in text
    assert "Findings: none. No problems found.\n" in text
    assert "Distributions that matter (0 of 0):\n" in text
    try:  # the distribution, as the standard library reads os-release(5)
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        pretty = None
    if pretty:
        assert f"os            {pretty} · Linux " in text


def test_os_release_lines() -> None:
    text = (
        "# comment\nPRETTY_NAME=\"Alpine Linux v3.20\"\nID=alpine\nVERSION_ID='3.20.1'\n"
        'NAME="unclosed\nHOME_URL="https://alpinelinux.org/"\n\n'
    )
    assert parse_os_release(text) == {
        "PRETTY_NAME": "Alpine Linux v3.20",
        "ID": "alpine",
        "VERSION_ID": "3.20.1",
    }


def test_broken_venv_lists_the_finding_with_its_command(tmp_path: Path, pkgdoctor: Runner) -> None:
    prefix = broken_venv(tmp_path / "env")
    result = pkgdoctor("report", "--prefix", str(prefix))
    assert result.status == 1
    check = pkgdoctor("check", "--prefix", str(prefix), "--json")
    [finding] = [f for f in check.json["findings"] if f["severity"] == "error"]
    assert finding["code"] == "record-missing-file" and finding["command"]
    text = result.out
    assert "Findings (1 error, 0 warnings, 0 notes), worst first:\n" in text
    assert "[record-missing-file]" in text
    # The command alone on its line, as check prints it, so that it pastes.
    assert f"\n        {finding['command']}\n" in text
    # The distribution a finding names is among those that matter.
    assert "Distributions that matter (1 of 1):\nbrokenpkg  1.0  pip\n" in text
    # --fail-on and --select as check has them.
    assert pkgdoctor("report", "--prefix", str(prefix), "--ignore", "record-").status == 0


def test_markdown_structure_survives_hostile_names(tmp_path: Path, pkgdoctor: Runner) -> None:
    # A file name that would close a fence, open a <details>, inject HTML and mention
    # someone, were it Markdown (a file name has no "/": no closing tag).
    hostile = "x````<details open><img src=x onerror=alert(1)>@octocat #1"
    prefix = broken_venv(tmp_path / "env", name="evil", module=hostile)
    result = pkgdoctor("report", "--prefix", str(prefix), "--markdown")
    assert result.status == 1
    tokens = MarkdownIt("commonmark").parse(result.out)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [
        "pkgdoctor report: 1 error, 0 warnings, 0 notes",
        "Environment",
        "Findings",
    ]
    # The only HTML is pkgdoctor's own <details>; every hostile name stays in a code block.
    html = [t.content.strip() for t in tokens if t.type == "html_block"]
    opened = [h for h in html if h.startswith("<details><summary>") and h.endswith("</summary>")]
    assert len(opened) == 3 and html.count("</details>") == 3 and len(html) == 6
    assert opened[0] == "<details><summary>Distributions that matter (1 of 1)</summary>"
    inline = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert [c.content for c in inline if c.type == "html_inline"] == ["<sub>", "</sub>"]
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 5
    assert all(t.info == "text" for t in fences)
    [findings] = [t.content for t in fences if "[record-missing-file]" in t.content]
    assert hostile in findings
    # Plain text: one block, its fence one backtick longer than the name's four.
    plain = pkgdoctor("report", "--prefix", str(prefix)).out
    assert plain.startswith("`````text\n") and plain.endswith("\n`````\n")
    [block] = [t for t in MarkdownIt("commonmark").parse(plain) if t.type == "fence"]
    assert hostile in block.content


def test_terminal_controls_are_escaped(tmp_path: Path, pkgdoctor: Runner) -> None:
    prefix = broken_venv(tmp_path / "env", module="evil\x1b]0;pwned\x07")
    for options in ((), ("--markdown",)):
        result = pkgdoctor("report", "--prefix", str(prefix), *options)
        assert "\x1b" not in result.out and "\x07" not in result.out
        assert "evil\\x1b]0;pwned\\x07" in result.out


def test_redaction(tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    prefix = broken_venv(home / "env")
    elsewhere = tmp_path / "scratch" / "pkgdrtester" / "src"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LOGNAME", "pkgdrtester")  # getpass.getuser() reads it first
    monkeypatch.setenv("PYTHONPATH", f"{elsewhere}:/home/bob/lib:/Users/carol/lib")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://alice:s3cret@pypi.example/simple")
    for options in ((), ("--markdown",)):
        result = pkgdoctor("report", "--prefix", str(prefix), *options)
        text = result.out
        assert str(home) not in text and "pkgdrtester" not in text
        assert "bob" not in text and "carol" not in text
        assert "s3cret" not in text and "alice" not in text
        assert "~/env  (live)" in text  # the target
        assert "pkgdoctor report --prefix ~/env" in text  # the command line
        assert f"{tmp_path}/scratch/<user>/src" in text
        assert "/home/<user>/lib:/Users/<user>/lib" in text
        assert "PIP_EXTRA_INDEX_URL=https://***@pypi.example/simple" in text
        assert "rm ~/" in text or "~/env/bin/python" in text  # the fix's paths too


def test_redactor() -> None:
    r = Redactor(["/home/alice", "/var/home/alice"], "alice")
    assert r.text("/home/alice") == "~"
    assert r.text("/var/home/alice/env:/home/alice2/x") == "~/env:/home/<user>/x"
    assert r.text("x=/home/alice/a,/home/bob/b") == "x=~/a,/home/<user>/b"
    assert r.text("/data/alice/env /data/alicex/env") == "/data/<user>/env /data/alicex/env"
    assert r.text("git+https://tok@github.com/o/r") == "git+https://***@github.com/o/r"
    assert r.text("alice wrote /opt/x") == "alice wrote /opt/x"  # a word is not a path
    once = r.text("/home/bob/x https://u:p@h/s")
    assert r.text(once) == once  # idempotent
    # root is the user of most containers and no secret; / is no home to hide.
    assert Redactor(["/"], "root").text("/root/x /opt/root/y") == "/root/x /opt/root/y"


def test_from_a_snapshot_and_usage_errors(tmp_path: Path, pkgdoctor: Runner) -> None:
    prefix = broken_venv(tmp_path / "env")
    saved = tmp_path / "env.json.gz"
    assert pkgdoctor("snapshot", "--prefix", str(prefix), "-o", str(saved)).status == 0
    live = pkgdoctor("report", "--prefix", str(prefix))
    recorded = pkgdoctor("report", "--from", str(saved))
    assert recorded.status == live.status == 1

    def findings(text: str) -> str:
        return text[text.index("Findings (") : text.index("Environment variables")]

    assert findings(recorded.out) == findings(live.out)
    assert f"(live; recorded in {saved}, taken " in recorded.out
    # As check: --from with a target option, an unknown code, no such environment.
    for argv in (
        ("--from", str(saved), "--prefix", str(prefix)),
        ("--prefix", str(prefix), "--select", "no-such-code"),
        ("--prefix", str(tmp_path / "nothing")),
    ):
        result = pkgdoctor("report", *argv)
        assert result.status == 2 and result.out == ""
        assert result.err.startswith("pkgdoctor: error: ")


def test_parser_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from pkgdoctor.cli import build_parser, main

    argv = ["report", "--markdown", "--prefix", "/x", "--fail-on", "warning", "--no-cache"]
    assert vars(build_parser("report").parse_args(argv)) == vars(build_parser().parse_args(argv))
    assert "report" in build_parser().format_help()
    with pytest.raises(SystemExit) as exit:
        main(["report", "--json"])  # check --json and snapshot are for programs
    assert exit.value.code == 2
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    help_text = capsys.readouterr().out
    assert "There is no --json" in help_text and "examples:" in help_text


def test_another_machines_tree_has_no_os_release(tmp_path: Path, pkgdoctor: Runner) -> None:
    """A loongarch64 tree read here: this machine's os-release says nothing of its system."""
    prefix = tmp_path / "loong"
    loongarch_interpreter(prefix / "bin" / "python3.10")
    (prefix / "lib" / "python3.10" / "site-packages").mkdir(parents=True)
    snapshot = collect(find_target(prefix=str(prefix)))
    assert not snapshot.target.system_is_host and snapshot.os_release is None
    host = collect(find_target(prefix=str(make_venv(tmp_path / "env").prefix)))
    if os.path.exists("/etc/os-release") or os.path.exists("/usr/lib/os-release"):
        assert host.os_release and "ID" in host.os_release
    result = pkgdoctor("report", "--prefix", str(prefix))
    [os_line] = [line for line in result.out.splitlines() if line.startswith("os ")]
    assert os_line == "os            Linux · loongarch64"  # no distribution, no kernel
