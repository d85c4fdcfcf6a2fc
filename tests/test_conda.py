"""conda environments: the facts pkgdoctor reads from a real prefix (look/conda.py).

Every environment here is real: made by rattler from local channels of real packages
(tests/conda_env.py), its python runs, its records are what rattler wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from artefacts import PY, PY_NODOT, Wheelhouse, compile_library, run
from conda_env import Channels, CondaEnv, run_fix
from conftest import Runner
from pkgdoctor.look import conda as look_conda
from pkgdoctor.target import static
from pkgdoctor.target.facts import Interpreter, Target


def test_the_records_of_a_real_environment(conda_channels: Channels, tmp_path: Path) -> None:
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    out = subprocess.run(
        [str(env.python), "-c", "import sys, numpy; print(sys.prefix, numpy.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == [str(env.prefix), "1.26.4"]
    target = static.read_static(str(env.prefix), "test")
    # The full version, from conda's python record (the files say only 3.X).
    assert target.interpreter.version == tuple(sys.version_info[:3])
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
    assert "conda-file-unowned" not in result.codes()  # pip's new numpy files are pip's

    # The fix, as printed: pip takes its numpy away, conda links its own again.
    run_fix(conda_channels, finding["command"])
    after = pkgdoctor("check", "--python", str(env.python), "--json")
    assert after.codes() == []
    out = run([str(env.python), "-c", "import numpy; print(numpy.__version__)"])
    assert out.stdout.strip() == "1.26.4"


def test_pip_user_install_over_condas_numpy(
    conda_channels: Channels,
    wheelhouse: Wheelhouse,
    pkgdoctor: Runner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pip install --user numpy==2.2.4` with conda's numpy 1.26.4 in place: conda keeps the
    user site on, so pip's copy shadows conda's. The leaking user site is the cause: the
    duplicate is its evidence, and its fix brings conda's numpy back."""
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    monkeypatch.setenv("PYTHONUSERBASE", str(tmp_path / "userbase"))
    wheels = wheelhouse.fetch("numpy==2.2.4")
    _pip(env, "install", "--user", "--no-index", "--find-links", str(wheels), "numpy==2.2.4")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    assert "conda-pip-clobber" not in result.codes()  # conda's files are all in place
    assert "dist-duplicate" not in result.codes()
    (leak,) = [f for f in result.json["findings"] if f["code"] == "path-user-site-leak"]
    (duplicate,) = leak["evidence"]["duplicates"]
    assert duplicate["conda_package"].startswith("numpy-1.26.4-")
    assert leak["command"] == "export PYTHONNOUSERSITE=1"
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    out = run([str(env.python), "-c", "import numpy; print(numpy.__version__)"])
    assert out.stdout.strip() == "1.26.4"
    after = pkgdoctor("check", "--python", str(env.python), "--json")
    assert after.codes() == []


def test_pip_ignore_installed_over_condas_numpy(
    conda_channels: Channels, wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """`pip install --ignore-installed numpy==2.2.4`: pip writes over conda's files without
    uninstalling conda's distribution; both metadata directories stay."""
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    wheels = wheelhouse.fetch("numpy==2.2.4")
    _pip(env, "install", "--ignore-installed", "--no-index", "--find-links", str(wheels),
         "numpy==2.2.4")  # fmt: skip
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    assert "dist-duplicate" not in result.codes()
    (finding,) = [f for f in result.json["findings"] if f["code"] == "conda-pip-clobber"]
    assert "pip overwrote" in finding["message"] and "numpy 2.2.4" in finding["message"]
    run_fix(conda_channels, finding["command"])
    out = run([str(env.python), "-c", "import numpy; print(numpy.__version__)"])
    assert out.stdout.strip() == "1.26.4"
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []


def test_defaults_and_conda_forge_mixed(
    conda_channels: Channels, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """A package from Anaconda's pkgs/main in an environment of conda-forge packages."""
    channels = Channels(tmp_path / "channels")
    for source in sorted(conda_channels.directory("conda-forge").glob("linux-64/*.conda")):
        target = channels.directory("conda-forge") / "linux-64" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.hardlink_to(source)
    lib = compile_library(tmp_path / "z", "libz.so.1")
    channels.package("pkgs/main", "zlib", "1.3.1", "h0_0", {"lib/libz.so.1": lib})
    env = channels.create(
        tmp_path / "env", ["python", "pip", "numpy", "zlib"], ["conda-forge", "pkgs/main"]
    )
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "conda-channels-mixed"]
    assert finding["evidence"]["channels"] == {"conda-forge": 4, "pkgs/main": 1}
    assert finding["evidence"]["runtimes"]["zlib"] == "pkgs/main"
    # The fix makes a new environment from conda-forge alone, with what was asked for (now
    # that conda-forge has a zlib too).
    assert "--override-channels -c conda-forge" in finding["command"]
    channels.package("conda-forge", "zlib", "1.3.1", "h0_0", {"lib/libz.so.1": lib})
    run_fix(channels, finding["command"])
    fresh = tmp_path / "env-conda-forge"
    again = pkgdoctor("check", "--python", str(fresh / "bin/python3"), "--json")
    assert again.status == 0 and again.codes() == []
    records = {p.name.rsplit("-", 2)[0] for p in (fresh / "conda-meta").glob("*.json")}
    assert records == {"python", "pip", "numpy", "libblas", "zlib"}


def test_modules_nobody_installed(
    conda_channels: Channels, pkgdoctor: Runner, tmp_path: Path
) -> None:
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    (env.site_packages / "stray").mkdir()
    (env.site_packages / "stray/__init__.py").write_text("")
    (env.site_packages / "lone.py").write_text("")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "conda-file-unowned" and finding["severity"] == "info"
    assert finding["evidence"]["paths"] == [
        str(env.site_packages / "lone.py"),
        str(env.site_packages / "stray"),
    ]
    assert finding["command"] is None


def test_two_conda_packages_install_the_same_file(
    conda_channels: Channels, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """rattler keeps the first package's file and sets the later one's aside in
    __clobbers__/; conda links the later one over it and both records list the path (made
    here from rattler's environment, as conda would have left it)."""
    channels = Channels(tmp_path / "channels")
    for source in sorted(conda_channels.directory("conda-forge").glob("linux-64/python-*.conda")):
        target = channels.directory("conda-forge") / "linux-64" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.hardlink_to(source)
    channels.package("conda-forge", "aaa", "1.0", "0", {"share/x.txt": b"a\n"})
    channels.package("conda-forge", "bbb", "1.0", "0", {"share/x.txt": b"b\n"})
    env = channels.create(tmp_path / "env", ["python", "aaa", "bbb"])
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "conda-clobber"]
    assert finding["evidence"]["packages"] == ["aaa-1.0-0", "bbb-1.0-0"]
    assert "aaa's copy is in place; bbb's was set aside in __clobbers__/" in finding["message"]

    # conda's way: bbb linked over aaa's file, both records list share/x.txt.
    aside = env.prefix / "__clobbers__/bbb/share/x.txt"
    aside.replace(env.prefix / "share/x.txt")
    record_file = next(env.meta.glob("bbb-*.json"))
    record = json.loads(record_file.read_text())
    record["files"] = ["share/x.txt"]
    record["paths_data"]["paths"][0]["_path"] = "share/x.txt"
    record_file.write_text(json.dumps(record))
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "conda-clobber"]
    assert "the one linked last overwrote the other's" in finding["message"]
    assert finding["evidence"]["listed"] == ["share/x.txt"]


def test_hostile_conda_meta(tmp_path: Path) -> None:
    """Records that are FIFOs, devices, JSON nested past the parser, larger than any record,
    or that name paths outside the prefix: each is reported as unreadable or a problem, and
    nothing outside the prefix is looked at."""
    prefix = tmp_path / "env"
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True)
    (meta / "history").write_text("")
    os.mkfifo(meta / "fifo-1.0-0.json")
    (meta / "zero-1.0-0.json").symlink_to("/dev/zero")
    (meta / "deep-1.0-0.json").write_text("[" * 100_000 + "]" * 100_000)
    with (meta / "huge-1.0-0.json").open("wb") as f:
        f.truncate(look_conda.RECORD_LIMIT + 10)  # sparse: no disk used
    outside = tmp_path / "secret"
    outside.write_text("x")
    record = {
        "name": "evil",
        "version": "1.0",
        "build": "0",
        "files": ["../secret", "/etc/passwd", "lib/ok\0x", "lib/../../secret"],
        "depends": "not a list",
    }
    (meta / "evil-1.0-0.json").write_text(json.dumps(record))
    seen: list[str] = []

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event in ("os.lstat", "os.stat", "open") and args and "secret" in str(args[0]):
            seen.append(f"{event} {args[0]}")

    sys.addaudithook(audit)
    target = static.read_static(str(prefix), "test") if (prefix / "bin").exists() else None
    facts = look_conda.collect(_bare_target(prefix) if target is None else target)
    assert facts is not None
    assert seen == []
    why = {Path(path).name: reason for path, reason in facts.unreadable}
    assert why["fifo-1.0-0.json"] == "not a regular file"
    assert why["zero-1.0-0.json"] == "not a regular file"
    assert why["deep-1.0-0.json"] == "not valid JSON (nested too deeply)"
    assert why["huge-1.0-0.json"] == "larger than 64 MiB"
    (evil,) = facts.records
    assert evil.missing == ()  # none of its paths was looked at
    assert "4 path(s) that leave the prefix (not looked at)" in evil.problems
    assert "depends is not a list of strings" in evil.problems


def _bare_target(prefix: Path) -> Target:
    """A target for a prefix with no Python (only conda-meta/ is looked at here)."""
    interpreter = Interpreter("cpython", (3, 11, 0), None, None, (), None, None, None)
    return Target("static", str(prefix), str(prefix), interpreter, (), (), ())


def test_pip_numpy_under_a_conda_package_built_for_numpy_1(
    conda_channels: Channels, wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """A conda package whose depends pins numpy <2.0a0 (as conda-forge's scipy builds for
    NumPy 1 do) under pip's numpy 2.2.4: an error, naming the dependent and its spec."""
    channels = Channels(tmp_path / "channels")
    for source in sorted(conda_channels.directory("conda-forge").glob("linux-64/*.conda")):
        target = channels.directory("conda-forge") / "linux-64" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.hardlink_to(source)
    site = f"lib/python{PY}/site-packages"
    channels.package(
        "conda-forge",
        "numdep",
        "1.0",
        f"py{PY_NODOT}_0",
        {f"{site}/numdep.py": b"import numpy\n"},
        depends=["numpy >=1.23.5,<2.0a0", f"python >={PY},<{PY}.999"],
    )
    env = channels.create(tmp_path / "env", ["python", "pip", "numdep"])
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []
    wheels = wheelhouse.fetch("numpy==2.2.4")
    _pip(env, "install", "--no-index", "--find-links", str(wheels), "numpy==2.2.4")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "conda-pip-clobber"]
    assert finding["severity"] == "error"
    assert "conda's numdep 1.0 (numpy >=1.23.5,<2.0a0) cannot use numpy 2.2.4" in finding["message"]
    (dependent,) = finding["evidence"]["conda_dependents"]
    assert dependent == {
        "package": f"numdep-1.0-py{PY_NODOT}_0",
        "depends": "numpy >=1.23.5,<2.0a0",
        "satisfied": False,
    }


def test_uv_over_condas_numpy(
    conda_channels: Channels, wheelhouse: Wheelhouse, pkgdoctor: Runner, tmp_path: Path
) -> None:
    """uv does what pip does to conda's numpy, and says so in INSTALLER."""
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    wheels = wheelhouse.fetch("numpy==2.2.4")
    uv = Path(sys.executable).parent / "uv"
    run([str(uv), "pip", "install", "--python", str(env.python), "--offline", "--no-index",
         "--find-links", str(wheels), "numpy==2.2.4"],
        env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")})  # fmt: skip
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "conda-pip-clobber"]
    assert finding["message"].startswith("uv replaced conda's numpy 1.26.4 (conda-forge, build")
    assert finding["evidence"]["installer"] == "uv"
    run_fix(conda_channels, finding["command"])
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []
