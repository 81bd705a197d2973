#!/bin/sh
# Print the Python that `make` builds .venv with: the newest of python3.13, python3.12, python3.11 that runs
# (a pyenv shim for a version that is not selected does not count). One for which pip would install
# torch==2.13.0 as a CPU build ("+cpu" wheel, from a configured index or a local wheel) is preferred over a
# newer one for which pip would take PyPI's default Linux build, which bundles CUDA (several GB; it still runs
# on the CPU). CELLPLATEAU_NEWEST_PYTHON=1 skips that preference. `make PYTHON=...` bypasses this script.
runs=""
for p in python3.13 python3.12 python3.11; do
  if "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then runs="$runs $p"; fi
done
if [ -z "$runs" ]; then
  echo "none of python3.13, python3.12, python3.11 runs here; install one or pass PYTHON=..." >&2
  exit 1
fi
set -- $runs
if [ "${CELLPLATEAU_NEWEST_PYTHON:-0}" = 1 ]; then echo "$1"; exit 0; fi
for p in $runs; do
  if "$p" -m pip install --dry-run --quiet --no-deps --ignore-installed --report - 'torch==2.13.0' 2>/dev/null \
      | grep -q '2\.13\.0+cpu'; then
    echo "$p"
    exit 0
  fi
done
echo "$1"
