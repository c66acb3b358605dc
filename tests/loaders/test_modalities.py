"""The manifest says which modality fields a dataset's samples carry; loaders read it (or, for a
manifest written before it did, the first sample's list) so trainers never ask the conversion code."""

from __future__ import annotations

import json
import shutil

from climb.loaders import ClimbDataset
from tests.helpers import records, read_samples


def test_the_manifest_lists_every_field_some_sample_carries_and_no_other(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    carried = {m for sample in read_samples(dataset).values() for m in sample["meta"]["modalities"]}
    assert manifest["modalities"] == sorted(carried)
    assert "volume" in manifest["modalities"], "fields stored in Zarr count too"


def test_a_dataset_reports_the_manifests_modalities(dataset):
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert ClimbDataset(str(dataset), split="val").carried_modalities() == tuple(manifest["modalities"])


def test_a_manifest_without_modalities_falls_back_to_the_first_samples_list(dataset, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(dataset, old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["modalities"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    first = json.loads(records(old)[0]["json"])
    assert ClimbDataset(str(old), split="train").carried_modalities() == tuple(first["modalities"])
