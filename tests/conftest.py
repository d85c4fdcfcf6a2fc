from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from artefacts import Wheelhouse
from pkgdoctor.cli import main

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "src/pkgdoctor/schema/report-v1.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validated(document: Any) -> Any:
    """``document``, after checking it against the shipped JSON Schema (every test does)."""
    VALIDATOR.validate(document)
    return document


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
