"""The target of ``pkgdoctor wheels``: its platforms and tags, against packaging itself."""

from __future__ import annotations

import sys

import packaging
import packaging._manylinux as manylinux
import packaging._musllinux as musllinux
import pytest
from packaging.tags import sys_tags
from packaging.version import Version

from pkgdoctor.errors import TargetError, UsageError
from pkgdoctor.target import find_target
from pkgdoctor.target.facts import Libc
from pkgdoctor.wheels.platforms import (
    describe_target,
    environment_target,
    parse_platform,
    parse_python_version,
    system_platforms,
)

NATIVE_FIRST = Version(packaging.__version__) >= Version("26.3")  # pypa/packaging#160


def test_the_running_environment_has_the_tags_packaging_computes() -> None:
    """Described from the probe's facts, this interpreter gets exactly ``sys_tags()``."""
    target = environment_target(find_target(sys.executable))
    ours = [str(t) for t in target.tags()]
    theirs = [str(t) for t in sys_tags()]
    if NATIVE_FIRST:
        assert ours == theirs
    else:  # older packaging puts linux_<arch> last; the set is the same
        assert set(ours) == set(theirs)
    assert not target.described
    assert target.environment == sys.executable


@pytest.mark.parametrize(
    ("arch", "glibc"),
    [
        ("x86_64", (2, 28)),
        ("aarch64", (2, 17)),
        ("i686", (2, 5)),
        ("loongarch64", (2, 38)),
        ("riscv64", (2, 31)),
        ("x86_64", (3, 1)),
    ],
)
def test_a_manylinux_tag_is_a_glibc_system_as_packaging_sees_one(
    monkeypatch: pytest.MonkeyPatch, arch: str, glibc: tuple[int, int]
) -> None:
    """packaging's own generator, told that this machine has that glibc, is the oracle."""
    monkeypatch.setattr(manylinux, "_get_glibc_version", lambda: glibc)
    monkeypatch.setattr(manylinux, "_have_compatible_abi", lambda executable, archs: True)
    monkeypatch.setattr(manylinux, "_get_manylinux_module", lambda: None)
    expected = [f"linux_{arch}", *manylinux.platform_tags([arch])]
    assert system_platforms(f"manylinux_{glibc[0]}_{glibc[1]}_{arch}") == expected


def test_a_musllinux_tag_is_a_musl_system_as_packaging_sees_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        musllinux, "_get_musl_version", lambda executable: musllinux._MuslVersion(1, 2)
    )
    expected = ["linux_aarch64", *musllinux.platform_tags(["aarch64"])]
    assert system_platforms("musllinux_1_2_aarch64") == expected


def test_legacy_and_other_tags() -> None:
    assert system_platforms("manylinux2014_x86_64") == system_platforms("manylinux_2_17_x86_64")
    assert system_platforms("linux_loongarch64") == ["linux_loongarch64"]
    assert system_platforms("win_amd64") == ["win_amd64"]
    assert system_platforms("macosx_11_0_arm64")[:3] == [
        "macosx_11_0_arm64",
        "macosx_11_0_universal2",
        "macosx_10_16_universal2",
    ]
    assert parse_platform("ios_13_0_arm64_iphoneos").os_label == "iOS"
    assert parse_platform("manylinux1_i686").libc_version == (2, 5)


def test_a_described_target() -> None:
    target = describe_target(["musllinux_1_2_x86_64", "manylinux_2_17_x86_64"], "3.12")
    assert target.described and target.abis == ("cp312",)
    assert target.python_version == (3, 12, 0)
    assert target.platforms[:2] == ("linux_x86_64", "musllinux_1_2_x86_64")
    assert "manylinux2010_x86_64" in target.platforms  # the second system's tags follow
    tags = [str(t) for t in target.tags()]
    assert tags[1] == "cp312-cp312-musllinux_1_2_x86_64"
    assert "cp38-abi3-manylinux_2_5_x86_64" in tags and "py3-none-any" in tags
    assert target.markers["python_full_version"] == "3.12.0"
    assert target.markers["platform_machine"] == "x86_64"
    assert target.markers["sys_platform"] == "linux"
    assert (
        target.summary()
        == "CPython 3.12 (cp312) on Linux x86_64, musl 1.2; Linux x86_64, glibc 2.17"
    )


def test_free_threaded_targets_take_no_abi3() -> None:
    target = describe_target(["manylinux_2_28_x86_64"], "3.13t")
    assert target.abis == ("cp313t",) and target.free_threaded
    abis = {t.abi for t in target.tags()}
    assert "cp313t" in abis and "abi3" not in abis and "cp313" not in abis
    assert describe_target(["manylinux_2_28_x86_64"], "3.13", abis=["cp313t"]).free_threaded


def test_partial_descriptions_take_the_rest_from_the_environment() -> None:
    calls: list[int] = []

    def environment() -> object:
        calls.append(1)
        return describe_target(["manylinux_2_31_riscv64"], "3.11.4")

    only_platform = describe_target(["musllinux_1_1_aarch64"], environment=environment)  # type: ignore[arg-type]
    assert only_platform.python_version == (3, 11, 4) and only_platform.abis == ("cp311",)
    only_python = describe_target(python_version="3.14", environment=environment)  # type: ignore[arg-type]
    assert only_python.platforms[1] == "manylinux_2_31_riscv64"
    assert only_python.abis == ("cp314",)
    assert len(calls) == 2
    describe_target(["linux_x86_64"], "3.12", environment=environment)  # type: ignore[arg-type]
    assert len(calls) == 2  # a whole description never looks at the environment


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3.12", ((3, 12, 0), False)),
        ("312", ((3, 12, 0), False)),
        ("3.12.4", ((3, 12, 4), False)),
        ("3.13t", ((3, 13, 0), True)),
    ],
)
def test_python_versions_are_read_as_pip_reads_them(
    value: str, expected: tuple[tuple[int, int, int], bool]
) -> None:
    assert parse_python_version(value) == expected


@pytest.mark.parametrize("value", ["3.12t", "3.8t", "312t"])
def test_free_threaded_before_313_is_no_python(value: str) -> None:
    """PEP 703's free-threaded builds start with 3.13: a 3.12t target cannot exist."""
    with pytest.raises(UsageError, match=r"free-threaded CPython builds start at 3\.13"):
        parse_python_version(value)


@pytest.mark.parametrize(
    ("platform", "python", "message"),
    [
        (
            "loongarch64",
            "3.12",
            "--platform loongarch64: name a system, not only its "
            "architecture, e.g. manylinux_2_36_loongarch64 (glibc 2.36), musllinux_1_2_loongarch64 "
            "(musl 1.2) or linux_loongarch64",
        ),
        ("manylinux-2.28", "3.12", "--platform 'manylinux-2.28' is not a platform tag"),
        ("linux_x86_64", "3", "--python-version '3': expected X.Y"),
        ("linux_x86_64", "three", "--python-version 'three': expected X.Y"),
    ],
)
def test_bad_descriptions_say_what_to_type(platform: str, python: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        describe_target([platform], python)
    assert str(info.value).startswith(message)


def test_an_environment_without_a_known_libc_must_be_described() -> None:
    target = find_target(sys.executable)
    interpreter = target.interpreter.__class__(
        **{**target.interpreter.__dict__, "libc": Libc("glibc", None)}
    )
    copied = target.__class__(**{**target.__dict__, "interpreter": interpreter})
    with pytest.raises(TargetError, match="describe the target with --platform"):
        environment_target(copied)
