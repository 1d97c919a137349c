"""Defaults of the perturbation analysis (torch-free, so the CLI can show them without importing torch).

The paper does not state K or the perturbed level (docs/paper.md §3.3, "NOT FOUND"); these are our choices.
"""

#: Random tangents averaged per heatmap. For D-dim tokens one draw's cosine between r ~ N(0, I) and a target
#: token's output tangent fluctuates by ≈ 1/sqrt(D) around its mean; averaging K draws shrinks that to
#: ≈ 1/sqrt(D·K) (≈ 0.018 for ViT-S, D=384, K=8): a few hundredths of the map's range, at a cost linear in K.
DEFAULT_REPEATS = 8

#: Heatmap candidates per tracking step (paper §4.4: "top-5 heatmap locations").
TOP_K = 5

#: Frame gap of an analysed pair: 15 frames = 0.5 s at 30 fps, the lower end of the pretraining pairs'
#: Δt ∈ [15, 30] frames (docs/paper.md §2.2), i.e. motion of the size the forward predictor was trained on.
DEFAULT_GAP = 15

#: Frames tracked by ``midway analyze track``.
DEFAULT_TRACK_FRAMES = 8
