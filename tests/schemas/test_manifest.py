"""The manifest check catches missing keys and any sample lost between discovery and the shards."""

from __future__ import annotations

import copy

import pytest

from climb.schemas.manifest import MANIFEST_VERSION, REQUIRED_KEYS, validate_manifest
from climb.schemas.sample import SCHEMA_VERSION

SOUND = {
    "manifest_version": MANIFEST_VERSION,
    "schema_version": SCHEMA_VERSION,
    "code_version": "0.1.0",
    "source": "ptbxl",
    "config": {"salt": "climb", "shard_size": 256_000_000},
    "config_sha256": "0" * 64,
    "source_fingerprint": "1" * 64,
    "counts": {"discovered": 10, "written": 7, "quarantined": 2, "excluded": 1},
    "splits": {"train": {"num_samples": 5, "num_subjects": 4}, "test": {"num_samples": 2, "num_subjects": 2}},
    "shards": [
        {"path": "shards/train-00000.tar", "split": "train", "sha256": "a" * 64, "bytes": 1000, "num_samples": 5, "index": "shards/train-00000.idx"},
        {"path": "shards/test-00000.tar", "split": "test", "sha256": "b" * 64, "bytes": 400, "num_samples": 2, "index": "shards/test-00000.idx"},
    ],
    "tasks": {"ecg_harmonized": {"type": "multilabel", "classes": ["normal"], "counts": {}}},
}


def broken(change) -> dict:
    manifest = copy.deepcopy(SOUND)
    change(manifest)
    return manifest


def test_sound_manifest_has_no_errors():
    assert validate_manifest(SOUND) == []


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_each_required_key_is_checked(key):
    assert validate_manifest(broken(lambda m: m.pop(key))) == [f"missing key {key!r}"]


def test_counts_that_do_not_add_up_reveal_a_lost_sample():
    errors = validate_manifest(broken(lambda m: m["counts"].update(discovered=11)))
    assert errors == ["counts do not add up: discovered=11 != written=7 + quarantined=2 + excluded=1"]


def test_shards_must_hold_the_written_samples():
    errors = validate_manifest(broken(lambda m: m["shards"][1].update(num_samples=1)))
    assert errors == ["shards hold 6 samples but counts.written is 7"]


def test_splits_must_hold_the_written_samples():
    errors = validate_manifest(broken(lambda m: m["splits"]["test"].update(num_samples=3)))
    assert errors == ["splits hold 8 samples but counts.written is 7"]


def test_shard_entries_need_their_hash():
    errors = validate_manifest(broken(lambda m: m["shards"][0].pop("sha256")))
    assert errors == ["shards[0] lacks 'sha256'"]


def test_counts_must_be_integers():
    errors = validate_manifest(broken(lambda m: m["counts"].update(excluded="1")))
    assert errors == ["counts.excluded must be an integer"]


def test_modalities_may_be_absent_from_a_manifest_written_before_they_were_listed():
    assert "modalities" not in SOUND and validate_manifest(SOUND) == []


def test_modalities_listing_sorted_schema_fields_are_sound():
    assert validate_manifest(broken(lambda m: m.update(modalities=["image", "signal"]))) == []


@pytest.mark.parametrize("listed, problem", [
    (["signal", "image"], "modalities must be sorted and name each field once"),
    (["signal", "signal"], "modalities must be sorted and name each field once"),
    (["ecg"], "modalities names ['ecg'], which are not schema fields"),
    ("signal", "modalities must be a list of field names"),
    ([], "modalities [] disagree with 7 written samples"),
])
def test_modalities_that_are_not_a_sorted_list_of_schema_fields_are_refused(listed, problem):
    errors = validate_manifest(broken(lambda m: m.update(modalities=listed)))
    assert len(errors) == 1 and errors[0].startswith(problem)
