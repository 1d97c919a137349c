"""Datasets and a loading transform the paper's flow mix needs beyond MMFlow 1.0.0rc0.

* :class:`TartanAir` — MMFlow has no TartanAir; CroCo-Flow's (and so Midway's, docs/paper.md §3.2) main training
  mix includes it.
* :class:`SintelSplit` — CroCo's MPI-Sintel ``subtrain``/``subval`` split (``subval`` = scenes ``temple_2``
  and ``temple_3``, 98 pairs per pass; naver/croco ``stereoflow/datasets_flow.py``). MMFlow's ``Sintel``
  accepts a list of scenes for loading but its ``filter_data`` compares a scene name with the whole list and
  keeps nothing, so the split is done here.
* :class:`LoadFlowAnnotations` — MMFlow's ``LoadAnnotations`` reads ``.flo``/``.pfm`` only; this one also reads
  TartanAir's ``.npy`` flow and its optional ``_mask.npy``.
"""

from __future__ import annotations

import io
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmflow.datasets.sintel import Sintel
from mmflow.datasets.transforms.loading import LoadAnnotations
from mmflow.registry import DATASETS, TRANSFORMS

TARTANAIR_DIFFICULTIES = ("Easy", "Hard")


@DATASETS.register_module()
class TartanAir(BaseDataset):
    """TartanAir optical flow (left camera, consecutive frames), in MMFlow's dataset style.

    Layout under ``data_root`` (both the documented one and the doubled environment folder that TartanAir's
    zip files unpack to, which CroCo reads)::

        <env>/[<env>/]<Easy|Hard>/<P000>/image_left/000000_left.png
        <env>/[<env>/]<Easy|Hard>/<P000>/flow/000000_000001_flow.npy   (H, W, 2) float32, pixels
        <env>/[<env>/]<Easy|Hard>/<P000>/flow/000000_000001_mask.npy   (H, W) uint8, optional

    Every frame but a trajectory's last forms a pair with the next frame, as in CroCo (306,268 pairs on the
    full dataset). TartanAir provides flow for exactly these pairs.

    Args:
        envs: Environments to use (default: every directory under ``data_root``).
        difficulties: Subsets, ``Easy`` and/or ``Hard``.
        use_mask: Attach ``mask_fw_path`` so :class:`LoadFlowAnnotations` marks only pixels with mask 0
            (TartanAir: 0 valid; non-zero = leaves the view or occluded) as valid. CroCo trains on every pixel
            (default False).
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``data_root``, ``pipeline``, ...).

    Raises:
        FileNotFoundError: ``data_root``, an environment, or a pair's flow file is missing, or no pair is found.
    """

    METAINFO: dict = dict()

    def __init__(
        self,
        envs: Sequence[str] | None = None,
        difficulties: Sequence[str] = TARTANAIR_DIFFICULTIES,
        use_mask: bool = False,
        **kwargs,
    ) -> None:
        bad = [d for d in difficulties if d not in TARTANAIR_DIFFICULTIES]
        if bad:
            raise ValueError(f"TartanAir: difficulties {bad} are not among {TARTANAIR_DIFFICULTIES}")
        self.envs = None if envs is None else list(envs)
        self.difficulties = list(difficulties)
        self.use_mask = use_mask
        super().__init__(**kwargs)

    def _env_dir(self, env: str) -> str:
        base = osp.join(self.data_root, env)
        nested = osp.join(base, env)
        return nested if osp.isdir(nested) else base

    def load_data_list(self) -> list[dict]:
        """Scans the directory tree for consecutive left-camera frame pairs."""
        root = self.data_root
        if not root or not osp.isdir(root):
            raise FileNotFoundError(f"TartanAir: data_root {root!r} is not a directory")
        envs = (
            self.envs if self.envs is not None else sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
        )
        data_list: list[dict] = []
        for env in envs:
            env_dir = self._env_dir(env)
            if not osp.isdir(env_dir):
                raise FileNotFoundError(f"TartanAir: environment {env!r} not found under {root}")
            for difficulty in self.difficulties:
                diff_dir = osp.join(env_dir, difficulty)
                if not osp.isdir(diff_dir):
                    continue
                for traj in sorted(os.listdir(diff_dir)):
                    data_list += self._trajectory_pairs(osp.join(diff_dir, traj), env, difficulty, traj)
        if not data_list:
            raise FileNotFoundError(
                f"TartanAir: no frame pairs under {root} (expected <env>/<Easy|Hard>/<P000>/image_left/"
                "000000_left.png and flow/000000_000001_flow.npy)"
            )
        return data_list

    def _trajectory_pairs(self, traj_dir: str, env: str, difficulty: str, traj: str) -> list[dict]:
        img_dir = osp.join(traj_dir, "image_left")
        if not osp.isdir(img_dir):
            return []
        frames = sorted(int(f[:6]) for f in os.listdir(img_dir) if f.endswith("_left.png") and f[:6].isdigit())
        pairs = []
        for a, b in zip(frames[:-1], frames[1:], strict=True):
            if b != a + 1:
                continue  # a gap in the numbering: TartanAir has no flow across it
            flow = osp.join(traj_dir, "flow", f"{a:06d}_{b:06d}_flow.npy")
            if not osp.isfile(flow):
                raise FileNotFoundError(f"TartanAir: flow file {flow} for frames {a} -> {b} is missing")
            info = dict(
                img1_path=osp.join(img_dir, f"{a:06d}_left.png"),
                img2_path=osp.join(img_dir, f"{b:06d}_left.png"),
                flow_fw_path=flow,
                env=env,
                difficulty=difficulty,
                trajectory=traj,
            )
            if self.use_mask:
                mask = flow[: -len("_flow.npy")] + "_mask.npy"
                if not osp.isfile(mask):
                    raise FileNotFoundError(f"TartanAir: use_mask=True but the mask {mask} is missing")
                info["mask_fw_path"] = mask
            pairs.append(info)
        return pairs


@DATASETS.register_module()
class SintelSplit(Sintel):
    """MMFlow's ``Sintel`` restricted to CroCo's ``train``/``subtrain``/``subval`` split.

    Args:
        split: ``train`` (all 23 training scenes), ``subval`` (``temple_2``, ``temple_3``) or ``subtrain``
            (the other 21).
        subval_scenes: The validation scenes (CroCo's by default).
        **kwargs: ``Sintel`` arguments (``pass_style``, ``data_root``, ``pipeline``, ...; not ``scene``).
    """

    def __init__(self, split: str = "train", subval_scenes: Sequence[str] = ("temple_2", "temple_3"), **kwargs) -> None:
        if split not in ("train", "subtrain", "subval"):
            raise ValueError(f"SintelSplit: split must be 'train', 'subtrain' or 'subval', got {split!r}")
        if kwargs.get("scene") is not None:
            raise ValueError("SintelSplit: choose scenes with `split`, not `scene`")
        if kwargs.get("test_mode"):
            raise ValueError(
                "SintelSplit: the splits come from Sintel's training set (test_mode=False); "
                "use mmflow's Sintel with test_mode=True for the benchmark test set"
            )
        self.split = split
        self.subval_scenes = tuple(subval_scenes)
        super().__init__(**kwargs)

    def filter_data(self) -> list[dict]:
        data = [d for d in self.data_list if d["pass_style"] == self.pass_style]
        if self.split == "subval":
            data = [d for d in data if d["scene"] in self.subval_scenes]
        elif self.split == "subtrain":
            data = [d for d in data if d["scene"] not in self.subval_scenes]
        if not data:
            raise FileNotFoundError(
                f"SintelSplit: no {self.pass_style} pairs of split {self.split!r} under {self.data_root}"
            )
        return data


@TRANSFORMS.register_module()
class LoadFlowAnnotations(LoadAnnotations):
    """``LoadAnnotations`` that also reads ``.npy`` flow (TartanAir) and an optional ``mask_fw_path``.

    ``.flo``/``.pfm`` files and sparse (KITTI) flow go to MMFlow's implementation unchanged. A ``.npy`` flow
    must be ``(H, W, 2)``; with ``mask_fw_path`` (TartanAir ``_mask.npy``), ``gt_valid_fw`` is 1 where the
    mask is 0.
    """

    def _load_npy(self, path: str, what: str) -> np.ndarray:
        try:
            return np.load(io.BytesIO(self.file_client.get(path)), allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"LoadFlowAnnotations: cannot read {what} {path}: {err}") from err

    def _load_flow(self, results: dict) -> dict:
        path = results.get("flow_fw_path")
        if path is None or not str(path).endswith(".npy"):
            return super()._load_flow(results)
        flow = self._load_npy(path, "flow")
        if flow.ndim != 3 or flow.shape[-1] != 2:
            raise ValueError(f"LoadFlowAnnotations: flow {path} has shape {flow.shape}, expected (H, W, 2)")
        results["gt_flow_fw"] = flow.astype(np.float32)
        results["gt_flow_bw"] = None
        mask_path = results.get("mask_fw_path")
        if mask_path is not None:
            mask = self._load_npy(mask_path, "mask")
            if mask.shape != flow.shape[:2]:
                raise ValueError(
                    f"LoadFlowAnnotations: mask {mask_path} has shape {mask.shape}, flow {path} has {flow.shape[:2]}"
                )
            results["gt_valid_fw"] = (mask == 0).astype(np.float32)
        return results
