from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import gpu_env
from artefacts import Venv, Wheelhouse, compile_library, without_user_config
from conda_env import Channels
from pkgdoctor.cli import main
from pkgdoctor.snapshot.model import Snapshot

SCHEMAS = Path(__file__).parent.parent / "src/pkgdoctor/schema"
SCHEMA = json.loads((SCHEMAS / "report-v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
AUDIT_WHEEL_SCHEMA = json.loads((SCHEMAS / "audit-wheel-v1.json").read_text())
AUDIT_WHEEL_VALIDATOR = jsonschema.Draft202012Validator(AUDIT_WHEEL_SCHEMA)
SNAPSHOT_SCHEMA = json.loads((SCHEMAS / "snapshot-v1.json").read_text())
SNAPSHOT_VALIDATOR = jsonschema.Draft202012Validator(SNAPSHOT_SCHEMA)
DIFF_SCHEMA = json.loads((SCHEMAS / "diff-v1.json").read_text())
DIFF_VALIDATOR = jsonschema.Draft202012Validator(DIFF_SCHEMA)
CACHE_SCHEMA = json.loads((SCHEMAS / "cache-v1.json").read_text())
CACHE_VALIDATOR = jsonschema.Draft202012Validator(CACHE_SCHEMA)


def validated(document: Any) -> Any:
    """``document``, after checking it against the shipped JSON Schema of its command (every
    test does)."""
    command = str(document.get("command")) if isinstance(document, dict) else ""
    validators = {
        "audit-wheel": AUDIT_WHEEL_VALIDATOR,
        "diff": DIFF_VALIDATOR,
        "cache": CACHE_VALIDATOR,
    }
    validators.get(command, VALIDATOR).validate(document)
    for finding in _findings_in(document):
        assert_pasteable(finding)
    return document


# Words a command must not contain: what a user would have to replace before running it.
_PLACEHOLDER = re.compile(r"\b(PACKAGE|NAME|ENV_DIR|VERSION)\b|\.\.\.|<[a-z_-]+>")


def assert_pasteable(finding: dict[str, Any]) -> None:
    """A finding's ``command`` is one shell line a user can paste as it is (issue 10: every
    command any test produces parses with ``shlex``), and ``fix`` joins the two parts."""
    command, explanation = finding["command"], finding["explanation"]
    if command is not None:
        assert command.strip() and "\n" not in command, finding
        assert shlex.split(command), finding
        assert not _PLACEHOLDER.search(command), f"placeholder in {command!r}"
        assert finding["fix"].startswith(command), finding
    if explanation is not None:
        assert explanation.strip(), finding
    if command is None and explanation is None:
        assert finding["fix"] is None, finding


def _findings_in(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if "code" in document and "command" in document and "severity" in document:
            yield document
        for value in document.values():
            yield from _findings_in(value)
    elif isinstance(document, list):
        for value in document:
            yield from _findings_in(value)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pkgdoctor's persistent cache goes to a directory of the test run, not ~/.cache."""
    directory = tmp_path_factory.mktemp("pkgdoctor-cache")
    previous = os.environ.get("PKGDOCTOR_CACHE_DIR")
    os.environ["PKGDOCTOR_CACHE_DIR"] = str(directory)
    yield directory
    if previous is None:
        del os.environ["PKGDOCTOR_CACHE_DIR"]
    else:
        os.environ["PKGDOCTOR_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """Wheels from the registry, downloaded at most once per run."""
    return Wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def conda_channels(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Channels:
    """Local conda channels with real packages, built once per run (tests/conda_env.py):
    ``conda-forge`` has python (the tests' own), pip (ensurepip's wheel), numpy 1.26.4 (the
    registry's wheel) and a libblas; each test makes its environments with ``create``."""
    channels = Channels(tmp_path_factory.mktemp("conda"))
    channels.python()
    bundled = Path(sysconfig.get_paths()["stdlib"]) / "ensurepip" / "_bundled"
    channels.from_wheel("conda-forge", next(bundled.glob("pip-*.whl")))
    blas = compile_library(tmp_path_factory.mktemp("blas"), "libblas.so.3")
    channels.package(
        "conda-forge", "libblas", "3.9.0", "20_linux64_openblas", {"lib/libblas.so.3": blas}
    )
    numpy = next(wheelhouse.fetch("numpy==1.26.4").glob("numpy-*.whl"))
    channels.from_wheel("conda-forge", numpy, depends=["libblas >=3.9.0,<4.0a0"])
    return channels


@pytest.fixture(scope="session")
def cuda_torch(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A real, complete CUDA torch 2.14.1 + torchvision 0.29.1 environment (tests/gpu_env.py),
    built once per run and shared by the xdist workers. Read-only: never change it."""
    venv, _ = gpu_env.build(gpu_env.shared_directory(tmp_path_factory))
    gpu_env.SHARED_PREFIXES.add(venv.prefix)
    return venv


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or the only process) removes the run's CUDA torch environment: 5 GB
    times the three runs pytest keeps is too much disk."""
    if hasattr(session.config, "workerinput"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if isinstance(factory, pytest.TempPathFactory):
        gpu_env.remove(factory.getbasetemp())


@dataclass
class Result:
    status: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return validated(json.loads(self.out))

    def codes(self) -> list[str]:
        return [f["code"] for f in self.json["findings"]]


Runner = Callable[..., Result]


# Target options of ``check``: what ``check --from`` must not be given again.
_TARGET_OPTIONS = {"--python": 1, "--prefix": 1, "--cwd": 1, "--static": 0, "--no-cache": 0}


@dataclass
class _Live:
    """One in-process ``check`` the suite ran on a real environment, and what it saw."""

    argv: list[str]
    result: Result
    snapshot: Snapshot


@contextlib.contextmanager
def isolated_config() -> Iterator[None]:
    """This machine's pip and conda configuration out of sight while the block runs
    (:func:`artefacts.without_user_config`); restored after, so that the pip the tests run
    to build environments keeps the machine's indexes."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(without_user_config(saved))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def pkgdoctor(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Runner]:
    """Run the CLI in-process: ``pkgdoctor("check", "--prefix", str(venv))``.

    Every ``check`` of an environment that runs through here is also proven replayable: the
    Snapshot it judged is written as JSON and read back, the environment's directory is
    moved out of the way (so nothing of it can be read), and ``check --from`` that file must
    give exactly the same output and exit status. So every broken environment the suite
    builds is checked live *and* recorded.

    Every command but ``wheels`` (which fetches with the machine's indexes) runs with this
    machine's pip and conda configuration out of sight (:func:`isolated_config`), unless
    the test is marked ``user_config`` (and sets up the configuration it wants).
    """
    import pkgdoctor.look

    taken: list[Snapshot] = []
    real_collect = pkgdoctor.look.collect

    def recording_collect(*args: Any, **kwargs: Any) -> Snapshot:
        snapshot = real_collect(*args, **kwargs)
        taken.append(snapshot)
        return snapshot

    monkeypatch.setattr(pkgdoctor.look, "collect", recording_collect)
    # Text output as a pipe gets it, whatever terminal runs the suite (tests that wrap set it).
    monkeypatch.delenv("COLUMNS", raising=False)
    runs: list[_Live] = []

    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        before = len(taken)
        isolate = argv[:1] != ("wheels",) and not request.node.get_closest_marker("user_config")
        with isolated_config() if isolate else contextlib.nullcontext():
            status = main(list(argv))
        captured = capsys.readouterr()
        result = Result(status, captured.out, captured.err)
        if argv[:1] == ("check",) and "--from" not in argv and len(taken) == before + 1:
            runs.append(_Live(list(argv), result, taken[-1]))
        return result

    yield invoke
    for index, run in enumerate(runs):
        _replay(run, tmp_path / f"replayed-{index}.json", capsys)


def _without_recorded(text: str) -> str:
    """The text report without the header's "; recorded in FILE, taken TIME"."""
    first, newline, rest = text.partition("\n")
    return (
        first.partition("; recorded in ")[0]
        + (")" if "; recorded in " in first else "")
        + (newline + rest)
    )


def _replay(run: _Live, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``check --from`` the recorded snapshot, with the environment moved away, must say
    exactly what the live check said."""
    from pkgdoctor.snapshot import codec

    path.write_bytes(codec.dumps(run.snapshot))
    SNAPSHOT_VALIDATOR.validate(json.loads(path.read_bytes()))
    argv = ["check", "--from", str(path)]
    skip = 0
    for arg in run.argv[1:]:
        if skip:
            skip -= 1
        elif arg in _TARGET_OPTIONS:
            skip = _TARGET_OPTIONS[arg]
        else:
            argv.append(arg)
    prefix = Path(run.snapshot.target.prefix)
    hidden = prefix.with_name(prefix.name + ".moved-away")
    movable = (
        prefix.is_dir()
        and str(prefix).startswith(tempfile.gettempdir())
        and prefix not in gpu_env.SHARED_PREFIXES  # another worker may be reading it
    )
    if movable:
        prefix.rename(hidden)
    try:
        capsys.readouterr()
        status = main(argv)
        captured = capsys.readouterr()
    finally:
        if movable:
            hidden.rename(prefix)
    # The text header says where the facts came from ("recorded in FILE, taken ..."); all
    # the rest, and the whole JSON document, must be the live check's to the letter.
    live_out, replayed_out = run.result.out, captured.out
    if "--json" not in run.argv:
        live_out, replayed_out = _without_recorded(live_out), _without_recorded(replayed_out)
    if (status, replayed_out) != (run.result.status, live_out):
        import difflib

        diff = difflib.unified_diff(
            live_out.splitlines(), replayed_out.splitlines(), "live", "--from", lineterm=""
        )
        pytest.fail(
            f"check --from a snapshot differs from the live check {run.argv} (exit status "
            f"{run.result.status} live, {status} --from):\n" + "\n".join(diff)
        )
