"""`climb embed`: one Parquet row per sample with the encoder's embedding, split, pseudonymized subject, labels."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from climb.cli import main
from climb.corpora.ecg import PTBXL_RECORDS
from climb.loaders import ClimbDataset
from climb.trainer import load_encoder


@pytest.fixture(scope="module")
def table(pretrained, ptbxl, tmp_path_factory):
    out = tmp_path_factory.mktemp("embed") / "ptbxl.parquet"
    assert main(["embed", str(pretrained / "encoders" / "signal.pt"), str(ptbxl), str(out)]) == 0
    return pq.read_table(out)


def test_every_sample_of_every_split_has_one_row(table, ptbxl):
    manifest = json.loads((ptbxl / "manifest.json").read_text())
    counts = {s: v["num_samples"] for s, v in manifest["splits"].items()}
    assert table.num_rows == sum(counts.values()) and len(set(table["key"].to_pylist())) == table.num_rows
    splits = table["split"].to_pylist()
    assert {s: splits.count(s) for s in counts} == counts


def test_the_columns_hold_embeddings_labels_and_provenance(table):
    assert table.column_names == ["key", "split", "subject_id", "embedding", "label_ecg_harmonized", "label_ecg_superclass"]
    assert np.asarray(table["embedding"].to_pylist()).shape == (table.num_rows, 16)
    assert all(len(v) == 7 for v in table["label_ecg_harmonized"].to_pylist())
    meta = table.schema.metadata
    assert meta[b"climb.modality"] == b"signal" and len(meta[b"climb.manifest_sha256"]) == 64


def test_subject_ids_are_the_pseudonyms_never_the_raw_patient_ids(table):
    raw_ids = {str(patient) for _, patient, _, _ in PTBXL_RECORDS} | {f"{patient}.0" for _, patient, _, _ in PTBXL_RECORDS}
    subjects = set(table["subject_id"].to_pylist())
    assert not subjects & raw_ids
    assert len(subjects) < table.num_rows  # two patients have two records each


def test_the_embeddings_are_the_encoders_output(table, pretrained, ptbxl):
    encoder = load_encoder(pretrained / "encoders" / "signal.pt")
    batch = next(iter(ClimbDataset(str(ptbxl), split="train", shuffle=False, modalities=("signal",)).loader(batch_size=4)))
    with torch.no_grad():
        expected = encoder(batch["signal"]).numpy()
    rows = {k: v for k, v in zip(table["key"].to_pylist(), table["embedding"].to_pylist())}
    got = np.asarray([rows[k] for k in batch["__key__"]], dtype=np.float32)
    assert np.allclose(got, expected, atol=1e-5)
