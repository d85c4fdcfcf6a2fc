"""The look layer: everything that reads the target's files or runs its interpreter.

:func:`collect` turns a target (found by :mod:`pkgdoctor.target`: the live probe or the
static reader) into a :class:`~pkgdoctor.snapshot.model.Snapshot`. Progress bars, threads,
time limits and the persistent cache live here, never in the checks.

Each directory is listed once per run (:class:`~pkgdoctor.listings.Listings`), shared by the
RECORD presence check and the extension-module walk; ELF files, METADATA and RECORD files
are parsed once and cached with the identity of the file (see :mod:`pkgdoctor.cache`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pkgdoctor import __version__
from pkgdoctor.cache import Cache
from pkgdoctor.inventory import discover, site_entries
from pkgdoctor.listings import Listings
from pkgdoctor.look import (
    conda,
    config,
    extensions,
    frameworks,
    gpu,
    library_copies,
    ospackages,
    paths,
    records,
    system,
    venv,
)
from pkgdoctor.look.fork import fork_look
from pkgdoctor.look.records import ProgressFactory
from pkgdoctor.snapshot.model import ExtensionFacts, Scope, Snapshot, Tool
from pkgdoctor.target.facts import Target

#: An answer about a directory modified less than this before the run started is never
#: cached: a change within one coarse timestamp of the read would not show in the mtime
#: (git's "racy" index rule).
RACY_NS = 2_000_000_000


def settled_since(started_ns: int) -> Callable[[int], bool]:
    """Whether a file system object modified at ``mtime_ns`` is old enough for an answer
    about it to be cached: two seconds before the run started, so that a change made during
    the run, or within one coarse timestamp of it, always shows in the mtime."""
    return lambda mtime_ns: mtime_ns < started_ns - RACY_NS


def collect(
    target: Target,
    scope: Scope | None = None,
    cache: Cache | None = None,
    progress: ProgressFactory | None = None,
    *,
    parallel: bool = False,
    online: bool = False,
) -> Snapshot:
    """Everything the checks need to know about ``target``, read once.

    With ``parallel`` (the console script) and a cold cache, the extension modules are
    looked at in a forked child on the second core while this process reads the
    distributions; the child sends its facts (and what it added to the cache) back through
    a pipe. Anything that goes wrong there makes this process look at them itself: the
    Snapshot is the same either way.

    ``online`` (``check --online``): the configured package indexes are asked about the
    installed projects (the only network access of ``check``).
    """
    scope = scope or Scope()
    cache = cache if cache is not None else Cache(None)
    started_ns = time.time_ns()
    settled = settled_since(started_ns)
    listings = Listings()

    def look_at_extensions() -> ExtensionFacts:
        return extensions.look_all(target, scope.include_stdlib, cache, listings, settled)

    # A second process pays when the extension modules must really be read (a cold cache:
    # ~60 ms of ELF parsing and lookups beside the distributions); on a warm cache it would
    # cost more to send their facts back (~15 ms of unpickling) than it saves.
    child = None
    try:
        if parallel and cache.cold:
            child = fork_look(look_at_extensions, cache)
        inventory = discover(site_entries(target.sys_path, target.stdlib), cache)
        inventory = records.collect(
            inventory,
            deep=scope.deep,
            cache=cache,
            listings=listings,
            settled=settled,
            progress=progress,
        )
        path_facts = paths.collect(target, scope.cwd)
        venv_facts = venv.collect(target)
        os_release = system.collect(target)
        os_facts = ospackages.collect(target, inventory, cache, settled)
        conda_facts = conda.collect(target, deep=scope.deep, listings=listings)
        gpu_facts = gpu.collect(target)
        framework_builds = frameworks.collect(inventory)
        names = None
        if online:  # the REQUESTED ones first: what the user asked for by name
            names = [d.name for d in sorted(inventory.distributions, key=lambda d: not d.requested)]
        config_facts = config.collect(target, online_names=names)
    except BaseException:  # interrupted: no child process is left behind
        if child is not None:
            child.cancel()
        raise
    looked = child.result() if child is not None else None
    extension_facts = extensions.complete(
        looked if looked is not None else look_at_extensions(), inventory, cache
    )
    outside = library_copies.collect(extension_facts, inventory, target.prefix)
    return Snapshot(
        target=target,
        scope=scope,
        inventory=inventory,
        paths=path_facts,
        extensions=extension_facts,
        tool=Tool("pkgdoctor", __version__),
        venv=venv_facts,
        os_release=os_release,
        os_packages=os_facts,
        conda=conda_facts,
        gpu=gpu_facts,
        frameworks=framework_builds,
        config=config_facts,
        outside_libraries=outside,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_ns / 1e9)),
    )
