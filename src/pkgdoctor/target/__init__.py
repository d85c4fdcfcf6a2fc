"""Looking at a target environment: live (a probe in its interpreter) or static (files only).

The names below are imported on first use: ``pkgdoctor.target.select`` must stay cheap to
import, because ``check`` starts the probe before it imports anything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pkgdoctor.target.facts import Binary, Interpreter, Libc, Target
    from pkgdoctor.target.select import find_target

__all__ = ["Binary", "Interpreter", "Libc", "Target", "find_target"]


def __getattr__(name: str) -> Any:
    if name == "find_target":
        from pkgdoctor.target import select

        return select.find_target
    if name in __all__:
        from pkgdoctor.target import facts

        return getattr(facts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
