"""``pkgdoctor export``: the file recreates the environment.

Round trips on real venvs: a few wheels from the registry, a direct-URL install of a local
wheel and an editable install of a tiny local project; export, install the file into a
fresh venv with pip (requirements) or uv (pylock.toml), and compare the two inventories.
The rendering of what needs no download (local version labels, a source that is gone, conda,
VCS) is tested on dist-infos written in a venv.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.pylock import Pylock

from artefacts import Venv, Wheelhouse, make_venv, pip, run, write_dist_info, write_wheel
from conftest import Runner
from pkgdoctor import __version__
from pkgdoctor.export import toml_value
from pkgdoctor.look import collect
from pkgdoctor.snapshot.model import Distribution
from pkgdoctor.target import find_target
from pkgdoctor.wheels.locate import match

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TINY = Path(__file__).parent / "packages" / "tiny_editable"
INDEX_PINS = ("six==1.17.0", "markupsafe==3.0.2")
PYTHON = ".".join(map(str, sys.version_info[:3]))
SHORT = f"{sys.version_info[0]}.{sys.version_info[1]}"
HEADER = "# Exported by pkgdoctor {version} from {prefix}\n# (cpython {python}, {arch}). {how}\n"
PYLOCK_HOW = "Recreate with: uv pip install -r pylock.toml (or another PEP 751 installer)"
MARKER = (
    f"sys_platform == 'linux' and platform_machine == '{platform.machine()}' "
    "and implementation_name == 'cpython'"
)


def header(prefix: Path, how: str) -> str:
    return HEADER.format(
        version=__version__, prefix=prefix, python=PYTHON, arch=platform.machine(), how=how
    )


def inventory(prefix: Path) -> dict[str, tuple[str | None, bool]]:
    """Each distribution of the environment: its version, and whether it is editable."""
    snapshot = collect(find_target(prefix=str(prefix)))
    return {d.key: (d.version, d.editable) for d in snapshot.inventory.distributions}


@dataclass(frozen=True)
class Source:
    venv: Venv
    wheel: Path  # installed by direct URL
    project: Path  # installed in editable mode
    wheelhouse: Path  # the registry's wheels that were installed


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Wheelhouse) -> Source:
    root = tmp_path_factory.mktemp("export-source")
    venv = make_venv(root / "env")
    wheelhouse.install(venv, *INDEX_PINS)
    wheel = write_wheel(root / "localpkg-1.0-py3-none-any.whl", {"localpkg.py": b"X = 1\n"})
    project = shutil.copytree(TINY, root / "tiny")
    common = ("--python", str(venv.python), "install", "--no-deps", "--no-index")
    pip(*common, str(wheel))
    pip(*common, "-e", str(project))
    return Source(venv, wheel, project, wheelhouse.fetch(*INDEX_PINS))


def test_requirements_round_trip(source: Source, tmp_path: Path, pkgdoctor: Runner) -> None:
    out = tmp_path / "requirements.txt"
    result = pkgdoctor("export", "--prefix", str(source.venv.prefix), "-o", str(out))
    assert (result.status, result.out, result.err) == (0, "", f"pkgdoctor: wrote {out}\n")
    digest = hashlib.sha256(source.wheel.read_bytes()).hexdigest()
    assert out.read_text() == (
        header(source.venv.prefix, "Recreate with: pip install -r FILE")
        + f"localpkg @ {source.wheel.as_uri()}#sha256={digest}\n"
        "MarkupSafe==3.0.2\n"
        "six==1.17.0\n"
        "# Editable install with no version control (tiny_editable==0.1)\n"
        f"-e {source.project}\n"
    )
    # pip freeze, the oracle, lists the same lines.
    frozen = pip("--python", str(source.venv.python), "freeze").stdout
    assert out.read_text().split("\n", 2)[2] == frozen
    fresh = make_venv(tmp_path / "fresh")
    pip("--python", str(fresh.python), "install", "-r", str(out))
    assert inventory(fresh.prefix) == inventory(source.venv.prefix)
    assert inventory(fresh.prefix)["tiny-editable"] == ("0.1", True)


def test_pylock_round_trip_with_uv(source: Source, tmp_path: Path, pkgdoctor: Runner) -> None:
    out = tmp_path / "pylock.toml"
    result = pkgdoctor(
        "export", "--prefix", str(source.venv.prefix), "--format", "pylock", "-o", str(out)
    )
    assert result.status == 0, result.err
    text = out.read_text()
    lock = tomllib.loads(text)
    Pylock.from_dict(lock)  # valid PEP 751, as packaging reads it
    packages = {p["name"]: p for p in lock["packages"]}
    # Index installs: the very files pip installed, with the index's hash of each.
    downloaded = {p.name: p for p in source.wheelhouse.iterdir()}
    for name in ("markupsafe", "six"):
        (wheel,) = packages[name]["wheels"]
        assert packages[name]["index"] == "https://pypi.org/simple/"
        assert wheel["url"].endswith("/" + wheel["name"])
        data = downloaded[wheel["name"]].read_bytes()
        assert wheel["hashes"] == {"sha256": hashlib.sha256(data).hexdigest()}
    assert packages["localpkg"] == {
        "name": "localpkg",
        "version": "1.0",
        "archive": {
            "path": str(source.wheel),
            "hashes": {"sha256": hashlib.sha256(source.wheel.read_bytes()).hexdigest()},
        },
    }
    # PEP 751: no version for a source tree.
    assert packages["tiny-editable"] == {
        "name": "tiny-editable",
        "directory": {"path": str(source.project), "editable": True},
    }
    assert text.startswith(header(source.venv.prefix, PYLOCK_HOW))
    assert lock["lock-version"] == "1.0" and lock["created-by"] == "pkgdoctor"
    assert lock["requires-python"] == f"=={SHORT}.*"
    assert lock["environments"] == [MARKER]

    fresh = make_venv(tmp_path / "fresh")
    env = dict(os.environ, UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    uv = [sys.executable, "-m", "uv", "pip", "install", "--no-config"]
    run(
        [*uv, "--preview-features", "pylock", "--python", str(fresh.python), "-r", str(out)],
        env=env,
    )
    assert inventory(fresh.prefix) == inventory(source.venv.prefix)
    # The look-up keeps its own cache: `wheels` still reads the index pages it cached.
    assert pkgdoctor("wheels", "six==1.17.0").status == 0


def test_export_from_a_snapshot_is_the_same(
    source: Source, tmp_path: Path, pkgdoctor: Runner
) -> None:
    saved = tmp_path / "env.json"
    assert pkgdoctor("snapshot", "--prefix", str(source.venv.prefix), "-o", str(saved)).status == 0
    for fmt in ("requirements", "environment-yml"):
        live = pkgdoctor("export", "--prefix", str(source.venv.prefix), "--format", fmt)
        recorded = pkgdoctor("export", "--from", str(saved), "--format", fmt)
        assert (recorded.status, recorded.out) == (0, live.out)


# --- rendering, on dist-infos written by the tests (no download) ----------------------------

VCS_COMMIT = "0123456789abcdef0123456789abcdef01234567"
GONE_WHEEL = "/nonexistent/pkgdoctor-tests/gone-1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("export-written") / "env")
    site = venv.site_packages
    write_dist_info(site, "torch", "2.5.1+cu121", [])
    write_dist_info(site, "torchvision", "0.20.1+cpu", [])
    write_dist_info(site, "jaxlib", "0.4.30+cuda12.cudnn91", [])
    write_dist_info(site, "pip", "24.0", [])
    conda = write_dist_info(site, "condapkg", "2.0", [])
    (conda / "INSTALLER").write_text("conda\n")
    gone = write_dist_info(site, "gone", "1.0", [])
    archive = {"hashes": {"sha256": "ab" * 32}}
    (gone / "direct_url.json").write_text(
        json.dumps({"url": Path(GONE_WHEEL).as_uri(), "archive_info": archive})
    )
    vcs = write_dist_info(site, "vcspkg", "0.3", [])
    vcs_info = {"vcs": "git", "commit_id": VCS_COMMIT, "requested_revision": "main"}
    (vcs / "direct_url.json").write_text(
        json.dumps({"url": "https://github.com/example/vcspkg", "vcs_info": vcs_info})
    )
    return venv


GONE = f"gone==1.0: no known source (installed from {GONE_WHEEL}, which no longer exists)"
JAXLIB = "jaxlib==0.4.30+cuda12.cudnn91"
UNKNOWN_INDEX = "the index of local version +cuda12.cudnn91 is unknown: add its --extra-index-url"
VCS_LINE = f"vcspkg @ git+https://github.com/example/vcspkg@{VCS_COMMIT}"


def test_requirements_local_versions_gone_conda_vcs(written: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("export", "--prefix", str(written.prefix))
    assert result.status == 0, result.err
    assert result.out == (
        header(written.prefix, "Recreate with: pip install -r FILE")
        + "# Left out, as pip freeze does: pip.\n"
        "--extra-index-url https://download.pytorch.org/whl/cpu\n"
        "--extra-index-url https://download.pytorch.org/whl/cu121\n"
        "condapkg==2.0  # installed by conda\n"
        f"# {GONE}\n"
        f"{JAXLIB}  # {UNKNOWN_INDEX}\n"
        "torch==2.5.1+cu121\n"
        "torchvision==0.20.1+cpu\n"
        f"{VCS_LINE}\n"
    )


def test_environment_yml(written: Venv, pkgdoctor: Runner) -> None:
    result = pkgdoctor("export", "--prefix", str(written.prefix), "--format", "environment-yml")
    assert result.status == 0, result.err
    assert result.out == (
        header(written.prefix, "Recreate with: conda env create -f FILE")
        + "# Left out, as pip freeze does: pip.\n"
        "name: env\n"
        "# channels: not recorded; conda uses the channels of your configuration\n"
        "dependencies:\n"
        f"  - python={SHORT}\n"
        "  - condapkg=2.0\n"
        "  - pip\n"
        "  - pip:\n"
        "      - --extra-index-url https://download.pytorch.org/whl/cpu\n"
        "      - --extra-index-url https://download.pytorch.org/whl/cu121\n"
        f"      # {GONE}\n"
        f"      - {JAXLIB}  # {UNKNOWN_INDEX}\n"
        "      - torch==2.5.1+cu121\n"
        "      - torchvision==0.20.1+cpu\n"
        f"      - {VCS_LINE}\n"
    )


def test_pylock_says_what_it_cannot_lock(written: Venv, pkgdoctor: Runner) -> None:
    argv = ("export", "--prefix", str(written.prefix), "--format", "pylock", "--no-index")
    result = pkgdoctor(*argv)
    assert result.status == 0, result.err
    not_asked = "its index was not asked for the file's URL and hash (--no-index)"
    assert result.out == (
        header(written.prefix, PYLOCK_HOW) + "# Left out, as pip freeze does: pip.\n"
        "# Not locked (install these yourself):\n"
        "#   condapkg==2.0: installed by conda, not from a file of an index (see "
        "environment-yml)\n"
        f"#   {GONE}\n"
        f"#   {JAXLIB}: {not_asked}\n"
        f"#   torch==2.5.1+cu121: {not_asked}\n"
        f"#   torchvision==0.20.1+cpu: {not_asked}\n"
        'lock-version = "1.0"\n'
        f"environments = {json.dumps([MARKER])}\n"
        f'requires-python = "=={SHORT}.*"\n'
        'created-by = "pkgdoctor"\n'
        "\n"
        "[[packages]]\n"
        'name = "vcspkg"\n'
        'version = "0.3"\n'
        'vcs = { type = "git", url = "https://github.com/example/vcspkg", '
        f'requested-revision = "main", commit-id = "{VCS_COMMIT}" }}\n'
    )
    Pylock.from_dict(tomllib.loads(result.out))


def test_usage_errors_are_one_line(written: Venv, tmp_path: Path, pkgdoctor: Runner) -> None:
    prefix = str(written.prefix)
    result = pkgdoctor("export", "--prefix", prefix, "--index-url", "https://x.invalid/simple/")
    assert (result.status, result.out) == (2, "")
    assert result.err == "pkgdoctor: error: --index-url is only for --format pylock\n"
    missing = tmp_path / "no-such-directory" / "requirements.txt"
    result = pkgdoctor("export", "--prefix", prefix, "-o", str(missing))
    assert (result.status, result.out) == (2, "")
    assert result.err == f"pkgdoctor: error: -o {missing}: No such file or directory\n"


# --- the pieces -----------------------------------------------------------------------------


@given(st.text(), st.dictionaries(st.text(), st.text(), max_size=3))
def test_toml_values_read_back(text: str, table: dict[str, str]) -> None:
    document = f"a = {toml_value(text)}\nb = {toml_value(table)}\nc = {toml_value([text])}\n"
    assert tomllib.loads(document) == {"a": text, "b": table, "c": [text]}


def _dist(tags: tuple[str, ...], build: str | None = None) -> Distribution:
    return Distribution(
        "Foo", "1.0", "/site/foo-1.0.dist-info", "/site", wheel_tags=tags, wheel_build=build
    )


def test_the_index_file_is_the_one_with_the_installed_tags() -> None:
    index = "https://pypi.org/simple/"
    h = {"sha256": "00"}
    rows = [
        ["foo-1.0-py3-none-any.whl", "https://f/foo-1.0-py3-none-any.whl", h],
        ["foo-1.0-1-py3-none-any.whl", "https://f/foo-1.0-1-py3-none-any.whl", {"sha256": "11"}],
        ["foo-1.0.tar.gz", "https://f/foo-1.0.tar.gz", {"sha256": "22"}],
        ["foo-1.1-py3-none-any.whl", "https://f/foo-1.1-py3-none-any.whl", h],
    ]
    found = match(_dist(("py3-none-any",)), rows, index)
    assert not isinstance(found, str)
    assert (found.kind, found.filename, found.hashes) == ("wheel", rows[0][0], h)
    found = match(_dist(("py3-none-any",), build="1"), rows, index)
    assert not isinstance(found, str) and found.hashes == {"sha256": "11"}
    # A wheel pip built here from the sdist: the sdist is the file to lock.
    found = match(_dist(("cp311-cp311-linux_x86_64",)), rows, index)
    assert not isinstance(found, str) and (found.kind, found.filename) == ("sdist", rows[2][0])
    assert match(_dist(("py2-none-any",)), rows[:1], index) == (
        "https://pypi.org/simple/ has no file with the installed wheel's tags (py2-none-any)"
    )
