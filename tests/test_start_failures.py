"""Targets that cannot start, and targets that name where they came from (issue 10, items
"PYTHONHOME / PYTHONPATH that break start-up" and "a target error that names where the
target came from").

A start-up variable of the user's environment that stops the target's interpreter is a
finding (``interpreter-cannot-start``, exit status 1) naming the variable, never exit 2;
the command it prints is run here, in a shell, and the interpreter then starts.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artefacts import make_venv, without_user_config
from conftest import Runner

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))) / "versions"


def _finding(document: Any, code: str) -> dict[str, Any]:
    found = [f for f in document["findings"] if f["code"] == code]
    assert len(found) == 1, document["findings"]
    return found[0]  # type: ignore[no-any-return]


def _shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, env=env, timeout=30, check=False
    )


def test_pythonhome_elsewhere_is_a_finding_with_the_variable(
    pkgdoctor: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "venv")
    gone = str(tmp_path / "no-such-home")
    monkeypatch.setenv("PYTHONHOME", gone)
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # set, harmless: must not be blamed

    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1, result.err
    document = result.json
    assert document["target"]["mode"] == "static"
    assert document["target"]["static_reason"] == "the interpreter cannot start (exit status 1)"
    finding = _finding(document, "interpreter-cannot-start")
    assert finding["severity"] == "error"
    evidence = finding["evidence"]
    assert evidence["starts_without"] == ["PYTHONHOME"]
    assert evidence["start_up_variables"]["PYTHONHOME"] == gone
    assert evidence["start_up_variables"]["PYTHONUNBUFFERED"] == "1"
    assert evidence["exit_status"] == 1
    assert "ModuleNotFoundError: No module named 'encodings'" in evidence["stderr"]
    assert f"PYTHONHOME={gone} in your environment makes every start fail" in finding["message"]
    assert "No module named 'encodings'" in finding["message"]
    # Nothing else is reported on this healthy tree.
    assert [f["code"] for f in document["findings"]] == ["interpreter-cannot-start"]

    text = pkgdoctor("check", "--prefix", str(venv.prefix))
    assert text.status == 1
    assert "Traceback" not in text.out + text.err
    assert "[interpreter-cannot-start]" in text.out
    assert "fix: Remove it from your environment" in text.out

    # The printed commands, run in a shell that has the variable: the interpreter starts.
    env = dict(os.environ)
    python = shlex.quote(str(venv.prefix / "bin" / "python3"))
    assert _shell(f"{python} -c 'import sys'", env).returncode != 0
    tried = _shell(evidence["try"], env)
    assert tried.returncode == 0, tried.stderr
    assert shlex.split(evidence["try"])[:3] == ["env", "-u", "PYTHONHOME"]
    unset = finding["command"]
    assert unset == "unset PYTHONHOME"
    fixed = _shell(f"{unset}; {python} -c 'import encodings, sys; print(sys.prefix)'", env)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.strip() == str(venv.prefix)
    # And with it unset, pkgdoctor looks at the environment live.
    monkeypatch.delenv("PYTHONHOME")
    live = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert live.status == 0 and live.json["target"]["mode"] == "live"


def test_pythonpath_with_a_stray_encodings_is_blamed(
    pkgdoctor: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PYTHONPATH entry that shadows the stdlib's encodings (here: Python 2 code, as in
    another Python's lib/python2.7) stops every start."""
    venv = make_venv(tmp_path / "venv")
    stray = tmp_path / "py2lib"
    (stray / "encodings").mkdir(parents=True)
    (stray / "encodings" / "__init__.py").write_text('print "python 2"\n')
    monkeypatch.setenv("PYTHONPATH", str(stray))

    result = pkgdoctor("check", "--python", str(venv.python), "--json")
    assert result.status == 1, result.err
    finding = _finding(result.json, "interpreter-cannot-start")
    assert finding["evidence"]["starts_without"] == ["PYTHONPATH"]
    assert finding["path"] == str(venv.python)
    assert any("SyntaxError" in line for line in finding["evidence"]["stderr"])
    assert _shell(finding["evidence"]["try"], dict(os.environ)).returncode == 0


def test_snapshot_keeps_the_failed_start(
    pkgdoctor: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "venv")
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "gone"))
    out = tmp_path / "snap.json"
    assert pkgdoctor("snapshot", "--prefix", str(venv.prefix), "-o", str(out)).status == 0
    failure = json.loads(out.read_text())["target"]["start_failure"]
    assert failure["culprits"] == ["PYTHONHOME"]
    assert failure["executable"] == str(venv.prefix / "bin" / "python3")
    assert failure["starts_isolated"] is True
    assert "Fatal Python error: init_fs_encoding" in "\n".join(failure["stderr_tail"])
    monkeypatch.delenv("PYTHONHOME")
    replayed = pkgdoctor("check", "--from", str(out), "--json")
    assert replayed.status == 1
    assert "interpreter-cannot-start" in replayed.codes()


def _other_pyenv_python() -> Path | None:
    """A pyenv CPython 3 of another minor version than the one running the tests."""
    for version in sorted(PYENV_VERSIONS.glob("3.*"), reverse=True):
        major_minor = ".".join(version.name.split(".")[:2])
        exe = version / "bin" / f"python{major_minor}"
        if major_minor != f"3.{sys.version_info[1]}" and exe.exists():
            return exe
    return None


def test_pythonhome_of_pkgdoctors_python_breaks_another_python(tmp_path: Path) -> None:
    """The case users meet: PYTHONHOME at the home of the Python that runs pkgdoctor (so
    pkgdoctor starts) while the target is another minor version (which finds no
    lib/python3.X/encodings there). As a user runs it: a child process, the whole CLI."""
    other = _other_pyenv_python()
    if other is None:
        pytest.skip("no pyenv Python of another minor version on this machine")
    venv = tmp_path / "other"
    subprocess.run([str(other), "-m", "venv", "--without-pip", str(venv)], check=True)
    env = {**without_user_config(), "PYTHONHOME": sys.base_prefix}
    for flag in ("--python", "--prefix"):
        where = str(venv / "bin" / "python") if flag == "--python" else str(venv)
        proc = subprocess.run(
            [sys.executable, "-m", "pkgdoctor", "check", flag, where, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        finding = _finding(json.loads(proc.stdout), "interpreter-cannot-start")
        assert finding["evidence"]["starts_without"] == ["PYTHONHOME"]
        assert _shell(finding["evidence"]["try"], env).returncode == 0


def test_a_probe_that_fails_in_a_python_that_starts_stays_an_error(
    pkgdoctor: Runner, tmp_path: Path
) -> None:
    """Python 2 starts, but cannot run the probe: not a start-up failure, exit status 2."""
    python2 = next(iter(sorted(PYENV_VERSIONS.glob("2.7*/bin/python2.7"))), None)
    if python2 is None:
        pytest.skip("no pyenv Python 2.7 on this machine")
    result = pkgdoctor("check", "--python", str(python2))
    assert result.status == 2
    assert "the probe failed in" in result.err


@pytest.mark.parametrize(
    ("variable", "leave"), [("VIRTUAL_ENV", "deactivate"), ("CONDA_PREFIX", "conda deactivate")]
)
def test_activated_environment_that_is_gone(
    pkgdoctor: Runner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    leave: str,
) -> None:
    venv = make_venv(tmp_path / "venv")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    monkeypatch.setenv(variable, str(venv.prefix))
    assert pkgdoctor("check", "--json").status == 0
    import shutil

    shutil.rmtree(venv.prefix)
    result = pkgdoctor("check")
    assert result.status == 2
    assert result.err == (
        f"pkgdoctor: error: ${variable} points to {venv.prefix}, which does not exist (an "
        "environment deleted or moved while still activated in this shell): run "
        f"`{leave}`, or name the target with --python or --prefix\n"
    )


def test_pyenv_shim_without_the_version_says_what_to_type(
    pkgdoctor: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--python python3.X`` on a machine whose pyenv selects versions without it: pyenv's
    whole message, and the --python that names the interpreter (issue 10, "pyenv shims")."""
    shims = PYENV_VERSIONS.parent / "shims"
    other = _other_pyenv_python()
    if other is None or not shims.is_dir():
        pytest.skip("no pyenv with two Python 3 minor versions on this machine")
    name = other.name  # python3.12
    lacking = [v.name for v in PYENV_VERSIONS.iterdir() if not (v / "bin" / name).exists()]
    providing = sorted(PYENV_VERSIONS.glob(f"*/bin/{name}"))
    shim = shims / name
    if not lacking or not shim.exists():
        pytest.skip(f"pyenv has no shim {name}, or every version provides it")
    monkeypatch.setenv("PYENV_VERSION", lacking[0])
    monkeypatch.chdir(tmp_path)

    result = pkgdoctor("check", "--python", str(shim))
    assert result.status == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0] == (
        f"pkgdoctor: error: {shim} is a pyenv shim, and pyenv runs no {name} here; it said:"
    )
    assert f"    pyenv: {name}: command not found" in lines
    assert any("exists in these Python versions" in line for line in lines)
    assert any("pyenv help global" in line for line in lines)  # the whole message
    assert "Traceback" not in result.err
    if len(providing) == 1:
        assert lines[-1] == f"  check that Python with: --python {providing[0]}"
        # What it says to type works: the interpreter behind the shim is checked, live.
        typed = pkgdoctor("check", *shlex.split(lines[-1].partition(": ")[2]), "--json")
        assert typed.status in (0, 1), typed.err
        assert typed.json["target"]["mode"] == "live"
        assert typed.json["target"]["python"]["executable"] == str(providing[0])
    else:
        assert lines[-1].startswith("  check one of them with --python: ")
