"""The findings of ``pkgdoctor cache``: pure functions of :class:`CacheFacts` (no file, no
process, no clock), like every check.

What removes a broken entry is what conda itself does with one
(``PackageCacheData._make_single_record``, conda/core/package_cache_data.py): a package
directory without a readable ``info/index.json`` is deleted (``rm_rf``) and extracted again
from the package file beside it; a package file that cannot be extracted is deleted and
downloaded again. ``conda clean --packages`` is no fix: it leaves a directory without
``info/`` alone, and any package an environment still hard-links. A directory whose
``info/index.json`` is there but whose files are not is used as it is, and links the hole
into every new environment: only removing it helps, and is safe for a cache (environments
keep their hard links; conda extracts the package again when it needs it).
"""

from __future__ import annotations

import os
import shlex

from pkgdoctor.caches.facts import BrokenPackage, Cache, CacheFacts
from pkgdoctor.codes import CACHE_ARCHIVE_INVALID, CACHE_PACKAGE_INCOMPLETE
from pkgdoctor.findings import Finding


def findings(facts: CacheFacts) -> list[Finding]:
    """Every broken entry of every conda package cache, as a finding."""
    out: list[Finding] = []
    for cache in facts.caches:
        for broken in cache.broken:
            out.append(_finding(cache, broken))
    return out


def _finding(cache: Cache, broken: BrokenPackage) -> Finding:
    name = os.path.basename(broken.path)
    evidence: dict[str, object] = {"cache": cache.location.path}
    if broken.kind == "bad-archive":
        return CACHE_ARCHIVE_INVALID.finding(
            f"the package file {name} in a conda package cache cannot be extracted: "
            f"{broken.detail}",
            path=broken.path,
            evidence=evidence,
            command=f"rm -f {shlex.quote(broken.path)}",
            explanation="conda downloads the package again when an environment needs it "
            "('conda clean --tarballs' removes every package file of the cache)",
        )
    if broken.missing_count:
        evidence["missing"] = list(broken.missing)
        evidence["missing_count"] = broken.missing_count
    evidence["linked_into_an_environment"] = broken.in_use
    again = (
        "conda extracts it again from its package file, or downloads it, when an "
        "environment needs it"
    )
    if broken.in_use:
        again += "; environments already linked from it keep their files (hard links)"
    return CACHE_PACKAGE_INCOMPLETE.finding(
        f"the extracted package {name} in a conda package cache is incomplete: {broken.detail}",
        path=broken.path,
        evidence=evidence,
        command=f"rm -rf {shlex.quote(broken.path)}",
        explanation=again,
    )
