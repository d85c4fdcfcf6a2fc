"""``pkgdoctor diff A B`` on real environments: venvs built with pip from registry wheels,
snapshots written by ``pkgdoctor snapshot``, and the renderer on a real snapshot."""

from __future__ import annotations

import glob
import gzip
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from artefacts import PY, Venv, Wheelhouse, make_venv, pip, run, write_wheel
from conftest import Runner, validated
from pkgdoctor import __version__
from pkgdoctor.diff import CHANGED, INTERPRETER, ONLY_B, Change, Diff, Side, compare
from pkgdoctor.render.diff import MAX_CHANGES, diff_to_json, render_text, to_plain
from pkgdoctor.snapshot.codec import read
from test_check_extensions import HEALTHY, NUMPY

REST = tuple(spec for spec in HEALTHY if spec != NUMPY)  # the healthy set without numpy


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("healthy") / "env")
    wheelhouse.install(venv, *HEALTHY)
    return venv


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Venv:
    """The healthy set, but numpy is the aarch64 wheel (``pip install --platform --target``,
    as a user who copies a command from an ARM machine does)."""
    venv = make_venv(tmp_path_factory.mktemp("broken") / "env")
    wheelhouse.install(venv, *REST)
    wheelhouse.install(venv, NUMPY, platform="manylinux2014_aarch64", python=PY)
    return venv


def snapshot_of(pkgdoctor: Runner, venv: Venv, path: Path, *extra: str) -> Path:
    result = pkgdoctor("snapshot", "--prefix", str(venv.prefix), "-o", str(path), *extra)
    assert result.status == 0, result.err
    return path


def changes(result: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = result.json["changes"]
    return found


def test_aarch64_numpy_comes_first(healthy: Venv, broken: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("diff", str(healthy.prefix), str(broken.prefix), "--json")
    assert result.status == 1, result.err
    found = changes(result)
    first = found[0]
    assert (first["tier"], first["subject"], first["aspect"]) == (
        INTERPRETER,
        "numpy",
        "extension architecture",
    )
    assert (first["a"], first["b"]) == ("x86_64", "aarch64")
    assert first["summary"].startswith("numpy 2.1.3: extension modules built for aarch64 in B")
    # The wheel's own tags say so too, right after; the finding only B has comes last.
    aspects = [(c["subject"], c["aspect"]) for c in found if c["tier"] == 2]
    assert aspects[0] == ("numpy", "wheel architecture")
    assert found[-1]["tier"] == 5
    assert any(c["subject"] == "ext-wrong-arch" and c["kind"] == ONLY_B for c in found)
    # Nothing but numpy differs between the two environments' distributions.
    assert {c["distribution"] for c in found if c["tier"] in (1, 2, 3)} == {"numpy"}
    assert result.json["a"]["kind"] == result.json["b"]["kind"] == "prefix"
    # The same story in text, in the same order.
    text = pkgdoctor("diff", str(healthy.prefix), str(broken.prefix)).out
    assert text.index("extension modules built for aarch64") < text.index("wheel architecture")
    assert text.splitlines()[4] == "Interpreter  (1)"


def test_snapshots_and_live_mixed(
    healthy: Venv, broken: Venv, tmp_path: Path, pkgdoctor: Runner
) -> None:
    live = pkgdoctor("diff", str(healthy.prefix), str(broken.prefix), "--json")
    works = snapshot_of(pkgdoctor, healthy, tmp_path / "works.json.gz")
    fails = snapshot_of(pkgdoctor, broken, tmp_path / "broken.json")
    for a, b in ((works, broken.prefix), (healthy.prefix, fails), (works, fails)):
        result = pkgdoctor("diff", str(a), str(b), "--json")
        assert result.status == 1
        assert changes(result) == changes(live), (a, b)
    mixed = pkgdoctor("diff", str(works), str(broken.python), "--json").json
    assert (mixed["a"]["kind"], mixed["b"]["kind"]) == ("snapshot", "python")
    assert mixed["changes"] == changes(live)
    works.chmod(0o755)  # copied from a file system without permissions: still a snapshot
    assert pkgdoctor("diff", str(works), str(fails), "--json").json["a"]["kind"] == "snapshot"


def test_an_environment_and_its_own_snapshot(
    healthy: Venv, tmp_path: Path, pkgdoctor: Runner
) -> None:
    saved = snapshot_of(pkgdoctor, healthy, tmp_path / "env.json.gz")
    result = pkgdoctor("diff", str(saved), str(healthy.prefix), "--json")
    assert result.status == 0, result.out
    assert result.json["changes"] == []
    assert result.json["summary"] == {"changes": 0, "by_area": {}}
    text = pkgdoctor("diff", str(healthy.prefix), str(saved))
    assert text.status == 0
    created = read(str(saved)).created
    glibc = result.json["a"]["libc"]
    version = result.json["a"]["python"]
    facts = f"CPython {version} · x86_64 · {glibc} · {len(HEALTHY)} distributions"
    assert text.out == (
        f"pkgdoctor {__version__} diff\n"
        f"  A  {healthy.prefix}  (live)  {facts}\n"
        f"  B  {saved}  (snapshot of {healthy.prefix}, {created})  {facts}\n"
        "\n"
        "No differences that matter.\n"
    )


def test_a_version_change(tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner) -> None:
    old, new = make_venv(tmp_path / "old"), make_venv(tmp_path / "new")
    wheelhouse.install(old, "idna==3.9")
    wheelhouse.install(new, "idna==3.10")
    result = pkgdoctor("diff", str(old.prefix), str(new.prefix))
    assert result.status == 1
    lines = result.out.splitlines()
    assert lines[3:] == [
        "",
        "Distributions  (1)",
        "  ≠ idna: version 3.9 in A, 3.10 in B",
        "",
        "1 difference that matters (distributions 1).",
    ]
    document = pkgdoctor("diff", str(old.prefix), str(new.prefix), "--json").json
    assert document["changes"] == [
        {
            "tier": 2,
            "area": "Distributions",
            "kind": CHANGED,
            "subject": "idna",
            "aspect": "version",
            "summary": "idna: version 3.9 in A, 3.10 in B",
            "a": "3.9",
            "b": "3.10",
            "distribution": "idna",
            "severity": None,
            "items": [],
        }
    ]


def test_a_local_version_is_called_out(tmp_path: Path, pkgdoctor: Runner) -> None:
    envs = []
    for local in ("cu118", "cu121"):
        wheel = write_wheel(
            tmp_path / f"gpukit-2.1.0+{local}-py3-none-any.whl",
            {"gpukit/__init__.py": f"CUDA = {local!r}\n".encode()},
        )
        venv = make_venv(tmp_path / local)
        pip("--python", str(venv.python), "install", "--no-index", "--no-deps", str(wheel))
        envs.append(venv)
    result = pkgdoctor("diff", str(envs[0].prefix), str(envs[1].prefix), "--json")
    assert result.status == 1
    version = changes(result)[0]
    assert (version["aspect"], version["a"], version["b"]) == (
        "version",
        "2.1.0+cu118",
        "2.1.0+cu121",
    )
    assert version["summary"] == (
        "gpukit: version 2.1.0+cu118 in A, 2.1.0+cu121 in B (local version +cu118 in A, "
        "+cu121 in B)"
    )
    # Installed from a local file: PEP 610 direct_url.json names it, and it differs.
    source = [c for c in changes(result) if c["aspect"] == "source"]
    assert [c["distribution"] for c in source] == ["gpukit"]
    assert source[0]["a"].endswith("gpukit-2.1.0%2Bcu118-py3-none-any.whl") or source[0][
        "a"
    ].endswith("gpukit-2.1.0+cu118-py3-none-any.whl")


def test_files_that_differ_in_the_same_version(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, "idna==3.10", "certifi==2024.8.30")
    before = snapshot_of(pkgdoctor, venv, tmp_path / "before.json.gz", "--deep")
    with open(venv.site_packages / "idna" / "core.py", "a") as f:
        f.write("\n# edited by hand\n")
    (venv.site_packages / "certifi" / "py.typed").unlink()
    result = pkgdoctor("diff", str(before), str(venv.prefix), "--deep", "--json")
    assert result.status == 1
    files = [(c["subject"], c["aspect"], c["items"]) for c in changes(result) if c["tier"] == 3]
    assert files == [
        ("certifi", "files missing in B", ["certifi/py.typed"]),
        ("idna", "file contents", ["idna/core.py"]),
    ]
    codes = {c["subject"] for c in changes(result) if c["tier"] == 5}
    assert codes == {"record-hash-mismatch", "record-missing-file"}
    # Without --deep on the live side only the missing file is seen, and the diff says why.
    shallow = pkgdoctor("diff", str(before), str(venv.prefix), "--json").json
    assert [c["aspect"] for c in shallow["changes"] if c["tier"] == 3] == ["files missing in B"]
    assert [c["subject"] for c in shallow["changes"] if c["tier"] == 5] == ["record-missing-file"]
    assert shallow["notes"] == [
        "B was taken without --deep: file contents are compared only by the hashes RECORD lists"
    ]


def test_a_moved_environment_differs_in_nothing(
    healthy: Venv, tmp_path: Path, pkgdoctor: Runner
) -> None:
    saved = snapshot_of(pkgdoctor, healthy, tmp_path / "env.json")
    moved = tmp_path / "elsewhere" / "env"
    shutil.copytree(healthy.prefix, moved, symlinks=True)
    result = pkgdoctor("diff", str(saved), str(moved), "--json")
    assert result.json["b"]["prefix"] == str(moved)
    assert [c for c in changes(result) if c["tier"] < 5] == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a pkgdoctor snapshot: not JSON"),
        (b'{"schema_version": 1, "target": {', "not a pkgdoctor snapshot: not JSON"),
        (b'{"hello": "world"}', "not a pkgdoctor snapshot (no schema_version)"),
    ],
)
def test_a_side_that_is_not_a_snapshot(
    healthy: Venv, tmp_path: Path, pkgdoctor: Runner, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    result = pkgdoctor("diff", str(healthy.prefix), str(bad))
    assert result.status == 2
    assert result.out == ""
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith("pkgdoctor: error: ") and message in result.err


def test_a_truncated_snapshot(healthy: Venv, tmp_path: Path, pkgdoctor: Runner) -> None:
    saved = snapshot_of(pkgdoctor, healthy, tmp_path / "env.json.gz")
    data = saved.read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(data[: len(data) // 2])
    result = pkgdoctor("diff", str(cut), str(saved), "--json")
    assert result.status == 2
    assert result.err.splitlines() == [
        f"pkgdoctor: error: {cut} is a damaged gzip file (truncated)"
    ]
    assert gzip.decompress(data)  # the whole file was a good one
    missing = pkgdoctor("diff", str(tmp_path / "nowhere"), str(saved))
    assert missing.status == 2 and len(missing.err.splitlines()) == 1


def _pyenv(version: str) -> str:
    found = shutil.which(f"python{version}")
    candidates = sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python{version}"))
    for python in [*candidates, *([found] if found else [])]:
        proc = subprocess.run([python, "-c", "pass"], capture_output=True, check=False)
        if proc.returncode == 0:
            return python
    pytest.skip(f"no python{version} on this machine")


def test_unrelated_environments(tmp_path: Path, healthy: Venv, pkgdoctor: Runner) -> None:
    venvs = []
    for version in ("3.9", "3.12"):
        prefix = tmp_path / f"py{version}"
        run([_pyenv(version), "-m", "venv", "--without-pip", str(prefix)])
        venvs.append(prefix)
    result = pkgdoctor("diff", str(venvs[0]), str(venvs[1]), "--json")
    assert result.status == 1
    first = changes(result)[0]
    assert (first["subject"], first["aspect"], first["a"], first["b"]) == (
        "interpreter",
        "Python version",
        "3.9",
        "3.12",
    )
    # Everything differs with the healthy venv too; the text stays short and readable.
    text = pkgdoctor("diff", str(venvs[0]), str(healthy.prefix))
    assert text.status == 1
    lines = text.out.splitlines()
    assert len(lines) < 60
    assert lines[4] == "Interpreter  (3)"
    assert all(
        f"{spec.split('==')[0]} {spec.split('==')[1]} is only in B" in text.out for spec in HEALTHY
    )


def _side(snapshot_path: Path) -> Side:
    return Side(str(snapshot_path), "snapshot", read(str(snapshot_path)))


def test_long_lists_are_folded(healthy: Venv, tmp_path: Path, pkgdoctor: Runner) -> None:
    side = _side(snapshot_of(pkgdoctor, healthy, tmp_path / "env.json"))
    many = tuple(
        Change(2, 3, ONLY_B, f"pkg{i:02}", "installed", f"pkg{i:02} 1.0 is only in B", None, "1.0")
        for i in range(MAX_CHANGES + 5)
    )
    files = Change(
        3, 0, ONLY_B, "pkg00", "files missing in A", "pkg00 1.0: 10 files missing in A",
        items=tuple(f"pkg00/m{i}.py" for i in range(10)),
    )  # fmt: skip
    diff = Diff((*many, files))
    validated(diff_to_json(diff, side, side))
    lines = to_plain(render_text(diff, side, side)).splitlines()
    assert lines[4] == f"Distributions  ({MAX_CHANGES + 5})"
    assert lines[5 + MAX_CHANGES] == "  … and 5 more in Distributions (--json shows all)"
    assert lines[-7:] == [
        "  + pkg00 1.0: 10 files missing in A",
        "      pkg00/m0.py",
        "      pkg00/m1.py",
        "      pkg00/m2.py",
        "      … and 7 more (--json shows all)",
        "",
        f"{MAX_CHANGES + 6} differences that matter (distributions {MAX_CHANGES + 5}, files 1).",
    ]
    narrow = render_text(diff, side, side, width=30)
    assert all(len("".join(text for text, _ in line)) <= 30 for line in narrow)
    assert to_plain(narrow).splitlines()[1].endswith("…")


def test_compare_is_pure_and_symmetric(
    healthy: Venv, broken: Venv, tmp_path: Path, pkgdoctor: Runner
) -> None:
    a = read(str(snapshot_of(pkgdoctor, healthy, tmp_path / "a.json")))
    b = read(str(snapshot_of(pkgdoctor, broken, tmp_path / "b.json")))
    forward, backward = compare(a, b), compare(b, a)
    assert compare(a, b) == forward
    assert [(c.subject, c.aspect) for c in forward.changes] == [
        (c.subject, c.aspect) for c in backward.changes
    ]
    assert [(c.a, c.b) for c in forward.changes[:2]] == [(c.b, c.a) for c in backward.changes[:2]]
    assert compare(a, a) == Diff()


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    from pkgdoctor.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["diff", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "pkgdoctor diff works.json.gz broken.json.gz" in text
    assert "exit status: 0 no difference that matters, 1 differences, 2" in text


def test_environment_and_sys_path(
    healthy: Venv, tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    saved = snapshot_of(pkgdoctor, healthy, tmp_path / "env.json")
    extra = tmp_path / "extra"
    extra.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(extra))
    result = pkgdoctor("diff", str(saved), str(healthy.prefix), "--json")
    assert result.status == 1
    found = [(c["kind"], c["subject"], c["aspect"], c["b"]) for c in changes(result)]
    assert found[:2] == [
        ("only-b", "PYTHONPATH", "environment variable", str(extra)),
        ("only-b", "sys.path", "entries only in B", "1"),
    ]
    assert [c["items"] for c in changes(result)][1] == [f"{extra}  (PYTHONPATH)"]
