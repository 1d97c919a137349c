"""What a wheel carries for OpenMMLab's mim: ``model-index.yml``, a ``metafile.yml`` and ``README.md`` per config
family, and the build hook that copies them (with ``configs/``) into ``midway_plugin/.mim/``.

The metadata's results must be the ones ``docs/results.md`` publishes (means over seeds of the bench's table),
the paper's numbers only as ``Paper ...`` fields, and no weight links (none are released).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.test_docs import check_commands, check_links, check_paths

REPO = Path(__file__).resolve().parents[1]
MIM_FAMILIES = ("mmseg", "mmflow")
READMES = [REPO / "configs" / fam / "README.md" for fam in (*MIM_FAMILIES, "pretrain")]
#: OpenMMLab's results-table header (mmseg's config READMEs); the metric column is the family's.
TABLE = "| Method | Backbone | Crop Size | Lr schd | Mem (GB) | Inf time (fps) | {metric} | config | download |"


def _metafile(family: str) -> dict:
    return yaml.safe_load((REPO / "configs" / family / "metafile.yml").read_text())


def _bench_mean(metric_row: str, column: int) -> float:
    """Mean over seeds of one cell of the second-round table of docs/results.md (column 1 = base, 2 = full)."""
    for line in (REPO / "docs" / "results.md").read_text().splitlines():
        if line.startswith(f"| {metric_row} |"):
            seeds = [float(v) for v in line.split("|")[column + 1].split(",")]
            return round(sum(seeds) / len(seeds), 2)
    raise AssertionError(f"docs/results.md has no row {metric_row!r}")


def test_model_index_imports_every_family() -> None:
    index = yaml.safe_load((REPO / "model-index.yml").read_text())
    assert index == {"Import": [f"configs/{fam}/metafile.yml" for fam in MIM_FAMILIES]}


@pytest.mark.parametrize("family", MIM_FAMILIES)
def test_every_config_is_one_model_of_a_declared_collection(family: str) -> None:
    meta = _metafile(family)
    collections = {c["Name"] for c in meta["Collections"]}
    for collection in meta["Collections"]:
        assert (REPO / collection["README"]).is_file() and collection["Paper"]["URL"].startswith("https://arxiv")
    configs = sorted(p.stem for p in (REPO / "configs" / family).glob("*.py"))
    assert sorted(m["Name"] for m in meta["Models"]) == configs
    for model in meta["Models"]:
        assert model["In Collection"] in collections
        assert model["Config"] == f"configs/{family}/{model['Name']}.py"
        assert "Weights" not in model, f"{model['Name']}: no weights are released, so no download link"


def test_results_are_the_bench_run_and_paper_numbers_are_labelled() -> None:
    expected = {  # metafile model -> (metric, the full model's mean in docs/results.md)
        "linear_midway-tiny_1xb16-2k_synthetic-64x64": ("mIoU", _bench_mean("mIoU (e)", 2)),
        "midwayflow_tiny_1xb8-2k_synthetic-64x64": ("EPE", _bench_mean("flow EPE, finetune (d)", 2)),
        "midwayflow-frozen_tiny_1xb8-2k_synthetic-64x64": ("EPE", _bench_mean("flow EPE, frozen readout (d)", 2)),
    }
    found = {}
    for family in MIM_FAMILIES:
        for model in _metafile(family)["Models"]:
            metadata = model["Metadata"]
            for result in model.get("Results", []):
                assert result["Dataset"] == "Midway synthetic video", model["Name"]
                ((metric, value),) = result["Metrics"].items()
                found[model["Name"]] = (metric, value)
                assert "midway bench quality" in metadata["Note"] and "docs/results.md" in metadata["Note"]
            if any(key.startswith("Paper ") for key in metadata):
                assert "Results" not in model and "paper's Table" in metadata["Note"], model["Name"]
    assert found == expected


@pytest.mark.parametrize("family,metric", [("mmseg", "mIoU"), ("mmflow", "EPE")])
def test_readme_tables_match_the_metafile(family: str, metric: str) -> None:
    text = (REPO / "configs" / family / "README.md").read_text()
    assert TABLE.format(metric=metric) in text
    for section in ("## Introduction", "## Usage", "## Results and models", "## Citation", "```bibtex"):
        assert section in text
    for model in _metafile(family)["Models"]:
        assert f"]({model['Name']}.py)" in text, f"{model['Name']} is not in configs/{family}/README.md"
        for result in model.get("Results", []):
            (value,) = result["Metrics"].values()
            assert re.search(rf"\[config\]\({re.escape(model['Name'])}\.py\)", text)
            assert f"| {value:.2f} |" in text


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(REPO)))
def test_config_readmes_links_commands_and_paths(readme: Path) -> None:
    text = readme.read_text()
    assert check_links(text, readme) + check_commands(text) + check_paths(text) == []


def test_mim_reads_the_index() -> None:
    """openmim's own parser (what `mim search` runs) gives one row per config, with the bench's results."""
    search = pytest.importorskip("mim.commands.search")
    from modelindex.load_model_index import load

    table = search.convert2df(load(str(REPO / "model-index.yml")))
    assert len(table) == sum(len(_metafile(f)["Models"]) for f in MIM_FAMILIES)
    assert table.loc["linear_midway-tiny_1xb16-2k_synthetic-64x64", "midway synthetic video/miou"] == pytest.approx(
        _bench_mean("mIoU (e)", 2)
    )


def test_the_build_ships_configs_and_index_in_dot_mim() -> None:
    setup = ast.parse((REPO / "setup.py").read_text())
    shipped = next(
        node.value
        for node in ast.walk(setup)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "MIM_FILES"
    )
    assert ast.literal_eval(shipped) == ("configs", "model-index.yml")
    manifest = (REPO / "MANIFEST.in").read_text().split()
    assert "model-index.yml" in manifest and "configs" in manifest  # the sdist carries what setup.py copies
