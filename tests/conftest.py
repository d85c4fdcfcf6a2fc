from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from artefacts import Wheelhouse
from pkgdoctor.cli import main


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
        return json.loads(self.out)

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
