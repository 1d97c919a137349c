#!/usr/bin/env bash
# Paper Table 3's headline comparison (DINO-only base vs full Midway) at ViT-S/16 scale on one GPU, in one command:
# `midway bench quality` with the small-scale recipe's data and method (`--recipe small`) and the paper's encoder
# (configs/pretrain/small_synthetic_vit-s16.yaml), on generated video, or pretraining on your own videos (the first
# argument) and evaluating on the generated held-out videos. Prints OUT/results.md, the table of
# `midway bench quality`; everything else (results.json, results.png, one log per stage) is under OUT.
#
#   bash benchmarks/gpu_table3.sh                  # from the repository root, with .venv built (make install)
#   bash benchmarks/gpu_table3.sh my_videos/       # pretrain on a folder of your videos instead
#   PRETRAIN_STEPS=600 SEEDS=3 bash benchmarks/gpu_table3.sh
#
# Budget, ESTIMATED (not measured; docs/bench.md): <= 8 minutes on one H100. The critical path of the stages, with
# two pretraining runs side by side on the GPU and JOBS=4 stages at a time:
#     make-video (168 videos x 32 frames at 128x128)                      ~  40 s
#   + pretraining, 300 steps x ~0.3 s (16 videos x 2 pairs, loader-bound)  ~ 120 s (incl. ~30 s start-up)
#   + export                                                               ~  10 s
#   + 6 readout trainings in 2 waves of <= 4 (flow: 1000 x ~60 ms + start-up) ~ 160 s
#   + 6 tests + 2 zero-shot stages in 2 waves                              ~  60 s
#   = ~ 390 s, ~ 1.5 min below the 8-minute budget. More steps: PRETRAIN_STEPS (each 100 steps ~ +30 s per wave).
#
# Parameters (environment variables; defaults sized for one H100):
#   OUT (runs/bench/table3_vit-s16), PY (.venv/bin/python), PRESET (vit-s16),
#   PRETRAIN_CONFIG (configs/pretrain/small_synthetic_vit-s16.yaml), ACCELERATOR (gpu), DEVICES (1),
#   PRETRAIN_STEPS (300), BATCH (16 videos per step), SEEDS (1), NUM_VIDEOS (168), VAL_VIDEOS (24), FRAMES (32),
#   SIZE (128x128), SEG_ITERS (1000), FLOW_ITERS (1000), ZS_GAP (2: inside the recipe's delta_t 1-3), ZS_PAIRS (4),
#   JOBS (4), QUICK (set to 1: `--quick` first, the flags above on top; the CPU test of this script uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/bench/table3_vit-s16}
PRESET=${PRESET:-vit-s16}
PRETRAIN_CONFIG=${PRETRAIN_CONFIG:-configs/pretrain/small_synthetic_vit-s16.yaml}
ACCELERATOR=${ACCELERATOR:-gpu}
DEVICES=${DEVICES:-1}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-300}
BATCH=${BATCH:-16}
SEEDS=${SEEDS:-1}
NUM_VIDEOS=${NUM_VIDEOS:-168}
VAL_VIDEOS=${VAL_VIDEOS:-24}
FRAMES=${FRAMES:-32}
SIZE=${SIZE:-128x128}
SEG_ITERS=${SEG_ITERS:-1000}
FLOW_ITERS=${FLOW_ITERS:-1000}
ZS_GAP=${ZS_GAP:-2}
ZS_PAIRS=${ZS_PAIRS:-4}
JOBS=${JOBS:-4}
QUICK=${QUICK:-}
[[ -x $PY ]] || { echo "gpu_table3: $PY not found; run 'make install' first" >&2; exit 1; }
(( $# <= 1 )) || { echo "usage: bash benchmarks/gpu_table3.sh [VIDEO_DIR]" >&2; exit 2; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

args=()
if [[ -n $QUICK ]]; then args+=(--quick); fi
if (( $# == 1 )); then
  [[ -d $1 ]] || { echo "gpu_table3: VIDEO_DIR '$1' is not a folder" >&2; exit 2; }
  args+=(--pretrain-videos "$1")
fi
if [[ $ACCELERATOR == gpu ]]; then
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "gpu_table3: no CUDA GPU visible to torch (ACCELERATOR=cpu runs on the CPU)")'
fi
start=$SECONDS
rc=0
"$PY" -m midway_plugin.cli bench quality --out "$OUT" --recipe small --variants base,full "${args[@]}" \
  --pretrain-config "$PRETRAIN_CONFIG" --preset "$PRESET" --accelerator "$ACCELERATOR" --devices "$DEVICES" \
  --pretrain-steps "$PRETRAIN_STEPS" --batch-size "$BATCH" --seeds "$SEEDS" --num-videos "$NUM_VIDEOS" \
  --val-videos "$VAL_VIDEOS" --frames "$FRAMES" --size "$SIZE" --seg-iters "$SEG_ITERS" --flow-iters "$FLOW_ITERS" \
  --zs-gap "$ZS_GAP" --zs-pairs "$ZS_PAIRS" --jobs "$JOBS" || rc=$?
echo
if [[ -f $OUT/results.md ]]; then
  cat "$OUT/results.md"
fi
echo
echo "gpu_table3: $((SECONDS - start)) s; results in $OUT (results.json, results.md, results.png, logs/); exit $rc"
exit "$rc"
