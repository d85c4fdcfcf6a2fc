"""A ``__repr__`` shared by pkgdoctor's dataclasses.

``@dataclass`` generates each class's ``__repr__`` with ``exec`` when the class is created:
about 0.15 ms a class, and pkgdoctor creates some eighty of them, most on the path of every
``check`` before the probe has answered (start-up time is part of our speed). These classes
say ``repr=False`` and inherit this one, which prints the same text.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar


class FieldRepr:
    """``Name(field=value, ...)``, exactly as ``@dataclass(repr=True)`` would write it.

    >>> @dataclasses.dataclass(repr=False)
    ... class Point(FieldRepr):
    ...     x: int
    ...     y: int = 0
    >>> Point(1)
    Point(x=1, y=0)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields if f.repr)
        return f"{type(self).__qualname__}({shown})"


T = TypeVar("T")


def restore(cls: type[T], **values: Any) -> T:
    """An instance of the (frozen) dataclass ``cls`` with exactly ``values``, without running
    its ``__init__``: for facts read back from pkgdoctor's own cache, thousands per run, where
    a frozen ``__init__`` (one ``object.__setattr__`` per field) is most of the cost. Every
    field must be given; nothing is checked or converted."""
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance
