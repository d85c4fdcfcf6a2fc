"""``path-user-site-leak`` in a real conda environment: conda keeps the user site on (no
pyvenv.cfg), so ``pip install --user`` from anywhere with the same Python version leaks in.

The environment is made by rattler (tests/conda_env.py); the user site is a real one under a
HOME in the test's directory, filled by the environment's own pip (``pip install --user``).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from artefacts import PY, run, write_wheel
from conda_env import Channels
from conftest import Runner


def test_user_site_leak_in_a_conda_env(
    conda_channels: Channels, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("PYTHONUSERBASE", raising=False)
    monkeypatch.delenv("PYTHONNOUSERSITE", raising=False)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # A numpy of the user site that hides the environment's conda numpy, and one more.
    write_wheel(wheels / "numpy-2.0-py3-none-any.whl", {"numpy/__init__.py": b"X = 2\n"})
    write_wheel(wheels / "leaky-1.0-py3-none-any.whl", {"leaky.py": b"X = 1\n"})
    pip = [str(env.python), "-m", "pip", "install", "-q", "--user", "--no-index",
           "--disable-pip-version-check", "--find-links", str(wheels)]  # fmt: skip
    run([*pip, "numpy==2.0", "leaky==1.0"])
    user_site = home / ".local" / "lib" / f"python{PY}" / "site-packages"
    assert (user_site / "leaky.py").exists()
    imported = [str(env.python), "-c", "import numpy; print(numpy.__file__)"]
    assert run(imported).stdout.strip() == str(user_site / "numpy" / "__init__.py")

    result = pkgdoctor("check", "--prefix", str(env.prefix), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "path-user-site-leak"]
    assert finding["message"] == (
        f"The user site-packages {user_site} is on sys.path of this conda environment and "
        "holds 2 distributions; its numpy is used instead of the conda environment's copies."
    )
    assert finding["command"] == "export PYTHONNOUSERSITE=1"
    assert finding["evidence"]["also_in_environment"] == [
        {"distribution": "numpy", "user_site": "2.0", "environment": "1.26.4", "used": "user site"}
    ]
    command = f"{env.prefix}/bin/python3 -m pip uninstall leaky numpy"
    assert finding["explanation"] == (
        "Ignore the user site in this conda environment (or run python -s; conda env config "
        f"vars set PYTHONNOUSERSITE=1 -p {env.prefix} keeps it set there); or remove them "
        f"from the user site with the environment's pip, which finds their copies there "
        f"first: {command}"
    )

    # export leaves the user site out, and says so.
    exported = pkgdoctor("export", "--prefix", str(env.prefix), "--format", "environment-yml")
    assert "# Not exported, installed outside the environment: leaky 1.0, numpy 2.0.\n" in (
        exported.out
    )
    assert f"  # numpy 2.0 also installed in {user_site} (not exported)\n" in exported.out
    assert "pip:" not in exported.out

    # The printed command, run in a shell before the environment's python and pkgdoctor.
    check = [sys.executable, "-m", "pkgdoctor", "check", "--prefix", str(env.prefix), "--json"]
    script = f"{finding['command']} && {shlex.join(imported)} && {shlex.join(check)}"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=os.environ)
    out, _, report = done.stdout.partition("\n")
    assert out == str(env.site_packages / "numpy" / "__init__.py")
    codes = [f["code"] for f in json.loads(report)["findings"]]
    assert "path-user-site-leak" not in codes

    # The other way, the uninstall the explanation names: the user site's copies go, the
    # environment's numpy stays and is imported again.
    run([*command.split(), "-y", "-q"])
    assert not (user_site / "leaky.py").exists()
    assert run(imported).stdout.strip() == str(env.site_packages / "numpy" / "__init__.py")
    after = pkgdoctor("check", "--prefix", str(env.prefix), "--json")
    assert "path-user-site-leak" not in after.codes()
