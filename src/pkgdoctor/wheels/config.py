"""The sources and options pip would use, read the way pip reads them (the reading is
:mod:`pkgdoctor.look.config`'s, the precedence :mod:`pkgdoctor.configuration`'s; the command
line and requirements files are this module's).

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

import os
from collections.abc import Mapping, Sequence

from pkgdoctor.configuration import PYPI, FormatControl, Located, PipSettings, pip_settings
from pkgdoctor.errors import PkgdoctorError
from pkgdoctor.look.config import pip_files

__all__ = [
    "PYPI",
    "ConfigError",
    "FormatControl",
    "Located",
    "PipSettings",
    "apply_command_line",
    "apply_requirements_options",
    "read_pip_config",
]


class ConfigError(PkgdoctorError):
    """pip's configuration cannot be read (pip itself would refuse to run)."""


def read_pip_config(
    environ: Mapping[str, str] | None = None,
    *,
    isolated: bool = False,
    site_prefix: str | None = None,
    command: str = "install",
) -> PipSettings:
    """pip's settings from its configuration files and ``PIP_*`` variables (not yet the
    command line: see :func:`apply_command_line`). The files are read by
    :func:`pkgdoctor.look.config.pip_files`, the winner chosen by
    :func:`pkgdoctor.configuration.pip_settings` (what ``check``'s ``config-*`` use too).

    :raises ConfigError: where pip would refuse to run (a file it cannot parse, a value it
        rejects).
    """
    env = dict(os.environ if environ is None else environ)
    files = pip_files(env, isolated=isolated, site_prefix=site_prefix)
    settings = pip_settings(files, env, command=command, isolated=isolated)
    if settings.errors:
        raise ConfigError(settings.errors[0].value)
    return settings


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
