#!/usr/bin/env bash
# The end-to-end demo (`make demo`, README's first command), on the CPU in a few minutes, with the model and data
# settings of the small-scale recipe (`midway bench quality --recipe small`: configs/pretrain/small_synthetic.yaml and
# midway_plugin/evaluation/recipes.py, read from there):
#   1. generate 24 short synthetic videos with exact flow and masks (`midway make-video` with the recipe's frame
#      size, object and camera speeds and texture wavelengths; the last 6 are held out),
#   2. pretrain the recipe's model (configs/pretrain/small_synthetic.yaml) on the 18 training videos, DEMO_STEPS steps,
#   3. export the weights (timm / mmseg / mmflow loadable safetensors),
#   4. segmentation: `mim train mmseg` linear readout on the frozen export, `mim test mmseg` -> mIoU on held-out videos,
#   5. optical flow: `mim train mmflow` finetuning (pretrained dynamics + DPT head), `mim test mmflow` -> EPE,
#   6. draw forwarded-feature perturbation heatmaps of the exported dynamics (`midway analyze perturb`),
# and print one summary: the learning-health verdict of pretraining (health.json), mIoU and EPE beside their trivial
# references, and where each picture and log is. Everything goes to demo_output/ (gitignored).
# Environment: PY (python, default .venv/bin/python), DEMO_STEPS (pretraining steps, default 150), DEMO_SEG_ITERS /
# DEMO_FLOW_ITERS (readout / finetuning iterations, defaults 300 / 100), DEMO_FRAMES (frames per video, default 16),
# DEMO_OUT (output folder, default demo_output).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${DEMO_OUT:-demo_output}
STEPS=${DEMO_STEPS:-150}
SEG_ITERS=${DEMO_SEG_ITERS:-300}
FLOW_ITERS=${DEMO_FLOW_ITERS:-100}
FRAMES=${DEMO_FRAMES:-16}
[[ -x $PY ]] || { echo "demo: $PY not found; run 'make install' first" >&2; exit 1; }
for var in DEMO_STEPS:$STEPS DEMO_SEG_ITERS:$SEG_ITERS DEMO_FLOW_ITERS:$FLOW_ITERS DEMO_FRAMES:$FRAMES; do
  [[ ${var#*:} =~ ^[1-9][0-9]*$ ]] || { echo "demo: ${var%%:*} must be a positive integer, got '${var#*:}'" >&2; exit 1; }
done
PYBIN=$(cd "$(dirname "$PY")" && pwd)
midway() { "$PY" -c 'import sys; from midway_plugin.cli import main; sys.exit(main())' "$@"; }
say() { printf '\n\033[1m[demo]\033[0m %s\n' "$*"; }
# `mim ...` with its (long) output in a log file; on failure the end of the log and its path are shown.
run_mim() {
  local log=$1; shift
  mkdir -p "$(dirname "$log")"
  local mim=("$PYBIN/mim"); [[ -x $PYBIN/mim ]] || mim=("$PY" -m mim)
  echo "  mim $* > $log"
  if ! PATH="$PYBIN:$PATH" MPLBACKEND=Agg PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "${mim[@]}" "$@" >"$log" 2>&1 </dev/null; then
    tail -n 30 "$log" >&2
    echo "demo: 'mim $1 $2' failed; the full log is $log" >&2
    exit 1
  fi
}
start=$SECONDS
# The small-scale recipe: its pretraining config and its make-video flags (frame size, speeds, texture wavelengths,
# and the token statistics of its pretraining pairs), as `midway bench quality --recipe small` uses them.
recipe=$("$PY" -m midway_plugin.evaluation.recipes small)
CONFIG=$(sed -n 1p <<<"$recipe"); CONFIG=${CONFIG#"$PWD/"}
read -r -a VIDEO_ARGS <<<"$(sed -n 2p <<<"$recipe")"
# Many short videos rather than a few long ones: each has its own camera pan, so a flow head cannot get by on
# recognising the few training backgrounds.
say "1/6 generating 24 synthetic videos ($FRAMES frames of ${VIDEO_ARGS[1]}; the last 6 held out for evaluation) -> $OUT/video"
rm -rf "$OUT/video"
midway make-video --out "$OUT/video" --num-videos 24 --val-videos 6 --frames "$FRAMES" --seed 0 --objects 5 \
  "${VIDEO_ARGS[@]}"

say "2/6 pretraining $CONFIG ($STEPS steps) on the 18 training videos, on the CPU -> $OUT/pretrain"
rm -rf "$OUT/pretrain"  # a fresh run: no stale checkpoints or log versions from an earlier demo
# Losses and health checks about every tenth step (at least one check in a short run).
every=$(( STEPS / 10 < 1 ? 1 : (STEPS / 10 > 10 ? 10 : STEPS / 10) ))
midway pretrain --config "$CONFIG" --data.root "$OUT/video/videos" --output-dir "$OUT/pretrain" \
  --trainer.progress_bar false --trainer.max_steps "$STEPS" --trainer.log_every_n_steps "$every" \
  --trainer.checkpoint_every_n_steps "$STEPS"

say "3/6 exporting the EMA teacher -> $OUT/midway_demo.safetensors"
midway export "$OUT/pretrain/checkpoints/last.ckpt" "$OUT/midway_demo.safetensors"

# `mim train` for ITERS iterations (validating and checkpointing at the end; seeded, so a rerun prints the same
# numbers), then `mim test`, drawing the test predictions into DIR/pictures:
#   train_and_test DIR TOOLBOX CONFIG ITERS CFG_OPTIONS...
train_and_test() {
  local dir=$1 toolbox=$2 cfg=$3 iters=$4; shift 4
  local data=("train_dataloader.dataset.data_root=$OUT/video" "val_dataloader.dataset.data_root=$OUT/video"
              "test_dataloader.dataset.data_root=$OUT/video")
  rm -rf "$dir"
  run_mim "$dir/train.log" train "$toolbox" "$cfg" --work-dir "$dir" --cfg-options "$@" "${data[@]}" \
    "train_cfg.max_iters=$iters" "param_scheduler.1.end=$iters" "train_cfg.val_interval=$iters" \
    "default_hooks.checkpoint.interval=$iters" randomness.seed=0
  run_mim "$dir/test.log" test "$toolbox" "$cfg" --checkpoint "$dir/iter_$iters.pth" --work-dir "$dir/test" \
    --show-dir "$dir/pictures" --cfg-options "$@" "${data[@]}" default_hooks.visualization.interval=1
}

say "4/6 segmentation: linear readout on the frozen export, $SEG_ITERS iterations, mIoU on the held-out videos -> $OUT/seg"
train_and_test "$OUT/seg" mmseg configs/mmseg/linear_midway-tiny_1xb16-2k_synthetic-64x64.py "$SEG_ITERS" \
  "model.backbone.export=$OUT/midway_demo.safetensors"

say "5/6 optical flow: finetuning (pretrained dynamics + DPT head), $FLOW_ITERS iterations, EPE on the held-out videos -> $OUT/flow"
train_and_test "$OUT/flow" mmflow configs/mmflow/midwayflow_tiny_1xb8-2k_synthetic-64x64.py "$FLOW_ITERS" \
  "model.export=$OUT/midway_demo.safetensors"

say "6/6 perturbation heatmaps of the learned forward predictor on a held-out video -> $OUT/analysis"
rm -rf "$OUT/analysis"
midway analyze perturb --weights "$OUT/midway_demo.safetensors" --video "$OUT/video/videos_val/synth_0018.mp4" \
  --gap 3 --out "$OUT/analysis"

say "done in $((SECONDS - start)) s; produced:"
"$PY" - "$OUT" "$SEG_ITERS" "$FLOW_ITERS" <<'PYEOF'
import csv, json, re, sys
from pathlib import Path

import numpy as np
from PIL import Image

out, seg_iters, flow_iters = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
video = out / "video"
index = json.loads((video / "dataset.json").read_text())
splits, stats = index["splits"], index["flow_stats"]
print(f"  videos        {video / 'videos'} ({len(splits['train'])} train), {video / 'videos_val'} "
      f"({len(splits['val'])} held out); frames, flow, masks in {video}/{{frames,flow,masks}}, index dataset.json")
print(f"                |flow| on held-out pairs: mean {stats['val']['mean']:.2f}, p95 {stats['val']['p95']:.2f} px/frame")
ckpts = sorted((out / "pretrain" / "checkpoints").glob("*.ckpt"))
print(f"  checkpoints   {out / 'pretrain' / 'checkpoints'}  ({', '.join(p.name for p in ckpts)})")
logs = sorted((out / "pretrain" / "csv").glob("version_*/metrics.csv"))
rows = [r for r in csv.DictReader(open(logs[-1])) if r.get("train_loss")] if logs else []
def fmt(r): return ", ".join(f"{k} {float(r[k]):.3f}" for k in ("train_loss", "loss_dino", "loss_dynamics") if r.get(k))
print(f"  pretrain logs {out / 'pretrain' / 'csv'}  (TensorBoard: tensorboard --logdir {out / 'pretrain' / 'tensorboard'})")
if rows:
    print(f"                step {rows[0]['step']}: {fmt(rows[0])}")
    print(f"                step {rows[-1]['step']}: {fmt(rows[-1])}")
else:
    print("                (no losses logged: the run was shorter than trainer.log_every_n_steps)")
from midway_plugin.lightly.health import health_verdict
health = out / "pretrain" / "health.json"
verdict = health_verdict(json.loads(health.read_text()))
print(f"  health        {health}  (curves: {health.with_suffix('.png')})")
for line in verdict:
    print(f"                {line}")
export = out / "midway_demo.safetensors"
print(f"  export        {export}  ({export.stat().st_size / 1e6:.1f} MB)")


def test_metric(log: Path, name: str) -> float:
    found = re.findall(rf"Iter\(test\).*?{name}: ([0-9.]+)", log.read_text())
    if not found:
        sys.exit(f"demo: no {name} in {log}")
    return float(found[-1])


def pictures(folder: Path) -> str:
    pngs = sorted(folder.rglob("*.png"))
    return f"{pngs[0].parent} ({len(pngs)} PNG)" if pngs else "(none written)"


# The all-background guess: IoU(background) = its pixel share, 0 for the object classes present.
masks = np.stack([np.asarray(Image.open(p)) for name in splits["val"] for p in sorted((video / "masks" / name).glob("*.png"))])
present = np.unique(masks)
trivial = 100 * (masks == 0).mean() / len(present)
seg = out / "seg"
miou = test_metric(seg / "test.log", "mIoU")
table = dict(re.findall(r"^\|\s*(\w+)\s*\|\s*([0-9.]+|nan)\s*\|", (seg / "test.log").read_text(), re.M))
print(f"  segmentation  mIoU {miou:.1f} on the held-out videos (frozen linear readout, {seg_iters} iterations; "
      f"all-background guess {trivial:.1f})")
print("                IoU per class: " + ", ".join(f"{k} {v}" for k, v in table.items() if k in index["classes"]))
print(f"                logs {seg / 'train.log'}, {seg / 'test.log'}; checkpoint {seg / f'iter_{seg_iters}.pth'}")
print(f"                pictures {pictures(seg / 'pictures')}")
flow = out / "flow"
epe = test_metric(flow / "test.log", "EPE")
print(f"  optical flow  EPE {epe:.2f} px on the held-out pairs (finetuning, {flow_iters} iterations; "
      f"zero-flow guess {stats['val']['mean']:.2f} px)")
print(f"                logs {flow / 'train.log'}, {flow / 'test.log'}; checkpoint {flow / f'iter_{flow_iters}.pth'}")
print(f"                pictures {pictures(flow / 'pictures')}")
print(f"  analysis      {out / 'analysis' / 'grid.png'}  (peaks.png, heatmaps.npy, summary.json; docs/analysis.md)")
from midway_plugin.models import build_from_export, load_timm_vit
net = build_from_export(export)
vit = load_timm_vit(export)
params = sum(p.numel() for p in net.parameters()) / 1e6
print(f"  reload        build_from_export -> MidwayNetwork ({params:.2f} M params); "
      f"load_timm_vit -> {type(vit).__name__} (embed dim {vit.embed_dim})")
print(f"  in short      {verdict[-1]}; mIoU {miou:.1f} (all background {trivial:.1f}); EPE {epe:.2f} px "
      f"(zero flow {stats['val']['mean']:.2f} px)")
PYEOF
