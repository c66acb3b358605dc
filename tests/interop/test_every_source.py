"""Every registered source's dataset opens with the tools people already use, split by split.

Each shipped source (modules, dedicated sources, spec files) converts its small real-layout corpus
once per session (tests/interop/corpora.py), then: Hugging Face datasets loads the folder from its
dataset card alone, in memory and streamed, and the webdataset builder loads the shards given the
card's features; mlcroissant reads croissant.json's samples and member records (all datasets in one
process). Row counts are the manifest's, keys and labels the json members'.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets
import pytest

from climb.pipelines.sources import is_builtin, source_names
from tests.interop.conftest import json_members, members_by_key
from tests.interop.corpora import CORPORA

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SOURCES = [name for name in source_names() if is_builtin(name)]

pytestmark = pytest.mark.slow  # 49 conversions, then three readers each: about 80 s on 2 shared cores


def expected_keys(dataset: Path) -> dict[str, set[str]]:
    """split -> keys of its records, from the json members read with tarfile."""
    out: dict[str, set[str]] = {}
    for key, meta in json_members(dataset).items():
        out.setdefault(meta["split"], set()).add(key)
    return out


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory) -> str:
    """A cache of this module's own (a shared one could answer from a dataset converted earlier)."""
    datasets.disable_progress_bars()
    return str(tmp_path_factory.mktemp("hf-cache"))


@pytest.fixture(scope="module")
def croissant_all(croissant_read) -> dict[str, dict[str, Any]]:
    """What mlcroissant read from every source's croissant.json, read in one process."""
    return croissant_read(*SOURCES)


def test_every_registered_source_has_a_corpus():
    assert sorted(CORPORA) == SOURCES


@pytest.mark.parametrize("source", SOURCES)
def test_the_card_loads_every_split_with_the_manifests_rows(converted, hf_cache, source):
    dataset, manifest = converted(source)
    loaded = datasets.load_dataset(str(dataset), cache_dir=hf_cache)
    assert {split: set(loaded[split]["__key__"]) for split in loaded} == expected_keys(dataset)
    assert {split: loaded[split].num_rows for split in loaded} == {s: v["num_samples"] for s, v in manifest["splits"].items()}


@pytest.mark.parametrize("source", SOURCES)
def test_the_card_streams_every_split_with_the_manifests_rows(converted, source):
    dataset, manifest = converted(source)
    streamed = datasets.load_dataset(str(dataset), streaming=True)
    keys = {split: [row["__key__"] for row in rows] for split, rows in streamed.items()}
    assert {split: len(k) for split, k in keys.items()} == {s: v["num_samples"] for s, v in manifest["splits"].items()}
    assert {split: set(k) for split, k in keys.items()} == expected_keys(dataset)


@pytest.mark.parametrize("source", SOURCES)
def test_the_webdataset_builder_reads_the_shards_with_the_cards_features(converted, hf_cache, source):
    dataset, manifest = converted(source)
    features = datasets.load_dataset_builder(str(dataset), cache_dir=hf_cache).info.features
    files: dict[str, list[str]] = {}
    for shard in manifest["shards"]:
        files.setdefault(shard["split"], []).append(str(dataset / shard["path"]))
    loaded = datasets.load_dataset("webdataset", data_files=files, features=features, cache_dir=hf_cache)
    assert {split: loaded[split].num_rows for split in loaded} == {s: v["num_samples"] for s, v in manifest["splits"].items()}


@pytest.mark.parametrize("source", SOURCES)
def test_croissant_samples_are_the_written_samples_with_their_labels(converted, croissant_all, source):
    dataset, manifest = converted(source)
    written = json_members(dataset)
    records = croissant_all[source]["records"]["samples"]
    assert sorted(r["samples/key"] for r in records) == sorted(written)
    per_split = {split: sum(r["samples/split"] == split for r in records) for split in manifest["splits"]}
    assert per_split == {split: s["num_samples"] for split, s in manifest["splits"].items()}
    for record in records:
        meta = written[record["samples/key"]]
        assert (record["samples/split"], record["samples/subject_id"]) == (meta["split"], meta["subject_id"])
        for task in manifest["tasks"]:
            assert record[f"samples/labels_{task}"] == meta["labels"][task]
            assert record[f"samples/label_mask_{task}"] == meta["label_mask"][task]


@pytest.mark.parametrize("source", SOURCES)
def test_croissant_member_records_hold_every_members_bytes(converted, croissant_all, source):
    dataset, _ = converted(source)
    records = croissant_all[source]["records"]
    written = {member.replace(".", "_"): keys for member, keys in members_by_key(dataset).items()}
    assert set(written) <= set(records)  # a declared member no record holds (a video's preview) reads empty
    for record_set in set(records) - {"samples"}:
        assert {r[f"{record_set}/key"] for r in records[record_set]} == written.get(record_set, set())
        assert all(r[f"{record_set}/content"] for r in records[record_set])
