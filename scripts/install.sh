#!/usr/bin/env bash
# Builds .venv/ with the one stack that works (see docs/install.md "What `make install` builds, and why").
# Idempotent: a stamp records the hash of this script and setup.cfg; a second run with everything in
# place only checks the imports (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP=$VENV/.midway-install-stamp
WANT=$(cat scripts/install.sh setup.cfg pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -d' ' -f1)

log() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

if [[ -f $STAMP && $(cat "$STAMP") == "$WANT" ]] \
    && "$VENV/bin/python" -c "import mmcv.ops, mmseg, mmflow, timm, lightly, decord, midway_plugin" 2>/dev/null; then
  log "environment in $VENV is complete (delete $STAMP to force a reinstall)"
  exit 0
fi

if [[ ! -x $VENV/bin/python ]]; then
  log "creating virtual environment $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip 'setuptools>=77,<81' wheel
# requirements.lock (`make lock`): the exact version of every package, transitive ones included, as constraints.
LOCK=(); [[ -f requirements.lock ]] && LOCK=(-c requirements.lock)

# torch / torchvision: the pair that imports together here.
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
if ! "$VENV/bin/python" -c "import torch, torchvision; assert torch.__version__.startswith('2.14.1')" 2>/dev/null; then
  log "installing ${TORCH_PINS[*]} (about 1 minute from local wheels, 5.5 GB)"
  "${PIP[@]}" install -q "${LOCK[@]}" "${TORCH_PINS[@]}"
fi

# mmcv 2.0.1 with compiled ops, built from the sdist.
MMCV_VERSION=2.0.1
if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
  WHEELS=${MMCV_WHEEL_DIR:-$HOME/.cache/midway-plugin/wheels}
  mkdir -p "$WHEELS"
  if [[ "$("$VENV/bin/python" -c 'import torch; print(int(torch.cuda.is_available()))')" == 1 ]] && command -v nvcc >/dev/null; then
    FORCE_CUDA=1; FLAVOUR=cuda
  else
    FORCE_CUDA=0; FLAVOUR=cpu
  fi
  TAG=$("$VENV/bin/python" -c 'import sys, torch; print("torch%s-cp%d%d" % (torch.__version__.split("+")[0], *sys.version_info[:2]))')
  CACHED=$(ls "$WHEELS"/$FLAVOUR-$TAG/mmcv-$MMCV_VERSION-*.whl 2>/dev/null | head -1 || true)
  if [[ -z $CACHED ]]; then
    log "building mmcv $MMCV_VERSION with compiled $FLAVOUR ops from its sdist: this takes ~10 minutes on 2 cores (~17 when they are busy)"
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: mmcv==$MMCV_VERSION -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
    # torch >= 2.6 headers require C++20; mmcv 2.0.1 hard-codes -std=c++14/17.
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
    grep -q 'std=c++20' "$BUILD/mmcv-$MMCV_VERSION/setup.py" || { echo "patching mmcv setup.py failed" >&2; exit 1; }
    # CFLAGS -g0: no debug info (Python's default flags carry -g); the objects are smaller and link faster.
    (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS=${MAX_JOBS:-$(nproc)} \
       CFLAGS="${CFLAGS:-} -g0" \
       "${PIP[@]}" wheel -q --no-build-isolation --no-deps . -w "$WHEELS/$FLAVOUR-$TAG")
    CACHED=$(ls "$WHEELS"/$FLAVOUR-$TAG/mmcv-$MMCV_VERSION-*.whl | head -1)
  else
    log "using the mmcv wheel built earlier: $CACHED"
  fi
  "${PIP[@]}" install -q --no-deps "$CACHED"
  "${PIP[@]}" install -q "${LOCK[@]}" addict mmengine==0.10.7 opencv-python packaging pillow pyyaml yapf
fi

log "installing the OpenMMLab, Lightly and video stack"
"${PIP[@]}" install -q "${LOCK[@]}" mmengine==0.10.7 mmsegmentation==1.2.2 mmflow==1.0.0rc0 \
  timm==1.0.31 lightly==1.6.0 decord==0.6.0 safetensors ftfy regex \
  'setuptools>=77,<81' tensorboard imageio imageio-ffmpeg matplotlib pytest av==14.0.1
# The checks `make lint` and pre-commit run (CONTRIBUTING.md).
"${PIP[@]}" install -q "${LOCK[@]}" ruff==0.17.6 mypy==2.4.1 pre-commit
# openmim's own requirements pin setuptools 60, which breaks torch: install it without them.
# (pip then reports "openmim 0.3.9 requires opendatalab, which is not installed": expected, harmless.)
"${PIP[@]}" install -q "${LOCK[@]}" --no-deps openmim==0.3.9
"${PIP[@]}" install -q "${LOCK[@]}" click colorama model-index pandas requests rich tabulate

log "installing midway-plugin in editable mode"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e .

"$VENV/bin/python" -c "import mmcv.ops, mmseg.models, mmflow.models, timm, lightly, decord, midway_plugin; print('imports ok: mmcv', __import__('mmcv').__version__)"
echo "$WANT" > "$STAMP"
log "done in ${SECONDS} s: activate with 'source .venv/bin/activate'"
