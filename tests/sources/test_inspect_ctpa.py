"""The inspect source: INSPECT CTPA NIfTI + impressions + PE flags + cohort split -> volume, text, ctpa_pe."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import zarr

from climb.pipelines.sources import inspect_ctpa
from climb.schemas.manifest import validate_manifest
from tests.helpers import as_quarantined, read_samples

from .conftest import quarantine_entries, sample_key


@pytest.fixture(scope="module")
def inspect_run(converted):
    root, description, manifest, dataset = converted("inspect")
    samples = read_samples(dataset)
    return root, description, manifest, dataset, {i: samples[sample_key("inspect", i)] for i in description["expected"]}


def test_counts_add_up_and_missing_or_broken_volumes_are_quarantined(inspect_run):
    raw, description, manifest, dataset, _ = inspect_run
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == description["counts"]
    entries = {path: e["message"] for path, e in quarantine_entries(dataset, raw)}
    assert set(entries) == set(description["quarantined"])
    for path, start in description["quarantined"].items():
        assert entries[path].startswith(as_quarantined(start, path, "inspect")), entries[path]


def test_labels_are_climbs_five_classes_from_the_flags(inspect_run):
    _, description, _, _, samples = inspect_run
    for impression, row in description["expected"].items():
        meta = samples[impression]["meta"]
        assert meta["labels"]["ctpa_pe"] == row["class"], impression
        assert meta["label_mask"]["ctpa_pe"] is (row["class"] is not None)


def test_the_cohort_split_is_honoured_and_a_patient_stays_in_one_split(inspect_run):
    _, description, manifest, _, samples = inspect_run
    for impression, row in description["expected"].items():
        if row["patient"] != "pat01":
            assert samples[impression]["split"] == row["split"], impression
    # the cohort puts pat01's two studies in train and test: both follow the first (imp0001, train)
    assert {samples[i]["split"] for i in ("imp0001", "imp0002")} == {"train"}
    assert manifest["split_conflicts"] == 1


def test_volumes_are_axial_whatever_the_storage_order(inspect_run):
    """Three files hold the same voxels in different storage orders; reoriented to RAS [Z, Y, X]
    they are the same array, equal to nibabel's canonical image transposed."""
    root, description, _, dataset, samples = inspect_run
    arrays = []
    for impression in ("imp0001", "imp0002", "imp0003"):
        arr = zarr.open_array(str(dataset / samples[impression]["meta"]["volume"]["zarr_path"]), mode="r")[...]
        canonical = nib.as_closest_canonical(nib.load(root / "CTPA" / f"{impression}.nii.gz"))
        expected = np.clip(np.rint(canonical.get_fdata()), -1024, 3071).astype(np.int16).transpose(2, 1, 0)
        np.testing.assert_array_equal(arr, expected)
        arrays.append(arr)
    np.testing.assert_array_equal(arrays[0], arrays[1])
    np.testing.assert_array_equal(arrays[0], arrays[2])


def test_impressions_are_written_as_text_without_dates_or_names(corpus):
    root, description = corpus("inspect")
    record = next(r for r in inspect_ctpa.discover(str(root), {}) if r.sample_id == "imp0002")
    sample = inspect_ctpa.read(record, {})
    assert "filling defect in the pulmonary arteries" in sample.arrays["text"]
    assert "03/14/2019" not in sample.arrays["text"] and "Smith" not in sample.arrays["text"]


@pytest.mark.parametrize(("flags", "expected"), [
    ({"pe_positive": "0"}, "negative"),
    ({"pe_positive": "1", "pe_acute": "1", "pe_subsegmentalonly": "1"}, "acute subsegmental-only"),
    ({"pe_positive": "1", "pe_acute": "1", "pe_subsegmentalonly": "0"}, "acute"),
    ({"pe_positive": "1", "pe_acute": "0", "pe_subsegmentalonly": "1"}, "subsegmental-only"),
    ({"pe_positive": "1", "pe_acute": "0", "pe_subsegmentalonly": "0"}, "chronic"),
    ({"pe_positive": "1", "pe_acute": "", "pe_subsegmentalonly": "0"}, None),
    ({"pe_positive": "2"}, None),
])
def test_ctpa_class_rules(flags, expected):
    classes = inspect_ctpa.get_task("ctpa_pe").classes
    assert inspect_ctpa.ctpa_class(flags) == (None if expected is None else classes.index(expected))
