"""Samples survive the trip through Arrow exactly, and the JSON Schema describes the metadata we write."""

from __future__ import annotations

import dataclasses
import hashlib

import jsonschema
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from climb.schemas.arrow import ARROW_SCHEMA, from_arrow, json_schema, to_arrow
from climb.schemas.sample import SCHEMA_VERSION, Sample, validate


def _assert_same_array(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _roundtrip(sample: Sample, key: str = "k0") -> tuple[str, Sample]:
    table = to_arrow([(key, sample)])
    # through the Arrow IPC format, as a user saving the table to disk would
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    reread = pa.ipc.open_stream(sink.getvalue()).read_all()
    [(got_key, got)] = from_arrow(reread)
    return got_key, got


def test_multimodal_sample_is_valid(multimodal_sample, test_tasks):
    assert validate(multimodal_sample) == []


def test_roundtrip_keeps_every_array_field_exactly(multimodal_sample):
    _, got = _roundtrip(multimodal_sample)
    for name in ("image", "signal", "video", "volume"):
        _assert_same_array(got.arrays[name], multimodal_sample.arrays[name])


def test_roundtrip_keeps_graph_arrays_exactly(multimodal_sample):
    _, got = _roundtrip(multimodal_sample)
    want = multimodal_sample.arrays["graph"]
    assert sorted(got.arrays["graph"]) == sorted(want)
    for key in want:
        _assert_same_array(got.arrays["graph"][key], want[key])


def test_roundtrip_keeps_text_tabular_meta_labels_and_key(multimodal_sample, test_tasks):
    sample = dataclasses.replace(
        multimodal_sample, labels={"test_binary": 1, "test_multilabel": [1, None, 0], "test_regression": None}
    )
    key, got = _roundtrip(sample, key="ab12cd")
    assert key == "ab12cd"
    assert got.arrays["text"] == sample.arrays["text"]
    assert got.arrays["tabular"] == sample.arrays["tabular"]
    assert got.meta == sample.meta
    assert got.labels == sample.labels
    assert set(got.arrays) == set(sample.arrays)


def test_roundtrip_of_a_single_modality_sample_adds_no_fields():
    sample = Sample(arrays={"text": "report"}, meta={}, labels={})
    _, got = _roundtrip(sample)
    assert got.arrays == {"text": "report"}


def test_table_carries_the_schema_version(multimodal_sample):
    table = to_arrow([("k", multimodal_sample)])
    assert table.schema.equals(ARROW_SCHEMA)
    assert table.schema.metadata[b"climb.schema_version"].decode() == SCHEMA_VERSION
    assert table.column("schema_version").to_pylist() == [SCHEMA_VERSION]


@settings(max_examples=40, deadline=None)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.float32, np.int64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
    )
)
def test_roundtrip_is_exact_for_any_array(arr):
    """Bit-exact, including NaN payloads and -0.0 (compared as bytes)."""
    _, got = _roundtrip(Sample(arrays={"signal": arr}))
    assert got.arrays["signal"].dtype == arr.dtype
    assert got.arrays["signal"].shape == arr.shape
    assert got.arrays["signal"].tobytes() == arr.tobytes()


def _written_metadata(sample: Sample, labels: dict, label_mask: dict) -> dict:
    """The `json` member as the conversion writes it: field metadata plus the sample-level keys."""
    return {
        **sample.meta,
        "schema_version": SCHEMA_VERSION,
        "dataset": "ptbxl",
        "sample_id": "3f1c0a9e5b7d2c4e6f8a0b1c",
        "subject_id": "9d8c7b6a5f4e3d2c1b0a9f8e",
        "study_id": None,
        "split": "train",
        "modalities": sorted(sample.arrays),
        "labels": labels,
        "label_mask": label_mask,
        "source_sha256": hashlib.sha256(b"raw bytes").hexdigest(),
    }


def test_json_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_json_schema_accepts_realistic_metadata(multimodal_sample):
    meta = _written_metadata(
        multimodal_sample,
        labels={"ecg_harmonized": [1, 0, 0, 0, 0, None, 0]},
        label_mask={"ecg_harmonized": [True] * 5 + [False, True]},
    )
    jsonschema.validate(meta, json_schema(), cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda m: m.pop("subject_id"), "subject_id"),
        (lambda m: m["volume"].update(spacing=[5.0, -0.66, 0.66]), "volume"),
        (lambda m: m["image"].update(spacing=[0.1]), "image"),
        (lambda m: m["signal"].update(sampling_rate=0), "signal"),
        (lambda m: m["video"].pop("fps"), "video"),
        (lambda m: m.update(schema_version="0.9"), "schema_version"),
        (lambda m: m.update(modalities=["image", "hologram"]), "modalities"),
        (lambda m: m.update(source_sha256="not-a-digest"), "source_sha256"),
    ],
    ids=["no-subject", "negative-spacing", "image-spacing-rank", "zero-rate", "no-fps", "old-version", "bad-modality", "bad-digest"],
)
def test_json_schema_rejects_broken_metadata(multimodal_sample, mutate, path):
    meta = _written_metadata(multimodal_sample, labels={}, label_mask={})
    meta = {k: (dict(v) if isinstance(v, dict) else v) for k, v in meta.items()}
    mutate(meta)
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(meta))
    assert errors
    assert any(path in list(e.absolute_path) or path in e.message for e in errors)
