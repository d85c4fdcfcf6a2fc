"""Real conda environments, built offline: packages made with conda-package-handling,
channels indexed and environments solved and installed by rattler (py-rattler, the library
under pixi), from local ``file://`` channels.

What rattler writes is what conda reads: ``conda-meta/NAME-VERSION-BUILD.json`` records with
``paths_data``, ``link`` and ``requested_specs``, files hard-linked from a package cache
(``pkgs/``). It leaves ``conda-meta/history`` empty; :meth:`Channels.create` then writes the
revision conda itself would have written (``==> DATE <==``, ``# cmd:``, ``+channel::dist``,
``# update specs:``, ``conda/history.py``), so that history-reading code sees conda's format.

The ``python`` package is the interpreter running the tests, packaged the way conda-forge
packages CPython (``bin/python3.X``, ``lib/libpython3.X.so.1.0``, ``lib/python3.X``): its
absolute RUNPATH is rewritten to ``$ORIGIN/../lib`` in place, NUL-padded, as conda's own
binary prefix replacement does, so that the environment's python loads its own libpython.
Other packages are made from real wheels from the package registry (:meth:`from_wheel`:
the wheel's files under ``lib/python3.X/site-packages``, ``INSTALLER`` saying ``conda``, as
conda-build's packages do) or from a few files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from artefacts import PY, PY_NODOT, record_line

SUBDIR = "linux-64"
#: The build string the packages made from wheels get: "py311_0".
PY_BUILD = f"py{PY_NODOT}_0"
SITE = f"lib/python{PY}/site-packages"
#: Virtual packages of this machine as conda would detect them (conda's virtual package
#: plugins: __unix, __linux, __glibc); the solver needs them for __glibc dependencies.
GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.17").split()[-1]

FileSource = Path | bytes


@dataclass
class CondaEnv:
    prefix: Path
    pkgs: Path  # the package cache it was linked from

    @property
    def python(self) -> Path:
        return self.prefix / "bin" / f"python{PY}"

    @property
    def site_packages(self) -> Path:
        return self.prefix / SITE

    @property
    def meta(self) -> Path:
        return self.prefix / "conda-meta"

    def record(self, name: str) -> dict[str, object]:
        for path in self.meta.glob(f"{name}-*.json"):
            doc = json.loads(path.read_text())
            if doc["name"] == name:
                return doc  # type: ignore[no-any-return]
        raise KeyError(name)


class Channels:
    """Local channels under ``root``: ``root/NAME/linux-64/*.conda`` and ``noarch``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkgs = root / "pkgs"  # the package cache, as conda names it
        self.channels = root / "channels"  # channels/conda-forge, channels/pkgs/main
        self._built: set[tuple[str, str]] = set()

    def url(self, channel: str) -> str:
        """The ``file://`` URL of ``channel`` (a name here); a URL is returned as it is."""
        return channel if "://" in channel else self.directory(channel).as_uri()

    def directory(self, channel: str) -> Path:
        """Where ``channel`` (``conda-forge``, ``pkgs/main``) lies."""
        return self.channels / channel

    # --- packages ---------------------------------------------------------------------------

    def package(
        self,
        channel: str,
        name: str,
        version: str,
        build: str,
        files: Mapping[str, FileSource],
        *,
        depends: Sequence[str] = (),
        constrains: Sequence[str] = (),
        symlinks: Mapping[str, str] | None = None,
        subdir: str = SUBDIR,
    ) -> Path:
        """A ``.conda`` package in ``channel`` with ``files`` (relative path -> a file to
        copy or its bytes), ``info/index.json``, ``info/paths.json`` and ``info/files``."""
        from conda_package_handling import api  # type: ignore[import-untyped]

        fn = f"{name}-{version}-{build}.conda"
        out = self.directory(channel) / subdir
        if (channel, fn) in self._built:
            return out / fn
        work = self.root / "build" / channel / f"{name}-{version}-{build}"
        shutil.rmtree(work, ignore_errors=True)
        paths = []
        for rel, source in sorted(files.items()):
            dst = work / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, bytes):
                dst.write_bytes(source)
                if rel.startswith("bin/") or ".so" in rel:
                    dst.chmod(0o755)
            else:
                shutil.copy2(source, dst)
            data = dst.read_bytes()
            paths.append(
                {
                    "_path": rel,
                    "path_type": "hardlink",
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size_in_bytes": len(data),
                }
            )
        for rel, target in sorted((symlinks or {}).items()):
            dst = work / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(target)
            paths.append({"_path": rel, "path_type": "softlink", "size_in_bytes": 0})
        info = work / "info"
        info.mkdir(parents=True)
        index = {
            "name": name,
            "version": version,
            "build": build,
            "build_number": int(build.rpartition("_")[2]) if build[-1:].isdigit() else 0,
            "depends": list(depends),
            "constrains": list(constrains),
            "subdir": subdir,
            "license": "BSD-3-Clause",
            "timestamp": 1_700_000_000_000,
        }
        if subdir == SUBDIR:
            index.update(platform="linux", arch="x86_64")
        else:
            index["noarch"] = "generic"
        (info / "index.json").write_text(json.dumps(index, indent=2))
        paths.sort(key=lambda p: str(p["_path"]))
        (info / "paths.json").write_text(json.dumps({"paths": paths, "paths_version": 1}))
        (info / "files").write_text("".join(f"{p['_path']}\n" for p in paths))
        names = sorted(
            str(p.relative_to(work)) for p in work.rglob("*") if p.is_symlink() or p.is_file()
        )
        out.mkdir(parents=True, exist_ok=True)
        # zstd level 1: the default (19) takes seconds for the interpreter's 40 MB.
        api.create(str(work), names, fn, out_folder=str(out), compression_level=1)
        shutil.rmtree(work)
        self._built.add((channel, fn))
        return out / fn

    def python(self, channel: str = "conda-forge") -> Path:
        """CPython (the tests' own) as conda-forge packages it."""
        base = Path(sys.base_prefix)
        version = sysconfig.get_config_var("py_version") or PY
        stdlib = base / "lib" / f"python{PY}"
        skip = {"test", "site-packages", "idlelib", "tkinter", "turtledemo", "__pycache__"}
        files: dict[str, FileSource] = {}
        for dirpath, dirnames, filenames in os.walk(stdlib):
            dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith("test")]
            for name in filenames:
                path = Path(dirpath) / name
                files[str(path.relative_to(base))] = path
        library = sysconfig.get_config_var("INSTSONAME")
        exe = bytearray((base / "bin" / f"python{PY}").read_bytes())
        if library and (base / "lib" / library).exists():
            files[f"lib/{library}"] = base / "lib" / library
            old = str(base / "lib").encode() + b"\0"
            new = b"$ORIGIN/../lib"
            at = exe.find(old)
            if at >= 0:  # the RUNPATH pyenv wrote: point it at the environment's lib/
                exe[at : at + len(old)] = new + b"\0" * (len(old) - len(new))
        files[f"bin/python{PY}"] = bytes(exe)
        return self.package(
            channel,
            "python",
            version,
            "h_0_cpython",
            files,
            depends=["__glibc >=2.17,<3.0.a0"],
            symlinks={"bin/python3": f"python{PY}", "bin/python": f"python{PY}"},
        )

    def from_wheel(
        self,
        channel: str,
        wheel: Path,
        *,
        depends: Sequence[str] = (),
        constrains: Sequence[str] = (),
        build: str = PY_BUILD,
        name: str | None = None,
    ) -> Path:
        """A conda package of the real wheel ``wheel``, as conda-build makes one with
        ``pip install --no-deps .``: its files in site-packages, INSTALLER ``conda``."""
        files: dict[str, FileSource] = {}
        record = None
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                data = archive.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    record = info.filename
                    continue
                files[f"{SITE}/{info.filename}"] = data
        assert record is not None, wheel
        dist_info = record.rpartition("/")[0]
        files[f"{SITE}/{dist_info}/INSTALLER"] = b"conda\n"
        rows = [record_line(rel[len(SITE) + 1 :], data) for rel, data in files.items()
                if isinstance(data, bytes)]  # fmt: skip
        rows.append(f"{record},,\n")
        files[f"{SITE}/{record}"] = "".join(rows).encode()
        project, version = wheel.name.split("-")[:2]
        return self.package(
            channel,
            (name or project).lower().replace("_", "-"),
            version,
            build,
            files,
            depends=[f"python >={PY},<{PY}.999", *depends],
            constrains=constrains,
        )

    # --- environments -------------------------------------------------------------------------

    def index(self) -> None:
        """repodata.json for every channel and subdir (rattler's index), noarch included."""
        import rattler

        for channel in sorted(p.parent for p in self.channels.glob(f"**/{SUBDIR}")):
            asyncio.run(rattler.index.index_fs(channel))
            noarch = channel / "noarch"
            noarch.mkdir(exist_ok=True)
            if not (noarch / "repodata.json").exists():
                empty = {"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}}
                (noarch / "repodata.json").write_text(json.dumps(empty))

    def create(
        self,
        prefix: Path,
        specs: Sequence[str],
        channels: Sequence[str] = ("conda-forge",),
        *,
        history: bool = True,
    ) -> CondaEnv:
        """``conda create -p PREFIX -c CHANNEL... SPECS``: solved and installed by rattler
        (channel priority strict, in order), the history conda would write."""
        import rattler

        self.index()
        virtual = [
            rattler.GenericVirtualPackage(
                rattler.PackageName(name), rattler.Version(version), rattler.BuildString("0")
            )
            for name, version in (("__unix", "0"), ("__linux", "6.1"), ("__glibc", GLIBC))
        ]

        async def solve_and_install() -> list[rattler.RepoDataRecord]:
            records = await rattler.solve(
                sources=[rattler.Channel(self.url(c)) for c in channels],
                # Lenient, as conda parses them: rattler's strict default refuses
                # "numpy=1.26.4=py311_0", the form conda env export writes.
                specs=[rattler.MatchSpec(s) for s in specs],
                platforms=["linux-64", "noarch"],
                virtual_packages=virtual,
            )
            await rattler.install(
                records,
                prefix,
                cache_dir=self.pkgs,
                show_progress=False,
                requested_specs=[rattler.MatchSpec(s)._match_spec for s in specs],
            )
            return list(records)

        records = asyncio.run(solve_and_install())
        if history:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1_700_000_000))
            channel_args = " ".join(f"-c {self.url(c)}" for c in channels)
            linked = sorted(
                f"+{str(r.channel).rstrip('/')}/{SUBDIR}::{r.name.normalized}-{r.version}-{r.build}"
                for r in records
            )
            lines = [
                f"==> {stamp} <==",
                f"# cmd: /opt/conda/bin/conda create -p {prefix} {channel_args} {' '.join(specs)}",
                "# conda version: 24.11.3",
                *linked,
                f"# update specs: {list(specs)!r}",
            ]
            (prefix / "conda-meta" / "history").write_text("\n".join(lines) + "\n")
        return CondaEnv(prefix, self.pkgs)


# --- running the conda commands pkgdoctor prints ------------------------------------------------


def run_fix(channels: Channels, command: str, *, env: Mapping[str, str] | None = None) -> None:
    """Run a fix as a user would paste it: a ``&&`` chain whose ``conda`` steps are carried
    out by rattler (no conda can run on the test machines: the channels are local) and whose
    other steps run in ``sh``. The conda steps understood are the ones pkgdoctor prints:
    ``conda install -p PREFIX [--force-reinstall] [-y] [-c CHANNEL]... SPEC...``, ``conda
    remove -p PREFIX [-y] NAME...`` and ``conda create -p PREFIX [-y] [--override-channels]
    -c CHANNEL... SPEC...``; anything else fails the test."""
    import shlex
    import subprocess

    import pytest

    for step in command.split(" && "):
        argv = shlex.split(step)
        if argv[:1] == ["conda"]:
            _conda(channels, argv[1:])
            continue
        proc = subprocess.run(step, shell=True, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            pytest.fail(f"{step!r} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def _conda(channels: Channels, argv: list[str]) -> None:
    import rattler

    verb, rest = argv[0], argv[1:]
    prefix: Path | None = None
    urls: list[str] = []
    specs: list[str] = []
    force = False
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ("-p", "--prefix"):
            prefix, i = Path(rest[i + 1]), i + 2
            continue
        if arg in ("-c", "--channel"):
            name = rest[i + 1]
            urls.append(name if "://" in name else channels.url(name))
            i += 2
            continue
        if arg == "--force-reinstall":
            force = True
        elif arg in ("-y", "--yes", "--override-channels"):
            pass
        elif arg.startswith("-"):
            raise AssertionError(f"conda {verb}: option {arg} not understood by the test")
        else:
            specs.append(arg)
        i += 1
    assert prefix is not None, f"conda {verb} without -p: {argv}"
    meta = prefix / "conda-meta"
    installed = (
        [rattler.PrefixRecord.from_path(p) for p in sorted(meta.glob("*.json"))]
        if meta.is_dir()
        else []
    )
    for spec in specs:
        channel, sep, _ = spec.rpartition("::")
        if sep:
            urls.append(channel if "://" in channel else channels.url(channel))
    if not urls:
        urls = sorted({str(r.channel) for r in installed})
    wanted = [s.rpartition("::")[2] if "::" in s else s for s in specs]
    if verb == "remove":
        names = {rattler.MatchSpec(s).name.normalized for s in wanted}
        keep = [r for r in installed if r.name.normalized not in names]
        asyncio.run(
            rattler.install(
                keep,  # type: ignore[arg-type]
                prefix,
                cache_dir=channels.pkgs,
                installed_packages=installed,
                show_progress=False,
            )
        )
        return
    assert verb in ("install", "create"), f"conda {verb} not understood by the test"
    channels.index()
    names = {rattler.MatchSpec(s).name.normalized for s in wanted}
    others = [r.name.normalized for r in installed if r.name.normalized not in names]
    virtual = [
        rattler.GenericVirtualPackage(
            rattler.PackageName(n), rattler.Version(v), rattler.BuildString("0")
        )
        for n, v in (("__unix", "0"), ("__linux", "6.1"), ("__glibc", GLIBC))
    ]

    async def go() -> None:
        records = await rattler.solve(
            sources=[rattler.Channel(u) for u in dict.fromkeys(urls)],
            # Parsed leniently, as conda does (rattler's strict parser refuses name=1.0=build).
            specs=[rattler.MatchSpec(s) for s in (*wanted, *others)],
            platforms=["linux-64", "noarch"],
            locked_packages=[],
            virtual_packages=virtual,
        )
        await rattler.install(
            records,
            prefix,
            cache_dir=channels.pkgs,
            installed_packages=installed,
            reinstall_packages=names if force else None,
            show_progress=False,
        )

    asyncio.run(go())
