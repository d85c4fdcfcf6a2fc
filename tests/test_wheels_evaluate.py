"""pip's candidate rules and the reasons a wheel does not fit, on file lists made here."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from pkgdoctor.wheels.evaluate import Evaluator, Selection, belongs_to
from pkgdoctor.wheels.platforms import describe_target
from pkgdoctor.wheels.requirements import parse_requirement
from pkgdoctor.wheels.simple import File
from pkgdoctor.wheels.verdict import result_for

X86 = describe_target(["manylinux_2_28_x86_64"], "3.12")


def files(*names: str, **attributes: str) -> list[File]:
    return [File(n, f"https://files.example/{n}", **attributes) for n in names]  # type: ignore[arg-type]


def select(target: object, names: list[File], spec: str = "", **options: bool) -> Selection:
    return Evaluator(target, **options).select("demo", names, SpecifierSet(spec))  # type: ignore[arg-type]


def chosen(selection: Selection) -> str | None:
    return selection.chosen.file.filename if selection.chosen else None


@pytest.mark.parametrize(
    ("wheel", "kind", "values"),
    [
        ("demo-1.0-cp312-cp312-win_amd64.whl", "os", ("Windows",)),
        ("demo-1.0-cp312-cp312-manylinux_2_17_aarch64.whl", "architecture", ("aarch64",)),
        ("demo-1.0-cp312-cp312-musllinux_1_2_x86_64.whl", "libc", ("musl (musllinux)",)),
        ("demo-1.0-cp312-cp312-manylinux_2_34_x86_64.whl", "glibc", ("2.34",)),
        ("demo-1.0-cp313-cp313-manylinux_2_17_x86_64.whl", "python", ("cp313",)),
        ("demo-1.0-cp312-cp312t-manylinux_2_17_x86_64.whl", "abi", ("cp312t",)),
        ("demo-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", "python", ("pp310",)),
    ],
)
def test_why_a_wheel_does_not_fit(wheel: str, kind: str, values: tuple[str, ...]) -> None:
    selection = select(X86, files(wheel))
    (rejected,) = selection.rejected
    assert selection.reason(rejected) == (kind, values)


def test_abi3_does_not_fit_a_free_threaded_python() -> None:
    target = describe_target(["manylinux_2_28_x86_64"], "3.13t")
    selection = select(target, files("demo-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"))
    assert selection.reason(selection.rejected[0]) == ("abi", ("abi3",))


def test_the_most_specific_tag_then_the_build_tag_wins() -> None:
    names = files(
        "demo-1.0-py3-none-any.whl",
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
        "demo-1.0.tar.gz",
    )
    assert chosen(select(X86, names)) == "demo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    built = files(
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "demo-1.0-2-cp312-cp312-manylinux_2_17_x86_64.whl",
    )
    assert chosen(select(X86, built)) == "demo-1.0-2-cp312-cp312-manylinux_2_17_x86_64.whl"


def test_a_newer_sdist_beats_an_older_wheel_unless_binary_is_preferred() -> None:
    names = files("demo-1.0-py3-none-any.whl", "demo-2.0.tar.gz")
    assert chosen(select(X86, names)) == "demo-2.0.tar.gz"
    selection = select(X86, names, prefer_binary=True)
    assert chosen(selection) == "demo-1.0-py3-none-any.whl"
    assert select(X86, names).binary is not None


def test_yanked_files_only_when_pinned() -> None:
    names = files("demo-1.0-py3-none-any.whl") + files("demo-2.0-py3-none-any.whl", yanked="")
    assert chosen(select(X86, names)) == "demo-1.0-py3-none-any.whl"
    assert chosen(select(X86, names, "==2.0")) == "demo-2.0-py3-none-any.whl"
    assert chosen(select(X86, names, "==2.*")) is None  # a wildcard does not pin
    assert chosen(select(X86, names, ">=2")) is None


def test_requires_python_and_prereleases() -> None:
    names = files("demo-3.0-py3-none-any.whl", requires_python=">=3.13")
    names += files("demo-2.0-py3-none-any.whl", requires_python="not a specifier")
    names += files("demo-4.0b1-py3-none-any.whl")
    selection = select(X86, names)
    assert chosen(selection) == "demo-2.0-py3-none-any.whl"  # an invalid one is ignored
    assert [r.kind for r in selection.rejected] == ["requires-python"]
    assert chosen(select(X86, names, ">=4.0b1")) == "demo-4.0b1-py3-none-any.whl"
    assert chosen(select(X86, names, prereleases=True)) == "demo-4.0b1-py3-none-any.whl"
    only_pre = files("demo-4.0b1-py3-none-any.whl")
    assert chosen(select(X86, only_pre)) == "demo-4.0b1-py3-none-any.whl"


def test_sdist_names_with_dashes_and_foreign_files() -> None:
    target = describe_target(["manylinux_2_28_x86_64"], "3.12")
    evaluator = Evaluator(target)
    selection = evaluator.select(
        "foo-bar",
        files(
            "foo-bar-1.0-1.tar.gz",
            "foo_bar-0.9.zip",
            "foo-1.0.tar.gz",
            "foo-bar-1.0.exe",
            "foo_bar-2.0-py3.9.tar.gz",
        ),
        SpecifierSet(),
    )
    assert [str(c.version) for c in selection.candidates] == ["1.0.post1", "0.9"]
    assert [(r.kind, r.values) for r in selection.rejected] == [("python", ("py3.9",))]
    assert belongs_to("Foo.Bar-1.0.tar.gz", "foo-bar")
    assert not belongs_to("foo-1.0-py3-none-any.whl", "foo-bar")


def test_direct_files_come_first_and_the_last_equal_one_wins() -> None:
    """pip's order: find-links files, then pages; among equal candidates the last listed."""
    name = "demo-1.0-py3-none-any.whl"
    direct = File(name, "file:///links/" + name, direct=True)
    page = File(name, "https://index.example/" + name)
    selection = select(X86, [page, direct])
    assert selection.chosen is not None and selection.chosen.file == page


def test_reasons_and_platforms_for_a_build() -> None:
    target = describe_target(["manylinux_2_36_loongarch64"], "3.12")
    names = files(
        "demo-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "demo-2.0-cp312-cp312-manylinux_2_17_aarch64.whl",
        "demo-2.0-cp312-cp312-win_amd64.whl",
        "demo-2.0.tar.gz",
        "demo-1.0-py3-none-any.whl",
    )
    selection = select(target, names)
    result = result_for(parse_requirement("demo", "command line"), selection, target)
    assert result.action == "build" and result.version == "2.0"
    assert [r.message for r in result.reasons] == [
        "1 wheel for other systems (Windows)",
        "2 wheels for other architectures (aarch64, x86_64); none for loongarch64",
    ]
    assert result.platforms_with_wheels == [
        "manylinux_2_17_aarch64",
        "manylinux_2_17_x86_64",
        "win_amd64",
    ]
    assert result.newest_wheel is not None
    assert result.newest_wheel.file.filename == "demo-1.0-py3-none-any.whl"


def test_unavailable_and_not_found() -> None:
    line = parse_requirement("demo", "command line")
    wheel_only = select(X86, files("demo-1.0-cp312-cp312-manylinux_2_34_x86_64.whl"))
    result = result_for(line, wheel_only, X86)
    assert result.action == "unavailable"
    assert [r.message for r in result.reasons] == [
        "1 wheel needs glibc 2.34 or newer (built for glibc 2.34); the target has glibc 2.28",
        "1.0 has no sdist to build from",
    ]
    nothing = result_for(line, select(X86, []), X86)
    assert [r.kind for r in nothing.reasons] == ["not-found"]
    unknown = result_for(line, select(X86, []), X86, ["https://x/simple/demo/: timed out"])
    assert unknown.action == "unknown"


def test_none_for_the_architecture_only_when_none_is_listed() -> None:
    """On musl x86_64, manylinux x86_64 wheels are there but miss for their C library: the
    architecture line must not say there is none for x86_64 (torch on Alpine)."""
    target = describe_target(["musllinux_1_2_x86_64"], "3.12")
    names = files(
        "demo-2.0-cp312-cp312-manylinux_2_28_x86_64.whl",
        "demo-2.0-cp312-cp312-manylinux_2_28_aarch64.whl",
    )
    result = result_for(parse_requirement("demo", "command line"), select(target, names), target)
    assert [r.message for r in result.reasons] == [
        "1 wheel for other architectures (aarch64); those for x86_64 do not fit for another reason",
        "1 wheel for another C library (glibc (manylinux)); the target uses musl",
        "2.0 has no sdist to build from",
    ]
