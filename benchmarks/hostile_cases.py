"""Issue 9's hostile cases, run against one pkgdoctor source tree: a before/after table.

    python benchmarks/hostile_cases.py [SRC]    # SRC: a checkout's src/ (default: this one)

Each case builds its hostile input for real under a temporary directory and runs
``python -m pkgdoctor`` from SRC in its own session, with a hard timeout and a 2 GiB
address-space limit; a run still going at the timeout is killed with its group and shown as
HUNG. Run by hand, like the benchmarks (CI only lints it); the tests prove each case.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    os.setsid()


def run(src: str, work: str, name: str, args: list[str], timeout: float = 20) -> None:
    environ = {**os.environ, "PYTHONPATH": src, "PKGDOCTOR_CACHE_DIR": f"{work}/cache"}
    start = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "pkgdoctor", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environ,
        preexec_fn=_limits,
    )
    try:
        _, err = child.communicate(timeout=timeout)
        status = str(child.returncode)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        _, err = child.communicate()
        status = f"HUNG (killed at {timeout:g} s)"
    text = err.decode("utf-8", "replace")
    last = (text.strip().splitlines() or [""])[-1][:100]
    if "Traceback" in text:
        last = f"traceback: {last}"
    print(f"| {name} | {status} | {time.monotonic() - start:.1f} s | {last} |")


def venv(work: str, name: str) -> Path:
    path = Path(work) / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


def site(prefix: Path) -> Path:
    return prefix / "lib" / PY / "site-packages"


def main() -> int:
    src = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "src")
    work = tempfile.mkdtemp(prefix="hostile-cases-")
    print("| case | exit | time | last line on stderr |\n| --- | --- | --- | --- |")
    try:
        env = venv(work, "fifo-cfg")
        (env / "pyvenv.cfg").unlink()
        os.mkfifo(env / "pyvenv.cfg")
        run(
            src,
            work,
            "FIFO pyvenv.cfg, check --static",
            ["check", "--prefix", str(env), "--static"],
        )

        run(
            src,
            work,
            "wheels -r /dev/zero",
            ["wheels", "-r", "/dev/zero", "--no-index", "--isolated"],
        )

        bomb = Path(work) / "bomb-1.0-py3-none-any.whl"
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            zeros = bytes(16 << 20)
            for i in range(200):
                archive.writestr(f"bomb/z{i}.bin", zeros)
        run(src, work, "audit-wheel: 200 x 16 MiB of zeros", ["audit-wheel", str(bomb)], 60)

        env = venv(work, "deep")
        directory = site(env)
        for _ in range(1000):
            directory = directory / "d"
            directory.mkdir()
        run(src, work, "1000 nested directories, check", ["check", "--prefix", str(env)])

        env = venv(work, "daemon")
        pids = Path(work) / "daemon-pids"
        (site(env) / "evil.pth").write_text(
            "import os, time; (os.fork() == 0) and (os.setsid(), "
            f"open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'), time.sleep(40))\n"
        )
        run(
            src,
            work,
            ".pth forks a daemon, check",
            ["check", "--prefix", str(env), "--no-cache"],
            30,
        )
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):  # the daemons this case started
                os.kill(int(pid), signal.SIGKILL)

        env = venv(work, "spam")
        (site(env) / "spam.pth").write_text(
            "import sys, itertools; [sys.stdout.write('x' * 65536) for _ in itertools.count()]\n"
        )
        run(
            src,
            work,
            ".pth prints forever, check",
            ["check", "--prefix", str(env), "--no-cache"],
            30,
        )

        env = venv(work, "fifo-pth")
        os.mkfifo(site(env) / "evil.pth")
        run(src, work, "FIFO .pth, live check", ["check", "--prefix", str(env), "--no-cache"], 90)

        env = venv(work, "script")
        marker = Path(work) / "script-ran"
        for name in ("python", "python3"):
            (env / "bin" / name).unlink()
            (env / "bin" / name).write_text(
                f'#!/bin/sh\ntouch {marker}\nexec {sys.executable} "$@"\n'
            )
            (env / "bin" / name).chmod(0o755)
        run(src, work, "bin/python is a shell script, check", ["check", "--prefix", str(env)])
        print(f"| (the shell script ran: {marker.exists()}) | | | |")
    finally:
        subprocess.run(["rm", "-rf", work], check=False)  # shutil.rmtree recurses: 1000 levels
    return 0


if __name__ == "__main__":
    sys.exit(main())
