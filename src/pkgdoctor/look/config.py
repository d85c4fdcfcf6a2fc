"""Reading pip's and conda's configuration: every file each would try, and the variables.

What is read, not what wins: :mod:`pkgdoctor.configuration` merges (the one place for pip's
and conda's precedence rules), ``checks/config.py`` judges. Configuration is the *user's*:
it is read with the variables of the pkgdoctor process, for a live target and for a static
one alike; the target's prefix gives pip's *site* level and conda's *env* level.

Files are read as pkgdoctor reads any file it does not trust: at most
:data:`CONFIG_LIMIT` bytes, never from a FIFO or a device (:func:`pkgdoctor.files.read_regular`).
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from collections.abc import Iterable, Mapping
from typing import Any

from pkgdoctor.configuration import CONDA_ALIASES, CONDA_VARIABLES, is_path, normalize_key
from pkgdoctor.files import NotRegularFile, blocking_kind, read_regular
from pkgdoctor.redact import variable_value, without_credentials
from pkgdoctor.snapshot.model import CondaConfigFile, ConfigFacts, IndexPage, PipConfigFile
from pkgdoctor.target.facts import Target

#: pip and conda configuration files are a few lines; more than this is not one.
CONFIG_LIMIT = 1 << 20
_PIP_BASENAME = "pip.conf"

#: The variables naming a CA bundle that Python's HTTP clients read: requests (and so pip's
#: vendored copy and conda) REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE (requests.utils /
#: requests.sessions.merge_environment_settings), OpenSSL SSL_CERT_FILE
#: (ssl.get_default_verify_paths). conda doctor's "requests CA bundle" check reads the same.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")

#: The .condarc keys pkgdoctor uses (and conda's aliases of them); the rest is not kept.
CONDA_KEYS = frozenset(
    {
        "channels",
        "default_channels",
        "channel_priority",
        "channel_alias",
        "custom_channels",
        "custom_multichannels",
        "ssl_verify",
        "pkgs_dirs",
        "envs_dirs",
        *CONDA_ALIASES,
    }
)

# conda's SEARCH_PATH (conda/base/constants.py, non-Windows), with the level pkgdoctor
# names each by. "$CONDA_PREFIX" is the target prefix (conda substitutes the prefix of
# --prefix/--name there, context.py determine_target_prefix).
CONDA_SEARCH_PATH = (
    ("system", "/etc/conda/.condarc"),
    ("system", "/etc/conda/condarc"),
    ("system", "/etc/conda/condarc.d/"),
    ("system", "/var/lib/conda/.condarc"),
    ("system", "/var/lib/conda/condarc"),
    ("system", "/var/lib/conda/condarc.d/"),
    ("root", "$CONDA_ROOT/.condarc"),
    ("root", "$CONDA_ROOT/condarc"),
    ("root", "$CONDA_ROOT/condarc.d/"),
    ("user", "$XDG_CONFIG_HOME/conda/.condarc"),
    ("user", "$XDG_CONFIG_HOME/conda/condarc"),
    ("user", "$XDG_CONFIG_HOME/conda/condarc.d/"),
    ("user", "~/.config/conda/.condarc"),
    ("user", "~/.config/conda/condarc"),
    ("user", "~/.config/conda/condarc.d/"),
    ("user", "~/.conda/.condarc"),
    ("user", "~/.conda/condarc"),
    ("user", "~/.conda/condarc.d/"),
    ("user", "~/.condarc"),
    ("env", "$CONDA_PREFIX/.condarc"),
    ("env", "$CONDA_PREFIX/condarc"),
    ("env", "$CONDA_PREFIX/condarc.d/"),
    ("CONDARC", "$CONDARC"),
)
# conda/common/configuration.py: CONDARC_FILENAMES and YAML_EXTENSIONS.
_CONDARC_NAMES = (".condarc", "condarc")
_YAML_SUFFIXES = (".yml", ".yaml")
# A key flagged "#!final" in a YAML comment on its line (conda reads the comment with
# ruamel.yaml, _get_yaml_key_comment; PyYAML drops comments, so the line is looked at).
_FINAL = re.compile(r"^([A-Za-z_][\w-]*)\s*:[^\n#]*#\s*!final\b", re.MULTILINE)
_VARIABLE = re.compile(r"\$(\w+)")


def collect(
    target: Target,
    environ: Mapping[str, str] | None = None,
    *,
    online_names: list[str] | None = None,
) -> ConfigFacts:
    """The configuration facts for ``target``, credentials redacted; with ``online_names``
    (``check --online``), each configured index's page for those projects too."""
    env = os.environ if environ is None else environ
    pip = pip_files(env, site_prefix=target.prefix, redact=True)
    conda = conda_files(env, target.prefix)
    pip_env = {k: variable_value(k, v) for k, v in env.items() if k.startswith("PIP_")}
    conda_env = {k: v for k, v in env.items() if k in CONDA_VARIABLES}
    ca_env = {k: env[k] for k in CA_VARIABLES if env.get(k)}
    return ConfigFacts(
        pip_files=pip,
        pip_environ=pip_env,
        conda_files=conda,
        conda_environ=conda_env,
        ca_environ=ca_env,
        paths=_certificate_paths(pip, pip_env, conda, conda_env, ca_env),
        online=None
        if online_names is None
        else fetch_index_pages(online_names, target.prefix, env),
    )


# --- pip ------------------------------------------------------------------------------------


def pip_file_paths(
    environ: Mapping[str, str], *, isolated: bool, site_prefix: str | None
) -> list[tuple[str, str]]:
    """(level, path) of every file pip would try, in pip's order
    (``pip/_internal/configuration.py`` ``get_configuration_files`` and ``_iter_config_files``):
    global (``$XDG_CONFIG_DIRS``/``/etc/xdg`` + ``pip/pip.conf``, then ``/etc/pip.conf``),
    user (``~/.pip/pip.conf``, then ``$XDG_CONFIG_HOME`` or ``~/.config`` + ``pip/pip.conf``;
    skipped with ``--isolated`` or when ``PIP_CONFIG_FILE`` names an existing file), site
    (``<prefix>/pip.conf``), then ``PIP_CONFIG_FILE``."""
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "")
    if not xdg_dirs.strip():
        xdg_dirs = "/etc/xdg"
    files = [("global", os.path.join(d, "pip", _PIP_BASENAME)) for d in xdg_dirs.split(os.pathsep)]
    files.append(("global", os.path.join("/etc", _PIP_BASENAME)))
    explicit = environ.get("PIP_CONFIG_FILE")
    if not isolated and not (explicit and os.path.exists(explicit)):
        home = environ.get("HOME") or os.path.expanduser("~")
        config_home = environ.get("XDG_CONFIG_HOME", "").strip() or os.path.join(home, ".config")
        files.append(("user", os.path.join(home, ".pip", _PIP_BASENAME)))
        files.append(("user", os.path.join(config_home, "pip", _PIP_BASENAME)))
    if site_prefix:
        files.append(("site", os.path.join(site_prefix, _PIP_BASENAME)))
    if explicit is not None:
        files.append(("PIP_CONFIG_FILE", explicit))
    return files


def pip_files(
    environ: Mapping[str, str],
    *,
    isolated: bool = False,
    site_prefix: str | None = None,
    redact: bool = False,
) -> tuple[PipConfigFile, ...]:
    """Every file pip would try, read; ``PIP_CONFIG_FILE=/dev/null`` makes pip skip them all
    (they are listed as not existing). ``redact``: URL credentials become ``***`` (for a
    Snapshot; ``wheels`` needs them to fetch)."""
    skip = environ.get("PIP_CONFIG_FILE") == os.devnull
    result = []
    for level, path in pip_file_paths(environ, isolated=isolated, site_prefix=site_prefix):
        # pip reads a file only when os.path.exists() says so (a FIFO would then block it;
        # read_regular refuses one, and pkgdoctor reports what pip would do).
        exists = os.path.exists(path) and not skip
        if not exists:
            result.append(PipConfigFile(level, path, False))
            continue
        items, error = _read_pip_file(path)
        if redact:
            items = tuple((s, k, without_credentials(v)) for s, k, v in items)
        result.append(PipConfigFile(level, path, True, items, error))
    return tuple(result)


def _read_pip_file(path: str) -> tuple[tuple[tuple[str, str, str], ...], str | None]:
    # pip's parser: RawConfigParser with option names as pip normalizes them.
    parser = configparser.RawConfigParser()
    parser.optionxform = normalize_key  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(read_regular(path, CONFIG_LIMIT).decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        return (), f"pip cannot read {path}: it is not valid UTF-8 ({exc.reason})"
    except configparser.Error as exc:
        return (), f"pip cannot read {path}: {str(exc).splitlines()[0]}"
    except NotRegularFile:
        # pip opens it: a FIFO or a device blocks it; configparser skips a directory.
        kind = blocking_kind(path)
        return (), f"pip cannot read {path}: it is {kind}" if kind else None
    except OSError:  # pip skips a file it cannot open (configuration.py _load_file)
        return (), None
    return tuple((s, k, v) for s in parser.sections() for k, v in parser.items(s)), None


# --- conda ----------------------------------------------------------------------------------


def conda_files(environ: Mapping[str, str], prefix: str | None) -> tuple[CondaConfigFile, ...]:
    """The ``.condarc`` files conda reads, in its order (``Configuration._expand_search_path``):
    a path that is a regular file named ``.condarc``/``condarc`` or ending ``.yml``/``.yaml``,
    or a directory whose ``*.yml``/``*.yaml`` files are read in name order; each path once."""
    variables = dict(environ)
    if prefix:
        variables["CONDA_PREFIX"] = prefix
    if not variables.get("CONDA_ROOT") and environ.get("CONDA_EXE"):
        # The base installation conda itself runs from: <root>/bin/conda or condabin/conda.
        variables["CONDA_ROOT"] = os.path.dirname(os.path.dirname(environ["CONDA_EXE"]))
    home = environ.get("HOME") or os.path.expanduser("~")
    seen: set[str] = set()
    result = []
    for level, template in CONDA_SEARCH_PATH:
        # Unset variables stay as written (conda's custom_expandvars), naming nothing.
        path = _VARIABLE.sub(lambda m: variables.get(m[1]) or m[0], template)
        if path.startswith("~"):
            path = home + path[1:]
        for found in _condarc_paths(path):
            if found not in seen:
                seen.add(found)
                result.append(_read_condarc(level, found))
    return tuple(result)


def _condarc_paths(path: str) -> list[str]:
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return []
    if stat.S_ISREG(mode):
        name = os.path.basename(path.rstrip("/"))
        ok = name in _CONDARC_NAMES or name.endswith(_YAML_SUFFIXES)
        return [os.path.normpath(path)] if ok else []
    if not stat.S_ISDIR(mode):
        return []
    try:
        with os.scandir(path) as entries:
            names = sorted(
                e.path
                for e in entries
                if e.name.endswith(_YAML_SUFFIXES) and e.is_file(follow_symlinks=True)
            )
    except OSError:
        return []
    return [os.path.normpath(n) for n in names]


def _read_condarc(level: str, path: str) -> CondaConfigFile:
    import yaml  # only when there is a .condarc: most machines have none

    try:
        text = read_regular(path, CONFIG_LIMIT).decode("utf-8")
        document = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return CondaConfigFile(level, path, error=f"conda cannot read {path}: {reason}")
    if document is None:
        return CondaConfigFile(level, path)
    if not isinstance(document, dict):
        return CondaConfigFile(
            level, path, error=f"conda cannot read {path}: it is not a mapping of settings"
        )
    values = {str(k): _plain(v) for k, v in document.items() if str(k) in CONDA_KEYS}
    final = tuple(m[1] for m in _FINAL.finditer(text) if m[1] in values)
    return CondaConfigFile(level, path, values, final)


def _plain(value: Any) -> Any:
    """A YAML value as str / list / dict only (a snapshot holds JSON; YAML's true is "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return "" if value is None else without_credentials(str(value))


# --- certificate paths ----------------------------------------------------------------------


def _certificate_paths(
    pip: tuple[PipConfigFile, ...],
    pip_env: Mapping[str, str],
    conda: tuple[CondaConfigFile, ...],
    conda_env: Mapping[str, str],
    ca_env: Mapping[str, str],
) -> dict[str, bool]:
    """Whether each certificate file a setting names exists: pip's ``cert``/``client-cert``
    (any file, any section, or PIP_CERT/PIP_CLIENT_CERT), conda's ``ssl_verify`` when it is a
    path, the CA variables."""
    named = list(ca_env.values())
    named += [v for f in pip for _, k, v in f.items if k in ("cert", "client-cert")]
    named += [v for k, v in pip_env.items() if k in ("PIP_CERT", "PIP_CLIENT_CERT")]
    for file in conda:
        value = file.values.get("ssl_verify", file.values.get("verify_ssl"))
        if isinstance(value, str):
            named.append(value)
    named += [v for k, v in conda_env.items() if CONDA_VARIABLES[k] == "ssl_verify"]
    return {p: os.path.exists(p) for p in dict.fromkeys(n.strip() for n in named) if is_path(p)}


# --- check --online -------------------------------------------------------------------------

#: At most this many project names are looked up on each index (the REQUESTED ones first):
#: a few hundred requests, seconds on a good connection, for the largest environments.
MAX_ONLINE_NAMES = 200
#: Simple pages fetched at once (pip itself fetches one at a time; indexes allow more).
ONLINE_WORKERS = 8
ONLINE_TIMEOUT_S = 10.0


def fetch_index_pages(
    names: list[str],
    prefix: str,
    environ: Mapping[str, str] | None = None,
) -> tuple[IndexPage, ...]:
    """Each configured index's simple page (PEP 503/691) for each of ``names`` (at most
    :data:`MAX_ONLINE_NAMES`): which versions it has, or that it has none, or that it did not
    answer. Fetched as pip would (its cert, client-cert, trusted-host and proxy settings,
    with the credentials of the index URLs), kept with the credentials redacted."""
    from packaging.utils import canonicalize_name

    from pkgdoctor.configuration import pip_settings
    from pkgdoctor.wheels.http import Session, request_pool
    from pkgdoctor.wheels.simple import IndexSource

    env = os.environ if environ is None else environ
    settings = pip_settings(pip_files(env, site_prefix=prefix), env)
    indexes = list(dict.fromkeys(u.value for u in settings.index_urls()))
    wanted = list(dict.fromkeys(canonicalize_name(n) for n in names))[:MAX_ONLINE_NAMES]
    if not indexes or not wanted:
        return ()
    sources = [IndexSource(url, "") for url in indexes]
    with (
        Session(
            timeout=min(settings.timeout, ONLINE_TIMEOUT_S),
            retries=1,
            cert=settings.cert,
            client_cert=settings.client_cert,
            trusted_hosts=settings.trusted_hosts,
            proxy=settings.proxy,
        ) as session,
        request_pool(ONLINE_WORKERS) as pool,
    ):
        futures = [
            (url, name, pool.submit(source.list, session, name))
            for url, source in zip(indexes, sources, strict=True)
            for name in wanted
        ]
        pages = []
        for url, name, future in futures:
            listing = future.result()
            shown = without_credentials(url)
            if listing.error is not None:
                pages.append(IndexPage(shown, name, "unreachable", error=listing.error))
            elif listing.not_found or not listing.files:
                pages.append(IndexPage(shown, name, "missing"))
            else:
                versions = _versions(f.filename for f in listing.files)
                pages.append(IndexPage(shown, name, "found", versions))
    return tuple(pages)


def _versions(filenames: Iterable[str]) -> tuple[str, ...]:
    """The versions that files are of (wheel and sdist names, PEP 427 / PEP 625), in
    ascending order."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import Version

    found: set[Version] = set()
    for name in filenames:
        try:
            if name.endswith(".whl"):
                found.add(parse_wheel_filename(name)[1])
            else:
                found.add(parse_sdist_filename(name)[1])
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
    return tuple(str(v) for v in sorted(found))
