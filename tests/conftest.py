from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from artefacts import Wheelhouse
from pkgdoctor.cli import main

SCHEMAS = Path(__file__).parent.parent / "src/pkgdoctor/schema"
SCHEMA = json.loads((SCHEMAS / "report-v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
AUDIT_WHEEL_SCHEMA = json.loads((SCHEMAS / "audit-wheel-v1.json").read_text())
AUDIT_WHEEL_VALIDATOR = jsonschema.Draft202012Validator(AUDIT_WHEEL_SCHEMA)
DIFF_SCHEMA = json.loads((SCHEMAS / "diff-v1.json").read_text())
DIFF_VALIDATOR = jsonschema.Draft202012Validator(DIFF_SCHEMA)


def validated(document: Any) -> Any:
    """``document``, after checking it against the shipped JSON Schema of its command (every
    test does)."""
    command = str(document.get("command")) if isinstance(document, dict) else ""
    validators = {"audit-wheel": AUDIT_WHEEL_VALIDATOR, "diff": DIFF_VALIDATOR}
    validators.get(command, VALIDATOR).validate(document)
    return document


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


@pytest.fixture
def pkgdoctor(capsys: pytest.CaptureFixture[str]) -> Iterator[Runner]:
    """Run the CLI in-process: ``pkgdoctor("check", "--prefix", str(venv))``."""

    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        status = main(list(argv))
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    yield invoke
