"""Which configured value wins, for pip and for conda: pure functions of what was read.

The files and variables are read once, by :mod:`pkgdoctor.look.config`, into
:class:`~pkgdoctor.snapshot.model.ConfigFacts`. This module holds the *merge rules* alone, so
``wheels`` (what ``pip install`` would use) and the ``config-*`` checks agree on them, and so
does ``pkgdoctor cache`` (conda's ``pkgs_dirs``).

**pip** (https://pip.pypa.io/en/stable/topics/configuration/; ``pip/_internal/configuration.py``
and ``cli/parser.py``): files in the order global, user, site, ``PIP_CONFIG_FILE``; in each,
``[global]`` then the command's section (``[install]``); then the ``PIP_*`` variables (ignored
with ``--isolated``). A later value replaces an earlier one, lists included:
``PIP_EXTRA_INDEX_URL`` replaces every ``extra-index-url`` from files.

**conda** (``conda/common/configuration.py``): files in ``SEARCH_PATH`` order, then the
``CONDA_*`` variables. A scalar (``channel_priority``) takes the last source's value; a
sequence (``channels``, ``pkgs_dirs``) merges every source's lines, the later sources' first,
each line once; a map (``custom_channels``) merges by key, the later source winning. A key
marked ``#!final`` in a source ends the search there: no later source overrides it. (conda's
per-line ``#!top``/``#!bottom`` flags are not read.)

Every value keeps where it came from, as ``pip config debug`` shows it.

>>> from pkgdoctor.snapshot.model import PipConfigFile
>>> files = [PipConfigFile("user", "/h/.config/pip/pip.conf", True,
...                        (("global", "index-url", "https://mirror.example/simple"),))]
>>> settings = pip_settings(files, {"PIP_EXTRA_INDEX_URL": "https://extra.example/simple"})
>>> [(u.value, u.origin) for u in settings.index_urls()]
... # doctest: +NORMALIZE_WHITESPACE
[('https://mirror.example/simple', '/h/.config/pip/pip.conf [global]'),
 ('https://extra.example/simple', 'PIP_EXTRA_INDEX_URL')]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor.snapshot.model import CondaConfigFile, ConfigFacts, PipConfigFile

PYPI = "https://pypi.org/simple"

# --- pip ------------------------------------------------------------------------------------

# Option names a config key may use (any long option name of the option), by what they set.
_ALIASES = {
    "index-url": "index_url",
    "pypi-url": "index_url",
    "extra-index-url": "extra_index_urls",
    "find-links": "find_links",
    "no-index": "no_index",
    "trusted-host": "trusted_hosts",
    "cert": "cert",
    "client-cert": "client_cert",
    "proxy": "proxy",
    "timeout": "timeout",
    "default-timeout": "timeout",
    "retries": "retries",
    "pre": "pre",
    "prefer-binary": "prefer_binary",
    "only-binary": "only_binary",
    "no-binary": "no_binary",
}
_LISTS = {"extra_index_urls", "find_links", "trusted_hosts"}
_BOOLEANS = {"no_index", "pre", "prefer_binary"}
# pip's strtobool (pip/_internal/utils/misc.py).
_TRUE = {"y", "yes", "t", "true", "on", "1"}
_FALSE = {"n", "no", "f", "false", "off", "0"}


@fact
class Located(Fact):
    """A value and where it came from: a file and section, a variable, the command line."""

    value: str
    origin: str


@dataclass(repr=False)
class FormatControl(FieldRepr):
    """``--only-binary`` / ``--no-binary``: per project or ``:all:`` (pip's rules)."""

    only_binary: set[str] = field(default_factory=set)
    no_binary: set[str] = field(default_factory=set)

    def add(self, value: str, *, binary_only: bool) -> None:
        from packaging.utils import canonicalize_name

        target, other = (
            (self.only_binary, self.no_binary)
            if binary_only
            else (self.no_binary, self.only_binary)
        )
        names = value.split(",")
        while ":all:" in names:
            other.clear()
            target.clear()
            target.add(":all:")
            names = names[names.index(":all:") + 1 :]
            if ":none:" not in names:
                return
        for name in names:
            if name == ":none:":
                target.clear()
            elif name:
                canonical = canonicalize_name(name)
                other.discard(canonical)
                target.add(canonical)

    def formats(self, project: str) -> frozenset[str]:
        """``{"binary", "source"}`` minus what the options forbid for ``project``."""
        if project in self.only_binary:
            return frozenset({"binary"})
        if project in self.no_binary:
            return frozenset({"source"})
        if ":all:" in self.only_binary:
            return frozenset({"binary"})
        if ":all:" in self.no_binary:
            return frozenset({"source"})
        return frozenset({"binary", "source"})


@dataclass(repr=False)
class PipSettings(FieldRepr):
    """What pip would use for ``pip install`` here."""

    index_url: Located = field(default_factory=lambda: Located(PYPI, "pip's default"))
    extra_index_urls: list[Located] = field(default_factory=list)
    find_links: list[Located] = field(default_factory=list)
    no_index: Located | None = None
    trusted_hosts: list[str] = field(default_factory=list)
    cert: str | None = None
    client_cert: str | None = None
    proxy: str | None = None
    timeout: float = 15.0
    retries: int = 5
    pre: bool = False
    prefer_binary: bool = False
    format_control: FormatControl = field(default_factory=FormatControl)
    files: list[tuple[str, str, bool]] = field(default_factory=list)  # (level, path, exists)
    # Why pip would refuse to run (a file it cannot parse, a value it rejects), in order.
    errors: list[Located] = field(default_factory=list)
    # The file and section, or the variable, that set each attribute's value.
    origins: dict[str, str] = field(default_factory=dict)

    def index_urls(self) -> list[Located]:
        if self.no_index is not None:
            return []
        return [self.index_url, *self.extra_index_urls]

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [{"level": k, "path": p, "exists": e} for k, p, e in self.files],
            "no_index": self.no_index.origin if self.no_index else None,
            "pre": self.pre,
            "prefer_binary": self.prefer_binary,
        }


def pip_settings(
    files: Sequence[PipConfigFile],
    environ: Mapping[str, str],
    *,
    command: str = "install",
    isolated: bool = False,
) -> PipSettings:
    """What pip takes from its configuration ``files`` (in pip's order, as
    :func:`pkgdoctor.look.config.pip_files` lists them) and ``PIP_*`` variables, before the
    command line (see :func:`pkgdoctor.wheels.config.apply_command_line`)."""
    settings = PipSettings()
    for file in files:
        settings.files.append((file.level, file.path, file.exists))
        if file.error is not None:
            settings.errors.append(Located(file.error, file.path))
    values = pip_file_values(files)
    items = [
        (name.partition(".")[2], located)
        for section in ("global", command)
        for name, located in values.items()
        if name.partition(".")[0] == section
    ]
    if not isolated:
        for name, value in environ.items():
            if name.startswith("PIP_") and name[4:].lower() not in ("version", "help"):
                items.append((normalize_key(name[4:]), Located(value, name)))
    for key, located in items:
        if located.value:
            _apply(settings, key, located)
    return settings


def pip_file_values(files: Sequence[PipConfigFile]) -> dict[str, Located]:
    """``section.key`` -> the value that wins among the files (what ``pip config list``
    prints, less the variables): a later file's value replaces an earlier one's
    (``Configuration._dictionary``, pip's OVERRIDE_ORDER global, user, site, then the
    ``PIP_CONFIG_FILE`` file)."""
    values: dict[str, Located] = {}
    for file in files:
        for section, key, value in file.items:
            values[f"{section}.{key}"] = Located(value, f"{file.path} [{section}]")
    return values


def normalize_key(name: str) -> str:
    """pip's spelling of an option name in a file or variable: ``EXTRA_INDEX_URL`` and
    ``--extra-index-url`` are ``extra-index-url``."""
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


def _apply(settings: PipSettings, key: str, located: Located) -> None:
    attribute = _ALIASES.get(key)
    if attribute is None:
        return
    value = located.value.strip()
    settings.origins[attribute] = located.origin
    if attribute == "trusted_hosts":
        settings.trusted_hosts = value.split()
    elif attribute in _LISTS:
        setattr(settings, attribute, [Located(v, located.origin) for v in value.split()])
    elif attribute in _BOOLEANS:
        flag = _boolean(settings, value, key, located.origin)
        if flag is None:
            return
        if attribute == "no_index":
            settings.no_index = located if flag else None
        else:
            setattr(settings, attribute, flag)
    elif attribute == "index_url":
        settings.index_url = Located(value, located.origin)
    elif attribute in ("only_binary", "no_binary"):
        settings.format_control.add(value, binary_only=attribute == "only_binary")
    elif attribute in ("timeout", "retries"):
        kind: type[float] | type[int] = float if attribute == "timeout" else int
        try:
            setattr(settings, attribute, kind(value))
        except ValueError:
            settings.errors.append(
                Located(f"pip rejects {key} = {value!r} ({located.origin}): not a number", key)
            )
    else:
        setattr(settings, attribute, value)


def _boolean(settings: PipSettings, value: str, key: str, origin: str) -> bool | None:
    lower = value.lower()
    if lower in _TRUE:
        return True
    if lower in _FALSE:
        return False
    settings.errors.append(
        Located(f"pip rejects {key} = {value!r} ({origin}): expected yes/no, true/false, 1/0", key)
    )
    return None


# --- conda ----------------------------------------------------------------------------------

# The CONDA_* variables pkgdoctor reads, by the key they set, and how a variable's value
# splits into a sequence's lines: conda's SequenceParameter splits on "," unless the
# parameter names another delimiter (envs_dirs: os.pathsep; conda/base/context.py).
CONDA_VARIABLES = {
    "CONDA_CHANNELS": "channels",
    "CONDA_CHANNEL": "channels",
    "CONDA_DEFAULT_CHANNELS": "default_channels",
    "CONDA_CHANNEL_PRIORITY": "channel_priority",
    "CONDA_CHANNEL_ALIAS": "channel_alias",
    "CONDA_PKGS_DIRS": "pkgs_dirs",
    "CONDA_ENVS_DIRS": "envs_dirs",
    "CONDA_ENVS_PATH": "envs_dirs",
    "CONDA_SSL_VERIFY": "ssl_verify",
    "CONDA_VERIFY_SSL": "ssl_verify",
}
_DELIMITERS = {"envs_dirs": os.pathsep}
CONDA_SEQUENCES = ("channels", "default_channels", "pkgs_dirs", "envs_dirs")
CONDA_SCALARS = ("channel_priority", "channel_alias", "ssl_verify")
CONDA_MAPS = ("custom_channels", "custom_multichannels")
# conda's aliases of those keys in a file (ParameterLoader aliases, conda/base/context.py).
CONDA_ALIASES = {"channel": "channels", "envs_path": "envs_dirs", "verify_ssl": "ssl_verify"}


@dataclass(repr=False)
class CondaSettings(FieldRepr):
    """conda's merged configuration for the keys pkgdoctor uses; every value with the file or
    variable that set it. An empty sequence or None: nothing configured it (conda's own
    default applies)."""

    channels: tuple[Located, ...] = ()
    default_channels: tuple[Located, ...] = ()
    channel_priority: Located | None = None
    channel_alias: Located | None = None
    ssl_verify: Located | None = None
    custom_channels: dict[str, Located] = field(default_factory=dict)
    custom_multichannels: dict[str, tuple[Located, ...]] = field(default_factory=dict)
    pkgs_dirs: tuple[Located, ...] = ()
    envs_dirs: tuple[Located, ...] = ()


@fact
class _Source(Fact):
    origin: str
    values: Mapping[str, Any]
    final: tuple[str, ...]


def conda_settings(facts: ConfigFacts) -> CondaSettings:
    """conda's merged settings from the ``.condarc`` files and ``CONDA_*`` variables read.

    >>> from pkgdoctor.snapshot.model import CondaConfigFile
    >>> facts = ConfigFacts(conda_files=(
    ...     CondaConfigFile("system", "/etc/conda/.condarc", {"channels": ["defaults"]}),
    ...     CondaConfigFile("user", "/h/.condarc", {"channels": ["conda-forge"],
    ...                                             "channel_priority": "strict"}),
    ... ), conda_environ={"CONDA_CHANNEL_PRIORITY": "disabled"})
    >>> s = conda_settings(facts)
    >>> [(c.value, c.origin) for c in s.channels]
    [('conda-forge', '/h/.condarc'), ('defaults', '/etc/conda/.condarc')]
    >>> s.channel_priority
    Located(value='disabled', origin='CONDA_CHANNEL_PRIORITY')
    """
    sources = [_file_source(f) for f in facts.conda_files if f.error is None]
    sources += _environ_sources(facts.conda_environ)
    settings = CondaSettings()
    for key in CONDA_SEQUENCES:
        setattr(settings, key, _sequence(key, sources))
    for key in CONDA_SCALARS:
        setattr(settings, key, _scalar(key, sources))
    settings.custom_channels = {
        name: Located(_text(value), origin)
        for name, (value, origin) in _map("custom_channels", sources).items()
    }
    settings.custom_multichannels = {
        name: tuple(Located(_text(v), origin) for v in _lines(value))
        for name, (value, origin) in _map("custom_multichannels", sources).items()
    }
    return settings


def _file_source(file: CondaConfigFile) -> _Source:
    values = {CONDA_ALIASES.get(k, k): v for k, v in file.values.items()}
    final = tuple(CONDA_ALIASES.get(k, k) for k in file.final)
    return _Source(file.path, values, final)


def _environ_sources(environ: Mapping[str, str]) -> list[_Source]:
    """One source per variable, so that each value names its variable. conda reads them all
    as one source; two of them set the same key only as aliases (``CONDA_ENVS_PATH`` and
    ``CONDA_ENVS_DIRS``), where the later name here wins."""
    sources = []
    for name in sorted(environ):
        key = CONDA_VARIABLES.get(name)
        if key is None:
            continue
        raw = environ[name]
        # "!important" in a variable's value marks it final (EnvRawParameter.keyflag).
        value, important, _ = raw.partition("!important")
        value_: Any
        if key in CONDA_SEQUENCES:
            delimiter = _DELIMITERS.get(key, ",")
            value_ = [v.strip() for v in value.split(delimiter) if v.strip()]
        else:
            value_ = value.strip()
        sources.append(_Source(name, {key: value_}, (key,) if important else ()))
    return sources


def _relevant(key: str, sources: Sequence[_Source]) -> list[_Source]:
    """The sources that set ``key``, up to and including the first that marks it final
    (``LoadedParameter._first_important_matches``)."""
    matches = [s for s in sources if key in s.values and s.values[key] is not None]
    for index, source in enumerate(matches):
        if key in source.final:
            return matches[: index + 1]
    return matches


def _sequence(key: str, sources: Sequence[_Source]) -> tuple[Located, ...]:
    # SequenceLoadedParameter.merge: the lines of every source, the sources closest to the
    # end of the search path first, each line once (its first place kept).
    merged: dict[str, Located] = {}
    for source in reversed(_relevant(key, sources)):
        for line in _lines(source.values[key]):
            text = _text(line)
            if text and text not in merged:
                merged[text] = Located(text, source.origin)
    return tuple(merged.values())


def _scalar(key: str, sources: Sequence[_Source]) -> Located | None:
    # PrimitiveLoadedParameter.merge: the first final match, else the last match.
    relevant = _relevant(key, sources)
    if not relevant:
        return None
    source = relevant[-1]
    return Located(_text(source.values[key]), source.origin)


def _map(key: str, sources: Sequence[_Source]) -> dict[str, tuple[Any, str]]:
    # MapLoadedParameter.merge: by key, a later source's entry replacing an earlier one's.
    merged: dict[str, tuple[Any, str]] = {}
    for source in _relevant(key, sources):
        value = source.values[key]
        if isinstance(value, Mapping):
            for name, entry in value.items():
                merged[str(name)] = (entry, source.origin)
    return merged


def _lines(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value] if value not in (None, "") else []


def is_path(value: str) -> bool:
    """Whether an ``ssl_verify`` value names a file (conda takes a boolean or a path)."""
    return bool(value) and value.lower() not in ("true", "false", "yes", "no", "0", "1")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
