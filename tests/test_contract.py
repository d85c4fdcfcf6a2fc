"""The output contract: JSON Schema, documentation of every code, rendering of recorded facts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from conftest import SCHEMA, validated
from pkgdoctor import __version__
from pkgdoctor.codes import all_codes
from pkgdoctor.findings import Finding, Severity
from pkgdoctor.render import Report
from pkgdoctor.render.json import render_json
from pkgdoctor.render.text import render_text, to_plain
from pkgdoctor.target.facts import Binary, Interpreter, Libc, Target

DOCS = Path(__file__).parent.parent / "docs" / "checks.md"


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_code_is_documented_and_every_documented_code_exists() -> None:
    documented = re.findall(r"^### `([a-z0-9-]+)`$", DOCS.read_text(), flags=re.MULTILINE)
    registered = [c.code for c in all_codes()]
    assert sorted(documented) == sorted(registered)
    text = DOCS.read_text()
    for code in registered:
        section = text.split(f"### `{code}`", 1)[1].split("\n### ", 1)[0]
        for part in ("**Severity:**", "**Means:**", "**Evidence:**", "**Fix:**", "```"):
            assert part in section, f"{code}: no {part} in docs/checks.md"


def test_codes_are_stable_slugs() -> None:
    for check in all_codes():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", check.code)
        assert check.summary.endswith(".")


# Recorded facts: a loongarch64 target as a probe would report it, no live system needed.
RECORDED = Target(
    mode="static",
    prefix="/srv/loong",
    base_prefix="/srv/loong",
    interpreter=Interpreter(
        implementation="cpython",
        version=(3, 10, 12),
        executable="/srv/loong/bin/python3",
        real_executable="/srv/loong/bin/python3.10",
        extension_suffixes=(".cpython-310.so", ".abi3.so", ".so"),
        ext_suffix=".cpython-310.so",
        soabi="cpython-310",
        multiarch=None,
        binary=Binary("loongarch64", 64, 258, True, "/lib64/ld-linux-loongarch-lp64d.so.1"),
        libc=Libc("glibc"),
    ),
    sys_path=("/srv/loong/lib/python3.10", "/srv/loong/lib/python3.10/site-packages"),
    site_packages=("/srv/loong/lib/python3.10/site-packages",),
    stdlib=("/srv/loong/lib/python3.10",),
    static_reason="the interpreter is loongarch64, this machine is x86_64",
    system_is_host=False,
)
CORE = "/srv/loong/lib/python3.10/site-packages/numpy/_core"
FINDINGS = [
    Finding(
        "interpreter-no-platform-triplet",
        Severity.ERROR,
        "This CPython 3.10 was built without a platform triplet.",
        path="/srv/loong/bin/python3",
        evidence={
            "files": [
                {"path": f"{CORE}/{name}.cpython-310-loongarch64-linux-gnu.so",
                 "triplet": "loongarch64-linux-gnu"}
                for name in ("a", "b")
            ],
            "multiarch": None,
            "distributions": {"numpy": 2},
        },
        explanation="Use CPython 3.12+.",
    ),
    Finding("path-unreadable", Severity.WARNING, "/srv/x cannot be read.", path="/srv/x",
            evidence={"reason": "Permission denied"}),
]  # fmt: skip


def test_text_rendering_of_recorded_facts() -> None:
    report = Report(
        "check",
        RECORDED,
        FINDINGS,
        areas=("Interpreter", "Extension modules"),
        examined={"Extension modules": 2},
    )
    assert to_plain(render_text(report)) == (
        f"pkgdoctor {__version__} check /srv/loong  "
        "(static: the interpreter is loongarch64, this machine is x86_64)\n"
        "CPython 3.10.12 · loongarch64 · glibc · EXT_SUFFIX .cpython-310.so\n"
        "✗ 1 error, 1 warning; worst: This CPython 3.10 was built without a platform triplet."
        "  [interpreter-no-platform-triplet]\n"
        "\n"
        "[✗] Interpreter  1 error, 1 warning\n"
        "    ✗ This CPython 3.10 was built without a platform triplet."
        "  [interpreter-no-platform-triplet]\n"
        "        in /srv/loong/lib/python3.10/site-packages/numpy/_core/\n"
        "        triplet: loongarch64-linux-gnu (all 2)\n"
        "        a.cpython-310-loongarch64-linux-gnu.so\n"
        "        b.cpython-310-loongarch64-linux-gnu.so\n"
        "        multiarch: (none)\n"
        "        distributions: numpy 2\n"
        "      fix: Use CPython 3.12+.\n"
        "    ! /srv/x cannot be read.  [path-unreadable]\n"
        "        reason: Permission denied\n"
        "[✓] Extension modules  (2 checked)\n"
        "\n"
        "1 error, 1 warning, 0 notes.\n"
    )


def test_text_fits_the_width_but_never_breaks_a_command() -> None:
    long = "/srv/loong/lib/python3.10/site-packages/" + "very-long-directory-name/" * 4
    finding = Finding(
        "path-unreadable",
        Severity.WARNING,
        f"{long} cannot be read, so nothing in it can be imported or checked by anyone.",
        path=long,
        evidence={"reason": "Permission denied " * 8},
        command=f"chmod a+rx {long}",
        explanation="Make it readable for the user who runs Python, and for every other user "
        "of this environment too.",
    )
    lines = to_plain(render_text(Report("check", RECORDED, [finding]), width=60)).splitlines()
    command = f"        chmod a+rx {long}"
    assert command in lines  # whole, alone on its line, though wider than 60
    for line in lines:
        if line != command and not line.startswith("pkgdoctor "):
            # Longer only where one word (a path) is longer than the line can hold.
            assert len(line) <= 60 or max(len(w) for w in line.split()) > 50, line
    assert "        reason: Permission denied Permission denied Permiss…" in lines
    assert "      fix: Make it readable for the user who runs Python," in lines
    assert "           and for every other user of this environment too." in lines


def test_json_rendering_of_recorded_facts() -> None:
    document = validated(json.loads(render_json(Report("check", RECORDED, FINDINGS))))
    assert document["summary"] == {"error": 1, "warning": 1, "info": 0}
    assert document["target"]["binary"] == {
        "architecture": "loongarch64",
        "elf_class": 64,
        "machine": 258,
        "endianness": "little",
        "interpreter": "/lib64/ld-linux-loongarch-lp64d.so.1",
    }
    assert document["findings"][1] == {
        "code": "path-unreadable",
        "severity": "warning",
        "message": "/srv/x cannot be read.",
        "distribution": None,
        "path": "/srv/x",
        "evidence": {"reason": "Permission denied"},
        "fix": None,
        "command": None,
        "explanation": None,
    }


@pytest.mark.parametrize(
    "broken",
    [
        {"schema_version": 2},
        {"findings": [{"code": "Bad Code"}]},
        {"summary": {"error": -1, "warning": 0, "info": 0}},
    ],
)
def test_schema_rejects_contract_violations(broken: dict[str, object]) -> None:
    document = json.loads(render_json(Report("check", RECORDED, FINDINGS)))
    document.update(broken)
    with pytest.raises(jsonschema.ValidationError):
        validated(document)
