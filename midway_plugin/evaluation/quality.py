"""``midway bench quality``: paper Table 3 at small scale, end to end through the real tools.

For every variant (:mod:`~midway_plugin.evaluation.variants`) and seed, on the same generated videos:

1. ``midway pretrain`` on the training videos (the recipe's config, :mod:`~midway_plugin.evaluation.recipes`, +
   the knobs, :mod:`~midway_plugin.evaluation.knobs`, + the variant's model switches),
2. ``midway export`` of the EMA teacher,
3. ``mim train mmseg`` linear readout on frozen features → ``mim test mmseg`` (mIoU on the held-out videos),
4. ``mim train mmflow`` finetune (encoder + pretrained dynamics + DPT head; the base model gets randomly
   initialised dynamics of the same architecture) → ``mim test mmflow`` (EPE),
5. ``mim train mmflow`` frozen readout (only the DPT head trains) → ``mim test mmflow`` (EPE),
6. zero-shot token correspondence on held-out pairs and the readouts of :mod:`~midway_plugin.evaluation.readouts`
   (local-window matching per level, the dynamics' share of the headroom, off-source heatmap readouts beside a
   uniform heatmap) at the pair gap ``zs_gap`` (:mod:`~midway_plugin.evaluation.zeroshot`).

Once per run: ``midway make-video`` (split by video into train and val; with ``--pan-only`` also a pan-only control
set, pretrained and evaluated as the units ``base@pan`` and ``full@pan``) and the model-free references (zero
flow, OpenCV Farneback, the token oracle). Everything lands in ``--out``: ``results.json`` (rewritten after every
stage), ``results.md`` and ``results.png`` (:mod:`~midway_plugin.evaluation.report`), and one log per stage.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from midway_plugin.data.motion_tokens import format_token_stats
from midway_plugin.evaluation import tool_outputs
from midway_plugin.evaluation.knobs import make_video_knob_args, pretrain_knob_overrides
from midway_plugin.evaluation.report import summarize, write_report
from midway_plugin.evaluation.stages import Stage, midway_cmd, mim_cmd, read_json, run_stages
from midway_plugin.evaluation.variants import HEADLINE, Variant
from midway_plugin.lightly.builders import build_transform
from midway_plugin.lightly.generated_motion import patch_size
from midway_plugin.lightly.pretrain_config import load_config
from midway_plugin.lightly.pretrain_plan import PretrainPlan
from midway_plugin.models import resolve_config

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Downstream:
    """One OpenMMLab evaluation: which toolbox and config, which metric, what it reads from the export."""

    name: str  # "seg", "flow", "flow-frozen"
    toolbox: str  # "mmseg" | "mmflow"
    config: str  # file name under configs/<toolbox>/
    metric: str  # "mIoU" | "EPE"


DOWNSTREAM = (
    Downstream("seg", "mmseg", "linear_midway-tiny_1xb16-2k_synthetic-64x64.py", "mIoU"),
    Downstream("flow", "mmflow", "midwayflow_tiny_1xb8-2k_synthetic-64x64.py", "EPE"),
    Downstream("flow-frozen", "mmflow", "midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64.py", "EPE"),
)

#: ``--flow-loss``: the configs of the finetune and frozen flow readouts for each loss. ``laplacian`` is the
#: paper's bounded Laplacian (``DOWNSTREAM``); ``l1`` is the plain L1 loss (docs/mmflow.md "Does the readout
#: learn? The positive control": the Laplacian settles at zero flow on small generated data).
FLOW_CONFIGS = {
    "laplacian": {
        "flow": "midwayflow_tiny_1xb8-2k_synthetic-64x64.py",
        "flow-frozen": "midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64.py",
    },
    "l1": {
        "flow": "midwayflow-l1_tiny_1xb8-2k_synthetic-64x64.py",
        "flow-frozen": "midwayflow-frozen-l1_tiny_1xb8-2k_synthetic-64x64.py",
    },
}


def downstream(flow_loss: str = "laplacian") -> tuple[Downstream, ...]:
    """The evaluations of a run: :data:`DOWNSTREAM` with the flow readouts' configs for ``flow_loss``.

    Raises:
        ValueError: ``flow_loss`` is not a key of :data:`FLOW_CONFIGS` (the message names ``--flow-loss``).
    """
    if flow_loss not in FLOW_CONFIGS:
        raise ValueError(f"--flow-loss must be one of {sorted(FLOW_CONFIGS)}, got {flow_loss!r}")
    configs = FLOW_CONFIGS[flow_loss]
    return tuple(replace(ds, config=configs.get(ds.name, ds.config)) for ds in DOWNSTREAM)


@dataclass
class Settings:
    """Everything a run depends on (recorded in ``results.json``)."""

    out: Path
    variants: list[Variant]
    recipe: str = "demo"  # midway_plugin.evaluation.recipes
    seeds: int = 3  # for the headline variants (base, full)
    ablation_seeds: int = 1
    jobs: int = 2
    # data (`midway make-video`)
    num_videos: int = 24
    val_videos: int = 6
    frames: int = 32
    size: tuple[int, int] = (64, 64)
    objects: int = 4
    data_seed: int = 0
    pretrain_videos: Path | None = None
    # data knobs (None: make-video's default)
    object_speed: tuple[float, float] | None = None
    camera_speed: tuple[float, float] | None = None
    texture_wavelength: tuple[float, float] | None = None
    frame_gap: int = 1
    pan_only: bool = False  # also a pan-only control set: units base@pan, full@pan
    pan_seeds: int = 1
    # pretraining (`midway pretrain`)
    pretrain_config: Path = REPO / "configs" / "pretrain" / "demo.yaml"
    preset: str = "tiny"
    pretrain_steps: int = 300
    batch_size: int = 4
    accelerator: str = "cpu"
    devices: str = "1"
    # pretraining knobs (None: the pretraining config's value; midway_plugin.evaluation.knobs)
    patch_size: int | None = None
    embed_dim: int | None = None
    depth: int | None = None
    heads: int | None = None
    delta_t: tuple[int, int] | None = None
    head_output_dim: int | None = None
    head_hidden_dim: int | None = None
    head_bottleneck_dim: int | None = None
    teacher_temp: float | None = None
    student_temp: float | None = None
    momentum_start: float | None = None
    dino_photometric: float | None = None  # in [0, 1]: scales the paper's jitter/grayscale/blur/solarisation
    motion_photometric: float | None = None
    # downstream (`mim train` / `mim test`)
    configs_dir: Path = REPO / "configs"
    seg_iters: int = 300
    flow_iters: int = 150
    flow_batch: int | None = None
    flow_loss: str = "laplacian"  # a key of FLOW_CONFIGS
    # zero-shot
    zs_gap: int = 4
    zs_pairs: int = 4
    zs_repeats: int = 8
    zs_window: int = 3  # local-window matching: ±k tokens
    zs_offsource_radius: int = 1  # heatmap readouts: tokens this close to the source are excluded

    def units(self) -> list[tuple[Variant, int]]:
        """(variant, seed) in run order: every headline seed first (seed by seed), then the ablations."""
        headline = [v for v in self.variants if v.name in HEADLINE]
        others = [v for v in self.variants if v.name not in HEADLINE]
        order = [(v, s) for s in range(self.seeds) for v in headline]
        order += [(v, s) for s in range(self.ablation_seeds) for v in others]
        return order

    def pan_units(self) -> list[tuple[Variant, int]]:
        """(variant, seed) of the pan-only control set (``--pan-only``): base and full, ``pan_seeds`` seeds."""
        if not self.pan_only:
            return []
        headline = [v for v in self.variants if v.name in HEADLINE]
        return [(v, s) for s in range(self.pan_seeds) for v in headline]

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d["variants"] = [v.name for v in self.variants]
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


#: Settings of ``--quick`` (the test suite's run) and the default run (sized for ~30 min on 2 CPU cores).
QUICK = dict(
    seeds=1,
    ablation_seeds=0,
    num_videos=6,
    val_videos=2,
    frames=16,
    pretrain_steps=12,
    batch_size=4,
    seg_iters=6,
    flow_iters=6,
    zs_pairs=2,
    zs_repeats=2,
)


@dataclass
class Run:
    """The stages of one run and the state they share."""

    settings: Settings
    stages: list[Stage] = field(default_factory=list)
    split: dict[str, list[str]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    pretraining: Pretraining | None = None  # set by build()

    @property
    def resolved(self) -> Pretraining:
        """The shared pretraining of the run (:meth:`build` resolves it first)."""
        if self.pretraining is None:
            raise RuntimeError("Run.build() resolves the pretraining before the stages are added")
        return self.pretraining

    # -- paths ----------------------------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self.settings.out / "data"

    def unit_dir(self, variant: Variant, seed: int) -> Path:
        return self.settings.out / "runs" / variant.name / f"seed{seed}"

    # -- building the stage graph -------------------------------------------------------------------------
    def build(self) -> None:
        s = self.settings
        self.pretraining = resolve_pretraining(s)
        self._data_stage("data", self.data, [])
        if s.pan_units():
            self._data_stage("data@pan", self.data_pan, ["--pan-only"])
        self.stages.append(
            Stage(
                "reference/zeroshot",
                "reference",
                "zeroshot",
                [
                    sys.executable,
                    "-m",
                    "midway_plugin.evaluation.zeroshot",
                    "--data",
                    str(self.data),
                    "--videos",
                    "{val}",
                    "--patch",
                    str(self.pretraining.patch_size),
                    *self._zs_args(),
                    "--out",
                    str(s.out / "reference" / "zeroshot.json"),
                ],
                s.out / "logs" / "reference" / "zeroshot.log",
                after=("data/make-video",),
                parse=lambda: tool_outputs.read_zeroshot(s.out / "reference" / "zeroshot.json"),
            )
        )
        for variant, seed in s.units():
            self._unit(variant, seed, "")
        for variant, seed in s.pan_units():
            self._unit(variant, seed, "@pan")

    @property
    def data_pan(self) -> Path:
        return self.settings.out / "data_pan"

    def _data_stage(self, unit: str, data: Path, extra: list[str]) -> None:
        s = self.settings
        objects = [] if "--pan-only" in extra else ["--objects", str(s.objects)]
        self.stages.append(
            Stage(
                f"{unit}/make-video",
                unit,
                "make-video",
                midway_cmd(
                    "make-video",
                    "--out",
                    str(data),
                    "--num-videos",
                    str(s.num_videos),
                    "--val-videos",
                    str(s.val_videos),
                    "--frames",
                    str(s.frames),
                    "--size",
                    f"{s.size[0]}x{s.size[1]}",
                    *objects,
                    "--seed",
                    str(s.data_seed),
                    *make_video_knob_args(s),
                    *self.resolved.stats_args,
                    *extra,
                ),
                s.out / "logs" / unit / "make-video.log",
                parse=lambda: self._read_split(data, "{val" + unit[len("data") :] + "}"),
            )
        )

    def _zs_args(self) -> list[str]:
        s = self.settings
        return [
            "--gap",
            str(s.zs_gap),
            "--pairs-per-video",
            str(s.zs_pairs),
            "--repeats",
            str(s.zs_repeats),
            "--window",
            str(s.zs_window),
            "--offsource-radius",
            str(s.zs_offsource_radius),
        ]

    def _unit(self, variant: Variant, seed: int, tag: str) -> None:
        """The stages of one (variant, seed) on the main data (``tag`` "") or the pan-only set (``"@pan"``)."""
        s = self.settings
        name = variant.name + tag
        unit = f"{name}/seed{seed}"
        root = s.out / "runs" / name / f"seed{seed}"
        logs = s.out / "logs" / name / f"seed{seed}"
        data = self.data_pan if tag else self.data
        data_stages = ("data/make-video", "data@pan/make-video") if tag else ("data/make-video",)
        pre = root / "pretrain"
        export = root / "midway.safetensors"
        root_videos = data / "train_videos" if tag or s.pretrain_videos is None else s.pretrain_videos
        overrides = {
            "seed": seed,
            "data.root": str(root_videos),
            **self.resolved.overrides,
            **{f"model.{k}": v for k, v in variant.model.items()},
        }
        if s.pretrain_videos is not None and not tag:
            overrides["data.decode_short_side"] = 2 * max(s.size)
        args = ["pretrain", "--config", str(s.pretrain_config), "--output-dir", str(pre)]
        for key, value in overrides.items():
            args += [f"--{key}", json.dumps(value) if not isinstance(value, str) else value]
        self.stages.append(
            Stage(
                f"{unit}/pretrain",
                unit,
                "pretrain",
                midway_cmd(*args),
                logs / "pretrain.log",
                after=data_stages,
                parse=lambda: self._read_pretrain(pre),
                prepare=lambda: _fresh(pre),
            )
        )
        self.stages.append(
            Stage(
                f"{unit}/export",
                unit,
                "export",
                midway_cmd("export", str(pre / "checkpoints" / "last.ckpt"), str(export)),
                logs / "export.log",
                after=(f"{unit}/pretrain",),
                parse=lambda: {"bytes": export.stat().st_size},
            )
        )
        for ds in downstream(s.flow_loss):
            config = s.configs_dir / ds.toolbox / ds.config
            work = root / ds.name
            options = downstream_options(ds, data, export, s, seed, self.resolved.model)
            self.stages.append(
                Stage(
                    f"{unit}/{ds.name}-train",
                    unit,
                    f"{ds.name}-train",
                    mim_cmd("train", ds.toolbox, str(config), "--work-dir", str(work), "--cfg-options", *options),
                    logs / f"{ds.name}-train.log",
                    after=(f"{unit}/export",),
                    cwd=s.out,
                    parse=partial(_trained, work),
                    prepare=partial(_fresh, work),
                )
            )
        zs_out = root / "zeroshot.json"
        self.stages.append(
            Stage(
                f"{unit}/zeroshot",
                unit,
                "zeroshot",
                [
                    sys.executable,
                    "-m",
                    "midway_plugin.evaluation.zeroshot",
                    "--data",
                    str(data),
                    "--videos",
                    "{val" + tag + "}",
                    "--export",
                    str(export),
                    "--seed",
                    str(seed),
                    *self._zs_args(),
                    "--out",
                    str(zs_out),
                ],
                logs / "zeroshot.log",
                after=(f"{unit}/export",),
                parse=lambda: tool_outputs.read_zeroshot(zs_out),
            )
        )
        for ds in downstream(s.flow_loss):
            config = s.configs_dir / ds.toolbox / ds.config
            work, test = root / ds.name, root / f"{ds.name}-test"
            stage = Stage(
                f"{unit}/{ds.name}-test",
                unit,
                f"{ds.name}-test",
                [],
                logs / f"{ds.name}-test.log",
                after=(f"{unit}/{ds.name}-train",),
                cwd=s.out,
                parse=partial(_metric, test, ds.metric),
            )
            options = downstream_options(ds, data, export, s, seed, self.resolved.model)
            stage.prepare = _test_command(stage, ds, config, work, test, options)
            self.stages.append(stage)

    # -- parsers -------------------------------------------------------------------------------------------
    def _read_split(self, data: Path, placeholder: str) -> dict[str, Any]:
        index = read_json(data / "dataset.json")
        splits = index.get("splits")
        if not isinstance(splits, dict) or not splits.get("train") or not splits.get("val"):
            raise ValueError(f"{data / 'dataset.json'}: no 'splits' with train and val video names")
        split = {k: list(splits[k]) for k in ("train", "val")}
        if data == self.data:
            self.split = split
        entries = {e["name"]: e for e in index["videos"]}
        folder = data / "train_videos"  # pretraining sees the training videos only
        folder.mkdir(exist_ok=True)
        for name in split["train"]:
            link = folder / Path(entries[name]["video"]).name
            if not link.exists():
                link.symlink_to((data / entries[name]["video"]).resolve())
        for stage in self.stages:  # the zero-shot stages evaluate the held-out videos
            stage.cmd = [",".join(split["val"]) if a == placeholder else a for a in stage.cmd]
        # motion_tokens: motion of a pair in tokens (midway_plugin.data.motion_tokens.token_motion_stats)
        return {"split": split, "flow_stats": index.get("flow_stats"), "motion_tokens": index.get("motion_tokens")}

    def _read_pretrain(self, pre: Path) -> dict[str, Any]:
        curve = tool_outputs.pretrain_curve(pre)
        return {
            "seconds_per_step": tool_outputs.seconds_per_step(pre / "checkpoints"),
            "curve": curve,
            "final": {k: v[-1] for k, v in curve.items() if k != "step"},
        }

    # -- results ---------------------------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        units: dict[str, dict[str, Any]] = {}
        for st in self.stages:
            units.setdefault(st.unit, {})[st.step] = st.record()
        return {
            "benchmark": "midway bench quality",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "elapsed_seconds": round(time.time() - self.started, 1),
            "settings": self.settings.record(),
            "pretrain_overrides": self.pretraining.overrides if self.pretraining else None,
            "environment": environment(),
            "units": units,
            "summary": self._summary(units),
            "failures": [
                {"stage": st.key, "status": st.status, "error": st.error, "log": str(st.log)}
                for st in self.stages
                if st.status in ("failed", "skipped")
            ],
        }

    def _summary(self, units: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The summary of the main data; with ``--pan-only`` its ``pan_only``: base and full on the pan-only set."""

        summary = summarize(units, [v.name for v in self.settings.variants])
        if self.settings.pan_units():
            pan = {key.replace("@pan/", "/"): u for key, u in units.items() if "@pan/" in key}
            pan_summary = summarize(pan, sorted({v.name for v, _ in self.settings.pan_units()}, key=HEADLINE.index))
            summary["pan_only"] = {
                "variants": pan_summary["variants"],
                "full_vs_base": pan_summary.get("full_vs_base"),
                "motion_tokens": _pretrain_tokens(units.get("data@pan", {})),
            }
        summary["motion_tokens"] = _pretrain_tokens(units.get("data", {}))
        return summary


def _pretrain_tokens(data_unit: dict[str, Any]) -> dict[str, Any] | None:
    """Token statistics of the pretraining pairs of the training videos (make-video's ``motion_tokens``)."""
    result = (data_unit.get("make-video") or {}).get("result") or {}
    return ((result.get("motion_tokens") or {}).get("pretrain_pairs") or {}).get("train")


@dataclass(frozen=True)
class Pretraining:
    """What every pretraining run of a bench shares, resolved once before anything runs.

    Attributes:
        overrides: ``midway pretrain`` overrides of every variant and seed (steps, trainer, the knobs).
        config: The resolved pretraining config (``--pretrain-config`` + ``overrides``; ``data.root`` unset).
        model: Its :class:`~midway_plugin.models.MidwayConfig` (the full model's).
        patch_size: The encoder's patch size in pixels.
        stats_args: ``midway make-video --stats-*`` flags: the token statistics of this recipe's pairs.
    """

    overrides: dict[str, Any]
    config: dict[str, Any]
    model: Any
    patch_size: int
    stats_args: list[str]


def resolve_pretraining(s: Settings) -> Pretraining:
    """The shared pretraining overrides and config of ``s``.

    Raises:
        midway_plugin.evaluation.knobs.KnobError: A knob out of range (named).
        midway_plugin.lightly.pretrain_config.PretrainConfigError: The config does not load with the overrides.
        ValueError: The model does not resolve.
    """

    every = max(1, s.pretrain_steps // 4)
    overrides: dict[str, Any] = {
        "model.preset": s.preset,
        "trainer.max_steps": s.pretrain_steps,
        "trainer.checkpoint_every_n_steps": every,
        "trainer.log_every_n_steps": max(1, min(5, s.pretrain_steps // 4)),
        "trainer.progress_bar": False,
        "trainer.torch_threads": 1,
        "trainer.accelerator": s.accelerator,
        "trainer.devices": s.devices,
        "data.batch_size_per_device": s.batch_size,
    }
    base = resolve_config(load_config(s.pretrain_config, overrides)["model"], name="model")
    overrides.update(pretrain_knob_overrides(s, base))
    config = load_config(s.pretrain_config, overrides)
    model = resolve_config(config["model"], name="model")
    patch = patch_size(model)
    stats: list[str] = []
    motion = build_transform(PretrainPlan.from_config(config)).motion
    data = config["data"]
    if motion is not None and data["delta_unit"] == "frames":
        lo, hi = (data["delta_t"], data["delta_t"]) if isinstance(data["delta_t"], (int, float)) else data["delta_t"]
        stats = [
            "--stats-input-size",
            str(motion.crop_size),
            "--stats-patch-size",
            str(patch),
            "--stats-crop-scale",
            "{:g},{:g}".format(*motion.crop_scale),
            "--stats-delta-t",
            f"{int(lo)},{int(hi)}",
        ]
    return Pretraining(overrides, config, model, patch, stats)


def downstream_options(ds: Downstream, data: Path, export: Path, s: Settings, seed: int, model: Any) -> list[str]:
    """``--cfg-options`` of one OpenMMLab run: the generated dataset, the export, iterations and the seed.

    ``model`` is the pretrained :class:`~midway_plugin.models.MidwayConfig` (its width and top block).

    The keys are the ones the configs' headers document. Validation during training is switched off
    (``val_begin`` after the last iteration): ``mim test`` measures the same held-out videos afterwards.
    Segmentation reads the encoder's top level z^L for every variant (the base and "no backward" models have no
    backward layers; the same features for every row keep the comparison about the encoder).
    """
    iters = s.seg_iters if ds.toolbox == "mmseg" else s.flow_iters
    options = [f"{split}_dataloader.dataset.data_root={data}" for split in ("train", "val", "test")]
    # Warm-up: the configs' 100 iterations, but at most a tenth of a shorter run (else it never reaches its lr).
    options += [
        f"train_cfg.max_iters={iters}",
        f"param_scheduler.0.end={max(1, min(100, iters // 10))}",
        f"param_scheduler.1.end={iters}",
        f"train_cfg.val_begin={iters + 1}",
        f"default_hooks.checkpoint.interval={iters}",
        f"default_hooks.logger.interval={max(1, iters // 20)}",
        f"randomness.seed={seed}",
    ]
    if ds.toolbox == "mmseg":
        dim = model.encoder_kwargs.get("embed_dim") or {"tiny": 48, "vit-s16": 384, "vit-b16": 768}[s.preset]
        top_block = model.feature_levels[-1]  # z^L, the level every variant has
        options += [
            f"model.backbone.export={export}",
            "model.backbone.feature_source=encoder",
            f"model.backbone.out_blocks={top_block}",
            f"model.decode_head.in_channels={dim}",
            f"model.decode_head.channels={dim}",
        ]
    else:
        options.append(f"model.export={export}")
        if s.flow_batch:
            options.append(f"train_dataloader.batch_size={s.flow_batch}")
    return options


def _test_command(
    stage: Stage, ds: Downstream, config: Path, work: Path, test: Path, options: list[str]
) -> Callable[[], None]:
    """The ``prepare`` of a test stage: its command needs the checkpoint training wrote."""

    def prepare() -> None:
        _fresh(test)
        stage.cmd = mim_cmd(
            "test",
            ds.toolbox,
            str(config),
            "--checkpoint",
            str(tool_outputs.mim_checkpoint(work)),
            "--work-dir",
            str(test),
            "--cfg-options",
            *options,
        )

    return prepare


def _trained(work: Path) -> dict[str, Any]:
    return {"checkpoint": str(tool_outputs.mim_checkpoint(work)), "losses": tool_outputs.mim_train_losses(work)}


def _metric(test_dir: Path, name: str) -> dict[str, Any]:
    """``{name: value, "metrics": all of them}`` of one ``mim test`` run; a failure names ``test_dir``."""
    metrics = tool_outputs.mim_test_metrics(test_dir)
    try:
        return {name: tool_outputs.pick_metric(metrics, name), "metrics": metrics}
    except ValueError as err:
        raise ValueError(f"{test_dir}: {err}") from None


def _fresh(path: Path) -> None:
    """Removes an earlier attempt's output so that readers never see stale files."""

    if path.exists():
        shutil.rmtree(path)


def environment() -> dict[str, Any]:
    """Machine and package versions."""

    versions: dict[str, str | None] = {}
    for pkg in (
        "midway-plugin",
        "torch",
        "timm",
        "lightly",
        "pytorch-lightning",
        "mmengine",
        "mmcv",
        "mmsegmentation",
        "mmflow",
        "opencv-python",
        "numpy",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "packages": versions,
    }


def run_quality(settings: Settings, log: Callable[..., Any] = print) -> tuple[dict[str, Any], int]:
    """Runs the benchmark; returns the results and the exit code (1 when a stage failed or was skipped)."""

    settings.out.mkdir(parents=True, exist_ok=True)
    run = Run(settings)
    run.build()
    results_path = settings.out / "results.json"

    def on_done(stage: Stage) -> None:
        where = f" (log: {stage.log})" if stage.status != "ok" else ""
        why = f": {stage.error}" if stage.error else ""
        log(
            f"[{time.time() - run.started:7.1f}s] {stage.unit:<22} {stage.step:<18} {stage.status:<7} "
            f"{stage.seconds:6.1f}s{why}{where}",
            flush=True,
        )
        if stage.step == "make-video" and stage.status == "ok":
            tokens = _pretrain_tokens({"make-video": {"result": stage.result}})
            if tokens:
                log(
                    f"           motion of the pretraining pairs ({stage.unit}, train): {format_token_stats(tokens)}",
                    flush=True,
                )
        _write_json(results_path, run.results())

    n = len(run.stages)
    log(
        f"midway bench quality: {len(settings.units())} pretraining runs, {n} stages, --jobs {settings.jobs}, "
        f"output in {settings.out}",
        flush=True,
    )
    run_stages(run.stages, settings.jobs, on_done)
    results = run.results()
    _write_json(results_path, results)
    write_report(results, settings.out)
    failed = results["failures"]
    log(
        f"done in {time.time() - run.started:.0f} s: {results_path}, {settings.out / 'results.md'}, "
        f"{settings.out / 'results.png'}",
        flush=True,
    )
    if failed:
        log(f"{len(failed)} stage(s) did not succeed:", flush=True)
        for f in failed:
            log(f"  {f['stage']}: {f['status']}: {f['error']} (log: {f['log']})", flush=True)
    return results, 1 if failed else 0


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_strict(value), indent=2) + "\n")
    tmp.replace(path)


def _strict(value: Any) -> Any:
    """NaN/inf → None so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value
