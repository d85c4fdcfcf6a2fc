#!/usr/bin/env bash
# Install what the tests need into a fresh venv (.venv-test) and run the whole suite:
# ruff, mypy --strict, then pytest on 2 workers. Tests download a few wheels from the package
# registry (cached for the run) and compile small C extensions with gcc.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=.venv-test
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
"$venv/bin/ruff" check src tests benchmarks
"$venv/bin/ruff" format --check src tests benchmarks
"$venv/bin/mypy"
exec "$venv/bin/python" -m pytest -n 2 "$@"
