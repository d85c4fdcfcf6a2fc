"""ext-undefined-symbol: gcc-built extensions whose symbol ld.so cannot find, and where it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from artefacts import compile_extension, compile_library, make_venv, run
from conftest import Runner
from pkgdoctor.look.symbols import parse_undefined

FOO = "int foo_fn(void) { return 42; }"
OLD_FOO = "int foo_other(void) { return 1; }"  # the release before foo_fn existed
DECLARE_FOO = "int foo_fn(void);"
CALL_FOO = "if (foo_fn() != 42) return NULL;"


def test_linked_without_the_library(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    libfoo = compile_library(lib, "libfoo.so", FOO)
    venv = make_venv(tmp_path / "env")
    ext = compile_extension(
        venv.site_packages, "nolink", extra=DECLARE_FOO, body=CALL_FOO
    )  # no -lfoo
    monkeypatch.setenv("LD_LIBRARY_PATH", str(lib))

    result = pkgdoctor("why", "nolink", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    assert result.json["imports"][0]["chain"][0]["message"] == (f"{ext}: undefined symbol: foo_fn")
    [finding] = result.json["findings"]
    assert finding["code"] == "ext-undefined-symbol"
    assert finding["message"] == (
        f"nolink: {ext.name} needs foo_fn, which no library it loads defines; {libfoo} "
        f"(LD_LIBRARY_PATH) defines it, but {ext.name} does not link it (it is not in its "
        "DT_NEEDED closure): it was linked without -lfoo."
    )
    assert finding["command"] is None  # a rebuild is no line to paste
    assert f"linked with -lfoo (-L{lib} at link time" in finding["explanation"]
    assert f"LD_PRELOAD={libfoo}" in finding["explanation"]
    assert finding["evidence"]["libraries_read"] >= 2
    # The workaround the explanation gives does work.
    env = dict(os.environ, LD_PRELOAD=str(libfoo))
    run([str(venv.python), "-c", "import nolink"], env=env)


def test_an_older_library_is_loaded_first(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = compile_library(tmp_path / "new", "libfoo.so.1", FOO)
    old = compile_library(tmp_path / "old", "libfoo.so.1", OLD_FOO)
    venv = make_venv(tmp_path / "env")
    compile_extension(
        venv.site_packages,
        "older",
        link=[f"-Wl,--enable-new-dtags,-rpath,{new.parent}", str(new)],
        extra=DECLARE_FOO,
        body=CALL_FOO,
    )
    run([str(venv.python), "-c", "import older"])  # healthy as built
    monkeypatch.setenv("LD_LIBRARY_PATH", str(old.parent))  # searched before RUNPATH

    result = pkgdoctor("why", "older", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    [finding] = result.json["findings"]
    assert finding["code"] == "ext-undefined-symbol"
    assert finding["message"].endswith(
        f"needs foo_fn from libfoo.so.1, but the libfoo.so.1 loaded first, {old} "
        f"(LD_LIBRARY_PATH), does not define it; {new} (RUNPATH) does: an older libfoo is "
        "loaded first."
    )
    assert finding["evidence"]["loaded"] == str(old)
    assert finding["evidence"]["defined_by"] == str(new)
    assert finding["command"] == "unset LD_LIBRARY_PATH"
    # The command works.
    run(["sh", "-c", f"{finding['command']} && {venv.python} -c 'import older'"])


def test_an_older_library_without_the_symbol_version(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "new.map").write_text(
        "LIBFOO_1 { global: foo_other; local: *; };\nLIBFOO_2 { global: foo_fn; } LIBFOO_1;\n"
    )
    (scripts / "old.map").write_text("LIBFOO_1 { global: foo_other; local: *; };\n")
    new = compile_library(
        tmp_path / "new",
        "libfoo.so.1",
        OLD_FOO + "\n" + FOO,
        link=[f"-Wl,--version-script={scripts / 'new.map'}"],
    )
    old = compile_library(
        tmp_path / "old",
        "libfoo.so.1",
        OLD_FOO,
        link=[f"-Wl,--version-script={scripts / 'old.map'}"],
    )
    venv = make_venv(tmp_path / "env")
    compile_extension(
        venv.site_packages,
        "versioned",
        link=[f"-Wl,--enable-new-dtags,-rpath,{new.parent}", str(new)],
        extra=DECLARE_FOO,
        body=CALL_FOO,
    )
    monkeypatch.setenv("LD_LIBRARY_PATH", str(old.parent))

    result = pkgdoctor("why", "versioned", "--prefix", str(venv.prefix), "--json")
    assert (
        f"{old}: version `LIBFOO_2' not found" in result.json["imports"][0]["chain"][0]["message"]
    )
    [finding] = result.json["findings"]
    assert finding["code"] == "ext-undefined-symbol"
    assert finding["message"].endswith(
        f"needs symbol version LIBFOO_2 from libfoo.so.1, but the libfoo.so.1 loaded first, "
        f"{old} (LD_LIBRARY_PATH), does not define it; {new} (RUNPATH) does: an older libfoo "
        "is loaded first."
    )
    assert finding["command"] == "unset LD_LIBRARY_PATH"
    run(["sh", "-c", f"{finding['command']} && {venv.python} -c 'import versioned'"])


def test_a_symbol_nothing_defines(
    tmp_path: Path, pkgdoctor: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = make_venv(tmp_path / "env")
    compile_extension(
        venv.site_packages,
        "nowhere",
        extra="int pkgd_nowhere_fn(void);",
        body="if (pkgd_nowhere_fn() != 42) return NULL;",
    )
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    result = pkgdoctor("why", "nowhere", "--prefix", str(venv.prefix), "--json")
    [finding] = result.json["findings"]
    assert finding["code"] == "ext-undefined-symbol"
    assert "needs pkgd_nowhere_fn, which no library defines" in finding["message"]
    assert finding["command"] is None
    # The system's libraries were read, within the limit.
    assert 10 < finding["evidence"]["libraries_read"] <= 1000


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("/e/m.so: undefined symbol: foo_fn", [("/e/m.so", "foo_fn", None)]),
        (
            "/e/m.so: undefined symbol: foo_fn, version LIBFOO_2",
            [("/e/m.so", "foo_fn", "LIBFOO_2")],
        ),
        # musl (ldso/dynlink.c)
        ("Error relocating /e/m.so: foo_fn: symbol not found", [("/e/m.so", "foo_fn", None)]),
        ("/e/libfoo.so.1: version `LIBFOO_2' not found (required by /e/m.so)", []),
    ],
)
def test_the_loaders_messages_are_read(
    message: str, expected: list[tuple[str, str, str | None]]
) -> None:
    assert parse_undefined(message) == expected
