"""Requirements from the command line and from requirements files, read as pip reads them
(``pip/_internal/req/req_file.py``): ``\\`` continues a line, `` #`` starts a comment,
``${VAR}`` expands, ``-r`` nests (relative to the including file), ``-c`` adds constraints,
and option lines (``-i``, ``--extra-index-url``, ``-f``, ``--no-index``, ``--pre``,
``--prefer-binary``, ``--only-binary``, ``--no-binary``, ``--trusted-host``) change the
sources for the whole run. ``--hash`` and other per-requirement options are accepted and
ignored.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from pkgdoctor._fields import Fact, FieldRepr, fact
from pkgdoctor.errors import UsageError
from pkgdoctor.files import NotRegularFile, read_regular
from pkgdoctor.wheels.config import PipSettings, apply_requirements_options

_COMMENT = re.compile(r"(^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_ARCHIVES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")
_MAX_DEPTH = 20
#: A requirements file of a real project is kilobytes (pip's own test data stays under
#: 1 MiB); /dev/zero or a runaway generator is not one.
REQUIREMENTS_LIMIT = 16 << 20


@fact
class RequirementLine(Fact):
    """One requirement to answer for: a PEP 508 requirement, or a direct reference."""

    text: str  # as written, without options and comments
    origin: str  # "command line" or "requirements.txt:12"
    requirement: Requirement | None = None
    url: str | None = None  # ``name @ url``, a bare URL or a local path
    editable: bool = False
    error: str | None = None  # why the line is not a requirement pkgdoctor can read

    @property
    def name(self) -> str | None:
        return canonicalize_name(self.requirement.name) if self.requirement else None


@dataclass(repr=False)
class Requirements(FieldRepr):
    lines: list[RequirementLine] = field(default_factory=list)
    constraints: dict[str, SpecifierSet] = field(default_factory=dict)


def parse_requirement(text: str, origin: str, *, editable: bool = False) -> RequirementLine:
    """A requirement as written on the command line or in a file."""
    text = text.strip()
    if editable or _URL.match(text) or _looks_like_path(text):
        return RequirementLine(text, origin, url=text, editable=editable)
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        return RequirementLine(text, origin, error=f"not a valid requirement: {exc}")
    return RequirementLine(text, origin, requirement, url=requirement.url)


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or (os.sep in text and text.lower().endswith(_ARCHIVES))


def read_requirements_file(
    path: str,
    settings: PipSettings,
    environ: Mapping[str, str] | None = None,
) -> Requirements:
    """Every requirement of ``path`` (and the files it includes); option lines are applied
    to ``settings`` as pip applies them to its finder."""
    reader = _Reader(settings, dict(os.environ if environ is None else environ))
    reader.read(path, 0, constraints=False)
    return reader.result


@dataclass(repr=False)
class _Reader(FieldRepr):
    settings: PipSettings
    environ: dict[str, str]
    result: Requirements = field(default_factory=Requirements)

    def read(self, path: str, depth: int, *, constraints: bool) -> None:
        if depth > _MAX_DEPTH:
            raise UsageError(f"{path}: requirements files include each other too deeply")
        try:
            raw = read_regular(path, REQUIREMENTS_LIMIT + 1)
            if len(raw) > REQUIREMENTS_LIMIT:
                raise UsageError(
                    f"requirements file {path} is larger than {REQUIREMENTS_LIMIT >> 20} MiB"
                )
            text = raw.decode("utf-8")
        except FileNotFoundError as exc:
            raise UsageError(f"no such requirements file: {path}") from exc
        except NotRegularFile as exc:
            raise UsageError(f"requirements file {path} is not a regular file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read requirements file {path}: {exc}") from exc
        here = os.path.dirname(os.path.abspath(path))
        for number, line in _logical_lines(text):
            origin = f"{path}:{number}"
            line = _ENV_VAR.sub(lambda m: self.environ.get(m[1], m[0]), line)
            args, options = _split_options(line)
            try:
                tokens = shlex.split(options)
            except ValueError as exc:
                raise UsageError(f"{origin}: cannot parse options: {exc}") from exc
            if args:
                list(_option_pairs(tokens, origin))  # --hash, -C: accepted, not needed
                self._requirement(parse_requirement(args, origin), constraints)
            else:
                self._options(tokens, origin, here, depth, constraints)

    def _requirement(self, line: RequirementLine, constraints: bool) -> None:
        if not constraints:
            self.result.lines.append(line)
        elif line.requirement is not None and line.url is None:
            name = canonicalize_name(line.requirement.name)
            known = self.result.constraints.get(name, SpecifierSet())
            self.result.constraints[name] = known & line.requirement.specifier

    def _options(
        self, tokens: list[str], origin: str, here: str, depth: int, constraints: bool
    ) -> None:
        values: dict[str, list[str]] = {}
        flags: set[str] = set()
        for name, value in _option_pairs(tokens, origin):
            if value is None:
                flags.add(name)
            else:
                values.setdefault(name, []).append(value)
        for nested in values.get("requirement", []):
            self.read(_relative(nested, here), depth + 1, constraints=constraints)
        for nested in values.get("constraint", []):
            self.read(_relative(nested, here), depth + 1, constraints=True)
        for editable in values.get("editable", []):
            if not constraints:
                self.result.lines.append(parse_requirement(editable, origin, editable=True))
        find_links = values.get("find-links", [])[:1]  # pip takes the first of a line
        if find_links and os.path.exists(os.path.join(here, find_links[0])):
            find_links = [os.path.join(here, find_links[0])]
        index_urls = values.get("index-url", [])
        apply_requirements_options(
            self.settings,
            origin=origin,
            index_url=index_urls[-1] if index_urls else None,
            extra_index_urls=values.get("extra-index-url", []),
            find_links=find_links,
            no_index="no-index" in flags,
            pre="pre" in flags,
            prefer_binary="prefer-binary" in flags,
            only_binary=values.get("only-binary", []),
            no_binary=values.get("no-binary", []),
            trusted_hosts=values.get("trusted-host", []),
        )


_WITH_VALUE = {
    "-r": "requirement",
    "--requirement": "requirement",
    "-c": "constraint",
    "--constraint": "constraint",
    "-e": "editable",
    "--editable": "editable",
    "-i": "index-url",
    "--index-url": "index-url",
    "--extra-index-url": "extra-index-url",
    "-f": "find-links",
    "--find-links": "find-links",
    "--only-binary": "only-binary",
    "--no-binary": "no-binary",
    "--trusted-host": "trusted-host",
    "--hash": "hash",
    "--config-settings": "config-settings",
    "-C": "config-settings",
    "--use-feature": "use-feature",
    "--all-releases": "all-releases",
    "--only-final": "only-final",
}
_FLAGS = {
    "--no-index": "no-index",
    "--pre": "pre",
    "--prefer-binary": "prefer-binary",
    "--require-hashes": "require-hashes",
    "--no-require-hashes": "no-require-hashes",
}


def _option_pairs(tokens: list[str], origin: str) -> Iterator[tuple[str, str | None]]:
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        name, equals, value = token.partition("=")
        if name in _FLAGS:
            yield _FLAGS[name], None
        elif name in _WITH_VALUE:
            if not equals:
                if name.startswith("-") and not name.startswith("--") and len(token) > 2:
                    value = token[2:]  # -rfile.txt
                elif index < len(tokens):
                    value = tokens[index]
                    index += 1
                else:
                    raise UsageError(f"{origin}: {name} needs a value")
            yield _WITH_VALUE[name], value
        elif token[:2] in _WITH_VALUE and len(token) > 2:
            yield _WITH_VALUE[token[:2]], token[2:]
        else:
            raise UsageError(f"{origin}: pip does not know the option {token!r}")


def _relative(path: str, here: str) -> str:
    if _URL.match(path):
        raise UsageError(f"{path}: requirements files from URLs are not supported")
    return path if os.path.isabs(path) else os.path.join(here, path)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) with continuations joined and comments removed."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\") and not _COMMENT.match(raw):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        line = _COMMENT.sub("", "".join(pending)).strip()
        pending = []
        if line:
            yield start, line
    if pending:
        line = _COMMENT.sub("", "".join(pending)).strip()
        if line:
            yield start, line


def _split_options(line: str) -> tuple[str, str]:
    """pip's ``break_args_options``: the requirement is everything before the first word
    that starts with ``-``."""
    tokens = line.split(" ")
    args: list[str] = []
    for position, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(args), " ".join(tokens[position:])
        args.append(token)
    return " ".join(args), ""
