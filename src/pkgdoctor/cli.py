"""The ``pkgdoctor`` command line. It only wires the pieces together; heavy imports wait
until the command that needs them runs (start-up time is part of the product)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NoReturn

from pkgdoctor import __version__
from pkgdoctor.errors import PkgdoctorError, UsageError

if TYPE_CHECKING:
    from pkgdoctor.cache import Cache
    from pkgdoctor.checks.context import Context
    from pkgdoctor.findings import Finding
    from pkgdoctor.look.gpu_probe import GpuProbe
    from pkgdoctor.look.imports import ImportOutcome
    from pkgdoctor.render import Report
    from pkgdoctor.snapshot.model import ExtensionFacts, Snapshot
    from pkgdoctor.target import Target

    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK, EXIT_FOUND, EXIT_FAILED = 0, 1, 2

_DESCRIPTION = """\
Find out why a Python environment is broken, with the evidence, and how to fix it.

The target is the environment you would get: $VIRTUAL_ENV, else $CONDA_PREFIX, else the
first python3 on PATH. Choose another with --python PY or --prefix DIR.
"""

_CHECK_EPILOG = """\
examples:
  pkgdoctor check                          the active venv / conda env / python3
  pkgdoctor check --python /usr/bin/python3.11
  pkgdoctor check --prefix ./copied-env    runs bin/python if it can, else reads files only
  pkgdoctor check --prefix ./env --static  never execute anything from the environment
  pkgdoctor check --json | jq '.findings[].code'
  pkgdoctor check --select ext- --fail-on warning
  pkgdoctor check --from env.json.gz       judge a snapshot (pkgdoctor snapshot -o FILE)
  pkgdoctor check --prefix ~/miniforge3/envs/ml --select conda-
                                           what conda's records and pip's disagree on
  pkgdoctor check --online                 also ask the configured indexes (extra-index-url)

live mode runs the target's start-up code (site, .pth files); --prefix DIR --static runs
nothing. In a conda environment, conda's records (conda-meta/) are joined with pip's; conda's
match specs are judged when py-rattler is installed beside pkgdoctor (pkgdoctor[conda]).
Configuration is the user's: pip.conf and .condarc files are read for every target, and each
finding names the file or variable that set the value.

exit status: 0 nothing at or above --fail-on, 1 something was found, 2 pkgdoctor could not
do its job (bad arguments, target not found).
"""

_WHY_EPILOG = """\
The module is imported, so its code runs, in a child process of the target interpreter
(no bytecode is written); the whole exception chain is read and the extension modules
involved are checked, so the real cause comes first, not the misleading outer message.
Everything 'check' finds about the module comes with it: its distribution and what that
requires, its files, and sys.path as seen from --cwd (default: here).

examples:
  pkgdoctor why numpy
  pkgdoctor why torch._C --python ~/envs/ml/bin/python
  pkgdoctor why mypkg --cwd ~/project      shadowing where you run Python
  pkgdoctor why numpy --from env.json.gz   no import: what the snapshot shows of numpy
  pkgdoctor why --gpu                      does torch (jax, cupy, ...) see a GPU, and why not
  pkgdoctor why torch --gpu --json         the import, torch's answer and the GPU findings

--gpu asks each installed framework in its own child of the target (torch.cuda.is_available()
and the CUDA initialization error, jax.devices(), cupy.cuda.runtime.getDeviceCount(),
tf.config.list_physical_devices('GPU'), onnxruntime.get_available_providers()), each within
--timeout, and puts one line first per framework: what it answered and the finding that
explains it ("torch 2.14.1+cu130 sees no GPU: no NVIDIA driver on this machine
[gpu-no-driver]"), or that none does. With --from nothing can be asked: the GPU findings only.
"""

_SNAPSHOT_EPILOG = """\
examples:
  pkgdoctor snapshot -o env.json.gz            the active venv / conda env / python3
  pkgdoctor snapshot --prefix ./env --redact -o report.json
  pkgdoctor check --from env.json.gz           the findings, judged from the snapshot
  pkgdoctor diff works.json.gz broken.json.gz  what differs that matters

exit status: 0 written, 2 the environment could not be looked at (or bad arguments).
"""

_DIFF_EPILOG = """\
Each side is a snapshot file (pkgdoctor snapshot -o FILE), an environment's directory
(like --prefix) or an interpreter (like --python: a path, or a name on PATH). What is
compared, most important first: the interpreter (architecture, version, ABI, C library;
and any distribution whose extension modules are built for another architecture), the
distributions (added, removed, version and local version such as +cu118, wheel platform,
build tag, source, installer), the files inside the same version (missing; other hashes;
other contents when both sides were taken with --deep), environment variables and sys.path,
then the findings of 'pkgdoctor check' that only one side has. Paths are compared relative
to each environment, so a moved or copied environment does not differ by its location.

examples:
  pkgdoctor diff works.json.gz broken.json.gz       two snapshots (from two machines)
  pkgdoctor diff ~/envs/ok ~/envs/broken            two environments, looked at now
  pkgdoctor diff works.json.gz .venv                what changed here since the snapshot
  pkgdoctor diff /usr/bin/python3.11 python3.12     two interpreters
  pkgdoctor diff a.json b.json --json | jq '.changes[0].summary'

exit status: 0 no difference that matters, 1 differences, 2 a side could not be read
(not a snapshot, a damaged file, not an environment) or bad arguments.
"""

_EXPORT_EPILOG = """\
formats:
  requirements     pip's requirements file, as pip freeze writes it: name==version, sorted;
                   name @ url for direct URL installs (vcs+url@commit for VCS); -e path for
                   editable installs; --extra-index-url for local versions whose index is
                   well known (torch==2.5.1+cu121: https://download.pytorch.org/whl/cu121);
                   pip, setuptools and wheel left out as pip freeze leaves them out.
  pylock           PEP 751 pylock.toml. The URL and hash of each file installed from an index
                   are looked up there (--index-url; PyPI by default); --no-index looks up
                   nothing. What cannot be locked is listed in a comment, never guessed.
  environment-yml  conda's environment.yml: python=X.Y, the packages conda installed, and a
                   pip: section with the pins.
A distribution with no known source (its local wheel is gone, no version) is a comment.

examples:
  pkgdoctor export > requirements.txt            the active venv / conda env / python3
  pkgdoctor export --prefix ./env --format pylock -o pylock.toml
  uv pip install --python ./new/bin/python -r pylock.toml
  pkgdoctor export --from env.json.gz --format environment-yml -o environment.yml
  pkgdoctor export --format pylock --index-url https://my.index/simple/

exit status: 0 written, 2 the environment could not be looked at (or bad arguments).
"""

_AUDIT_WHEEL_EPILOG = """\
For each wheel: the manylinux/musllinux tag its ELF files really satisfy (judged with
auditwheel's policy data: symbol versions such as GLIBC_2.28, the libraries it may expect
from the system, and those it must bring), which symbols and libraries decide it, and whether
the tags in its file name claim more (error) or less (note) than that; the architecture and
Python ABI of every extension module against the tags; RECORD hashes; METADATA and WHEEL;
trove classifiers. Wheels are read in place, never extracted; a damaged or unsafe archive
(path traversal, zip bomb, truncated) is refused.

examples:
  pkgdoctor audit-wheel dist/mypkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl
  pkgdoctor audit-wheel wheelhouse/             every *.whl in the directory
  pkgdoctor audit-wheel dist/*.whl --json | jq '.wheels[] | {wheel, overall_tag}'
  pkgdoctor audit-wheel dist/*.whl --ignore wheel-classifier- --fail-on warning

exit status: 0 nothing at or above --fail-on, 1 something was found, 2 a wheel could not be
read (not a wheel, damaged, unsafe) or bad arguments.
"""


def _target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target")
    group.add_argument(
        "--python",
        metavar="PY",
        help="examine this interpreter (a path, or a name looked up on PATH)",
    )
    group.add_argument(
        "--prefix",
        metavar="DIR",
        help="examine the environment rooted at DIR (a venv, conda env, or copied tree)",
    )
    group.add_argument(
        "--static",
        action="store_true",
        help="with --prefix: read files only, execute nothing (automatic when "
        "the interpreter cannot run on this machine)",
    )


def _timeout_option(parser: argparse.ArgumentParser, *, why: bool = False) -> None:
    from pkgdoctor.target.limits import IMPORT_TIMEOUT, PROBE_TIMEOUT

    """``--timeout``: how long the target interpreter may run (the user's .pth files and
    sitecustomize run in it first; ``why`` also runs the module's import code)."""
    if why:
        text = (
            f"stop each import after SECONDS, with every process it started, and fail (exit "
            f"status 2) (default: {IMPORT_TIMEOUT:g}; the probe before it: at most "
            f"{PROBE_TIMEOUT:g})"
        )
    else:
        text = (
            "stop the probe in the target interpreter after SECONDS, with every process it "
            f"started, and fail (exit status 2) (default: {PROBE_TIMEOUT:g})"
        )
    default = IMPORT_TIMEOUT if why else PROBE_TIMEOUT
    parser.add_argument("--timeout", metavar="SECONDS", type=_seconds, default=default, help=text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _output_options(parser: argparse.ArgumentParser, *, formats: bool = True) -> None:
    """--json and -v (with ``formats``), --fail-on, --select and --ignore."""
    group = parser.add_argument_group("output")
    if formats:
        group.add_argument(
            "--json",
            action="store_true",
            help="print one JSON document (schema_version 1) instead of the checklist",
        )
        group.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            help="show notes (info findings) in full; without it each area folds them into a line",
        )
    group.add_argument(
        "--fail-on",
        metavar="SEV",
        default="error",
        choices=("error", "warning", "info"),
        help="exit 1 when a finding at or above SEV is reported "
        "(error, warning, info; default: error)",
    )
    group.add_argument(
        "--select",
        metavar="CODES",
        action="append",
        default=[],
        help="report only these codes (comma-separated; 'ext-' selects a family)",
    )
    group.add_argument(
        "--ignore",
        metavar="CODES",
        action="append",
        default=[],
        help="do not report these codes (same syntax as --select)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its error escaped like all terminal text: it quotes the words of the
    command line as they are ("unrecognized arguments: ..."), file names from a glob among
    them. Subcommands' parsers are of the same class (``add_subparsers``' default)."""

    def error(self, message: str) -> NoReturn:
        from pkgdoctor.render import terminal_text

        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {terminal_text(message)}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``command`` (one of :data:`_COMMANDS`), only that
    command's options are built and the others are listed by name and help alone."""
    parser: argparse.ArgumentParser = _Parser(
        prog="pkgdoctor",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pkgdoctor {__version__}")
    parser.add_argument(
        "--list-checks",
        action="store_true",
        help="list every finding code with its area, severity and meaning",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="with --list-checks: one JSON document (code, area, severity, summary)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in _COMMANDS.items():
        if command in _COMMANDS and name != command:
            # Another command: listed with its help, never parsed (each command's options
            # take ~1 ms to build, paid by every run).
            sub.add_parser(name, help=_HELP[name])
        else:
            add(sub)
    return parser


def _add_check(sub: _Subparsers) -> None:
    check = sub.add_parser(
        "check",
        help=_HELP["check"],
        description="Check one environment: every finding, worst first, with evidence and fix.",
        epilog=_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target_options(check)
    check.add_argument(
        "--deep",
        action="store_true",
        help="also hash every file the RECORDs list (record-hash-mismatch), on every core",
    )
    check.add_argument(
        "--cwd",
        metavar="DIR",
        help="the directory you run Python from, for module shadowing (default: here)",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask the configured package indexes about the installed projects "
        "(config-extra-index-confusion: which names exist on several; unreachable "
        "mirrors); kept in the snapshot, so check --from replays it",
    )
    check.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use or update pkgdoctor's cache of parsed files (kept in "
        "$PKGDOCTOR_CACHE_DIR or ~/.cache/pkgdoctor, never in the target)",
    )
    check.add_argument(
        "--stdlib",
        action="store_true",
        help="also check the standard library's extension modules (lib-dynload)",
    )
    check.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="judge a snapshot taken earlier or elsewhere (pkgdoctor snapshot -o FILE) instead "
        "of looking at an environment; gives exactly the findings a check gave there",
    )
    check.add_argument("--list-checks", action="store_true", help=argparse.SUPPRESS)
    _timeout_option(check)
    _output_options(check)


def _add_snapshot(sub: _Subparsers) -> None:
    snapshot = sub.add_parser(
        "snapshot",
        help=_HELP["snapshot"],
        description=(
            "Look at one environment and write what pkgdoctor saw as one versioned JSON\n"
            "document (schema: pkgdoctor/schema/snapshot-v1.json): the interpreter, sys.path\n"
            "and where each entry came from, every distribution with its RECORD, WHEEL tags,\n"
            "installer and direct URL, every extension module with its ELF facts and the\n"
            "libraries the loader would map. Judge it later or on another machine with\n"
            "'pkgdoctor check --from FILE'; compare two with 'pkgdoctor diff A B'."
        ),
        epilog=_SNAPSHOT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target_options(snapshot)
    snapshot.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE (gzip-compressed when it ends in .gz; '-' for standard output)",
    )
    snapshot.add_argument(
        "--redact",
        action="store_true",
        help="write paths under your home directory as ~ (for a bug report)",
    )
    snapshot.add_argument(
        "--deep",
        action="store_true",
        help="also hash every file the RECORDs list, so that check --from can report "
        "record-hash-mismatch and diff can compare file contents",
    )
    snapshot.add_argument(
        "--cwd",
        metavar="DIR",
        help="the directory you run Python from, for module shadowing (default: here)",
    )
    snapshot.add_argument(
        "--stdlib",
        action="store_true",
        help="also record the standard library's extension modules (lib-dynload)",
    )
    snapshot.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use or update pkgdoctor's cache of parsed files",
    )
    _timeout_option(snapshot)


def _add_why(sub: _Subparsers) -> None:
    why = sub.add_parser(
        "why",
        help=_HELP["why"],
        description="Import MODULE in the target interpreter and explain the real cause;\n"
        "with --gpu, ask the GPU frameworks whether they see a GPU, and why not.",
        epilog=_WHY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    why.add_argument(
        "modules", nargs="*", metavar="MODULE", help="dotted module name(s); optional with --gpu"
    )
    _target_options(why)
    why.add_argument(
        "--gpu",
        action="store_true",
        help="ask each installed framework (torch, jax, cupy, tensorflow, onnxruntime; only "
        "those MODULE names, if it names one) whether it sees a GPU, and explain the answer "
        "with the GPU findings",
    )
    why.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="no import: judge MODULE's extension modules as a snapshot recorded them "
        "(pkgdoctor snapshot -o FILE), e.g. from a machine you cannot run code on",
    )
    why.add_argument(
        "--cwd",
        metavar="DIR",
        help="the directory you run Python from, for module shadowing (default: here)",
    )
    why.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use or update pkgdoctor's cache of parsed files",
    )
    why.set_defaults(deep=False, stdlib=False)
    _timeout_option(why, why=True)
    _output_options(why)


#: Each command's line in ``pkgdoctor --help``.
_HELP = {
    "check": "health check of one environment",
    "snapshot": "write every fact about an environment as one JSON document",
    "why": "import a module in the target and explain why it fails (--gpu: why no GPU)",
    "export": "write a file that recreates an environment (requirements, pylock, environment.yml)",
    "wheels": "which file pip would install on a target, or what a build needs",
    "audit-wheel": (
        "is a wheel what its name claims: manylinux/musllinux policy, ABI, RECORD, metadata"
    ),
    "diff": "what differs that matters between two environments or snapshots",
    "explain": "what a finding code means, its evidence and its fix",
    "report": "a redacted block of facts and findings to paste into a bug report",
    "cache": "pip's, uv's and conda's package caches: where, how big, what is reclaimable",
}


def _command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (no top-level option
    takes a value)."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def run() -> None:
    """The console script: ``main`` with fewer garbage collections, then leave without
    tearing down the heap.

    A check of a large environment leaves hundreds of thousands of objects behind; the
    interpreter's orderly teardown of them costs tens of milliseconds that nobody waits for.
    Output is flushed first; nothing else needs cleaning up (``main`` closes what it opens).
    """
    # A run builds hundreds of thousands of objects that live until it ends and form almost
    # no reference cycles; at the default thresholds the cycle collector walks them again
    # and again (~8 ms of a warm check of 239 distributions). It stays on, less often.
    import gc

    gc.set_threshold(100_000, 50, 100)
    _end_on_signals()
    try:
        status = main(parallel=True)
    except KeyboardInterrupt as exc:  # outside main's own handler (parsing the options)
        status = _interrupted(exc)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        status = status or EXIT_FAILED
    os._exit(status)


def main(argv: Sequence[str] | None = None, *, parallel: bool = False) -> int:
    """Run the command line ``argv``; ``parallel`` lets ``check`` use a second process
    (the console script does; a host process that embeds pkgdoctor should not fork)."""
    words = sys.argv[1:] if argv is None else argv
    command = _command_word(words)
    parser = build_parser(command)
    if command is not None and command not in _COMMANDS:
        parser.error(f"unknown command {command!r}{_did_you_mean(command, _COMMANDS)}")
    args, extras = parser.parse_known_args(words)
    if extras:
        _unrecognized(parser, getattr(args, "command", None), extras)
    try:
        if args.list_checks:
            return _list_checks(as_json=args.json)
        if args.command is None:
            parser.print_help()
            return EXIT_FAILED
        if args.command == "check":
            return _check(args, parallel=parallel)
        if args.command == "snapshot":
            return _snapshot(args, parallel=parallel)
        if args.command == "wheels":
            return _wheels(args)
        if args.command == "audit-wheel":
            return _audit_wheel(args)
        if args.command == "diff":
            return _diff(args)
        if args.command == "export":
            return _export(args)
        if args.command == "explain":
            return _explain(args)
        if args.command == "report":
            return _report(args, words, parallel=parallel)
        if args.command == "cache":
            return _cache(args)
        return _why(args)
    except PkgdoctorError as exc:
        _say_error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


class Interrupted(KeyboardInterrupt):
    """A signal that ends the run (SIGINT, SIGTERM, SIGHUP), raised as KeyboardInterrupt so
    that every ``finally`` and ``except BaseException`` that stops a child runs for it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _end_on_signals() -> None:
    """The console script ends on SIGINT (Ctrl-C), SIGTERM (``kill``, a supervisor) and
    SIGHUP (the terminal went away) alike: it stops every process it started and exits with
    128 + the signal number (the shell's convention: 130, 143, 129). Without this, SIGTERM
    and SIGHUP would end pkgdoctor at once and leave its children (the target's probe, in a
    session of its own, never sees the terminal's signals) running.

    Only the first signal raises: cleaning up takes a bounded time (process.KILL_GRACE), and
    a second Ctrl-C inside a ``finally`` would cut the cleanup short. A signal that is
    ignored (``nohup``, a background job) stays ignored. An embedding host (``main``) keeps
    its own handlers; Python's turns SIGINT into KeyboardInterrupt there.
    """
    import signal

    ending = [getattr(signal, name) for name in _ENDING_SIGNALS if hasattr(signal, name)]

    def ended(signum: int, frame: object) -> None:
        for other in ending:
            signal.signal(other, signal.SIG_IGN)
        raise Interrupted(signum)

    for signum in ending:
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(signum, ended)


_ENDING_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def _interrupted(exc: KeyboardInterrupt) -> int:
    """Say so in one line and give the exit status: 128 + the signal number."""
    import signal

    # A child started an instant before the signal, not yet in the hands of a ``finally``
    # (none when the module was never imported).
    process = sys.modules.get("pkgdoctor.target.process")
    if process is not None:
        process.stop_all()
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
        print("pkgdoctor: interrupted", file=sys.stderr)  # constant: nothing to escape
    return 128 + signum


def _unrecognized(
    parser: argparse.ArgumentParser, command: str | None, extras: list[str]
) -> NoReturn:
    """argparse's "unrecognized arguments", from the command's own parser (so its usage is
    shown) and with the closest of its options for the first unknown one."""
    for action in parser._actions:  # the one public way in to a built subparser
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            parser = action.choices[command]
    options = [o for action in parser._actions for o in action.option_strings]
    first = next((e for e in extras if e.startswith("-")), "")
    hint = _did_you_mean(first.partition("=")[0], options) if first else ""
    parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``choices``, or nothing."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _list_checks(*, as_json: bool = False) -> int:
    from pkgdoctor.codes import all_codes

    if as_json:
        import json

        document = {
            "schema_version": 1,
            "checks": [
                {
                    "code": c.code,
                    "area": c.area,
                    "severity": c.severity.label,
                    "summary": c.summary,
                }
                for c in all_codes()
            ],
        }
        _write(json.dumps(document, indent=2) + "\n")
        return EXIT_OK

    _write(
        "".join(
            f"{check.code:34} {check.severity.label:8} {check.area:18} {check.summary}\n"
            for check in all_codes()
        )
    )
    return EXIT_OK


# --- the one way out to the terminal ---------------------------------------------------------
# Everything a command writes as text passes through pkgdoctor.render.terminal_text: names,
# paths, URLs, build backends and servers' replies come from outside, and a control character
# among them (ESC ] 0 ; ... BEL sets the terminal's title) must not reach the terminal raw.


def _say(message: str) -> None:
    """``pkgdoctor: message`` on standard error, as one escaped line (messages name files,
    URLs and what servers replied)."""
    from pkgdoctor.render import terminal_text

    print(f"pkgdoctor: {terminal_text(message)}", file=sys.stderr)


def _say_error(message: str) -> None:
    """``pkgdoctor: error: FIRST LINE``, then any further lines of ``message`` (what a
    launcher printed, quoted whole) indented below it, each escaped."""
    from pkgdoctor.render import terminal_text

    first, *rest = message.split("\n")
    _say(f"error: {first}")
    for line in rest:
        print(f"  {terminal_text(line)}".rstrip(), file=sys.stderr)


def _write(text: str) -> None:
    """Text of several lines on standard output, each line escaped; the newlines stay."""
    from pkgdoctor.render import terminal_text

    sys.stdout.write("\n".join(terminal_text(line) for line in text.split("\n")))


def _print_lines(
    lines: list[list[tuple[str, str]]], to_plain: Callable[[list[list[tuple[str, str]]]], str]
) -> None:
    """Styled lines in colour on a terminal (never with NO_COLOR), plain text elsewhere;
    every span escaped (the renderers escape too, where widths depend on it)."""
    from pkgdoctor.render import terminal_lines

    lines = terminal_lines(lines)
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb":
        from rich.console import Console
        from rich.text import Text

        console = Console(highlight=False, soft_wrap=True)
        for line in lines:
            console.print(Text.assemble(*line))
    else:
        sys.stdout.write(to_plain(lines))


def _codes(values: Sequence[str]) -> list[str]:
    if not values:
        return []
    from pkgdoctor.codes import all_codes

    known = [c.code for c in all_codes()]
    selected: list[str] = []
    for value in values:
        for item in filter(None, (v.strip() for v in value.split(","))):
            matches = [c for c in known if c == item or (item.endswith("-") and c.startswith(item))]
            if not matches:
                raise UsageError(
                    f"unknown finding code {item!r}{_did_you_mean(item, known)} "
                    "(see pkgdoctor --list-checks)"
                )
            selected += matches
    return selected


def _wanted(args: argparse.Namespace) -> Callable[[str], bool]:
    """Whether a finding code is reported, by --select and --ignore."""
    select = set(_codes(args.select))
    ignore = set(_codes(args.ignore))
    return lambda code: (not select or code in select) and code not in ignore


def _filter(findings: Sequence[Finding], args: argparse.Namespace) -> list[Finding]:
    wanted = _wanted(args)
    return [f for f in findings if wanted(f.code)]


def _check(args: argparse.Namespace, *, parallel: bool = False) -> int:
    snapshot, findings, ctx = _judge(args, progress=not args.json, parallel=parallel)
    # Imported after: the probe starts first (_look_while_importing).
    from pkgdoctor.codes import AREAS
    from pkgdoctor.render import Report

    # conda's area only for a conda environment (its family counts the records it examined);
    # caches are `pkgdoctor cache`'s; configuration is the user's, not the environment's: its
    # area shows only when it has a finding, like Imports.
    hidden = ("Imports", "GPU", "Configuration", "Wheels", "Caches")
    areas = tuple(a for a in AREAS if a not in hidden and (a != "conda" or a in ctx.examined))
    report = Report(
        "check",
        snapshot.target,
        findings,
        areas=areas,
        examined=ctx.examined,
        recorded=_recorded(args, snapshot),
    )
    return _finish(report, args)


def _judge(
    args: argparse.Namespace, *, progress: bool, parallel: bool = False
) -> tuple[Snapshot, list[Finding], Context]:
    """What ``check`` and ``report`` share: the snapshot (taken now, or read with --from)
    and its findings by --select/--ignore, worst first."""
    _codes(args.select + args.ignore)  # reject unknown codes before doing any work
    if args.from_file:
        snapshot = _read_snapshot(args)
        from pkgdoctor.cache import Cache

        # The checks' memo (pure verdicts: requirement strings for a marker environment) is
        # kept apart from the live target's cache, whose look entries a save would drop.
        target = snapshot.target
        cache = Cache(None)
        if not args.no_cache:
            key = f"from\0{target.prefix}\0{target.interpreter.executable}\0{target.mode}"
            cache = Cache.for_target(key)
    else:
        snapshot, cache = _take_snapshot(args, progress=progress, parallel=parallel)

    from pkgdoctor.checks import run_checks
    from pkgdoctor.checks.context import Context
    from pkgdoctor.findings import sort_findings

    ctx = Context(snapshot, memo=cache)
    findings = sort_findings(run_checks(ctx, wanted=_wanted(args)))
    cache.save()
    return snapshot, findings, ctx


def _recorded(args: argparse.Namespace, snapshot: Snapshot) -> str | None:
    """Where a report's facts came from, when they were recorded: "FILE, taken TIME"."""
    if not getattr(args, "from_file", None):
        return None
    taken = f", taken {snapshot.created}" if snapshot.created else ""
    return f"{args.from_file}{taken}"


def _read_snapshot(args: argparse.Namespace) -> Snapshot:
    """The snapshot ``check --from`` judges; target options make no sense with it."""
    for option, given in (
        ("--python", args.python),
        ("--prefix", args.prefix),
        ("--static", args.static),
        ("--cwd", getattr(args, "cwd", None)),
    ):
        if given:
            raise UsageError(
                f"{option} cannot be used with --from: the snapshot already says what was looked at"
            )
    from pkgdoctor.snapshot.codec import read

    snapshot = read(args.from_file)
    if getattr(args, "deep", False) and not snapshot.scope.deep:
        raise UsageError(
            f"--deep: {args.from_file} was taken without --deep; take it again with "
            "'pkgdoctor snapshot --deep'"
        )
    if getattr(args, "stdlib", False) and not snapshot.scope.include_stdlib:
        raise UsageError(
            f"--stdlib: {args.from_file} was taken without --stdlib; take it again with "
            "'pkgdoctor snapshot --stdlib'"
        )
    return snapshot


def _take_snapshot(
    args: argparse.Namespace,
    *,
    progress: bool,
    parallel: bool = False,
    timeout: float | None = None,
) -> tuple[Snapshot, Cache]:
    """Look at the target the options name: the probe first, the files while it runs
    (``timeout``: the probe's limit when ``--timeout`` means something else)."""
    cwd = os.path.abspath(args.cwd) if args.cwd else os.getcwd()
    if not os.path.isdir(cwd):
        raise UsageError(f"--cwd {args.cwd}: no such directory")
    # First: the probe runs while everything else imports and the cache loads.
    target, cache = _look_while_importing(args, use_cache=not args.no_cache, timeout=timeout)

    from pkgdoctor.look import collect
    from pkgdoctor.snapshot.model import Scope

    bar = None
    if args.deep and progress:
        from pkgdoctor.look.records import terminal_progress

        bar = terminal_progress(sys.stderr)
    scope = Scope(deep=args.deep, include_stdlib=args.stdlib, cwd=cwd)
    online = bool(getattr(args, "online", False))
    return collect(target, scope, cache, bar, parallel=parallel, online=online), cache


def _snapshot(args: argparse.Namespace, *, parallel: bool = False) -> int:
    from pkgdoctor.snapshot.codec import dump_document, dumps, redacted, to_json, write_bytes

    snapshot, cache = _take_snapshot(
        args, progress=args.output not in (None, "-"), parallel=parallel
    )
    cache.save()
    if args.redact:
        data = dump_document(redacted(to_json(snapshot), os.path.expanduser("~")))
    else:
        data = dumps(snapshot)
    if args.output in (None, "-"):
        if args.output is None and sys.stdout.isatty():
            raise UsageError("the snapshot is JSON for a file: give -o FILE (or -o - to print it)")
        sys.stdout.buffer.write(data + b"\n")
    else:
        write_bytes(data, args.output)
        _say(f"wrote {args.output}")
    return EXIT_OK


def _add_export(sub: _Subparsers) -> None:
    export = sub.add_parser(
        "export",
        help=_HELP["export"],
        description="Write a file that recreates one environment: every distribution pinned\n"
        "to its installed version, with the source it came from.",
        epilog=_EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target_options(export)
    export.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="export a snapshot taken earlier (pkgdoctor snapshot -o FILE) instead of looking "
        "at an environment",
    )
    export.add_argument(
        "--format",
        default="requirements",
        choices=("requirements", "pylock", "environment-yml"),
        help="requirements (default), pylock (PEP 751 pylock.toml) or environment-yml (conda)",
    )
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE (default: standard output)"
    )
    index = export.add_argument_group("pylock: where index installs are looked up")
    index.add_argument(
        "--index-url",
        metavar="URL",
        help="the index whose files were installed (default: https://pypi.org/simple/)",
    )
    index.add_argument(
        "--no-index",
        action="store_true",
        help="look nothing up: index installs are listed as not locked",
    )
    export.add_argument("--no-cache", action="store_true", help="do not use pkgdoctor's caches")
    _timeout_option(export)
    export.set_defaults(cwd=None, deep=False, stdlib=False)


def _export(args: argparse.Namespace) -> int:
    from pkgdoctor.export import local_paths, pins, render

    if args.index_url and args.no_index:
        raise UsageError("--index-url and --no-index contradict each other: give one")
    if args.format != "pylock" and (args.index_url or args.no_index):
        option = "--index-url" if args.index_url else "--no-index"
        raise UsageError(f"{option} is only for --format pylock")
    if args.from_file:
        snapshot = _read_snapshot(args)
        gone: frozenset[str] = frozenset()  # its paths are of the machine it was taken on
    else:
        snapshot, cache = _take_snapshot(args, progress=False)
        cache.save()
        gone = frozenset(p for p in local_paths(snapshot) if not os.path.exists(p))
    located = None
    if args.format == "pylock" and not args.no_index:
        from pkgdoctor.wheels.command import http_cache_directory
        from pkgdoctor.wheels.http import Session
        from pkgdoctor.wheels.locate import PYPI, locate

        wanted = [(p.dist, p.index) for p in pins(snapshot, gone) if p.kind == "index"]
        cache_root = None if args.no_cache else http_cache_directory([snapshot.target.prefix])
        # A cache of its own: the session keeps each page *decoded*, keyed by URL and Accept,
        # and the look-up decodes pages with their hashes, unlike ``wheels``' http-v1 rows.
        cache_dir = os.path.join(cache_root, "index-files-v1") if cache_root else None
        with Session(cache_dir=cache_dir) as session:
            located = locate(wanted, session, args.index_url or PYPI)
    text = render(snapshot, args.format, located=located, gone=gone)
    if args.output in (None, "-"):
        _write(text)  # the same lines for well-formed names (a requirement has no controls)
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(f"-o {args.output}: {exc.strerror or exc}") from exc
    _say(f"wrote {args.output}")
    return EXIT_OK


def _look_while_importing(
    args: argparse.Namespace, *, use_cache: bool, timeout: float | None = None
) -> tuple[Target, Cache]:
    """Find the target while the checks' modules import and the cache loads: the probe is
    started first, from a module that imports next to nothing, and runs on the other core
    meanwhile (start-up time is part of our speed)."""
    from pkgdoctor.target.select import plan_target

    limit = args.timeout if timeout is None else timeout
    plan = plan_target(args.python, args.prefix, static=args.static, timeout=limit)
    plan.start()
    try:
        import importlib

        from pkgdoctor.cache import Cache, inside_cache_directory
        from pkgdoctor.checks.registry import FAMILIES

        modules = [f"pkgdoctor.checks.{family}" for family in FAMILIES]
        # packaging is not imported here: a warm check does not need it (memoized verdicts).
        for module in ("pkgdoctor.look", *modules, "pkgdoctor.render"):
            importlib.import_module(module)
        cache = Cache(None)
        if use_cache:
            # Keyed on how the target was named (the probe has not answered yet); entries
            # are keyed on absolute paths, so the name only keeps targets apart.
            target_id = f"{plan.executable}\0{plan.prefix}\0{plan.static_reason}"
            excluded = tuple(p for p in (plan.prefix,) if p)
            cache = Cache.for_target(target_id, excluded=excluded)
        target = plan.look()
        if cache.path is not None and inside_cache_directory(target.prefix):
            cache = Cache(None)  # never write into the target's own tree
        return target, cache
    finally:
        plan.cancel()


def _why(args: argparse.Namespace) -> int:
    if not args.modules and not args.gpu:
        raise UsageError("give a MODULE to import, or --gpu to ask the GPU frameworks")
    if args.from_file:
        return _why_recorded(args)
    from dataclasses import replace

    from pkgdoctor.checks import run_checks
    from pkgdoctor.checks.context import Context
    from pkgdoctor.checks.scope import judge
    from pkgdoctor.listings import Listings
    from pkgdoctor.look.extensions import ExtensionLooker, with_importers
    from pkgdoctor.look.imports import (
        installed_elsewhere,
        involved_files,
        missing_module,
        run_import,
        valid_module_name,
    )
    from pkgdoctor.look.numpy_abi import with_numpy_headers
    from pkgdoctor.look.symbols import with_symbol_searches
    from pkgdoctor.render import Report
    from pkgdoctor.snapshot.model import Extension
    from pkgdoctor.target.limits import PROBE_TIMEOUT

    _codes(args.select + args.ignore)
    for module in args.modules:
        if not valid_module_name(module):
            raise UsageError(f"{module!r} is not a module name (expected e.g. numpy or torch._C)")
    # Look: what ``check`` looks at (the same snapshot, --cwd included), then each import,
    # then the facts of the extension module files the failures involve.
    snapshot, cache = _take_snapshot(args, progress=False, timeout=min(args.timeout, PROBE_TIMEOUT))
    target = snapshot.target
    looker: ExtensionLooker | None = None
    looked: list[tuple[ImportOutcome, list[Extension]]] = []
    # An interpreter that cannot start imports nothing: interpreter-cannot-start says why.
    if target.start_failure is None:
        listings = Listings()
        for module in args.modules:
            outcome = run_import(target, module, args.timeout)
            modules: list[Extension] = []
            if not outcome.ok:
                looker = looker or ExtensionLooker(target, cache, listings)
                modules = [looker.look(f) for f in involved_files(target, outcome)]
            missing = missing_module(outcome)
            if missing is not None:
                outcome = replace(outcome, elsewhere=installed_elsewhere(target, missing))
            looked.append((outcome, modules))
    probes = _ask_gpu(args, snapshot) if args.gpu else None
    # Judge: every family, as check does; then each import with the findings about it.
    ctx = Context(snapshot, memo=cache)
    everything = run_checks(ctx, wanted=_wanted(args))
    cache.save()
    explaining = ctx
    if looker is not None:
        found = [m for _, ms in looked for m in ms]
        found = with_importers(found, looker.elf, snapshot.inventory)
        found = with_numpy_headers(found, snapshot.inventory, cache, every_owner=True)
        by_path = {m.file.path: m for m in found}
        looked = [(o, [by_path[m.file.path] for m in ms]) for o, ms in looked]
        extensions = with_symbol_searches(looker.facts(found), looker, looked)
        explaining = Context(replace(snapshot, extensions=extensions), memo=cache)
    findings: list[Finding] = []
    if target.start_failure is not None:
        findings = judge(explaining, None, [], everything)
    for outcome, modules in looked:
        findings += [
            f for f in judge(explaining, outcome, modules, everything) if f not in findings
        ]
    if probes is not None:
        probes, gpu_findings = _explain_gpu(probes, everything, args)
        findings += [f for f in gpu_findings if f not in findings]
    # The import lines head the report, each with the file imported and who installed it;
    # areas appear only where something was found.
    outcomes = []
    for outcome, _ in looked:
        owner = ctx.owner(outcome.origin) if outcome.origin else None
        outcomes.append(replace(outcome, distribution=str(owner)) if owner else outcome)
    report = Report(
        "why",
        target,
        _filter(findings, args),
        imports=outcomes,
        gpu=probes,
        areas=("GPU",) if args.gpu else (),
    )
    return _finish(report, args)


def _ask_gpu(args: argparse.Namespace, snapshot: Snapshot) -> list[GpuProbe]:
    """``why --gpu``: each installed framework's answer (those MODULE names, if it names
    one), each asked in its own child of the target; none when nothing can be asked."""
    from pkgdoctor.look.gpu_probe import FRAMEWORKS, ask, installed

    target = snapshot.target
    frameworks = installed(snapshot.inventory, args.modules)
    if not frameworks:
        _say(
            f"no GPU framework ({', '.join(FRAMEWORKS)}) is installed in {target.prefix}: "
            "nothing to ask"
        )
        return []
    if target.start_failure is not None or target.mode != "live":
        how = (
            "the target's interpreter cannot start"
            if target.start_failure is not None
            else f"the target is read statically ({target.static_reason})"
        )
        _say(f"{how}: no framework can be asked whether it sees a GPU")
        return []
    return ask(target, frameworks, args.timeout)


def _explain_gpu(
    probes: Sequence[GpuProbe], everything: Sequence[Finding], args: argparse.Namespace
) -> tuple[list[GpuProbe], list[Finding]]:
    """The frameworks' answers, each explained by the GPU findings it rests on; and those
    findings (every finding of the GPU area, as --select/--ignore keep them)."""
    from pkgdoctor.checks.gpu_why import explain
    from pkgdoctor.codes import area_of

    gpu = _filter([f for f in everything if area_of(f.code) == "GPU"], args)
    return [explain(p, gpu) for p in probes], gpu


def _why_recorded(args: argparse.Namespace) -> int:
    """``why MODULE --from FILE``: the static part of ``why`` (nothing can be imported from a
    snapshot): the findings about MODULE's extension modules, judged from the recorded facts."""
    from pkgdoctor.checks import extensions
    from pkgdoctor.checks.context import Context
    from pkgdoctor.findings import sort_findings
    from pkgdoctor.look.imports import valid_module_name
    from pkgdoctor.render import Report

    _codes(args.select + args.ignore)
    for module in args.modules:
        if not valid_module_name(module):
            raise UsageError(f"{module!r} is not a module name (expected e.g. numpy or torch._C)")
    snapshot = _read_snapshot(args)
    if args.gpu:
        from pkgdoctor.checks import run_checks
        from pkgdoctor.codes import area_of

        _say(
            f"{args.from_file} is a snapshot: no framework can be asked whether it sees a GPU; "
            "the GPU findings judged from it follow"
        )
        everything = run_checks(Context(snapshot), wanted=_wanted(args))
        gpu = [f for f in everything if area_of(f.code) == "GPU"]
    recorded = snapshot.extensions.modules
    modules = [
        m
        for m in recorded
        if any(m.file.module == n or m.file.module.startswith(n + ".") for n in args.modules)
    ]
    ctx = Context(snapshot)
    findings = sort_findings(extensions.analyse(ctx, modules))
    if args.gpu:
        findings += [f for f in gpu if f not in findings]
    if not modules and args.modules:
        _say(
            f"{args.from_file} records no extension module of "
            f"{', '.join(args.modules)}: nothing to judge without importing it"
        )
    report = Report(
        "why",
        snapshot.target,
        _filter(findings, args),
        recorded=_recorded(args, snapshot),
        gpu=[] if args.gpu else None,
        areas=("GPU",) if args.gpu else (),
    )
    return _finish(report, args)


def _empty() -> ExtensionFacts:
    from pkgdoctor.snapshot.model import ExtensionFacts

    return ExtensionFacts()


def _finish(report: Report, args: argparse.Namespace) -> int:
    from pkgdoctor.findings import Severity

    if args.json:
        from pkgdoctor.render.json import render_json

        sys.stdout.write(render_json(report))
    else:
        _print_text(report, verbose=getattr(args, "verbose", False))
    threshold = Severity.parse(args.fail_on)
    failed = any(f.severity >= threshold for f in report.findings)
    if report.command == "why" and any(not o.ok for o in report.imports) and not report.findings:
        failed = True  # every failure is explained by a finding; an ignored one still fails
    if any(p.crashed or not p.imported for p in report.gpu or ()):
        failed = True  # a framework that hangs, crashes or cannot be imported is found broken
    return EXIT_FOUND if failed else EXIT_OK


def _print_text(report: Report, *, verbose: bool = False) -> None:
    from pkgdoctor.render.text import render_text, to_plain

    _print_lines(render_text(report, verbose=verbose, width=_width()), to_plain)


def _width() -> int | None:
    """The columns text output must fit: COLUMNS when set (as ``shutil`` reads it), else the
    terminal's; None (no wrapping) for a pipe or a file without COLUMNS."""
    import shutil

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() or sys.stdout.isatty():
        return max(shutil.get_terminal_size().columns, 40)
    return None


_WHEELS_DESCRIPTION = """\
For each requirement: the file pip would install on the target, or why no wheel fits
(architecture, C library, glibc baseline, Python version, ABI) and what building the sdist
needs (its build backend, read from the sdist's pyproject.toml: compilers, Rust, cmake,
meson and ninja, and the system libraries its build files look for, with the line that
says so). With --deps, also what each answer pulls in on the target. The sources are the
ones pip would use: its configuration files, PIP_* variables and the options below.
"""

_WHEELS_EPILOG = """\
target: the current environment by default (its interpreter, architecture and C library).
A manylinux or musllinux --platform names a system of that kind: manylinux_2_36_loongarch64
is a glibc 2.36 LoongArch machine, which also takes older manylinux wheels and
linux_loongarch64 ones, as pip on that machine would.

examples:
  pkgdoctor wheels numpy                   the current environment
  pkgdoctor wheels numpy scipy --platform manylinux_2_36_loongarch64 --python-version 3.12
  pkgdoctor wheels -r requirements.txt --platform manylinux_2_31_riscv64 --python-version 3.12
  pkgdoctor wheels -r requirements.txt --platform musllinux_1_2_x86_64   Alpine, musl 1.2
  pkgdoctor wheels pydantic --deps --platform manylinux_2_36_loongarch64 --python-version 3.12
                                           and what pydantic pulls in (pydantic-core: Rust)
  pkgdoctor wheels orjson --python-version 3.13t --platform manylinux_2_28_x86_64
                                           free-threaded CPython 3.13
  pkgdoctor wheels 'numpy<2' --json | jq '.results[].action'

exit status: 0 every requirement has a wheel (or is not needed on the target), 1 some
requirement would need a build, is unavailable or could not be answered, 2 nothing could be
answered (bad arguments, every source unreachable).
"""


def _add_wheels(sub: _Subparsers) -> None:
    wheels = sub.add_parser(
        "wheels",
        help=_HELP["wheels"],
        description=_WHEELS_DESCRIPTION,
        epilog=_WHEELS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wheels.add_argument("requirements", nargs="*", metavar="REQ", help="requirement(s), PEP 508")
    wheels.add_argument(
        "-r",
        "--requirement",
        dest="requirement_files",
        metavar="FILE",
        action="append",
        default=[],
        help="every requirement of a requirements file: a porting-readiness table",
    )
    wheels.add_argument(
        "--deps",
        action="store_true",
        help="also answer for what each chosen file requires on the target (its metadata's "
        "Requires-Dist, markers evaluated for the target), level by level, each project once",
    )
    target = wheels.add_argument_group("target (default: the current environment)")
    target.add_argument(
        "--platform",
        dest="platforms",
        metavar="TAG",
        action="append",
        default=[],
        help="a platform tag; manylinux_2_X_ARCH / musllinux_1_X_ARCH mean a system of that "
        "kind (repeatable)",
    )
    target.add_argument(
        "--python-version",
        metavar="X.Y",
        help="the target's Python (3.12, 3.12.4; 3.13t for free-threaded)",
    )
    target.add_argument(
        "--implementation", metavar="IMPL", help="cp (default), pp, ...: the interpreter tag"
    )
    target.add_argument(
        "--abi",
        dest="abis",
        metavar="ABI",
        action="append",
        default=[],
        help="ABI tag, e.g. cp313t (default: the one of --python-version; repeatable)",
    )
    sources = wheels.add_argument_group("sources (added to pip's configuration, as pip does)")
    sources.add_argument("-i", "--index-url", metavar="URL", help="replace the main index")
    sources.add_argument(
        "--extra-index-url",
        dest="extra_index_urls",
        metavar="URL",
        action="append",
        default=[],
        help="also look in this index (repeatable)",
    )
    sources.add_argument(
        "-f",
        "--find-links",
        metavar="URL|DIR",
        action="append",
        default=[],
        help="also look in this directory or page of links (repeatable)",
    )
    sources.add_argument("--no-index", action="store_true", help="ignore every index")
    sources.add_argument(
        "--isolated",
        action="store_true",
        help="like pip --isolated: ignore PIP_* variables and the user's pip.conf",
    )
    sources.add_argument(
        "--no-cache",
        action="store_true",
        help="neither use nor fill the cache of index pages and sdist facts "
        "($PKGDOCTOR_CACHE_DIR or ~/.cache/pkgdoctor)",
    )
    wheels.add_argument(
        "--json", action="store_true", help="print one JSON document (schema_version 1)"
    )


def _wheels(args: argparse.Namespace) -> int:
    from pkgdoctor.wheels.command import Options, run
    from pkgdoctor.wheels.progress import terminal_progress
    from pkgdoctor.wheels.report import render_json, render_text, to_plain

    if not args.requirements and not args.requirement_files:
        raise UsageError("name at least one requirement, or a file with -r FILE")
    options = Options(
        requirements=args.requirements,
        requirement_files=args.requirement_files,
        platforms=args.platforms,
        python_version=args.python_version,
        implementation=args.implementation,
        abis=args.abis,
        index_url=args.index_url,
        extra_index_urls=args.extra_index_urls,
        find_links=args.find_links,
        no_index=args.no_index,
        isolated=args.isolated,
        use_cache=not args.no_cache,
        dependencies=args.deps,
    )
    with terminal_progress(sys.stderr) as progress:
        report = run(options, progress)
    if args.json:
        sys.stdout.write(render_json(report))
    else:
        table = bool(args.requirement_files) or len(report.results) > 1 or args.deps
        _print_lines(render_text(report, table=table), to_plain)
    if not report.answered():
        return EXIT_FAILED
    done = all(r.action in ("wheel", "skipped") for r in report.results)
    return EXIT_OK if done else EXIT_FOUND


def _add_audit_wheel(sub: _Subparsers) -> None:
    audit = sub.add_parser(
        "audit-wheel",
        help=_HELP["audit-wheel"],
        description="Audit wheels: the platform tag their ELF files satisfy, and every problem\n"
        "with their tags, extension modules, RECORD, METADATA and classifiers.",
        epilog=_AUDIT_WHEEL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel files or directories")
    _output_options(audit)


def _audit_wheel(args: argparse.Namespace) -> int:
    from pkgdoctor.findings import Severity
    from pkgdoctor.render.text import to_plain
    from pkgdoctor.wheelaudit import audit_paths
    from pkgdoctor.wheelaudit.render import render_json, render_text

    wanted = _wanted(args)
    audits = [
        audit.with_findings(f for f in audit.findings if wanted(f.code))
        for audit in audit_paths(args.wheels)
    ]
    if args.json:
        sys.stdout.write(render_json(audits))
    else:
        _print_lines(render_text(audits), to_plain)
    unreadable = [audit for audit in audits if audit.error is not None]
    for audit in unreadable:
        _say(f"error: {audit.path}: {audit.error}")
    if unreadable:
        return EXIT_FAILED
    threshold = Severity.parse(args.fail_on)
    failed = any(f.severity >= threshold for audit in audits for f in audit.findings)
    return EXIT_FOUND if failed else EXIT_OK


def _add_diff(sub: _Subparsers) -> None:
    diff = sub.add_parser(
        "diff",
        help=_HELP["diff"],
        description="Compare two environments or snapshots: what differs that matters,\n"
        "most important first (works here, broken there).",
        epilog=_DIFF_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff.add_argument("a", metavar="A", help="snapshot file, environment directory or interpreter")
    diff.add_argument("b", metavar="B", help="the other side (same kinds)")
    diff.add_argument(
        "--deep",
        action="store_true",
        help="hash every RECORDed file of the environments looked at now, so that contents "
        "are compared (a snapshot side needs 'pkgdoctor snapshot --deep')",
    )
    diff.add_argument(
        "--static",
        action="store_true",
        help="read environment directories' files only, execute nothing",
    )
    diff.add_argument(
        "--no-cache", action="store_true", help="do not use or update pkgdoctor's cache"
    )
    diff.add_argument(
        "--json", action="store_true", help="print one JSON document (schema: diff-v1.json)"
    )
    _timeout_option(diff)


def _side_kind(source: str) -> str:
    """``snapshot``, ``prefix`` or ``python``: a directory is an environment, an executable
    interpreter (an ELF file or a ``#!`` script) is one, any other file a snapshot; a name
    that is no file is looked up on PATH as an interpreter."""
    if os.path.isdir(source):
        return "prefix"
    if os.path.isfile(source):
        if not os.access(source, os.X_OK):
            return "snapshot"
        from pkgdoctor.files import read_regular

        try:
            magic = read_regular(source, 4)
        except OSError:
            return "snapshot"  # reading it as a snapshot says why it cannot be read
        # A snapshot copied from a file system without permissions (a USB stick) may carry
        # the executable bit: only an ELF file (gABI e_ident magic) or a script runs.
        return "python" if magic == b"\x7fELF" or magic[:2] == b"#!" else "snapshot"
    return "python"


def _diff(args: argparse.Namespace) -> int:
    from pkgdoctor.cache import Cache
    from pkgdoctor.diff import Side, compare
    from pkgdoctor.snapshot.codec import read

    kinds = [_side_kind(args.a), _side_kind(args.b)]
    snapshots: list[Snapshot | None] = [
        read(source) if kind == "snapshot" else None
        for source, kind in zip((args.a, args.b), kinds)
    ]
    live = [(i, source) for i, source in enumerate((args.a, args.b)) if snapshots[i] is None]
    if live:
        from pkgdoctor.look import collect
        from pkgdoctor.snapshot.model import Scope
        from pkgdoctor.target.select import plan_target

        plans = []
        try:
            for i, source in live:
                python, prefix = (source, None) if kinds[i] == "python" else (None, source)
                plan = plan_target(
                    python, prefix, static=args.static and prefix is not None, timeout=args.timeout
                )
                plan.start()  # both probes run at once
                plans.append((i, plan))
            for i, plan in plans:
                target = plan.look()
                cache = Cache(None)
                if not args.no_cache:
                    key = f"{target.prefix}\0{target.interpreter.executable}\0{target.mode}"
                    cache = Cache.for_target(key, excluded=(target.prefix,))
                scope = Scope(deep=args.deep, cwd=os.getcwd())
                snapshots[i] = collect(target, scope, cache)
                cache.save()
        finally:
            for _, plan in plans:
                plan.cancel()
    a, b = snapshots
    assert a is not None and b is not None
    side_a, side_b = Side(args.a, kinds[0], a), Side(args.b, kinds[1], b)
    # The checks' verdicts (requirements, wheel tags) are memoized as functions of their
    # inputs alone, so one small cache per pair of environments serves every later diff.
    memo = Cache(None)
    if not args.no_cache:
        memo = Cache.for_target(f"diff\0{a.target.prefix}\0{b.target.prefix}")
    diff = compare(a, b, memo=memo)
    memo.save()
    if args.json:
        from pkgdoctor.render.diff import render_json

        sys.stdout.write(render_json(diff, side_a, side_b))
    else:
        from pkgdoctor.render.diff import render_text, to_plain

        _print_lines(render_text(diff, side_a, side_b, _width()), to_plain)
    return EXIT_FOUND if diff else EXIT_OK


def _add_explain(sub: _Subparsers) -> None:
    explain = sub.add_parser(
        "explain",
        help=_HELP["explain"],
        description="Print what a finding code means, the evidence it carries and how to fix "
        "it\n(its section of docs/checks.md).",
        epilog="examples:\n  pkgdoctor explain ext-wrong-arch\n  pkgdoctor --list-checks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("code", metavar="CODE", help="a finding code (pkgdoctor --list-checks)")


def _explain(args: argparse.Namespace) -> int:
    from pkgdoctor.codes import all_codes
    from pkgdoctor.explain import reference, section

    codes = {c.code: c for c in all_codes()}
    known = codes.get(args.code)
    if known is None:
        raise UsageError(
            f"unknown finding code {args.code!r}{_did_you_mean(args.code, codes)} "
            "(see pkgdoctor --list-checks)"
        )
    text = reference()
    found = section(text, known.code) if text is not None else None
    if found is None:  # an installation without the reference: what the code says of itself
        found = f"{known.code} ({known.severity.label}, {known.area}): {known.summary}"
    _write(found + "\n")
    return EXIT_OK


_REPORT_EPILOG = """\
What it holds: pkgdoctor's version and the command line; the operating system, the
interpreter (implementation, version, executable, EXT_SUFFIX and SOABI, how many wheel tags
it accepts, free-threaded or not), the C library and the architecture; venv, conda or system
and whether it is externally managed (PEP 668); the environment variables that change
imports, the loader, pip and uv; the distributions that matter (those a finding names, those
with extension modules, those from platform-specific wheels; with version, installer and
wheel tag); every finding, worst first, with its fix; sys.path.

Redacted: paths under your home directory are written as ~, other users' home directories as
/home/<user>, your login name as <user>, passwords and tokens in URLs as ***. Read it before
you paste it: a project's own names stay.

There is no --json: 'pkgdoctor check --json' has the findings and the target's facts, and
'pkgdoctor snapshot --redact -o FILE' every fact, for a program to read.

examples:
  pkgdoctor report                          the active venv / conda env / python3
  pkgdoctor report --markdown               GitHub Markdown, long lists folded
  pkgdoctor report --prefix ~/envs/ml | xclip -selection clipboard
  pkgdoctor report --from env.json.gz       a snapshot taken on another machine

exit status: 0 nothing at or above --fail-on, 1 something was found, 2 pkgdoctor could not
do its job (bad arguments, target not found).
"""


def _add_report(sub: _Subparsers) -> None:
    report = sub.add_parser(
        "report",
        help=_HELP["report"],
        description="One block to paste into a bug report: the facts that matter about one\n"
        "environment and what 'pkgdoctor check' finds in it, with paths redacted.",
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target_options(report)
    report.add_argument(
        "--markdown",
        action="store_true",
        help="GitHub-flavoured Markdown: a fenced block per section, long lists folded in "
        "<details> (default: one fenced block of plain text)",
    )
    report.add_argument(
        "--deep",
        action="store_true",
        help="also hash every file the RECORDs list (record-hash-mismatch), on every core",
    )
    report.add_argument(
        "--cwd",
        metavar="DIR",
        help="the directory you run Python from, for module shadowing (default: here)",
    )
    report.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use or update pkgdoctor's cache of parsed files",
    )
    report.add_argument(
        "--stdlib",
        action="store_true",
        help="also check the standard library's extension modules (lib-dynload)",
    )
    report.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="report on a snapshot taken earlier or elsewhere (pkgdoctor snapshot -o FILE)",
    )
    _timeout_option(report)
    _output_options(report, formats=False)


def _report(args: argparse.Namespace, argv: Sequence[str], *, parallel: bool = False) -> int:
    snapshot, findings, ctx = _judge(args, progress=True, parallel=parallel)
    import getpass
    import shlex

    from pkgdoctor.checks.distributions import supported_tags
    from pkgdoctor.findings import Severity
    from pkgdoctor.redact import Redactor
    from pkgdoctor.render.bugreport import render_report

    home = os.path.expanduser("~")
    homes = [home, os.path.realpath(home)] if home != "~" else []
    try:
        user: str | None = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        user = None
    tags = supported_tags(ctx)
    text = render_report(
        snapshot,
        findings,
        command_line=shlex.join(["pkgdoctor", *argv]),
        redactor=Redactor(homes, user),
        tags=len(tags) if tags is not None else None,
        recorded=_recorded(args, snapshot),
        markdown=args.markdown,
    )
    _write(text)
    threshold = Severity.parse(args.fail_on)
    return EXIT_FOUND if any(f.severity >= threshold for f in findings) else EXIT_OK


_CACHE_EPILOG = """\
Where each tool keeps its cache is decided as the tool decides: pip (PIP_CACHE_DIR, cache-dir
in pip's configuration, PIP_NO_CACHE_DIR, else $XDG_CACHE_HOME/pip or ~/.cache/pip), uv
(UV_NO_CACHE, UV_CACHE_DIR, else $XDG_CACHE_HOME/uv or ~/.cache/uv), conda (CONDA_PKGS_DIRS,
else ROOT/pkgs and ~/.conda/pkgs, and the pkgs/ directories the target's records were linked
from), and pixi/rattler's cache when it exists. Reclaimable is what the tool's own clean-up
would remove: pip cache purge; uv cache prune (at least); conda clean --packages (extracted
packages no environment hard-links any more) --tarballs. For a conda environment: how much of
it is hard-linked from pkgs/ (shared on disk) and how much is copied. Sizes are apparent sizes
(lstat), each hard-linked file once; a walk that reached a limit prints its numbers with >=.

examples:
  pkgdoctor cache                          the caches, and the active environment's sharing
  pkgdoctor cache --prefix ~/miniforge3/envs/ml
  pkgdoctor cache --json | jq '.caches[] | {tool, path, reclaimable}'

exit status: 0 nothing at or above --fail-on, 1 something was found, 2 pkgdoctor could not
do its job (bad arguments, target not found).
"""


def _add_cache(sub: _Subparsers) -> None:
    from pkgdoctor.caches.look import TIME_LIMIT

    cache = sub.add_parser(
        "cache",
        help=_HELP["cache"],
        description="pip's, uv's and conda's package caches: where, how big, what is\n"
        "reclaimable, how much of a conda environment they share on disk, broken packages.",
        epilog=_CACHE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target_options(cache)
    cache.add_argument(
        "--time-limit",
        metavar="SECONDS",
        type=_seconds,
        default=TIME_LIMIT,
        help="stop walking the caches after SECONDS; later numbers are lower bounds "
        f"(default: {TIME_LIMIT:g})",
    )
    _timeout_option(cache)
    _output_options(cache)


def _cache(args: argparse.Namespace) -> int:
    from pkgdoctor.caches import judge
    from pkgdoctor.caches.look import collect, conda_facts
    from pkgdoctor.caches.render import render_json, render_text
    from pkgdoctor.configuration import CONDA_VARIABLES, conda_settings, pip_file_values
    from pkgdoctor.errors import TargetError
    from pkgdoctor.findings import Severity, sort_findings
    from pkgdoctor.look.config import conda_files, pip_files
    from pkgdoctor.render.text import to_plain
    from pkgdoctor.snapshot.model import ConfigFacts
    from pkgdoctor.target.select import find_target

    wanted = _wanted(args)
    try:
        prefix = find_target(
            args.python, args.prefix, static=args.static, timeout=args.timeout
        ).prefix
    except TargetError:
        # A conda environment without Python (an R or a tools environment) still has
        # records and hard links to look at.
        if not (args.prefix and os.path.isdir(os.path.join(args.prefix, "conda-meta"))):
            raise
        prefix = os.path.abspath(args.prefix)
    home = os.environ.get("HOME") or os.path.expanduser("~")
    # Where pip and conda are told to keep their caches: the configuration reader's files
    # (pip's [global]/[install] cache-dir and no-cache-dir, conda's merged pkgs_dirs).
    pip_values = pip_file_values(pip_files(os.environ, site_prefix=prefix))
    cache_dir = pip_values.get("install.cache-dir") or pip_values.get("global.cache-dir")
    no_cache = pip_values.get("install.no-cache-dir") or pip_values.get("global.no-cache-dir")
    pip_config = (
        (cache_dir.value, cache_dir.origin) if cache_dir else None,
        no_cache.origin if no_cache else None,
    )
    # A PIP_* variable wins over every file (pip's ConfigOptionParser: environment last).
    if os.environ.get("PIP_CACHE_DIR"):
        pip_config = ((os.environ["PIP_CACHE_DIR"], "PIP_CACHE_DIR"), pip_config[1])
    if "PIP_NO_CACHE_DIR" in os.environ:
        pip_config = (pip_config[0], "PIP_NO_CACHE_DIR")
    conda_config = conda_settings(
        ConfigFacts(
            conda_files=conda_files(os.environ, prefix),
            conda_environ={k: v for k, v in os.environ.items() if k in CONDA_VARIABLES},
        )
    )
    pkgs_dirs = conda_config.pkgs_dirs
    condarc_pkgs_dirs = ([d.value for d in pkgs_dirs], pkgs_dirs[0].origin) if pkgs_dirs else None
    conda = conda_facts(prefix)
    facts = collect(
        prefix, conda, os.environ, home=home, pip_config=pip_config,
        condarc_pkgs_dirs=condarc_pkgs_dirs, time_limit=args.time_limit,
    )  # fmt: skip
    found = sort_findings(f for f in judge.findings(facts) if wanted(f.code))
    if args.json:
        sys.stdout.write(render_json(facts, found))
    else:
        _print_lines(render_text(facts, found, width=_width()), to_plain)
    threshold = Severity.parse(args.fail_on)
    return EXIT_FOUND if any(f.severity >= threshold for f in found) else EXIT_OK


#: Every command, in the order ``pkgdoctor --help`` lists them, with what adds its parser.
_COMMANDS: dict[str, Callable[[_Subparsers], None]] = {
    "check": _add_check,
    "snapshot": _add_snapshot,
    "why": _add_why,
    "export": _add_export,
    "wheels": _add_wheels,
    "audit-wheel": _add_audit_wheel,
    "diff": _add_diff,
    "explain": _add_explain,
    "report": _add_report,
    "cache": _add_cache,
}
