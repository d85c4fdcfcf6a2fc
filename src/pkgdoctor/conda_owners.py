"""Which installed Python distributions conda owns, and which pip (or uv) put on top: a pure
function of a :class:`~pkgdoctor.snapshot.model.Snapshot` with conda facts, shared by
``export``, ``diff`` and ``report``.

conda's own rule (``load_site_packages`` in ``conda/plugins/prefix_data_loaders/pypi``): a
Python distribution belongs to a conda package when the package's record lists the
distribution's metadata directory (its "anchor file", ``NAME-VERSION.dist-info/RECORD`` or
an ``.egg-info``); every other distribution in ``site-packages`` was installed by something
else (``conda list`` shows it with the channel ``pypi``). A record whose metadata directory
is no longer there was *clobbered*: conda drops such a record from its view, pkgdoctor says
which distribution of the same project replaced it.

Example::

    owners = conda_owners(snapshot)
    if owners is not None:
        print([d.name for d in owners.pip])  # what pip/uv installed over the conda packages
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pkgdoctor._fields import Fact, fact
from pkgdoctor.snapshot.model import CondaRecord, Distribution, Snapshot, normalize

_METADATA_SUFFIXES = (".dist-info", ".egg-info")


def metadata_dirs(record: CondaRecord) -> tuple[str, ...]:
    """The prefix-relative metadata directories (``lib/python3.11/site-packages/
    numpy-1.26.4.dist-info``) whose files ``record`` lists, in order.

    >>> from pkgdoctor.snapshot.model import CondaPath
    >>> row = CondaPath("lib/python3.11/site-packages/six-1.17.0.dist-info/RECORD", "", None, None)
    >>> metadata_dirs(CondaRecord("six", "1.17.0", "py_0", "", files=(row,)))
    ('lib/python3.11/site-packages/six-1.17.0.dist-info',)
    """
    found: dict[str, None] = {}
    for entry in record.files:
        parts = entry.path.split("/")
        for i, part in enumerate(parts):
            if part.endswith(_METADATA_SUFFIXES):
                found.setdefault("/".join(parts[: i + 1]), None)
                break
    return tuple(found)


def project_of(metadata_dir: str) -> str:
    """The normalized project name of a metadata directory's name: the part before the
    first ``-`` (the binary distribution format escapes ``-`` in the name as ``_``).

    >>> project_of("lib/python3.11/site-packages/Foo_Bar-1.0.dist-info")
    'foo-bar'
    """
    base = os.path.basename(metadata_dir)
    for suffix in _METADATA_SUFFIXES:
        base = base.removesuffix(suffix)
    return normalize(base.partition("-")[0])


@fact
class CondaOwners(Fact):
    """The Python side of a conda environment.

    ``owned``: the metadata directory (absolute, normalized) of each distribution a record
    owns → that record. ``pip``: the distributions no record owns (installed by pip, uv or
    by hand), in inventory order, shadowed copies included; ``outside``: those of them not
    in the prefix (the user site, a PYTHONPATH directory). ``replaced``: records whose own
    metadata directory is gone while a distribution of the same project that no record owns
    is installed: (record, that distribution). ``both``: records whose distribution is still
    there *and* another copy of the project that no record owns is installed too.
    """

    owned: Mapping[str, CondaRecord]
    pip: tuple[Distribution, ...] = ()
    # Those of ``pip`` outside the prefix: the user site, a PYTHONPATH directory.
    outside: tuple[Distribution, ...] = ()
    replaced: tuple[tuple[CondaRecord, Distribution], ...] = ()
    both: tuple[tuple[CondaRecord, Distribution], ...] = ()

    def record_of(self, dist: Distribution) -> CondaRecord | None:
        return self.owned.get(os.path.normpath(dist.metadata_dir))

    def other_copy(self, record: CondaRecord) -> Distribution | None:
        """The distribution no record owns that replaced ``record`` or sits beside it."""
        for rec, dist in (*self.replaced, *self.both):
            if rec is record:
                return dist
        return None


def conda_owners(snapshot: Snapshot) -> CondaOwners | None:
    """The split of ``snapshot``'s distributions; None when it is no conda environment."""
    conda = snapshot.conda
    if conda is None:
        return None
    # The metadata directories as the inventory names them: under the prefix as looked at,
    # or its real path (a prefix reached through a symbolic link).
    roots = {
        os.path.normpath(p)
        for p in (conda.prefix, snapshot.target.prefix, *snapshot.paths.prefix_real[:1])
        if p
    }
    listed: dict[str, CondaRecord] = {}
    for record in conda.records:
        for rel in metadata_dirs(record):
            for root in roots:
                listed.setdefault(os.path.normpath(os.path.join(root, rel)), record)
    owned: dict[str, CondaRecord] = {}
    pip: list[Distribution] = []
    for dist in snapshot.inventory.all:
        path = os.path.normpath(dist.metadata_dir)
        owner = listed.get(path)
        if owner is None:
            pip.append(dist)
        else:
            owned[path] = owner
    present = {id(r) for r in owned.values()}
    pip_by_key: dict[str, Distribution] = {}
    for dist in pip:
        pip_by_key.setdefault(dist.key, dist)
    replaced: list[tuple[CondaRecord, Distribution]] = []
    both: list[tuple[CondaRecord, Distribution]] = []
    for record in conda.records:
        keys = {project_of(rel) for rel in metadata_dirs(record)}
        other = next((pip_by_key[k] for k in sorted(keys) if k in pip_by_key), None)
        if other is None:
            continue
        (both if id(record) in present else replaced).append((record, other))
    outside = tuple(
        d
        for d in pip
        if not any(os.path.normpath(d.metadata_dir).startswith(root + "/") for root in roots)
    )
    return CondaOwners(owned, tuple(pip), outside, tuple(replaced), tuple(both))


__all__ = ["CondaOwners", "conda_owners", "metadata_dirs", "project_of"]
