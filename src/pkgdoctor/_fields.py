"""What pkgdoctor's dataclasses share: one ``__repr__``, and for the immutable facts
(:func:`fact`) one ``__eq__`` and ``__hash__``.

``@dataclass`` generates each of those methods with ``exec`` when the class is created; a
``frozen=True`` class also gets a generated ``__setattr__`` and ``__delattr__``. That is about
0.24 ms a class, and pkgdoctor creates some eighty, most of them on the path of every
``check`` before the probe has answered (start-up time is part of our speed). A :func:`fact`
class has only its ``__init__`` generated (0.06 ms) and inherits the rest from :class:`Fact`,
which behaves exactly as the generated methods would.

Immutability of a :func:`fact` is checked by mypy, not at run time: the decorator is a
``dataclass_transform`` with ``frozen_default=True``, so an assignment to a field is a type
error. (Run-time freezing would cost the two generated methods above and one
``object.__setattr__`` per field in every ``__init__``.)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**kwargs: Any) -> Any:
        return lambda decorator: decorator


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
F = TypeVar("F", bound="Fact")


class Fact(FieldRepr):
    """The base of every :func:`fact`: equal when of the same class with equal fields, and
    hashed on the fields, as ``@dataclass(frozen=True)`` would generate it."""

    __slots__ = ()
    __fact_fields__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__fact_fields__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Fact)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())


@dataclass_transform(frozen_default=True, eq_default=True, field_specifiers=(dataclasses.field,))
def fact(cls: type[F]) -> type[F]:
    """``@dataclass(frozen=True)`` for a subclass of :class:`Fact`, at a quarter of the cost:
    only ``__init__`` is generated (see the module's docstring)."""
    made = dataclasses.dataclass(cls, repr=False, eq=False)
    made.__fact_fields__ = tuple(f.name for f in dataclasses.fields(cast(Any, made)))
    return made


def restore(cls: type[T], **values: Any) -> T:
    """An instance of the (frozen) dataclass ``cls`` with exactly ``values``, without running
    its ``__init__``: for facts read back from pkgdoctor's own cache, thousands per run, where
    a frozen ``__init__`` (one ``object.__setattr__`` per field) is most of the cost. Every
    field must be given; nothing is checked or converted."""
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance
