"""``pkgdoctor report``: one block to paste into a bug report, like PyTorch's
``torch.utils.collect_env``, but with verdicts: the interpreter, the C library, the
variables that matter, the distributions that matter and the findings, redacted.

Plain text (one fenced block, so that it pastes into an issue as it is) or GitHub-flavoured
Markdown (a fenced block per section, the long lists folded in ``<details>``). Every value
from outside sits inside a fenced code block, whose fence is longer than any run of
backticks in it: nothing a file name says (backticks, ``<details>``, ``@mention``, ``#1``)
can become markup. Only the constant headings and counts are Markdown. Every line passes
through the :class:`~pkgdoctor.redact.Redactor` and then :func:`terminal_text`, in one place
(:func:`_block`), so no value can skip either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pkgdoctor import __version__
from pkgdoctor.findings import Finding, Severity, summarize
from pkgdoctor.redact import Redactor
from pkgdoctor.render import terminal_text
from pkgdoctor.render.text import finding_lines, to_plain
from pkgdoctor.snapshot.model import Distribution, Snapshot, normalize
from pkgdoctor.words import plural

#: At most this many distributions are listed; the count of the others is said.
MAX_DISTRIBUTIONS = 40

REDACTION_NOTE = (
    "Redacted: your home directory is shown as ~, other home directories as /home/<user>, "
    "your login name as <user>, passwords and tokens in URLs as ***."
)
# The same in Markdown: what looks like a tag is a code span, never HTML.
_REDACTION_MARKDOWN = (
    "Redacted: your home directory is shown as `~`, other home directories as "
    "`/home/<user>`, your login name as `<user>`, passwords and tokens in URLs as `***`."
)


def render_report(
    snapshot: Snapshot,
    findings: Sequence[Finding],
    *,
    command_line: str,
    redactor: Redactor,
    tags: int | None = None,
    recorded: str | None = None,
    markdown: bool = False,
) -> str:
    """The report as text: plain (one fenced block) or, with ``markdown``, GitHub Markdown.

    ``findings`` worst first (as :func:`~pkgdoctor.findings.sort_findings` orders them);
    ``tags``: how many wheel tags the target accepts (None when unknown); ``recorded``:
    "FILE, taken TIME" for a report judged from a snapshot.
    """
    environment = _environment(snapshot, command_line, tags, recorded)
    found = _findings(findings)
    chosen, total = distributions_that_matter(snapshot, findings)
    dists = _distributions(snapshot, chosen, total)
    path = _sys_path(snapshot)
    variables = _variables(snapshot)
    counts = _counts(findings)
    conda = _conda(snapshot)
    gpu = _gpu(snapshot)
    if not markdown:
        lines = [
            f"pkgdoctor report: {counts}",
            REDACTION_NOTE,
            "",
            *environment,
            "",
            *(["Conda environment:", *conda, ""] if conda else []),
            *(["GPU:", *gpu, ""] if gpu else []),
            *found,
            "",
            f"Distributions that matter ({len(chosen)} of {total}):",
            *dists,
            "",
            f"Environment variables ({len(snapshot.target.environ)}):",
            *variables,
            "",
            f"sys.path ({len(path)}):",
            *path,
        ]
        return _block(lines, redactor)
    parts = [
        f"### pkgdoctor report: {counts}\n\n",
        f"<sub>{_REDACTION_MARKDOWN}</sub>\n\n",
        "#### Environment\n\n",
        _block(environment, redactor),
        *(["\n#### Conda environment\n\n", _block(conda, redactor)] if conda else []),
        *(["\n#### GPU\n\n", _block(gpu, redactor)] if gpu else []),
        "\n#### Findings\n\n",
        _block(found, redactor),
        _details(f"Distributions that matter ({len(chosen)} of {total})", dists, redactor),
        _details(f"Environment variables ({len(snapshot.target.environ)})", variables, redactor),
        _details(f"sys.path ({len(path)})", path, redactor),
    ]
    return "".join(parts)


def _block(lines: Sequence[str], redactor: Redactor) -> str:
    """``lines`` as one fenced code block: each redacted, then escaped for the terminal; the
    fence longer than any run of backticks inside (CommonMark 4.5: a fence closes only on a
    line of at least as many), so no line can close it."""
    text = [terminal_text(redactor.text(line)) for line in lines]
    runs = [len(m[0]) for line in text for m in re.finditer(r"`+", line)]
    fence = "`" * max(3, *(n + 1 for n in runs)) if runs else "```"
    return "\n".join([fence + "text", *text, fence]) + "\n"


def _details(summary: str, lines: Sequence[str], redactor: Redactor) -> str:
    """A folded section (GitHub renders ``<details>``); ``summary`` is pkgdoctor's own
    words and counts. Blank lines around the block let Markdown parse inside the HTML."""
    body = _block(lines or ["(none)"], redactor)
    return f"\n<details><summary>{summary}</summary>\n\n{body}\n</details>\n"


def _counts(findings: Sequence[Finding]) -> str:
    counts = summarize(findings)
    return (
        f"{plural(counts['error'], 'error')}, {plural(counts['warning'], 'warning')}, "
        f"{plural(counts['info'], 'note')}"
    )


# --- the sections --------------------------------------------------------------------------


def _environment(
    snapshot: Snapshot, command_line: str, tags: int | None, recorded: str | None
) -> list[str]:
    target = snapshot.target
    interp = target.interpreter
    markers = target.markers
    rows: list[tuple[str, str]] = [
        ("pkgdoctor", __version__),
        ("command", command_line),
    ]
    mode = "live" if target.mode == "live" else f"static: {target.static_reason}"
    if recorded:
        mode += f"; recorded in {recorded}"
    rows.append(("target", f"{target.prefix}  ({mode})"))
    release = snapshot.os_release or {}
    distro = release.get("PRETTY_NAME") or " ".join(
        v for v in (release.get("NAME"), release.get("VERSION")) if v
    )
    system = " ".join(
        v for v in (markers.get("platform_system"), markers.get("platform_release")) if v
    )
    machine = markers.get("platform_machine") or interp.architecture
    if distro or system or machine:
        rows.append(("os", " · ".join(v for v in (distro, system, machine) if v)))
    if markers.get("platform_version"):
        rows.append(("kernel", markers["platform_version"]))
    python = f"{_impl(interp.implementation)} {'.'.join(map(str, interp.version))}"
    flags = [w for w, on in (("free-threaded", interp.gil_disabled), ("debug", interp.debug)) if on]
    if flags:
        python += f" ({', '.join(flags)})"
    rows.append(("python", python))
    executable = interp.executable or "(unknown)"
    if interp.real_executable and interp.real_executable != interp.executable:
        executable += f" -> {interp.real_executable}"
    rows.append(("executable", executable))
    abi = [f"EXT_SUFFIX {interp.ext_suffix or '(none)'}"]
    if interp.soabi:
        abi.append(f"SOABI {interp.soabi}")
    if interp.multiarch:
        abi.append(f"triplet {interp.multiarch}")
    rows.append(("abi", " · ".join(abi)))
    if tags is not None:
        rows.append(("wheel tags", f"{tags} accepted"))
    arch = interp.architecture or "unknown architecture"
    if interp.binary and interp.binary.elf_class == 32:
        arch += " (32-bit)"
    libc = str(interp.libc) if interp.libc else "unknown"
    loader = interp.binary.interpreter if interp.binary else None
    rows.append(("libc", libc + (f" · loader {loader}" if loader else "")))
    rows.append(("architecture", arch))
    rows.append(("environment", _kind(snapshot)))
    if target.user_site and target.user_site_enabled and not target.no_user_site:
        rows.append(("user site", f"{target.user_site} (enabled)"))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def _kind(snapshot: Snapshot) -> str:
    """venv / conda / system, with what matters of each; PEP 668's marker."""
    target, paths = snapshot.target, snapshot.paths
    if snapshot.venv is not None or target.is_venv:
        cfg = snapshot.venv.cfg if snapshot.venv else {}
        words = [f"venv (base {target.base_prefix}"]
        if cfg.get("include-system-site-packages", "").lower() == "true":
            words.append("system site-packages included")
        if "uv" in cfg:
            words.append(f"made by uv {cfg['uv']}")
        elif "virtualenv" in cfg:
            words.append(f"made by virtualenv {cfg['virtualenv']}")
        kind = ", ".join(words) + ")"
    elif paths.conda:
        kind = "conda environment"
    else:
        kind = "system (no venv, no conda)"
    if paths.externally_managed is not None:
        kind += "; externally managed (PEP 668)"
    return kind


#: At most this many distributions that pip put over a conda environment are named.
MAX_PIP_NAMED = 10


def _conda(snapshot: Snapshot) -> list[str]:
    """How many conda packages, from which channels, and what pip (or uv) put on top: what
    a maintainer asks first about a conda environment. Empty for anything else."""
    from pkgdoctor.conda_owners import conda_owners, metadata_dirs

    owners = conda_owners(snapshot)
    if owners is None or snapshot.conda is None:
        return []
    records = snapshot.conda.records
    # A package "with Python distributions" lists a metadata directory (numpy, pip); python
    # itself, libblas, compilers do not.
    others = [r.name for r in records if not metadata_dirs(r)]
    channels: dict[str, int] = {}
    for record in records:
        name = record.channel_name or "(unknown)"
        channels[name] = channels.get(name, 0) + 1
    rows = [
        (
            "packages",
            f"{len(records)} ({len(records) - len(others)} with Python distributions, "
            f"{len(others)} without)",
        ),
        (
            "channels",
            ", ".join(f"{c} ({n})" for c, n in sorted(channels.items(), key=lambda x: -x[1]))
            or "(none recorded)",
        ),
    ]
    used = {id(d) for d in snapshot.inventory.distributions}
    used -= {id(d) for d in owners.outside}  # the user site is its own line of the report
    on_top = [d for d in owners.pip if id(d) in used]
    if on_top:
        replaced = {d.key: r for r, d in owners.replaced} | {d.key: r for r, d in owners.both}
        named = []
        for dist in sorted(on_top, key=lambda d: d.key)[:MAX_PIP_NAMED]:
            by = dist.installer or "unknown installer"
            over = replaced.get(dist.key)
            also = f", over conda's {over.version}" if over is not None else ""
            named.append(f"{dist} ({by}{also})")
        more = len(on_top) - len(named)
        text = ", ".join(named) + (f" and {more} more" if more else "")
        rows.append(("pip on top", f"{len(on_top)}: {text}"))
    else:
        rows.append(("pip on top", "none: every distribution is a conda package's"))
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


#: At most this many devices and frameworks are listed.
MAX_GPU_ROWS = 8


def _gpu(snapshot: Snapshot) -> list[str]:
    """What ``torch.utils.collect_env`` is asked for, from the facts: the driver, the CUDA it
    supports, the devices, the device files and libcuda.so.1, the visibility variables, and
    what each framework was built for. Empty when there is neither a driver nor a GPU build."""
    gpu = snapshot.gpu
    builds = [b for b in snapshot.frameworks or () if b.gpu_build is not None]
    driver = gpu is not None and bool(gpu.driver_version or gpu.devices or gpu.device_nodes)
    if not driver and not builds:
        return []
    rows: list[tuple[str, str]] = []
    if gpu is None:
        rows.append(("driver", "not known (a tree that is not this machine's)"))
    elif not driver:
        rows.append(("driver", "none (no /sys/module/nvidia, /proc/driver/nvidia, /dev/nvidia*)"))
    else:
        cuda = f" (CUDA {gpu.cuda_driver_version})" if gpu.cuda_driver_version else ""
        rows.append(("driver", f"{gpu.driver_version or 'unknown version'}{cuda} · {gpu.source}"))
        names: dict[str, int] = {}
        for device in gpu.devices:
            cap = f" ({device.compute_capability})" if device.compute_capability else ""
            label = f"{device.name or 'GPU'}{cap}"
            names[label] = names.get(label, 0) + 1
        devices = [f"{c} {n}" if c > 1 else n for n, c in list(names.items())[:MAX_GPU_ROWS]]
        rows.append(("devices", ", ".join(devices) or "none listed"))
        rows.append(("device files", ", ".join(gpu.device_nodes[:MAX_GPU_ROWS]) or "none"))
    if gpu is not None:
        rows.append(("libcuda.so.1", gpu.libcuda or "not in ld.so.cache"))
        for name, value in gpu.visible.items():
            rows.append((name, repr(value)))
        if gpu.container:
            rows.append(("container", gpu.container))
    for build in builds[:MAX_GPU_ROWS]:
        if build.cuda:
            what = f"CUDA {build.cuda}"
        elif build.hip:
            what = f"ROCm {build.hip}"
        else:
            what = "CPU only" if build.gpu_build is False else "GPU build"
        archs = " ".join((*build.architectures, *build.ptx))
        rows.append(
            (build.distribution, f"{build.version} · {what}" + (f" · {archs}" if archs else ""))
        )
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def _impl(name: str) -> str:
    return {"cpython": "CPython", "pypy": "PyPy"}.get(name, name)


def _findings(findings: Sequence[Finding]) -> list[str]:
    if not findings:
        return ["Findings: none. No problems found."]
    lines = [f"Findings ({_counts(findings)}), worst first:"]
    for finding in findings:
        if finding.severity is Severity.INFO:
            # A note in one line: the notes are the usual hooks and markers, not the bug.
            lines.append(f"    i {finding.message}  [{finding.code}]")
        else:
            lines += to_plain(finding_lines(finding)).splitlines()
    lines.append("(pkgdoctor check --json has every finding with all its evidence.)")
    return lines


def distributions_that_matter(
    snapshot: Snapshot, findings: Iterable[Finding]
) -> tuple[list[Distribution], int]:
    """The distributions a bug report needs, and how many are installed.

    The rule, with no list of names: those a finding names, those with extension modules on
    ``sys.path`` (compiled for one machine, where most breakage lives: numpy, torch, ...),
    those installed from a platform-specific wheel (a wheel tag that is not ``-any``, e.g.
    a library wheel that bundles ``.so`` files but no module), and the installers that
    installed the others, where they are installed here themselves (pip's version matters
    to a resolver's bug). The ones findings name first, then by name. The report lists at
    most :data:`MAX_DISTRIBUTIONS` of them.
    """
    inventory = snapshot.inventory
    named = {normalize(f.distribution) for f in findings if f.distribution}
    compiled: set[str] = set()
    for module in snapshot.extensions.modules:
        owner = inventory.owner(module.file.path)
        if owner is not None:
            compiled.add(owner.key)
    installers = {normalize(d.installer) for d in inventory.distributions if d.installer}
    chosen = [
        d
        for d in inventory.distributions
        if d.key in named
        or d.key in compiled
        or d.key in installers
        or any(not t.endswith("-any") for t in d.wheel_tags)
    ]
    chosen.sort(key=lambda d: (d.key not in named, d.key))
    return chosen, len(inventory.distributions)


def _distributions(snapshot: Snapshot, chosen: Sequence[Distribution], total: int) -> list[str]:
    if not chosen:
        return ["(none: no finding names one, none has extension modules)"]
    listed = chosen[:MAX_DISTRIBUTIONS]
    rows = [
        (d.name, d.version or "(no version)", d.installer or "(unknown installer)", _source(d))
        for d in listed
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        f"{name:<{widths[0]}}  {version:<{widths[1]}}  {installer:<{widths[2]}}  {source}".rstrip()
        for name, version, installer, source in rows
    ]
    if len(chosen) > len(listed):
        lines.append(f"(and {len(chosen) - len(listed)} more of these; pkgdoctor snapshot has all)")
    if total > len(chosen):
        lines.append(f"({plural(total - len(chosen), 'other distribution')} not listed)")
    return lines


def _source(dist: Distribution) -> str:
    """Where a distribution came from: its wheel's first tag (and how many more), an
    editable or direct URL install (PEP 610)."""
    words = []
    if dist.wheel_tags:
        more = f" (+{len(dist.wheel_tags) - 1})" if len(dist.wheel_tags) > 1 else ""
        words.append(dist.wheel_tags[0] + more)
    if dist.wheel_build:
        words.append(f"build {dist.wheel_build}")
    url = (dist.direct_url or {}).get("url")
    if dist.editable:
        words.append(f"editable {dist.direct_url_path or url}")
    elif isinstance(url, str):
        words.append(f"from {url}")
    return " · ".join(words)


def _variables(snapshot: Snapshot) -> list[str]:
    """The variables that change imports, the loader, pip and uv, as the probe reported them
    (a secret's value is never recorded)."""
    target = snapshot.target
    environ = target.environ
    if not environ:
        # Static mode reads only the loader's variables (nothing ran to see the rest).
        return [
            "(none set)"
            if target.mode == "live"
            else "(static mode reads only the loader's: none set)"
        ]
    return [f"{name}={environ[name]}" for name in sorted(environ)]


def _sys_path(snapshot: Snapshot) -> list[str]:
    entries = snapshot.paths.entries
    if entries:
        return [f"{e.path}  ({e.origin})" for e in entries]
    return list(snapshot.target.sys_path)
