"""Export: a Snapshot as a file that recreates the environment (pure: Snapshot → text).

Three formats, one classification of every distribution (:func:`pins`):

- ``requirements``: a pip requirements file, following ``pip freeze``'s conventions
  (pip/_internal/operations/freeze.py and utils/direct_url_helpers.py): ``name==version``
  sorted by name, ``name @ url`` for a PEP 610 direct URL (``vcs+url@commit`` for VCS,
  ``#sha256=`` and ``#subdirectory=`` fragments), ``-e path`` for an editable install, and
  pip, setuptools, distribute and wheel left out as ``pip freeze`` leaves them out
  (``pip`` always, the other three when the target's Python is older than 3.12). A local
  version label that names a well-known index (:data:`LOCAL_VERSION_INDEXES`) adds its
  ``--extra-index-url`` line.
- ``pylock``: a PEP 751 ``pylock.toml``. A wheel's own file hash is not in its dist-info, so
  index installs need the file's URL and hash from the index: the caller looks them up
  (:mod:`pkgdoctor.wheels.locate`) and passes them as ``located``; what could not be located
  is listed in a comment, never written with an invented URL or hash.
- ``environment-yml``: conda's ``environment.yml``, modelled on ``conda env export``
  (``conda/env/env.py``, ``from_environment``). In a conda prefix: ``channels`` from the
  records, every conda package as ``name=version=build`` (``channel::`` in front when it
  is not from the first channel), and the distributions no conda package owns
  (:mod:`pkgdoctor.conda_owners`) in its ``pip:`` section. Without conda facts:
  ``python=X.Y``, the distributions whose INSTALLER is ``conda``, the rest under ``pip:``.

A distribution whose source is unknown (no version, a local wheel or directory that no
longer exists, an unreadable ``direct_url.json``) becomes a comment that says so.

Example::

    text = render(snapshot, "requirements")
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, Literal, Union

from pkgdoctor import __version__
from pkgdoctor._fields import Fact, fact
from pkgdoctor.conda_owners import CondaOwners, conda_owners
from pkgdoctor.snapshot.model import CondaRecord, Distribution, Snapshot, conda_channel

if TYPE_CHECKING:  # the look-up lives with the other index readers, imported when needed
    from pkgdoctor.wheels.locate import LockedFile

    Located = Mapping[str, Union[LockedFile, str]]  # normalized name → its file, or why none

FORMATS = ("requirements", "pylock", "environment-yml")

Kind = Literal["index", "conda", "archive", "vcs", "directory", "editable", "unknown"]

#: Local version labels (PEP 440 ``+label``) that name a well-known index, per project.
#: PyTorch publishes ``torch==2.5.1+cu121`` and its companions only on
#: ``https://download.pytorch.org/whl/<label>`` ("pip3 install torch --index-url
#: https://download.pytorch.org/whl/cu121", https://pytorch.org/get-started/locally/ and
#: https://pytorch.org/get-started/previous-versions/). Any other label, or another project
#: with such a label, gets a comment that the index is unknown: never a guess.
LOCAL_VERSION_INDEXES: tuple[tuple[frozenset[str], str, str], ...] = (
    # (projects, label pattern, index URL; "{label}" is the label itself)
    (
        frozenset({"torch", "torchvision", "torchaudio", "torchtext", "torchdata"}),
        r"cpu|cu\d{3,}|rocm\d+(\.\d+)*|xpu",
        "https://download.pytorch.org/whl/{label}",
    ),
)

#: Left out as ``pip freeze`` leaves them out (``_dev_pkgs`` in pip/_internal/commands/
#: freeze.py): pip always; setuptools, distribute and wheel only before Python 3.12, whose
#: venvs no longer come with them.
_FREEZE_ALWAYS = frozenset({"pip"})
_FREEZE_BEFORE_312 = frozenset({"setuptools", "distribute", "wheel"})


@fact
class Pin(Fact):
    """How one distribution can be installed again."""

    dist: Distribution
    kind: Kind
    url: str | None = None  # archive/vcs/directory URL (vcs: without the "git+" prefix)
    vcs: str | None = None
    commit: str | None = None
    requested_revision: str | None = None
    subdirectory: str | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)  # of an archive (PEP 610)
    index: str | None = None  # the well-known index of its local version label
    note: str | None = None  # something the reader must know (an unknown index)
    why: str | None = None  # kind "unknown": why

    @property
    def key(self) -> str:
        return self.dist.key

    @property
    def path(self) -> str | None:
        """The local path of a ``file:`` URL."""
        if self.url and self.url.startswith("file:"):
            return urllib.request.url2pathname(urllib.parse.urlsplit(self.url).path)
        return None


def left_out(snapshot: Snapshot) -> frozenset[str]:
    """The normalized names ``pip freeze`` would not list for this target."""
    if snapshot.target.interpreter.version[:2] < (3, 12):
        return _FREEZE_ALWAYS | _FREEZE_BEFORE_312
    return _FREEZE_ALWAYS


def local_paths(snapshot: Snapshot) -> list[str]:
    """The local files and directories the direct URLs of ``snapshot`` name: the caller
    says which of them no longer exist (``gone``)."""
    return [p for pin in pins(snapshot) if (p := pin.path) is not None]


def pins(snapshot: Snapshot, gone: frozenset[str] = frozenset()) -> list[Pin]:
    """Every distribution ``pip freeze`` would list, sorted by name, with its source.

    ``gone``: local paths (from :func:`local_paths`) that no longer exist.
    """
    skip = left_out(snapshot)
    # pip freeze's order: the name as written, lower-cased (operations/freeze.py).
    dists = sorted(
        (d for d in snapshot.inventory.distributions if d.key not in skip),
        key=lambda d: d.name.lower(),
    )
    return [_pin(d, gone) for d in dists]


def _pin(dist: Distribution, gone: frozenset[str]) -> Pin:
    if not dist.version:
        return Pin(dist, "unknown", why="its metadata has no version")
    if dist.installer == "conda":
        # conda's packages carry direct_url.json of their build machine (file:///croot/...):
        # the source to name is the conda package, not that URL.
        return Pin(dist, "conda")
    direct = dist.direct_url
    if direct is None:
        return _index_pin(dist)
    url = direct.get("url")
    subdirectory = direct.get("subdirectory")
    subdirectory = subdirectory if isinstance(subdirectory, str) and subdirectory else None
    if not isinstance(url, str) or not url:
        return Pin(dist, "unknown", why="its direct_url.json (PEP 610) has no URL")
    vcs_info, archive_info, dir_info = (
        direct.get(k) for k in ("vcs_info", "archive_info", "dir_info")
    )
    if isinstance(vcs_info, dict):
        commit, vcs = vcs_info.get("commit_id"), vcs_info.get("vcs")
        if not isinstance(commit, str) or not isinstance(vcs, str) or not commit or not vcs:
            return Pin(dist, "unknown", why=f"installed from {url} at an unrecorded commit")
        requested = vcs_info.get("requested_revision")
        return Pin(
            dist,
            "vcs",
            url=url,
            vcs=vcs,
            commit=commit,
            requested_revision=requested if isinstance(requested, str) else None,
            subdirectory=subdirectory,
        )
    if isinstance(archive_info, dict):
        pin = Pin(dist, "archive", url=url, hashes=_archive_hashes(archive_info))
    elif isinstance(dir_info, dict):
        editable = dir_info.get("editable") is True
        pin = Pin(dist, "editable" if editable else "directory", url=url)
    else:
        return Pin(dist, "unknown", why=f"its direct_url.json names {url} but not what it is")
    if pin.path is not None and pin.path in gone:
        return Pin(dist, "unknown", why=f"installed from {pin.path}, which no longer exists")
    return dataclasses.replace(pin, subdirectory=subdirectory)


def _archive_hashes(info: Mapping[str, Any]) -> dict[str, str]:
    """PEP 610 ``archive_info.hashes``, or the older ``hash`` ("sha256=<hex>")."""
    hashes = info.get("hashes")
    if isinstance(hashes, dict):
        found = {str(k).lower(): v for k, v in hashes.items() if isinstance(v, str) and v}
        if found:
            return found
    legacy = info.get("hash")
    if isinstance(legacy, str) and "=" in legacy:
        name, _, value = legacy.partition("=")
        return {name.lower(): value}
    return {}


def _index_pin(dist: Distribution) -> Pin:
    assert dist.version is not None
    _, plus, label = dist.version.partition("+")
    if not plus:
        return Pin(dist, "index")
    label = label.lower()
    for projects, pattern, index in LOCAL_VERSION_INDEXES:
        if dist.key in projects and re.fullmatch(pattern, label):
            return Pin(dist, "index", index=index.format(label=label))
    note = f"the index of local version +{label} is unknown: add its --extra-index-url"
    return Pin(dist, "index", note=note)


# --- requirements ---------------------------------------------------------------------------


def _fragment(pin: Pin) -> str:
    """pip freeze's fragments: the archive hash, then the subdirectory."""
    parts = []
    if pin.kind == "archive" and pin.hashes:
        name = "sha256" if "sha256" in pin.hashes else sorted(pin.hashes)[0]
        parts.append(f"{name}={pin.hashes[name]}")
    if pin.subdirectory:
        parts.append(f"subdirectory={pin.subdirectory}")
    return "#" + "&".join(parts) if parts else ""


def requirement_lines(pin: Pin) -> list[str]:
    """The requirements-file lines of one distribution (comments included)."""
    dist = pin.dist
    if pin.kind == "unknown":
        return [f"# {dist.name}=={dist.version or '?'}: no known source ({pin.why})"]
    if pin.kind == "vcs":
        return [f"{dist.name} @ {pin.vcs}+{pin.url}@{pin.commit}{_fragment(pin)}"]
    if pin.kind in ("archive", "directory"):
        return [f"{dist.name} @ {pin.url}{_fragment(pin)}"]
    if pin.kind == "editable":
        where = pin.path or pin.url
        # pip freeze's words for an editable install outside version control.
        comment = f"# Editable install with no version control ({dist.name}=={dist.version})"
        return [comment, f"-e {where}"]
    line = f"{dist.name}=={dist.version}"
    if pin.kind == "conda":
        line += "  # installed by conda"
    if pin.note:
        line += f"  # {pin.note}"
    return [line]


def _header(snapshot: Snapshot, how: str, skipped: Sequence[str]) -> list[str]:
    interp = snapshot.target.interpreter
    python = ".".join(map(str, interp.version))
    arch = f", {interp.architecture}" if interp.architecture else ""
    lines = [
        f"# Exported by pkgdoctor {__version__} from {snapshot.target.prefix}",
        f"# ({interp.implementation} {python}{arch}). {how}",
    ]
    if skipped:
        lines.append(f"# Left out, as pip freeze does: {', '.join(skipped)}.")
    return lines


def _skipped(snapshot: Snapshot) -> list[str]:
    skip = left_out(snapshot)
    return sorted(d.name for d in snapshot.inventory.distributions if d.key in skip)


def _extra_indexes(all_pins: Sequence[Pin]) -> list[str]:
    return sorted({p.index for p in all_pins if p.index})


def render_requirements(snapshot: Snapshot, gone: frozenset[str] = frozenset()) -> str:
    all_pins = pins(snapshot, gone)
    lines = _header(snapshot, "Recreate with: pip install -r FILE", _skipped(snapshot))
    lines += [f"--extra-index-url {url}" for url in _extra_indexes(all_pins)]
    for pin in all_pins:
        lines += requirement_lines(pin)
    return "\n".join(lines) + "\n"


# --- environment.yml ------------------------------------------------------------------------

# A YAML plain scalar that needs no quoting in a block sequence (YAML 1.2, 7.3.3): no leading
# indicator, no ": " or " #" inside, no trailing colon. Anything else is written as a JSON
# string, which YAML reads as a double-quoted scalar.
_PLAIN = re.compile(r"[A-Za-z0-9_.+=<>!~-][A-Za-z0-9_.+=<>!~,@/:#&\[\] -]*")


def _yaml_scalar(text: str) -> str:
    if _PLAIN.fullmatch(text) and not any(s in text for s in (": ", " #")) and text[-1] != ":":
        return text
    return json.dumps(text, ensure_ascii=False)


def render_environment_yml(snapshot: Snapshot, gone: frozenset[str] = frozenset()) -> str:
    """conda's ``environment.yml``. With the conda facts of the prefix (``conda-meta/``),
    every conda package as ``name=version=build`` from its channel, and what pip or uv put
    on top in the ``pip:`` section (:func:`render_conda_environment_yml`); without them (a
    venv, a snapshot older than those facts), ``python=X.Y`` and the distributions whose
    INSTALLER is ``conda``."""
    owners = conda_owners(snapshot)
    if owners is not None:
        return render_conda_environment_yml(snapshot, owners, gone)
    all_pins = pins(snapshot, gone)
    interp = snapshot.target.interpreter
    lines = _header(snapshot, _CONDA_HOW, _skipped(snapshot))
    lines.append(f"name: {_yaml_scalar(_env_name(snapshot))}")
    # Without conda-meta/ the channel each conda package came from is not known: conda then
    # uses the channels of the user's configuration.
    lines.append("# channels: not recorded; conda uses the channels of your configuration")
    lines.append("dependencies:")
    if interp.implementation == "cpython":
        lines.append(f"  - python={interp.short_version}")
    else:
        lines.append(f"  # python: {interp.implementation} {interp.short_version}")
    pip_pins = []
    for pin in all_pins:
        if pin.kind == "conda":
            lines.append(f"  - {_yaml_scalar(f'{pin.key}={pin.dist.version}')}")
        else:
            pip_pins.append(pin)
    lines += _pip_section(pip_pins, {})
    return "\n".join(lines) + "\n"


_CONDA_HOW = "Recreate with: conda env create -f FILE"


def _env_name(snapshot: Snapshot) -> str:
    return os.path.basename(snapshot.target.prefix.rstrip("/")) or "env"


def _pip_section(
    pip_pins: Sequence[Pin], notes: Mapping[str, str], *, with_pip: bool = True
) -> list[str]:
    """The ``pip:`` item of ``dependencies``, and ``pip`` itself before it unless a conda
    package of pip is listed already (``conda env create`` installs the section with the
    environment's pip). ``notes``: a comment above the item of a distribution, by key."""
    if not pip_pins:
        return []
    lines = ["  - pip", "  - pip:"] if with_pip else ["  - pip:"]
    for url in _extra_indexes(pip_pins):
        lines.append(f"      - {_yaml_scalar(f'--extra-index-url {url}')}")
    for pin in pip_pins:
        if pin.key in notes:
            lines.append(f"      # {notes[pin.key]}")
        for line in requirement_lines(pin):
            if line.startswith("#"):
                lines.append(f"      {line}")
            else:
                text, _, comment = line.partition("  # ")
                item = f"      - {_yaml_scalar(text)}"
                lines.append(f"{item}  # {comment}" if comment else item)
    return lines


def _channel_order(records: Sequence[CondaRecord]) -> list[str]:
    """The channels of ``records``, the one that gave the most packages first (ties by name).

    ``conda env export`` puts each record's channel in front of the configured ones as it
    meets them (records sorted by name), an order that follows the package names. Here the
    channel the environment was mostly built from comes first: with conda's default
    ``channel_priority: strict`` it wins every name it has, and each package of another
    channel is pinned to its channel (``channel::name``), so the order cannot pick another
    build than the one installed.
    """
    counts: dict[str, int] = {}
    for record in records:
        if record.channel:
            key = conda_channel(record.channel)
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda c: (-counts[c], c))


def _platform(records: Sequence[CondaRecord]) -> str | None:
    subdirs: dict[str, int] = {}
    for record in records:
        if record.subdir and record.subdir != "noarch":
            subdirs[record.subdir] = subdirs.get(record.subdir, 0) + 1
    return max(sorted(subdirs), key=lambda s: subdirs[s]) if subdirs else None


def render_conda_environment_yml(
    snapshot: Snapshot, owners: CondaOwners, gone: frozenset[str] = frozenset()
) -> str:
    """``environment.yml`` of a conda prefix: ``channels`` (:func:`_channel_order`), every
    conda package, Python or not, as ``name=version=build`` sorted by name (as ``conda env
    export`` writes them), and in ``pip:`` the distributions that no conda package owns
    (:mod:`pkgdoctor.conda_owners`), as ``pip freeze`` would list them.

    A project installed by conda *and* by pip keeps both lines, so that the file recreates
    what is installed (conda installs its package, pip then replaces or joins it), with a
    comment that says which copy ``import`` gets.
    """
    conda = snapshot.conda
    assert conda is not None
    records = sorted(conda.records, key=lambda r: r.name)
    channels = _channel_order(records)
    skip = left_out(snapshot)
    winners = {id(d) for d in snapshot.inventory.distributions}
    # pip freeze lists the copy importlib.metadata finds; a copy conda's package hides is
    # listed too, when the project is also conda's: the file must recreate both.
    hidden = {id(d) for _, d in owners.both}
    # Only what is in the prefix: the user site or a PYTHONPATH directory is no part of the
    # environment (installing it here would move it in); said in a comment.
    elsewhere = {id(d) for d in owners.outside}
    pip_dists = sorted(
        (
            d
            for d in owners.pip
            if d.key not in skip
            and id(d) not in elsewhere
            and (id(d) in winners or id(d) in hidden)
        ),
        key=lambda d: d.name.lower(),
    )
    pip_pins = [_pin(d, gone) for d in pip_dists]
    skipped = sorted(d.name for d in owners.pip if d.key in skip and id(d) in winners)
    lines = _header(snapshot, _CONDA_HOW, skipped)
    platform = _platform(records)
    if platform:
        # As ``conda list --explicit`` says it: the builds below exist for this subdir only.
        lines.append(f"# platform: {platform}")
    outside = sorted((d for d in owners.outside if id(d) in winners), key=lambda d: d.key)
    if outside:
        listed = ", ".join(str(d) for d in outside[:_OUTSIDE_LISTED])
        more = len(outside) - _OUTSIDE_LISTED
        listed += f" and {more} more" if more > 0 else ""
        lines.append(f"# Not exported, installed outside the environment: {listed}.")
    lines.append(f"name: {_yaml_scalar(_env_name(snapshot))}")
    if channels:
        lines.append("channels:")
        lines += [f"  - {_yaml_scalar(c)}" for c in channels]
    lines.append("dependencies:")
    if conda.record("python") is None:
        interp = snapshot.target.interpreter
        lines.append(f"  - python={interp.short_version}")
    notes: dict[str, str] = {}
    for record in records:
        spec = f"{record.name}={record.version}={record.build}"
        channel = conda_channel(record.channel) if record.channel else None
        if channel and channels and channel != channels[0]:
            spec = f"{channel}::{spec}"
        item = f"  - {_yaml_scalar(spec)}"
        other = owners.other_copy(record)
        if other is not None and id(other) in elsewhere:
            item += f"  # {other} also installed in {other.site_dir} (not exported)"
        elif other is not None and other.key in skip:
            item += f"  # {other} also installed by {other.installer or 'another installer'}"
            item += " (left out, as pip freeze does)"
        elif other is not None:
            item += f"  # {_also_by_pip(record, other)}"
            notes[other.key] = _which_wins(snapshot, owners, record, other)
        lines.append(item)
    lines += _pip_section(pip_pins, notes, with_pip=conda.record("pip") is None)
    return "\n".join(lines) + "\n"


_OUTSIDE_LISTED = 10


def _also_by_pip(record: CondaRecord, dist: Distribution) -> str:
    by = dist.installer or "another installer"
    if dist.installer == "conda":  # INSTALLER says conda, yet no record lists it
        by = "conda, without a record"
    return f"{dist} also installed by {by} (pip: section)"


def _which_wins(
    snapshot: Snapshot, owners: CondaOwners, record: CondaRecord, dist: Distribution
) -> str:
    """A comment for the pip item of a project that a conda package installed too."""
    ours = f"conda's {record.name}={record.version}"
    if record in (r for r, _ in owners.replaced):
        return f"replaced {ours} (its files are gone): import uses this one"
    winner = snapshot.inventory.by_key.get(dist.key)
    conda_copy = next((d for d in snapshot.inventory.all if owners.record_of(d) is record), None)
    if winner is None or conda_copy is None:
        return f"installed beside {ours}"
    if conda_copy.site_dir == dist.site_dir:
        return (
            f"installed beside {ours} in one directory: import uses the files written last; "
            f"importlib.metadata and pip see {winner}"
        )
    used = "this one" if winner is dist else f"conda's ({winner.site_dir} is first on sys.path)"
    return f"installed beside {ours}: import uses {used}"


# --- pylock.toml ----------------------------------------------------------------------------


def _toml_string(text: str) -> str:
    """A TOML basic string (TOML 1.0, "Basic strings"): escape backslash, quote and every
    control character; everything else is written as it is (UTF-8)."""
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # TOML 1.0, "Keys"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def toml_value(value: object) -> str:
    """A TOML value: strings, booleans, integers, lists (arrays) and dicts (inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _environment_marker(snapshot: Snapshot) -> str | None:
    """The PEP 508 marker of the target's platform: the wheels it has fit only there."""
    markers = snapshot.target.markers
    parts = [
        f"{name} == {_marker_string(markers[name])}"
        for name in ("sys_platform", "platform_machine", "implementation_name")
        if markers.get(name)
    ]
    return " and ".join(parts) or None


def _marker_string(value: str) -> str:
    return f"'{value}'" if "'" not in value else f'"{value}"'


def _pylock_package(pin: Pin, located: Located | None) -> tuple[dict[str, Any] | None, str | None]:
    """The ``[[packages]]`` table of one distribution, or why it cannot be locked."""
    dist = pin.dist
    table: dict[str, Any] = {"name": dist.key}
    if pin.kind == "unknown":
        return None, f"no known source ({pin.why})"
    if pin.kind in ("directory", "editable"):
        # PEP 751: "The version MUST NOT be included when it cannot be guaranteed to be
        # consistent with the code used (i.e. when a source tree is used)."
        source: dict[str, Any] = {"path": pin.path or pin.url}
        if pin.kind == "editable":
            source["editable"] = True
        if pin.subdirectory:
            source["subdirectory"] = pin.subdirectory
        table["directory"] = source
        return table, None
    table["version"] = dist.version
    if pin.kind == "vcs":
        vcs: dict[str, Any] = {"type": pin.vcs, "url": pin.url}
        if pin.requested_revision:
            vcs["requested-revision"] = pin.requested_revision
        vcs["commit-id"] = pin.commit
        if pin.subdirectory:
            vcs["subdirectory"] = pin.subdirectory
        table["vcs"] = vcs
        return table, None
    if pin.kind == "archive":
        if not pin.hashes:  # PEP 751: archive.hashes is required, with at least one entry
            return None, f"installed from {pin.url}, whose hash was not recorded"
        # A local file as ``path``: uv refuses ``file:`` URLs here ("URL scheme is not
        # allowed"), and PEP 751 offers ``path`` for exactly this.
        archive: dict[str, Any] = {"path": pin.path} if pin.path else {"url": pin.url}
        if pin.subdirectory:
            archive["subdirectory"] = pin.subdirectory
        archive["hashes"] = dict(pin.hashes)
        table["archive"] = archive
        return table, None
    if pin.kind == "conda":
        return None, "installed by conda, not from a file of an index (see environment-yml)"
    if located is None:
        return None, "its index was not asked for the file's URL and hash (--no-index)"
    found = located.get(dist.key, "its file was not looked up on an index")
    if isinstance(found, str):
        return None, found
    table["index"] = found.index
    entry = {"name": found.filename, "url": found.url, "hashes": dict(found.hashes)}
    if found.kind == "wheel":
        table["wheels"] = [entry]
    else:
        table["sdist"] = entry
    return table, None


def render_pylock(
    snapshot: Snapshot, located: Located | None = None, gone: frozenset[str] = frozenset()
) -> str:
    """PEP 751 ``pylock.toml`` (https://packaging.python.org/en/latest/specifications/
    pylock-toml/), single-use: exactly the files of this environment."""
    how = "Recreate with: uv pip install -r pylock.toml (or another PEP 751 installer)"
    lines = _header(snapshot, how, _skipped(snapshot))
    tables, missing = [], []
    for pin in pins(snapshot, gone):
        table, why = _pylock_package(pin, located)
        if table is None:
            missing.append(f"#   {pin.dist.name}=={pin.dist.version or '?'}: {why}")
        else:
            tables.append(table)
    if missing:
        lines.append("# Not locked (install these yourself):")
        lines += missing
    # Keys in the order of the specification, as it asks ("File Format").
    lines.append(f"lock-version = {toml_value('1.0')}")
    marker = _environment_marker(snapshot)
    if marker:
        lines.append(f"environments = {toml_value([marker])}")
    interp = snapshot.target.interpreter
    lines.append(f"requires-python = {toml_value(f'=={interp.short_version}.*')}")
    lines.append(f"created-by = {toml_value('pkgdoctor')}")
    if not tables:
        lines.append("packages = []")  # required, even when empty
    for table in tables:
        lines += ["", "[[packages]]"]
        lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def render(
    snapshot: Snapshot,
    fmt: str,
    *,
    located: Located | None = None,
    gone: frozenset[str] = frozenset(),
) -> str:
    """``snapshot`` as a file of format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "requirements":
        return render_requirements(snapshot, gone)
    if fmt == "pylock":
        return render_pylock(snapshot, located, gone)
    if fmt == "environment-yml":
        return render_environment_yml(snapshot, gone)
    raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
