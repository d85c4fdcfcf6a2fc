"""Where pip, uv and conda keep their package caches, decided the way each tool decides.

Pure: every function takes the environment variables, the home directory and what the
configuration readers found, and returns :class:`~pkgdoctor.caches.facts.Location` values;
nothing here reads a file.

>>> pip_cache({"XDG_CACHE_HOME": "/x"}, "/home/u").path
'/x/pip'
>>> uv_cache({"UV_NO_CACHE": "1"}, "/home/u").disabled
'UV_NO_CACHE'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from pkgdoctor.caches.facts import Location

# Values pip's strtobool and uv's boolean variables take as false.
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


def _cache_home(environ: Mapping[str, str], home: str) -> tuple[str, str]:
    """The XDG base directory for caches, as platformdirs (pip) and uv's ``etcetera`` crate
    read it: ``$XDG_CACHE_HOME`` when set to an absolute path, else ``~/.cache``
    (https://specifications.freedesktop.org/basedir-spec/latest/: relative values are
    invalid and ignored)."""
    xdg = environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):
        return xdg, "$XDG_CACHE_HOME"
    return os.path.join(home, ".cache"), "~/.cache"


def pip_cache(
    environ: Mapping[str, str],
    home: str,
    *,
    config_cache_dir: tuple[str, str] | None = None,
    config_no_cache: str | None = None,
) -> Location:
    """pip's cache directory (https://pip.pypa.io/en/stable/topics/caching/).

    ``config_cache_dir`` is ``cache-dir`` as pip's configuration gives it (value, origin:
    a ``PIP_CACHE_DIR`` variable wins over files there, pip's ``ConfigOptionParser``), and
    ``config_no_cache`` the origin of a ``no-cache-dir`` setting. pip disables its cache on
    *any* valid value of ``PIP_NO_CACHE_DIR``, "false" included (``_handle_no_cache_dir`` in
    pip/_internal/cli/cmdoptions.py keeps that for backwards compatibility). The default is
    platformdirs' ``user_cache_dir("pip")`` (pip/_internal/locations: ``USER_CACHE_DIR``).
    """
    if config_no_cache is not None:
        return Location("pip", None, config_no_cache, disabled=config_no_cache)
    if config_cache_dir is not None:
        value, origin = config_cache_dir
        # --cache-dir is a "path" option: pip expands ~ (cli/parser.py, check_path).
        return Location("pip", os.path.expanduser(value), origin)
    base, said = _cache_home(environ, home)
    return Location("pip", os.path.join(base, "pip"), f"default: {said}/pip")


def uv_cache(environ: Mapping[str, str], home: str) -> Location:
    """uv's cache directory (https://docs.astral.sh/uv/concepts/cache/#cache-directory):
    ``UV_NO_CACHE`` (a temporary cache, removed after each command), ``UV_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/uv`` or ``~/.cache/uv`` on Linux. (uv also reads ``cache-dir`` from
    uv.toml / pyproject.toml, per project: not looked at here.)"""
    no_cache = environ.get("UV_NO_CACHE")
    if no_cache is not None and no_cache.strip().lower() not in _FALSE:
        return Location("uv", None, "UV_NO_CACHE", disabled="UV_NO_CACHE")
    explicit = environ.get("UV_CACHE_DIR", "").strip()
    if explicit:
        return Location("uv", os.path.abspath(os.path.expanduser(explicit)), "UV_CACHE_DIR")
    base, said = _cache_home(environ, home)
    return Location("uv", os.path.join(base, "uv"), f"default: {said}/uv")


def rattler_cache(environ: Mapping[str, str], home: str) -> Location:
    """The package cache of pixi and other rattler-based tools: ``PIXI_CACHE_DIR``, else
    ``RATTLER_CACHE_DIR``, else ``$XDG_CACHE_HOME/rattler/cache`` (pixi's documented
    environment variables, https://pixi.sh/latest/reference/environment_variables/;
    rattler's ``default_cache_dir``); the conda packages are in its ``pkgs/``."""
    for variable in ("PIXI_CACHE_DIR", "RATTLER_CACHE_DIR"):
        value = environ.get(variable, "").strip()
        if value:
            return Location("rattler", os.path.join(os.path.expanduser(value), "pkgs"), variable)
    base, said = _cache_home(environ, home)
    path = os.path.join(base, "rattler", "cache", "pkgs")
    return Location("rattler", path, f"default: {said}/rattler/cache/pkgs")


def conda_root_prefix(environ: Mapping[str, str], prefix: str, is_dir: Iterable[str]) -> str | None:
    """conda's root prefix (``context.root_prefix``: the ``root_prefix`` setting, else the
    prefix of the Python that runs conda) seen from outside conda: ``CONDA_ROOT_PREFIX``,
    then the installation ``CONDA_EXE`` belongs to (``conda activate`` sets it to
    ``ROOT/bin/conda``), then the target itself when it is an environment in ``ROOT/envs/``
    or the base environment (``ROOT/condabin`` exists). ``is_dir``: the directories among
    the candidates that exist (this module reads nothing)."""
    existing = set(is_dir)
    explicit = environ.get("CONDA_ROOT_PREFIX", "").strip()
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    exe = environ.get("CONDA_EXE", "").strip()
    if exe and os.path.isabs(exe):
        return os.path.dirname(os.path.dirname(exe))
    parent = os.path.dirname(prefix)
    if os.path.basename(parent) == "envs":
        root = os.path.dirname(parent)
        if os.path.join(root, "conda-meta") in existing:
            return root
    if os.path.join(prefix, "condabin") in existing:
        return prefix
    return None


def root_candidates(prefix: str) -> list[str]:
    """The directories :func:`conda_root_prefix` asks about for ``prefix``."""
    root = os.path.dirname(os.path.dirname(prefix))
    return [os.path.join(root, "conda-meta"), os.path.join(prefix, "condabin")]


def conda_pkgs_dirs(
    environ: Mapping[str, str],
    home: str,
    root_prefix: str | None,
    *,
    condarc_pkgs_dirs: tuple[Sequence[str], str] | None = None,
    linked_from: Sequence[str] = (),
) -> list[Location]:
    """conda's package caches, in conda's order (``Context.pkgs_dirs``,
    conda/base/context.py): the ``pkgs_dirs`` setting when set — from ``CONDA_PKGS_DIRS``
    (comma-separated, as conda splits sequence variables) or from the .condarc files — else
    ``ROOT/pkgs`` then ``~/.conda/pkgs`` (https://docs.conda.io/projects/conda/en/latest/
    user-guide/configuration/settings.html#pkgs-dirs). Then the directories the target's
    records say they were linked from (``link.source``), when none of those is one of them
    (an environment made by another installation, by mamba or by rattler/pixi).

    ``condarc_pkgs_dirs`` is (merged ``pkgs_dirs``, the file that set it) from the .condarc
    reader; see the plug-in point in :mod:`pkgdoctor.caches.look`.
    """
    found: list[Location] = []
    variable = environ.get("CONDA_PKGS_DIRS", "").strip()
    if variable:
        for item in variable.split(","):
            if item.strip():
                path = os.path.expanduser(os.path.expandvars(item.strip()))
                found.append(Location("conda", os.path.abspath(path), "CONDA_PKGS_DIRS"))
    elif condarc_pkgs_dirs is not None and condarc_pkgs_dirs[0]:
        dirs, origin = condarc_pkgs_dirs
        for item in dirs:
            path = os.path.expanduser(os.path.expandvars(item))
            found.append(Location("conda", os.path.abspath(path), origin))
    else:
        if root_prefix is not None:
            found.append(Location("conda", os.path.join(root_prefix, "pkgs"), "default: ROOT/pkgs"))
        found.append(
            Location("conda", os.path.join(home, ".conda", "pkgs"), "default: ~/.conda/pkgs")
        )
    known = {loc.path for loc in found}
    for source in linked_from:
        if source not in known:
            known.add(source)
            found.append(Location("conda", source, "the environment's records (link.source)"))
    return found
