"""The command line: help, version, exit statuses, and bad input that must never traceback."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from artefacts import EXT_SUFFIX, Venv, compile_extension, make_venv, without_user_config
from conftest import Runner
from pkgdoctor import __version__
from pkgdoctor.codes import all_codes


def run_cli(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """pkgdoctor as a user runs it: a separate process through ``python -m pkgdoctor``."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pkgdoctor", *args],
        capture_output=True,
        text=True,
        env=without_user_config(env),
        check=False,
    )


def assert_clean_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == f"pkgdoctor: error: {message}\n"


def test_version_and_console_script() -> None:
    assert run_cli("--version").stdout == f"pkgdoctor {__version__}\n"
    script = Path(sys.executable).parent / "pkgdoctor"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout == f"pkgdoctor {__version__}\n"


@pytest.mark.parametrize("command", [(), ("check",), ("why",)])
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: pkgdoctor")
    if command:
        assert "examples:" in proc.stdout
        assert "--python PY" in proc.stdout and "--json" in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--prefix", "/x", "--json", "--select", "ext-"],
        ["snapshot", "-o", "out.json.gz", "--deep", "--redact"],
        ["why", "numpy", "--python", "python3"],
        ["export", "--format", "pylock", "--from", "s.json"],
        ["wheels", "numpy", "--json"],
        ["audit-wheel", "a.whl"],
        ["diff", "a.json", "b.json", "--json"],
        ["--list-checks"],
    ],
)
def test_parser_built_for_one_command_parses_it_as_the_whole_parser(argv: list[str]) -> None:
    from pkgdoctor.cli import _command_word, build_parser

    assert vars(build_parser(_command_word(argv)).parse_args(argv)) == vars(
        build_parser().parse_args(argv)
    )


def test_help_lists_every_command_whichever_was_named() -> None:
    from pkgdoctor.cli import build_parser

    whole = build_parser().format_help()
    assert build_parser("check").format_help() == whole
    assert "audit-wheel" in whole and "diff" in whole


def test_no_command_prints_help_and_fails() -> None:
    proc = run_cli()
    assert proc.returncode == 2
    assert "check" in proc.stdout and "why" in proc.stdout


def test_list_checks_lists_every_registered_code() -> None:
    proc = run_cli("--list-checks")
    assert proc.returncode == 0
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert listed == [c.code for c in all_codes()]
    assert "ext-wrong-arch" in listed and "interpreter-no-platform-triplet" in listed


def test_missing_interpreter() -> None:
    assert_clean_error(
        run_cli("check", "--python", "/nonexistent/python3"),
        "no interpreter at /nonexistent/python3",
    )
    assert_clean_error(
        run_cli("check", "--python", "no-such-python-name"),
        "no interpreter named 'no-such-python-name' on PATH",
    )


def test_non_executable_interpreter(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o644)
    assert_clean_error(run_cli("check", "--python", str(fake)), f"{fake} is not executable")


def test_interpreter_that_is_not_python(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    shutil.copy("/bin/echo", fake)  # an ELF executable that prints its arguments
    assert_clean_error(
        run_cli("check", "--python", str(fake)),
        f"{fake} is not a Python this pkgdoctor understands",
    )
    # A .pth line that exits: site is imported before the probe, which never starts.
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "exit.pth").write_text(
        "import os; os.write(2, b'SyntaxError: boom\\n'); os._exit(1)\n"
    )
    python = venv.prefix / "bin" / "python3"
    # An interpreter that cannot start is a finding (issue 10), naming site as the cause.
    proc = run_cli("check", "--python", str(python), "--json")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    (finding,) = [
        f for f in json.loads(proc.stdout)["findings"] if f["code"] == "interpreter-cannot-start"
    ]
    assert finding["evidence"]["stderr"] == ["SyntaxError: boom"]
    assert "code that site.py runs at start-up stops it" in finding["message"]


def test_prefix_that_is_not_an_environment(tmp_path: Path) -> None:
    assert_clean_error(
        run_cli("check", "--prefix", str(tmp_path)),
        f"{tmp_path} is not a Python environment (no bin/python3, no lib/python3.*)",
    )
    assert_clean_error(
        run_cli("check", "--prefix", str(tmp_path / "nope")),
        f"no such directory: {tmp_path / 'nope'}",
    )
    file = tmp_path / "file"
    file.write_text("")
    assert_clean_error(run_cli("check", "--prefix", str(file)), f"{file} is not a directory")


def test_conflicting_options() -> None:
    assert_clean_error(
        run_cli("check", "--python", "python3", "--prefix", "/"),
        "choose either --python or --prefix, not both",
    )
    assert_clean_error(
        run_cli("check", "--static"),
        "--static reads an environment tree: name it with --prefix DIR",
    )
    bad = run_cli("check", "--fail-on", "fatal")
    assert bad.returncode == 2 and "invalid choice: 'fatal'" in bad.stderr


def test_default_target_is_the_active_venv(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    env = dict(os.environ, VIRTUAL_ENV=str(venv.prefix))
    env.pop("CONDA_PREFIX", None)
    proc = run_cli("check", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["target"]["prefix"] == str(venv.prefix)


def test_broken_venv_symlink_falls_back_to_static(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    for name in ("python", "python3", f"python3.{sys.version_info[1]}"):
        link = venv.prefix / "bin" / name
        if link.is_symlink():
            link.unlink()
            link.symlink_to("/opt/gone/bin/python3")
    compile_extension(venv.site_packages, "fine")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 0
    target = result.json["target"]
    assert target["mode"] == "static"
    assert "broken link to /opt/gone/bin/python3" in target["static_reason"]
    assert target["python"]["version"].startswith(f"3.{sys.version_info[1]}.")
    # The base interpreter named in pyvenv.cfg's home is still readable here.
    assert target["python"]["ext_suffix"] == EXT_SUFFIX


def test_non_utf8_names_give_valid_output(tmp_path: Path) -> None:
    parent = Path(os.fsdecode(bytes(tmp_path) + b"/env-\xff"))
    make_venv(tmp_path / "env").prefix.rename(parent)  # venv itself refuses such a name
    venv = Venv(parent)
    (venv.site_packages / os.fsdecode(b"mod\xfe.cpython-311-x86_64-linux-gnu.so")).write_bytes(b"x")
    (venv.site_packages / os.fsdecode(b"pkg\xfe")).mkdir()
    compile_extension(venv.site_packages, "broken").write_bytes(b"\x7fELF")
    proc = run_cli("check", "--prefix", str(parent), "--json")
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["target"]["prefix"].endswith("env-\\xff")
    assert [f["code"] for f in document["findings"]] == ["ext-invalid-elf"]
    text = run_cli("check", "--prefix", str(parent))
    assert text.returncode == 1 and "env-\\xff" in text.stdout and text.stderr == ""


def test_unreadable_package_directory(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    secret = venv.site_packages / "secretpkg"
    secret.mkdir()
    compile_extension(secret, "_inner")
    secret.chmod(0)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that allow it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a directory unreadable")
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all")
    try:
        proc = run_cli("check", "--prefix", str(venv.prefix), "--json", prefix=prefix)
    finally:
        secret.chmod(stat.S_IRWXU)
    assert proc.returncode == 0, proc.stderr  # a warning, not an error
    finding = json.loads(proc.stdout)["findings"][0]
    assert finding["code"] == "path-unreadable"
    assert finding["path"] == str(secret)
    assert finding["evidence"] == {"reason": "Permission denied"}


def test_no_color_when_piped_and_with_no_color(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    env = dict(os.environ, NO_COLOR="1", FORCE_COLOR="1")
    proc = run_cli("check", "--prefix", str(venv.prefix), env=env)
    assert "\x1b[" not in proc.stdout
    assert "\x1b[" not in run_cli("check", "--prefix", str(venv.prefix)).stdout


def test_fail_on_threshold(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    secret = venv.site_packages / "pkg"
    secret.mkdir()
    (secret / f"x{EXT_SUFFIX}").write_bytes(b"")
    assert pkgdoctor("check", "--prefix", str(venv.prefix)).status == 1
    assert (
        pkgdoctor("check", "--prefix", str(venv.prefix), "--ignore", "ext-invalid-elf").status == 0
    )


def run_in_pty(args: list[str], env: dict[str, str]) -> str:
    """Run pkgdoctor with a real terminal as stdout; return what the terminal received."""
    import pty

    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pkgdoctor", *args],
        stdout=child_fd,
        stderr=child_fd,
        stdin=subprocess.DEVNULL,
        env=without_user_config(env),
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(main_fd)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    coloured = run_in_pty(["check", "--prefix", str(venv.prefix)], env)
    assert "\x1b[" in coloured and "No problems found." in coloured
    plain = run_in_pty(["check", "--prefix", str(venv.prefix)], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain and "No problems found." in plain


def test_wheel_ships_the_schema_and_the_probes(tmp_path: Path) -> None:
    import zipfile

    root = Path(__file__).parent.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("pkgdoctor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in (
        "schema/report-v1.json",
        "target/_probe.py",
        "target/_import_probe.py",
        "py.typed",
    ):
        assert f"pkgdoctor/{member}" in names


def broken_everywhere(tmp_path: Path) -> Venv:
    """Findings for every family: a shadowing module (paths), a file missing from a RECORD
    (integrity), a missing requirement (distributions), a foreign .so (extensions)."""
    venv = make_venv(tmp_path / "env")
    site = venv.site_packages
    ext = compile_extension(site / "foreign", "_core")
    (site / "foreign" / "__init__.py").write_text("")
    ext.write_bytes(ext.read_bytes()[:18] + b"\xb7\x00" + ext.read_bytes()[20:])  # EM_AARCH64
    dist_info = site / "foreign-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: foreign\nVersion: 1.0\nRequires-Dist: absent-dep\n\n"
    )
    (dist_info / "RECORD").write_text(
        f"foreign/__init__.py,,\nforeign/{ext.name},,\nforeign/gone.py,,\n"
        "foreign-1.0.dist-info/METADATA,,\nforeign-1.0.dist-info/RECORD,,\n"
    )
    (tmp_path / "random.py").write_text("")
    return venv


def test_forked_check_equals_sequential_check(tmp_path: Path, pkgdoctor: Runner) -> None:
    """The console script looks at the extension modules in a second process when its cache
    is cold (the first run here); the in-process call never forks."""
    venv = broken_everywhere(tmp_path)
    args = ("check", "--prefix", str(venv.prefix), "--cwd", str(tmp_path), "--json")
    forked = run_cli(*args)
    sequential = pkgdoctor(*args)
    assert forked.returncode == sequential.status == 1
    assert json.loads(forked.stdout) == sequential.json
    codes = set(sequential.codes())
    assert {
        "module-shadowed",
        "record-missing-file",
        "dist-requirement-missing",
        "ext-wrong-arch",
    } <= codes


def test_check_runs_alone_when_it_cannot_fork(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pkgdoctor.cli import main

    venv = broken_everywhere(tmp_path)
    args = ["check", "--prefix", str(venv.prefix), "--cwd", str(tmp_path), "--json"]
    assert main(args) == 1
    expected = json.loads(capsys.readouterr().out)

    def no_fork() -> int:
        raise OSError("fork refused")

    monkeypatch.setattr(os, "fork", no_fork)
    assert main(args, parallel=True) == 1
    assert json.loads(capsys.readouterr().out) == expected


def test_an_interrupted_look_leaves_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extension look forked beside the distributions is killed and reaped when the
    parent fails meanwhile."""
    import pkgdoctor.look as look
    from pkgdoctor.cache import Cache
    from pkgdoctor.target import find_target

    venv = broken_everywhere(tmp_path)
    target = find_target(prefix=str(venv.prefix))
    started: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            started.append(pid)
        return pid

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(look, "discover", interrupted)
    with pytest.raises(KeyboardInterrupt):
        look.collect(target, cache=Cache(None), parallel=True)
    [pid] = started
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped


def test_an_unknown_option_gets_its_command_s_usage_and_the_closest_option() -> None:
    proc = run_cli("check", "--jsn")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: pkgdoctor check ")
    assert proc.stderr.endswith(
        "pkgdoctor check: error: unrecognized arguments: --jsn; did you mean '--json'?\n"
    )
    proc = run_cli("why", "numpy", "--pyhton=/usr/bin/python3")
    assert proc.stderr.startswith("usage: pkgdoctor why ")
    assert "did you mean '--python'?" in proc.stderr
    proc = run_cli("check", "--zzzzzz")
    assert proc.stderr.endswith("unrecognized arguments: --zzzzzz\n")


def test_did_you_mean_for_commands_and_codes() -> None:
    proc = run_cli("chek")
    assert proc.returncode == 2
    assert proc.stderr.endswith("pkgdoctor: error: unknown command 'chek'; did you mean 'check'?\n")
    proc = run_cli("check", "--select", "ext-wrong-ach")
    assert_clean_error(
        proc,
        "unknown finding code 'ext-wrong-ach'; did you mean 'ext-wrong-arch'? "
        "(see pkgdoctor --list-checks)",
    )
    proc = run_cli("frobnicate")
    assert proc.stderr.endswith("pkgdoctor: error: unknown command 'frobnicate'\n")


def test_list_checks_as_json() -> None:
    proc = run_cli("--list-checks", "--json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert [c["code"] for c in document["checks"]] == [c.code for c in all_codes()]
    first = document["checks"][0]
    assert set(first) == {"code", "area", "severity", "summary"}


def test_explain_prints_the_reference_section_of_every_code() -> None:
    from pkgdoctor.explain import reference, section

    text = reference()
    assert text is not None
    for code in all_codes():
        found = section(text, code.code)
        assert found is not None and found.startswith(f"### `{code.code}`\n")
        assert "**Fix:**" in found and "\n### " not in found
    proc = run_cli("explain", "ext-wrong-arch")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("### `ext-wrong-arch`\n") and "**Evidence:**" in proc.stdout
    assert_clean_error(
        run_cli("explain", "ext-wrong-ach"),
        "unknown finding code 'ext-wrong-ach'; did you mean 'ext-wrong-arch'? "
        "(see pkgdoctor --list-checks)",
    )


def test_the_wheel_carries_the_reference(tmp_path: Path) -> None:
    """`explain` works from an installed wheel, not only from a checkout."""
    root = Path(__file__).parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("pkgdoctor-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("pkgdoctor/docs/checks.md").decode()
    assert shipped == (root / "docs" / "checks.md").read_text()
