"""ext-numpy-abi from an import's error, for a module whose file did not say which NumPy it
was compiled against (:mod:`pkgdoctor.numpy_abi`: headers older than NumPy 1.16 import
``numpy.core.multiarray``, a file too large to read): the error NumPy or Cython raised names
the break, the traceback or the import tracer the module that raised it."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pkgdoctor import numpy_abi
from pkgdoctor.checks import extensions
from pkgdoctor.checks.context import Context
from pkgdoctor.findings import Finding
from pkgdoctor.snapshot.model import Extension

if TYPE_CHECKING:
    from pkgdoctor.look.imports import ImportOutcome

# Cython names a module's init function's frame "init NAME" (its __Pyx_AddTraceback).
_CYTHON_INIT = re.compile(r"^init (?P<module>[A-Za-z_][\w.]*)$")


def from_import(
    ctx: Context, outcome: ImportOutcome, modules: Sequence[Extension]
) -> list[Finding]:
    """The finding, when the import failed with NumPy's 1.x/2.x ABI error under NumPy 2 and
    the module that raised it is known; else nothing."""
    if outcome.crashed or not outcome.chain:
        return []
    if not any(numpy_abi.abi_error(str(exc.get("message", ""))) for exc in outcome.chain):
        return []
    numpy = ctx.inventory.get("numpy")
    if numpy is None or (numpy_abi.major(numpy.version) or 0) < 2:
        return []
    culprit = _raised_by(ctx, outcome, modules)
    if culprit is None or culprit.numpy_headers == 2:  # its file says NumPy 2: not this
        return []
    problem = extensions.Problem(
        extensions.EXT_NUMPY_ABI.code,
        culprit.file,
        (),
        {"numpy_headers": "1.x", "known_from": "the import error"},
    )
    return extensions._group(ctx, [problem])


def _raised_by(
    ctx: Context, outcome: ImportOutcome, modules: Sequence[Extension]
) -> Extension | None:
    """The extension module whose init raised: Cython's init frame names it; otherwise the
    last extension module the import found that neither numpy nor the standard library
    owns (numpy's own imports follow the module's spec: it imports numpy in its init)."""
    by_name = {m.file.module: m for m in modules}
    for exc in reversed(outcome.chain):
        for frame in reversed(exc.get("frames") or ()):
            match = _CYTHON_INIT.match(str(frame.get("function", "")))
            if match and match["module"] in by_name:
                return by_name[match["module"]]
    stdlib = {posixpath.normpath(d) for d in ctx.target.stdlib}
    stdlib |= {posixpath.join(d, "lib-dynload") for d in stdlib}
    by_path = {m.file.path: m for m in modules}
    for spec in reversed(outcome.found):
        module = by_path.get(str(spec.get("origin")))
        if module is None or posixpath.normpath(module.file.directory) in stdlib:
            continue
        owner = ctx.owner(module.file.path)
        if owner is None or owner.key != "numpy":
            return module
    return None
