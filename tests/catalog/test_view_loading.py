"""Loaders read exactly what a view selects: every selected sample once per epoch across ranks and
workers, nothing else, the same order on every run, and exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from climb.loaders import ClimbDataset, MixedDataset
from climb.loaders.views import load_view, resolve
from climb.pipelines.catalog import build_catalog
from climb.schemas.views import ViewError, parse_view

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")
WHERE = 'positive(label.ecg_superclass) or meta.age > 60'


@pytest.fixture(scope="module")
def ptbxl(datasets: dict[str, Path]) -> Path:
    build_catalog(str(datasets["ptbxl"]))
    return datasets["ptbxl"]


def selected_keys(dataset: Path, split: str, where: str) -> set[str]:
    """The keys a one-dataset view selects in `split`, from the catalog alone."""
    (selection,) = resolve(parse_view({"datasets": [{"url": str(dataset), "where": where}]}))
    return {r["key"] for r in selection.table.to_pylist() if r["split"] == split}


def keys_of(ds, workers: int = 0, batch: int = 2, epoch: int = 0) -> list[str]:
    ds.set_epoch(epoch)
    out = []
    for b in ds.loader(batch_size=batch, num_workers=workers):
        out += b["__key__"]
    return out


def test_a_filtered_dataset_yields_only_and_all_selected_samples(ptbxl):
    expected = selected_keys(ptbxl, "train", WHERE)
    assert 0 < len(expected) < json.loads((ptbxl / "manifest.json").read_text())["splits"]["train"]["num_samples"]
    ds = ClimbDataset(str(ptbxl), split="train", where=WHERE, modalities=("signal",), tail="drop")
    assert len(ds) == len(expected)
    assert sorted(keys_of(ds)) == sorted(expected)


@pytest.mark.parametrize("workers", [0, 2])
def test_ranks_and_workers_split_a_selection_exactly(ptbxl, workers):
    expected = selected_keys(ptbxl, "train", WHERE)
    parts = [keys_of(ClimbDataset(str(ptbxl), split="train", where=WHERE, rank=r, world_size=2, tail="drop",
                                  modalities=("signal",)), workers=workers) for r in range(2)]
    assert not set(parts[0]) & set(parts[1])
    assert len(parts[0]) == len(parts[1]) == len(expected) // 2
    assert set(parts[0]) | set(parts[1]) <= expected


def test_the_order_of_a_selection_is_the_same_on_every_run(ptbxl):
    make = lambda: ClimbDataset(str(ptbxl), split="train", where=WHERE, seed=3, modalities=("signal",))  # noqa: E731
    assert keys_of(make(), epoch=2) == keys_of(make(), epoch=2)


def test_resume_inside_a_selection_continues_exactly(ptbxl):
    make = lambda: ClimbDataset(str(ptbxl), split="train", where=WHERE, seed=5, modalities=("signal",))  # noqa: E731
    whole = keys_of(make(), batch=1)
    ds = make()
    loader = iter(ds.loader(batch_size=1))
    first = [next(loader)["__key__"][0] for _ in range(2)]
    state = json.loads(json.dumps(ds.state_dict()))
    assert state["where"] == WHERE and len(state["catalog_sha256"]) == 64
    again = make()
    again.load_state_dict(state)
    assert first + keys_of(again, batch=1) == whole


def test_a_state_of_another_selection_is_refused(ptbxl):
    ds = ClimbDataset(str(ptbxl), split="train", where=WHERE, modalities=("signal",))
    other = ClimbDataset(str(ptbxl), split="train", where="known(label.ecg_superclass)", modalities=("signal",))
    with pytest.raises(ValueError, match="where"):
        other.load_state_dict(ds.state_dict())


def test_a_view_file_mixes_its_datasets_and_leaves_out_held_out_tasks(datasets, ptbxl, tmp_path):
    build_catalog(str(datasets["vindr-cxr"]))
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump({
        "datasets": [{"url": str(ptbxl), "where": WHERE},
                     {"url": str(datasets["vindr-cxr"]), "where": "known(label.cxr_findings)", "weight": 2}],
        "holdout_tasks": ["vindr_cxr_local"],
    }))
    mix = MixedDataset.from_view(str(path), split="train", tail="drop")
    assert "vindr_cxr_local" not in mix.tasks and "ecg_superclass" in mix.tasks
    expected = selected_keys(ptbxl, "train", WHERE) | {
        r["key"] for s in resolve(load_view(str(path)))[1:] for r in s.table.to_pylist() if r["split"] == "train"}
    assert set(keys_of(mix)) <= expected
    assert mix.probs[1] > mix.probs[0]


def test_a_pinned_view_refuses_a_catalog_that_changed(ptbxl, tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump({"datasets": [{"url": str(ptbxl), "where": WHERE, "catalog_sha256": "0" * 64}]}))
    with pytest.raises(ViewError, match="stale"):
        MixedDataset.from_view(str(path), split="train")
