"""Typed reads of JSON data pkgdoctor did not write itself: a snapshot file
(``snapshot.codec``) and the probe's answer (``target.live``), which the target's own code
(a ``.pth`` file's ``import`` line) can make say anything (``sys.implementation.name =
None``). Each function returns its value when it has the type named, and raises
``TypeError`` when it has not; the readers turn that into one clean error.

Plain functions and no imports but :mod:`json`: ``target.live`` is on the path of every
``check``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def loads(data: str | bytes) -> Any:
    """:func:`json.loads` of a document someone else wrote, where every malformed document
    raises :class:`ValueError`: also one nested deeper than the parser goes (``[[[[...``,
    which :mod:`json` answers with ``RecursionError``).

    >>> loads("[" * 100_000)
    Traceback (most recent call last):
      ...
    ValueError: nested too deeply
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def as_opt_str(value: Any) -> str | None:
    return None if value is None else as_str(value)


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def as_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def as_opt_int(value: Any) -> int | None:
    return None if value is None else as_int(value)


def as_list(value: Any, item: Callable[[Any], T]) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return tuple(item(v) for v in value)


def as_strs(value: Any) -> tuple[str, ...]:
    return as_list(value, as_str)


def as_str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return {as_str(k): as_str(v) for k, v in value.items()}
