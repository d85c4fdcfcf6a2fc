"""Looking at a conda prefix: ``conda-meta/*.json`` records, ``history``, ``pinned``, and
whether the user's ``environments.txt`` lists it.

The record format is conda's ``PrefixRecord`` (``conda/models/records.py``), which mamba,
rattler and pixi write too: ``name``, ``version``, ``build``, ``channel``, ``subdir``,
``depends``, ``constrains``, ``files``, ``paths_data`` (``paths_version`` 1: ``_path``,
``path_type``, ``sha256``, ``size_in_bytes``, and ``sha256_in_prefix``/``prefix_placeholder``
for files rewritten at link time), ``link``, ``requested_spec`` (conda) or
``requested_specs`` (rattler).

Every file is read with :func:`pkgdoctor.files.read_regular` (bounded, never a FIFO); a path a
record names is only looked at when it stays inside the prefix; nothing is written.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pkgdoctor._typed import loads
from pkgdoctor.conda_specs import spec_name
from pkgdoctor.files import NotRegularFile, read_regular
from pkgdoctor.listings import Listings
from pkgdoctor.snapshot.model import (
    CondaFacts,
    CondaHistory,
    CondaPath,
    CondaRecord,
    CondaRegistry,
    RecordEntry,
)
from pkgdoctor.target.facts import Target

#: The largest record seen in practice (qt-main, ~10,000 files) is a few MB.
RECORD_LIMIT = 64 << 20
#: A base environment used for years has a history of a few MB.
HISTORY_LIMIT = 32 << 20
PINNED_LIMIT = 1 << 20
ENVIRONMENTS_LIMIT = 4 << 20
#: conda-meta/ holds one record per package; a prefix with more is not one to read whole.
MAX_RECORDS = 20_000
#: Commands of the history kept for the report (the newest).
COMMANDS_KEPT = 5
# conda doctor leaves compiled bytecode out of its file checks (``excluded_files_check``):
# conda writes .pyc files of noarch packages itself, and Python rewrites them.
_BYTECODE = (".pyc", ".pyo")
# conda's History patterns (``conda/history.py``).
_REVISION = re.compile(r"==>\s*(.+?)\s*<==")
_COMMAND = re.compile(r"#\s*cmd:\s*(.+)")
_SPECS = re.compile(r"#\s*(\w+)\s*specs:\s*(.+)?")
_VERSION_RELATION = re.compile(r"^\s*[<>=!~]")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def collect(
    target: Target,
    *,
    deep: bool = False,
    listings: Listings | None = None,
    environ: Mapping[str, str] | None = None,
) -> CondaFacts | None:
    """The conda facts of ``target``'s prefix; None when it has no ``conda-meta/``.

    Whether a file is there comes from the directory listings the other looks share (one
    ``scandir`` per directory, not an ``lstat`` per file); with ``deep``, every file whose
    record gives a hash is read and hashed."""
    prefix = os.path.normpath(target.prefix)
    listings = listings if listings is not None else Listings()
    meta = os.path.join(prefix, "conda-meta")
    if not os.path.isdir(meta):
        return None
    records: list[CondaRecord] = []
    unreadable: list[tuple[str, str]] = []
    for path in _record_files(meta, unreadable):
        try:
            records.append(read_record(path, prefix, listings))
        except ValueError as exc:
            unreadable.append((path, str(exc)))
    records.sort(key=lambda r: r.name)
    if deep:
        records = _hash(records, prefix)
    pinned, pinned_problem = _pinned(os.path.join(meta, "pinned"))
    return CondaFacts(
        prefix=prefix,
        records=tuple(records),
        history=read_history(os.path.join(meta, "history"), {r.name for r in records}),
        pinned=pinned,
        pinned_problem=pinned_problem,
        registry=_registry(prefix, os.environ if environ is None else environ),
        unreadable=tuple(unreadable),
        deep=deep,
    )


def _record_files(meta: str, unreadable: list[tuple[str, str]]) -> list[str]:
    found: list[str] = []
    try:
        with os.scandir(meta) as entries:
            for entry in entries:
                # "._x.json": macOS resource forks copied onto another file system (conda's
                # own test data keeps one); they are not records.
                if not entry.name.endswith(".json") or entry.name.startswith("._"):
                    continue
                if len(found) >= MAX_RECORDS:
                    unreadable.append(
                        (meta, f"more than {MAX_RECORDS:,} records; the rest not read")
                    )
                    break
                found.append(entry.path)
    except OSError as exc:
        unreadable.append((meta, exc.strerror or str(exc)))
    return sorted(found)


def read_record(path: str, prefix: str, listings: Listings | None = None) -> CondaRecord:
    """The record in ``path``, with which of its files are missing.

    :raises ValueError: when it is not a record (not JSON, no name/version/build).
    """
    try:
        data = read_regular(path, RECORD_LIMIT + 1)
    except NotRegularFile as exc:
        raise ValueError("not a regular file") from exc
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from exc
    if len(data) > RECORD_LIMIT:
        raise ValueError(f"larger than {RECORD_LIMIT >> 20} MiB")
    try:
        doc = loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # [[[[...]]]] too: "nested too deeply"
        raise ValueError(f"not valid JSON ({_first_line(exc)})") from exc
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    problems: list[str] = []
    name, version, build = (_text(doc.get(key)) for key in ("name", "version", "build"))
    if not (name and version and build is not None):
        raise ValueError("no name, version and build")
    files = _files(doc, problems)
    link: dict[str, Any] = doc["link"] if isinstance(doc.get("link"), dict) else {}
    requested = doc.get("requested_specs")
    if not isinstance(requested, list):
        # conda writes the string "None" for a package nobody asked for (str(None) of
        # PrefixRecord.requested_spec; its own test data has it).
        spec = doc.get("requested_spec")
        requested = [spec] if spec and spec != "None" else []
    missing = _presence(files, prefix, problems, listings or Listings())
    noarch = doc.get("noarch")
    if isinstance(noarch, dict):  # older records: {"type": "python"}
        noarch = noarch.get("type")
    return CondaRecord(
        name=name,
        version=version,
        build=build,
        record_file=path,
        build_number=doc["build_number"] if type(doc.get("build_number")) is int else None,
        channel=_text(doc.get("channel")) or _text(doc.get("schannel")),
        subdir=_text(doc.get("subdir")),
        url=_text(doc.get("url")),
        depends=_strings(doc.get("depends"), "depends", problems),
        constrains=_strings(doc.get("constrains"), "constrains", problems),
        files=files,
        link_type=_link_type(link.get("type")),
        link_source=_text(link.get("source")),
        noarch=_text(noarch),
        requested=tuple(str(s) for s in requested if isinstance(s, str)),
        problems=tuple(problems),
        missing=missing,
    )


def _files(doc: Mapping[str, Any], problems: list[str]) -> tuple[CondaPath, ...]:
    paths_data = doc.get("paths_data")
    if not isinstance(paths_data, dict):
        paths_data = {}
    rows = paths_data.get("paths")
    if isinstance(rows, list) and paths_data.get("paths_version", 1) == 1:
        out = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("_path"), str):
                problems.append("paths_data has an entry without a _path")
                continue
            in_prefix = row.get("sha256_in_prefix")
            rewritten = bool(row.get("prefix_placeholder"))
            if _hex64(in_prefix):
                sha256: str | None = in_prefix
                size = row.get("size_in_bytes") if not rewritten else None
            elif rewritten:
                sha256, size = None, None  # rewritten at link time, and the record keeps no hash
            else:
                sha256 = row.get("sha256")
                sha256 = sha256 if _hex64(sha256) else None
                size = row.get("size_in_bytes")
            out.append(
                CondaPath(
                    row["_path"],
                    _text(row.get("path_type")) or "hardlink",
                    sha256,
                    size if type(size) is int and size >= 0 else None,
                )
            )
        return tuple(out)
    listed = doc.get("files")
    if isinstance(listed, list):
        return tuple(CondaPath(p, "", None, None) for p in listed if isinstance(p, str))
    if listed is not None:
        problems.append("files is not a list")
    return ()


def inside(prefix: str, relative: str) -> str | None:
    """``prefix/relative`` when ``relative`` is a relative path that stays inside ``prefix``
    (conda's paths always are); None for anything else, which is then never looked at."""
    if not relative or relative[0] == "/" or "\0" in relative:
        return None
    if ".." not in relative:  # the common case: nothing can climb out (no normpath needed)
        return f"{prefix}/{relative}"
    path = os.path.normpath(os.path.join(prefix, relative))
    return path if path.startswith(prefix.rstrip("/") + "/") else None


def _presence(
    files: Sequence[CondaPath], prefix: str, problems: list[str], listings: Listings
) -> tuple[str, ...]:
    missing: list[str] = []
    outside = 0
    for entry in files:
        if entry.path.endswith(_BYTECODE) or entry.path_type == "directory":
            continue
        path = inside(prefix, entry.path)
        if path is None:
            outside += 1
            continue
        found = listings.exists(path)
        if found is None:  # its directory cannot be listed: ask for the file itself
            found = os.path.lexists(path)
        if not found:
            missing.append(entry.path)
    if outside:
        problems.append(f"{outside} path(s) that leave the prefix (not looked at)")
    return tuple(missing)


def _hash(records: list[CondaRecord], prefix: str) -> list[CondaRecord]:
    """The records with ``altered`` from sha256 (``--deep``): every regular file whose record
    gives its hash, read inside the prefix only, on the threads that hash RECORD files."""
    import base64
    import dataclasses

    from pkgdoctor.look.records import HashJob, hash_files

    real_prefix = os.path.realpath(prefix) + "/"
    jobs: list[HashJob] = []
    owner: dict[int, CondaRecord] = {}
    for record in records:
        gone = set(record.missing)
        for entry in record.files:
            if entry.sha256 is None or entry.path in gone or entry.path_type == "softlink":
                continue
            if entry.path.endswith(_BYTECODE):
                continue
            path = inside(prefix, entry.path)
            if path is None or not os.path.realpath(path).startswith(real_prefix):
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            digest = base64.urlsafe_b64encode(bytes.fromhex(entry.sha256)).rstrip(b"=")
            job = HashJob(
                None,
                RecordEntry(entry.path, "sha256=" + digest.decode(), entry.size),
                path,
                st.st_size,
            )
            owner[id(job)] = record
            jobs.append(job)
    differing: dict[str, set[str]] = {}
    for result in hash_files(jobs):
        if not result.matches:
            differing.setdefault(owner[id(result.job)].record_file, set()).add(
                result.job.entry.path
            )
    out = []
    for record in records:
        found = differing.get(record.record_file, set())
        altered = tuple(e.path for e in record.files if e.path in found)
        out.append(dataclasses.replace(record, altered=altered))
    return out


# conda-meta/python-3.11.7-h955ad1f_0.json: a record's file is NAME-VERSION-BUILD.json.
_PYTHON_RECORD = re.compile(r"^python-(\d+)\.(\d+)\.(\d+)-[^-]+\.json$")


def python_version(prefix: str) -> tuple[int, int, int] | None:
    """The version of the ``python`` package conda installed in ``prefix`` (from its record's
    file name); None when there is none. The static reader knows only X.Y from the files of
    the standard library."""
    try:
        with os.scandir(os.path.join(prefix, "conda-meta")) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_RECORDS:
                    break
                match = _PYTHON_RECORD.match(entry.name)
                if match:
                    return int(match[1]), int(match[2]), int(match[3])
    except OSError:
        pass
    return None


def read_history(path: str, installed: Iterable[str] = ()) -> CondaHistory | None:
    """``conda-meta/history`` as conda's ``History`` reads it; None when there is none.

    ``requested`` follows ``get_requested_specs_map``: per revision, ``remove`` specs drop a
    name, ``update``/``install``/``create`` and ``neutered`` specs set it; names no record
    installs any more are left out (conda does not always record a removal)."""
    try:
        data = read_regular(path, HISTORY_LIMIT + 1)
    except NotRegularFile:
        return CondaHistory(problems=("not a regular file",))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return CondaHistory(problems=(exc.strerror or str(exc),))
    problems = []
    if len(data) > HISTORY_LIMIT:
        problems.append(f"larger than {HISTORY_LIMIT >> 20} MiB; the start was read")
        data = data[:HISTORY_LIMIT]
    revisions = 0
    specs: dict[str, str] = {}
    commands: list[str] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if _REVISION.match(line):
            revisions += 1
            continue
        if not line.startswith("#"):
            if line[0] not in "+-" and revisions == 0:
                problems.append(f"line {number}: a package before the first ==> date <== line")
            continue
        command = _COMMAND.match(line)
        if command:
            commands.append(command.group(1).strip())
            continue
        match = _SPECS.match(line)
        if not match:
            continue
        action, text = match.group(1), (match.group(2) or "").strip()
        try:
            parsed = _spec_list(text)
        except ValueError:
            problems.append(f"line {number}: specs conda cannot read: {text[:80]}")
            continue
        for spec in parsed:
            name = spec_name(spec)
            if name is None:
                continue
            if action in ("remove", "uninstall"):
                specs.pop(name, None)
            elif action in ("update", "install", "create", "neutered"):
                specs[name] = spec
    names = set(installed)
    return CondaHistory(
        revisions=revisions,
        requested=tuple(s for n, s in specs.items() if not names or n in names),
        commands=tuple(commands[-COMMANDS_KEPT:]),
        problems=tuple(problems),
    )


def _spec_list(text: str) -> list[str]:
    """A history line's specs: a Python list literal (conda >= 4.5) or the older
    comma-separated form, whose ``>=1,<2`` pieces belong to the spec before them."""
    if text.startswith("["):
        import ast

        try:
            value = ast.literal_eval(text)
        except (SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            # A cut or hand-edited line ("['numpy'"), or one nested deep enough to exhaust
            # the parser: a line conda cannot read either, never pkgdoctor's crash.
            raise ValueError(text) from exc
        if not isinstance(value, list):
            raise ValueError(text)
        specs = [str(s) for s in value]
    else:
        specs = []
        for piece in text.split(","):
            if _VERSION_RELATION.match(piece) and specs:
                specs[-1] += "," + piece
            else:
                specs.append(piece)
    return [s.strip() for s in specs if s.strip() and not s.strip().endswith("@")]


def _pinned(path: str) -> tuple[tuple[tuple[int, str], ...] | None, str | None]:
    try:
        data = read_regular(path, PINNED_LIMIT + 1)
    except NotRegularFile:
        return None, "it is not a regular file"
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if len(data) > PINNED_LIMIT:
        return None, f"it is larger than {PINNED_LIMIT >> 20} MiB"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "it is not UTF-8"
    lines = tuple(
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#")
    )
    return lines, None


def _registry(prefix: str, environ: Mapping[str, str]) -> CondaRegistry | None:
    """Whether ``~/.conda/environments.txt`` lists ``prefix`` (conda doctor's
    ``check_envs_txt_file``: the same directory, links followed)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    if not home or home == "~":
        return None
    path = os.path.join(home, ".conda", "environments.txt")
    try:
        data = read_regular(path, ENVIRONMENTS_LIMIT)
    except OSError:
        return CondaRegistry(path, os.path.lexists(path), False)
    real = os.path.realpath(prefix)
    for line in data.decode("utf-8", "replace").splitlines():
        listed = line.strip()
        if listed and (listed == prefix or os.path.realpath(listed) == real):
            return CondaRegistry(path, True, True)
    return CondaRegistry(path, True, False)


def _hex64(value: Any) -> bool:
    """A sha256 as conda writes it: 64 hex digits (lower case; anything else is no hash)."""
    return isinstance(value, str) and len(value) == 64 and _HEX64.match(value) is not None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any, key: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key} is not a list of strings")
        return ()
    return tuple(value)


def _link_type(value: Any) -> str | None:
    # conda's LinkType enum: 1 hardlink, 2 softlink, 3 copy (4 directory); some writers
    # store the name instead.
    names = {1: "hardlink", 2: "softlink", 3: "copy", 4: "directory"}
    if type(value) is int:
        return names.get(value)
    return value.lower() if isinstance(value, str) else None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
