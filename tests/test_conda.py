"""conda environments: the facts pkgdoctor reads from a real prefix (look/conda.py).

Every environment here is real: made by rattler from local channels of real packages
(tests/conda_env.py), its python runs, its records are what rattler wrote.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conda_env import Channels
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
