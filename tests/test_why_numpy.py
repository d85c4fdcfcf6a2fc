"""ext-numpy-abi: pandas 1.5.3 (compiled against NumPy 1.x) under numpy 2.2.4, real wheels.

The wheels are cp311 (pandas 1.5.3 has none for a later Python): the suite's interpreter
must be CPython 3.11, as .ci/run makes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from artefacts import Venv, Wheelhouse, compile_extension, make_venv, run, write_dist_info
from conftest import Runner
from pkgdoctor.look.numpy_abi import read_headers_major
from pkgdoctor.numpy_abi import abi_error

OLD_PANDAS = ("pandas==1.5.3", "python-dateutil==2.9.0.post0", "pytz==2024.1", "six==1.16.0")
NUMPY2 = "numpy==2.2.4"
NUMPY1 = "numpy==1.26.4"

pytestmark = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="pandas 1.5.3 has wheels up to CPython 3.11"
)


def venv_with_pip(path: Path) -> Venv:
    """A venv with its own pip (ensurepip's bundled wheel: no download), so that the
    ``python -m pip`` command a finding prints can run in it."""
    run([sys.executable, "-m", "venv", str(path)])
    return Venv(path)


def test_pandas_built_for_numpy1_under_numpy2(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = venv_with_pip(tmp_path / "env")
    wheelhouse.install(venv, *OLD_PANDAS, NUMPY2)

    result = pkgdoctor("why", "pandas", "--prefix", str(venv.prefix), "--json")
    assert result.status == 1
    assert "numpy.dtype size changed" in result.json["imports"][0]["chain"][0]["message"]
    [finding] = result.json["findings"]
    assert finding["code"] == "ext-numpy-abi"
    assert finding["distribution"] == "pandas"
    # why runs check's families too: every module of pandas, read from the files (the
    # import explained by the same finding); numpy's version from its metadata.
    assert finding["message"] == (
        "pandas 1.5.3 was compiled against NumPy 1.x (32 extension modules), but numpy "
        "2.2.4 is installed: NumPy 2 cannot load them."
    )
    # The failed import is part of its evidence (why merges it into check's finding).
    assert "numpy.dtype size changed" in str(finding["evidence"]["import_error"])
    assert finding["evidence"]["numpy_installed"] == "2.2.4"
    command = finding["command"]
    assert command == f"{venv.prefix}/bin/python3 -m pip install 'numpy<2'"
    assert "upgrade pandas to a release compiled against NumPy 2" in finding["explanation"]

    # check says it before any import: every module of pandas, read from the files.
    checked = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    [static] = [f for f in checked.json["findings"] if f["code"] == "ext-numpy-abi"]
    assert static["evidence"]["file_count"] == 32
    assert static["command"] == command

    # The command works: pip takes numpy 1.26.4 (from the wheelhouse: no index), and
    # pandas imports.
    numpy1 = wheelhouse.fetch(NUMPY1)
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(numpy1))
    env.pop("PIP_CONSTRAINT", None)
    proc = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run([str(venv.python), "-c", "import pandas, numpy; assert numpy.__version__ == '1.26.4'"])
    fixed = pkgdoctor("why", "pandas", "--prefix", str(venv.prefix), "--json")
    assert fixed.status == 0
    assert fixed.json["findings"] == []


def test_numpy_2_required_elsewhere_takes_the_command_away(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, *OLD_PANDAS, NUMPY2)
    needs = venv.site_packages / "needs2-1.0.dist-info"
    needs.mkdir()
    (needs / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: needs2\nVersion: 1.0\nRequires-Dist: numpy>=2.0\n\n"
    )
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    [finding] = [f for f in result.json["findings"] if f["code"] == "ext-numpy-abi"]
    assert finding["command"] is None
    assert "numpy<2 would break needs2 1.0 (numpy>=2.0)" in finding["explanation"]


@pytest.mark.parametrize(
    "specs", [("pandas==2.2.3", "tzdata==2024.1", NUMPY2), (NUMPY1,)], ids=["numpy2", "numpy1"]
)
def test_healthy_numpy_environments_have_no_finding(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner, specs: tuple[str, ...]
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, *OLD_PANDAS[1:], *specs)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert "ext-numpy-abi" not in result.codes()
    if "pandas==2.2.3" in specs:
        # Every pandas 2.2.3 module that imports NumPy's C API was compiled against 2.x.
        modules = list((venv.site_packages / "pandas").rglob("*.so"))
        verdicts = {read_headers_major(str(m)) for m in modules}
        assert verdicts == {2, None}, verdicts
        run([str(venv.python), "-c", "import pandas"])


def test_pandas_1_5_3_under_numpy_1_is_healthy(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, *OLD_PANDAS, NUMPY1)
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json")
    assert "ext-numpy-abi" not in result.codes()
    assert pkgdoctor("why", "pandas", "--prefix", str(venv.prefix)).status == 0


# What NumPy's headers before 1.16 compile import_array() to (numpy/core/code_generators/
# generate_numpy_api.py of NumPy 1.15): the API table from numpy.core.multiarray, then a check
# of its ABI version. Its file names neither numpy.core._multiarray_umath nor
# numpy._core._multiarray_umath, so only the error tells.
PRE_116_IMPORT_ARRAY = """
static int old_import_array(void) {
    PyObject *numpy = PyImport_ImportModule("numpy.core.multiarray");
    if (numpy == NULL) return -1;
    PyObject *c_api = PyObject_GetAttrString(numpy, "_ARRAY_API");
    Py_DECREF(numpy);
    if (c_api == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_ARRAY_API not found");
        return -1;
    }
    void **api = (void **)PyCapsule_GetPointer(c_api, NULL);
    Py_DECREF(c_api);
    if (api == NULL) return -1;
    unsigned int version = ((unsigned int (*)(void))api[0])();
    if (version != 0x1000009) {
        PyErr_Format(PyExc_RuntimeError, "module compiled against ABI version 0x%x but this "
                     "version of numpy is 0x%x", 0x1000009, version);
        return -1;
    }
    return 0;
}
"""
IMPORT_ARRAY_MACRO = (
    "if (old_import_array() < 0) { PyErr_Print(); PyErr_SetString(PyExc_ImportError, "
    '"numpy.core.multiarray failed to import"); return NULL; }'
)


def test_the_import_error_tells_when_the_file_does_not(
    tmp_path: Path, wheelhouse: Wheelhouse, pkgdoctor: Runner
) -> None:
    venv = make_venv(tmp_path / "env")
    wheelhouse.install(venv, NUMPY2)
    ext = compile_extension(
        venv.site_packages, "oldnp", extra=PRE_116_IMPORT_ARRAY, body=IMPORT_ARRAY_MACRO
    )
    dist_info = write_dist_info(venv.site_packages, "oldnp", "0.3", [ext.name])
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: oldnp\nVersion: 0.3\nRequires-Dist: numpy\n\n"
    )
    assert read_headers_major(str(ext)) is None

    result = pkgdoctor("why", "oldnp", "--prefix", str(venv.prefix), "--json")
    assert result.json["imports"][0]["chain"][0]["message"] == (
        "numpy.core.multiarray failed to import"
    )
    [finding] = result.json["findings"]
    assert finding["code"] == "ext-numpy-abi"
    assert finding["message"] == (
        "oldnp 0.3 was compiled against NumPy 1.x (1 extension module), but numpy 2.2.4 is "
        "installed: NumPy 2 cannot load it."
    )
    assert finding["evidence"]["files"] == [{"path": str(ext), "known_from": "the import error"}]
    # No static verdict, so check stays silent about it: no false alarm from a guess.
    assert "ext-numpy-abi" not in pkgdoctor("check", "--prefix", str(venv.prefix), "--json").codes()


NUMPY1_DTYPE = (
    "numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, "
    "got 88 from PyObject"
)
OLD_HEADERS = "module compiled against ABI version 0x1000009 but this version of numpy is 0x2000000"
NEW_HEADERS = "module compiled against ABI version 0x2000000 but this version of numpy is 0x1000009"


@pytest.mark.parametrize(
    ("message", "break_"),
    [
        (NUMPY1_DTYPE, True),
        ("_ARRAY_API not found", True),
        ("numpy.core.multiarray failed to import", True),
        ("\nA module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.2.4 as it", True),
        (OLD_HEADERS, True),
        ("No module named 'numpy'", False),
        (NEW_HEADERS, False),
    ],
)
def test_the_abi_break_is_told_from_its_messages(message: str, break_: bool) -> None:
    assert abi_error(message) is break_
