"""The sample catalog: one Parquet row per written sample, readable without touching a shard."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from climb.pipelines.catalog import build_catalog
from climb.schemas.catalog import catalog_rows, catalog_table, member_shape, merge_fields, infer_fields
from tests.helpers import read_samples


@pytest.fixture(scope="module")
def catalogs(datasets: dict[str, Path]) -> dict[str, dict]:
    return {name: {"info": build_catalog(str(path)), "table": pq.read_table(path / "catalog.parquet")} for name, path in datasets.items()}


def test_one_row_per_written_sample_with_its_key_split_and_shard(datasets, catalogs):
    for name, path in datasets.items():
        manifest = json.loads((path / "manifest.json").read_text())
        table = catalogs[name]["table"]
        samples = read_samples(path)
        assert table.num_rows == manifest["counts"]["written"] == len(samples)
        for row in table.to_pylist():
            sample = samples[row["key"]]
            assert row["shard"] == sample["shard"]
            assert row["split"] == sample["meta"]["split"]
            assert row["dataset"] == name


def test_member_byte_ranges_point_at_the_member_bytes(datasets, catalogs):
    path = datasets["mimic-iv"]
    samples = read_samples(path)
    for row in catalogs["mimic-iv"]["table"].to_pylist():
        blob = (path / row["shard"]).read_bytes()
        for m in row["members"]:
            assert blob[m["offset"]:m["offset"] + m["size"]] == samples[row["key"]]["raw"][m["name"]]


def test_labels_are_typed_by_the_registry_and_null_where_masked(datasets, catalogs):
    table = catalogs["vindr-cxr"]["table"]
    assert str(table.schema.field("label.cxr_findings").type) == "list<element: int8>"
    samples = read_samples(datasets["vindr-cxr"])
    for row in table.to_pylist():
        assert row["label.cxr_findings"] == samples[row["key"]]["meta"]["labels"]["cxr_findings"]
    mimic = catalogs["mimic-iv"]["table"]
    assert str(mimic.schema.field("label.in_hospital_mortality").type) == "int16"
    assert str(mimic.schema.field("label.length_of_stay").type) == "double"


def test_shapes_come_from_the_stored_members(datasets, catalogs):
    samples = read_samples(datasets["mimic-iv"])
    for row in catalogs["mimic-iv"]["table"].to_pylist():
        sample = samples[row["key"]]
        assert row["shape.image"] == list(sample["image"].shape)
        assert row["shape.signal"] == list(sample["signal"].shape)


def test_scalar_metadata_becomes_meta_columns(catalogs):
    table = catalogs["mimic-iv"]["table"]
    assert set(table.column("meta.image.view").to_pylist()) <= {"PA", "AP", "LATERAL", "LL", None}
    assert table.schema.field("meta.signal.sampling_rate").type.id == table.schema.field("label.length_of_stay").type.id


def test_no_raw_identifier_reaches_the_catalog(datasets, catalogs):
    from climb.corpora.ehr import planted_identifiers, write_mimic_iv_corpus

    planted = planted_identifiers(write_mimic_iv_corpus(datasets["mimic-iv"].parent / "planted-check")["patients"])
    text = (datasets["mimic-iv"] / "catalog.parquet").read_bytes()
    assert planted and not [p for p in planted if p.encode() in text]


def test_the_same_dataset_gives_the_same_catalog_bytes(datasets, catalogs):
    again = build_catalog(str(datasets["ptbxl"]))
    assert again["sha256"] == catalogs["ptbxl"]["info"]["sha256"]


def test_catalog_is_readable_with_pandas_without_the_shards(datasets, catalogs, tmp_path):
    import pandas as pd

    copy = tmp_path / "catalog.parquet"
    copy.write_bytes((datasets["ptbxl"] / "catalog.parquet").read_bytes())
    frame = pd.read_parquet(copy)
    assert len(frame) == catalogs["ptbxl"]["table"].num_rows
    assert {"key", "split", "label.ecg_superclass", "shape.signal"} <= set(frame.columns)


def test_png_and_npy_headers_give_shapes():
    import cv2

    ok, png = cv2.imencode(".png", np.zeros((7, 5, 3), np.uint8))
    assert member_shape("image.png", png.tobytes()[:256], {}) == [7, 5, 3]
    buf = io.BytesIO()
    np.save(buf, np.zeros((12, 250), np.float32))
    assert member_shape("signal.npy", buf.getvalue()[:256], {}) == [12, 250]
    assert member_shape("video.mp4", b"", {"video": {"num_frames": 9}}) == [9]
    assert member_shape("json", b"{}", {}) is None


def test_columns_that_differ_between_shards_widen_to_one_type():
    a = infer_fields([{"meta.x": 1, "meta.flag": True}])
    b = infer_fields([{"meta.x": 2.5, "meta.flag": "yes", "meta.only_b": "v"}])
    merged = {f.name: str(f.type) for f in merge_fields(a, b)}
    assert merged == {"meta.x": "double", "meta.flag": "string", "meta.only_b": "string"}


def test_rows_of_a_shard_keep_shard_order():
    entries = [{"key": k, "offset": i * 10, "size": 10, "members": {"json": [i * 10, 10]}} for i, k in enumerate("ba")]
    metas = [{"split": "train", "modalities": [], "labels": {}} for _ in entries]
    rows = catalog_rows(dataset="d", split="train", shard="shards/train-00000.tar", entries=entries, metas=metas, heads=[{}, {}])
    table = catalog_table(rows)
    assert table.column("key").to_pylist() == ["b", "a"] and table.column("sample").to_pylist() == [0, 1]


def test_conversion_writes_the_catalog_and_the_manifest_pins_it(datasets):
    path = datasets["ptbxl"]
    manifest = json.loads((path / "manifest.json").read_text())
    pinned = manifest["catalog"]
    data = (path / "catalog.parquet").read_bytes()
    import hashlib

    assert pinned["path"] == "catalog.parquet" and pinned["sha256"] == hashlib.sha256(data).hexdigest()
    assert build_catalog(str(path))["sha256"] == pinned["sha256"]  # built from the shards: the same bytes


def test_verify_names_a_changed_catalog(datasets, capsys):
    from climb.cli import main

    catalog = datasets["vindr-cxr"] / "catalog.parquet"
    original = catalog.read_bytes()
    try:
        catalog.write_bytes(original[:-1] + b"\0")
        assert main(["verify", str(datasets["vindr-cxr"])]) == 1
        assert "catalog.parquet" in capsys.readouterr().out
    finally:
        catalog.write_bytes(original)
