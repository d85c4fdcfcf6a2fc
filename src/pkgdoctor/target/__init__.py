"""Looking at a target environment: live (a probe in its interpreter) or static (files only)."""

from pkgdoctor.target.facts import Binary, Interpreter, Libc, Target
from pkgdoctor.target.select import find_target

__all__ = ["Binary", "Interpreter", "Libc", "Target", "find_target"]
