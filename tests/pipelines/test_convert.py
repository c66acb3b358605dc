"""The conversion engine, end to end on real DICOM and NIfTI files."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pydicom
import pytest

from climb.pipelines.convert import ConvertError
from climb.pipelines.verify import verify
from climb.schemas.manifest import validate_manifest
from climb.transforms.image import dicom_to_image
from climb.transforms.phi import DEMO_KEY
from tests.helpers import by_file, convert_demo, located, quarantine_lines, records, tree_bytes


def test_dicom_corpus_converts_every_file_and_counts_add_up(dicom_corpus, tmp_path):
    manifest = convert_demo("dicom", dicom_corpus, tmp_path / "out")
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == {"discovered": 9, "written": 9, "quarantined": 0, "excluded": 0}
    assert sum(s["num_samples"] for s in manifest["shards"]) == 9


def test_plain_webdataset_reads_the_shards_and_pixels_match_pydicom(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out")
    written = records(tmp_path / "out" / "dicom")
    assert len(written) == 9
    by_shape = {}
    for rec in written:
        meta = json.loads(rec["json"])
        if "image.png" in rec:
            img = cv2.imdecode(np.frombuffer(rec["image.png"], np.uint8), cv2.IMREAD_UNCHANGED)
            by_shape.setdefault(meta["image"]["original_shape"][0], []).append(img)
    ct = pydicom.dcmread(dicom_corpus / "site0" / "CT_small.dcm")
    expected, _ = dicom_to_image(ct)
    assert any(np.array_equal(img, expected) for img in by_shape[expected.shape[0]])


def test_compressed_variants_decode_to_the_same_pixels_as_uncompressed(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out")
    mr = [json.loads(r["json"]) for r in records(tmp_path / "out" / "dicom")]
    syntaxes = {m["dicom"]["TransferSyntaxUID"] for m in mr if m["dicom"].get("Modality") == "MR"}
    assert len(syntaxes) >= 3  # explicit little endian, RLE and JPEG-LS variants of MR_small
    images = {}
    for rec in records(tmp_path / "out" / "dicom"):
        meta = json.loads(rec["json"])
        if meta["dicom"].get("Modality") == "MR" and "image.png" in rec and meta["image"]["original_shape"] == [64, 64]:
            images[meta["dicom"]["TransferSyntaxUID"]] = cv2.imdecode(np.frombuffer(rec["image.png"], np.uint8), cv2.IMREAD_UNCHANGED)
    reference = next(iter(images.values()))
    assert all(np.array_equal(img, reference) for img in images.values())


def test_multiframe_dicom_becomes_a_video_sample(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out")
    videos = [json.loads(r["json"]) for r in records(tmp_path / "out" / "dicom") if "video.mp4" in r]
    frames = sorted(v["video"]["num_frames"] for v in videos)
    assert frames == [2, 10]
    assert all(v["video"]["fps"] > 0 for v in videos)


def test_no_identifying_tags_reach_the_metadata(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out")
    ct = pydicom.dcmread(dicom_corpus / "site0" / "CT_small.dcm")
    blob = b"".join(tree_bytes(tmp_path / "out").values())
    for value in (str(ct.PatientName), str(ct.PatientID), str(ct.StudyInstanceUID), str(ct.StudyDate)):
        assert value.encode() not in blob


def test_nifti_volumes_equal_nibabel_data_with_spacing_in_attrs(nifti_corpus, tmp_path):
    import nibabel as nib
    import zarr

    manifest = convert_demo("nifti", nifti_corpus, tmp_path / "out")
    assert manifest["counts"]["written"] == 2
    root = tmp_path / "out" / "nifti"
    for rec in records(root):
        meta = json.loads(rec["json"])
        arr = zarr.open_array(str(root / meta["volume"]["zarr_path"]), mode="r")
        names = [n for n in ("anatomical.nii", "example4d.nii.gz") if arr.shape[0] == nib.load(nifti_corpus / n).shape[2]]
        img = nib.as_closest_canonical(nib.load(nifti_corpus / names[0]))
        data = np.asanyarray(img.dataobj)
        data = data[..., 0] if data.ndim == 4 else data
        np.testing.assert_array_equal(arr[...], np.transpose(data, (2, 1, 0)).astype(np.float32))
        zooms = img.header.get_zooms()[:3]
        assert arr.attrs["spacing"] == pytest.approx([zooms[2], zooms[1], zooms[0]])
        assert arr.attrs["orientation"] == "RAS"
        assert "preview.png" in rec


def test_broken_files_are_quarantined_with_reasons_and_counts_add_up(broken_corpus, tmp_path):
    manifest = convert_demo("dicom", broken_corpus, tmp_path / "out")
    counts = manifest["counts"]
    assert counts == {"discovered": 7, "written": 2, "quarantined": 5, "excluded": 0}
    lines = quarantine_lines(tmp_path / "out" / "dicom")
    reasons = by_file(tmp_path / "out" / "dicom", broken_corpus)
    assert set(reasons) == {"truncated.dcm", "not_dicom.dcm", "zero.dcm", "dangling.dcm", "no_pixels.dcm"}
    assert "no pixel data" in reasons["no_pixels.dcm"]["message"]
    assert all(q["stage"] == "read" and q["error_type"] and q["message"] for q in lines)


def test_nifti_with_a_lying_header_is_quarantined(nifti_corpus, tmp_path):
    import nibabel as nib

    img = nib.load(nifti_corpus / "anatomical.nii")
    raw = bytearray((nifti_corpus / "anatomical.nii").read_bytes())
    hdr = img.header.copy()
    hdr.set_data_shape((4000, 4000, 4000))
    raw[: 348] = hdr.binaryblock
    (nifti_corpus / "liar.nii").write_bytes(bytes(raw))
    manifest = convert_demo("nifti", nifti_corpus, tmp_path / "out")
    assert manifest["counts"]["quarantined"] == 1
    (path, line), = located(tmp_path / "out" / "nifti", nifti_corpus)
    assert path == "liar.nii" and "voxels" in line["message"]


def test_same_inputs_give_byte_identical_output_whatever_the_discovery_order(dicom_corpus, tmp_path, monkeypatch):
    from climb.pipelines.sources import dicom

    convert_demo("dicom", dicom_corpus, tmp_path / "a", shard_size=40_000)
    first = tree_bytes(tmp_path / "a")
    original = dicom.discover
    reversed_source = dataclasses.replace(dicom.SOURCE, discover=lambda url, opts: reversed(list(original(url, opts))))
    monkeypatch.setattr(dicom, "SOURCE", reversed_source)
    convert_demo("dicom", dicom_corpus, tmp_path / "b", shard_size=40_000, batch_size=3)
    second = tree_bytes(tmp_path / "b")
    assert first == second
    assert sum(1 for name in first if name.endswith(".tar")) > 1


def test_verify_passes_then_names_a_tampered_shard(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out")
    dataset = tmp_path / "out" / "dicom"
    assert verify(str(dataset)) == []
    shard = sorted((dataset / "shards").glob("*.tar"))[0]
    data = bytearray(shard.read_bytes())
    data[600] ^= 0xFF
    shard.write_bytes(bytes(data))
    problems = verify(str(dataset))
    assert [p.path for p in problems] == [f"shards/{shard.name}"]


def test_finished_output_is_not_overwritten_without_permission(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out")
    with pytest.raises(ConvertError, match="--overwrite"):
        convert_demo("dicom", dicom_corpus, tmp_path / "out")
    assert convert_demo("dicom", dicom_corpus, tmp_path / "out", overwrite=True)["counts"]["written"] == 9


def test_subjects_never_span_two_splits(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out", salt="other")
    seen: dict[str, str] = {}
    for rec in records(tmp_path / "out" / "dicom"):
        meta = json.loads(rec["json"])
        assert seen.setdefault(meta["subject_id"], meta["split"]) == meta["split"]


def test_missing_raw_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConvertError, match="does not exist"):
        convert_demo("dicom", tmp_path / "nope", tmp_path / "out")


def test_an_official_split_sheet_that_leaks_a_subject_is_overruled(tmp_path):
    from climb.pipelines.records import prepare
    from climb.schemas.sample import Record

    records = [
        Record(source="t", sample_id=f"s{i}", subject_id="patient-1", paths=(f"/raw/s{i}",), official_split=split)
        for i, split in enumerate(["train", "test", "val"])
    ]
    items, _ = prepare(records, key=DEMO_KEY, salt="x", raw_url="/raw", fractions={"train": 1.0})
    assert {item.split for item in items} == {"train"}
    assert [item.split_moved for item in items] == [False, True, True]


def test_long_videos_go_to_zarr_with_a_preview_frame(dicom_corpus, tmp_path):
    import zarr

    manifest = convert_demo("dicom", dicom_corpus, tmp_path / "out", options={"video_max_frames_in_tar": 4})
    root = tmp_path / "out" / "dicom"
    videos = [json.loads(r["json"]) for r in records(root) if "video" in json.loads(r["json"])["modalities"]]
    long = [v for v in videos if v["video"]["num_frames"] > 4]
    short = [v for v in videos if v["video"]["num_frames"] <= 4]
    assert len(long) == 1 and len(short) == 1
    arr = zarr.open_array(str(root / long[0]["video"]["zarr_path"]), mode="r")
    assert arr.shape[0] == long[0]["video"]["num_frames"] and arr.attrs["fps"] == long[0]["video"]["fps"]
    assert [v["path"] for v in manifest["volumes"]] == [long[0]["video"]["zarr_path"]]
    assert verify(str(root)) == []


def test_verify_names_a_tampered_index(dicom_corpus, tmp_path):
    convert_demo("dicom", dicom_corpus, tmp_path / "out")
    dataset = tmp_path / "out" / "dicom"
    index = sorted((dataset / "shards").glob("*.idx"))[0]
    index.write_bytes(index.read_bytes().replace(b'"offset":0', b'"offset":1', 1))
    assert [p.path for p in verify(str(dataset))] == [f"shards/{index.name}"]


def test_raw_files_are_fingerprinted_with_the_raw_store_options(dicom_corpus, tmp_path):
    manifest = convert_demo("dicom", dicom_corpus, tmp_path / "out")
    lines = [json.loads(r["json"]) for r in records(tmp_path / "out" / "dicom")]
    assert all(m["source_sha256"] for m in lines)
    assert manifest["source_fingerprint"]
