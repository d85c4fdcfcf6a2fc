"""What ``conda doctor`` checks, as pkgdoctor's findings (checks/conda.py): missing and
altered files, consistency of depends/constrains, pinned, environments.txt, records conda
cannot read — on real environments made by rattler (tests/conda_env.py), broken the way
people break them, and with conda's own test records (tests/data/conda, see its NOTICE).
Every printed fix is run (``run_fix``) and the environment checked again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from artefacts import PY, run
from conda_env import Channels, CondaEnv, run_fix
from conftest import Runner, validated
from pkgdoctor.look import conda as look_conda
from pkgdoctor.target import static

DATA = Path(__file__).parent / "data" / "conda"
OURS = {
    "conda-files-missing", "conda-files-altered", "conda-dependency-missing",
    "conda-dependency-conflict", "conda-specs-not-judged", "conda-pinned-malformed",
    "conda-env-unregistered", "conda-record-invalid",
}  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own: environments.txt is read from there."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def _findings(result: Any, code: str) -> list[dict[str, Any]]:
    return [f for f in result.json["findings"] if f["code"] == code]


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` as a new file: the prefix's files are hard links into the package cache
    the whole session shares, which an edit in place would change too."""
    path.unlink()
    path.write_bytes(data)


_ANY_SYSTEM = (
    ("__unix", "0", "0"), ("__glibc", "2.17", "0"), ("__cuda", "12.4", "0"),
    ("__archspec", "1", "x86_64_v3"), ("__osx", "11.0", "0"),
)  # fmt: skip


def _no_deps(channels: Channels, env: CondaEnv, channel: str, spec: str) -> None:
    """``conda install --no-deps -c CHANNEL SPEC``: the package linked in whatever the
    installed ones ask for (rattler solves the one spec alone and installs it over)."""
    import rattler

    channels.index()

    async def go() -> None:
        records = await rattler.solve(
            sources=[rattler.Channel(channels.url(channel))],
            specs=[spec],
            platforms=["linux-64", "noarch"],
            # --no-deps: whatever the package asks of the system is taken as there.
            virtual_packages=[
                rattler.GenericVirtualPackage(
                    rattler.PackageName(name), rattler.Version(version), rattler.BuildString(build)
                )
                for name, version, build in _ANY_SYSTEM
            ],
        )
        installed = [rattler.PrefixRecord.from_path(p) for p in sorted(env.meta.glob("*.json"))]
        names = {r.name.normalized for r in records}
        keep = [r for r in installed if r.name.normalized not in names]
        await rattler.install(
            [*keep, *records],
            env.prefix,
            cache_dir=channels.pkgs,
            installed_packages=installed,
            show_progress=False,
        )

    asyncio.run(go())


def test_missing_and_altered_files(
    conda_channels: Channels, pkgdoctor: Runner, home: Path, tmp_path: Path
) -> None:
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []

    # rm of a library conda linked (a "cleanup" of lib/): numpy's import now fails.
    (env.prefix / "lib" / "libblas.so.3").unlink()
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    assert result.codes() == ["conda-files-missing"]
    (finding,) = _findings(result, "conda-files-missing")
    assert finding["severity"] == "error"
    assert finding["path"] == str(next(env.meta.glob("libblas-*.json")))
    evidence = finding["evidence"]
    assert evidence["missing"] == ["lib/libblas.so.3"] and evidence["missing_count"] == 1
    assert evidence["code_or_library"] == ["lib/libblas.so.3"]
    assert finding["command"] == (
        f"conda install -p {env.prefix} --force-reinstall -y "
        f"{conda_channels.url('conda-forge')}::libblas=3.9.0=20_linux64_openblas"
    )
    run_fix(conda_channels, finding["command"])
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []

    # A file of numpy, which its RECORD lists too: one deletion, one finding (conda's record
    # knows every file of the package; Integrity's record-missing-file is folded in).
    version = env.site_packages / "numpy" / "version.py"
    original_version = version.read_bytes()
    version.unlink()
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    assert result.codes() == ["conda-files-missing"]
    (finding,) = result.json["findings"]
    assert finding["evidence"]["missing"] == [f"lib/python{PY}/site-packages/numpy/version.py"]
    assert finding["evidence"]["record_missing_count"] == 1
    assert pkgdoctor("check", "--select", "record-missing-file", "--python", str(env.python),
                     "--json").codes() == ["record-missing-file"]  # fmt: skip
    version.write_bytes(original_version.replace(b"1.26.4", b"1.26.5"))
    deep = pkgdoctor("check", "--python", str(env.python), "--deep", "--json")
    assert deep.codes() == ["conda-files-altered"]
    assert deep.json["findings"][0]["evidence"]["record_differing_count"] == 1
    _replace(version, original_version)

    # An edit by hand of the stdlib conda's python installed: only --deep reads the files
    # (size and sha256); without it, nothing is said.
    this = env.prefix / "lib" / f"python{PY}" / "this.py"
    original = this.read_bytes()
    _replace(this, original.replace(b"s = ", b"t = ", 1))
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []
    deep = pkgdoctor("check", "--python", str(env.python), "--deep", "--json")
    assert deep.codes() == ["conda-files-altered"]
    (finding,) = _findings(deep, "conda-files-altered")
    assert finding["severity"] == "warning"
    assert finding["evidence"]["altered"] == [f"lib/python{PY}/this.py"]
    assert finding["evidence"]["compared"] == "sha256"
    assert finding["evidence"]["altered_count"] == 1
    assert "altered by hand" in finding["message"]
    text = pkgdoctor("check", "--python", str(env.python), "--deep")
    assert "1 file of conda's python" in text.out and "(sha256)" in text.out
    run_fix(conda_channels, finding["command"])
    assert this.read_bytes() == original
    assert pkgdoctor("check", "--python", str(env.python), "--deep", "--json").codes() == []


def test_pip_overwriting_conda_files_is_not_altered(
    conda_channels: Channels, pkgdoctor: Runner, home: Path, tmp_path: Path, wheelhouse: Any
) -> None:
    """Files pip replaced are the ledger's (conda-pip-clobber), not "altered by hand"
    (conda doctor reports them as altered: conda/conda#13574)."""
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    wheels = wheelhouse.fetch("numpy==2.2.4")
    run([str(env.python), "-m", "pip", "--isolated", "--disable-pip-version-check", "install",
         "--no-index", "--find-links", str(wheels), "numpy==2.2.4"])  # fmt: skip
    result = pkgdoctor("check", "--python", str(env.python), "--deep", "--json")
    assert "conda-pip-clobber" in result.codes()
    assert not {"conda-files-missing", "conda-files-altered"} & set(result.codes())


def test_dependency_missing_and_conflicting(
    conda_channels: Channels, pkgdoctor: Runner, home: Path, tmp_path: Path
) -> None:
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    # conda remove --force libblas: numpy's dependency is gone, with its files.
    run_fix(conda_channels, f"conda remove -p {env.prefix} -y libblas")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    assert result.codes() == ["conda-dependency-missing"]
    (finding,) = result.json["findings"]
    assert finding["severity"] == "error"
    assert finding["evidence"]["dependency"] == "libblas"
    assert finding["evidence"]["needed_by"][0]["depends"] == "libblas >=3.9.0,<4.0a0"
    assert finding["command"] == f"conda install -p {env.prefix} -y 'libblas >=3.9.0,<4.0a0'"
    run_fix(conda_channels, finding["command"])
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []

    # conda install --no-deps libblas=4: numpy asks for <4.0a0.
    blas = (env.prefix / "lib" / "libblas.so.3").read_bytes()
    conda_channels.package(
        "doctor", "libblas", "4.0.0", "0_doctor", {"lib/libblas.so.3": blas + b"\0"}
    )
    _no_deps(conda_channels, env, "doctor", "libblas ==4.0.0")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    assert result.codes() == ["conda-dependency-conflict"]
    (finding,) = result.json["findings"]
    assert finding["evidence"]["installed"] == "libblas-4.0.0-0_doctor"
    assert finding["evidence"]["asked_by"][0]["package"].startswith("numpy-1.26.4-")
    assert "asks for libblas, but libblas 4.0.0 (doctor, build 0_doctor)" in finding["message"]
    run_fix(conda_channels, finding["command"])
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []

    # A package whose constrains the installed numpy violates.
    conda_channels.package(
        "doctor", "numpy-pin", "1.0", "0", {"share/numpy-pin/README": b"pin\n"},
        constrains=["numpy <1.26"],
    )  # fmt: skip
    _no_deps(conda_channels, env, "doctor", "numpy-pin")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = _findings(result, "conda-dependency-conflict")
    assert finding["evidence"]["asked_by"] == [
        {
            "package": "numpy-pin-1.0-0",
            "record": str(env.meta / "numpy-pin-1.0-0.json"),
            "constrains": "numpy <1.26",
        }
    ]


def test_virtual_packages(conda_channels: Channels, pkgdoctor: Runner, home: Path,
                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """__glibc is the target's C library; __cuda is judged only with CONDA_OVERRIDE_CUDA
    (never a false "missing"); __osx on Linux is missing."""
    env = conda_channels.create(tmp_path / "env", ["python"])
    conda_channels.package(
        "doctor", "cudaish", "1.0", "0", {"share/cudaish/README": b"gpu\n"},
        depends=["__cuda >=12", "__glibc >=2.17", "__unix", "__archspec 1 x86_64_v3"],
    )  # fmt: skip
    _no_deps(conda_channels, env, "doctor", "cudaish")
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "11.8")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "conda-dependency-conflict"
    assert finding["evidence"]["installed"] == "__cuda 11.8 (this system)"
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "12.4")
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []

    conda_channels.package(
        "doctor", "macish", "1.0", "0", {"share/macish/README": b"mac\n"},
        depends=["__osx >=11.0"],
    )  # fmt: skip
    _no_deps(conda_channels, env, "doctor", "macish")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "conda-dependency-missing"
    assert finding["evidence"]["dependency"] == "__osx" and finding["command"] is None


def test_pinned(conda_channels: Channels, pkgdoctor: Runner, home: Path, tmp_path: Path) -> None:
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    pinned = env.meta / "pinned"
    pinned.write_text("# pins\nnumpy 1.26.*\npython >=3.0\nnumpy<<2\nscipy >=1.11\n")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "conda-pinned-malformed" and finding["severity"] == "error"
    lines = finding["evidence"]["lines"]
    assert [(line["line"], line["spec"]) for line in lines] == [
        (4, "numpy<<2"), (5, "scipy >=1.11"),
    ]  # fmt: skip
    assert lines[1]["problem"] == "no such package installed"
    assert finding["command"] == f"sed -i 4d {pinned}"
    run_fix(conda_channels, finding["command"])
    assert pinned.read_text() == "# pins\nnumpy 1.26.*\npython >=3.0\nscipy >=1.11\n"
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = result.json["findings"]
    assert finding["severity"] == "info" and finding["command"] is None
    assert "Line 4 of" in finding["message"] and "'scipy >=1.11'" in finding["message"]

    pinned.unlink()
    pinned.mkdir()
    (finding,) = pkgdoctor("check", "--python", str(env.python), "--json").json["findings"]
    assert finding["code"] == "conda-pinned-malformed" and finding["severity"] == "error"
    assert finding["evidence"]["problem"] == "it is not a regular file"


def test_unregistered(conda_channels: Channels, pkgdoctor: Runner, home: Path,
                      tmp_path: Path) -> None:  # fmt: skip
    env = conda_channels.create(tmp_path / "my env", ["python"])
    # No environments.txt: this user's conda never registered anything; nothing to say.
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []
    registry = home / ".conda" / "environments.txt"
    registry.parent.mkdir()
    registry.write_text("/opt/conda/envs/other\n")
    result = pkgdoctor("check", "--python", str(env.python), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "conda-env-unregistered" and finding["severity"] == "info"
    assert finding["command"] == f"echo '{env.prefix}' >> {registry}"
    run_fix(conda_channels, finding["command"])
    assert registry.read_text().splitlines() == ["/opt/conda/envs/other", str(env.prefix)]
    assert pkgdoctor("check", "--python", str(env.python), "--json").codes() == []

    # Made by rattler or pixi (no revision in the history), or in an envs/ directory that
    # conda scans: not conda's to register.
    for prefix, history in ((tmp_path / "pixi", False), (tmp_path / "envs" / "named", True)):
        other = conda_channels.create(prefix, ["python"], history=history)
        assert pkgdoctor("check", "--python", str(other.python), "--json").codes() == []


def _lay_out(record: Path, prefix: Path) -> None:
    """The files ``record`` lists, each of its recorded size (softlinks as links), as conda
    would have linked them; .pyc files left out (conda doctor does not look at them)."""
    doc = json.loads(record.read_bytes())
    for entry in doc["paths_data"]["paths"]:
        path = prefix / entry["_path"]
        if path.suffix == ".pyc":
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.get("path_type") == "softlink":
            path.symlink_to("elsewhere")
        else:
            path.write_bytes(b"\0" * entry["size_in_bytes"])


def test_condas_own_test_records(
    conda_channels: Channels, pkgdoctor: Runner, home: Path, tmp_path: Path
) -> None:
    """conda's test data (tests/data/conda/NOTICE) in a real environment's conda-meta, read
    statically: its records read as conda reads them, the corrupt ones are
    conda-record-invalid, no file that is there is called missing."""
    env = conda_channels.create(tmp_path / "env", ["python"])
    records = sorted((DATA / "env_metadata").glob("*/conda-meta/*.json"))
    for record in records:
        shutil.copy(record, env.meta)
        _lay_out(record, env.prefix)
    shutil.copy(DATA / "corrupt/json/conda-meta/corrupt-1.2.3-hashhash.json", env.meta)
    shutil.copy(
        DATA / "corrupt/unicode/conda-meta/corrupt-1.2.3-hashhash.json",
        env.meta / "unicode-1.2.3-hashhash.json",
    )
    for record in (DATA / "corrupt/dot_underscore/conda-meta").iterdir():
        shutil.copy(record, env.meta)
    # A record under another name (conda ignores it), and a history line conda cannot read.
    shutil.copy(env.meta / "valid-1.0-0.json", env.meta / "valid-1.0-1.json")
    with (env.meta / "history").open("a") as history:
        history.write("# update specs: ['numpy'\n")

    facts = look_conda.collect(static.read_static(str(env.prefix), "test"))
    assert facts is not None
    names = {r.name: r for r in facts.records}
    assert {"bzip2", "ca-certificates", "certifi", "libffi", "libzlib", "valid"} <= set(names)
    assert not any(r.missing or r.altered for r in facts.records)
    assert names["certifi"].requested == ()  # conda wrote "None"
    assert names["libzlib"].constrains == ("zlib 1.3.1 *_2",)
    dylib = next(f for f in names["libffi"].files if f.path == "lib/libffi.8.dylib")
    assert dylib.sha256 is not None and dylib.size is None  # prefix placeholder
    assert sorted(Path(p).name for p, _ in facts.unreadable) == [
        "corrupt-1.2.3-hashhash.json", "unicode-1.2.3-hashhash.json",
    ]  # fmt: skip

    result = pkgdoctor("check", "--prefix", str(env.prefix), "--static", "--json")
    found = [f for f in result.json["findings"] if f["code"] in OURS]
    codes = sorted(f["code"] for f in found)
    assert codes == [
        "conda-dependency-conflict", "conda-dependency-missing",
        *["conda-record-invalid"] * 4,
    ]  # fmt: skip
    invalid = {f["path"]: f for f in found if f["code"] == "conda-record-invalid"}
    for name in ("corrupt-1.2.3-hashhash.json", "unicode-1.2.3-hashhash.json"):
        corrupt = invalid.pop(str(env.meta / name))
        assert corrupt["severity"] == "error"
        assert corrupt["evidence"]["problem"].startswith("not valid JSON (")
    misnamed = invalid.pop(str(env.meta / "valid-1.0-1.json"))
    assert misnamed["severity"] == "warning"
    assert misnamed["evidence"]["problems"] == [
        "its file name says valid-1.0-1 but it records valid-1.0-0: conda ignores it"
    ]
    history = invalid.pop(str(env.meta / "history"))
    assert history["evidence"]["problems"][0].startswith("line ")
    (missing,) = [f for f in found if f["code"] == "conda-dependency-missing"]
    assert missing["evidence"]["dependency"] == "__osx"
    assert {d["package"] for d in missing["evidence"]["needed_by"]} == {
        "bzip2-1.0.8-h99b78c6_7", "libzlib-1.3.1-h8359307_2",
    }  # fmt: skip
    (conflict,) = [f for f in found if f["code"] == "conda-dependency-conflict"]
    assert conflict["evidence"]["dependency"] == "python"
    assert conflict["evidence"]["asked_by"][0]["depends"] == "python >=2.7,<2.8.0a0"


def test_without_rattler(conda_channels: Channels, tmp_path: Path) -> None:
    """pkgdoctor run where py-rattler cannot be imported (the installed packages without it,
    on a bare sys.path): what needs match specs is said once, the rest still judged."""
    env = conda_channels.create(tmp_path / "env", ["python", "pip", "numpy"])
    (env.meta / "pinned").write_text("numpy<<2\n")
    (env.prefix / "lib" / "libblas.so.3").unlink()
    site = Path(sysconfig.get_paths()["purelib"])
    bare = tmp_path / "site-without-rattler"
    bare.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith(("rattler", "py_rattler", "py-rattler")):
            (bare / entry.name).symlink_to(entry)
    src = Path(__file__).parent.parent / "src"
    # -S: no site-packages (where rattler is); the path set in the process, not PYTHONPATH,
    # which the target's interpreter would inherit.
    code = (
        f"import sys; sys.path[:0] = [{str(src)!r}, {str(bare)!r}]; "
        "from pkgdoctor.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code, "check", "--python", str(env.python), "--json"],
        capture_output=True, text=True, env={**os.environ, "HOME": str(tmp_path)}, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 2), proc.stderr
    report = validated(json.loads(proc.stdout))
    codes = sorted(f["code"] for f in report["findings"])
    # The missing file is still found; the pinned line cannot be parsed without rattler,
    # numpy is installed: nothing said about it.
    assert codes == ["conda-files-missing", "conda-specs-not-judged"]
    (note,) = [f for f in report["findings"] if f["code"] == "conda-specs-not-judged"]
    assert note["severity"] == "info"
    assert note["command"] == f"{sys.executable} -m pip install 'pkgdoctor[conda]'"
