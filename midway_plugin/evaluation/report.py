"""The summary, Markdown table and picture of ``midway bench quality`` (from ``results.json`` alone).

``python -m midway_plugin.evaluation.report OUT_DIR`` recomputes the summary of ``OUT_DIR/results.json`` from its
per-stage results and rewrites ``results.md`` and ``results.png`` (e.g. for a run that was stopped part-way: the
JSON is rewritten after every stage).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from midway_plugin.evaluation.variants import VARIANTS

#: Summary metric → (stage, path into its result, higher is better, column title).
METRICS: dict[str, tuple[str, tuple[str, ...], bool, str]] = {
    "miou": ("seg-test", ("mIoU",), True, "mIoU ↑"),
    "epe_finetune": ("flow-test", ("EPE",), False, "EPE finetune ↓"),
    "epe_frozen": ("flow-frozen-test", ("EPE",), False, "EPE frozen ↓"),
    "epe_tracking": ("zeroshot", ("methods", "perturbation-track", "epe"), False, "Tracking EPE ↓"),
    "epe_peak": ("zeroshot", ("methods", "perturbation-peak", "epe"), False, "Heatmap-peak EPE ↓"),
    "epe_feature": ("zeroshot", ("methods", "feature", "epe"), False, "Feature-matching EPE ↓"),
    "s_per_step": ("pretrain", ("seconds_per_step",), False, "Pretraining s/step"),
}
TABLE_COLUMNS = ("miou", "epe_finetune", "epe_frozen", "epe_tracking", "epe_feature", "s_per_step")
SWITCHES = (
    ("latent_dynamics", "Latent dyn."),
    ("backward_layers", "Backward"),
    ("multi_level", "Multi-level"),
    ("refinement", "Refinement"),
    ("gating", "Gating"),
)
REFERENCES = (
    ("zero", "Zero flow (floor)"),
    ("farneback", "OpenCV Farneback (classical)"),
    ("token-oracle", "Token oracle (ground truth rounded to whole tokens)"),
)


def _dig(value: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _mean_std(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
        "values": values,
    }


def summarize(units: dict[str, dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Per variant, mean ± std over seeds of every metric; the references; base vs full."""
    per_variant: dict[str, dict[str, Any]] = {}
    for name in variants:
        seeds = {key.split("/seed")[1]: u for key, u in sorted(units.items()) if key.startswith(f"{name}/seed")}
        row: dict[str, Any] = {}
        for metric, (step, path, _, _) in METRICS.items():
            by_seed = {
                seed: v
                for seed, u in seeds.items()
                if u.get(step, {}).get("status") == "ok"
                for v in [_dig(u[step]["result"], path)]
                if v is not None
            }
            row[metric] = _mean_std(list(by_seed.values()))
            if row[metric] is not None:
                row[metric]["by_seed"] = by_seed
        per_variant[name] = row
    reference = units.get("reference", {}).get("zeroshot", {})
    refs = {m: _dig(reference.get("result"), ("methods", m, "epe")) for m, _ in REFERENCES}
    # Zero flow on the mmflow val pairs (every pixel, consecutive frames) = the mean |flow| of the val split.
    stats = ((units.get("data", {}).get("make-video", {}).get("result") or {}).get("flow_stats") or {}).get("val")
    out: dict[str, Any] = {
        "variants": per_variant,
        "reference": refs,
        "zeroshot_data": (reference.get("result") or {}).get("data"),
        "flow_zero_epe": stats.get("mean") if stats else None,
        "flow_stats": stats,
    }
    out["readouts"] = summarize_readouts(units, variants)
    if "base" in per_variant and "full" in per_variant:
        out["full_vs_base"] = compare(per_variant["base"], per_variant["full"])
    return out


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict flattened to ``"a.b.c"`` keys."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, v in value.items():
        out.update(_leaves(v, f"{prefix}.{key}" if prefix else str(key)))
    return out


def summarize_readouts(units: dict[str, dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Per variant, mean ± std over seeds of every number of the zero-shot readouts (``readouts`` of the stage).

    Returns:
        Variant → ``{"values": {"local_window.levels.level3": mean_std, ...}, "reasons": [why a number is
        missing, ...], "dynamics": whether the headroom and heatmap readouts exist}``; variants without any
        zero-shot readouts are left out.
    """
    out: dict[str, Any] = {}
    for name in variants:
        per_seed = [
            u["zeroshot"]["result"]["readouts"]
            for key, u in sorted(units.items())
            if key.startswith(f"{name}/seed")
            and u.get("zeroshot", {}).get("status") == "ok"
            and isinstance((u["zeroshot"].get("result") or {}).get("readouts"), dict)
        ]
        if not per_seed:
            continue
        numbers: dict[str, list[float]] = {}
        reasons: set[str] = set()
        for readouts in per_seed:
            for key, v in _leaves(readouts).items():
                if key.endswith("reason") and isinstance(v, str):
                    reasons.add(v)
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    numbers.setdefault(key, []).append(float(v))
        out[name] = {
            "values": {k: _mean_std(v) for k, v in numbers.items()},
            "reasons": sorted(reasons),
            "dynamics": any(r.get("headroom") is not None for r in per_seed),
        }
    return out


def compare(base: dict[str, Any], full: dict[str, Any]) -> dict[str, Any]:
    """Difference of the means and whether it exceeds the spread (the sum of the two seed std's)."""
    out = {}
    for metric, (_, _, higher, _) in METRICS.items():
        a, b = base.get(metric), full.get(metric)
        if metric == "s_per_step" or a is None or b is None:
            continue
        diff = b["mean"] - a["mean"]
        spread = a["std"] + b["std"]
        # With one seed on either side there is no spread to compare with (None).
        exceeds = abs(diff) > spread if min(a["n"], b["n"]) > 1 else None
        out[metric] = {
            "full_minus_base": diff,
            "spread": spread,
            "exceeds_spread": exceeds,
            "full_better": diff > 0 if higher else diff < 0,
            "seeds": [a["n"], b["n"]],
        }
        # Paired by seed: a seed fixes the encoder's initial weights, so the per-seed differences are less noisy.
        common = sorted(set(a.get("by_seed", {})) & set(b.get("by_seed", {})))
        if len(common) > 1:
            diffs = [b["by_seed"][k] - a["by_seed"][k] for k in common]
            out[metric]["paired"] = {
                "differences": diffs,
                "mean": statistics.fmean(diffs),
                "std": statistics.stdev(diffs),
                "same_sign": len({d > 0 for d in diffs}) == 1,
            }
    return out


def _fmt(stat: dict[str, Any] | None, digits: int) -> str:
    if stat is None:
        return "—"
    if stat["n"] > 1:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    """results.md: the Table 3 layout, the references, and base vs full."""
    summary = results["summary"]
    settings = results["settings"]
    head = ["Variant", "Table 3 row", *[t for _, t in SWITCHES], *[METRICS[m][3] for m in TABLE_COLUMNS], "Seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in summary["variants"].items():
        variant = VARIANTS[name]
        switches = [
            "" if variant.model.get(k, True) is False or (k != "latent_dynamics" and not variant.has_dynamics) else "✓"
            for k, _ in SWITCHES
        ]
        cells = [_fmt(row[m], 3 if m == "s_per_step" else 2) for m in TABLE_COLUMNS]
        n = max((row[m]["n"] for m in TABLE_COLUMNS if row[m]), default=0)
        lines.append(
            "| " + " | ".join([variant.label, str(variant.table3_row or ""), *switches, *cells, str(n)]) + " |"
        )
    source = settings.get("pretrain_videos")
    text = [
        f"# midway bench quality (pretraining on {source if source else 'the generated videos'})",
        "",
        f"Started {results['started']}, {results['elapsed_seconds']:.0f} s. Pretraining: preset "
        f"`{settings['preset']}`, {settings['pretrain_steps']} steps, batch {settings['batch_size']}; mmseg linear "
        f"readout {settings['seg_iters']} iterations; mmflow finetune and frozen readout {settings['flow_iters']} "
        f"iterations; zero-shot pairs {settings['zs_gap']} frames apart. mIoU in %, EPE in pixels; mean ± sample "
        "std over seeds.",
        "",
        *lines,
        "",
        "Zero-shot columns: token-level end-point error on held-out frame pairs (no training). Tracking = top-5 "
        "perturbation-heatmap candidates re-ranked by feature similarity (`midway analyze track`); the base model "
        "has no dynamics to perturb (—).",
    ]
    peak = {n: r["epe_peak"] for n, r in summary["variants"].items() if r.get("epe_peak")}
    if peak:
        text += [
            "",
            "Heatmap peak alone (no re-ranking): "
            + ", ".join(f"{VARIANTS[n].label} {_fmt(s, 2)}" for n, s in peak.items())
            + ".",
        ]
    refs = summary.get("reference") or {}
    if any(v is not None for v in refs.values()):
        text += ["", "| Zero-shot reference (same pairs, same token grid) | EPE ↓ |", "|---|---|"]
        text += [f"| {label} | {refs[m]:.2f} |" for m, label in REFERENCES if refs.get(m) is not None]
    data = summary.get("zeroshot_data")
    if data:
        text += [
            "",
            f"Zero-shot ground truth: {data['pairs']} pairs, {data['tokens']} tokens, mean displacement "
            f"{data['mean_displacement']:.2f} px (median {data['median_displacement']:.2f}, max "
            f"{data['max_displacement']:.2f}).",
        ]
    if summary.get("flow_zero_epe") is not None:
        st = summary["flow_stats"]
        text += [
            "",
            f"mmflow val pairs (consecutive frames, every pixel): predicting zero flow gives EPE "
            f"{summary['flow_zero_epe']:.2f} (the mean flow magnitude; median {st['median']:.2f}, 95th "
            f"percentile {st['p95']:.2f}, max {st['max']:.2f} px; {st['occluded_fraction']:.1%} of the "
            "pixels occluded in the next frame).",
        ]
    text += readouts_markdown(summary.get("readouts") or {})
    comparison = summary.get("full_vs_base") or {}
    if comparison:
        text += [
            "",
            "## Full Midway vs base",
            "",
            "| Metric | full − base | spread (std base + std full) | exceeds spread | full better | seeds | "
            "paired by seed: differences (mean ± std) |",
            "|---|---|---|---|---|---|---|",
        ]
        for metric, c in comparison.items():
            pair = c.get("paired")
            paired = (
                (", ".join(f"{d:+.3f}" for d in pair["differences"]) + f" ({pair['mean']:+.3f} ± {pair['std']:.3f})")
                if pair
                else "—"
            )
            text.append(
                f"| {METRICS[metric][3]} | {c['full_minus_base']:+.3f} | {c['spread']:.3f} | "
                f"{_yes_no(c['exceeds_spread'])} | {'yes' if c['full_better'] else 'no'} | "
                f"{c['seeds'][0]} + {c['seeds'][1]} | {paired} |"
            )
    if results.get("failures"):
        text += ["", "## Stages that did not succeed", ""]
        text += [f"- `{f['stage']}`: {f['status']}: {f['error']} (log `{f['log']}`)" for f in results["failures"]]
    return "\n".join(text) + "\n"


def readouts_markdown(readouts: dict[str, Any]) -> list[str]:
    """The three zero-shot readout tables (docs/bench.md, "Definitions"); no lines without readouts."""
    if not readouts:
        return []

    def cell(values: dict[str, Any], key: str, digits: int = 2) -> str:
        return _fmt(values.get(key), digits)

    first = next(iter(readouts.values()))["values"]
    levels = sorted(
        {k.split(".")[2] for r in readouts.values() for k in r["values"] if k.startswith("local_window.levels.")},
        key=lambda k: int(k.removeprefix("level")),
    )
    text = [
        "",
        "## Zero-shot readouts (moving tokens only)",
        "",
        f"(a) Local-window matching (±{cell(first, 'local_window.window', 0)} tokens) of the encoder features "
        "per level: EPE (px) ↓ on tokens that move at least one token; references on the same tokens.",
        "",
        "| Variant | moving tokens | " + " | ".join(f"block {k.removeprefix('level')}" for k in levels) + " |",
        "|" + "---|" * (2 + len(levels)),
    ]
    for name, r in readouts.items():
        v = r["values"]
        text.append(
            f"| {VARIANTS[name].label} | {cell(v, 'local_window.moving_tokens', 0)} | "
            + " | ".join(cell(v, f"local_window.levels.{k}") for k in levels)
            + " |"
        )
    text += [
        "",
        "References on the same tokens: "
        + ", ".join(
            f"{label} {cell(first, f'local_window.references.{m}')}"
            for m, label in (
                ("zero", "zero flow"),
                ("farneback", "OpenCV Farneback"),
                ("window-oracle", "window oracle (the best token in the window)"),
            )
        )
        + ".",
    ]
    dyn = {n: r for n, r in readouts.items() if r["dynamics"]}
    if dyn:
        text += [
            "",
            "(b) The dynamics' share of the headroom, (copy − predictor) / (copy − ground-truth warp), and "
            "the same share with the target frame replaced by the source (motion use); losses are means "
            "over the pairs.",
            "",
            "| Variant | level | copy | predictor | GT warp | share ↑ | motion-use share | share − motion-use |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in dyn.items():
            v = r["values"]
            keys = sorted(
                {k.split(".")[1] for k in v if k.startswith("headroom.")}, key=lambda k: int(k.removeprefix("level"))
            )
            for k in keys:
                h = f"headroom.{k}"
                text.append(
                    f"| {VARIANTS[name].label} | block {k.removeprefix('level')} | {cell(v, h + '.copy', 4)} | "
                    f"{cell(v, h + '.predictor', 4)} | {cell(v, h + '.warp', 4)} | "
                    f"{cell(v, h + '.share', 3)} | "
                    f"{cell(v, h + '.motion_use_share', 3)} | {cell(v, h + '.share_minus_motion_use', 3)} |"
                )
        text += [
            "",
            "(c) Off-source perturbation heatmap (the source token and tokens within the off-source radius "
            "excluded), each beside a uniform heatmap on the same tokens.",
            "",
            "| Variant | block | tokens | direction ↑ | uniform | difference | peak EPE ↓ | uniform | difference |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in dyn.items():
            v = r["values"]
            text.append(
                f"| {VARIANTS[name].label} | {cell(v, 'heatmap.block', 0)} | "
                f"{cell(v, 'heatmap.direction_tokens', 0)} | {cell(v, 'heatmap.direction', 3)} | "
                f"{cell(v, 'heatmap.direction_uniform', 3)} | "
                f"{cell(v, 'heatmap.direction_minus_uniform', 3)} | "
                f"{cell(v, 'heatmap.peak_epe')} | {cell(v, 'heatmap.peak_epe_uniform')} | "
                f"{cell(v, 'heatmap.peak_epe_minus_uniform')} |"
            )
    reasons = sorted({(VARIANTS[n].label, why) for n, r in readouts.items() for why in r["reasons"]})
    if reasons:
        text += ["", "Missing readouts (—): " + "; ".join(f"{label}: {why}" for label, why in reasons) + "."]
    return text


def _yes_no(value: bool | None) -> str:
    return "n/a (one seed)" if value is None else "yes" if value else "no"


def plot(results: dict[str, Any], path: Path) -> None:
    """results.png: one bar chart per metric (error bars = std over seeds, dots = seeds) and the loss curves."""
    import matplotlib  # here: loads in a second and is needed only for the figure at the end of a run

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = results["summary"]
    names = list(summary["variants"])
    colors = {n: plt.cm.tab10(i % 10) for i, n in enumerate(names)}
    panels = ("miou", "epe_finetune", "epe_frozen", "epe_tracking", "epe_feature")
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    refs = summary.get("reference") or {}
    for ax, metric in zip(axes.flat, panels, strict=False):  # 6 axes, 5 panels
        for i, name in enumerate(names):
            stat = summary["variants"][name][metric]
            if stat is None:
                continue
            ax.bar(i, stat["mean"], yerr=stat["std"], color=colors[name], capsize=3, alpha=0.8)
            ax.scatter([i] * len(stat["values"]), stat["values"], color="k", s=8, zorder=3)
        if metric in ("epe_finetune", "epe_frozen") and summary.get("flow_zero_epe") is not None:
            ax.axhline(summary["flow_zero_epe"], color="gray", linestyle=":", label="zero")
            ax.legend(fontsize=7)
        if metric in ("epe_tracking", "epe_feature"):
            for m, style in (("zero", ":"), ("farneback", "--")):
                if refs.get(m) is not None:
                    ax.axhline(refs[m], color="gray", linestyle=style, label=m)
            ax.legend(fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
        ax.set_title(METRICS[metric][3], fontsize=10)
    ax = axes.flat[-1]
    for key, unit in sorted(results["units"].items()):
        name = key.split("/")[0]
        curve = (unit.get("pretrain", {}).get("result") or {}).get("curve")
        if name in colors and curve:
            ax.plot(
                curve["step"],
                curve["loss_dino"],
                color=colors[name],
                lw=1,
                label=name if key.endswith("seed0") else None,
            )
            if "loss_dynamics" in curve:
                ax.plot(curve["step"], curve["loss_dynamics"], color=colors[name], lw=1, linestyle="--")
    ax.set_title("Pretraining loss: DINO (solid), dynamics (dashed)", fontsize=10)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    fig.suptitle("midway bench quality", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(results: dict[str, Any], out: Path) -> None:
    """Writes ``results.md`` and ``results.png`` into ``out``."""
    (out / "results.md").write_text(markdown(results))
    plot(results, out / "results.png")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m midway_plugin.evaluation.report OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    try:
        results = json.loads((out / "results.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        print(f"report: error: cannot read {out / 'results.json'}: {err}", file=sys.stderr)
        return 2
    results["summary"] = summarize(results["units"], results["settings"]["variants"])
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, out)
    print(f"recomputed the summary in {out / 'results.json'}; wrote {out / 'results.md'} and {out / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
