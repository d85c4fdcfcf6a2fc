"""``pkgdoctor wheels``: which file pip would install for a requirement on a target, or why
no wheel fits and what building the sdist needs.

The pipeline mirrors the rest of pkgdoctor (look → facts → verdicts → render):

* :mod:`~pkgdoctor.wheels.platforms` — the target: its PEP 425 tags, computed with
  ``packaging.tags`` for *that* Python and platform (never this machine's glibc);
* :mod:`~pkgdoctor.wheels.config` — the sources pip would use, read the way pip reads them
  (config files at every level, ``PIP_*`` variables, the command line);
* :mod:`~pkgdoctor.wheels.http` and :mod:`~pkgdoctor.wheels.simple` — the PEP 691 JSON and
  PEP 503 HTML simple APIs, ``file://`` indexes and find-links, behind an on-disk HTTP cache;
* :mod:`~pkgdoctor.wheels.evaluate` — pip's candidate evaluation and preference order, and the
  reasons each rejected file family does not fit (pure functions: files in, verdicts out);
* :mod:`~pkgdoctor.wheels.sdist` — the build backend read from the sdist's ``pyproject.toml``;
* :mod:`~pkgdoctor.wheels.command` runs it all concurrently, :mod:`~pkgdoctor.wheels.report`
  renders the answer as text or JSON (``schema/wheels-v1.json``).
"""
