"""Looking at an import: run it in a child process of the target interpreter and record what
happened (the exception chain, the specs found on the way), and which extension module files
it touched or looked for.

The import runs with ``-B`` (no bytecode written) and ``-X faulthandler``. The whole chain
(``__cause__``/``__context__``) is kept, because the outer message often lies: numpy says
"do not import numpy from its source directory" when the inner error is an extension module
built for another architecture.
"""

from __future__ import annotations

import glob
import os
import re
import signal
from collections.abc import Iterable
from dataclasses import field
from pathlib import Path
from typing import Any

from pkgdoctor._fields import Fact, fact
from pkgdoctor._typed import loads
from pkgdoctor.errors import ProbeError
from pkgdoctor.extmodules import ExtensionFile, parse_extension_filename
from pkgdoctor.look.extensions import extension_file, extension_roots
from pkgdoctor.target.facts import Target
from pkgdoctor.target.limits import IMPORT_TIMEOUT, OUTPUT_LIMIT
from pkgdoctor.target.live import run_in_target
from pkgdoctor.target.process import Kept

IMPORT_PROBE = (Path(__file__).parent.parent / "target" / "_import_probe.py").read_text("utf-8")
_RESULT_MARK = "\x1epkgdoctor-result\t"
_SPEC_MARK = "\x1epkgdoctor-spec\t"
_SO_PATH = re.compile(r"(/[^\s:'\"]+\.so(?:\.[0-9.]+)?)")
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@fact
class ImportOutcome(Fact):
    """What happened when the target imported a module."""

    module: str
    ok: bool
    chain: list[dict[str, Any]] = field(default_factory=list)
    found: list[dict[str, Any]] = field(default_factory=list)  # specs found on the way
    crashed: str | None = None  # "SIGSEGV", "exit status 3" when no result came back
    stderr_tail: list[str] = field(default_factory=list)
    distribution: str | None = None  # who installed :attr:`origin` ("NAME VERSION"), if known
    # The distributions that provide the module a ModuleNotFoundError names, found in another
    # Python version's site-packages of the prefix (see :func:`installed_elsewhere`).
    elsewhere: list[dict[str, Any]] = field(default_factory=list)

    @property
    def origin(self) -> str | None:
        """The file the module itself was found in (its spec's origin); None for a namespace
        package, a built-in or frozen module, or one imported before the probe looked."""
        for spec in reversed(self.found):
            if spec.get("name") == self.module:
                origin = spec.get("origin")
                return origin if isinstance(origin, str) and origin.startswith("/") else None
        return None

    @property
    def portions(self) -> list[str]:
        """The directories of a namespace package (PEP 420: no origin, only locations) the
        module was found as; empty for anything else."""
        for spec in reversed(self.found):
            if spec.get("name") == self.module:
                if spec.get("origin") in (None, "namespace"):
                    return [str(p) for p in spec.get("locations") or ()]
                return []
        return []

    @property
    def summary(self) -> str:
        if self.crashed:
            return f"the interpreter died while importing {self.module} ({self.crashed})"
        if not self.chain:
            return "imports fine"
        first = self.chain[0]
        return f"{first['type']}: {first['message']}"

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "ok": self.ok,
            "crashed": self.crashed,
            "chain": self.chain,
            "origin": self.origin,
            "distribution": self.distribution,
            "portions": self.portions,
        }


def valid_module_name(name: str) -> bool:
    return bool(_MODULE_NAME.match(name))


def run_import(target: Target, module: str, timeout: float = IMPORT_TIMEOUT) -> ImportOutcome:
    """Import ``module`` in a child of the target interpreter and report what happened;
    ``ProbeError`` when the import runs past ``timeout`` seconds."""
    exe = target.interpreter.executable
    if target.mode != "live" or not exe:
        raise ProbeError(
            f"cannot import {module}: the target is read statically "
            f"({target.static_reason}); use 'pkgdoctor check'"
        )
    # The result is the last line of stdout, after what the module printed itself: the
    # last OUTPUT_LIMIT bytes are kept, whatever came before is dropped.
    stdout = Kept(head=0, tail=OUTPUT_LIMIT)
    proc = run_in_target(
        exe,
        IMPORT_PROBE,
        args=(module,),
        timeout=timeout,
        flags=("-X", "faulthandler"),
        stdout=stdout,
    )
    # Not splitlines(): it also splits at "\x1e", the marker.
    stderr = proc.stderr.split("\n")
    found: list[dict[str, Any]] = []
    for line in stderr:
        if line.startswith(_SPEC_MARK):
            name, _, origin = line[len(_SPEC_MARK) :].partition("\t")
            found.append({"name": name, "origin": origin or None, "locations": []})
    tail = [line for line in stderr if line.strip() and not line.startswith(_SPEC_MARK)][-15:]
    marker = proc.stdout.rfind(_RESULT_MARK)
    if marker >= 0:
        try:
            data = loads(proc.stdout[marker + len(_RESULT_MARK) :].split("\n", 1)[0])
            return ImportOutcome(
                module, bool(data["ok"]), list(data["chain"]), list(data["found"]), None, tail
            )
        except (ValueError, KeyError, IndexError, TypeError):
            pass
    if proc.stdout_overflowed:
        raise ProbeError(
            f"importing {module} in {exe} printed more than {OUTPUT_LIMIT >> 20} MiB on "
            "standard output, and no result after it"
        )
    return ImportOutcome(module, False, [], found, describe_exit(proc.returncode), tail)


def missing_module(outcome: ImportOutcome) -> str | None:
    """The module the innermost ``ModuleNotFoundError`` names, if that is how it failed."""
    if outcome.ok or outcome.crashed or not outcome.chain:
        return None
    innermost = outcome.chain[-1]
    name = innermost.get("name")
    return str(name) if innermost["type"] == "ModuleNotFoundError" and name else None


def installed_elsewhere(target: Target, module: str) -> list[dict[str, Any]]:
    """The distributions that provide ``module``'s top-level name in a site-packages of the
    target's prefix that its interpreter never reads: ``lib/python3.11/site-packages`` left
    behind when the venv was made again with 3.12 in place. Read only for a failed import."""
    from pkgdoctor.inventory import discover

    top = module.split(".")[0]
    read = {os.path.realpath(p) for p in target.sys_path}
    pattern = os.path.join(glob.escape(target.prefix), "lib", "*", "site-packages")
    found = []
    for site in sorted(glob.glob(pattern)):
        if os.path.realpath(site) in read:
            continue
        for dist in discover([site]).distributions:
            if top in dist.top_level_names:
                found.append({
                    "distribution": dist.name,
                    "version": dist.version,
                    "site_dir": site,
                    "python": os.path.basename(os.path.dirname(site)),
                })  # fmt: skip
    return found


def describe_exit(returncode: int, missing: str = "a result") -> str:
    """How a child that gave no answer ended: "SIGABRT", "exit status 3 without a result"."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode} without {missing}"


def involved_files(target: Target, outcome: ImportOutcome) -> list[ExtensionFile]:
    """The extension module files the failed import touched or looked for."""
    roots = extension_roots(target, include_stdlib=False) + list(target.stdlib)
    paths: dict[str, None] = {}
    for spec in outcome.found:
        origin = spec.get("origin")
        if origin and origin.endswith(".so"):
            paths[origin] = None
    for exc in outcome.chain:
        if exc.get("path") and str(exc["path"]).endswith(".so"):
            paths[str(exc["path"])] = None
        for match in _SO_PATH.finditer(exc.get("message", "")):
            if parse_extension_filename(os.path.basename(match[1])):
                paths[match[1]] = None
        missing = exc.get("name") if exc["type"] == "ModuleNotFoundError" else None
        if missing:
            paths.update(dict.fromkeys(_candidates_for(missing, outcome, roots)))
    result = []
    for path in paths:
        root = _root_of(path, roots)
        ext = extension_file(path, root) if os.path.isfile(path) else None
        if ext is not None:
            result.append(ext)
    return result


def _candidates_for(module: str, outcome: ImportOutcome, roots: Iterable[str]) -> list[str]:
    """Files that could have been ``module`` but were not taken: same name, any suffix."""
    parent, _, leaf = module.rpartition(".")
    directories: list[str] = []
    if parent:
        for spec in outcome.found:
            if spec["name"] == parent:
                directories += spec.get("locations") or []
                if not directories and spec.get("origin"):
                    directories.append(os.path.dirname(spec["origin"]))
        if not directories:
            for root in roots:
                candidate = os.path.join(root, *parent.split("."))
                if os.path.isdir(candidate):
                    directories.append(candidate)
    else:
        directories = list(roots)
    files = []
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in sorted(names):
            parsed = parse_extension_filename(name)
            if parsed is not None and parsed[0] == leaf:
                files.append(os.path.join(directory, name))
    return files


def _root_of(path: str, roots: Iterable[str]) -> str:
    best = ""
    for root in roots:
        normalized = os.path.normpath(root)
        if path.startswith(normalized + os.sep) and len(normalized) > len(best):
            best = normalized
    return best or os.path.dirname(path)
