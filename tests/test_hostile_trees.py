"""Whole hostile environment trees: hypothesis builds a real venv's site-packages out of a
random mix of everything issue 9 lists (FIFOs, loops, broken and looping symlinks, trees 200
deep, truncated gcc-built extension modules, names that are not UTF-8, damaged METADATA,
RECORD, WHEEL and direct_url.json, directories where files belong and files where
directories belong, unreadable files), and ``pkgdoctor check`` must judge every such tree,
static and live: it ends, exits 0, 1 or 2, never with a traceback, prints a bounded amount,
its JSON is valid against the schema, and it writes nothing into the target.

The parsers' own property tests stay beside their modules (test_elf, test_ldcache,
test_integrity, ...); this one proves that the pieces hold together on trees no test author
wrote by hand. Every run is a child process with a hard timeout and an address-space limit,
so that a regression fails an example instead of hanging the suite.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artefacts import (
    EXT_SUFFIX,
    PY,
    compile_extension,
    make_venv,
    snapshot,
    without_user_config,
    write_dist_info,
)
from conftest import Runner, validated

LIMIT_S = 60  # a run that takes longer has hung: no example needs a tenth of it
# --timeout: a FIFO .pth (or a .pth that sleeps) makes the target interpreter itself hang.
# A healthy probe takes ~0.1 s; on a machine so loaded that it takes longer, the run is still
# one clean error line (exit status 2), which the property accepts.
PROBE_TIMEOUT = "1.5"
MEMORY = 2 << 30  # 2 GiB of address space: far above a run's needs, far below a runaway's
# The report may quote what it read (a requirement is in a finding's message, its evidence
# and its fix), so its size is bounded by the tree's: a megabyte, plus four times the bytes
# of the tree's regular files. What grows faster (a quote per row of a quote per file) fails.
OUTPUT_BASE = 1 << 20
OUTPUT_FACTOR = 4
MAX_STDERR_LINES = 3
SECRET = "pkgdoctor-hostile-secret-d41d8cd9"  # in a file outside the venv: never printed


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


# --- The elements of a hostile tree -----------------------------------------------------------
#
# Each element is plain data (a tuple, so that hypothesis prints and shrinks it readably);
# ``build`` turns it into files. Element ``n`` of an example owns the names ``hN...``, so
# elements never collide, but they do meet: a .pth may name another element's loop.

DIST_FILES = (
    "METADATA",
    "RECORD",
    "WHEEL",
    "INSTALLER",
    "direct_url.json",
    "entry_points.txt",
    "top_level.txt",
    "REQUESTED",
)
SITE_FILES = ("pth", "so", "module", "package_init", "package_so")

RECORD_ROWS = (
    "/etc/passwd,,",
    "/etc/passwd,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0",
    "../../../../../../../../etc/passwd,,",
    "{n}/../../../../../../../../etc/shadow,sha256=x,1",
    "../../../../outside/secret.txt,,",
    "{n}/x.py,sha256=!!!not-base64!!!,1",
    "{n}/x.py,md5=d41d8cd98f00b204e9800998ecf8427e,5",
    "{n}/x.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0",
    "{n}/x.py,unknown,12",
    "{n}/x.py,,99999999999999999999999999999999999999",
    "{n}/x.py,,-5",
    "{n}/x.py,,1e9",
    "{n}/x.py,sha512=" + "A" * 5000 + ",1",
    "{n}/fifo,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0",
    "{n}/sub,,",
    "{n},,",
    '"unterminated,,',
    '"{n}/x.py""",,',
    "a,b,c,d,e,f,g",
    "\0\0\0,\0,\0",
    ",,,",
    "",
    "\\\\server\\share\\x.py,,",
    "C:\\Windows\\x.py,,",
    "{n}/" + "x" * 5000 + ".py,,",
)

text_garbage = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=60)
record_rows = st.lists(
    st.one_of(st.sampled_from(RECORD_ROWS), text_garbage), min_size=1, max_size=8
)
json_garbage = st.one_of(
    st.sampled_from(
        (
            b"[" * 100_000,
            b'{"url": ' * 50_000,
            b'{"url": "file:///x", "n": ' + b"9" * 5000 + b"}",
            b'{"url": 1}',
            b'{"url": "file:///nowhere/x-1.0-py3-none-any.whl", "archive_info": 7}',
            b'{"url": "file:///x", "dir_info": {"editable": "yes"}}',
            b'{"url": "\\ud800"}',
            b"[]",
            b"null",
            b"\xff\xfe{}",
            b'{"url": "x"' + b", " * 100_000 + b"}",
        )
    ),
    st.binary(max_size=64),
)
metadata_garbage = st.one_of(
    st.binary(max_size=256),
    st.sampled_from(
        (
            b"Metadata-Version: 2.1\nName: \xff\xfe\nVersion: 1.0\n",
            b"Metadata-Version: 2.1\nName: h\0\0\nVersion: \0\n",
            b"Metadata-Version: 2.1\nName: nul\nVersion: 1.0\nRequires-Dist: \0[\0]\n",
            b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\nRequires-Dist: a ; python_version >\n",
            b"Metadata-Version: 99\nName: x\nVersion: not a version\n",
            b"Name: x\nVersion: 1.0\nRequires-Dist: " + b"(" * 10_000 + b"\n",
            b"Name: x\nVersion: 1.0\nRequires-Dist: a; " + b"(" * 10_000 + b"\n",
            b"\n\n\n",
            b"",
        )
    ),
)
pth_garbage = st.one_of(
    st.binary(max_size=128).filter(lambda b: b"import" not in b),
    st.sampled_from(
        (
            b"\xff\xfe/nowhere\n",
            b"/dev/zero\n",
            b"/proc/self/fd/0\n",
            b"../../../../outside\n",
            b"x" * (1 << 20) + b"\n",
            b"\0\n\0\n",
        )
    ),
)

# Code a .pth file runs in the live target, before the probe: it may print, exit, hang,
# or lie in what the probe reports. The probe's answer is data from the target, not trusted.
PTH_CODE = (
    "import sys; sys.stdout.write('{garbage')",
    "import sys; sys.stdout.write('x' * (20 << 20))",
    "import sys; sys.stderr.write('e\\n' * 100000)",
    "import sys; sys.path.append(b'/bytes')",
    "import sys; sys.path.insert(0, '/nowhere/\\udcff')",
    "import os; os.close(1)",
    "import sys; sys.exit(3)",
    "import os; os._exit(0)",
    "import sys; sys.prefix = 7",
    "import sys; sys.version_info = (9,)",
    "import sys; sys.implementation.name = None",
    "import os; os.environ['PKGDOCTOR_HOSTILE'] = '\\udcff' * 1000",
    "import sys; sys.argv[:] = []",
    "import time; time.sleep(30)",
)
EGG_INFO = ("fifo-pkg-info", "no-pkg-info", "garbage", "requires", "installed-files", "file")

# What a conda prefix's conda-meta/ can hold: records, history, pinned (look/conda.py).
CONDA_META = (
    "fifo-record", "fifo-history", "fifo-pinned", "garbage-record", "garbage-pinned",
    "outside-paths", "loop-record", "record-dir",
)  # fmt: skip

elements = st.one_of(
    st.tuples(st.just("fifo-dist"), st.sampled_from(DIST_FILES)),
    st.tuples(st.just("fifo-site"), st.sampled_from(SITE_FILES)),
    st.tuples(st.just("no-metadata"), st.booleans()),
    st.tuples(st.just("metadata"), metadata_garbage),
    st.tuples(st.just("huge-header"), st.sampled_from((1 << 16, 1 << 20))),
    st.tuples(st.just("record"), record_rows),
    st.tuples(st.just("record-bytes"), st.binary(max_size=256)),
    st.tuples(
        st.just("dist-file"),
        st.sampled_from(("WHEEL", "INSTALLER", "entry_points.txt", "top_level.txt")),
        st.binary(max_size=256),
    ),
    st.tuples(st.just("direct-url"), json_garbage),
    st.tuples(st.just("pth"), pth_garbage),
    st.tuples(
        st.just("deep"),
        st.integers(100, 200),
        st.sampled_from(("package", "dist-info", "site", "pth")),
    ),
    st.tuples(st.just("loop"), st.sampled_from(("self", "pair", "parent", "metadata", "pth"))),
    st.tuples(
        st.just("broken"),
        st.sampled_from(("METADATA", "RECORD", "module", "so", "pth", "dist-info", "package")),
    ),
    st.tuples(st.just("truncated-ext"), st.integers(0, 999), st.booleans()),
    st.tuples(
        st.just("non-utf8"),
        st.sampled_from(("module", "package", "pth", "dist-info", "so", "record", "pth-line")),
    ),
    st.tuples(
        st.just("swap"),
        st.sampled_from(("METADATA", "RECORD", "pth", "module", "so", "dist-info", "package")),
    ),
    st.tuples(
        st.just("unreadable"),
        st.sampled_from(("METADATA", "RECORD", "so", "package", "dist-info", "pth")),
    ),
    st.tuples(st.just("duplicate"), st.booleans()),
    st.tuples(st.just("outside-link"), st.sampled_from(("module", "so", "METADATA", "pth"))),
    st.tuples(st.just("pth-code"), st.sampled_from(PTH_CODE)),
    st.tuples(st.just("egg-info"), st.sampled_from(EGG_INFO), st.binary(max_size=128)),
    st.tuples(st.just("conda"), st.sampled_from(CONDA_META), json_garbage),
)


@dataclass(frozen=True)
class Tree:
    """Where an example's elements go: a fresh copy of the module's venv."""

    prefix: Path
    site: Path
    outside: Path  # a directory beside the venv, with SECRET in it
    extension: bytes = field(repr=False)  # a real gcc-built extension module


def _dist(tree: Tree, n: str, version: str = "1.0") -> Path:
    """A healthy dist-info ``hN-1.0.dist-info`` with its package ``hN/``, to be damaged."""
    package = tree.site / n
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "x.py").write_text("X = 1\n")
    dist = tree.site / f"{n}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {n}\nVersion: {version}\n\n")
    (dist / "INSTALLER").write_text("pip\n")
    (dist / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    rows = [f"{n}/__init__.py", f"{n}/x.py", *(f"{dist.name}/{f}" for f in ("METADATA", "RECORD"))]
    (dist / "RECORD").write_text("".join(f"{row},,\n" for row in rows))
    return dist


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    """``path`` (file or directory) removed, then made again by ``make``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    make(path)


def _site_path(tree: Tree, n: str, which: str) -> Path:
    """Where element ``n`` puts a site-packages file of kind ``which``."""
    return {
        "pth": tree.site / f"{n}.pth",
        "so": tree.site / f"{n}{EXT_SUFFIX}",
        "module": tree.site / f"{n}.py",
        "package_init": tree.site / n / "__init__.py",
        "package_so": tree.site / n / f"ext{EXT_SUFFIX}",
        "package": tree.site / n,
    }[which]


def _nest(root: Path, depth: int) -> Path:
    path = root.joinpath(*["d"] * depth)
    path.mkdir(parents=True)
    return path


def build(tree: Tree, index: int, element: tuple[Any, ...]) -> None:
    """Make one element of a hostile tree in ``tree.site``."""
    n = f"h{index}"
    kind, *args = element
    site = tree.site
    if kind == "fifo-dist":
        _replace(_dist(tree, n) / args[0], os.mkfifo)
    elif kind == "fifo-site":
        path = _site_path(tree, n, args[0])
        path.parent.mkdir(exist_ok=True)
        os.mkfifo(path)
    elif kind == "no-metadata":
        dist = _dist(tree, n)
        (dist / "METADATA").unlink()
        if args[0]:
            (dist / "RECORD").unlink()
    elif kind == "metadata":
        (_dist(tree, n) / "METADATA").write_bytes(args[0])
    elif kind == "huge-header":
        (_dist(tree, n) / "METADATA").write_bytes(
            f"Metadata-Version: 2.1\nName: {n}\nVersion: 1.0\nSummary: ".encode()
            + b"s" * args[0]
            + b"\nRequires-Dist: "
            + b"r" * args[0]
            + b"\n\n"
        )
    elif kind == "record":
        dist = _dist(tree, n)
        (site / n / "sub").mkdir()
        os.mkfifo(site / n / "fifo")
        (dist / "RECORD").write_text(
            "".join(row.replace("{n}", n) + "\n" for row in args[0]), errors="surrogateescape"
        )
    elif kind == "record-bytes":
        (_dist(tree, n) / "RECORD").write_bytes(args[0])
    elif kind == "dist-file":
        (_dist(tree, n) / args[0]).write_bytes(args[1])
    elif kind == "direct-url":
        (_dist(tree, n) / "direct_url.json").write_bytes(args[0])
    elif kind == "pth":
        (site / f"{n}.pth").write_bytes(args[0])
    elif kind == "deep":
        depth, where = args
        if where == "package":
            bottom = _nest(site / n, depth)
            (bottom / f"deep{EXT_SUFFIX}").write_bytes(tree.extension)
            (bottom / "deep.py").write_text("")
        elif where == "dist-info":
            _nest(_dist(tree, n), depth)
        elif where == "site":
            bottom = _nest(site / f"{n}.d", depth)
            (bottom / f"{n}-1.0.dist-info").mkdir()
        else:
            bottom = _nest(site / f"{n}.d", depth)
            (bottom / f"{n}x{EXT_SUFFIX}").write_bytes(tree.extension)
            (site / f"{n}.pth").write_text(f"{bottom}\n")
    elif kind == "loop":
        which = args[0]
        if which == "self":
            (site / n).symlink_to(n)
        elif which == "pair":
            (site / n).symlink_to(f"{n}b")
            (site / f"{n}b").symlink_to(n)
        elif which == "parent":
            (site / n).mkdir()
            (site / n / "__init__.py").write_text("")
            (site / n / "up").symlink_to("..")
            (site / n / "self").symlink_to(".")
        elif which == "metadata":
            _replace(_dist(tree, n) / "METADATA", lambda p: p.symlink_to("METADATA"))
        else:
            (site / f"{n}.loop").symlink_to(f"{n}.loop")
            (site / f"{n}.pth").write_text(f"{site / f'{n}.loop'}\n{n}.loop\n")
    elif kind == "broken":
        which = args[0]
        if which in ("METADATA", "RECORD"):
            _replace(_dist(tree, n) / which, lambda p: p.symlink_to("/nowhere/at/all"))
        elif which == "dist-info":
            (site / f"{n}-1.0.dist-info").symlink_to("/nowhere/at/all")
        else:
            _site_path(tree, n, which).symlink_to("/nowhere/at/all")
    elif kind == "truncated-ext":
        permille, in_package = args
        data = tree.extension[: len(tree.extension) * permille // 1000]
        if in_package:
            dist = _dist(tree, n)
            (site / n / f"ext{EXT_SUFFIX}").write_bytes(data)
            with open(dist / "RECORD", "a") as record:
                record.write(f"{n}/ext{EXT_SUFFIX},,\n")
        else:
            (site / f"{n}{EXT_SUFFIX}").write_bytes(data)
    elif kind == "non-utf8":
        which = args[0]
        bad = os.fsencode(site) + b"/" + n.encode() + b"\xff\xfe"
        if which == "module":
            Path(os.fsdecode(bad + b".py")).write_text("")
        elif which == "package":
            os.mkdir(bad)
            os.mkdir(bad + b"/\xc3(")
            Path(os.fsdecode(bad + b"/__init__.py")).write_text("")
            Path(os.fsdecode(bad + b"/\xc3(/m" + EXT_SUFFIX.encode())).write_bytes(tree.extension)
        elif which == "pth":
            Path(os.fsdecode(bad + b".pth")).write_bytes(b"/nowhere\n")
        elif which == "dist-info":
            os.mkdir(bad + b"-1.0.dist-info")
            Path(os.fsdecode(bad + b"-1.0.dist-info/METADATA")).write_bytes(
                b"Metadata-Version: 2.1\nName: \xff\nVersion: 1.0\n"
            )
        elif which == "so":
            Path(os.fsdecode(bad + EXT_SUFFIX.encode())).write_bytes(tree.extension)
        elif which == "record":
            dist = _dist(tree, n)
            Path(os.fsdecode(os.fsencode(site / n) + b"/\xff.py")).write_text("")
            with open(dist / "RECORD", "ab") as record:
                record.write(n.encode() + b"/\xff.py,,\n" + n.encode() + b"/\xfe\xff.py,,\n")
        else:
            (site / f"{n}.pth").write_bytes(bad + b"\n" + b"\xed\xa0\x80\n")
    elif kind == "swap":
        which = args[0]
        if which in ("METADATA", "RECORD"):
            _replace(_dist(tree, n) / which, lambda p: p.mkdir())
        elif which == "dist-info":
            (site / f"{n}-1.0.dist-info").write_text("Name: x\n")
            (site / f"{n}e-1.0.egg-info").write_bytes(b"\xff\0garbage")
        elif which == "package":
            dist = _dist(tree, n)
            shutil.rmtree(site / n)
            (site / n).write_text("not a package\n")
            del dist
        else:
            path = _site_path(tree, n, which)
            path.mkdir()
            (path / "__init__.py").write_text("")
    elif kind == "unreadable":
        which = args[0]
        if which in ("METADATA", "RECORD"):
            path = _dist(tree, n) / which
        elif which == "dist-info":
            path = _dist(tree, n)
        elif which == "package":
            _dist(tree, n)
            path = site / n
        else:
            path = _site_path(tree, n, which)
            if which == "so":
                path.write_bytes(tree.extension)
            else:
                path.write_text("/nowhere\n")
        # As root (CI containers) this takes nothing away: the element is then harmless.
        path.chmod(0)
    elif kind == "duplicate":
        _dist(tree, n, "1.0")
        _dist(tree, n, "2.0")
        if args[0]:
            (site / f"{n}-3.0.egg-info").write_text(f"Metadata-Version: 1.1\nName: {n}\n")
    elif kind == "outside-link":
        which = args[0]
        target = tree.outside / "secret.txt"
        if which == "METADATA":
            _replace(_dist(tree, n) / "METADATA", lambda p: p.symlink_to(target))
        else:
            _site_path(tree, n, which).symlink_to(target)
    elif kind == "pth-code":
        (site / f"{n}.pth").write_text(args[0] + "\n")
    elif kind == "egg-info":
        which, data = args
        egg = site / f"{n}-1.0-py{PY}.egg-info"
        if which == "file":
            egg.write_bytes(data)
            return
        egg.mkdir()
        pkg_info = egg / "PKG-INFO"
        pkg_info.write_text(f"Metadata-Version: 1.1\nName: {n}\nVersion: 1.0\n")
        if which == "fifo-pkg-info":
            _replace(pkg_info, os.mkfifo)
        elif which == "no-pkg-info":
            pkg_info.unlink()
        elif which == "garbage":
            pkg_info.write_bytes(data)
        elif which == "requires":
            (egg / "requires.txt").write_bytes(b"a\n[:python_version <\n" + data + b"\n[x\n")
        else:
            (egg / "installed-files.txt").write_bytes(
                b"../../../../outside/secret.txt\n/etc/passwd\n\0\n" + data
            )
    elif kind == "conda":
        which, data = args
        meta = tree.prefix / "conda-meta"
        meta.mkdir(exist_ok=True)
        (meta / "history").touch()
        conda_record = meta / f"{n}-1.0-0.json"
        if which == "fifo-record":
            os.mkfifo(conda_record)
        elif which == "fifo-history":
            _replace(meta / "history", os.mkfifo)
        elif which == "fifo-pinned":
            os.mkfifo(meta / "pinned")
        elif which == "garbage-record":
            conda_record.write_bytes(data)
        elif which == "garbage-pinned":
            (meta / "pinned").write_bytes(data + b"\nnumpy >>=1\n\0\n")
        elif which == "outside-paths":
            rows = ["../outside/secret.txt", "/etc/passwd", f"{n}/../../../outside/x", "\0"]
            paths = [{"_path": r, "path_type": "hardlink", "sha256": "0" * 64,
                      "size_in_bytes": 1} for r in rows]  # fmt: skip
            conda_record.write_text(json.dumps({"name": n, "version": "1.0", "build": "0",
                "files": rows, "paths_data": {"paths_version": 1, "paths": paths}}))  # fmt: skip
        elif which == "loop-record":
            conda_record.symlink_to(conda_record.name)
        else:
            conda_record.mkdir()
    else:  # pragma: no cover - a new kind without a builder
        raise AssertionError(kind)


# --- Running pkgdoctor on a tree --------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    venv: Path
    work: Path
    extension: bytes = field(repr=False)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """One venv and one real extension module for the whole module; examples copy them."""
    root = tmp_path_factory.mktemp("hostile-trees")
    venv = make_venv(root / "venv")
    extension = compile_extension(root / "ext", "hostile").read_bytes()
    return Base(venv.prefix, root, extension)


_examples = itertools.count()


def _make_tree(base: Base) -> Tree:
    root = base.work / f"example-{next(_examples)}"
    prefix = root / "venv"
    shutil.copytree(base.venv, prefix, symlinks=True)
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    site = next((prefix / "lib").glob("python*/site-packages"))
    return Tree(prefix, site, outside, base.extension)


def _unlock(root: Path) -> None:
    """chmod u+rwx on every directory from ``root`` down, even those at mode 0 (os.walk
    cannot list them until they are unlocked, so unlock before descending)."""
    stack = [os.fsencode(root)]
    while stack:
        path = stack.pop()
        os.chmod(path, stat.S_IRWXU)
        for entry in os.scandir(path):
            if not entry.is_symlink():
                os.chmod(entry.path, stat.S_IRWXU)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)


def check(prefix: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pkgdoctor", "check", "--prefix", str(prefix), "--json", *mode],
        env=without_user_config(),
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=LIMIT_S,
        preexec_fn=_limit_memory,
        check=False,
    )


def assert_judged(proc: subprocess.CompletedProcess[str], prefix: Path, size: int) -> None:
    """What every run on a hostile tree must be (see the module's docstring); ``size``: the
    bytes of the tree's regular files."""
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout
    assert len(proc.stdout) + len(proc.stderr) < OUTPUT_BASE + OUTPUT_FACTOR * size
    assert len(proc.stderr.splitlines()) <= MAX_STDERR_LINES, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    if proc.returncode == 2:
        assert proc.stderr.startswith("pkgdoctor: error: "), proc.stderr
        return
    document = validated(json.loads(proc.stdout))
    assert document["target"]["prefix"] == str(prefix)


# 60 trees: about 20 s alone on 2 cores (two runs of pkgdoctor a tree, ~0.15 s each; a tree
# whose .pth hangs the target waits PROBE_TIMEOUT). To hunt for new bugs, run many random
# ones (1,300 random trees passed when this was written):
# PKGDOCTOR_HOSTILE_EXAMPLES=600 PKGDOCTOR_HOSTILE_RANDOM=1 pytest tests/test_hostile_trees.py
@settings(
    max_examples=int(os.environ.get("PKGDOCTOR_HOSTILE_EXAMPLES", "60")),
    deadline=None,
    # The same trees on every run, so that CI is deterministic (no example database either).
    derandomize=not os.environ.get("PKGDOCTOR_HOSTILE_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree_elements=st.lists(elements, min_size=1, max_size=8), deep=st.booleans())
def test_check_judges_any_hostile_tree(
    base: Base, tree_elements: list[tuple[Any, ...]], deep: bool
) -> None:
    tree = _make_tree(base)
    try:
        for index, element in enumerate(tree_elements):
            build(tree, index, element)
        before = snapshot(tree.prefix)
        size = sum(st_size for mode, st_size, _ in before.values() if stat.S_ISREG(mode))
        extra = ("--deep",) if deep else ()
        for mode in (("--static",), ("--timeout", PROBE_TIMEOUT)):
            proc = check(tree.prefix, *mode, *extra, "--no-cache")
            assert_judged(proc, tree.prefix, size)
        assert snapshot(tree.prefix) == before, "pkgdoctor wrote into the target"
    finally:
        _unlock(tree.prefix.parent)
        shutil.rmtree(tree.prefix.parent)


@pytest.mark.parametrize("which", CONDA_META)
def test_every_hostile_conda_meta(base: Base, which: str) -> None:
    """Each conda-meta/ element at least once, whatever hypothesis draws: judged in bounded
    time, static and live, nothing written."""
    tree = _make_tree(base)
    try:
        build(tree, 0, ("conda", which, b'{"name": 1}'))
        before = snapshot(tree.prefix)
        size = sum(st_size for mode, st_size, _ in before.values() if stat.S_ISREG(mode))
        for mode in (("--static",), ("--timeout", PROBE_TIMEOUT)):
            proc = check(tree.prefix, *mode, "--deep", "--no-cache")
            assert_judged(proc, tree.prefix, size)
        assert snapshot(tree.prefix) == before, "pkgdoctor wrote into the target"
    finally:
        _unlock(tree.prefix.parent)
        shutil.rmtree(tree.prefix.parent)


# --- What the trees found, each pinned by a test of its own ------------------------------------


def test_direct_url_nested_past_the_recursion_limit(pkgdoctor: Runner, tmp_path: Path) -> None:
    """json.loads raises RecursionError, not ValueError, on "[[[[..." 100,000 deep: that was
    a traceback; it is invalid metadata like any other direct_url.json that is not JSON."""
    venv = make_venv(tmp_path / "env")
    dist = write_dist_info(venv.site_packages, "deepurl", "1.0", [])
    (dist / "direct_url.json").write_text("[" * 100_000)
    for mode in ("--static", "--deep"):
        result = pkgdoctor("check", "--prefix", str(venv.prefix), mode, "--json", "--no-cache")
        assert result.status == 0, result.err
        (finding,) = result.json["findings"]
        assert (finding["code"], finding["evidence"]["problems"]) == (
            "dist-metadata-invalid",
            ["direct_url.json is not JSON"],
        )


def test_pth_lines_with_a_nul_or_a_symlink_loop(pkgdoctor: Runner, tmp_path: Path) -> None:
    """The static reader of .pth files raised ValueError on a NUL in a line, RuntimeError
    (Path.resolve) on a line naming a symlink loop and OSError (Path.is_dir) on a name too
    long; site.py skips such lines, and the static sys.path is now the live one."""
    venv = make_venv(tmp_path / "env")
    extra = tmp_path / "extra"
    extra.mkdir()
    (venv.site_packages / "loop").symlink_to("loop")
    (venv.site_packages / "x.pth").write_bytes(
        b"a\0b\nloop\n" + b"x" * 5000 + b"\n" + os.fsencode(extra) + b"\n"
    )
    paths = []
    for mode in ("--static", "--deep"):
        result = pkgdoctor("check", "--prefix", str(venv.prefix), mode, "--json", "--no-cache")
        assert (result.status, result.err) == (0, "")
        paths.append(result.json["target"]["sys_path"])
    assert paths[0] == paths[1]
    assert paths[0][-1] == str(extra)


def test_a_pth_line_longer_than_any_path(pkgdoctor: Runner, tmp_path: Path) -> None:
    """A random tree found it: a 2 MB .pth line was taken for a missing editable source and
    echoed in five places of one finding (message, path, evidence, fix, explanation), 5x the
    input. A line longer than PATH_MAX names nothing; it is no one's source."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "h0.pth").write_bytes(b"x" * 2_000_000 + b"\n")
    for mode in ("--static", "--deep"):
        result = pkgdoctor("check", "--prefix", str(venv.prefix), mode, "--json", "--no-cache")
        assert result.codes() == []
        assert len(result.out) < 64 << 10


def test_sys_path_entries_that_are_not_str(pkgdoctor: Runner, tmp_path: Path) -> None:
    """A .pth file's code can put bytes or an int on sys.path; the import system skips them
    (PathFinder), the probe reported them and the look layer died on bytes.endswith."""
    venv = make_venv(tmp_path / "env")
    argv = ("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    healthy = pkgdoctor(*argv).json["target"]["sys_path"]
    (venv.site_packages / "x.pth").write_text("import sys; sys.path += [b'/b', 7]\n")
    result = pkgdoctor(*argv)
    assert (result.status, result.err) == (0, "")
    assert result.json["target"]["sys_path"] == healthy


@pytest.mark.parametrize(
    "code",
    [
        "sys.implementation.name = None",
        "sys.stdlib_module_names = frozenset([1])",
        # Before the probe's answer, a document nested past the JSON parser's limit.
        "sys.stdout.write('[' * 200000)",
    ],
)
def test_a_probe_answer_of_the_wrong_type(pkgdoctor: Runner, tmp_path: Path, code: str) -> None:
    """.pth code can make the probe report anything; a value of the wrong type went into the
    report (which its schema then refused). Now the probe's answer is read like a snapshot
    file, every value typed: the target is one that pkgdoctor does not understand."""
    venv = make_venv(tmp_path / "env")
    (venv.site_packages / "x.pth").write_text(f"import sys; {code}\n")
    result = pkgdoctor("check", "--prefix", str(venv.prefix), "--json", "--no-cache")
    assert (result.status, result.out) == (2, "")
    assert result.err == (
        f"pkgdoctor: error: {venv.prefix}/bin/python3 is not a Python this pkgdoctor understands\n"
    )


def test_record_rows_with_a_nul_in_a_directory(pkgdoctor: Runner, tmp_path: Path) -> None:
    """A RECORD (or installed-files.txt) row with a NUL before a "/" made os.scandir raise
    ValueError while listing its directory; such a row is garbage, not a file: no finding,
    as for a NUL in the file's own name."""
    venv = make_venv(tmp_path / "env")
    dist = write_dist_info(venv.site_packages, "nulrow", "1.0", ["nulrow/__init__.py"])
    (venv.site_packages / "nulrow").mkdir()
    (venv.site_packages / "nulrow" / "__init__.py").write_text("")
    with open(dist / "RECORD", "a") as record:
        record.write("a\0b/c.py,,\nnulrow/\0/x.py,,\n")
    for mode in ("--static", "--deep"):
        result = pkgdoctor("check", "--prefix", str(venv.prefix), mode, "--json", "--no-cache")
        assert (result.status, result.err, result.json["findings"]) == (0, "", [])
