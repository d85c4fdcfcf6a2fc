"""``export``, ``diff``, ``snapshot`` and ``report`` of real conda environments.

The environments are made by rattler from local channels (tests/conda_env.py): a
``conda-forge`` channel (python, pip, libblas, numpy 1.26.4 and a small ``tinypkg`` 1.0) and a
``pkgs/main`` channel with another build of numpy 1.26.4. pip then installs on top from
local wheels, as people do: ``tinypkg`` 2.0 over conda's 1.0, and ``pipextra``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from artefacts import Wheelhouse, make_venv, run, write_wheel
from conda_env import PY_BUILD, Channels, CondaEnv
from conftest import Runner
from pkgdoctor.conda_owners import conda_owners
from pkgdoctor.look import collect
from pkgdoctor.snapshot import codec
from pkgdoctor.snapshot.model import conda_channel
from pkgdoctor.target import find_target

MAIN_BUILD = "py311h_main_0".replace("311", PY_BUILD[2:-2])


@dataclass(frozen=True)
class Setup:
    channels: Channels
    wheels: Path  # the wheels pip installs from (--find-links)


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, conda_channels: Channels, wheelhouse: Wheelhouse
) -> Setup:
    root = tmp_path_factory.mktemp("conda-export")
    channels = Channels(root / "channels")
    # The session's conda-forge packages (python takes seconds to pack), copied.
    for package in (conda_channels.directory("conda-forge") / "linux-64").glob("*.conda"):
        (channels.directory("conda-forge") / "linux-64").mkdir(parents=True, exist_ok=True)
        shutil.copy(package, channels.directory("conda-forge") / "linux-64")
    wheels = root / "wheels"
    wheels.mkdir()
    tiny1 = write_wheel(root / "tinypkg-1.0-py3-none-any.whl", {"tinypkg.py": b"V = 1\n"})
    channels.from_wheel("conda-forge", tiny1)
    write_wheel(wheels / "tinypkg-2.0-py3-none-any.whl", {"tinypkg.py": b"V = 2\n"})
    write_wheel(wheels / "pipextra-1.0-py3-none-any.whl", {"pipextra.py": b"X = 1\n"})
    numpy = next(wheelhouse.fetch("numpy==1.26.4").glob("numpy-*.whl"))
    channels.from_wheel("pkgs/main", numpy, depends=["libblas >=3.9.0,<4.0a0"], build=MAIN_BUILD)
    return Setup(channels, wheels)


def pip_install(env: CondaEnv, wheels: Path, *args: str) -> None:
    run([str(env.python), "-m", "pip", "install", "-q", "--no-index", "--find-links",
         str(wheels), "--disable-pip-version-check", *args])  # fmt: skip


def make_env(setup: Setup, prefix: Path) -> CondaEnv:
    """numpy from pkgs/main, the rest from conda-forge; pip's tinypkg 2.0 over conda's 1.0."""
    env = setup.channels.create(
        prefix,
        ["python", "pip", f"{setup.channels.url('pkgs/main')}::numpy", "tinypkg"],
        channels=["conda-forge", "pkgs/main"],
    )
    pip_install(env, setup.wheels, "tinypkg==2.0", "pipextra==1.0")
    return env


def test_environment_yml_recreates_the_environment(
    setup: Setup, tmp_path: Path, pkgdoctor: Runner
) -> None:
    env = make_env(setup, tmp_path / "env")
    out = tmp_path / "environment.yml"
    result = pkgdoctor(
        "export", "--prefix", str(env.prefix), "--format", "environment-yml", "-o", str(out)
    )
    assert result.status == 0, result.err
    text = out.read_text()
    doc = yaml.safe_load(text)
    forge, main = setup.channels.url("conda-forge"), setup.channels.url("pkgs/main")
    python = env.record("python")
    pip_record = env.record("pip")
    assert doc["channels"] == [forge, main]  # 4 packages from conda-forge, 1 from pkgs/main
    assert doc["dependencies"] == [
        "libblas=3.9.0=20_linux64_openblas",
        f"{main}::numpy=1.26.4={MAIN_BUILD}",
        f"pip={pip_record['version']}={PY_BUILD}",
        f"python={python['version']}=h_0_cpython",
        f"tinypkg=1.0={PY_BUILD}",
        {"pip": ["pipextra==1.0", "tinypkg==2.0"]},
    ]
    assert "# platform: linux-64\n" in text
    # The project both installed: said on both lines, with which copy import gets.
    assert (
        f"  - tinypkg=1.0={PY_BUILD}  # tinypkg 2.0 also installed by pip (pip: section)\n" in text
    )
    assert (
        "      # replaced conda's tinypkg=1.0 (its files are gone): import uses this one\n"
        "      - tinypkg==2.0\n"
    ) in text

    # Recreate it as conda env create would: solve the conda specs from the file's channels,
    # then pip install its pip: section (conda writes it to a requirements file).
    specs = [d for d in doc["dependencies"] if isinstance(d, str)]
    (section,) = [d["pip"] for d in doc["dependencies"] if isinstance(d, dict)]
    again = setup.channels.create(tmp_path / "again", specs, channels=doc["channels"])
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{line}\n" for line in section))
    pip_install(again, setup.wheels, "-r", str(requirements))
    diff = pkgdoctor("diff", str(env.prefix), str(again.prefix))
    assert (diff.status, diff.out.splitlines()[-1]) == (0, "No differences that matter."), diff.out


def test_diff_of_conda_environments(setup: Setup, tmp_path: Path, pkgdoctor: Runner) -> None:
    """A: numpy from conda-forge, conda's tinypkg 1.0. B: numpy 1.26.4 of pkgs/main (same
    version, another build and channel), pip's tinypkg 2.0 over conda's, pipextra from pip,
    and libblas (not Python) missing its library."""
    a = setup.channels.create(tmp_path / "a", ["python", "pip", "numpy", "tinypkg"])
    b = make_env(setup, tmp_path / "b")
    (b.prefix / "lib" / "libblas.so.3").unlink()
    result = pkgdoctor("diff", str(a.prefix), str(b.prefix), "--json")
    assert result.status == 1
    doc = result.json
    assert (doc["a"]["conda_packages"], doc["b"]["conda_packages"]) == (5, 5)
    conda = {(c["subject"], c["aspect"]): c for c in doc["changes"]}
    numpy = conda["numpy", "conda build, channel"]
    assert (numpy["a"], numpy["b"]) == (
        f"conda-forge/linux-64::numpy=1.26.4={PY_BUILD}",
        f"pkgs/main/linux-64::numpy=1.26.4={MAIN_BUILD}",
    )
    over = conda["tinypkg", "installed over conda"]
    assert (over["a"], over["b"]) == (None, "tinypkg 2.0 (installed by pip) replaced")
    blas = conda["libblas", "conda files missing in B"]
    assert blas["items"] == ["lib/libblas.so.3"]
    text = pkgdoctor("diff", str(a.prefix), str(b.prefix)).out
    assert (
        "Distributions  (5)\n"
        "  ≠ tinypkg: tinypkg 2.0 (installed by pip) replaced conda's tinypkg 1.0 in B\n"
        "  ≠ tinypkg: version 1.0 in A, 2.0 in B\n"
        "  + pipextra 1.0 is only in B\n"
        f"  ≠ conda numpy: 1.26.4={PY_BUILD} from conda-forge in A, 1.26.4={MAIN_BUILD} from "
        "pkgs/main in B\n"
        "  ≠ tinypkg 2.0: installed by conda in A, pip in B\n"
        "Files  (2)\n"
        "  - conda package libblas: 1 file missing in B\n"
        "      lib/libblas.so.3\n"
        "  - conda package tinypkg: 4 files missing in B\n"
    ) in text, text
    # A plain venv on one side: one line, not every package of the other.
    venv = make_venv(tmp_path / "venv")
    changes = pkgdoctor("diff", str(venv.prefix), str(a.prefix), "--json").json["changes"]
    (whole,) = [c for c in changes if c["subject"] == "conda"]
    assert (whole["kind"], whole["summary"]) == (
        "only-b",
        "only B is a conda environment (5 conda packages)",
    )
    assert [c["aspect"] for c in changes if "conda" in c["aspect"]] == ["conda environment"]


def test_snapshot_check_from_and_report(setup: Setup, tmp_path: Path, pkgdoctor: Runner) -> None:
    env = make_env(setup, tmp_path / "env")
    saved = tmp_path / "env.json.gz"
    assert pkgdoctor("snapshot", "--prefix", str(env.prefix), "-o", str(saved)).status == 0
    recorded = codec.read(str(saved))
    live = collect(find_target(prefix=str(env.prefix)))
    assert recorded.conda is not None and live.conda is not None
    assert recorded.conda == live.conda  # every record, file, history line and pin
    assert {r.name for r in recorded.conda.records} == {
        "libblas", "numpy", "pip", "python", "tinypkg"
    }  # fmt: skip
    # check (replayed from its own recording by the runner) and check --from agree.
    checked = pkgdoctor("check", "--prefix", str(env.prefix))
    again = pkgdoctor("check", "--from", str(saved))
    assert again.status == checked.status
    for fmt in ("environment-yml", "requirements"):
        exported = pkgdoctor("export", "--prefix", str(env.prefix), "--format", fmt).out
        assert pkgdoctor("export", "--from", str(saved), "--format", fmt).out == exported
    diff = pkgdoctor("diff", str(saved), str(env.prefix))
    assert diff.status == 0, diff.out

    report = pkgdoctor("report", "--prefix", str(env.prefix), "--markdown").out
    assert (
        "#### Conda environment\n\n"
        "```text\n"
        "packages    5 (3 with Python distributions, 2 without)\n"
        "channels    conda-forge (4), pkgs/main (1)\n"
        "pip on top  2: pipextra 1.0 (pip), tinypkg 2.0 (pip, over conda's 1.0)\n"
        "```\n"
    ) in report, report
    plain = pkgdoctor("report", "--prefix", str(env.prefix)).out
    assert "\nConda environment:\npackages    5 (3 with Python" in plain


def test_a_project_conda_and_pip_both_installed(
    setup: Setup, tmp_path: Path, pkgdoctor: Runner
) -> None:
    """pip install --ignore-installed leaves conda's dist-info beside its own: both copies'
    metadata in one directory, the module file pip's."""
    env = setup.channels.create(tmp_path / "env", ["python", "pip", "tinypkg"])
    pip_install(env, setup.wheels, "--ignore-installed", "tinypkg==2.0")
    snapshot = collect(find_target(prefix=str(env.prefix)))
    owners = conda_owners(snapshot)
    assert owners is not None
    assert [(r.name, str(d)) for r, d in owners.both] == [("tinypkg", "tinypkg 2.0")]
    assert not owners.replaced
    text = pkgdoctor("export", "--prefix", str(env.prefix), "--format", "environment-yml").out
    winner = snapshot.inventory.by_key["tinypkg"]
    assert (
        f"  - tinypkg=1.0={PY_BUILD}  # tinypkg 2.0 also installed by pip (pip: section)\n"
        "  - pip:\n"
        "      # installed beside conda's tinypkg=1.0 in one directory: import uses the files "
        f"written last; importlib.metadata and pip see {winner}\n"
        "      - tinypkg==2.0\n"
    ) in text, text


@pytest.mark.parametrize(
    ("recorded", "written"),
    [
        ("https://conda.anaconda.org/conda-forge/linux-64", "conda-forge"),
        ("https://conda.anaconda.org/conda-forge", "conda-forge"),
        ("https://repo.anaconda.com/pkgs/main/noarch", "pkgs/main"),
        ("conda-forge", "conda-forge"),  # a record of conda < 4.6
        ("https://mirror.example/anaconda/cloud/conda-forge/linux-64",
         "https://mirror.example/anaconda/cloud/conda-forge"),
        ("file:///srv/channels/pkgs/main/", "file:///srv/channels/pkgs/main"),
    ],
)  # fmt: skip
def test_channels_are_written_as_conda_env_export_writes_them(recorded: str, written: str) -> None:
    assert conda_channel(recorded) == written
