"""Libraries that a package's own import has loaded before it loads an extension module.

A ``DT_NEEDED`` name is not searched at all when an object already loaded in the process
answers to it: glibc's ``_dl_map_object`` (``elf/dl-load.c``) first compares the name with
every object of the namespace (``_dl_name_match_p``: the names it was requested by, and its
``DT_SONAME``), objects loaded with ``RTLD_LOCAL`` included; musl's ``load_library`` compares
it with the file name each object was found under (``shortname``), never ``DT_SONAME``.

So ``import torchvision`` works although ``torchvision/_C.so`` needs ``libc10.so``,
``libtorch.so`` ... and has no search path to ``torch/lib``: torchvision's ``__init__``
imports torch first (Requires-Dist: torch), and ``torch/_C.so`` has brought those libraries
in through its own RUNPATH. Likewise ``triton/plugins/*.so`` need ``libtriton.so``, the
``DT_SONAME`` of ``triton/_C/libtriton.so``, which triton loads before any plugin.

The model (a pure function of the Snapshot): a name that the loader model does not find for
module M is *loaded* when an extension module M' of M's distribution, or of a distribution it
requires (transitively: Requires-Dist with markers evaluated for the target, extras followed),
answers to it: M' itself by its ``DT_SONAME`` (glibc), or a library the loader model resolves
for M' (by the name it was requested by, and on glibc by its ``DT_SONAME``). The order in
which a distribution's own modules are imported is not in its metadata: any other module of
it counts. If M' cannot load either (its library really is gone), it answers to nothing for
that name, and the name stays missing for M too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from pkgdoctor.checks.context import Context
from pkgdoctor.elf import ELFFile
from pkgdoctor.snapshot.model import Distribution, Extension, Link, Resolution

if TYPE_CHECKING:
    from packaging.requirements import Requirement

# How a name answered by an object the package's import loaded first reads in Resolution.via
# (the loader model's own "already loaded" case, see pkgdoctor.loader).
LOADED = "loaded"


@dataclasses.dataclass(frozen=True)
class _Answer:
    """An object loaded under ``name`` by the import of ``dist``'s module ``module``."""

    path: str
    module: str  # the extension module that loads it
    dist: str  # that module's distribution (key)


def with_import_loads(ctx: Context, module: Extension) -> Extension:
    """``module``, with each name the loader model did not find resolved to the object that
    the import of its package has already loaded under that name (``via == "loaded"``), when
    there is one (module docstring). Everything else unchanged."""
    if all(link.resolution.found for link in module.links):
        return module
    dist = ctx.owner(module.file.path)
    if dist is None:
        return module
    answers = _answers(ctx)
    closure = _closure(ctx, dist)
    links = []
    changed = False
    for link in module.links:
        res = link.resolution
        answer = None
        if not res.found and res.via != "unknown":
            answer = next(
                (
                    a
                    for a in answers.get(res.name, ())
                    if a.dist in closure and a.module != module.file.path
                ),
                None,
            )
        if answer is None:
            links.append(link)
            continue
        changed = True
        loaded = Resolution(res.name, answer.path, LOADED, res.searched, res.skipped)
        links.append(Link(link.requester, loaded))
    return dataclasses.replace(module, links=tuple(links)) if changed else module


def _answers(ctx: Context) -> dict[str, tuple[_Answer, ...]]:
    """Every name an object that some extension module loads answers to → those objects,
    for the modules the loader model links whole (one with a name not found fails to load
    and keeps nothing loaded). Built once per Context."""
    cached = ctx.derived.get("import-loads")
    if isinstance(cached, dict):
        return cached
    elf = ctx.snapshot.extensions.elf
    interp = ctx.target.interpreter
    glibc = interp.libc is None or interp.libc.family != "musl"
    found: dict[str, list[_Answer]] = {}

    def add(name: str | None, path: str, module: Extension, dist: Distribution) -> None:
        if name and "/" not in name:
            entries = found.setdefault(name, [])
            if all(a.path != path or a.module != module.file.path for a in entries):
                entries.append(_Answer(path, module.file.path, dist.key))

    for module in ctx.snapshot.extensions.modules:
        if not module.links or not all(link.resolution.found for link in module.links):
            continue
        dist = ctx.owner(module.file.path)
        if dist is None:
            continue
        own = elf.get(module.file.path)
        if glibc and isinstance(own, ELFFile):
            add(own.soname, module.file.path, module, dist)
        for link in module.links:
            res = link.resolution
            if res.path is None:
                continue
            add(res.name, res.path, module, dist)
            lib = elf.get(res.path)
            if glibc and isinstance(lib, ELFFile):
                add(lib.soname, res.path, module, dist)
    result = {name: tuple(entries) for name, entries in found.items()}
    ctx.derived["import-loads"] = result
    return result


def _closure(ctx: Context, dist: Distribution) -> set[str]:
    """``dist`` and every installed distribution it requires, transitively (keys)."""
    return {dist.key} | {found.key for _, _, found in walk_requirements(ctx, dist) if found}


def walk_requirements(
    ctx: Context, dist: Distribution, follow: Callable[[str], object] = lambda name: True
) -> Iterator[tuple[str, Requirement, Distribution | None]]:
    """The requirements of ``dist`` that apply to the target (Requires-Dist markers evaluated
    with ``packaging`` for its markers and the extras asked for), then those of each installed
    distribution they name, transitively, with the extras each was asked for: (Requires-Dist
    text, the parsed requirement, the installed distribution it names or None). ``follow``
    (on the canonical name) keeps the walk to some names (NVIDIA's wheels, ``cuda-toolkit``)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    markers = dict(ctx.target.markers)
    seen = {(dist.key, frozenset[str]())}
    todo: list[tuple[Distribution, frozenset[str]]] = [(dist, frozenset())]
    while todo:
        current, extras = todo.pop()
        for text in current.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            name = canonicalize_name(req.name)
            if not follow(name):
                continue
            if req.marker is not None and not marker_applies(req.marker, markers, extras):
                continue
            found = ctx.inventory.get(name)
            yield text, req, found
            if found is not None and (found.key, frozenset(req.extras)) not in seen:
                seen.add((found.key, frozenset(req.extras)))
                todo.append((found, frozenset(req.extras)))


def marker_applies(marker: object, markers: dict[str, str], extras: Iterable[str]) -> bool:
    """Whether a Requires-Dist marker holds for the target, with no extra or one of
    ``extras`` requested (PEP 508: ``extra`` is compared with each in turn)."""
    from packaging.markers import Marker

    assert isinstance(marker, Marker)
    for extra in ("", *extras):
        try:
            if marker.evaluate({**markers, "extra": extra}):
                return True
        except Exception:  # packaging raises several types for undefined comparisons
            return False
    return False
