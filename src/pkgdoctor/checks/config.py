"""pip's and conda's configuration: what the user's files and variables make every install do.

Judged from :class:`~pkgdoctor.snapshot.model.ConfigFacts` through the merge rules of
:mod:`pkgdoctor.configuration` (the winner of each value, and where it came from, as
``pip config debug`` shows it):

- ``config-unreadable``: pip cannot parse a configuration file (or rejects a value): it
  refuses to run at all;
- ``config-insecure-index``: an ``http://`` index or find-links, ``trusted-host``, a
  ``cert``/``client-cert`` that does not exist (this machine's loopback addresses excepted:
  pip itself treats them as secure origins);
- ``config-extra-index-confusion``: several indexes, of which pip takes the highest version
  of a name from any (pypa/pip#8606); a ``file://`` index beside one remote index is a note;
- ``config-index-hides-local-version``: an installed ``+local`` version while only PyPI or
  its mirrors are configured (PyPI refuses local versions: see :mod:`pkgdoctor.indexes`);
- ``config-index-retired``: a mirror of the dated table of retired ones;
- ``config-conda-channels-mixed`` / ``config-conda-priority-disabled``: conda's merged
  ``channels`` mix ``defaults`` and conda-forge; ``channel_priority: disabled``;
- ``config-ca-bundle-missing``: a CA bundle variable (or conda's ``ssl_verify``) names no file.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pkgdoctor.checks.context import Context
from pkgdoctor.codes import (
    CONFIG_CA_BUNDLE_MISSING,
    CONFIG_CONDA_CHANNELS_MIXED,
    CONFIG_CONDA_PRIORITY_DISABLED,
    CONFIG_EXTRA_INDEX_CONFUSION,
    CONFIG_INDEX_HIDES_LOCAL_VERSION,
    CONFIG_INDEX_RETIRED,
    CONFIG_INSECURE_INDEX,
    CONFIG_UNREADABLE,
)
from pkgdoctor.configuration import (
    CondaSettings,
    Located,
    PipSettings,
    conda_settings,
    is_path,
    pip_settings,
)
from pkgdoctor.findings import Finding, Fix, Severity
from pkgdoctor.indexes import AS_OF, is_loopback, is_pypi_or_mirror, retired
from pkgdoctor.redact import without_credentials
from pkgdoctor.snapshot.model import ConfigFacts, is_conda_forge, is_defaults

# pip config's level options, by pkgdoctor's level names (pip config --help).
_LEVEL_OPTIONS = {"global": "--global", "user": "--user", "site": "--site"}


def check(ctx: Context) -> list[Finding]:
    facts = ctx.snapshot.config
    if facts is None:
        return []
    pip = pip_settings(facts.pip_files, facts.pip_environ)
    findings = _unreadable(pip)
    findings += _insecure(ctx, facts, pip)
    findings += _confusion(facts, pip)
    findings += _local_versions(ctx, facts, pip)
    findings += _retired(ctx, facts, pip)
    conda = conda_settings(facts)
    findings += _conda(conda)
    findings += _ca_bundles(facts, conda)
    return findings


# --- fixes ------------------------------------------------------------------------------------


def _pip_config(ctx: Context, facts: ConfigFacts, origin: str, verb: str, *args: str) -> str | None:
    """``python3 -m pip config --LEVEL VERB NAME [VALUE]`` for a value that ``origin`` (a
    ``FILE [section]``) set, when that file is the one ``pip config --LEVEL`` edits (the last
    file of its level: ``/etc/pip.conf``, ``~/.config/pip/pip.conf``, ``<prefix>/pip.conf``);
    None for a variable or another file (``~/.pip/pip.conf``: the fix names it instead)."""
    path, _, section = origin.rpartition(" [")
    if not section.endswith("]"):
        return None
    levels = [f for f in facts.pip_files if f.path == path]
    if not levels:
        return None
    level = levels[0].level
    edited = [f.path for f in facts.pip_files if f.level == level]
    if level not in _LEVEL_OPTIONS or edited[-1] != path:
        return None
    # The site level is the target's (pip's sys.prefix); user and global are any pip's. A
    # target without pip is reached with --python (pip 22.3+), as checks/venv.py does.
    pip = ["python3", "-m", "pip"]
    if level == "site":
        python = f"{ctx.target.prefix.rstrip('/')}/bin/python"
        has_pip = ctx.inventory.get("pip") is not None
        pip = [python, "-m", "pip"] if has_pip else [*pip, "--python", python]
    name = f"{section[:-1]}.{args[0]}"
    words = [*pip, "config", _LEVEL_OPTIONS[level], verb, name, *args[1:]]
    return shlex.join(words)


def _where(origin: str) -> str:
    """How a fix names where a value is set."""
    if " [" in origin or origin.startswith("/"):  # a pip.conf and section, a .condarc
        return f"in {origin}"
    return f"by the variable {origin}"


# --- pip ----------------------------------------------------------------------------------


def _unreadable(pip: PipSettings) -> list[Finding]:
    return [
        CONFIG_UNREADABLE.finding(
            f"{error.value.rstrip('.')}; pip refuses to run (every pip install, pip list, "
            "pip config fails with this error).",
            path=error.origin if error.origin.startswith("/") else None,
            evidence={"error": error.value},
            explanation="Correct or remove the file (pip parses it as an INI file with "
            "sections such as [global]; `pip config debug` lists the files pip reads).",
        )
        for error in pip.errors
    ]


def _insecure(ctx: Context, facts: ConfigFacts, pip: PipSettings) -> list[Finding]:
    findings = []
    for kind, key, urls in (
        ("index", "index-url", [pip.index_url] if pip.no_index is None else []),
        ("index", "extra-index-url", pip.extra_index_urls if pip.no_index is None else []),
        ("find-links location", "find-links", pip.find_links),
    ):
        for url in urls:
            if not url.value.lower().startswith("http://") or is_loopback(url.value):
                continue
            https = "https://" + url.value[len("http://") :]
            values = [u.value for u in urls if u.origin == url.origin]
            replaced = " ".join(https if v == url.value else v for v in values)
            command = _pip_config(ctx, facts, url.origin, "set", key, replaced)
            findings.append(
                CONFIG_INSECURE_INDEX.finding(
                    f"pip fetches from the {kind} {url.value} over plain HTTP ({key} set "
                    f"{_where(url.origin)}): anyone on the network path can change what "
                    "is installed.",
                    evidence={key: url.value, "set": url.origin},
                    fix=Fix(
                        command,
                        f"Use the index over HTTPS ({https}) if it serves it, or an index "
                        f"that does; it is set {_where(url.origin)}.",
                    ),
                )
            )
    hosts = [h for h in pip.trusted_hosts if not is_loopback(h)]
    if hosts:
        origin = pip.origins.get("trusted_hosts", "?")
        findings.append(
            CONFIG_INSECURE_INDEX.finding(
                f"pip does not verify TLS certificates for {', '.join(hosts)} (trusted-host "
                f"set {_where(origin)}): a man in the middle can serve any package as theirs.",
                evidence={"trusted-host": hosts, "set": origin},
                fix=Fix(
                    _pip_config(ctx, facts, origin, "unset", "trusted-host"),
                    "Remove trusted-host; where the index has a certificate of a private CA, "
                    "point pip's cert at that CA's bundle instead of turning verification off.",
                ),
            )
        )
    for key, attribute in (("cert", "cert"), ("client-cert", "client_cert")):
        path = getattr(pip, attribute)
        if path is None or facts.paths.get(path, True):
            continue
        origin = pip.origins.get(attribute, "?")
        findings.append(
            CONFIG_INSECURE_INDEX.finding(
                f"pip's {key} names {path}, which does not exist ({_where(origin)}): every "
                'download over HTTPS fails ("Could not find a suitable TLS CA certificate '
                'bundle, invalid path").',
                severity=Severity.ERROR,
                path=path,
                evidence={key: path, "set": origin},
                fix=Fix(
                    _pip_config(ctx, facts, origin, "unset", key),
                    f"Remove {key}, or point it at an existing file (the system's bundle is "
                    "/etc/ssl/certs/ca-certificates.crt on Debian and Ubuntu).",
                ),
            )
        )
    return findings


def _is_local(url: str) -> bool:
    """An index that is a directory of this machine (``file://``). A server on a loopback
    address is not: it is most often a proxy (devpi) of a public index."""
    return url.lower().startswith("file:")


def _confusion(facts: ConfigFacts, pip: PipSettings) -> list[Finding]:
    indexes = list({u.value: u for u in pip.index_urls()}.values())
    if len(indexes) < 2:
        return []
    remote = [u for u in indexes if not _is_local(u.value)]
    local = [u for u in indexes if _is_local(u.value)]
    if len(remote) < 2 and not (remote and local):
        return []
    evidence: dict[str, object] = {
        "indexes": [f"{u.value} ({u.origin})" for u in indexes],
    }
    how = (
        "pip looks a name up on every index and installs the highest version found on any "
        "of them (pypa/pip#8606): whoever can publish that name on one index can override "
        "the package of the other."
    )
    fix = (
        "Install from one index that proxies the others (--index-url to a devpi, Artifactory "
        "or Nexus proxy that mirrors both), or use uv, whose default index strategy "
        "(first-index) takes a name from the first index that has it."
    )
    names = ", ".join(u.value for u in indexes)
    if facts.online is not None:
        # A file:// copy beside one remote index stays a note with the pages too: its names
        # are on both by design (a local mirror); they are listed all the same.
        severity = Severity.WARNING if len(remote) >= 2 else Severity.INFO
        return _confusion_online(facts, indexes, evidence, how, fix, severity)
    if len(remote) >= 2:
        return [
            CONFIG_EXTRA_INDEX_CONFUSION.finding(
                f"pip is configured with {len(indexes)} indexes ({names}): " + how,
                evidence=evidence,
                explanation=fix + " check --online says which installed names exist on "
                "several of them.",
            )
        ]
    # One remote index beside directories (or servers) of this machine: those are the
    # machine owner's own copies, and a public name can shadow only a name that exists
    # there alone; a note, not a warning.
    return [
        CONFIG_EXTRA_INDEX_CONFUSION.finding(
            f"pip mixes the local index{'es' if len(local) > 1 else ''} "
            f"{', '.join(u.value for u in local)} with {remote[0].value}: " + how,
            severity=Severity.INFO,
            evidence=evidence,
            explanation="Local indexes are this machine's own copies: a risk only for a name "
            "that exists on them alone (a private package). " + fix,
        )
    ]


def _newest(versions: Sequence[str]) -> Version | None:
    parsed = []
    for text in versions:
        try:
            parsed.append(Version(text))
        except InvalidVersion:
            continue
    return max(parsed, default=None)


def _confusion_online(
    facts: ConfigFacts,
    indexes: list[Located],
    evidence: dict[str, object],
    how: str,
    fix: str,
    severity: Severity,
) -> list[Finding]:
    """With the indexes' pages (check --online): the installed names found on more than one
    index, and those whose newest version is not on the first index (pip installs it from
    another)."""
    assert facts.online is not None
    shown = {without_credentials(u.value): u for u in indexes}
    by_name: dict[str, dict[str, Version | None]] = {}
    for page in facts.online:
        if page.status == "found" and page.index in shown:
            by_name.setdefault(page.project, {})[page.index] = _newest(page.versions)
    first = without_credentials(indexes[0].value)
    both = {n: found for n, found in by_name.items() if len(found) > 1}
    higher = []
    for name, found in sorted(both.items()):
        best = max((v for v in found.values() if v is not None), default=None)
        mine = found.get(first)
        if best is not None and (mine is None or mine < best):
            where = next(i for i, v in found.items() if v == best)
            higher.append(f"{name}: {best} on {where}, {mine or 'none'} on {first}")
    looked = len({p.project for p in facts.online})
    evidence = {
        **evidence,
        "names looked up": looked,
        "on several indexes": [
            f"{n} ({', '.join(f'{i} {v}' for i, v in found.items())})"
            for n, found in sorted(both.items())
        ],
        "newest not on the first index": higher,
    }
    if not both:
        return [
            CONFIG_EXTRA_INDEX_CONFUSION.finding(
                f"pip is configured with {len(indexes)} indexes, but none of the {looked} "
                "installed names exists on more than one of them today: " + how,
                severity=Severity.INFO,
                evidence=evidence,
                explanation=fix,
            )
        ]
    names = ", ".join(sorted(both))
    return [
        CONFIG_EXTRA_INDEX_CONFUSION.finding(
            f"{len(both)} installed name{'s exist' if len(both) > 1 else ' exists'} on more "
            f"than one configured index ({names}); "
            + (
                f"for {len(higher)} of them another index than {first} has the newest "
                "version, which pip takes: "
                if higher
                else ""
            )
            + how,
            severity=severity,
            evidence=evidence,
            explanation=fix,
        )
    ]


def _local_versions(ctx: Context, facts: ConfigFacts, pip: PipSettings) -> list[Finding]:
    indexes = pip.index_urls()
    # Only where the configuration chose PyPI mirrors (index-url set by a file or variable):
    # with pip's default alone, a +local build came from an index given on its command
    # line, and nothing configured is wrong. find-links may hold the build: not judged.
    configured = any(u.origin != "pip's default" for u in indexes)
    mirrors_only = indexes and all(is_pypi_or_mirror(u.value) for u in indexes)
    if not configured or not mirrors_only or pip.find_links:
        return []
    findings = []
    for dist in ctx.inventory.distributions:
        if dist.installer not in ("pip", "uv") or dist.version is None:
            continue
        try:
            local = Version(dist.version).local
        except InvalidVersion:
            continue
        if local is None:
            continue
        served = facts.online is not None and any(
            p.project == canonicalize_name(dist.name) and dist.version in p.versions
            for p in facts.online
        )
        if served:  # check --online found it on a configured index after all
            continue
        names = ", ".join(f"{u.value} ({u.origin})" for u in indexes)
        findings.append(
            CONFIG_INDEX_HIDES_LOCAL_VERSION.finding(
                f"{dist.name} {dist.version} is installed, but pip is configured with "
                f"PyPI or its mirrors only ({names}), which never have a +{local} version: "
                f"pip install {dist.name}=={dist.version} fails here, and a reinstall gets "
                "another build.",
                distribution=dist.name,
                evidence={
                    "installed": f"{dist.name} {dist.version}",
                    "indexes": [f"{u.value} ({u.origin})" for u in indexes],
                    "why": "PyPI refuses local versions (PEP 440: local version labels MUST "
                    "NOT be allowed in the public index)",
                },
                explanation=f"Name the index that serves +{local} builds for that install "
                "(for PyTorch: --index-url https://download.pytorch.org/whl/ followed by the "
                f"variant, e.g. {local}); a mirror of PyPI cannot serve it.",
            )
        )
    return findings


def _retired(ctx: Context, facts: ConfigFacts, pip: PipSettings) -> list[Finding]:
    findings = []
    for key, urls in (("index-url", [pip.index_url]), ("extra-index-url", pip.extra_index_urls)):
        for url in urls:
            entry = retired(url.value)
            if entry is None:
                unreachable = _unreachable(facts, url.value)
                if unreachable is not None:
                    findings.append(unreachable_finding(url, key, unreachable))
                continue
            command = None
            if key == "index-url":
                command = _pip_config(ctx, facts, url.origin, "unset", key)
            findings.append(
                CONFIG_INDEX_RETIRED.finding(
                    f"pip's {key} {url.value} is a retired or moved mirror ({entry.what}, since "
                    f"{entry.since}); set {_where(url.origin)}.",
                    evidence={
                        key: url.value,
                        "set": url.origin,
                        "retired since": entry.since,
                        "source": f"{entry.source}; pkgdoctor's table of {AS_OF}",
                    },
                    fix=Fix(
                        command,
                        "Use PyPI (https://pypi.org/simple, pip's default) or a mirror that "
                        "is in service.",
                    ),
                )
            )
    return findings


def _unreachable(facts: ConfigFacts, url: str) -> str | None:
    """With check --online: why the index did not answer for any name; None when it did
    answer (or was not asked)."""
    shown = without_credentials(url)
    pages = [p for p in (facts.online or ()) if p.index == shown]
    if not pages or any(p.status != "unreachable" for p in pages):
        return None
    return pages[0].error or "no answer"


def unreachable_finding(url: Located, key: str, error: str) -> Finding:
    return CONFIG_INDEX_RETIRED.finding(
        f"pip's {key} {url.value} did not answer for any project (check --online: {error}); "
        f"set {_where(url.origin)}: every pip install that needs it fails or waits for its "
        "timeouts.",
        evidence={key: url.value, "set": url.origin, "error": error},
        explanation="Check the address (and the proxy); if the mirror is gone, use PyPI "
        "(https://pypi.org/simple, pip's default) or a mirror that is in service.",
    )


# --- conda --------------------------------------------------------------------------------

# Which channel is which: snapshot.model.is_defaults / is_conda_forge (one place).
_is_anaconda = is_defaults
_is_conda_forge = is_conda_forge


def _conda_fix(origin: str, *args: str) -> str | None:
    """``conda config --file FILE ...`` for a value a file set; None for a variable."""
    if not origin.startswith("/"):
        return None
    return shlex.join(["conda", "config", "--file", origin, *args])


def _conda(conda: CondaSettings) -> list[Finding]:
    findings = []
    anaconda = [c for c in conda.channels if _is_anaconda(c.value)]
    forge = [c for c in conda.channels if _is_conda_forge(c.value)]
    priority = conda.channel_priority
    if anaconda and forge:
        removed = anaconda[0]
        findings.append(
            CONFIG_CONDA_CHANNELS_MIXED.finding(
                f"conda's channels mix Anaconda's {', '.join(c.value for c in anaconda)} with "
                f"{', '.join(c.value for c in forge)}: packages of both land in one "
                "environment, built against different C/C++ runtimes (libstdc++, openssl), "
                "and break each other.",
                evidence={
                    "channels": [f"{c.value} ({c.origin})" for c in conda.channels],
                    "channel_priority": f"{priority.value} ({priority.origin})"
                    if priority
                    else "flexible (conda's default)",
                },
                fix=Fix(
                    _conda_fix(removed.origin, "--remove", "channels", removed.value),
                    "Use one of them for an environment (conda-forge's advice: channels "
                    "[conda-forge] and channel_priority strict); "
                    f"{removed.value} is set {_where(removed.origin)}.",
                ),
            )
        )
    if priority is not None and priority.value.strip().lower() == "disabled":
        findings.append(
            CONFIG_CONDA_PRIORITY_DISABLED.finding(
                f"conda's channel_priority is disabled (set {_where(priority.origin)}): the "
                "solver takes the highest version of each package from any channel, so one "
                "environment gets packages of several channels.",
                evidence={
                    "channel_priority": f"{priority.value} ({priority.origin})",
                    "channels": [f"{c.value} ({c.origin})" for c in conda.channels],
                },
                fix=Fix(
                    _conda_fix(priority.origin, "--set", "channel_priority", "strict"),
                    "Set channel_priority to strict (or flexible): a package then comes from "
                    "the first channel that has it.",
                ),
            )
        )
    return findings


# --- certificate bundles ------------------------------------------------------------------


def _ca_bundles(facts: ConfigFacts, conda: CondaSettings) -> list[Finding]:
    named: list[Located] = [Located(v, k) for k, v in facts.ca_environ.items()]
    if conda.ssl_verify is not None and is_path(conda.ssl_verify.value):
        named.append(conda.ssl_verify)
    findings = []
    for item in named:
        if facts.paths.get(item.value, True):
            continue
        setting = "conda's ssl_verify" if item is conda.ssl_verify else item.origin
        findings.append(
            CONFIG_CA_BUNDLE_MISSING.finding(
                f"{setting} names the CA bundle {item.value}, which does not exist "
                f"({_where(item.origin)}): every HTTPS request that reads it ("
                + ("conda's" if item is conda.ssl_verify else "pip's, requests', conda's")
                + ") fails with an SSL error.",
                path=item.value,
                evidence={"setting": setting, "set": item.origin, "path": item.value},
                fix=Fix(
                    _conda_fix(item.origin, "--set", "ssl_verify", "true")
                    if item is conda.ssl_verify
                    else None,
                    "Point it at an existing bundle (the system's: "
                    "/etc/ssl/certs/ca-certificates.crt on Debian and Ubuntu), or remove it "
                    "(unset it where your shell profile sets it).",
                ),
            )
        )
    return findings
