"""``pkgdoctor explain CODE``: a finding code's section of ``docs/checks.md``.

The wheel carries ``docs/checks.md`` as ``pkgdoctor/docs/checks.md`` (``pyproject.toml``,
hatch ``force-include``); a source checkout (an editable install) reads it from the
repository. The reference is the one document: nothing here repeats it.
"""

from __future__ import annotations

import os

from pkgdoctor.files import read_regular

_LIMIT = 4 << 20  # checks.md is ~100 KB
_HERE = os.path.dirname(os.path.abspath(__file__))
_PLACES = (
    os.path.join(_HERE, "docs", "checks.md"),  # installed from the wheel
    os.path.join(os.path.dirname(os.path.dirname(_HERE)), "docs", "checks.md"),  # a checkout
)


def reference() -> str | None:
    """The text of docs/checks.md, or None when this installation has none."""
    for place in _PLACES:
        try:
            return read_regular(place, _LIMIT).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return None


def section(text: str, code: str) -> str | None:
    """The section of ``code`` in the reference ``text`` (its heading to the next one), or
    None when it has none.

    >>> section("### `a-b`\\n**Means:** x.\\n\\n---\\n\\n### `c`\\nother", "a-b")
    '### `a-b`\\n**Means:** x.'
    """
    head = f"### `{code}`\n"
    start = text.find(head)
    if start < 0:
        return None
    end = text.find("\n### ", start + len(head))
    body = text[start : end if end >= 0 else len(text)]
    return body.rstrip().removesuffix("---").rstrip()
