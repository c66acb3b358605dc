"""kits: KiTS23 NIfTI cases -> int16 HU volumes in RAS with case-level malignancy."""

import json

import nibabel as nib
import numpy as np
import pytest
import zarr

from climb.pipelines.sources import get_source
from tests.helpers import convert_demo, records, tree_bytes

from .conftest import quarantine


def canonical_hu(path):
    img = nib.as_closest_canonical(nib.load(path))
    return np.rint(img.get_fdata()).astype(np.int16).transpose(2, 1, 0), img.header.get_zooms()[:3][::-1]


@pytest.fixture(scope="module")
def converted(kits_corpus, tmp_path_factory):
    raw, expected = kits_corpus
    out = tmp_path_factory.mktemp("kits-out")
    return convert_demo("kits", raw, out), out / "kits", expected


def test_corpus_converts_with_counts_labels_and_reasons(converted, kits_corpus):
    manifest, dataset, expected = converted
    assert manifest["counts"] == expected["counts"]
    reasons = quarantine(dataset, kits_corpus[0])
    assert "expected a 3D CT volume" in reasons["dataset/case_00003/imaging.nii.gz"]["message"]
    assert "No such file" in reasons["dataset/case_00004/imaging.nii.gz"]["message"]
    labels = sorted(json.loads(r["json"])["labels"]["kidney_tumor_malignancy"] is None for r in records(dataset))
    assert labels == [False, False, True]  # case_00002's null is masked, not guessed


def test_volumes_equal_nibabels_canonical_hu_with_its_spacing(converted):
    _, dataset, expected = converted
    stored = {}
    for rec in records(dataset):
        meta = json.loads(rec["json"])
        arr = zarr.open_array(str(dataset / meta["volume"]["zarr_path"]), mode="r")
        stored[arr.shape] = (arr, meta, rec)
    for case, path in expected["sources"].items():
        data, zooms = canonical_hu(path)
        arr, meta, rec = stored[data.shape]
        np.testing.assert_array_equal(arr[...], np.clip(data, -1024, 3071))
        assert arr.dtype == np.int16
        assert arr.attrs["spacing"] == pytest.approx(zooms)
        assert arr.attrs["orientation"] == "RAS" and arr.attrs["units"] == "HU"
        np.testing.assert_allclose(meta["volume"]["affine"], nib.as_closest_canonical(nib.load(path)).affine, atol=1e-6)
        assert meta["labels"]["kidney_tumor_malignancy"] == expected["labels"][case]
        assert rec["preview.png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_scaled_nifti_gets_slope_and_intercept_before_rounding(kits_corpus):
    raw, expected = kits_corpus
    info = get_source("kits")
    record = next(r for r in info.discover(str(raw), dict(info.defaults)) if r.sample_id == "case_00002")
    sample = info.read(record, {**info.defaults, "hu_clip": None})
    data, _ = canonical_hu(expected["sources"]["case_00002"])
    assert data.max() > 3071  # functional.nii's scaled values, far above any HU clip
    np.testing.assert_array_equal(sample.arrays["volume"], data)


def test_target_spacing_resamples_and_reports_the_exact_spacing(kits_corpus):
    raw, _ = kits_corpus
    info = get_source("kits")
    record = next(r for r in info.discover(str(raw), dict(info.defaults)) if r.sample_id == "case_00000")
    sample = info.read(record, {**info.defaults, "target_spacing": [4.0, 4.0, 4.0]})
    assert sample.arrays["volume"].shape == (12, 20, 16)  # round(25/2), round(41/2), round(33/2)
    assert sample.meta["volume"]["spacing"] == pytest.approx([50 / 12, 82 / 20, 66 / 16])
    assert sample.meta["volume"]["native_spacing"] == [2.0, 2.0, 2.0]


def test_reconversion_is_byte_identical_including_zarr_and_previews(kits_corpus, converted, tmp_path):
    raw, _ = kits_corpus
    _, first, _ = converted
    convert_demo("kits", raw, tmp_path)
    assert tree_bytes(first) == tree_bytes(tmp_path / "kits")
