"""``pkgdoctor cache``: pip's, uv's and conda's package caches — where each tool keeps its
cache (:mod:`.locate`, pure), how big each is and what its own clean-up command would free,
how much of a conda environment is hard-linked from ``pkgs/``, and broken or partially
extracted packages there (:mod:`.look`, the only module that reads files), the findings
(:mod:`.judge`, pure) and the text and JSON output (:mod:`.render`).

The modules are imported by the command alone; this package imports nothing.
"""
