"""The Snapshot as a JSON document (``schema/snapshot-v1.json``), and back.

The document is plain JSON: objects for the records a person reads (the interpreter, a
distribution), arrays for the rows there are thousands of (RECORD rows, DT_NEEDED links).
Reading is strict: a document that is truncated, not JSON, of another ``schema_version`` or
written by a newer pkgdoctor is refused with one :class:`SnapshotError` line, never a
traceback, and never half-read.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from pkgdoctor import __version__
from pkgdoctor._typed import as_bool as _bool
from pkgdoctor._typed import as_int as _int
from pkgdoctor._typed import as_list as _list
from pkgdoctor._typed import as_opt_int as _opt_int
from pkgdoctor._typed import as_opt_str as _opt_str
from pkgdoctor._typed import as_str as _str
from pkgdoctor._typed import as_str_map as _str_map
from pkgdoctor._typed import as_strs as _strs
from pkgdoctor.elf import ELFFile, VersionNeed
from pkgdoctor.errors import PkgdoctorError
from pkgdoctor.extmodules import (
    TOO_DEEP,
    UNREADABLE,
    ExtensionFile,
    ScanProblem,
    parse_extension_filename,
)
from pkgdoctor.files import read_regular
from pkgdoctor.optional_imports import ImportSite, ModuleImports
from pkgdoctor.redact import home_pattern
from pkgdoctor.snapshot.model import (
    MANAGERS,
    SCHEMA_VERSION,
    Candidate,
    CondaConfigFile,
    CondaFacts,
    CondaHistory,
    CondaPath,
    CondaRecord,
    CondaRegistry,
    ConfigFacts,
    Distribution,
    Extension,
    ExtensionFacts,
    ExternallyManaged,
    FrameworkBuild,
    GpuDevice,
    GpuFacts,
    HashedFile,
    IndexPage,
    Integrity,
    Inventory,
    LibraryCopy,
    Link,
    OsCandidate,
    OsPackage,
    OsPackages,
    OutsideLibrary,
    PathEntry,
    PathFacts,
    PipConfigFile,
    PthFile,
    PthLine,
    RecordEntry,
    Resolution,
    Scope,
    Shebang,
    Snapshot,
    SourceDir,
    SymbolDefinition,
    SymbolSearch,
    Tool,
    VenvFacts,
)
from pkgdoctor.target.facts import Binary, Interpreter, Libc, StartFailure, Target

# A snapshot file larger than this is refused rather than read (a 10,000-distribution
# environment with --deep hashes is about 60 MB of JSON).
MAX_BYTES = 1 << 30


class SnapshotError(PkgdoctorError):
    """A snapshot file that cannot be read: one line saying why."""


# --- writing --------------------------------------------------------------------------------


def to_json(snapshot: Snapshot) -> dict[str, Any]:
    """The document for ``snapshot`` (``json.dumps`` takes it as it is)."""
    return {
        "schema_version": snapshot.schema_version,
        "tool": _tool(snapshot.tool),
        "created": snapshot.created,
        "scope": {
            "deep": snapshot.scope.deep,
            "include_stdlib": snapshot.scope.include_stdlib,
            "cwd": snapshot.scope.cwd,
        },
        "target": target_to_json(snapshot.target),
        "inventory": _inventory(snapshot.inventory),
        "paths": _paths(snapshot.paths),
        "extensions": _extensions(snapshot.extensions),
        "venv": _venv(snapshot.venv),
        "os_release": None if snapshot.os_release is None else dict(snapshot.os_release),
        "os_packages": _os_packages(snapshot.os_packages),
        "conda": _conda(snapshot.conda),
        "gpu": _gpu(snapshot.gpu),
        "frameworks": _frameworks(snapshot.frameworks),
        "config": _config(snapshot.config),
        "outside_libraries": [_outside(o) for o in snapshot.outside_libraries],
    }


def dumps(snapshot: Snapshot) -> bytes:
    return dump_document(to_json(snapshot))


def dump_document(document: Any) -> bytes:
    """The bytes of a snapshot document: ASCII JSON. File names that are not UTF-8 reach us
    as surrogate escapes (PEP 383); ``\\udcxx`` escapes keep them, and the file valid UTF-8."""
    return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def write(snapshot: Snapshot, path: str) -> None:
    """Write ``snapshot`` to ``path``; gzip-compressed when the name ends in ``.gz``."""
    write_bytes(dumps(snapshot), path)


def write_bytes(data: bytes, path: str) -> None:
    """Write a snapshot document to ``path``; gzip-compressed when the name ends in ``.gz``."""
    if path.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise SnapshotError(f"cannot write {path}: {exc.strerror or exc}") from exc


def redacted(document: Any, home: str) -> Any:
    """``document`` with the user's home directory written as ``~`` in every string, for a
    snapshot pasted into a bug report (``snapshot --redact``)."""
    pattern = home_pattern(home)
    if pattern is None:
        return document
    home = home.rstrip("/")

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub("~", value) if home in value else value
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        return value

    return walk(document)


def _tool(tool: Tool | None) -> dict[str, Any]:
    tool = tool or Tool("pkgdoctor", __version__)
    return {"name": tool.name, "version": tool.version, "packaging": tool.packaging}


def target_to_json(target: Target) -> dict[str, Any]:
    interp = target.interpreter
    binary = interp.binary
    return {
        "mode": target.mode,
        "static_reason": target.static_reason,
        "prefix": target.prefix,
        "base_prefix": target.base_prefix,
        "interpreter": {
            "implementation": interp.implementation,
            "version": list(interp.version),
            "executable": interp.executable,
            "real_executable": interp.real_executable,
            "extension_suffixes": list(interp.extension_suffixes),
            "ext_suffix": interp.ext_suffix,
            "soabi": interp.soabi,
            "multiarch": interp.multiarch,
            "gil_disabled": interp.gil_disabled,
            "debug": interp.debug,
            "binary": None
            if binary is None
            else {
                "architecture": binary.architecture,
                "elf_class": binary.elf_class,
                "machine": binary.machine,
                "little_endian": binary.little_endian,
                "interpreter": binary.interpreter,
            },
            "libc": None
            if interp.libc is None
            else {"family": interp.libc.family, "version": interp.libc.version},
        },
        "sys_path": list(target.sys_path),
        "site_packages": list(target.site_packages),
        "stdlib": list(target.stdlib),
        "user_site": target.user_site,
        "user_site_enabled": target.user_site_enabled,
        "no_user_site": target.no_user_site,
        "environ": dict(target.environ),
        "markers": dict(target.markers),
        "stdlib_module_names": sorted(target.stdlib_module_names),
        "builtin_module_names": sorted(target.builtin_module_names),
        "frozen_module_names": sorted(target.frozen_module_names),
        "startup_modules": sorted(target.startup_modules),
        "probe_cwd": target.probe_cwd,
        "system_is_host": target.system_is_host,
        "start_failure": _start_failure(target.start_failure),
    }


def _start_failure(failure: StartFailure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "executable": failure.executable,
        "returncode": failure.returncode,
        "stderr_tail": list(failure.stderr_tail),
        "variables": dict(failure.variables),
        "culprits": list(failure.culprits),
        "starts_isolated": failure.starts_isolated,
        "starts_without_site": failure.starts_without_site,
    }


def _read_start_failure(doc: Any) -> StartFailure | None:
    if doc is None:
        return None
    return StartFailure(
        executable=_str(doc["executable"]),
        returncode=_int(doc["returncode"]),
        stderr_tail=_strs(doc["stderr_tail"]),
        variables=_str_map(doc["variables"]),
        culprits=_strs(doc["culprits"]),
        starts_isolated=_bool(doc["starts_isolated"]),
        starts_without_site=_bool(doc.get("starts_without_site", False)),
    )


def _inventory(inventory: Inventory) -> dict[str, Any]:
    return {
        "distributions": [_distribution(d) for d in inventory.distributions],
        "shadowed": [_distribution(d) for d in inventory.shadowed],
        "leftovers": list(inventory.leftovers),
        "unreadable": [list(u) for u in inventory.unreadable],
    }


def _distribution(dist: Distribution) -> dict[str, Any]:
    integrity = dist.integrity
    return {
        "name": dist.name,
        "version": dist.version,
        "metadata_dir": dist.metadata_dir,
        "site_dir": dist.site_dir,
        "site_real": dist.site_real,
        "metadata_version": dist.metadata_version,
        "summary": dist.summary,
        "requires": list(dist.requires),
        "requires_python": dist.requires_python,
        "provides_extra": list(dist.provides_extra),
        "problems": list(dist.problems),
        "wheel_tags": list(dist.wheel_tags),
        "wheel_build": dist.wheel_build,
        "installer": dist.installer,
        "requested": dist.requested,
        "direct_url": None if dist.direct_url is None else dict(dist.direct_url),
        "record": None if dist.record is None else [list(row) for row in dist.record],
        "integrity": {
            "checked": integrity.checked,
            "missing": list(integrity.missing),
            "deep": integrity.deep,
            "hashed": integrity.hashed,
            "differing": [list(h) for h in integrity.differing],
            "installed_from": integrity.installed_from,
            "published": list(integrity.published),
        },
    }


def _paths(paths: PathFacts) -> dict[str, Any]:
    return {
        "cwd": paths.cwd,
        "pythonpath": None if paths.pythonpath is None else list(paths.pythonpath),
        "conda": paths.conda,
        "prefix_real": list(paths.prefix_real),
        "venv_cfg_blocking": paths.venv_cfg_blocking,
        "sources": [[d.path, d.recorded_in, d.kind, d.exists, d.name] for d in paths.sources],
        "externally_managed": None
        if paths.externally_managed is None
        else {
            "marker": paths.externally_managed.marker,
            "error": paths.externally_managed.error,
        },
        "entries": [
            {
                "path": e.path,
                "index": e.index,
                "origin": e.origin,
                "real": e.real,
                "pth_file": e.pth_file,
                # name -> [kind, path]
                "provides": {n: [p.kind, p.path] for n, p in sorted(e.provides.items())},
            }
            for e in paths.entries
        ],
        "pth_files": [
            {
                "path": p.path,
                "site_dir": p.site_dir,
                "lines": [[line.number, line.text, line.executes] for line in p.lines],
                "blocking": p.blocking,
            }
            for p in paths.pth_files
        ],
    }


def _venv(facts: VenvFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    return {
        "cfg": dict(facts.cfg),
        "home_exists": facts.home_exists,
        "python_links": list(facts.python_links),
        "resolved": facts.resolved,
        "resolved_version": facts.resolved_version,
        "site_dirs": [[path, count] for path, count in facts.site_dirs],
        "shebangs": [
            {
                "script": s.script,
                "interpreter": s.interpreter,
                "exists": s.exists,
                "real_dir": s.real_dir,
            }
            for s in facts.shebangs
        ],
        "candidates": list(facts.candidates),
    }


def _os_packages(facts: OsPackages | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    return {
        "manager": facts.manager,
        "root": facts.root,
        "packages": [
            {"name": p.name, "version": p.version, "source": p.source}
            for p in facts.packages.values()
        ],
        "owned": {path: list(names) for path, names in facts.owned.items()},
        "candidates": {
            name: {"package": c.package, "how": c.how, "verified": c.verified}
            for name, c in facts.candidates.items()
        },
        "intact": list(facts.intact),
    }


def _gpu(facts: GpuFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    return {
        "driver_version": facts.driver_version,
        "cuda_driver_version": facts.cuda_driver_version,
        "devices": [
            {
                "name": d.name,
                "compute_capability": d.compute_capability,
                "uuid": d.uuid,
                "bus": d.bus,
            }
            for d in facts.devices
        ],
        "source": facts.source,
        "device_nodes": list(facts.device_nodes),
        "visible": dict(facts.visible),
        "libcuda": facts.libcuda,
        "container": facts.container,
        "problems": list(facts.problems),
    }


def _frameworks(builds: tuple[FrameworkBuild, ...] | None) -> list[dict[str, Any]] | None:
    if builds is None:
        return None
    return [
        {
            "distribution": b.distribution,
            "version": b.version,
            "cuda": b.cuda,
            "hip": b.hip,
            "cudnn": b.cudnn,
            "gpu_build": b.gpu_build,
            "cuda_libraries": list(b.cuda_libraries),
            "gpu_library": b.gpu_library,
            "architectures": list(b.architectures),
            "ptx": list(b.ptx),
            "files": list(b.files),
            "problems": list(b.problems),
        }
        for b in builds
    ]


def _read_frameworks(doc: Any) -> tuple[FrameworkBuild, ...] | None:
    """The ``frameworks`` section; only ``distribution`` and ``version`` are required (a
    snapshot edited by hand to describe another build)."""
    if doc is None:
        return None

    def build(item: Mapping[str, Any]) -> FrameworkBuild:
        gpu_build = item.get("gpu_build")
        return FrameworkBuild(
            distribution=_str(item["distribution"]),
            version=_opt_str(item["version"]),
            cuda=_opt_str(item.get("cuda")),
            hip=_opt_str(item.get("hip")),
            cudnn=_opt_str(item.get("cudnn")),
            gpu_build=None if gpu_build is None else _bool(gpu_build),
            cuda_libraries=_strs(item.get("cuda_libraries", [])),
            gpu_library=_opt_str(item.get("gpu_library")),
            architectures=_strs(item.get("architectures", [])),
            ptx=_strs(item.get("ptx", [])),
            files=_strs(item.get("files", [])),
            problems=_strs(item.get("problems", [])),
        )

    return _list(doc, build)


def _read_gpu(doc: Any) -> GpuFacts | None:
    """The ``gpu`` section; every key but the four the schema requires may be left out (a
    snapshot edited by hand to describe a GPU node)."""
    if doc is None:
        return None

    def device(item: Mapping[str, Any]) -> GpuDevice:
        return GpuDevice(
            _opt_str(item.get("name")),
            _opt_str(item.get("compute_capability")),
            _opt_str(item.get("uuid")),
            _opt_str(item.get("bus")),
        )

    return GpuFacts(
        driver_version=_opt_str(doc["driver_version"]),
        cuda_driver_version=_opt_str(doc["cuda_driver_version"]),
        devices=_list(doc["devices"], device),
        source=_str(doc["source"]),
        device_nodes=_strs(doc.get("device_nodes", [])),
        visible=_str_map(doc.get("visible", {})),
        libcuda=_opt_str(doc.get("libcuda")),
        container=_opt_str(doc.get("container")),
        problems=_strs(doc.get("problems", [])),
    )


def _outside(item: OutsideLibrary) -> dict[str, Any]:
    return {
        "name": item.name,
        "path": item.path,
        "requesters": list(item.requesters),
        "real_name": item.real_name,
        "toolkit": dict(item.toolkit),
        "toolkit_file": item.toolkit_file,
        "copies": [
            {
                "path": c.path,
                "identical": c.identical,
                "lacking": list(c.lacking),
                "lacking_count": c.lacking_count,
                "needed_by": list(c.needed_by),
            }
            for c in item.copies
        ],
        "complete": item.complete,
    }


def _read_outside(doc: Any) -> OutsideLibrary:
    if not isinstance(doc, dict):
        raise TypeError("an outside library must be an object")

    def copy(item: Any) -> LibraryCopy:
        identical = item["identical"]
        return LibraryCopy(
            path=_str(item["path"]),
            identical=None if identical is None else _bool(identical),
            lacking=_strs(item["lacking"]),
            lacking_count=_int(item["lacking_count"]),
            needed_by=_strs(item["needed_by"]),
        )

    return OutsideLibrary(
        name=_str(doc["name"]),
        path=_str(doc["path"]),
        requesters=_strs(doc["requesters"]),
        real_name=_opt_str(doc["real_name"]),
        toolkit=_str_map(doc["toolkit"]),
        toolkit_file=_opt_str(doc["toolkit_file"]),
        copies=_list(doc["copies"], copy),
        complete=_bool(doc["complete"]),
    )


def _conda(facts: CondaFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    history = facts.history
    registry = facts.registry
    return {
        "prefix": facts.prefix,
        "deep": facts.deep,
        "records": [
            {
                "name": r.name,
                "version": r.version,
                "build": r.build,
                "record_file": r.record_file,
                "build_number": r.build_number,
                "channel": r.channel,
                "subdir": r.subdir,
                "url": r.url,
                "depends": list(r.depends),
                "constrains": list(r.constrains),
                # [path, path_type, sha256, size]: a large environment lists ~100,000.
                "files": [list(f) for f in r.files],
                "link_type": r.link_type,
                "link_source": r.link_source,
                "noarch": r.noarch,
                "requested": list(r.requested),
                "problems": list(r.problems),
                "missing": list(r.missing),
                "altered": list(r.altered),
            }
            for r in facts.records
        ],
        "history": None
        if history is None
        else {
            "revisions": history.revisions,
            "requested": list(history.requested),
            "commands": list(history.commands),
            "problems": list(history.problems),
        },
        "pinned": None if facts.pinned is None else [list(line) for line in facts.pinned],
        "pinned_problem": facts.pinned_problem,
        "registry": None
        if registry is None
        else {
            "path": registry.path,
            "exists": registry.exists,
            "lists_prefix": registry.lists_prefix,
        },
        "unreadable": [list(item) for item in facts.unreadable],
    }


def _read_conda(doc: Any) -> CondaFacts | None:
    if doc is None:
        return None

    def path(item: Any) -> CondaPath:
        name, kind, sha256, size = item
        return CondaPath(_str(name), _str(kind), _opt_str(sha256), _opt_int(size))

    def record(item: Mapping[str, Any]) -> CondaRecord:
        return CondaRecord(
            name=_str(item["name"]),
            version=_str(item["version"]),
            build=_str(item["build"]),
            record_file=_str(item["record_file"]),
            build_number=_opt_int(item.get("build_number")),
            channel=_opt_str(item.get("channel")),
            subdir=_opt_str(item.get("subdir")),
            url=_opt_str(item.get("url")),
            depends=_strs(item.get("depends", [])),
            constrains=_strs(item.get("constrains", [])),
            files=_list(item.get("files", []), path),
            link_type=_opt_str(item.get("link_type")),
            link_source=_opt_str(item.get("link_source")),
            noarch=_opt_str(item.get("noarch")),
            requested=_strs(item.get("requested", [])),
            problems=_strs(item.get("problems", [])),
            missing=_strs(item.get("missing", [])),
            altered=_strs(item.get("altered", [])),
        )

    def pinned(item: Any) -> tuple[int, str]:
        number, text = item
        return _int(number), _str(text)

    def unreadable(item: Any) -> tuple[str, str]:
        where, why = item
        return _str(where), _str(why)

    history = doc.get("history")
    registry = doc.get("registry")
    return CondaFacts(
        prefix=_str(doc["prefix"]),
        records=_list(doc["records"], record),
        history=None
        if history is None
        else CondaHistory(
            revisions=_int(history["revisions"]),
            requested=_strs(history["requested"]),
            commands=_strs(history["commands"]),
            problems=_strs(history["problems"]),
        ),
        pinned=None if doc.get("pinned") is None else _list(doc["pinned"], pinned),
        pinned_problem=_opt_str(doc.get("pinned_problem")),
        registry=None
        if registry is None
        else CondaRegistry(
            _str(registry["path"]), _bool(registry["exists"]), _bool(registry["lists_prefix"])
        ),
        unreadable=_list(doc.get("unreadable", []), unreadable),
        deep=_bool(doc.get("deep", False)),
    )


def _config(facts: ConfigFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    return {
        "pip_files": [
            {
                "level": f.level,
                "path": f.path,
                "exists": f.exists,
                "items": [list(item) for item in f.items],
                "error": f.error,
            }
            for f in facts.pip_files
        ],
        "pip_environ": dict(facts.pip_environ),
        "conda_files": [
            {
                "level": f.level,
                "path": f.path,
                "values": dict(f.values),
                "final": list(f.final),
                "error": f.error,
            }
            for f in facts.conda_files
        ],
        "conda_environ": dict(facts.conda_environ),
        "ca_environ": dict(facts.ca_environ),
        "paths": dict(facts.paths),
        "online": None
        if facts.online is None
        else [
            {
                "index": p.index,
                "project": p.project,
                "status": p.status,
                "versions": list(p.versions),
                "error": p.error,
            }
            for p in facts.online
        ],
    }


def _extensions(facts: ExtensionFacts) -> dict[str, Any]:
    return {
        "executable": facts.executable,
        "system_known": facts.system_known,
        # [path, reason], and the kind when it is not "unreadable" (the only kind before).
        "scan_problems": [
            [p.path, p.reason] + ([] if p.kind == UNREADABLE else [p.kind])
            for p in facts.scan_problems
        ],
        "modules": [_extension(m) for m in facts.modules],
        "elf": {path: _elf(elf) for path, elf in sorted(facts.elf.items())},
        # Only `why` looks symbols up: written when there are any.
        **(
            {"symbol_searches": [_symbol_search(s) for s in facts.symbol_searches]}
            if facts.symbol_searches
            else {}
        ),
    }


def _symbol_search(search: SymbolSearch) -> dict[str, Any]:
    return {
        "symbol": search.symbol,
        "version": search.version,
        "requester": search.requester,
        "module": search.module,
        # [path, via, soname, version]
        "defined_in": [[d.path, d.via, d.soname, d.version] for d in search.defined_in],
        "libraries_read": search.libraries_read,
        "complete": search.complete,
        "library": search.library,
    }


def _read_symbol_search(doc: Any) -> SymbolSearch:
    if not isinstance(doc, dict):
        raise TypeError("a symbol search must be an object")

    def definition(item: Any) -> SymbolDefinition:
        path, via, soname, version = item
        return SymbolDefinition(_str(path), _str(via), _opt_str(soname), _opt_str(version))

    return SymbolSearch(
        symbol=_opt_str(doc["symbol"]),
        version=_opt_str(doc["version"]),
        requester=_str(doc["requester"]),
        module=_str(doc["module"]),
        defined_in=_list(doc["defined_in"], definition),
        libraries_read=_int(doc["libraries_read"]),
        complete=_bool(doc["complete"]),
        library=_opt_str(doc.get("library")),
    )


def _extension(module: Extension) -> dict[str, Any]:
    file = module.file
    return {
        "path": file.path,
        "module": file.module,
        "root": file.root,
        "siblings": list(file.siblings),
        "package_siblings": list(module.package_siblings),
        # [requester, name, path, via, searched, skipped [[path, reason]], system, absent]
        "links": [
            [
                link.requester,
                link.resolution.name,
                link.resolution.path,
                link.resolution.via,
                list(link.resolution.searched),
                [[c.path, c.reason] for c in link.resolution.skipped],
                link.resolution.system,
                list(link.resolution.absent),
            ]
            for link in module.links
        ],
        # {module, sites: [[path, line, statement, guard, top_level_init]]}
        "importers": None
        if module.importers is None
        else {
            "module": module.importers.module,
            "sites": [
                [s.path, s.line, s.statement, s.guard, s.top_level_init]
                for s in module.importers.sites
            ],
        },
        # Only when looked at (pkgdoctor.numpy_abi): older readers' documents stay the same.
        **({} if module.numpy_headers is None else {"numpy_headers": module.numpy_headers}),
    }


def _elf(elf: ELFFile | str) -> dict[str, Any] | str:
    if isinstance(elf, str):
        return elf
    return {
        "elf_class": elf.elf_class,
        "little_endian": elf.little_endian,
        "osabi": elf.osabi,
        "file_type": elf.file_type,
        "machine": elf.machine,
        "flags": elf.flags,
        "interpreter": elf.interpreter,
        "soname": elf.soname,
        "needed": list(elf.needed),
        "rpath": elf.rpath,
        "runpath": elf.runpath,
        "version_needs": [[n.file, list(n.versions)] for n in elf.version_needs],
        "version_definitions": list(elf.version_definitions),
    }


# --- reading --------------------------------------------------------------------------------


def read(path: str) -> Snapshot:
    """The snapshot in the file ``path`` (gzip or plain JSON, told by its first bytes)."""
    try:
        data = read_regular(path, MAX_BYTES + 1)
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_BYTES:
        raise SnapshotError(f"{path} is larger than {MAX_BYTES >> 20} MiB: not a snapshot")
    if data[:2] == b"\x1f\x8b":
        try:
            data = _gunzip(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise SnapshotError(f"{path} is a damaged gzip file ({exc})") from exc
    return loads(data, path)


def _gunzip(data: bytes) -> bytes:
    decompressor = zlib.decompressobj(wbits=31)
    out = decompressor.decompress(data, MAX_BYTES + 1)
    if len(out) > MAX_BYTES:
        raise OSError(f"expands to more than {MAX_BYTES >> 20} MiB")
    if not decompressor.eof:
        raise EOFError("truncated")
    return out


def loads(data: bytes, name: str = "snapshot") -> Snapshot:
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"{name} is not a pkgdoctor snapshot: not JSON ({exc})") from exc
    return from_json(document, name)


def from_json(document: Any, name: str = "snapshot") -> Snapshot:
    """The Snapshot of a document that :func:`to_json` wrote; :class:`SnapshotError` else."""
    if not isinstance(document, dict) or "schema_version" not in document:
        raise SnapshotError(f"{name} is not a pkgdoctor snapshot (no schema_version)")
    version = document["schema_version"]
    if version != SCHEMA_VERSION:
        tool = document.get("tool")
        writer = tool.get("version") if isinstance(tool, dict) else None
        by = f" (written by pkgdoctor {writer})" if isinstance(writer, str) else ""
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        hint = "; upgrade pkgdoctor to read it" if newer else ""
        raise SnapshotError(
            f"{name} has snapshot schema_version {version!r}{by}; this pkgdoctor "
            f"{__version__} reads version {SCHEMA_VERSION}{hint}"
        )
    try:
        return _snapshot(document)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise SnapshotError(f"{name} is not a valid snapshot: {_describe(exc)}") from exc


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc) or type(exc).__name__


def _snapshot(doc: Mapping[str, Any]) -> Snapshot:
    scope = doc["scope"]
    tool = doc.get("tool") or {}
    return Snapshot(
        target=target_from_json(doc["target"]),
        scope=Scope(
            deep=_bool(scope["deep"]),
            include_stdlib=_bool(scope["include_stdlib"]),
            cwd=_opt_str(scope["cwd"]),
        ),
        inventory=_read_inventory(doc["inventory"]),
        paths=_read_paths(doc["paths"]),
        extensions=_read_extensions(doc["extensions"]),
        tool=Tool(
            str(tool.get("name", "pkgdoctor")),
            str(tool.get("version", "?")),
            _opt_str(tool.get("packaging")),
        ),
        created=_opt_str(doc.get("created")),
        schema_version=SCHEMA_VERSION,
        # Optional: snapshots written before the venv facts existed have none.
        venv=_read_venv(doc.get("venv")),
        os_release=None if doc.get("os_release") is None else _str_map(doc["os_release"]),
        # Optional too: older snapshots have no OS package facts.
        os_packages=_read_os_packages(doc.get("os_packages")),
        conda=_read_conda(doc.get("conda")),
        gpu=_read_gpu(doc.get("gpu")),
        frameworks=_read_frameworks(doc.get("frameworks")),
        # Optional too: older snapshots have no configuration facts.
        config=_read_config(doc.get("config")),
        # Optional too: older snapshots did not compare libraries taken from outside.
        outside_libraries=_list(doc.get("outside_libraries", []), _read_outside),
    )


def _read_config(doc: Any) -> ConfigFacts | None:
    if doc is None:
        return None

    def pip_file(item: Mapping[str, Any]) -> PipConfigFile:
        def row(value: Any) -> tuple[str, str, str]:
            section, key, text = value
            return _str(section), _str(key), _str(text)

        return PipConfigFile(
            _str(item["level"]),
            _str(item["path"]),
            _bool(item["exists"]),
            _list(item["items"], row),
            _opt_str(item["error"]),
        )

    def conda_file(item: Mapping[str, Any]) -> CondaConfigFile:
        values = item["values"]
        if not isinstance(values, dict):
            raise TypeError("values must be an object")
        return CondaConfigFile(
            _str(item["level"]),
            _str(item["path"]),
            {_str(k): _plain(v) for k, v in values.items()},
            _strs(item["final"]),
            _opt_str(item["error"]),
        )

    def page(item: Mapping[str, Any]) -> IndexPage:
        return IndexPage(
            _str(item["index"]),
            _str(item["project"]),
            _str(item["status"]),
            _strs(item["versions"]),
            _opt_str(item["error"]),
        )

    paths = doc["paths"]
    if not isinstance(paths, dict):
        raise TypeError("paths must be an object")
    online = doc.get("online")
    return ConfigFacts(
        pip_files=_list(doc["pip_files"], pip_file),
        pip_environ=_str_map(doc["pip_environ"]),
        conda_files=_list(doc["conda_files"], conda_file),
        conda_environ=_str_map(doc["conda_environ"]),
        ca_environ=_str_map(doc["ca_environ"]),
        paths={_str(k): _bool(v) for k, v in paths.items()},
        online=None if online is None else _list(online, page),
    )


def _plain(value: Any) -> Any:
    """A .condarc value as the look layer keeps it: str, or lists and objects of those."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_str(k): _plain(v) for k, v in value.items()}
    return _str(value)


def _read_os_packages(doc: Any) -> OsPackages | None:
    if doc is None:
        return None

    def package(item: Mapping[str, Any]) -> OsPackage:
        return OsPackage(_str(item["name"]), _opt_str(item["version"]), _opt_str(item["source"]))

    def candidate(item: Mapping[str, Any]) -> OsCandidate:
        return OsCandidate(_str(item["package"]), _str(item["how"]), _bool(item["verified"]))

    manager = _str(doc["manager"])
    if manager not in MANAGERS:
        raise ValueError(f"unknown package manager {manager!r}")
    owned = doc["owned"]
    candidates = doc["candidates"]
    if not isinstance(owned, dict) or not isinstance(candidates, dict):
        raise TypeError("owned and candidates must be objects")
    packages = _list(doc["packages"], package)
    return OsPackages(
        manager=manager,
        root=_str(doc["root"]),
        packages={p.name: p for p in packages},
        owned={_str(path): _strs(names) for path, names in owned.items()},
        candidates={_str(name): candidate(c) for name, c in candidates.items()},
        intact=_strs(doc.get("intact", [])),
    )


def _read_venv(doc: Any) -> VenvFacts | None:
    if doc is None:
        return None

    def site(item: Any) -> tuple[str, int]:
        path, count = item
        return _str(path), _int(count)

    def shebang(item: Mapping[str, Any]) -> Shebang:
        return Shebang(
            _str(item["script"]),
            _str(item["interpreter"]),
            _bool(item["exists"]),
            _str(item["real_dir"]),
        )

    cfg = doc["cfg"]
    if not isinstance(cfg, dict):
        raise TypeError("cfg must be an object")
    return VenvFacts(
        cfg={_str(k): _str(v) for k, v in cfg.items()},
        home_exists=_bool(doc["home_exists"]),
        python_links=_strs(doc["python_links"]),
        resolved=_opt_str(doc["resolved"]),
        resolved_version=_opt_str(doc["resolved_version"]),
        site_dirs=_list(doc["site_dirs"], site),
        shebangs=_list(doc["shebangs"], shebang),
        candidates=_strs(doc["candidates"]),
    )


def target_from_json(doc: Mapping[str, Any]) -> Target:
    interp = doc["interpreter"]
    binary = interp["binary"]
    libc = interp["libc"]
    version = _list(interp["version"], _int)
    if len(version) != 3:
        raise ValueError("the interpreter version needs 3 numbers")
    mode = doc["mode"]
    if mode not in ("live", "static"):
        raise ValueError(f"unknown mode {mode!r}")
    return Target(
        mode=mode,
        prefix=_str(doc["prefix"]),
        base_prefix=_str(doc["base_prefix"]),
        interpreter=Interpreter(
            implementation=_str(interp["implementation"]),
            version=(version[0], version[1], version[2]),
            executable=_opt_str(interp["executable"]),
            real_executable=_opt_str(interp["real_executable"]),
            extension_suffixes=_strs(interp["extension_suffixes"]),
            ext_suffix=_opt_str(interp["ext_suffix"]),
            soabi=_opt_str(interp["soabi"]),
            multiarch=_opt_str(interp["multiarch"]),
            gil_disabled=_bool(interp["gil_disabled"]),
            debug=_bool(interp["debug"]),
            binary=None
            if binary is None
            else Binary(
                architecture=_str(binary["architecture"]),
                elf_class=_int(binary["elf_class"]),
                machine=_int(binary["machine"]),
                little_endian=_bool(binary["little_endian"]),
                interpreter=_opt_str(binary["interpreter"]),
            ),
            libc=None if libc is None else Libc(_str(libc["family"]), _opt_str(libc["version"])),
        ),
        sys_path=_strs(doc["sys_path"]),
        site_packages=_strs(doc["site_packages"]),
        stdlib=_strs(doc["stdlib"]),
        user_site=_opt_str(doc["user_site"]),
        user_site_enabled=_bool(doc["user_site_enabled"]),
        no_user_site=_bool(doc["no_user_site"]),
        environ=_str_map(doc["environ"]),
        static_reason=_opt_str(doc["static_reason"]),
        markers=_str_map(doc["markers"]),
        stdlib_module_names=frozenset(_strs(doc["stdlib_module_names"])),
        builtin_module_names=frozenset(_strs(doc["builtin_module_names"])),
        frozen_module_names=frozenset(_strs(doc["frozen_module_names"])),
        startup_modules=frozenset(_strs(doc["startup_modules"])),
        probe_cwd=_opt_str(doc["probe_cwd"]),
        system_is_host=_bool(doc["system_is_host"]),
        start_failure=_read_start_failure(doc.get("start_failure")),
    )


def _read_inventory(doc: Mapping[str, Any]) -> Inventory:
    def unreadable(item: Any) -> tuple[str, str]:
        directory, reason = item
        return _str(directory), _str(reason)

    return Inventory(
        distributions=_list(doc["distributions"], _read_distribution),
        shadowed=_list(doc["shadowed"], _read_distribution),
        leftovers=_strs(doc["leftovers"]),
        unreadable=_list(doc["unreadable"], unreadable),
    )


def _row(item: Any) -> RecordEntry:
    path, digest, size = item
    return RecordEntry(_str(path), _opt_str(digest), _opt_int(size))


def _rows(value: Any) -> tuple[RecordEntry, ...]:
    """RECORD rows, checked inline: a large environment has tens of thousands of them, and
    three checking calls per row were most of a snapshot's reading time (``pkgdoctor diff``
    reads two). A row that fails the inline test goes through :func:`_row`, which says why."""
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    rows = []
    for item in value:
        if type(item) is list and len(item) == 3:
            path, digest, size = item
            if (
                type(path) is str
                and (digest is None or type(digest) is str)
                and (size is None or type(size) is int)
            ):
                rows.append(RecordEntry(path, digest, size))
                continue
        rows.append(_row(item))
    return tuple(rows)


def _hashed(item: Any) -> HashedFile:
    path, located, digest, size, shebang = item
    return HashedFile(_str(path), _str(located), _str(digest), _int(size), _bool(shebang))


def _read_distribution(doc: Mapping[str, Any]) -> Distribution:
    integrity = doc["integrity"]
    direct_url = doc["direct_url"]
    if direct_url is not None and not isinstance(direct_url, dict):
        raise TypeError("direct_url must be an object")
    record = doc["record"]
    return Distribution(
        name=_str(doc["name"]),
        version=_opt_str(doc["version"]),
        metadata_dir=_str(doc["metadata_dir"]),
        site_dir=_str(doc["site_dir"]),
        site_real=_str(doc["site_real"]),
        metadata_version=_opt_str(doc["metadata_version"]),
        summary=_opt_str(doc["summary"]),
        requires=_strs(doc["requires"]),
        requires_python=_opt_str(doc["requires_python"]),
        provides_extra=_strs(doc["provides_extra"]),
        problems=_strs(doc["problems"]),
        wheel_tags=_strs(doc["wheel_tags"]),
        wheel_build=_opt_str(doc["wheel_build"]),
        installer=_opt_str(doc["installer"]),
        requested=_bool(doc["requested"]),
        direct_url=direct_url,
        record=None if record is None else _rows(record),
        integrity=Integrity(
            checked=_int(integrity["checked"]),
            missing=_strs(integrity["missing"]),
            deep=_bool(integrity["deep"]),
            hashed=_int(integrity["hashed"]),
            differing=_list(integrity["differing"], _hashed),
            installed_from=_opt_str(integrity["installed_from"]),
            published=_strs(integrity["published"]),
        ),
    )


def _read_paths(doc: Mapping[str, Any]) -> PathFacts:
    def provides(value: Any) -> dict[str, Any]:
        from pkgdoctor.snapshot.model import Provision

        if not isinstance(value, dict):
            raise TypeError("provides must be an object")
        return {_str(n): Provision(_str(k), _str(p)) for n, (k, p) in value.items()}

    def entry(e: Mapping[str, Any]) -> PathEntry:
        return PathEntry(
            path=_str(e["path"]),
            index=_int(e["index"]),
            origin=_str(e["origin"]),
            real=_str(e["real"]),
            pth_file=_opt_str(e["pth_file"]),
            provides=provides(e["provides"]),
        )

    def line(item: Any) -> PthLine:
        number, text, executes = item
        return PthLine(_int(number), _str(text), _bool(executes))

    def pth(p: Mapping[str, Any]) -> PthFile:
        return PthFile(
            _str(p["path"]),
            _str(p["site_dir"]),
            _list(p["lines"], line),
            _opt_str(p.get("blocking")),
        )

    def source(item: Any) -> SourceDir:
        path, recorded_in, kind, exists, name = item
        return SourceDir(_str(path), _str(recorded_in), _str(kind), _bool(exists), _opt_str(name))

    marker = doc["externally_managed"]
    pythonpath = doc["pythonpath"]
    return PathFacts(
        entries=_list(doc["entries"], entry),
        pythonpath=None if pythonpath is None else _strs(pythonpath),
        pth_files=_list(doc["pth_files"], pth),
        cwd=_opt_str(doc["cwd"]),
        externally_managed=None
        if marker is None
        else ExternallyManaged(_str(marker["marker"]), _opt_str(marker["error"])),
        conda=_bool(doc["conda"]),
        prefix_real=_strs(doc["prefix_real"]),
        venv_cfg_blocking=_opt_str(doc.get("venv_cfg_blocking")),
        sources=_list(doc.get("sources", []), source),
    )


def _read_extensions(doc: Mapping[str, Any]) -> ExtensionFacts:
    def problem(item: Any) -> ScanProblem:
        path, reason, *kind = item
        if len(kind) > 1 or (kind and kind[0] not in (UNREADABLE, TOO_DEEP)):
            raise ValueError(f"unknown scan problem {item!r}")
        return ScanProblem(_str(path), _str(reason), *map(_str, kind))

    elf = doc["elf"]
    if not isinstance(elf, dict):
        raise TypeError("elf must be an object")
    return ExtensionFacts(
        modules=_list(doc["modules"], _read_extension),
        scan_problems=_list(doc["scan_problems"], problem),
        elf={_str(path): _read_elf(path, value) for path, value in elf.items()},
        executable=_opt_str(doc["executable"]),
        system_known=_bool(doc["system_known"]),
        symbol_searches=_list(doc.get("symbol_searches", []), _read_symbol_search),
    )


def _read_extension(doc: Mapping[str, Any]) -> Extension:
    path = _str(doc["path"])
    parsed = parse_extension_filename(path.rpartition("/")[2])
    if parsed is None:
        raise ValueError(f"{path} is not an extension module file name")

    def candidate(item: Any) -> Candidate:
        cpath, reason = item
        return Candidate(_str(cpath), _str(reason))

    def link(item: Any) -> Link:
        requester, name, lpath, via, searched, skipped, system, absent = item
        return Link(
            _str(requester),
            Resolution(
                name=_str(name),
                path=_opt_str(lpath),
                via=_str(via),
                searched=_strs(searched),
                skipped=_list(skipped, candidate),
                system=_bool(system),
                absent=_strs(absent),
            ),
        )

    def site(item: Any) -> ImportSite:
        spath, line, statement, guard, top = item
        return ImportSite(_str(spath), _int(line), _str(statement), _opt_str(guard), _bool(top))

    importers = doc["importers"]
    return Extension(
        file=ExtensionFile(
            path, _str(doc["module"]), parsed[1], _str(doc["root"]), _strs(doc["siblings"])
        ),
        package_siblings=_strs(doc["package_siblings"]),
        links=_list(doc["links"], link),
        importers=None
        if importers is None
        else ModuleImports(_str(importers["module"]), _list(importers["sites"], site)),
        numpy_headers=_opt_numpy_headers(doc.get("numpy_headers")),
    )


def _opt_numpy_headers(value: Any) -> int | None:
    if value is None:
        return None
    if value not in (0, 1, 2) or isinstance(value, bool):
        raise SnapshotError(f"numpy_headers must be 0, 1 or 2, not {value!r}")
    return int(value)


def _read_elf(path: str, value: Any) -> ELFFile | str:
    if isinstance(value, str):
        return value
    needs: Sequence[Any] = value["version_needs"]
    return ELFFile(
        path=path,
        elf_class=_int(value["elf_class"]),
        little_endian=_bool(value["little_endian"]),
        osabi=_int(value["osabi"]),
        file_type=_int(value["file_type"]),
        machine=_int(value["machine"]),
        flags=_int(value["flags"]),
        interpreter=_opt_str(value["interpreter"]),
        soname=_opt_str(value["soname"]),
        needed=_strs(value["needed"]),
        rpath=_opt_str(value["rpath"]),
        runpath=_opt_str(value["runpath"]),
        version_needs=tuple(VersionNeed(_str(f), _strs(v)) for f, v in needs),
        version_definitions=_strs(value["version_definitions"]),
    )
