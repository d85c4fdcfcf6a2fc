"""Distributions the OS package manager owns: dpkg's, apk's and rpm's files are fixed through
them.

On a Debian machine the suite checks the system's own ``/usr/bin/python3`` (dpkg's database
is the oracle, asked through ``dpkg-query -S``, read-only). Everywhere, it builds trees of
another "machine" under ``tmp_path`` — ``ROOT/usr`` with its own ``ROOT/var/lib/dpkg``,
``ROOT/lib/apk/db`` or ``ROOT/var/lib/rpm`` (written by the test: no rpm here) — and checks
them with ``--prefix ROOT/usr``: only that root's database may be read, never this
machine's.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from artefacts import make_venv, record_line, without_user_config, write_dist_info
from conftest import Runner
from pkgdoctor.look import collect
from pkgdoctor.look.ospackages import os_root
from pkgdoctor.snapshot import codec
from pkgdoctor.target import find_target

SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN = os.path.isfile("/var/lib/dpkg/status") and os.path.exists(SYSTEM_PYTHON)
SITE = "usr/lib/python3/dist-packages"


def dpkg_owner(path: str) -> str | None:
    """The package dpkg says owns ``path`` (``dpkg-query -S``), the test's own oracle."""
    result = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True, check=False)
    return result.stdout.split(":", 1)[0] if result.returncode == 0 else None


@pytest.mark.skipif(
    not DEBIAN,
    reason="not a Debian-family machine (no /var/lib/dpkg/status or no /usr/bin/python3): "
    "there is no system Python whose files dpkg owns to check",
)
def test_debian_system_python(pkgdoctor: Runner) -> None:
    result = pkgdoctor("check", "--python", SYSTEM_PYTHON, "--json")
    findings = result.json["findings"]
    assert result.json["summary"]["error"] == 0, findings
    for finding in findings:
        command = finding["command"] or ""
        # No pip into the OS's Python, no rm of a file dpkg owns.
        if finding["distribution"] and " -m pip " in command:
            dist = finding["path"] or ""
            assert dpkg_owner(dist) is None, finding
        for word in command.split():
            if command.startswith("rm ") and word.startswith("/"):
                assert dpkg_owner(word) is None, finding
        # RECORD rows Debian moved or dropped are not missing files.
        if finding["code"] == "record-missing-file":
            assert dpkg_owner(finding["path"]) is None, finding
        # Every warning left is about a file no package owns (this machine's own .pth).
        if finding["severity"] == "warning":
            assert finding["code"] == "pth-executes-code", finding
            assert dpkg_owner(finding["path"]) is None
            assert (
                "Neither an installed distribution nor a dpkg package" in (finding["explanation"])
            )
    # --deep: Debian strips extension modules after the build wrote RECORD; what is left
    # must differ from dpkg's own md5sums too (dpkg --verify: "5" in the third column).
    deep = pkgdoctor("check", "--python", SYSTEM_PYTHON, "--deep", "--json").json["findings"]
    for finding in deep:
        if finding["code"] != "record-hash-mismatch":
            continue
        package = finding["evidence"]["owned_by"].split()[2]
        verify = subprocess.run(
            ["dpkg", "--verify", package], capture_output=True, text=True, check=False
        ).stdout
        changed = {line.split()[-1] for line in verify.splitlines() if line[2:3] == "5"}
        site = os.path.dirname(finding["path"])
        for item in finding["evidence"]["files"]:
            assert os.path.normpath(os.path.join(site, item["path"])) in changed, finding
        assert finding["command"] == f"apt install --reinstall {package}"
    snapshot = codec.to_json(collect(find_target(SYSTEM_PYTHON)))
    owned = snapshot["os_packages"]
    assert owned["manager"] == "dpkg" and owned["root"] == "/"
    for path, packages in list(owned["owned"].items())[:50]:
        assert dpkg_owner(path) in packages, path
    missing = [
        f
        for f in findings
        if f["code"] == "dist-requirement-missing" and f["distribution"] == "PyGObject"
    ]
    if not missing:
        return  # python3-cairo is installed here, or PyGObject is not
    (finding,) = missing
    assert finding["severity"] == "info"
    assert finding["evidence"]["owned_by"].startswith("dpkg package python3-gi ")
    assert finding["command"] == f"apt install {finding['evidence']['os_package']}"
    package = finding["evidence"]["os_package"]
    assert package == "python3-cairo"
    # The name must be a real Debian package: apt's cache (read-only) knows it when the
    # lists are there; the explanation says where the name came from.
    if shutil.which("apt-cache"):
        shown = subprocess.run(
            ["apt-cache", "show", "--no-all-versions", package],
            capture_output=True,
            text=True,
            check=False,
        )
        assert shown.returncode == 0 and f"Package: {package}" in shown.stdout
    assert "built from the source package pycairo" in finding["explanation"]


# --- another machine's tree, with its own database ------------------------------------------


def debian_tree(root: Path, *, apt_list: bool = True) -> Path:
    """``root/usr`` with python3.11's layout and a dist-info that dpkg package python3-foo
    installed, its script relocated by the packaging (RECORD says ``../../../bin/foo``,
    the package ships none), requiring ``pybar`` which is not installed; ``root/var/lib/dpkg``
    says so, and apt's list knows python3-bar, built from source ``pybar`` (as Debian's
    python3-cairo is from pycairo)."""
    usr = root / "usr"
    (usr / "lib" / "python3.11").mkdir(parents=True)
    site = usr / "lib" / "python3" / "dist-packages"
    (site / "foo").mkdir(parents=True)
    (site / "foo" / "__init__.py").write_text("")
    meta = write_dist_info(site, "foo", "1.0", ["foo/__init__.py", "../../../bin/foo"])
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: pybar>=1\n\n"
    )
    (site / "zz.pth").write_text("import os\n")
    dpkg = root / "var" / "lib" / "dpkg"
    (dpkg / "info").mkdir(parents=True)
    (dpkg / "status").write_text(
        "Package: python3-foo\nStatus: install ok installed\nSource: foo-src (1.0-1)\n"
        "Version: 1.0-1\nArchitecture: all\n\n"
        "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n"
        "Architecture: amd64\n\n"
    )
    files = ["/usr", "/usr/lib", "/usr/lib/python3", f"/{SITE}", f"/{SITE}/foo"]
    files += [f"/{SITE}/foo/__init__.py", f"/{SITE}/{meta.name}", f"/{SITE}/zz.pth"]
    files += [f"/{SITE}/{meta.name}/{n}" for n in ("METADATA", "INSTALLER", "RECORD")]
    (dpkg / "info" / "python3-foo.list").write_text("\n".join(files) + "\n")
    (dpkg / "info" / "libc6:amd64.list").write_text("/lib\n/lib/x86_64-linux-gnu/libc.so.6\n")
    if apt_list:
        lists = root / "var" / "lib" / "apt" / "lists"
        lists.mkdir(parents=True)
        # gzip-compressed, as apt keeps its lists with Acquire::GzipIndexes.
        (lists / "deb.example_dists_x_main_binary-amd64_Packages.gz").write_bytes(
            gzip.compress(
                b"Package: python3-bar-dbg\nSource: pybar\nVersion: 2.0-1\n\n"
                b"Package: python3-bar\nSource: pybar\nVersion: 2.0-1\n\n"
                b"Package: python3-baz\nVersion: 1\n\n"
            )
        )
    return usr


def test_a_static_tree_with_its_own_dpkg(tmp_path: Path, pkgdoctor: Runner) -> None:
    usr = debian_tree(tmp_path / "srv")
    result = pkgdoctor("check", "--prefix", str(usr), "--json")
    findings = {f["code"]: f for f in result.json["findings"]}
    # The relocated script is dpkg's business, not a missing file.
    assert "record-missing-file" not in findings
    missing = findings["dist-requirement-missing"]
    assert missing["severity"] == "info"
    assert missing["command"] == "apt install python3-bar"
    assert missing["evidence"]["owned_by"] == "dpkg package python3-foo 1.0-1"
    assert "built from the source package pybar" in missing["explanation"]
    assert "owned by dpkg package python3-foo 1.0-1" in missing["message"]
    pth = findings["pth-executes-code"]
    assert pth["command"] is None
    assert "owned by dpkg package python3-foo 1.0-1" in pth["explanation"]
    snapshot = codec.to_json(collect(find_target(prefix=str(usr))))
    facts = snapshot["os_packages"]
    assert facts["root"] == str(tmp_path / "srv")
    # Only this tree's packages: never this machine's.
    assert [p["name"] for p in facts["packages"]] == ["python3-foo"]
    site = str(usr / "lib" / "python3" / "dist-packages")
    assert facts["owned"][f"{site}/foo-1.0.dist-info"] == ["python3-foo"]


def test_a_file_dpkg_installed_and_lost_is_reinstalled_with_apt(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    usr = debian_tree(tmp_path / "srv", apt_list=False)
    (usr / "lib" / "python3" / "dist-packages" / "foo" / "__init__.py").unlink()
    result = pkgdoctor("check", "--prefix", str(usr), "--json")
    findings = {f["code"]: f for f in result.json["findings"]}
    lost = findings["record-missing-file"]
    assert lost["severity"] == "error"
    assert lost["evidence"]["missing"] == ["foo/__init__.py"]  # not ../../../bin/foo
    assert lost["evidence"]["relocated_by_os"] == 1
    assert lost["command"] == "apt install --reinstall python3-foo"
    # No apt list: the name comes from Debian's policy, and the explanation says so.
    missing = findings["dist-requirement-missing"]
    assert missing["command"] == "apt install python3-pybar"
    assert "Debian's Python policy names it python3-pybar" in missing["explanation"]
    assert "dpkg's status did not confirm that name" in missing["explanation"]


def test_deep_trusts_what_dpkg_installed(tmp_path: Path, pkgdoctor: Runner) -> None:
    """Debian changes files after the build wrote RECORD (dh_strip strips extension
    modules): a file whose content has dpkg's md5sum is the OS's doing, not damage; one that
    differs from dpkg's md5sum too is reported, and reinstalled with apt."""
    usr = debian_tree(tmp_path / "srv")
    site = usr / "lib" / "python3" / "dist-packages"
    stripped, edited = b"x = 1  # as Debian built it\n", b"x = 2  # edited since\n"
    debian_b = b"x = 2  # as Debian built it\n"
    (site / "foo" / "a.py").write_bytes(stripped)
    (site / "foo" / "b.py").write_bytes(edited)
    meta = site / "foo-1.0.dist-info"
    (meta / "RECORD").write_text(
        record_line("foo/a.py", b"x = 1  # upstream's\n")
        + record_line("foo/b.py", b"x = 2  # upstream's\n")
        + "foo-1.0.dist-info/RECORD,,\n"
    )
    info = tmp_path / "srv" / "var" / "lib" / "dpkg" / "info"
    listed = (info / "python3-foo.list").read_text()
    (info / "python3-foo.list").write_text(listed + f"/{SITE}/foo/a.py\n/{SITE}/foo/b.py\n")
    (info / "python3-foo.md5sums").write_text(
        f"{hashlib.md5(stripped).hexdigest()}  {SITE}/foo/a.py\n"
        f"{hashlib.md5(debian_b).hexdigest()}  {SITE}/foo/b.py\n"
    )
    result = pkgdoctor("check", "--prefix", str(usr), "--deep", "--json")
    (mismatch,) = [f for f in result.json["findings"] if f["code"] == "record-hash-mismatch"]
    assert [d["path"] for d in mismatch["evidence"]["files"]] == ["foo/b.py"]
    assert mismatch["command"] == "apt install --reinstall python3-foo"


def test_a_hostile_database_is_read_without_hanging(tmp_path: Path) -> None:
    """FIFOs and devices where dpkg's and apt's files belong, a .list naming paths outside
    the tree, a gzip bomb as apt's list: the check ends, in a child with a hard timeout
    and an address-space limit, and the database is judged from what could be read."""
    import resource
    import sys

    root = tmp_path / "srv"
    usr = debian_tree(root, apt_list=False)
    dpkg = root / "var" / "lib" / "dpkg"
    os.mkfifo(dpkg / "info" / "fifo.list")
    (dpkg / "info" / "zero.list").symlink_to("/dev/zero")
    (dpkg / "info" / "escape.list").write_text("/../../etc/shadow\n/usr/../../../etc\n")
    lists = root / "var" / "lib" / "apt" / "lists"
    lists.mkdir(parents=True)
    os.mkfifo(lists / "a_Packages")
    (lists / "b_Packages.lz4").symlink_to("/dev/zero")
    # ~1 GiB of zeros as a 1 MB gzip file: must stop at the limit, not fill memory.
    with gzip.open(lists / "c_Packages.gz", "wb", compresslevel=9) as bomb:
        block = bytes(1 << 24)
        for _ in range(64):
            bomb.write(block)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    result = subprocess.run(
        [sys.executable, "-m", "pkgdoctor", "check", "--prefix", str(usr), "--json"],
        env=without_user_config(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # notes only
    findings = json.loads(result.stdout)["findings"]
    missing = [f for f in findings if f["code"] == "dist-requirement-missing"]
    assert missing[0]["command"] == "apt install python3-pybar"  # policy: no list was read
    assert missing[0]["evidence"]["owned_by"] == "dpkg package python3-foo 1.0-1"
    # Now the status file is a FIFO: ownership stands, without versions.
    (dpkg / "status").unlink()
    os.mkfifo(dpkg / "status")
    snapshot = collect(find_target(prefix=str(usr)))
    assert snapshot.os_packages is None  # dpkg's status is no file: no dpkg database here


def test_a_conflict_with_an_os_package_is_upgraded_through_apt(
    tmp_path: Path, pkgdoctor: Runner
) -> None:
    root = tmp_path / "srv"
    usr = debian_tree(root, apt_list=False)
    site = usr / "lib" / "python3" / "dist-packages"
    (site / "foo-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: qux>=2\n\n"
    )
    qux = write_dist_info(site, "qux", "1.0", [])
    info = root / "var" / "lib" / "dpkg" / "info"
    (info / "python3-qux.list").write_text(f"/{SITE}/{qux.name}\n")
    with (root / "var" / "lib" / "dpkg" / "status").open("a") as status:
        status.write("Package: python3-qux\nStatus: install ok installed\nVersion: 1.0-2\n\n")
    result = pkgdoctor("check", "--prefix", str(usr), "--json")
    (conflict,) = [f for f in result.json["findings"] if f["code"] == "dist-requirement-conflict"]
    assert conflict["command"] == "apt install python3-qux"
    assert "qux is owned by dpkg package python3-qux 1.0-2" in conflict["explanation"]


def test_a_prefix_below_usr_without_a_database_reads_none(tmp_path: Path) -> None:
    usr = debian_tree(tmp_path / "srv")
    shutil.rmtree(tmp_path / "srv" / "var")
    snapshot = collect(find_target(prefix=str(usr)))
    assert snapshot.os_packages is None  # this machine's dpkg is not the tree's


def test_which_roots_are_read(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "env")
    live = find_target(str(venv.python))
    assert os_root(find_target(prefix=str(venv.prefix), static=True)) == []
    # A live venv's base interpreter is this machine's: its root is read when it is /usr.
    base = os.path.normpath(live.base_prefix)
    assert os_root(live) == (["/"] if base == "/usr" else [])


def test_apk_tree(tmp_path: Path, pkgdoctor: Runner) -> None:
    root = tmp_path / "alpine"
    usr = root / "usr"
    (usr / "lib" / "python3.12").mkdir(parents=True)
    site = usr / "lib" / "python3.12" / "site-packages"
    (site / "foo").mkdir(parents=True)
    meta = write_dist_info(site, "foo", "1.0", ["foo/__init__.py", "../../../bin/foo"])
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: bar\n\n"
    )
    db = root / "lib" / "apk" / "db"
    db.mkdir(parents=True)
    rel = "usr/lib/python3.12/site-packages"
    # foo/mod.py differs from RECORD but has apk's checksum (Z:, Q1 + base64 SHA-1).
    built = b"VALUE = 1  # as Alpine built it\n"
    (site / "foo" / "mod.py").write_bytes(built)
    with (meta / "RECORD").open("a") as record:
        record.write(record_line("foo/mod.py", b"VALUE = 1\n"))
    z = base64.b64encode(hashlib.sha1(built).digest()).decode()
    (db / "installed").write_text(
        "C:Q1abc=\nP:py3-foo\nV:1.0-r0\no:py3-foo\n"
        f"F:{rel}/foo\nR:__init__.py\nR:mod.py\nZ:Q1{z}\n"
        f"F:{rel}/{meta.name}\nR:METADATA\nR:RECORD\n\n"
        "C:Q1def=\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl-x86_64.so.1\n\n"
    )
    result = pkgdoctor("check", "--prefix", str(usr), "--json")
    findings = {f["code"]: f for f in result.json["findings"]}
    lost = findings["record-missing-file"]  # foo/__init__.py: apk installed it, it is gone
    assert lost["command"] == "apk fix py3-foo"
    assert lost["evidence"]["owned_by"] == "apk package py3-foo 1.0-r0"
    assert lost["evidence"]["missing"] == ["foo/__init__.py"]
    missing = findings["dist-requirement-missing"]
    assert missing["command"] == "apk add py3-bar"
    assert "Alpine's naming of Python packages names it py3-bar" in missing["explanation"]
    deep = pkgdoctor("check", "--prefix", str(usr), "--deep", "--json")
    assert "record-hash-mismatch" not in deep.codes()


def test_round_trip_and_older_snapshots(tmp_path: Path) -> None:
    usr = debian_tree(tmp_path / "srv")
    snapshot = collect(find_target(prefix=str(usr)))
    assert snapshot.os_packages is not None and snapshot.os_packages.candidates
    again = codec.loads(codec.dumps(snapshot))
    assert again == snapshot
    assert codec.dumps(again) == codec.dumps(snapshot)
    document = codec.to_json(snapshot)
    del document["os_packages"]  # written before these facts existed
    assert codec.from_json(json.loads(json.dumps(document))).os_packages is None
    document["os_packages"] = {**codec.to_json(snapshot)["os_packages"], "manager": "pacman"}
    with pytest.raises(codec.SnapshotError):
        codec.from_json(document)


# --- rpm (Fedora, RHEL, openSUSE) -----------------------------------------------------------


def rpm_header(tags: dict[int, int | str | list[str] | list[int]]) -> bytes:
    """One header as rpm stores it in ``rpmdb.sqlite``'s ``Packages`` table (rpm's
    lib/header.c, headerExport, without the 8-byte magic): big-endian int32 ``il`` and
    ``dl``, ``il`` index entries (tag, type, offset, count), then ``dl`` bytes of data.
    Types: INT32 4 (4-byte aligned), STRING 6, STRING_ARRAY 8 (NUL-terminated strings)."""
    import struct

    index, data = b"", b""
    for tag, value in sorted(tags.items()):
        if isinstance(value, str):
            kind, count, raw = 6, 1, value.encode() + b"\0"
        elif isinstance(value, int) or all(isinstance(v, int) for v in value):
            ints = [value] if isinstance(value, int) else value
            data += b"\0" * (-len(data) % 4)
            kind, count, raw = 4, len(ints), struct.pack(f">{len(ints)}i", *ints)
        else:
            kind, count, raw = 8, len(value), b"".join(str(v).encode() + b"\0" for v in value)
        index += struct.pack(">iiii", tag, kind, len(data), count)
        data += raw
    return struct.pack(">ii", len(tags), len(data)) + index + data


def rpm_package(name: str, version: str, release: str, files: list[str], source: str) -> bytes:
    dirs = sorted({os.path.dirname(f) + "/" for f in files})
    return rpm_header(
        {
            1000: name,
            1001: version,
            1002: release,
            1044: f"{source}-{version}-{release}.src.rpm",
            1116: [dirs.index(os.path.dirname(f) + "/") for f in files],
            1117: [os.path.basename(f) for f in files],
            1118: dirs,
        }
    )


def write_rpmdb(root: Path, blobs: list[bytes]) -> Path:
    import sqlite3

    db = root / "var" / "lib" / "rpm" / "rpmdb.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(db)
    with connection:
        # rpm's lib/backend/sqlite.c creates the table so.
        connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    connection.close()
    return db


def fedora_tree(root: Path) -> Path:
    """``root/usr`` with python3.12's layout and a dist-info that rpm package python3-foo
    installed (its script relocated, requiring ``bar``, not installed), in
    ``root/var/lib/rpm/rpmdb.sqlite`` written here: this machine has no rpm, so there is
    no real rpm database to read; the headers follow rpm's format (lib/header.c)."""
    usr = root / "usr"
    (usr / "lib" / "python3.12").mkdir(parents=True)
    site = usr / "lib" / "python3.12" / "site-packages"
    (site / "foo").mkdir(parents=True)
    (site / "foo" / "__init__.py").write_text("")
    meta = write_dist_info(site, "foo", "1.0", ["foo/__init__.py", "../../../bin/foo"])
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: bar\n\n"
    )
    rel = "/usr/lib/python3.12/site-packages"
    files = [f"{rel}/foo", f"{rel}/foo/__init__.py", f"{rel}/{meta.name}"]
    files += [f"{rel}/{meta.name}/{n}" for n in ("METADATA", "INSTALLER", "RECORD")]
    write_rpmdb(
        root,
        [
            rpm_package("glibc", "2.38", "14.fc39", ["/usr/lib64/libc.so.6"], "glibc"),
            rpm_package("python3-foo", "1.0", "3.fc39", files, "python-foo"),
        ],
    )
    return usr


def test_a_static_tree_with_its_own_rpm(tmp_path: Path, pkgdoctor: Runner) -> None:
    usr = fedora_tree(tmp_path / "fedora")
    site = usr / "lib" / "python3.12" / "site-packages"
    result = pkgdoctor("check", "--prefix", str(usr), "--json")
    findings = {f["code"]: f for f in result.json["findings"]}
    assert "record-missing-file" not in findings  # the relocated script is rpm's business
    missing = findings["dist-requirement-missing"]
    assert missing["command"] == "dnf install -y python3-bar"
    assert missing["evidence"]["owned_by"] == "rpm package python3-foo 1.0-3.fc39"
    assert "Fedora's Python packaging guidelines names it python3-bar" in missing["explanation"]
    snapshot = codec.to_json(collect(find_target(prefix=str(usr))))
    facts = snapshot["os_packages"]
    assert facts["manager"] == "rpm" and facts["root"] == str(tmp_path / "fedora")
    assert [(p["name"], p["source"]) for p in facts["packages"]] == [("python3-foo", "python-foo")]
    assert facts["owned"][f"{site}/foo-1.0.dist-info"] == ["python3-foo"]
    # A file rpm installed and lost: dnf puts it back; never pip, never rm.
    (site / "foo" / "__init__.py").unlink()
    result = pkgdoctor("check", "--prefix", str(usr), "--json")
    lost = {f["code"]: f for f in result.json["findings"]}["record-missing-file"]
    assert lost["evidence"]["missing"] == ["foo/__init__.py"]
    assert lost["command"] == "dnf reinstall -y python3-foo"
    for finding in result.json["findings"]:
        command = finding["command"] or ""
        assert " pip " not in command and not command.startswith("rm "), finding
    # --deep: rpm's digests are not read, so a file that differs from RECORD is reported,
    # and reinstalled through dnf.
    (site / "foo" / "__init__.py").write_text("edited = True\n")
    (site / "foo-1.0.dist-info" / "RECORD").write_text(
        record_line("foo/__init__.py", b"") + "foo-1.0.dist-info/RECORD,,\n"
    )
    deep = pkgdoctor("check", "--prefix", str(usr), "--deep", "--json").json["findings"]
    (mismatch,) = [f for f in deep if f["code"] == "record-hash-mismatch"]
    assert mismatch["command"] == "dnf reinstall -y python3-foo"


def test_a_hostile_rpm_database_is_read_without_hanging(tmp_path: Path) -> None:
    """Truncated headers, offsets past the data, a huge index count, a string array that
    claims more strings than it has, a non-blob row, and then a FIFO named rpmdb.sqlite: the
    check ends, in a child with a hard timeout and an address-space limit; the good header
    is still read."""
    import resource
    import sqlite3
    import struct
    import sys

    root = tmp_path / "fedora"
    usr = fedora_tree(root)
    good = (root / "var" / "lib" / "rpm" / "rpmdb.sqlite").read_bytes()
    db = sqlite3.connect(root / "var" / "lib" / "rpm" / "rpmdb.sqlite")
    (blob,) = db.execute("SELECT blob FROM Packages WHERE hnum = 2").fetchone()
    il = struct.unpack_from(">i", blob)[0]
    hostile = [
        blob[:40],  # truncated
        b"\0\0",
        struct.pack(">ii", 0x7FFFFFFF, 0x7FFFFFFF) + blob[8:],  # huge il and dl
        struct.pack(">ii", 1, 4) + struct.pack(">iiii", 1117, 8, 0, 0x7FFFFFFF) + b"ab\0\0",
        struct.pack(">ii", 1, 4) + struct.pack(">iiii", 1116, 4, 0, 1 << 28) + b"\0" * 4,
        struct.pack(">ii", 1, 4) + struct.pack(">iiii", 1000, 6, 1 << 30, 1) + b"ab\0\0",
        struct.pack(">ii", 1, 2) + struct.pack(">iiii", 1000, 6, 0, 1) + b"ab",  # no NUL
        blob[:8] + bytes(16 * il) + blob[8 + 16 * il :],  # tags zeroed
    ]
    with db:
        db.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in hostile])
        db.execute("INSERT INTO Packages (blob) VALUES ('text, not a blob')")
    db.close()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    command = [sys.executable, "-m", "pkgdoctor", "check", "--prefix", str(usr), "--json"]
    result = subprocess.run(
        command,
        env=without_user_config(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)["findings"]
    (missing,) = [f for f in findings if f["code"] == "dist-requirement-missing"]
    assert missing["command"] == "dnf install -y python3-bar"
    assert missing["evidence"]["owned_by"] == "rpm package python3-foo 1.0-3.fc39"
    # Not a database at all, then a FIFO: nothing read, nothing waited for.
    path = root / "var" / "lib" / "rpm" / "rpmdb.sqlite"
    path.write_bytes(good[:100] + b"garbage" * 100)
    assert collect(find_target(prefix=str(usr))).os_packages is not None
    path.unlink()
    os.mkfifo(path)
    result = subprocess.run(
        command,
        env=without_user_config(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        check=False,
    )
    # No OS database now: the relocated script is a missing file (an error, exit 1).
    assert result.returncode == 1, result.stderr
    assert collect(find_target(prefix=str(usr))).os_packages is None
