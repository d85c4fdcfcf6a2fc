"""Looking at targets: the probe on every CPython here, static reading, its robustness."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import packaging
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artefacts import EXT_SUFFIX, PY, make_venv, without_user_config
from conftest import Runner
from pkgdoctor.extmodules import parse_extension_filename
from pkgdoctor.platforms import triplet_architecture, triplet_libc
from pkgdoctor.target import find_target
from pkgdoctor.target.live import PROBE_SOURCE
from pkgdoctor.target.static import read_pyvenv_cfg, read_static, read_sysconfigdata


def installed_pythons() -> list[str]:
    """Every CPython 3.8+ on this machine (pyenv's and the system's), and the test runner."""
    found = {os.path.realpath(sys.executable)}
    for pattern in ("/root/.pyenv/versions/3.*/bin/python3.*", os.path.expanduser(
            "~/.pyenv/versions/3.*/bin/python3.*"), "/usr/bin/python3.*"):  # fmt: skip
        for path in glob.glob(pattern):
            name = os.path.basename(path)
            if (
                name.count(".") == 1
                and name.split(".")[1].isdigit()
                and int(name.split(".")[1]) >= 8
            ):
                found.add(os.path.realpath(path))
    return sorted(found)


@pytest.mark.parametrize("python", installed_pythons())
def test_probe_runs_on_every_cpython_and_finds_no_errors(python: str, pkgdoctor: Runner) -> None:
    # Dependency verdicts on system interpreters are compared with pip check's elsewhere:
    # Debian's own python3 has a real one (pygobject requires pycairo).
    ignore = "dist-requirement-missing,dist-requirement-conflict"
    result = pkgdoctor("check", "--python", python, "--json", "--ignore", ignore)
    assert result.status == 0, [f["message"] for f in result.json["findings"]]
    target = result.json["target"]
    assert target["mode"] == "live"
    assert target["python"]["real_executable"] == python
    assert target["python"]["ext_suffix"] in target["python"]["extension_suffixes"]


# Printable and hostile: quotes, backslashes, control characters, non-ASCII, a character
# outside the BMP, and an undecodable byte (a surrogate escape in the probe's os.environ).
_AWKWARD = b'/tmp/q"b\\s\n\x01\x7f\xc3\xa9\xf0\x9f\x98\x80\xff/site-packages'


_MARKERS = """
import json, os, platform, sys
sys.path.insert(0, sys.argv[1])
try:
    from packaging.markers import default_environment
    env = default_environment()
except (ImportError, TypeError, SyntaxError):
    i = sys.implementation.version
    v = "{0.major}.{0.minor}.{0.micro}".format(i)
    if i.releaselevel != "final":
        v += i.releaselevel[0] + str(i.serial)
    env = {"implementation_name": sys.implementation.name, "implementation_version": v,
           "os_name": os.name, "platform_machine": platform.machine(),
           "platform_release": platform.release(), "platform_system": platform.system(),
           "platform_version": platform.version(),
           "python_full_version": platform.python_version(),
           "platform_python_implementation": platform.python_implementation(),
           "python_version": ".".join(platform.python_version_tuple()[:2]),
           "sys_platform": sys.platform}
print(json.dumps(env))
"""


@pytest.mark.parametrize("python", installed_pythons())
def test_probe_facts_are_exact(python: str) -> None:
    """The probe's own JSON writer and its markers, which avoid importing ``json`` and
    ``platform``, against ``json`` and packaging's ``default_environment()`` run in the same
    interpreter."""
    env = {**os.environ, "PYTHONPATH": os.fsdecode(_AWKWARD)}
    probe = subprocess.run([python, "-B", "-c", PROBE_SOURCE], env=env, capture_output=True,
                           check=True, cwd="/")  # fmt: skip
    facts = json.loads(probe.stdout)
    assert facts["environ"]["PYTHONPATH"] == os.fsdecode(_AWKWARD)
    assert os.fsdecode(_AWKWARD) in facts["sys_path"]
    # packaging imported from where pkgdoctor's own copy lives; it no longer runs on 3.8,
    # which gets PEP 508's table computed with platform, as packaging did.
    packaging_home = os.path.dirname(os.path.dirname(packaging.__file__))
    reference = subprocess.run([python, "-B", "-c", _MARKERS, packaging_home], capture_output=True,
                               check=True, text=True, cwd="/")  # fmt: skip
    assert facts["markers"] == json.loads(reference.stdout)


def test_static_reading_agrees_with_the_live_probe(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    live = find_target(prefix=str(venv.prefix))
    static = find_target(prefix=str(venv.prefix), static=True)
    assert static.mode == "static" and static.static_reason == "asked for with --static"
    for attribute in ("ext_suffix", "soabi", "multiarch", "extension_suffixes", "binary",
                      "implementation", "libc", "gil_disabled"):  # fmt: skip
        assert getattr(static.interpreter, attribute) == getattr(live.interpreter, attribute)
    assert static.interpreter.version[:2] == live.interpreter.version[:2]
    assert (static.prefix, static.base_prefix) == (live.prefix, live.base_prefix)
    assert static.site_packages == (str(venv.site_packages),)
    assert str(venv.site_packages) in live.sys_path
    assert set(static.sys_path) >= {p for p in live.sys_path if p.startswith(str(venv.prefix))}


def test_static_follows_pth_directories_without_executing(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    extra = tmp_path / "extra"
    extra.mkdir()
    marker = tmp_path / "executed"
    (venv.site_packages / "extra.pth").write_text(
        f"# comment\n{extra}\nimport os; open({str(marker)!r}, 'w')\n/does/not/exist\n"
    )
    target = read_static(venv.prefix, "test")
    assert str(extra) in target.sys_path
    assert "/does/not/exist" not in target.sys_path
    assert not marker.exists()


def test_static_tree_without_sysconfigdata(tmp_path: Path, pkgdoctor: Runner) -> None:
    """Unknown suffixes: suffix checks are skipped rather than guessed."""
    prefix = tmp_path / "tree"
    site = prefix / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    (site / "mod.cpython-312-x86_64-linux-gnu.so").write_bytes(
        Path(sys.executable).read_bytes()[:0]
    )
    result = pkgdoctor("check", "--prefix", str(prefix), "--json")
    target = result.json["target"]
    assert target["mode"] == "static"
    assert target["static_reason"] == "no interpreter in bin/"
    assert target["python"]["version"] == "3.12.0"
    assert target["python"]["extension_suffixes"] == []
    assert [f["code"] for f in result.json["findings"]] == ["ext-invalid-elf"]


@pytest.mark.parametrize(
    "content",
    [
        "build_time_vars = {'EXT_SUFFIX': __import__('os').system('false')}",
        "build_time_vars = [1, 2]",
        "this is not python (",
        "\xff\xfe garbage",
        "build_time_vars = {'EXT_SUFFIX': 3}",
    ],
)
def test_hostile_sysconfigdata_is_never_executed(tmp_path: Path, content: str) -> None:
    (tmp_path / "_sysconfigdata__linux_x.py").write_text(content, errors="surrogateescape")
    data = read_sysconfigdata(tmp_path)
    assert data is None or data == {"EXT_SUFFIX": 3}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_pyvenv_cfg_parser_takes_any_bytes(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pyvenv.cfg").write_bytes(data)
        config = read_pyvenv_cfg(Path(tmp))
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in config.items())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_sysconfigdata_parser_takes_any_bytes(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "_sysconfigdata__linux_.py").write_bytes(data)
        result = read_sysconfigdata(Path(tmp))
        assert result is None or isinstance(result, dict)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("c.cpython-311-x86_64-linux-gnu.so", ("c", "cpython", (3, 11), "", "x86_64-linux-gnu")),
        ("c.cpython-313t-s390x-linux-gnu.so", ("c", "cpython", (3, 13), "t", "s390x-linux-gnu")),
        ("m.cpython-37m-i386-linux-gnu.so", ("m", "cpython", (3, 7), "m", "i386-linux-gnu")),
        ("m.cpython-310.so", ("m", "cpython", (3, 10), "", None)),
        ("m.pypy310-pp73-x86_64-linux-gnu.so", ("m", "pypy", (3, 10), "", "x86_64-linux-gnu")),
        ("m.abi3.so", ("m", None, None, "", None)),
        ("m.so", ("m", None, None, "", None)),
    ],
)  # fmt: skip
def test_extension_file_names(filename: str, expected: tuple[object, ...]) -> None:
    parsed = parse_extension_filename(filename)
    assert parsed is not None
    stem, tag = parsed
    assert (stem, tag.implementation, tag.version, tag.flags, tag.triplet) == expected


@pytest.mark.parametrize(
    "filename", ["libfoo.so.1", "libgfortran-040039e1.so.5.0.0", "not-ident.cpython-311.so", "x.py"]
)
def test_libraries_are_not_extension_modules(filename: str) -> None:
    assert parse_extension_filename(filename) is None


def test_triplets() -> None:
    assert triplet_architecture("loongarch64-linux-gnu") == "loongarch64"
    assert triplet_architecture("powerpc64le-linux-gnu") == "ppc64le"
    assert triplet_architecture("i386-linux-gnu") == "i686"
    assert triplet_architecture("arm-linux-gnueabihf") == "armv7l"
    assert triplet_libc("x86_64-linux-musl") == "musl"
    assert triplet_libc("arm-linux-gnueabihf") == "glibc"


def test_relative_prefix_and_python_work(tmp_path: Path, pkgdoctor: Runner,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    make_venv(tmp_path / "env")
    monkeypatch.chdir(tmp_path)
    assert pkgdoctor("check", "--prefix", "env").status == 0
    assert pkgdoctor("check", "--python", "env/bin/python").status == 0


def test_live_facts_of_the_running_interpreter() -> None:
    target = find_target(python=sys.executable)
    assert target.interpreter.ext_suffix == EXT_SUFFIX
    assert target.interpreter.short_version == PY
    assert target.interpreter.architecture == os.uname().machine


def test_probe_reports_installer_variables_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PIP_*, UV_*, CUDA_* and CONDA_* are facts (diff compares them); a secret's value and
    the credentials in an index URL are never reported."""
    monkeypatch.setenv("PIP_INDEX_URL", "https://alice:s3cret@pypi.example/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://a.example/s https://bob:pw@b.example/s")
    monkeypatch.setenv("UV_PUBLISH_TOKEN", "pypi-AgEI")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("UNRELATED_SETTING", "x")
    environ = find_target(python=sys.executable).environ
    assert environ["PIP_INDEX_URL"] == "https://***@pypi.example/simple"
    assert environ["PIP_EXTRA_INDEX_URL"] == "https://a.example/s https://***@b.example/s"
    assert environ["UV_PUBLISH_TOKEN"] == "***"
    assert environ["CUDA_VISIBLE_DEVICES"] == "1"
    assert "UNRELATED_SETTING" not in environ
    assert "s3cret" not in repr(environ) and "pw@" not in repr(environ)


def _wrap(python: Path, marker: Path, real: str) -> None:
    """Replace ``python`` (a venv's link) with a shell script that leaves ``marker`` and
    execs ``real``: what a tampered or hand-made environment may hold."""
    python.unlink()
    python.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{real}" "$@"\n')
    python.chmod(0o755)


def _debian_or_own_python() -> str:
    """A real interpreter other than the venv's own: Debian's if there is one."""
    for candidate in ("/usr/bin/python3.11", "/usr/bin/python3"):
        if os.path.isfile(candidate) and os.path.realpath(candidate) != os.path.realpath(
            sys.executable
        ):
            return candidate
    return os.path.realpath(sys.executable)


@pytest.mark.parametrize("execs", ["own", "other"])
def test_prefix_whose_python_is_a_script_is_read_not_run(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch, execs: str
) -> None:
    venv = make_venv(tmp_path / "env")
    marker = tmp_path / "executed"
    real = os.path.realpath(venv.prefix / "bin" / "python3")
    if execs == "other":  # a wrapper that runs another environment's interpreter
        real = _debian_or_own_python()
    for name in ("python3", "python"):
        _wrap(venv.prefix / "bin" / name, marker, real)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert result.status == 0, result.err
    target = result.json["target"]
    assert target["mode"] == "static"
    assert target["static_reason"] == "bin/python3 is a script (#!/bin/sh): not run"
    assert result.json["findings"] == []
    text = pkgdoctor("check", "--prefix", str(venv.prefix)).out
    assert text.splitlines()[0].endswith(
        f"check {venv.prefix}  (static: bin/python3 is a script (#!/bin/sh): not run)"
    )
    # The environment the user would get ($VIRTUAL_ENV), and why: read, never run.
    monkeypatch.setenv("VIRTUAL_ENV", str(venv.prefix))
    assert pkgdoctor("check", "--json").json["target"]["mode"] == "static"
    why = pkgdoctor("why", "json", "--prefix", str(venv.prefix))
    assert why.status == 2 and "bin/python3 is a script (#!/bin/sh): not run" in why.err
    # Named with --python: refused, with what to do instead.
    named = pkgdoctor("check", "--python", str(venv.prefix / "bin" / "python3"))
    assert named.status == 2
    assert f"{venv.prefix}/bin/python3 is a script (#!/bin/sh); pkgdoctor runs only" in named.err
    assert "--prefix DIR --static" in named.err
    assert not marker.exists()


@pytest.mark.parametrize("real", ["own", "debian"])
def test_prefix_whose_python_runs_another_environment(
    tmp_path: Path, pkgdoctor: Runner, real: str
) -> None:
    """An ELF interpreter in bin/ that is not this environment's: a venv copied without its
    pyvenv.cfg, or a tree whose bin/python3 links to a system interpreter."""
    venv = make_venv(tmp_path / "env")
    (venv.prefix / "pyvenv.cfg").unlink()
    if real == "debian":
        other = _debian_or_own_python()
        (venv.prefix / "bin" / "python3").unlink()
        (venv.prefix / "bin" / "python3").symlink_to(other)
    ran = subprocess.run(
        [venv.prefix / "bin" / "python3", "-c", "import sys; print(sys.prefix)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    base_prefix = ran.stdout.strip()
    target = pkgdoctor("check", "--prefix", str(venv.prefix), "--json").json["target"]
    assert target["mode"] == "static"
    assert target["static_reason"].startswith("bin/python3 runs another environment: ")
    assert target["static_reason"].endswith(f" with sys.prefix {base_prefix}")
    assert target["prefix"] == str(venv.prefix)


def test_healthy_environments_stay_live(tmp_path: Path, pkgdoctor: Runner) -> None:
    venv = make_venv(tmp_path / "env")
    uv_env = tmp_path / "uv-env"
    subprocess.run(
        [sys.executable, "-m", "uv", "venv", "--no-config", "--python", sys.executable,
         str(uv_env)],
        check=True, capture_output=True,
    )  # fmt: skip
    for prefix in (venv.prefix, uv_env):
        result = pkgdoctor("check", "--prefix", str(prefix), "--json")
        assert result.json["target"]["mode"] == "live", prefix
        assert result.json["target"]["static_reason"] is None
        assert result.codes() == []
    live = pkgdoctor("check", "--python", sys.executable, "--json").json["target"]
    assert live["mode"] == "live"
    # / holds bin/python3 where bin links to usr/bin: the same environment as /usr.
    if os.path.realpath("/bin") == "/usr/bin" and os.path.exists("/usr/bin/python3"):
        assert find_target(prefix="/").mode == "live"


_SHIMS = os.path.expanduser("~/.pyenv/shims")


@pytest.mark.skipif(not os.path.isdir(_SHIMS), reason="no pyenv here")
def test_pyenv_shim_runs_the_version_chosen_where_the_user_is(tmp_path: Path) -> None:
    """A pyenv shim named with --python runs ``pyenv exec``, which reads .python-version
    from the user's directory (not the probe's private one)."""
    versions = sorted(os.listdir(os.path.expanduser("~/.pyenv/versions")))
    version = next(v for v in reversed(versions) if v.startswith("3.12."))
    (tmp_path / ".python-version").write_text(f"{version}\n")
    env = {
        k: v for k, v in without_user_config().items() if k not in ("PYENV_VERSION", "PYENV_DIR")
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pkgdoctor", "check", "--python", f"{_SHIMS}/python3", "--json"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    target = json.loads(proc.stdout)["target"]
    assert target["mode"] == "live"
    assert target["python"]["version"] == version
    assert target["prefix"] == os.path.expanduser(f"~/.pyenv/versions/{version}")
