"""Editable installs whose source is gone, and a pip broken by an interrupted self-upgrade.

Real artefacts: projects installed with ``pip install -e`` (setuptools from the package
registry through pip's configuration) into venvs made by ``python -m venv`` (with pip), then
broken the way people break them; every fix a finding prints is run here and fixes it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from artefacts import Venv, run, write_dist_info
from conftest import Runner


def venv_with_pip(path: Path) -> Venv:
    """A venv with the pip that ``ensurepip`` bundles (offline)."""
    run([sys.executable, "-m", "venv", str(path)])
    return Venv(path)


def project(root: Path, name: str, *, module: str | None = None) -> Path:
    """A tiny setuptools project: ``src/NAME/__init__.py`` (setuptools makes it a
    path-style editable, a ``.pth`` line), or one flat ``MODULE.py`` (a finder)."""
    root.mkdir()
    extra = f'[tool.setuptools]\npy-modules = ["{module}"]\n' if module else ""
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n{extra}'
    )
    if module:
        (root / f"{module}.py").write_text("X = 1\n")
    else:
        (root / "src" / name).mkdir(parents=True)
        (root / "src" / name / "__init__.py").write_text("X = 1\n")
    return root


def pip_env() -> dict[str, str]:
    return dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")


def shell(command: str) -> None:
    """Run a printed fix command as a user pastes it."""
    proc = subprocess.run(
        command, shell=True, capture_output=True, text=True, env=pip_env(), check=False
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"


def python_of(venv: Venv, fix: str) -> str:
    """The interpreter a fix names: the venv's (``bin/python3`` as the probe reports it)."""
    exe = fix.split(" ", 1)[0]
    assert Path(exe).parent == venv.prefix / "bin" and Path(exe).name.startswith("python"), fix
    return exe


def findings(result: Any, code: str) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["code"] == code]


def test_editable_install_whose_source_is_deleted(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = venv_with_pip(tmp_path / "env")
    field = project(tmp_path / "fieldproj", "fieldproj")
    flat = project(tmp_path / "flatproj", "flatproj", module="flatmod")
    run(
        [str(venv.python), "-m", "pip", "install", "-q", "-e", str(field), "-e", str(flat)],
        env=pip_env(),
    )
    run([str(venv.python), "-c", "import fieldproj, flatmod"])
    healthy = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert healthy.json["summary"]["error"] == 0 and healthy.json["summary"]["warning"] == 0
    # setuptools leaves src/fieldproj.egg-info, on sys.path with src/: the same install.
    assert not [f for f in healthy.json["findings"] if f["code"] == "dist-duplicate"]

    shutil.rmtree(field)
    shutil.rmtree(flat)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    found = {f["distribution"]: f for f in findings(result, "dist-editable-source-missing")}
    assert sorted(found) == ["fieldproj", "flatproj"]
    pth = venv.site_packages / "__editable__.fieldproj-0.1.pth"
    assert found["fieldproj"]["severity"] == "error"
    assert found["fieldproj"]["message"] == (
        f"fieldproj 0.1 is installed in editable mode, but its source {field / 'src'} is gone: "
        f"recorded in {pth}."
    )
    assert found["fieldproj"]["evidence"]["project"] == str(field)
    py = python_of(venv, found["fieldproj"]["command"])
    assert found["fieldproj"]["command"] == f"{py} -m pip uninstall -y fieldproj"
    assert found["fieldproj"]["explanation"] == (
        f"Uninstall it, or restore {field} and install it again: {py} -m pip install -e {field}"
    )
    assert found["flatproj"]["evidence"]["modules"] == ["flatmod"]
    assert found["flatproj"]["path"] == str(flat / "flatmod")

    why = pkgdoctor("why", "fieldproj", "--prefix", str(venv.prefix), "--json")
    assert why.status == 1
    assert [f["code"] for f in why.json["findings"]] == ["dist-editable-source-missing"]
    assert why.json["findings"][0]["distribution"] == "fieldproj"
    text = pkgdoctor("why", "flatmod", "--prefix", str(venv.prefix)).out
    assert "Nothing provides" not in text
    assert "flatproj 0.1 is installed in editable mode, but its source" in text

    for finding in found.values():  # the printed command, as pasted
        shell(finding["command"])
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert findings(after, "dist-editable-source-missing") == []
    assert after.json["summary"]["error"] == 0


def test_egg_link_and_plain_pth_line_to_deleted_directories(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    venv = venv_with_pip(tmp_path / "env")
    site = venv.site_packages
    # What setuptools' develop (legacy ``pip install -e``) writes: NAME.egg-link with the
    # source directory, and the same directory as a line of easy-install.pth.
    legacy = tmp_path / "legacy"
    (site / "legacy.egg-link").write_text(f"{legacy}\n.")
    (site / "easy-install.pth").write_text(f"{legacy}\n")
    (site / "extra.pth").write_text(f"{tmp_path / 'gone'}\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    by_path = {f["path"]: f for f in findings(result, "dist-editable-source-missing")}
    assert sorted(by_path) == [str(tmp_path / "gone"), str(legacy)]
    link = by_path[str(legacy)]
    assert link["severity"] == "error" and link["distribution"] == "legacy"
    assert link["command"] is None  # two places to edit: said in words
    assert link["explanation"].startswith(
        f"Remove {site / 'legacy.egg-link'}, and remove the line {legacy}"
    )
    plain = by_path[str(tmp_path / "gone")]
    assert plain["severity"] == "warning" and plain["distribution"] is None
    assert plain["evidence"]["recorded_in"] == [str(site / "extra.pth")]


def break_pip_self_upgrade(venv: Venv) -> None:
    """What pip's rollback leaves of an interrupted ``pip install -U pip``: the old package
    stashed as ``~ip``, its dist-info gone."""
    site = venv.site_packages
    (site / "pip").rename(site / "~ip")
    for dist_info in site.glob("pip-*.dist-info"):
        shutil.rmtree(dist_info)


def test_pip_broken_by_an_interrupted_self_upgrade(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = venv_with_pip(tmp_path / "env")
    write_dist_info(venv.site_packages, "needy", "1.0", [])
    metadata = venv.site_packages / "needy-1.0.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().rstrip("\n") + "\nRequires-Dist: notthere\n\n")
    before = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    py = python_of(venv, findings(before, "dist-requirement-missing")[0]["command"])
    assert findings(before, "dist-requirement-missing")[0]["command"] == (
        f"{py} -m pip install notthere"
    )

    break_pip_self_upgrade(venv)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    leftover = findings(result, "dist-partial-uninstall")[0]
    stash = shlex.quote(str(venv.site_packages / "~ip"))
    assert leftover["command"] == f"rm -rf {stash} && {py} -m ensurepip --upgrade"
    missing = findings(result, "dist-requirement-missing")[0]
    assert missing["command"] == f"{py} -m ensurepip --upgrade && {py} -m pip install notthere"
    for finding in result.json["findings"]:  # no fix calls the broken pip first
        assert not (finding["command"] or "").startswith(f"{py} -m pip"), finding

    shell(leftover["command"])
    run([str(py), "-m", "pip", "--version"])
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert findings(after, "dist-partial-uninstall") == []
    assert findings(after, "dist-requirement-missing")[0]["command"] == (
        f"{py} -m pip install notthere"
    )


def test_pip_package_gone_but_metadata_left(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = venv_with_pip(tmp_path / "env")
    shutil.rmtree(venv.site_packages / "pip")
    (dist_info,) = venv.site_packages.glob("pip-*.dist-info")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    missing = [f for f in findings(result, "record-missing-file") if f["distribution"] == "pip"]
    py = python_of(venv, missing[0]["command"].split(" && ")[1])
    # ensurepip alone would find pip "already satisfied" and do nothing.
    assert missing[0]["command"] == f"rm -rf {dist_info} && {py} -m ensurepip --upgrade"
    shell(missing[0]["command"])
    run([str(py), "-m", "pip", "--version"])
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert after.json["summary"]["error"] == 0
