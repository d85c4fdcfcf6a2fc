"""conda environments: the facts pkgdoctor reads from a real prefix (look/conda.py).

Every environment here is real: made by rattler from local channels of real packages
(tests/conda_env.py), its python runs, its records are what rattler wrote.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from artefacts import PY_NODOT, Wheelhouse, run
from conda_env import Channels, CondaEnv, run_fix
from conftest import Runner
from pkgdoctor.look import conda as look_conda
from pkgdoctor.target import static


def test_the_records_of_a_real_environment(conda_channels: Channels, tmp_path: Path) -> None:
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    out = subprocess.run(
        [str(env.python), "-c", "import sys, numpy; print(sys.prefix, numpy.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == [str(env.prefix), "1.26.4"]
    target = static.read_static(str(env.prefix), "test")
    facts = look_conda.collect(target)
    assert facts is not None
    names = {r.name: r for r in facts.records}
    assert set(names) == {"python", "pip", "numpy", "libblas"}
    numpy = names["numpy"]
    assert numpy.channel_name == "conda-forge"
    assert numpy.subdir == "linux-64"
    assert numpy.link_type == "hardlink"
    assert "libblas >=3.9.0,<4.0a0" in numpy.depends
    assert numpy.requested == ("numpy",)
    assert not numpy.missing and not numpy.altered
    assert all(f.sha256 for f in numpy.files)
    assert facts.history is not None and facts.history.revisions == 1
    assert set(facts.history.requested) == {"python", "pip", "numpy"}
    assert facts.pinned is None


def _pip(env: CondaEnv, *args: str) -> None:
    """The environment's own pip, offline: only the wheels the test fetched."""
    run([str(env.python), "-m", "pip", "--isolated", "--disable-pip-version-check", *args])


def test_pip_over_condas_numpy(
    conda_channels: Channels, wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """`pip install numpy==2.2.4` in a conda environment whose numpy 1.26.4 came from
    conda-forge: pip uninstalls conda's distribution through its RECORD and installs its own;
    conda still records 1.26.4. Before, check said "No problems found"."""
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    healthy = pkgdoctor("check", "--python", str(env.python), "--json")
    assert healthy.status == 0 and healthy.codes() == []
    wheels = wheelhouse.fetch("numpy==2.2.4")
    _pip(env, "install", "--no-index", "--find-links", str(wheels), "numpy==2.2.4")

    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "conda-pip-clobber"]
    assert finding["severity"] == "warning"
    evidence = finding["evidence"]
    assert evidence["conda_package"] == "numpy-1.26.4-py311_0".replace("311", PY_NODOT)
    assert evidence["pip_version"] == "2.2.4" and evidence["installer"] == "pip"
    assert evidence["overwritten"] > 100 and evidence["removed"] > 10
    assert "numpy-1.26.4.dist-info/METADATA" in " ".join(evidence["removed_files"])
    assert "conda list` shows numpy twice" in finding["message"]
    text = pkgdoctor("check", "--python", str(env.python))
    assert "pip replaced conda's numpy 1.26.4 (conda-forge, build" in text.out

    # The fix, as printed: pip takes its numpy away, conda links its own again.
    run_fix(conda_channels, finding["command"])
    after = pkgdoctor("check", "--python", str(env.python), "--json")
    assert after.codes() == []
    out = run([str(env.python), "-c", "import numpy; print(numpy.__version__)"])
    assert out.stdout.strip() == "1.26.4"
