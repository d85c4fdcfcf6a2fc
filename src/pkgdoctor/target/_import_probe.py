# Sent to the *target* interpreter with ``python -B -X faulthandler -c`` by ``pkgdoctor why``.
# CPython 3.8+, stdlib only. Imports the module named in argv, records every module spec found
# on the way (so a crash can be pinned on the extension being loaded) and prints one JSON
# document with the whole exception chain.
from __future__ import annotations

import json
import sys
import traceback
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence

MARK = "\x1epkgdoctor-spec\t"


class _Tracer:
    """A meta path finder that asks the others and writes down what they found."""

    found: List[Dict[str, Any]] = []

    @classmethod
    def find_spec(
        cls, fullname: str, path: Optional[Sequence[str]] = None, target: Any = None
    ) -> Any:
        for finder in sys.meta_path:
            if finder is cls:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                origin = spec.origin if isinstance(spec.origin, str) else None
                locations = list(spec.submodule_search_locations or [])
                cls.found.append({"name": fullname, "origin": origin, "locations": locations})
                # Written at once so that it survives a crash in the module's init function.
                sys.stderr.write(MARK + fullname + "\t" + (origin or "") + "\n")
                sys.stderr.flush()
                return spec
        return None


def _frames(tb: Optional[TracebackType]) -> List[Dict[str, Any]]:
    return [
        {"file": f.filename, "line": f.lineno, "function": f.name}
        for f in traceback.extract_tb(tb)[-8:]
    ]


def _chain(exc: Optional[BaseException]) -> List[Dict[str, Any]]:
    chain: List[Dict[str, Any]] = []
    seen = set()
    while exc is not None and id(exc) not in seen and len(chain) < 20:
        seen.add(id(exc))
        chain.append(
            {
                "type": type(exc).__module__ + "." + type(exc).__qualname__
                if type(exc).__module__ != "builtins"
                else type(exc).__qualname__,
                "message": str(exc),
                "name": getattr(exc, "name", None) if isinstance(exc, ImportError) else None,
                "path": getattr(exc, "path", None) if isinstance(exc, ImportError) else None,
                "frames": _frames(exc.__traceback__),
            }
        )
        exc = exc.__cause__ or exc.__context__
    return chain


sys.meta_path.insert(0, _Tracer)
module = sys.argv[1]
result: Dict[str, Any] = {"module": module, "ok": True, "chain": []}
try:
    __import__(module)
except BaseException as exc:  # SystemExit and KeyboardInterrupt from a module too
    result["ok"] = False
    result["chain"] = _chain(exc)
finally:
    sys.meta_path.remove(_Tracer)
result["found"] = _Tracer.found
# The module may have printed to stdout itself: the result follows a marker, on its own line.
sys.stdout.write("\n\x1epkgdoctor-result\t" + json.dumps(result, default=str) + "\n")
sys.stdout.flush()
