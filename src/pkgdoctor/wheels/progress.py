"""A progress bar for ``pkgdoctor wheels`` on a terminal (rich, imported only then)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

from pkgdoctor.wheels.command import Progress

_PHASES = {"index": "index pages", "sdist": "sdists", "metadata": "dependencies"}


@contextlib.contextmanager
def terminal_progress(stream: IO[str]) -> Iterator[Progress | None]:
    """A ``progress(phase, done, total)`` callback drawing on ``stream`` while the block
    runs; None (no bar) when ``stream`` is not a terminal.

    >>> import io
    >>> with terminal_progress(io.StringIO()) as progress:
    ...     progress is None
    True
    """
    if not stream.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total)
        bar.update(tasks[phase], completed=done, total=total)

    with bar:
        yield progress
