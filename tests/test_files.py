"""Reading what the target (or the user) names without trusting it: a FIFO never blocks."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Runner
from pkgdoctor.files import NotRegularFile, read_regular
from pkgdoctor.optional_imports import read_importers


class Blocked(BaseException):
    """Not an OSError: code that skips unreadable files must not swallow it."""


@pytest.fixture(autouse=True)
def never_hang() -> Iterator[None]:
    """A read that blocks fails the test in 10 s instead of hanging the suite."""

    def expired(signum: int, frame: object) -> None:
        raise Blocked("blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_read_regular_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile):
        read_regular(str(fifo), 100)
    with pytest.raises(NotRegularFile):
        read_regular(str(tmp_path), 100)
    with pytest.raises(FileNotFoundError):
        read_regular(str(tmp_path / "absent"), 100)
    data = tmp_path / "data"
    data.write_bytes(b"x" * 3_000_000)
    assert read_regular(str(data), 2_500_000) == b"x" * 2_500_000
    assert read_regular(str(data), 10**9) == b"x" * 3_000_000


def test_a_fifo_as_snapshot_is_one_line(tmp_path: Path, pkgdoctor: Runner) -> None:
    fifo = tmp_path / "snapshot.json"
    os.mkfifo(fifo)
    result = pkgdoctor("check", "--from", str(fifo))
    assert result.status == 2 and result.out == ""
    assert "not a regular file" in result.err and result.err.count("\n") == 1


def test_a_fifo_where_a_module_should_be_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    os.mkfifo(tmp_path / "pkg" / "hostile.py")
    (tmp_path / "pkg" / "real.py").write_text(
        "try:\n    from . import _fast\nexcept ImportError:\n    pass\n"
    )
    files = [(rel, str(tmp_path / rel)) for rel in ("pkg/hostile.py", "pkg/real.py")]
    sources = read_importers(files, ["pkg._fast"])
    assert [s.module for s in sources] == ["pkg.real"]


def test_a_fifo_pth_file_is_not_read(tmp_path: Path, pkgdoctor: Runner) -> None:
    """--static: a FIFO named like a .pth file is not read, the check ends, and the FIFO is
    reported as what it is (every start of the interpreter would hang on it)."""
    from artefacts import make_venv

    venv = make_venv(tmp_path / "env")
    os.mkfifo(venv.site_packages / "hostile.pth")
    (venv.site_packages / "hook.pth").write_text("import os\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--static", "--json")
    assert result.status in (0, 1)
    by_file = {f["evidence"].get("file"): f["code"] for f in result.json["findings"]}
    assert by_file[str(venv.site_packages / "hook.pth")] == "pth-executes-code"
    assert by_file[str(venv.site_packages / "hostile.pth")] == "startup-file-blocks"


def test_a_fifo_metadata_is_invalid_metadata(tmp_path: Path, pkgdoctor: Runner) -> None:
    from artefacts import make_venv, write_dist_info

    venv = make_venv(tmp_path / "env")
    meta = write_dist_info(venv.site_packages, "odd", "1.0", [])
    (meta / "METADATA").unlink()
    os.mkfifo(meta / "METADATA")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--select", "dist-")
    [finding] = result.json["findings"]
    assert finding["code"] == "dist-metadata-invalid"
    assert finding["evidence"]["problems"] == ["METADATA is a FIFO, not a regular file"]


def test_fifos_among_the_metadata_files_are_named(tmp_path: Path, pkgdoctor: Runner) -> None:
    """RECORD, WHEEL, INSTALLER, REQUESTED or direct_url.json that are no regular files are
    never opened (pip would block on them too) and each is named in dist-metadata-invalid."""
    from artefacts import make_venv, write_dist_info

    venv = make_venv(tmp_path / "env")
    meta = write_dist_info(venv.site_packages, "odd", "1.0", [])
    for name in ("RECORD", "WHEEL", "INSTALLER", "REQUESTED", "direct_url.json"):
        (meta / name).unlink(missing_ok=True)
        os.mkfifo(meta / name)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--select", "dist-")
    [finding] = result.json["findings"]
    assert finding["code"] == "dist-metadata-invalid"
    assert finding["evidence"]["problems"] == [
        f"{name} is a FIFO, not a regular file"
        for name in ("RECORD", "WHEEL", "INSTALLER", "REQUESTED", "direct_url.json")
    ]
    # pip would block on them too: the fix removes them before it reinstalls; that part, run
    # by a shell, leaves no irregular file behind (the reinstall needs an index with "odd").
    removal, _, reinstall = finding["fix"].partition(" && ")
    assert removal.startswith("rm -- ") and "--force-reinstall" in reinstall
    subprocess.run(removal, shell=True, check=True, timeout=10)
    after = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--select", "dist-")
    assert not [
        p
        for f in after.json["findings"]
        for p in f["evidence"].get("problems", [])
        if "not a regular file" in p
    ]
