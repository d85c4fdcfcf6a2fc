"""Distributions: dependency verdicts compared with ``pip check`` on the same environments."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artefacts import (
    PY,
    SYSCONFIGDATA_NO_TRIPLET,
    Venv,
    Wheelhouse,
    loongarch_interpreter,
    make_venv,
    pip,
    record_line,
)
from conftest import Runner
from pkgdoctor.inventory import egg_info_requirements

REQUESTS = "requests==2.32.3"


def fake_dist(
    site: Path,
    name: str,
    version: str,
    *,
    requires: tuple[str, ...] = (),
    wheel_tag: str | None = None,
    extra_headers: str = "",
) -> Path:
    """A small installed distribution: a module, METADATA with Requires-Dist, RECORD, WHEEL."""
    module = name.replace("-", "_")
    (site / f"{module}.py").write_text(f"NAME = {name!r}\n")
    dist_info = site / f"{module}-{version}.dist-info"
    dist_info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (dist_info / "METADATA").write_text("\n".join(lines) + "\n" + extra_headers + "\n")
    (dist_info / "INSTALLER").write_text("pip\n")
    if wheel_tag:
        (dist_info / "WHEEL").write_text(
            f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {wheel_tag}\n"
        )
    (dist_info / "RECORD").write_text(
        f"{module}.py,,\n{dist_info.name}/METADATA,,\n{dist_info.name}/RECORD,,\n"
    )
    return dist_info


def pip_check(venv: Venv, pip_python: str = sys.executable) -> set[tuple[str, str, str]]:
    """pip's own verdicts: (kind, requiring project, required project), names normalized.

    ``pip_python`` runs pip (with ``--python`` for the target): the newest pip no longer
    drives interpreters it does not support, so an old target needs its own, older pip.
    """
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = subprocess.run(
        [pip_python, "-m", "pip", "--python", str(venv.python), "check"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    verdicts = set()
    for line in proc.stdout.splitlines():
        if m := re.match(r"(\S+) \S+ requires ([^,]+), which is not installed\.", line):
            verdicts.add(("missing", norm(m[1]), norm(m[2])))
        elif m := re.match(r"(\S+) \S+ has requirement (.+), but you have (\S+) \S+\.", line):
            verdicts.add(("conflict", norm(m[1]), norm(m[3])))
        elif m := re.match(r"(\S+) \S+ is not supported on this platform", line):
            verdicts.add(("unsupported", norm(m[1]), ""))
    assert proc.returncode in (0, 1), proc.stderr
    assert (proc.returncode == 1) == bool(verdicts), proc.stdout
    return verdicts


def ours(result: Any) -> set[tuple[str, str, str]]:
    verdicts = set()
    for f in result.json["findings"]:
        kind = {
            "dist-requirement-missing": "missing",
            "dist-requirement-conflict": "conflict",
            "dist-wheel-tag-mismatch": "unsupported",
        }.get(f["code"])
        if kind == "unsupported":
            verdicts.add((kind, norm(f["distribution"]), ""))
        elif kind:
            dep = re.split(r"[\[<>=!~; ]", f["evidence"]["requirement"], maxsplit=1)[0]
            verdicts.add((kind, norm(f["distribution"]), norm(dep)))
    return verdicts


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_missing_requirements_match_pip_check(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, REQUESTS)  # --no-deps: its four requirements are missing
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    expected = {
        ("missing", "requests", d) for d in ("charset-normalizer", "idna", "urllib3", "certifi")
    }
    assert ours(result) == expected == pip_check(venv)
    finding = next(f for f in result.json["findings"] if "urllib3" in f["message"])
    assert (
        finding["message"] == "requests 2.32.3 requires urllib3<3,>=1.21.1, which is not installed."
    )
    assert finding["command"].endswith("-m pip install 'urllib3<3,>=1.21.1'")


def test_conflicts_markers_and_prereleases_match_pip_check(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    fake_dist(
        site,
        "alpha",
        "1.0",
        requires=(
            "beta>=2",  # conflict: beta 1.0
            "gamma>=1.0",  # satisfied by a pre-release (pip: yes)
            "delta; python_version < '3.0'",  # marker false: ignored
            "epsilon; extra == 'test'",  # an extra: ignored
            "zeta; sys_platform == 'linux'",  # marker true: missing
            "Eta_Pkg[fast]>=0.5",  # extras and a non-normalized name
        ),
    )
    fake_dist(site, "beta", "1.0")
    fake_dist(site, "gamma", "2.0rc1")
    fake_dist(site, "eta-pkg", "0.4")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    expected = {
        ("conflict", "alpha", "beta"),
        ("missing", "alpha", "zeta"),
        ("conflict", "alpha", "eta-pkg"),
    }
    assert ours(result) == expected == pip_check(venv)
    conflict = next(f for f in result.json["findings"] if f["evidence"]["requirement"] == "beta>=2")
    assert conflict["message"] == "alpha 1.0 requires beta>=2, but beta 1.0 is installed."
    assert conflict["evidence"]["installed"] == "1.0"


def other_python() -> str | None:
    """A CPython whose version makes `python_version < "3.10"` differ from ours, if any."""
    for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9.*/bin/python3.9"))):
        return path
    return None


def test_markers_use_the_targets_python_not_pkgdoctors(tmp_path: Path, pkgdoctor: Runner) -> None:
    python = other_python()
    if python is None or sys.version_info < (3, 10):
        pytest.skip("needs a CPython 3.9 beside a pkgdoctor on 3.10+")
    prefix = tmp_path / "env39"
    subprocess.run([python, "-m", "venv", "--without-pip", str(prefix)], check=True)
    venv = Venv(prefix)
    site = prefix / "lib" / "python3.9" / "site-packages"
    fake_dist(site, "needs-backport", "1.0", requires=("backport-thing; python_version < '3.10'",))
    result = pkgdoctor("check", "--prefix", str(prefix), "--json")
    expected = {("missing", "needs-backport", "backport-thing")}
    assert ours(result) == expected == pip_check(venv, pip_python=python)
    assert result.json["target"]["markers"]["python_version"] == "3.9"


def test_old_dist_info_left_beside_the_new_one(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    fake_dist(site, "beta", "2.0")
    stale = site / "beta-1.0.dist-info"
    stale.mkdir()
    (stale / "METADATA").write_text("Metadata-Version: 2.1\nName: beta\nVersion: 1.0\n\n")
    fake_dist(site, "alpha", "1.0", requires=("beta>=2",))
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    duplicate = next(f for f in result.json["findings"] if f["code"] == "dist-duplicate")
    listed = [n for n in os.listdir(site) if n.startswith("beta-")]
    winner, loser = listed[0], listed[1]  # the order importlib.metadata and pip read them in
    assert duplicate["evidence"]["used"] == str(site / winner)
    assert duplicate["evidence"]["shadowed"] == str(site / loser)
    assert duplicate["severity"] == "warning"
    assert "the file system lists" in duplicate["evidence"]["why"]
    assert ours(result) == pip_check(venv)  # same winner, same verdict on alpha's requirement


def test_pip_leftovers(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    fake_dist(site, "numpy", "2.1.3")
    (site / "~umpy").mkdir()
    (site / "~umpy-2.1.3.dist-info").mkdir()
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "dist-partial-uninstall"
    assert finding["distribution"] == "numpy"
    assert finding["evidence"]["leftovers"] == [
        str(site / "~umpy"),
        str(site / "~umpy-2.1.3.dist-info"),
    ]
    assert finding["command"].startswith("rm -rf ")


def test_invalid_metadata_never_tracebacks(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    fake_dist(site, "badreq", "1.0", requires=("not a requirement!!",))
    fake_dist(site, "badversion", "not.a.version")
    noversion = site / "noversion-1.0.dist-info"
    noversion.mkdir()
    (noversion / "METADATA").write_text("Metadata-Version: 2.1\nName: noversion\n\n")
    latin = site / "latin-1.0.dist-info"
    latin.mkdir()
    (latin / "METADATA").write_bytes(
        b"Metadata-Version: 2.1\nName: latin\nVersion: 1.0\nSummary: caf\xe9\n\n"
    )
    (site / "nometa-1.0.dist-info").mkdir()
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    problems = {
        f["distribution"]: f["evidence"]["problems"]
        for f in result.json["findings"]
        if f["code"] == "dist-metadata-invalid"
    }
    assert set(problems) == {"badreq", "badversion", "noversion", "latin", "nometa"}
    assert problems["badreq"][0].startswith("Requires-Dist 'not a requirement!!': ")
    assert problems["badversion"] == ["Version 'not.a.version' is not a valid version (PEP 440)"]
    assert problems["noversion"] == ["no Version field"]
    assert problems["latin"] == ["METADATA is not UTF-8 (byte 59)"]  # the é of "café"
    assert problems["nometa"] == ["METADATA is missing"]
    assert all(f["severity"] == "warning" for f in result.json["findings"])


def test_egg_info_requirements() -> None:
    text = (
        "six>=1.0\n\n[:python_version < '3']\nfutures\n\n[tests]\npytest\n\n"
        "[docs:sys_platform == 'win32']\nsphinx\n"
    )
    assert list(egg_info_requirements(text)) == [
        "six>=1.0",
        "futures; python_version < '3'",
        'pytest; extra == "tests"',
        "sphinx; extra == \"docs\" and (sys_platform == 'win32')",
    ]


def test_egg_info_distribution_is_checked(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    egg = venv.site_packages / "legacy.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 0.9\n\n")
    (egg / "requires.txt").write_text("missing-dep>=1\n\n[extra]\nignored-dep\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert ours(result) == {("missing", "legacy", "missing-dep")} == pip_check(venv)


def test_wheel_for_another_platform(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    tag = f"cp{PY.replace('.', '')}-cp{PY.replace('.', '')}-manylinux_2_17_aarch64"
    fake_dist(venv.site_packages, "faketag", "1.0", wheel_tag=tag)
    fake_dist(venv.site_packages, "purewheel", "1.0", wheel_tag="py3-none-any")
    fake_dist(
        venv.site_packages,
        "compressed",
        "1.0",
        wheel_tag=f"cp{PY.replace('.', '')}-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
    )
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = result.json["findings"]
    assert finding["code"] == "dist-wheel-tag-mismatch"
    assert finding["distribution"] == "faketag"
    assert finding["evidence"]["wheel_tags"] == [tag]
    pip_version = tuple(int(x) for x in pip("--version").stdout.split()[1].split(".")[:2])
    if pip_version >= (24, 2):  # pip check learned wheel tags in 24.2
        assert ours(result) == pip_check(venv)


def test_wheel_tags_of_another_architecture_are_packagings(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    """A loongarch64 tree (read statically, glibc version unknown) accepts the manylinux tags
    pip there accepts (pkgdoctor.platforms): manylinux2014_loongarch64 too, which the check
    once refused (its own alias table knew PEP 599's architectures only), and no manylinux
    tag older than glibc 2.17, which it once accepted on every architecture."""
    prefix = tmp_path / "loong"
    loongarch_interpreter(prefix / "bin" / "python3.10")
    stdlib = prefix / "lib" / "python3.10"
    stdlib.mkdir(parents=True)
    (stdlib / "_sysconfigdata__linux_.py").write_text(SYSCONFIGDATA_NO_TRIPLET)
    site = stdlib / "site-packages"
    site.mkdir()
    fake_dist(site, "alias", "1.0", wheel_tag="cp310-cp310-manylinux2014_loongarch64")
    fake_dist(site, "modern", "1.0", wheel_tag="cp310-abi3-manylinux_2_36_loongarch64")
    fake_dist(site, "tooold", "1.0", wheel_tag="cp310-cp310-manylinux_2_12_loongarch64")
    result = pkgdoctor("check", "--prefix", str(prefix), "--json")
    assert result.json["target"]["mode"] == "static"
    mismatches = [f for f in result.json["findings"] if f["code"] == "dist-wheel-tag-mismatch"]
    assert [f["distribution"] for f in mismatches] == ["tooold"]
    assert mismatches[0]["evidence"]["platform"] == [
        "manylinux_2_99_loongarch64",
        "manylinux_2_98_loongarch64",
        "manylinux_2_97_loongarch64",
    ]


def test_a_debug_build_accepts_release_wheels(tmp_path: Path, pkgdoctor: Runner) -> None:
    """A debug CPython loads release extensions, so pip there takes cp310-cp310 wheels after
    cp310-cp310d ones (packaging.tags._cpython_abis); the check once knew only the latter."""
    prefix = tmp_path / "loong-debug"
    loongarch_interpreter(prefix / "bin" / "python3.10")
    stdlib = prefix / "lib" / "python3.10"
    stdlib.mkdir(parents=True)
    debug = SYSCONFIGDATA_NO_TRIPLET.replace("'Py_DEBUG': 0", "'Py_DEBUG': 1")
    (stdlib / "_sysconfigdata__linux_.py").write_text(debug)
    site = stdlib / "site-packages"
    site.mkdir()
    fake_dist(site, "release", "1.0", wheel_tag="cp310-cp310-manylinux_2_17_loongarch64")
    fake_dist(site, "debug", "1.0", wheel_tag="cp310-cp310d-manylinux_2_17_loongarch64")
    fake_dist(site, "threaded", "1.0", wheel_tag="cp310-cp310t-manylinux_2_17_loongarch64")
    result = pkgdoctor("check", "--prefix", str(prefix), "--json")
    assert result.json["target"]["python"]["debug"] is True
    mismatches = [f for f in result.json["findings"] if f["code"] == "dist-wheel-tag-mismatch"]
    assert [f["distribution"] for f in mismatches] == ["threaded"]


def test_wheel_tag_and_wrong_arch_are_one_finding(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, "numpy==2.1.3", platform="manylinux2014_aarch64", python=PY)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.codes() == ["ext-wrong-arch"]
    tags = result.json["findings"][0]["evidence"]["wheel_tags"]
    assert any(t.endswith("aarch64") for t in tags)


# Two real projects whose wheels both install the package ``jwt/``: PyJWT and jwt (their
# RECORDs share jwt/__init__.py, exceptions.py, py.typed and utils.py) — the light-weight
# stand-in for opencv-python and opencv-python-headless (cv2/, ~60 MB each).
PYJWT = "PyJWT==2.10.1"
JWT = "jwt==1.4.0"


def test_two_distributions_owning_the_same_files(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    """Reported as one error naming both; the printed fix, run as printed, leaves only the
    one kept, whole and importable, and the finding gone."""
    prefix = tmp_path / "env"
    subprocess.run(
        [sys.executable, "-m", "venv", str(prefix)], check=True
    )  # with pip: the fix uses it
    venv = Venv(prefix)
    wheelhouse.install(venv, JWT)
    wheelhouse.install(venv, PYJWT)
    # pip writes REQUESTED only for what the user named (PEP 376): as if jwt had come in as a
    # dependency; the fix keeps the one the user asked for.
    (venv.site_packages / "jwt-1.4.0.dist-info" / "REQUESTED").unlink()
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    (finding,) = [f for f in result.json["findings"] if f["code"] == "dist-clobber"]
    assert finding["severity"] == "error"
    assert finding["message"] == (
        "jwt 1.4.0 and PyJWT 2.10.1 install the same 4 files (jwt/__init__.py …): each install "
        "overwrote the other's copy, and uninstalling either one removes them for both."
    )
    assert finding["distribution"] == "PyJWT"
    assert finding["evidence"]["files"] == [
        "jwt/__init__.py", "jwt/exceptions.py", "jwt/py.typed", "jwt/utils.py"
    ]  # fmt: skip
    assert finding["evidence"]["distributions"] == ["jwt 1.4.0", "PyJWT 2.10.1"]
    python = f"{venv.prefix}/bin/python3"
    command = finding["command"]
    assert command == (
        f"{python} -m pip uninstall -y jwt PyJWT && {python} -m pip install PyJWT==2.10.1"
    )
    subprocess.run(command, shell=True, check=True, timeout=300)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 0, result.json["findings"]
    # setuptools' distutils shim (venv's own setuptools on 3.11) is a note, nothing else.
    assert {f["severity"] for f in result.json["findings"]} <= {"info"}
    assert not (venv.site_packages / "jwt-1.4.0.dist-info").exists()
    kept = subprocess.run(
        [str(venv.python), "-c", "import jwt; print(jwt.encode({'a': 1}, 'k'))"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert kept.stdout.startswith("eyJ")


OPENCV = ("opencv-python==5.0.0.93", "opencv-python-headless==5.0.0.93")


def test_opencv_python_and_opencv_python_headless(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    """The real pair (issue 10): both wheels install cv2/. One error names both; the command,
    run as printed (pip told by its environment to use only the downloaded wheels), leaves one
    opencv and no clobber."""
    prefix = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True)
    venv = Venv(prefix)
    wheelhouse.install(venv, *OPENCV)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "dist-clobber"]
    assert finding["severity"] == "error"
    assert finding["evidence"]["distributions"] == [
        "opencv-python 5.0.0.93", "opencv-python-headless 5.0.0.93"
    ]  # fmt: skip
    assert "cv2/__init__.pyi" in finding["evidence"]["files"]
    assert finding["message"].startswith(
        "opencv-python 5.0.0.93 and opencv-python-headless 5.0.0.93 install the same "
    )
    command = finding["command"]
    assert " -m pip uninstall -y opencv-python opencv-python-headless && " in command
    offline = {
        **os.environ,
        "PIP_NO_INDEX": "1",
        "PIP_NO_DEPS": "1",
        "PIP_FIND_LINKS": str(wheelhouse.fetch(*OPENCV)),
    }
    subprocess.run(command, shell=True, check=True, timeout=300, env=offline)
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert "dist-clobber" not in after.codes()
    kept = sorted(p.name for p in venv.site_packages.glob("opencv_python*.dist-info"))
    assert len(kept) == 1, kept


def test_shared_namespace_and_bytecode_are_not_clobbers(tmp_path: Path, pkgdoctor: Runner) -> None:
    """What distributions legitimately share: a namespace package's directory, the bytecode
    and the same pkgutil-style ``__init__.py`` in it; one project's metadata listed twice."""
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    init = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    for name in ("backports.one", "backports.two"):
        module = name.split(".")[1]
        (site / "backports" / module).mkdir(parents=True)
        (site / "backports" / "__init__.py").write_bytes(init)
        (site / "backports" / module / "__init__.py").write_text("")
        info = site / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        rows = [
            record_line("backports/__init__.py", init).rstrip(),
            "backports/__pycache__/__init__.cpython-311.pyc,,",
            "backports,,",  # a directory row, as some installers write them
            record_line(f"backports/{module}/__init__.py", b"").rstrip(),
            f"backports/{module}/__init__.py,,",  # its own row twice
            f"{info.name}/METADATA,,",
            f"{info.name}/RECORD,,",
        ]
        (info / "RECORD").write_text("\n".join(rows) + "\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert "dist-clobber" not in result.codes()
    # One byte more in one copy: no longer the same namespace declaration.
    record = site / "backports.two-1.0.dist-info" / "RECORD"
    record.write_text(
        record.read_text().replace(
            record_line("backports/__init__.py", init),
            record_line("backports/__init__.py", init + b"\n"),
        )
    )
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "dist-clobber"]
    assert finding["evidence"]["files"] == ["backports/__init__.py"]


def test_two_projects_with_one_script_name_is_a_warning(tmp_path: Path, pkgdoctor: Runner) -> None:
    """Shared files outside site-packages only (``bin/NAME``): a command breaks, no import."""
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    (venv.prefix / "bin" / "tool").write_text("#!/bin/sh\n")
    for name in ("toola", "toolb"):
        dist_info = fake_dist(site, name, "1.0")
        with (dist_info / "RECORD").open("a") as record:
            record.write("../../../bin/tool,,\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    (finding,) = [f for f in result.json["findings"] if f["code"] == "dist-clobber"]
    assert finding["severity"] == "warning"
    assert finding["path"] == str(venv.prefix / "bin" / "tool")
    assert finding["evidence"]["files"] == [str(venv.prefix / "bin" / "tool")]
