"""The venv's own integrity (checks/venv.py), on real venvs broken the way people break them:
the base interpreter uninstalled, ``bin/python`` re-pointed at another minor version, the
venv moved or copied. Each printed fix is run and the finding is gone afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artefacts import Venv, make_venv, run
from conftest import Runner
from wheel_artefacts import make_wheel

PYENV = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def _pyenv_python(minor: str) -> str:
    found = sorted(glob.glob(f"{PYENV}/versions/{minor}.*/bin/python{minor}"))
    if not found:
        pytest.skip(f"no Python {minor} under {PYENV}/versions")
    return found[-1]


def _venv_findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["code"].startswith("venv-")]


def _run_fix(finding: dict[str, Any], env: dict[str, str] | None = None) -> str:
    command: str = finding["command"]
    assert command, finding
    subprocess.run(command, shell=True, check=True, timeout=120, env=env)
    return command


def test_healthy_venvs_have_no_venv_findings(tmp_path: Path, pkgdoctor: Runner) -> None:
    """python -m venv (with and without pip) and uv venv: nothing to say."""
    plain = make_venv(tmp_path / "plain")
    with_pip = tmp_path / "with-pip"
    run([sys.executable, "-m", "venv", str(with_pip)])
    prefixes = [plain.prefix, with_pip]
    uv = shutil.which("uv", path=os.path.dirname(sys.executable))
    if uv is not None:
        run([uv, "venv", "-q", "--python", sys.executable, str(tmp_path / "uv")])
        prefixes.append(tmp_path / "uv")
    for prefix in prefixes:
        result = pkgdoctor("check", "--prefix", str(prefix), "--json", "--no-cache")
        assert _venv_findings(result.json) == [], prefix


def test_base_interpreter_gone(tmp_path: Path, pkgdoctor: Runner) -> None:
    """What an uninstalled pyenv version leaves: pyvenv.cfg's home and the bin/python links
    point into a directory that is gone. The check reads the tree statically and says to
    recreate the venv with a Python of the same minor version; doing so keeps the packages."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "kept.py").write_text("VALUE = 42\n")
    cfg = venv.prefix / "pyvenv.cfg"
    gone = tmp_path / "uninstalled" / "bin"
    lines = cfg.read_text().splitlines()
    cfg.write_text(
        "\n".join(f"home = {gone}" if line.startswith("home") else line for line in lines) + "\n"
    )
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    real_name = f"python{minor}"
    (venv.prefix / "bin" / real_name).unlink()
    (venv.prefix / "bin" / real_name).symlink_to(gone / real_name)

    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    assert result.status == 1
    document = result.json
    assert document["target"]["mode"] == "static"
    (finding,) = _venv_findings(document)
    assert finding["code"] == "venv-base-missing"
    assert finding["severity"] == "error"
    assert finding["message"].startswith(
        f"The venv's base interpreter is gone: pyvenv.cfg's home {gone} does not exist"
    )
    assert finding["evidence"]["home"] == str(gone)
    assert finding["explanation"].startswith(f"Recreate the venv with a Python {minor} (found: ")
    command = _run_fix(finding)
    assert f" -m venv --without-pip {venv.prefix}" in command

    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    assert after.json["target"]["mode"] == "live"
    assert _venv_findings(after.json) == []
    kept = run([str(venv.python), "-c", "import kept; print(kept.VALUE)"])
    assert kept.stdout == "42\n"


def test_venv_for_another_python(tmp_path: Path, pkgdoctor: Runner) -> None:
    """A venv made with 3.11 whose python links now resolve to 3.12: 3.12 starts, but never
    reads lib/python3.11/site-packages."""
    py311, py312 = _pyenv_python("3.11"), _pyenv_python("3.12")
    prefix = tmp_path / "env"
    run([py311, "-m", "venv", "--without-pip", str(prefix)])
    site = prefix / "lib/python3.11/site-packages"
    (site / "kept.py").write_text("VALUE = 42\n")
    for name in ("python", "python3", "python3.11"):
        (prefix / "bin" / name).unlink()
        (prefix / "bin" / name).symlink_to(py312)

    result = pkgdoctor("check", "--prefix", str(prefix), "--json", "--no-cache")
    assert result.status == 1
    (finding,) = _venv_findings(result.json)
    made_for = finding["evidence"]["made for"]
    assert made_for.startswith("3.11.")
    assert finding == {
        **finding,
        "code": "venv-python-mismatch",
        "severity": "error",
        "message": f"This venv was made for Python {made_for} (pyvenv.cfg), but bin/python now "
        f"runs Python 3.12 ({py312}): Python 3.12 never reads {site} (0 distributions).",
        "evidence": {
            "made for": made_for,
            "bin/python runs": "3.12",
            "bin/python resolves to": py312,
            "unread site-packages": [str(site)],
        },
    }
    command = _run_fix(finding)
    assert command.startswith(f"rm -f {prefix}/bin/python {prefix}/bin/python3 ")

    after = pkgdoctor("check", "--prefix", str(prefix), "--json", "--no-cache")
    assert after.json["target"]["python"]["version"].startswith("3.11.")
    assert _venv_findings(after.json) == []
    kept = run([str(prefix / "bin/python"), "-c", "import kept; print(kept.VALUE)"])
    assert kept.stdout == "42\n"


def test_moved_and_copied_venv(tmp_path: Path, pkgdoctor: Runner) -> None:
    """``cp -a`` keeps the scripts' #! lines on the original (pip installs there); ``mv``
    leaves them pointing at nothing ("bad interpreter"). Reinstalling the owning
    distributions with the venv's own Python writes them anew."""
    original = tmp_path / "original"
    run([sys.executable, "-m", "venv", str(original)])
    before = pkgdoctor("check", "--prefix", str(original), "--json", "--no-cache")
    assert _venv_findings(before.json) == []
    old_python = Path(next(iter(glob.glob(f"{original}/bin/python3.*"))))
    scripts = sorted(
        p.name for p in (original / "bin").iterdir() if p.name.startswith("pip")
    )  # pip, pip3, pip3.X
    copied, moved = tmp_path / "copied", tmp_path / "moved"
    run(["cp", "-a", str(original), str(copied)])

    copy = pkgdoctor("check", "--prefix", str(copied), "--json", "--no-cache")
    assert copy.status == 1
    (finding,) = _venv_findings(copy.json)
    assert finding["code"] == "venv-script-interpreter-foreign"
    assert finding["evidence"]["scripts"] == scripts
    assert finding["evidence"]["interpreter"] == str(old_python)
    assert finding["message"].startswith(
        f"Scripts {', '.join(scripts)} in {copied}/bin run {old_python}, another "
        "environment's interpreter (the venv was copied from there)"
    )

    original.rename(moved)
    move = pkgdoctor("check", "--prefix", str(moved), "--json", "--no-cache")
    assert move.status == 1
    (missing,) = _venv_findings(move.json)
    assert missing["code"] == "venv-script-interpreter-missing"
    assert missing["evidence"]["scripts"] == scripts
    assert missing["message"].endswith('running them fails with "bad interpreter".')
    # exec fails with ENOENT for the missing interpreter; a shell says "bad interpreter".
    with pytest.raises(FileNotFoundError):
        subprocess.run([str(moved / "bin/pip"), "--version"], capture_output=True, timeout=60)

    # pip's own wheel, as ensurepip ships it: the fix reinstalls it without a network.
    import ensurepip

    bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=bundled)
    env.pop("PIP_CONFIG_FILE", None)
    for prefix, item in ((copied, finding), (moved, missing)):
        command = _run_fix(item, env)
        assert command.startswith(f"{prefix}/bin/python -m pip install --force-reinstall ")
        after = pkgdoctor("check", "--prefix", str(prefix), "--json", "--no-cache")
        assert _venv_findings(after.json) == []
        works = run([str(prefix / "bin/pip"), "--version"])
        assert f"{prefix}/lib/" in works.stdout


def test_base_gone_and_no_python_of_that_version(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no Python of the venv's minor version on the machine (no pyenv, nothing on
    PATH), the fix says to install one first and names it in the command."""
    venv = make_venv(tmp_path / "env")
    cfg = venv.prefix / "pyvenv.cfg"
    gone = tmp_path / "uninstalled" / "bin"
    lines = cfg.read_text().splitlines()
    cfg.write_text(
        "\n".join(f"home = {gone}" if line.startswith("home") else line for line in lines) + "\n"
    )
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    (venv.prefix / "bin" / f"python{minor}").unlink()
    (venv.prefix / "bin" / f"python{minor}").symlink_to(gone / f"python{minor}")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))

    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    (finding,) = _venv_findings(result.json)
    assert finding["code"] == "venv-base-missing"
    prefix = venv.prefix
    assert finding["command"] is None
    assert finding["explanation"] == (
        f"Recreate the venv with a Python {minor}: none was found on this machine "
        f"(pyvenv.cfg's home, pyenv's versions, PATH), so install one first (pyenv install "
        f"{minor}, or your package manager's python{minor}); its installed packages are for "
        f"{minor} and stay: rm -f {prefix}/bin/python {prefix}/bin/python3 "
        f"{prefix}/bin/python{minor} && python{minor} -m venv --without-pip {prefix}"
    )


def test_static_check_sees_the_other_version(tmp_path: Path, pkgdoctor: Runner) -> None:
    """--static runs nothing: the version bin/python runs is read from the name of the file
    it resolves to."""
    py311, py312 = _pyenv_python("3.11"), _pyenv_python("3.12")
    prefix = tmp_path / "env"
    run([py311, "-m", "venv", "--without-pip", str(prefix)])
    for name in ("python", "python3", "python3.11"):
        (prefix / "bin" / name).unlink()
        (prefix / "bin" / name).symlink_to(py312)
    result = pkgdoctor("check", "--prefix", str(prefix), "--static", "--json", "--no-cache")
    (finding,) = _venv_findings(result.json)
    assert finding["code"] == "venv-python-mismatch"
    assert finding["evidence"]["bin/python runs"] == "3.12"


def test_venv_of_another_machine_is_not_said_to_lack_its_base(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    """A loongarch64 venv copied here: its home is the other machine's; the interpreter is a
    real (foreign) executable, so nothing says its base is gone."""
    from artefacts import loongarch_interpreter

    prefix = tmp_path / "loong"
    loongarch_interpreter(prefix / "bin" / "python3.10")
    (prefix / "bin" / "python3").symlink_to("python3.10")
    (prefix / "lib" / "python3.10" / "site-packages").mkdir(parents=True)
    (prefix / "pyvenv.cfg").write_text(
        "home = /opt/loong/python/bin\ninclude-system-site-packages = false\nversion = 3.10.4\n"
    )
    result = pkgdoctor("check", "--prefix", str(prefix), "--json", "--no-cache")
    assert result.json["target"]["mode"] == "static"
    assert _venv_findings(result.json) == []


def test_fixes_in_a_uv_venv_without_pip_go_through_uv(tmp_path: Path, pkgdoctor: Runner) -> None:
    """``python -m pip`` cannot work in a venv uv made (no pip in it): the command is
    ``uv pip``, with pip's options, and it works as printed."""
    uv = shutil.which("uv", path=os.path.dirname(sys.executable))
    assert uv is not None, "uv is a test requirement"
    prefix = tmp_path / "uvenv"
    run([uv, "venv", "-q", "--python", sys.executable, str(prefix)])
    wheel = make_wheel(tmp_path / "dist", "uvdemo", "1.0")
    run([uv, "pip", "install", "-q", "--python", str(prefix / "bin/python"), str(wheel)])
    site = Venv(prefix).site_packages
    (site / "uvdemo" / "__init__.py").unlink()
    result = pkgdoctor("check", "--prefix", str(prefix), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "record-missing-file"]
    command = finding["command"]
    assert command.startswith("uv pip install --python "), command
    assert command.endswith(" --force-reinstall --no-deps uvdemo==1.0")
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(uv)}:{os.environ['PATH']}",
        "UV_FIND_LINKS": str(wheel.parent),
        "UV_OFFLINE": "1",
    }
    _run_fix(finding, env)
    after = pkgdoctor("check", "--prefix", str(prefix), "--json")
    assert after.json["summary"]["error"] == 0 and after.json["summary"]["warning"] == 0
