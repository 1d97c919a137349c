#!/usr/bin/env bash
# `make lock`: writes requirements.lock, every package of .venv/ at its exact version (transitive ones included),
# which `make install` then uses as pip constraints. Run it deliberately, after `make test` passed on a fresh
# install you trust; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[[ -x $PY ]] || { echo "lock: $PY not found; run make install first" >&2; exit 2; }
{
  echo "# Exact versions of every package the test suite passed with (written by \`make lock\`, scripts/lock.sh)."
  echo "# \`make install\` installs with these as pip constraints, so a new upstream release cannot change a fresh"
  echo "# machine. mmcv is built from its sdist by scripts/install.sh; the pin only fixes its version."
  "$PY" -m pip freeze --exclude-editable --disable-pip-version-check \
    | sed -E 's|^mmcv @ .*$|mmcv==2.0.1|' | LC_ALL=C sort -f
} > requirements.lock.tmp
mv requirements.lock.tmp requirements.lock
echo "lock: wrote requirements.lock ($(grep -vc '^#' requirements.lock) packages)"
