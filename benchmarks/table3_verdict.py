"""The pre-registered verdict of a `midway bench quality` run (docs/results.md, "pre-registered criteria").

Reads OUT/results.json and every pretraining run's health.json, applies the criteria written down before the run,
and prints Markdown tables (``--json FILE`` also writes every number). Nothing is tuned here: the thresholds are the
pre-registered ones.

    python benchmarks/table3_verdict.py --out bench_out [--json bench_out/verdict.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from midway_plugin.evaluation.learnability import USE_MARGIN  # what the target must buy at every level
from midway_plugin.lightly.health import SUMMARY_NAME
from midway_plugin.lightly.health import UNIFORM_ENTROPY_MIN as UNIFORM_ENTROPY  # uniform-collapse threshold / ln K

SHARE_MARGIN = 0.05  # (b): headroom share minus its motion-use counterpart
HEATMAP_MARGIN = 0.05  # (c): off-source direction minus the uniform-heatmap control
#: metric -> (label, True when higher is better)
METRICS = {
    "miou": ("mIoU (e)", True),
    "epe_finetune": ("flow EPE, finetune (d)", False),
    "epe_frozen": ("flow EPE, frozen readout (d)", False),
}


def health_rows(out: Path, units: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(units):
        path = out / "runs" / name / "pretrain" / SUMMARY_NAME
        if "/" not in name or not path.is_file():
            continue
        h = json.loads(path.read_text())
        dino = h.get("dino", {})
        entropy = dino.get("dino_teacher_entropy", {}).get("last")
        protos = dino.get("dino_prototypes_used", {}).get("last")
        dyn = h.get("dynamics") or {}
        rows.append(
            {
                "unit": name,
                "teacher_entropy": entropy,
                "prototypes": protos,
                "cross_image_cos": dino.get("dino_cross_image_cos", {}).get("last"),
                "dino_learns": entropy is not None and entropy < UNIFORM_ENTROPY and (protos or 0) > 1,
                "levels": dyn,
                "dynamics_use_target": bool(dyn)
                and all(
                    v["predictor"] < v["copy"] and v["motion_use"] - v["predictor"] >= USE_MARGIN for v in dyn.values()
                ),
            }
        )
    return rows


def compare(base: dict[str, float], full: dict[str, float], higher_better: bool) -> dict[str, Any]:
    seeds = sorted(set(base) & set(full), key=int)
    diffs = [full[s] - base[s] for s in seeds]
    sign = 1 if higher_better else -1
    right = [d * sign > 0 for d in diffs]
    sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
    spread = sd([base[s] for s in seeds]) + sd([full[s] for s in seeds])
    mean = statistics.mean(diffs) if diffs else math.nan
    if len(diffs) < 2:
        verdict = "too few seeds"
    elif all(right) and abs(mean) > spread:
        verdict = "reproduced"
    elif all(right):
        verdict = "direction only"
    else:
        verdict = "not reproduced"
    return {
        "seeds": seeds,
        "base": [base[s] for s in seeds],
        "full": [full[s] for s in seeds],
        "diffs": diffs,
        "mean_diff": mean,
        "spread": spread,
        "verdict": verdict,
    }


def local_window(units: dict[str, Any], variant: str) -> dict[str, dict[str, float]]:
    """level -> seed -> local-window EPE on moving tokens (plus the references under 'ref:<name>')."""
    out: dict[str, dict[str, float]] = {}
    for name, unit in units.items():
        if not name.startswith(f"{variant}/seed"):
            continue
        seed = name.split("seed")[1]
        lw = (((unit.get("zeroshot") or {}).get("result") or {}).get("readouts") or {}).get("local_window") or {}
        for level, value in (lw.get("levels") or {}).items():
            if value is not None:
                out.setdefault(level, {})[seed] = value
        for ref, value in (lw.get("references") or {}).items():
            if value is not None:
                out.setdefault(f"ref:{ref}", {})[seed] = value
    return out


def full_readouts(units: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(units):
        if not name.startswith("full/seed"):
            continue
        zeroshot = units[name].get("zeroshot") or {}
        if zeroshot.get("status") != "ok":
            continue
        r = (zeroshot.get("result") or {}).get("readouts") or {}
        head, heat = r.get("headroom") or {}, r.get("heatmap") or {}
        rows.append(
            {
                "unit": name,
                "headroom": head,
                "heatmap": heat,
                "headroom_shows_motion": bool(head)
                and all((v.get("share_minus_motion_use") or -math.inf) > SHARE_MARGIN for v in head.values()),
                "heatmap_shows_motion": (heat.get("direction_minus_uniform") or -math.inf) > HEATMAP_MARGIN,
            }
        )
    return rows


def fmt(x: Any, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the folder of a midway bench quality run")
    parser.add_argument(
        "--flow-control-passed",
        action="store_true",
        help="the flow readout's positive control passed (docs/mmflow.md); default: it did not",
    )
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    results = json.loads((args.out / "results.json").read_text())
    units, summary = results["units"], results["summary"]
    health = health_rows(args.out, units)
    by_variant = summary["variants"]
    comparisons = {
        m: compare(by_variant["base"][m]["by_seed"], by_variant["full"][m]["by_seed"], hb)
        for m, (_, hb) in METRICS.items()
        if by_variant.get("base", {}).get(m) and by_variant.get("full", {}).get(m)
    }
    lw_base, lw_full = local_window(units, "base"), local_window(units, "full")
    for level in sorted(k for k in lw_full if not k.startswith("ref:") and k in lw_base):
        comparisons[f"local_window_{level}"] = compare(lw_base[level], lw_full[level], False)
    readouts = full_readouts(units)

    p = print
    p("### Health at the end of each pretraining run\n")
    p(
        "| run | teacher entropy / ln K | prototypes used | cross-image cos | DINO learns | level: predictor / copy / "
        "motion use | dynamics use the target |"
    )
    p("|---|---|---|---|---|---|---|")
    for h in health:
        levels = (
            "; ".join(
                f"{k}: {fmt(v['predictor'])} / {fmt(v['copy'])} / {fmt(v['motion_use'])}"
                for k, v in h["levels"].items()
            )
            or "— (no dynamics)"
        )
        dyn = ("yes" if h["dynamics_use_target"] else "no") if h["levels"] else "—"
        p(
            f"| {h['unit']} | {fmt(h['teacher_entropy'])} | {fmt(h['prototypes'], 0)} | {fmt(h['cross_image_cos'])} | "
            f"{'yes' if h['dino_learns'] else 'no'} | {levels} | {dyn} |"
        )
    p("\n### Full − base, paired by seed\n")
    p("| metric | base (by seed) | full (by seed) | full − base (by seed) | mean | spread | verdict |")
    p("|---|---|---|---|---|---|---|")
    for m, c in comparisons.items():
        label = METRICS[m][0] if m in METRICS else f"local-window EPE, {m.split('_')[-1]} (a)"
        p(
            f"| {label} | {', '.join(fmt(v, 2) for v in c['base'])} | {', '.join(fmt(v, 2) for v in c['full'])} | "
            f"{', '.join(f'{d:+.3f}' for d in c['diffs'])} | {c['mean_diff']:+.3f} | {fmt(c['spread'])} | "
            f"{c['verdict']} |"
        )
    refs = {k[4:]: statistics.mean(v.values()) for k, v in lw_base.items() if k.startswith("ref:")}
    p(
        "\nReferences on the same moving tokens (mean over the base runs' pairs): "
        + ", ".join(f"{k} {fmt(v, 2)} px" for k, v in refs.items())
    )
    p(f"Flow: zero-flow EPE on the mmflow val pairs {fmt(summary.get('flow_zero_epe'))}.")
    p("\n### Full Midway's dynamics readouts (b, c)\n")
    p("| run | (b) headroom share − motion-use share, per level | (c) direction − uniform control | shows motion |")
    p("|---|---|---|---|")
    for r in readouts:
        b = "; ".join(f"{k}: {fmt(v.get('share_minus_motion_use'))}" for k, v in r["headroom"].items()) or "—"
        c = fmt(r["heatmap"].get("direction_minus_uniform")) if r["heatmap"] else "—"
        shows = "yes" if (r["headroom_shows_motion"] and r["heatmap_shows_motion"]) else "no"
        p(f"| {r['unit']} | {b} | {c} | {shows} |")
    pre = {
        "dino_learns": all(h["dino_learns"] for h in health),
        "dynamics_use_target": all(h["dynamics_use_target"] for h in health if h["levels"]),
        "flow_readout_learns": args.flow_control_passed,
    }
    p("\n### Preconditions\n")
    for k, v in pre.items():
        p(f"- {k.replace('_', ' ')}: {'yes' if v else 'no'}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "health": health,
                    "comparisons": comparisons,
                    "readouts": readouts,
                    "preconditions": pre,
                    "references": refs,
                },
                indent=1,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
