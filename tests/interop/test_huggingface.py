"""Hugging Face datasets reads every climb dataset through its webdataset builder and the dataset card.

`load_dataset(DATASET_DIR)` takes the splits' shards and every member's features from README.md; the
rows must be the manifest's samples, split by split, streamed or not, with the json member exactly
as written.
"""

from __future__ import annotations

import json
import os
import tempfile

import cv2
import datasets
import pytest

from climb.pipelines.sources import get_source
from climb.pipelines.writers.record_types import dataset_options, meta_type
from climb.schemas.json_member import conform
from tests.interop.conftest import FAMILIES, json_members

os.environ.setdefault("HF_HUB_OFFLINE", "1")
NAMES = FAMILIES


@pytest.fixture
def load(tmp_path):
    """datasets.load_dataset with a cache of the test's own (a shared cache could answer from a
    dataset converted earlier to the same path)."""
    datasets.disable_progress_bars()

    def run(*args, **kwargs):
        return datasets.load_dataset(*args, cache_dir=str(tmp_path / "hf-cache"), **kwargs)

    return run


@pytest.mark.parametrize("name", NAMES)
def test_load_dataset_reads_every_split_with_the_manifests_counts(converted, name, load):
    dataset, manifest = converted(name)
    loaded = load(str(dataset))
    assert {split: loaded[split].num_rows for split in loaded} == {s: v["num_samples"] for s, v in manifest["splits"].items()}


@pytest.mark.parametrize("name", NAMES)
def test_streaming_yields_each_splits_keys(converted, name, load):
    dataset, manifest = converted(name)
    written = json_members(dataset)
    for split, info in manifest["splits"].items():
        rows = list(load(str(dataset), split=split, streaming=True))
        assert len(rows) == info["num_samples"]
        assert {r["__key__"] for r in rows} == {k for k, meta in written.items() if meta["split"] == split}


@pytest.mark.parametrize("name", NAMES)
def test_json_member_round_trips_through_the_declared_features(converted, name, load):
    dataset, _ = converted(name)
    written = json_members(dataset)
    loaded = load(str(dataset))
    for split in loaded:
        for row in loaded[split]:
            # Arrow keeps a declared-but-absent field as null: exactly what the member holds
            assert row["json"] == written[row["__key__"]]


@pytest.mark.parametrize("name", NAMES)
def test_every_json_member_is_its_datasets_declared_type(converted, name):
    dataset, manifest = converted(name)
    info = get_source(manifest["source"])
    declared = meta_type(info, dataset_options(info, manifest))
    for meta in json_members(dataset).values():
        assert list(meta) == sorted(declared)  # every declared field, in the writer's sorted order
        assert conform(meta, declared) == (meta, [])  # already of the declared type: nothing to change


def test_mixed_members_load_as_null_where_a_record_lacks_them(converted, load):
    dataset, manifest = converted("dicom")
    rows = [r for split in manifest["splits"] for r in load(str(dataset), split=split)]
    kinds = {(r["image.png"] is not None, r["video.mp4"] is not None, r["preview.png"] is not None) for r in rows}
    assert kinds == {(True, False, False), (False, True, False), (False, False, True)}


def test_video_loads_as_raw_mp4_bytes_without_torchcodec(converted, load):
    dataset, _ = converted("echonet")
    row = load(str(dataset), split="train")[0]
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(row["video.mp4"])
        f.flush()
        capture = cv2.VideoCapture(f.name)
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
    assert frames == row["json"]["video"]["num_frames"]


def test_webdataset_builder_with_the_cards_features_reads_shard_lists(converted, load, tmp_path):
    """The route for a subset of shards: data_files by hand, features from the card."""
    dataset, manifest = converted("vindr-cxr")
    features = datasets.load_dataset_builder(str(dataset), cache_dir=str(tmp_path)).info.features
    train = [str(dataset / s["path"]) for s in manifest["shards"] if s["split"] == "train"]
    loaded = load("webdataset", data_files={"train": train}, split="train", features=features)
    assert loaded.num_rows == manifest["splits"]["train"]["num_samples"]


def test_signal_and_tabular_members_decode_to_their_values(converted, load):
    dataset, _ = converted("mimic-iv")
    row = next(iter(load(str(dataset), split="train")))
    signal = row["signal.npy"]
    assert signal is None or len(signal) == len(row["json"]["signal"]["channels"])
    assert set(row["tabular.json"]) >= {"age", "sex_female"}
    assert json.loads(json.dumps(row["tabular.json"])) == row["tabular.json"]


def shards_by_split(dataset, manifest, last: str) -> dict[str, list[str]]:
    """data_files for the webdataset builder, split `last` listed last (its first shard is the one the
    builder guesses types from when given no features)."""
    order = sorted(manifest["splits"], key=lambda split: split == last)
    return {split: [str(dataset / s["path"]) for s in manifest["shards"] if s["split"] == split] for split in order}


@pytest.mark.parametrize("source", ["ham10000", "connectome", "ptbxl"])
def test_the_webdataset_builder_guesses_the_types_of_records_whose_first_five_hold_every_field(converted, load, source):
    """Without features the builder types each field from the first five records of the last split
    listed (here train, whose first records hold a value in every field): ham10000's raw `dx` no
    longer comes with an `unmapped_labels` list that is null in nearly every record."""
    dataset, manifest = converted(source)
    loaded = load("webdataset", data_files=shards_by_split(dataset, manifest, "train"))
    assert {split: loaded[split].num_rows for split in loaded} == {s: v["num_samples"] for s, v in manifest["splits"].items()}


def test_the_webdataset_builder_without_features_refuses_records_with_different_members(converted, load):
    """A DICOM folder's records are images, short cines or long cines (preview.png): the builder
    guesses one set of members from the first five and refuses the shards; the card loads them."""
    dataset, manifest = converted("dicom")
    with pytest.raises(ValueError, match="don't share the same prefix or the same types"):
        load("webdataset", data_files=shards_by_split(dataset, manifest, "train"))
    assert sum(load(str(dataset))[s].num_rows for s in manifest["splits"]) == manifest["counts"]["written"]
