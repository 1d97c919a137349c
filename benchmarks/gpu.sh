#!/usr/bin/env bash
# One prepared run for a machine with a CUDA GPU (a few minutes): training-step throughput and MFU of ViT-S and
# ViT-B at 64 pairs per step in bf16 (with and without torch.compile for ViT-S), peak memory, the accelerator
# augmentation's rendering rate on the GPU, the per-worker CPU decode rate at 256 px and 720p of every decoding
# path (decord, PyAV, window sampling), GPU decoding (data.decoder: cuda, torchcodec; skipped with a note when
# torchcodec is not installed): its frame exactness against a sequential CPU decode and its pairs/s, and the decode
# workers needed to keep the GPU busy. Results: printed, and JSON under $OUT_DIR (default runs/benchmarks/gpu).
#
#   bash benchmarks/gpu.sh                 # from the repository root, with .venv built (make install)
#   BATCH=32 ROUNDS=5 bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT_DIR=${OUT_DIR:-runs/benchmarks/gpu}
BATCH=${BATCH:-64}
ROUNDS=${ROUNDS:-5}
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# Dense bf16 tensor-core peak (TFLOP/s, no sparsity) of the detected GPU, from the vendor's data sheets.
PEAK=$("$PY" - <<'EOF'
import torch
if not torch.cuda.is_available():
    raise SystemExit("no CUDA GPU visible to torch: this script is for a GPU machine")
name = torch.cuda.get_device_name(0)
peaks = {"H200": 989, "H100 SXM": 989, "H100 80GB HBM3": 989, "H100 NVL": 835, "H100 PCIe": 756, "H100": 756,
         "GH200": 989, "B200": 2250, "A100": 312, "A800": 312, "L40S": 362, "L40": 181, "L4": 121, "A10G": 70,
         "A10": 125, "RTX 4090": 165, "RTX 6000 Ada": 365, "A6000": 155}
for key, value in peaks.items():
    if key in name:
        print(value)
        break
else:
    print(0)
EOF
)
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, bf16 peak ${PEAK:-?} TFLOP/s (0 = unknown: no MFU)')"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true
PEAK_ARG=()
[[ "$PEAK" != "0" ]] && PEAK_ARG=(--peak-tflops "$PEAK")

echo; echo "== training step, ViT-S/16, $BATCH pairs, bf16 (today vs new, Midway vs DINO-only, + torch.compile)"
"$PY" benchmarks/step.py --device cuda --preset vit-s16 --batch "$BATCH" --amp bf16 --rounds "$ROUNDS" --compile \
  "${PEAK_ARG[@]}" --json "$OUT_DIR/step_vit-s16.json"

echo; echo "== training step, ViT-B/16, $BATCH pairs, bf16"
"$PY" benchmarks/step.py --device cuda --preset vit-b16 --batch "$BATCH" --amp bf16 --rounds "$ROUNDS" \
  "${PEAK_ARG[@]}" --json "$OUT_DIR/step_vit-b16.json" || echo "ViT-B at batch $BATCH failed (memory?): try BATCH=32"

echo; echo "== loader: per-worker decode rate (CPU) and rendering of 64 pairs per call on the GPU"
"$PY" benchmarks/loader.py --seconds 5 --rounds 3 --workers "$(nproc)" --render-device cuda --render-items 13 \
  --json "$OUT_DIR/loader.json"

echo; echo "== GPU decoding (data.decoder: cuda): exactness and pairs/s"
if "$PY" -c "import torchcodec" 2>/dev/null; then
  "$PY" benchmarks/gpu_decode.py --seconds 5 --json "$OUT_DIR/gpu_decode.json" || echo "GPU decoding failed (above)"
else
  echo "torchcodec is not installed: pip install the torchcodec wheel matching this torch to measure it"
fi

echo; echo "== decode workers needed to keep this GPU busy"
"$PY" - "$OUT_DIR" <<'EOF'
import json, math, sys
from pathlib import Path
out = Path(sys.argv[1])
loader = json.loads((out / "loader.json").read_text())
for preset in ("vit-s16", "vit-b16"):
    path = out / f"step_{preset}.json"
    if not path.exists():
        continue
    step = json.loads(path.read_text())
    best = min(v["ms"] for k, v in step["steps"].items() if k.startswith("Midway new"))
    gpu_rate = step["batch_pairs"] / best * 1e3
    for video, entry in loader["videos"].items():
        for path in ("new (decode only)", "new, window (decode only)", "new, window + pyav (decode only)"):
            worker_rate = entry[path]["pairs_per_s"]
            print(f"{preset}: GPU consumes {gpu_rate:.0f} pairs/s; {video}, {path}: {worker_rate:.1f} pairs/s per "
                  f"decode worker -> {math.ceil(gpu_rate / worker_rate)} workers")
    gpu_decode = out / "gpu_decode.json"
    if gpu_decode.exists():
        for case, entry in json.loads(gpu_decode.read_text())["speed"].items():
            print(f"{preset}: GPU decoding, {case}: {entry['pairs_per_s']:.1f} pairs/s per process "
                  f"-> {math.ceil(gpu_rate / entry['pairs_per_s'])} processes")
EOF
