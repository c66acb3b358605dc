"""rspect: DICOM series stacked by geometry -> int16 HU volumes in RAS, study-level PE labels."""

import json

import numpy as np
import pydicom
import pytest
import zarr

from climb.pipelines.sources import SourceError
from climb.pipelines.sources.dicom_series import read_series
from climb.transforms.volume import slice_normal
from tests.helpers import convert_demo, records

from .conftest import quarantine


def hu(path):
    ds = pydicom.dcmread(path)
    return (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(np.int16)


def expected_ras(slices):
    """The series read independently: files sorted by position on the normal, LPS rows/cols flipped to RAS."""
    iop = [float(v) for v in pydicom.dcmread(slices[0]["file"]).ImageOrientationPatient]
    normal = slice_normal(iop)
    ordered = sorted(slices, key=lambda s: float(np.dot(s["position"], normal)))
    return np.stack([hu(s["file"])[::-1, ::-1] for s in ordered])


def test_fixture_names_and_instance_numbers_do_not_give_the_slice_order(rspect_corpus):
    _, expected = rspect_corpus
    slices = expected["series"]["good"][2]
    by_position = [s["sop"] for s in sorted(slices, key=lambda s: s["position"][2])]
    assert by_position != sorted(by_position)
    assert by_position != [s["sop"] for s in sorted(slices, key=lambda s: s["instance_number"])]


@pytest.mark.parametrize("study", ["good", "oblique"])
def test_series_are_stacked_along_the_slice_normal(rspect_corpus, study):
    _, expected = rspect_corpus
    slices = expected["series"][study][2]
    volume, layout, modality = read_series([s["file"] for s in slices])
    assert modality == "CT" and volume.dtype == np.int16
    np.testing.assert_array_equal(volume, expected_ras(slices))
    assert layout.spacing[0] == pytest.approx(2.5)


@pytest.fixture(scope="module")
def converted(rspect_corpus, tmp_path_factory):
    raw, expected = rspect_corpus
    out = tmp_path_factory.mktemp("rspect-out")
    return convert_demo("rspect", raw, out), out / "rspect", expected


def test_corpus_converts_with_counts_labels_and_geometry_reasons(converted, rspect_corpus):
    manifest, dataset, expected = converted
    assert manifest["counts"] == expected["counts"]
    lines = quarantine(dataset, rspect_corpus[0])
    assert len(lines) == 4
    reasons = {name: [q["message"] for path, q in lines.items() if info[0] in path] for name, info in expected["series"].items()}
    assert "1 missing slice" in reasons["missing"][0]
    assert "duplicate slice position" in reasons["duplicate"][0]
    assert "uneven slice spacing" in reasons["uneven"][0]
    assert any("folder" in q["message"] and "is missing" in q["message"] for q in lines.values())
    got = sorted((json.loads(r["json"])["labels"]["pe_study"], json.loads(r["json"])["labels"]["pe_location"]) for r in records(dataset))
    assert got == sorted((v["pe_study"], v["pe_location"]) for v in expected["labels"].values())


def test_stored_volume_and_attrs_match_an_independent_read(converted):
    _, dataset, expected = converted
    for rec in records(dataset):
        meta = json.loads(rec["json"])
        if meta["labels"]["pe_study"] != 1:
            continue
        arr = zarr.open_array(str(dataset / meta["volume"]["zarr_path"]), mode="r")
        np.testing.assert_array_equal(arr[...], np.clip(expected_ras(expected["series"]["good"][2]), -1024, 3071))
        assert arr.attrs["spacing"] == pytest.approx([2.5, 0.661468, 0.661468])
        assert arr.attrs["orientation"] == "RAS" and arr.attrs["units"] == "HU"


def test_a_looser_tolerance_accepts_the_uneven_series(rspect_corpus):
    _, expected = rspect_corpus
    files = [s["file"] for s in expected["series"]["uneven"][2]]
    with pytest.raises(SourceError, match="uneven"):
        read_series(files)
    volume, layout, _ = read_series(files, tolerance=0.5)
    assert volume.shape[0] == len(files)


def test_a_series_in_s3_read_ahead_costs_one_request_per_slice(rspect_corpus, s3_bucket):
    """The header pass and the pixel pass both read the prefetched bytes (climb.prefetch)."""
    import s3fs

    from climb.prefetch import RawPrefetch
    from climb.s3.faultproxy import FaultProxy

    _, expected = rspect_corpus
    slices = expected["series"]["good"][2]
    fs = s3fs.S3FileSystem(**s3_bucket.storage_options)
    urls = []
    for i, s in enumerate(slices):
        fs.put_file(str(s["file"]), f"{s3_bucket.name}/series/{i}.dcm")
        urls.append(f"{s3_bucket.url}/series/{i}.dcm")
    with FaultProxy(s3_bucket.endpoint) as proxy:
        options = proxy.endpoint.storage_options()
        with RawPrefetch([urls], options, max_file_bytes=1 << 30) as ahead, ahead.sample(0):
            volume, _, _ = read_series(urls, options)
        assert proxy.methods == {"GET": len(slices)}
    np.testing.assert_array_equal(volume, expected_ras(slices))
