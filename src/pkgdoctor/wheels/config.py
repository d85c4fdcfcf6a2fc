"""The sources and options pip would use, read the way pip reads them.

pip's configuration (https://pip.pypa.io/en/stable/topics/configuration/), as implemented in
``pip/_internal/configuration.py`` and ``cli/parser.py``:

* **Files**, in this order: *global* (``$XDG_CONFIG_DIRS``/``/etc/xdg`` + ``pip/pip.conf``,
  then ``/etc/pip.conf``), *user* (``~/.pip/pip.conf``, then ``$XDG_CONFIG_HOME`` or
  ``~/.config`` + ``pip/pip.conf``; skipped with ``--isolated`` or when ``PIP_CONFIG_FILE``
  names an existing file), *site* (``<environment prefix>/pip.conf``), then the file named
  by ``PIP_CONFIG_FILE``. ``PIP_CONFIG_FILE=/dev/null`` skips every file.
* **Sections**: ``[global]``, then the command's section (``[install]``: the question is
  what ``pip install`` picks), then the ``PIP_*`` environment variables (ignored with
  ``--isolated``). A later one replaces an earlier one, lists included:
  ``PIP_EXTRA_INDEX_URL`` replaces every ``extra-index-url`` from files.
* **The command line** then adds to those lists (``--extra-index-url``, ``--find-links``
  append to the configured ones) or replaces single values (``--index-url``), and options in
  a requirements file apply last (``-i`` there replaces all index URLs).

Every value keeps where it came from, so the report can say why a source is used.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor.errors import PkgdoctorError
from pkgdoctor.files import NotRegularFile, read_regular

PYPI = "https://pypi.org/simple"
_BASENAME = "pip.conf"
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
    # Read for ``pkgdoctor cache`` (where pip's cache is); ``wheels`` does not use them.
    "cache-dir": "cache_dir",
    "no-cache-dir": "no_cache_dir",
}
_LISTS = {"extra_index_urls", "find_links", "trusted_hosts"}
_BOOLEANS = {"no_index", "pre", "prefer_binary"}
_TRUE = {"y", "yes", "t", "true", "on", "1"}
_FALSE = {"n", "no", "f", "false", "off", "0"}


class ConfigError(PkgdoctorError):
    """pip's configuration cannot be read (pip itself would refuse to run)."""


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
    cache_dir: Located | None = None
    # Any value disables the cache (pip's _handle_no_cache_dir: "false" too; a value
    # strtobool rejects makes pip refuse to run).
    no_cache_dir: Located | None = None
    files: list[tuple[str, str, bool]] = field(default_factory=list)  # (level, path, exists)

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


def config_files(
    environ: Mapping[str, str], *, isolated: bool, site_prefix: str | None
) -> list[tuple[str, str]]:
    """(level, path) of every file pip would try, in pip's order."""
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "")
    if not xdg_dirs.strip():
        xdg_dirs = "/etc/xdg"
    files = [("global", os.path.join(d, "pip", _BASENAME)) for d in xdg_dirs.split(os.pathsep)]
    files.append(("global", os.path.join("/etc", _BASENAME)))
    explicit = environ.get("PIP_CONFIG_FILE")
    if not isolated and not (explicit and os.path.exists(explicit)):
        home = environ.get("HOME") or os.path.expanduser("~")
        config_home = environ.get("XDG_CONFIG_HOME", "").strip() or os.path.join(home, ".config")
        files.append(("user", os.path.join(home, ".pip", _BASENAME)))
        files.append(("user", os.path.join(config_home, "pip", _BASENAME)))
    if site_prefix:
        files.append(("site", os.path.join(site_prefix, _BASENAME)))
    if explicit is not None:
        files.append(("PIP_CONFIG_FILE", explicit))
    return files


def read_pip_config(
    environ: Mapping[str, str] | None = None,
    *,
    isolated: bool = False,
    site_prefix: str | None = None,
    command: str = "install",
) -> PipSettings:
    """pip's settings from its configuration files and ``PIP_*`` variables (not yet the
    command line: see :func:`apply_command_line`)."""
    env = dict(os.environ if environ is None else environ)
    settings = PipSettings()
    sections: dict[str, dict[str, Located]] = {"global": {}, command: {}}
    files = config_files(env, isolated=isolated, site_prefix=site_prefix)
    skip_files = env.get("PIP_CONFIG_FILE") == os.devnull
    for level, path in files:
        exists = os.path.isfile(path)
        settings.files.append((level, path, exists and not skip_files))
        if skip_files or not exists:
            continue
        for section, key, value in _read_file(path):
            if section in sections:
                sections[section][key] = Located(value, f"{path} [{section}]")
    items = [*sections["global"].items(), *sections[command].items()]
    if not isolated:
        for name, value in env.items():
            if name.startswith("PIP_") and name[4:].lower() not in ("version", "help"):
                items.append((_normalize(name[4:]), Located(value, name)))
    for key, located in items:
        if located.value:
            _apply(settings, key, located)
    return settings


#: pip configuration files are a few lines; more than this is not one.
CONFIG_LIMIT = 1 << 20


def _read_file(path: str) -> list[tuple[str, str, str]]:
    parser = configparser.RawConfigParser()
    parser.optionxform = _normalize  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(read_regular(path, CONFIG_LIMIT).decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"pip cannot read {path}: it is not valid UTF-8 ({exc.reason})") from exc
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"pip cannot read {path}: {first}") from exc
    except NotRegularFile as exc:  # pip would block on a FIFO there
        raise ConfigError(f"pip cannot read {path}: it is not a regular file") from exc
    except OSError:
        return []
    return [(s, k, v) for s in parser.sections() for k, v in parser.items(s)]


def _normalize(name: str) -> str:
    name = name.lower().replace("_", "-")
    return name[2:] if name.startswith("--") else name


def _apply(settings: PipSettings, key: str, located: Located) -> None:
    attribute = _ALIASES.get(key)
    if attribute is None:
        return
    value = located.value.strip()
    if attribute in _LISTS:
        values = [Located(v, located.origin) for v in value.split()]
        if attribute == "trusted_hosts":
            settings.trusted_hosts = [v.value for v in values]
        else:
            setattr(settings, attribute, values)
    elif attribute in _BOOLEANS:
        flag = _boolean(value, key, located.origin)
        if attribute == "no_index":
            settings.no_index = located if flag else None
        else:
            setattr(settings, attribute, flag)
    elif attribute == "index_url":
        settings.index_url = Located(value, located.origin)
    elif attribute in ("cache_dir", "no_cache_dir"):
        setattr(settings, attribute, Located(value, located.origin))
    elif attribute in ("only_binary", "no_binary"):
        settings.format_control.add(value, binary_only=attribute == "only_binary")
    elif attribute == "timeout":
        settings.timeout = _number(value, key, located.origin, float)
    elif attribute == "retries":
        settings.retries = int(_number(value, key, located.origin, int))
    else:
        setattr(settings, attribute, value)


def _boolean(value: str, key: str, origin: str) -> bool:
    lower = value.lower()
    if lower in _TRUE:
        return True
    if lower in _FALSE:
        return False
    raise ConfigError(f"pip rejects {key} = {value!r} ({origin}): expected yes/no, true/false, 1/0")


def _number(value: str, key: str, origin: str, kind: type[float] | type[int]) -> float:
    try:
        return kind(value)
    except ValueError as exc:
        raise ConfigError(f"pip rejects {key} = {value!r} ({origin}): not a number") from exc


def apply_command_line(
    settings: PipSettings,
    *,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    find_links: Sequence[str] = (),
    no_index: bool = False,
    origin: str = "command line",
) -> None:
    """Options given on the command line: ``--index-url`` replaces, ``--extra-index-url``
    and ``--find-links`` add to the configured lists (as optparse appends to pip's
    config-derived defaults), ``--no-index`` turns the indexes off."""
    if index_url:
        settings.index_url = Located(index_url, origin)
    settings.extra_index_urls += [Located(u, origin) for u in extra_index_urls]
    settings.find_links += [Located(u, origin) for u in find_links]
    if no_index:
        settings.no_index = Located("yes", origin)


def apply_requirements_options(
    settings: PipSettings,
    *,
    origin: str,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    find_links: Sequence[str] = (),
    no_index: bool = False,
    pre: bool = False,
    prefer_binary: bool = False,
    only_binary: Sequence[str] = (),
    no_binary: Sequence[str] = (),
    trusted_hosts: Sequence[str] = (),
) -> None:
    """An option line of a requirements file (pip's ``handle_option_line``): ``--no-index``
    drops every index, ``-i`` replaces *all* index URLs (extra ones too), ``--extra-index-url``
    adds one, ``--find-links`` adds one."""
    if no_index:
        settings.no_index = Located("yes", origin)
    if settings.no_index is None:
        if index_url:
            settings.index_url = Located(index_url, origin)
            settings.extra_index_urls = []
        settings.extra_index_urls += [Located(u, origin) for u in extra_index_urls]
    settings.find_links += [Located(u, origin) for u in find_links]
    settings.pre = settings.pre or pre
    settings.prefer_binary = settings.prefer_binary or prefer_binary
    for value in only_binary:
        settings.format_control.add(value, binary_only=True)
    for value in no_binary:
        settings.format_control.add(value, binary_only=False)
    settings.trusted_hosts += list(trusted_hosts)
