"""A minimal PEP 517 / PEP 660 build backend for the tests' tiny project.

``build_wheel`` packs ``tiny_editable/``; ``build_editable`` writes a wheel whose ``.pth``
file puts this directory on ``sys.path`` (the simplest editable install PEP 660 allows).
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile

NAME, VERSION = "tiny_editable", "0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
DIST_INFO = f"{NAME}-{VERSION}.dist-info"


def _metadata() -> dict[str, bytes]:
    return {
        f"{DIST_INFO}/METADATA": (
            f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n\n".encode()
        ),
        f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tiny_backend\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }


def _write(directory: str, files: dict[str, bytes]) -> str:
    """A wheel holding ``files`` and a correct RECORD (PEP 427)."""
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    rows = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}\n")
    rows.append(f"{DIST_INFO}/RECORD,,\n")
    with zipfile.ZipFile(os.path.join(directory, name), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{DIST_INFO}/RECORD", "".join(rows))
    return name


def build_wheel(
    wheel_directory: str,
    config_settings: object = None,
    metadata_directory: object = None,
) -> str:
    package = os.path.join(HERE, NAME)
    files = {}
    for entry in sorted(os.listdir(package)):
        if entry.endswith(".py"):
            with open(os.path.join(package, entry), "rb") as f:
                files[f"{NAME}/{entry}"] = f.read()
    return _write(wheel_directory, {**files, **_metadata()})


def build_editable(
    wheel_directory: str,
    config_settings: object = None,
    metadata_directory: object = None,
) -> str:
    return _write(wheel_directory, {f"{NAME}.pth": f"{HERE}\n".encode(), **_metadata()})


def build_sdist(sdist_directory: str, config_settings: object = None) -> str:
    raise NotImplementedError("the tests never build an sdist of this project")
