#!/usr/bin/env bash
# The end-to-end demo (`make demo`, README's first command), on the CPU in a few minutes:
#   1. generate short synthetic videos with `midway make-video`,
#   2. pretrain the tiny Midway model of configs/pretrain/demo.yaml for a bounded number of steps,
#   3. export the weights (timm / mmseg / mmflow loadable safetensors),
#   4. draw forwarded-feature perturbation heatmaps of the exported dynamics (`midway analyze perturb`),
# and print what was produced and where. Everything goes to demo_output/ (gitignored).
# Environment: PY (python, default .venv/bin/python), DEMO_STEPS (optimizer steps, default: the config's 200),
# DEMO_OUT (output folder, default demo_output).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${DEMO_OUT:-demo_output}
STEPS=${DEMO_STEPS:-}
[[ -x $PY ]] || { echo "demo: $PY not found; run 'make install' first" >&2; exit 1; }
midway() { "$PY" -c 'import sys; from midway_plugin.cli import main; sys.exit(main())' "$@"; }
say() { printf '\n\033[1m[demo]\033[0m %s\n' "$*"; }
start=$SECONDS

say "1/4 generating 8 synthetic videos (48 frames, 64x64) with flow and mask ground truth -> $OUT/video"
midway make-video --out "$OUT/video" --num-videos 8 --frames 48 --size 64x64 --seed 0

say "2/4 pretraining configs/pretrain/demo.yaml on the CPU -> $OUT/pretrain"
rm -rf "$OUT/pretrain"  # a fresh run: no stale checkpoints or log versions from an earlier demo
extra=()
[[ -n $STEPS ]] && extra+=(--max-steps "$STEPS")
midway pretrain --config configs/pretrain/demo.yaml --data.root "$OUT/video/videos" --output-dir "$OUT/pretrain" \
  --trainer.progress_bar false "${extra[@]}"

say "3/4 exporting the EMA teacher -> $OUT/midway_demo.safetensors"
midway export "$OUT/pretrain/checkpoints/last.ckpt" "$OUT/midway_demo.safetensors"

say "4/4 perturbation heatmaps of the learned forward predictor -> $OUT/analysis"
rm -rf "$OUT/analysis"
midway analyze perturb --weights "$OUT/midway_demo.safetensors" --video "$OUT/video/videos/synth_0000.mp4" --gap 3 \
  --out "$OUT/analysis"

say "done in $((SECONDS - start)) s; produced:"
"$PY" - "$OUT" <<'PYEOF'
import csv, sys
from pathlib import Path

out = Path(sys.argv[1])
videos = sorted((out / "video" / "videos").glob("*.mp4"))
video = out / "video"
print(f"  videos       {video / 'videos'}  ({len(videos)} mp4; flow in {video / 'flow'}, masks in {video / 'masks'})")
ckpts = sorted((out / "pretrain" / "checkpoints").glob("*.ckpt"))
print(f"  checkpoints  {out / 'pretrain' / 'checkpoints'}  ({', '.join(p.name for p in ckpts)})")
logs = sorted((out / "pretrain" / "csv").glob("version_*/metrics.csv"))
rows = [r for r in csv.DictReader(open(logs[-1])) if r.get("train_loss")] if logs else []
def fmt(r): return ", ".join(f"{k} {float(r[k]):.3f}" for k in ("train_loss", "loss_dino", "loss_dynamics") if r.get(k))
print(f"  logs         {out / 'pretrain' / 'csv'}  (TensorBoard: tensorboard --logdir {out / 'pretrain' / 'tensorboard'})")
if rows:
    print(f"               step {rows[0]['step']}: {fmt(rows[0])}")
    print(f"               step {rows[-1]['step']}: {fmt(rows[-1])}")
else:
    print("               (no losses logged: the run was shorter than trainer.log_every_n_steps)")
export = out / "midway_demo.safetensors"
print(f"  export       {export}  ({export.stat().st_size / 1e6:.1f} MB)")
print(f"  analysis     {out / 'analysis' / 'grid.png'}  (heatmaps.npy, summary.json; see README, 'midway analyze')")
from midway_plugin.models import build_from_export, load_timm_vit
net = build_from_export(export)
vit = load_timm_vit(export)
params = sum(p.numel() for p in net.parameters()) / 1e6
print(f"  reload       build_from_export -> MidwayNetwork ({params:.2f} M params); "
      f"load_timm_vit -> {type(vit).__name__} (embed dim {vit.embed_dim})")
PYEOF
