"""Counting in words: ``1 error``, ``2 errors``, for every line pkgdoctor writes."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, in the plural when ``count`` is not one.

    >>> plural(1, "error"), plural(0, "warning"), plural(2, "library", "libraries")
    ('1 error', '0 warnings', '2 libraries')
    """
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
