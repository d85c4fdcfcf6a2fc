"""A FIFO, a device or an endless file wherever pkgdoctor expects a small regular file: the
run ends with findings or one clean error line, never blocks, never balloons (issue 9,
items 1 and 4). Every run is a child process with a hard timeout and an address-space limit,
so that a regression fails its test instead of hanging the suite or taking the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from artefacts import make_venv, without_user_config

LIMIT_S = 60
MEMORY = 2 << 30  # 2 GiB of address space: far above a run's needs, far below a runaway's


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pkgdoctor", *args],
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
        env={**without_user_config(), **(env or {})},
        preexec_fn=_limit_memory,
        check=False,
    )


def assert_clean(proc: subprocess.CompletedProcess[str], statuses: tuple[int, ...]) -> None:
    assert proc.returncode in statuses, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_static_check_with_a_fifo_pyvenv_cfg_ends(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    cfg = venv.prefix / "pyvenv.cfg"
    cfg.unlink()
    os.mkfifo(cfg)
    proc = run("check", "--prefix", str(venv.prefix), "--static", "--json", "--no-cache")
    assert_clean(proc, (0, 1, 2))


def test_a_fifo_named_python_is_not_run_nor_read(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    (prefix / "bin").mkdir(parents=True)
    os.mkfifo(prefix / "bin" / "python")
    (prefix / "pyvenv.cfg").write_text("home = /nowhere\n")
    proc = run("check", "--prefix", str(prefix), "--json", "--no-cache")
    assert_clean(proc, (0, 1, 2))


def test_requirements_file_that_is_a_fifo_or_a_device(tmp_path: Path) -> None:
    fifo = tmp_path / "requirements.txt"
    os.mkfifo(fifo)
    for source in (str(fifo), "/dev/zero"):
        proc = run("wheels", "-r", source, "--no-index", "--isolated")
        assert_clean(proc, (2,))
        assert (
            proc.stderr == f"pkgdoctor: error: requirements file {source} is not a regular file\n"
        )
    # Nested: a real file that includes /dev/zero.
    nested = tmp_path / "nested.txt"
    nested.write_text("-r /dev/zero\n")
    proc = run("wheels", "-r", str(nested), "--no-index", "--isolated")
    assert_clean(proc, (2,))
    assert "/dev/zero is not a regular file" in proc.stderr


def test_oversized_requirements_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:  # sparse: 64 MiB of zeros that take no disk
        f.truncate(64 << 20)
    proc = run("wheels", "-r", str(big), "--no-index", "--isolated")
    assert_clean(proc, (2,))
    assert "larger than 16 MiB" in proc.stderr


def test_pip_config_that_is_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pip.conf"
    os.mkfifo(fifo)
    proc = run("wheels", "six", "--no-index", env={"PIP_CONFIG_FILE": str(fifo)})
    assert_clean(proc, (0, 1, 2))  # read as no file at all: never opened, never blocks


def test_file_index_with_a_fifo_index_html(tmp_path: Path) -> None:
    index = tmp_path / "simple" / "six"
    index.mkdir(parents=True)
    os.mkfifo(index / "index.html")
    url = (tmp_path / "simple").as_uri() + "/"
    proc = run("wheels", "six", "--isolated", "--index-url", url, "--json")
    assert_clean(proc, (0, 1, 2))


# --- Servers that never finish --------------------------------------------------------------


class _Drip(BaseHTTPRequestHandler):
    """Answers 200 with a promised megabyte, then sends one byte every 0.2 s: every read
    returns before the per-read timeout, so only an overall deadline ends the request."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(1 << 20):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def drip_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_dripping_server_is_cut_off_by_the_deadline(drip_url: str) -> None:
    from pkgdoctor.wheels.http import ACCEPT_SIMPLE, FetchError, Session

    start = time.monotonic()
    with Session(timeout=5, retries=0, deadline=1.5) as session, pytest.raises(FetchError) as exc:
        session.get(drip_url + "six/", accept=ACCEPT_SIMPLE, decode=lambda r: len(r.body))
    assert "no complete answer within 1.5 s" in str(exc.value)
    assert time.monotonic() - start < 10


def test_a_fifo_pth_file_is_reported_not_waited_for(tmp_path: Path) -> None:
    """site.py reads every .pth file at start-up: a FIFO there makes the interpreter itself
    hang. pkgdoctor does not run it (live: static with the reason), reports the file, and the
    fix it prints works."""
    venv = make_venv(tmp_path / "env")
    fifo = venv.site_packages / "evil.pth"
    os.mkfifo(fifo)
    start = time.monotonic()
    proc = run("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    assert time.monotonic() - start < 20
    assert_clean(proc, (1,))
    document = json.loads(proc.stdout)
    assert "evil.pth is a FIFO" in document["target"]["static_reason"]
    (finding,) = [f for f in document["findings"] if f["code"] == "startup-file-blocks"]
    assert finding["severity"] == "error" and finding["path"] == str(fifo)
    # Named with --python, it is refused with the way out.
    proc = run("check", "--python", str(venv.python), "--json", "--no-cache")
    assert_clean(proc, (2,))
    assert f"--prefix {venv.prefix} --static" in proc.stderr
    # The fix, as printed, run by a shell: afterwards the check is live and clean.
    command = finding["command"]
    assert command.startswith("rm ")
    subprocess.run(command, shell=True, check=True, timeout=10)
    proc = run("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    assert_clean(proc, (0,))
    assert json.loads(proc.stdout)["target"]["static_reason"] is None


def test_a_fifo_pyvenv_cfg_is_reported_and_the_fix_keeps_the_packages(tmp_path: Path) -> None:
    """The interpreter reads pyvenv.cfg at every start: a FIFO there hangs it. Live check
    reads the tree instead, reports it, and the printed fix writes pyvenv.cfg anew without
    losing what is installed."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "kept.py").write_text("VALUE = 42\n")
    cfg = venv.prefix / "pyvenv.cfg"
    cfg.unlink()
    os.mkfifo(cfg)
    proc = run("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    assert_clean(proc, (1,))
    document = json.loads(proc.stdout)
    assert (
        document["target"]["static_reason"] == "pyvenv.cfg is a FIFO: the interpreter would block"
    )
    (finding,) = [f for f in document["findings"] if f["code"] == "startup-file-blocks"]
    assert finding["evidence"] == {"file": str(cfg), "is": "a FIFO"}
    command = finding["command"]
    assert command.startswith("rm ")
    subprocess.run(command, shell=True, check=True, timeout=60)
    proc = run("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    assert_clean(proc, (0,))
    assert json.loads(proc.stdout)["target"]["static_reason"] is None
    kept = subprocess.run(
        [str(venv.python), "-c", "import kept; print(kept.VALUE)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert kept.stdout == "42\n"
