"""MidwayFlow: the paper's optical-flow model (Midway encoder + dynamics + DPT head) as an MMFlow estimator.

Reference:
    Hoang & Ren, "Midway Network", ICLR 2026, App. B.4 (docs/paper.md §3.2): CroCo v2's flow finetuning
    with CroCo's binocular decoder replaced by Midway's midway path and forward predictor, and a DPT head
    fed by four token maps — (1) the encoder's level-12 tokens, (2) the target-frame tokens as processed by
    the midway path at the highest objective level, (3) the forward prediction at the highest objective level
    (block 9), (4) the forward prediction at the lowest objective level (block 3). Loss: CroCo-Flow's bounded
    Laplacian; test time: CroCo's confidence-weighted tiling.

Choices where the paper is silent (documented in docs/mmflow.md):
    * The four maps go to DPT's four reassemble scales in the listed order (finest x4 ... coarsest x1/2), the
      order CroCo-Flow uses for its [encoder, decoder layers...] list.
    * Source = first image (the frame the flow starts from); target = second image. The encoder runs on both
      frames in one batch; the dynamics use the student weights (``run_dynamics(..., teacher=False)``).
    * Inputs are padded with edge replication to the patch multiple (symmetrically, like MMFlow's
      ``InputPad``) and the prediction is cropped back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmflow.models.data_preprocessor import FlowDataPreprocessor
from mmflow.models.flow_estimators.base_flow_estimator import FlowEstimator
from mmflow.registry import MODELS
from mmflow.structures import FlowDataSample
from mmflow.utils import OptSampleList, SampleList
from torch import Tensor

from midway_plugin.models import EXPORT_PARTS, FrozenParts, build_network, export_argument

from .dpt_head import DPTHead
from .flow_losses import check_flow_loss, flow_loss_value, loss_mask
from .tiling import tiled_flow

#: How the dynamics networks start: from the export, or random (Table 1 "Midway (enc. only)").
DynamicsInit = Literal["pretrained", "random"]

# The Midway encoder is pretrained on ImageNet-normalised RGB (DINO transforms); MMFlow loads BGR with cv2.
IMAGENET_PREPROCESSOR = dict(
    type="FlowDataPreprocessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True
)
_TEST_KEYS = {"mode", "crop_size", "overlap", "conf_beta", "conf_beta_sigmoid"}


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Edge-pads ``(B, C, H, W)`` so H and W are multiples of ``multiple``; returns (padded, (l, r, t, b))."""
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph or pw:
        x = F.pad(x, pad, mode="replicate")
    return x, pad


def unpad(x: Tensor, pad: tuple[int, int, int, int]) -> Tensor:
    """Inverse of :func:`pad_to_multiple`."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


def _stack_gt(data_samples: SampleList) -> tuple[Tensor, Tensor | None]:
    """Ground-truth flow ``(B, 2, H, W)`` and, when every sample has one, the valid mask ``(B, H, W)``.

    (MMFlow 1.0.0rc0's ``unpack_flow_data_samples`` puts ``gt_valid_fw`` into the backward list, so the
    valid masks are gathered here directly.)
    """
    missing = [i for i, s in enumerate(data_samples) if "gt_flow_fw" not in s]
    if missing:
        raise ValueError(
            f"MidwayFlow.loss: data samples {missing} have no `gt_flow_fw` "
            "(the training pipeline needs LoadAnnotations before PackFlowInputs)"
        )
    gt = torch.stack([s.gt_flow_fw.data for s in data_samples]).float()
    if all("gt_valid_fw" in s for s in data_samples):
        valid = torch.stack([s.gt_valid_fw.data.reshape(gt.shape[-2:]) for s in data_samples])
        return gt, valid.float()
    return gt, None


@MODELS.register_module()
class MidwayFlow(FrozenParts, FlowEstimator):
    """Midway Network flow estimator (encoder + midway path + forward predictor + DPT head).

    Args:
        export: ``midway export`` / ``midway import-official`` file with the pretrained weights, or ``None``
            for a randomly initialised network from ``arch``.
        arch: Architecture used when there is no ``export`` file (``'vit-s16'``, ``'vit-b16'``, ``'tiny'`` or a
            dict of ``MidwayConfig`` fields). With a missing file the model is built without weights so
            ``mim test`` can load an MMFlow checkpoint; training such a model is refused in :meth:`init_weights`.
        init_dynamics: ``"pretrained"`` or ``"random"`` (Table 1 "Midway (enc. only)": encoder weights only).
        frozen: Train only the DPT head (Table 7 frozen readout): the pretrained encoder and dynamics keep their
            weights and run in eval mode without gradients (the name ``MidwayViT`` and ``MidwayViTEncoder`` use).
        config_overrides: ``MidwayConfig`` fields changed on the export's (or ``arch``'s) config (e.g.
            ``dict(drop_path_rate=0.0)``).
        head: Keyword arguments of :class:`DPTHead` besides ``in_dims``/``num_outputs``.
        flow_loss: Loss config (default: :class:`LaplacianLossBounded`, the paper's); MMFlow's ``SequenceLoss``
            (plain L1) or a one-level ``MultiLevelEPE`` train the flow alone (:mod:`.flow_losses`).
        data_preprocessor: MMFlow ``FlowDataPreprocessor`` config (default: ImageNet mean/std, BGR -> RGB).
        train_cfg: Unused (kept for MMFlow's interface).
        test_cfg: ``dict(mode='whole')`` or ``dict(mode='tile', crop_size=(h, w), overlap=0.5,
            conf_beta=10., conf_beta_sigmoid=5.)`` (CroCo's tiled inference).
        init_cfg: ``dict(type='Pretrained', checkpoint=<export path>)`` means ``export``; any other init config
            is refused by name (the pretrained parts come from the export, the DPT head keeps PyTorch's init).

    Reference:
        Hoang & Ren, ICLR 2026, App. B.4; Ranftl et al., ICCV 2021 (DPT); Weinzaepfel et al., ICCV 2023
        (CroCo v2 flow protocol, loss and tiling).
    """

    def __init__(
        self,
        export: str | None = None,
        arch: str | Mapping[str, Any] | None = None,
        init_dynamics: DynamicsInit = "pretrained",
        frozen: bool = False,
        config_overrides: Mapping[str, Any] | None = None,
        head: Mapping[str, Any] | None = None,
        flow_loss: Mapping[str, Any] | None = None,
        data_preprocessor: Mapping[str, Any] | None = None,
        train_cfg: Mapping[str, Any] | None = None,
        test_cfg: Mapping[str, Any] | None = None,
        init_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = FlowDataPreprocessor(**{k: v for k, v in IMAGENET_PREPROCESSOR.items() if k != "type"})
        export = export_argument(export, init_cfg, "MidwayFlow: ")
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=None, train_cfg=train_cfg, test_cfg=test_cfg)
        self.test_cfg = self._check_test_cfg(test_cfg)
        if init_dynamics not in ("pretrained", "random"):
            raise ValueError(f"MidwayFlow: init_dynamics must be 'pretrained' or 'random', got {init_dynamics!r}")
        # Flow needs the midway path and predictors: an export without them gets random ones (paper §3.2).
        built = build_network(
            export,
            arch=arch,
            overrides=config_overrides,
            dynamics=True,
            frozen=frozen is True,
            parts=EXPORT_PARTS if init_dynamics == "pretrained" else ("encoder",),
            missing_ok=True,
            where="MidwayFlow (model.export): ",
        )
        self.backbone = built.network
        self._missing_export = built.missing_export
        if built.missing_export is not None:
            print_log(
                f"MidwayFlow: export {built.missing_export!r} not found; built the arch without pretrained "
                "weights (fine for `mim test` with a checkpoint)",
                logger="current",
                level=logging.WARNING,
            )
        elif built.export is not None and init_dynamics == "pretrained" and "midway" not in built.loaded:
            print_log(
                f"MidwayFlow: {built.export} has no latent dynamics (latent_dynamics=False): its encoder is "
                "loaded, with randomly initialised dynamics (midway path, forward predictors)",
                logger="current",
                level=logging.INFO,
            )
        encoder = self.backbone.encoder
        self.patch_size: int = encoder.patch_size
        midway_dim = self.backbone.cfg.midway_dim
        dim = encoder.embed_dim
        head_kwargs = dict(head or {})
        for key in ("in_dims", "num_outputs"):
            if key in head_kwargs:
                raise ValueError(f"MidwayFlow: model.head.{key} is fixed by the model; remove it")
        self.head = DPTHead(in_dims=(dim, midway_dim, dim, dim), num_outputs=3, **head_kwargs)
        self.flow_loss = MODELS.build(dict(flow_loss or dict(type="LaplacianLossBounded")))
        check_flow_loss(self.flow_loss)
        self.freeze_parts(frozen, "backbone")

    # -- configuration -------------------------------------------------------------------------------------
    @staticmethod
    def _check_test_cfg(test_cfg: Mapping[str, Any] | None) -> dict:
        cfg = dict(test_cfg or {})
        unknown = sorted(set(cfg) - _TEST_KEYS)
        if unknown:
            raise ValueError(f"MidwayFlow: unknown model.test_cfg key(s) {unknown}; known: {sorted(_TEST_KEYS)}")
        mode = cfg.setdefault("mode", "whole")
        if mode not in ("whole", "tile"):
            raise ValueError(f"MidwayFlow: model.test_cfg.mode must be 'whole' or 'tile', got {mode!r}")
        if mode == "tile":
            crop = cfg.get("crop_size")
            if (
                not isinstance(crop, (tuple, list))
                or len(crop) != 2
                or not all(isinstance(c, int) and c > 0 for c in crop)
            ):
                raise ValueError(
                    "MidwayFlow: model.test_cfg.crop_size must be (height, width) positive "
                    f"integers for mode='tile', got {crop!r}"
                )
            overlap = cfg.setdefault("overlap", 0.5)
            if not 0 <= overlap < 1:
                raise ValueError(f"MidwayFlow: model.test_cfg.overlap must be in [0, 1), got {overlap}")
            cfg.setdefault("conf_beta", 10.0)
            cfg.setdefault("conf_beta_sigmoid", 5.0)
        return cfg

    def init_weights(self) -> None:
        """Keeps the pretrained backbone: the runner's ``init_weights`` must not re-initialise it.

        (MMEngine calls ``init_weights`` on children that define it; timm's ``VisionTransformer.init_weights``
        would wipe the exported weights.) The DPT head keeps PyTorch's default initialisation.

        Raises:
            FileNotFoundError: the model was built from ``arch`` because the export is missing: training it
                would start from random weights. (The runner calls this before training, not before testing.)
        """
        if self._missing_export is not None:
            raise FileNotFoundError(
                f"MidwayFlow: the export {self._missing_export!r} (model.export) does not "
                "exist, so there are no pretrained weights to finetune; write it with "
                "`midway export` or `midway import-official`"
            )
        self._is_init = True

    # -- network -------------------------------------------------------------------------------------------
    def extract_feat(self, inputs: Tensor) -> dict[str, Any]:
        """The four DPT token maps for concatenated image pairs ``(B, 6, H, W)`` (H, W multiples of the patch).

        Returns:
            ``dict(tokens=[enc level-12, midway target tokens, prediction top level, prediction lowest level],
            grid=(h, w))``.
        """
        img1, img2 = inputs[:, :3], inputs[:, 3:]
        b = img1.shape[0]
        grid = self.backbone.encoder.grid_size(img1)
        with self.grad_enabled():
            levels = self.backbone.encoder(torch.cat([img1, img2], dim=0))
            src = [lv[:b] for lv in levels]
            tgt = [lv[b:] for lv in levels]
            dyn = self.backbone.run_dynamics(src, tgt, teacher=False, grid=grid)
        if not dyn.predictions:
            raise RuntimeError("MidwayFlow: the Midway network returned no forward predictions")
        top, low = max(dyn.predictions), min(dyn.predictions)
        tokens = [src[-1], dyn.midway_target_tokens, dyn.predictions[top], dyn.predictions[low]]
        return dict(tokens=tokens, grid=grid)

    def flow_and_confidence(self, img1: Tensor, img2: Tensor) -> tuple[Tensor, Tensor]:
        """Flow ``(B, 2, H, W)`` and raw confidence ``(B, 1, H, W)`` for images of any size."""
        size = img1.shape[-2:]
        pair, pad = pad_to_multiple(torch.cat([img1, img2], dim=1), self.patch_size)
        feats = self.extract_feat(pair)
        out = self.head(feats["tokens"], feats["grid"], tuple(pair.shape[-2:]))
        out = unpad(out, pad)
        assert out.shape[-2:] == size
        return out[:, :2], out[:, 2:3]

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> dict[str, Tensor]:
        """Tensor mode: ``dict(flow=(B, 2, H, W), conf=(B, 1, H, W))`` (raw confidence logits)."""
        flow, conf = self.flow_and_confidence(inputs[:, :3], inputs[:, 3:])
        return dict(flow=flow, conf=conf)

    # -- MMFlow interface ----------------------------------------------------------------------------------
    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict[str, Tensor]:
        """``flow_loss`` against ``gt_flow_fw`` (masked by ``gt_valid_fw`` when present); logs ``train_epe``."""
        flow, conf = self.flow_and_confidence(inputs[:, :3], inputs[:, 3:])
        gt, valid = _stack_gt(data_samples)
        gt, valid = gt.to(flow.device), None if valid is None else valid.to(flow.device)
        loss = flow_loss_value(self.flow_loss, flow, conf, gt, valid)
        with torch.no_grad():
            mask = loss_mask(self.flow_loss, gt, valid)
            epe = (flow - torch.nan_to_num(gt)).norm(dim=1)
            train_epe = epe[mask].mean() if bool(mask.any()) else epe.new_zeros(())
        return dict(loss_flow=loss, train_epe=train_epe)

    def predict_flow(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Flow and raw confidence for a batch, with the configured test mode (``whole`` or ``tile``)."""
        img1, img2 = inputs[:, :3], inputs[:, 3:]
        if self.test_cfg["mode"] == "tile":
            return tiled_flow(
                self.flow_and_confidence,
                img1,
                img2,
                self.test_cfg["crop_size"],
                overlap=self.test_cfg["overlap"],
                beta=self.test_cfg["conf_beta"],
                beta_sigmoid=self.test_cfg["conf_beta_sigmoid"],
            )
        return self.flow_and_confidence(img1, img2)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """Predicted forward flow per sample, in the original image frame (``pred_flow_fw``).

        Undoes the test pipeline's ``InputPad`` (metainfo ``pad``) and ``InputResize`` (``scale_factor``,
        resizing to ``ori_shape`` and rescaling u, v) like MMFlow's decoders do, for every sample of the batch.
        """
        flow, _ = self.predict_flow(inputs)
        results: list[FlowDataSample] = []
        for i in range(flow.shape[0]):
            f = flow[i]
            sample = data_samples[i] if data_samples is not None else FlowDataSample()
            meta = sample.metainfo
            pad = meta.get("pad")
            if pad is not None:
                (top, bottom), (left, right) = pad[0], pad[1]
                h, w = f.shape[-2:]
                f = f[:, top : h - bottom, left : w - right]
            scale = meta.get("scale_factor")
            ori = meta.get("ori_shape")
            if pad is None and scale is not None and ori is not None and tuple(f.shape[-2:]) != tuple(ori[:2]):
                w_scale, h_scale = float(scale[0]), float(scale[1])
                f = F.interpolate(f[None], size=tuple(ori[:2]), mode="bilinear", align_corners=False)[0]
                f = f / f.new_tensor([w_scale, h_scale]).view(2, 1, 1)
            sample.set_data(dict(pred_flow_fw=PixelData(data=f)))
            results.append(sample)
        return results
