"""The MMFlow adapter's DPT head (``midway_plugin.mmflow.dpt_head``): any grid, any widths, stable key names."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("mmflow")

from midway_plugin.mmflow.dpt_head import DPTHead  # noqa: E402

DIMS = (48, 48, 32, 32)
SMALL = dict(features=16, reassemble_channels=(8, 8, 16, 16))


def _maps(grid: tuple[int, int], prefix: int, dims=DIMS) -> list[torch.Tensor]:
    return [torch.randn(2, prefix + grid[0] * grid[1], d) for d in dims]


@pytest.mark.parametrize("readout", ["ignore", "add", "project"])
@pytest.mark.parametrize("prefix", [0, 1])
def test_odd_grids_and_mixed_widths(readout: str, prefix: int) -> None:
    """A 5x7 grid: the 1/2-scale map is 3x4, so a fixed x2 upsampling (mmseg's fusion) would not meet 5x7."""
    torch.manual_seed(0)
    head = DPTHead(DIMS, num_outputs=3, readout=readout, **SMALL)
    out = head(_maps((5, 7), prefix), grid=(5, 7), out_size=(40, 56))
    assert out.shape == (2, 3, 40, 56)
    assert torch.isfinite(out).all()


def test_readout_changes_the_output_only_with_a_cls_token() -> None:
    torch.manual_seed(0)
    head = DPTHead(DIMS, readout="add", **SMALL)
    maps = _maps((4, 4), prefix=1)
    zero_cls = [torch.cat([torch.zeros_like(t[:, :1]), t[:, 1:]], dim=1) for t in maps]
    with torch.no_grad():
        with_cls, without = head(maps, (4, 4), (32, 32)), head(zero_cls, (4, 4), (32, 32))
        patches_only = head([t[:, 1:] for t in maps], (4, 4), (32, 32))
    assert not torch.allclose(with_cls, without)
    torch.testing.assert_close(without, patches_only)


def test_state_dict_names_that_trained_checkpoints_hold() -> None:
    keys = DPTHead(DIMS, readout="project", **SMALL).state_dict().keys()
    for key in (
        "reassemble.0.readout.proj.0.weight",
        "reassemble.0.resample.weight",
        "reassemble.3.resample.bias",
        "to_features.2.weight",
        "fusion.0.skip_unit.conv1.bias",
        "fusion.3.unit.conv2.weight",
        "fusion.1.out_conv.bias",
        "output.4.weight",
    ):
        assert key in keys, key
    assert not any(k.startswith("fusion.3.skip_unit") for k in keys)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(readout="cls"), "readout must be 'ignore', 'add' or 'project', got 'cls'"),
        (dict(scales=(4, 2, 1, 0.25)), "scale must be an integer > 1, 1 or 1/2, got 0.25"),
        (dict(scales=(4, 2, 1)), "takes four token maps"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DPTHead(DIMS, **{**SMALL, **kwargs})


def test_bad_token_counts_are_named() -> None:
    head = DPTHead(DIMS, **SMALL)
    with pytest.raises(ValueError, match="has 23 tokens, which is neither 4x5=20"):
        head(_maps((4, 5), prefix=3), (4, 5), (32, 40))
    with pytest.raises(ValueError, match="takes four token maps, got 3"):
        head(_maps((4, 5), prefix=0)[:3], (4, 5), (32, 40))
