"""ham10000 (lesion-grouped splits), aptos (fundus grades) and cbis-ddsm (TCIA tree, per-image aggregation)."""

from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from climb.pipelines.sources import Excluded, aptos, cbis_ddsm, ham10000
from climb.schemas.tasks import get_task
from climb.transforms.image import minmax, quantize, resize_pad
from tests.helpers import convert_demo

SKIN = get_task("skin_lesion")


def rgb_reference(path, size=224):
    """cv2's read of the file, in RGB order, resized with padding: what the sources must store."""
    return resize_pad(cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), size)[0]


# ---------------------------------------------------------------------------------------- HAM10000


def test_ham10000_counts(converted):
    raw, manifest, _, quarantine = converted("ham10000")
    assert manifest["counts"] == {"discovered": len(raw["expected"]) + 2, "written": len(raw["expected"]),
                                  "quarantined": 1, "excluded": 1}
    assert "no file of that name" in quarantine[0][1]["message"]


def test_ham10000_no_lesion_is_in_two_splits(converted):
    raw, manifest, samples, _ = converted("ham10000")
    splits_of_lesion: dict[str, set] = {}
    for sample_id, sample in samples.items():
        splits_of_lesion.setdefault(raw["expected"][sample_id]["lesion"], set()).add(sample["meta"]["split"])
    assert all(len(s) == 1 for s in splits_of_lesion.values())
    assert any(len([1 for e in raw["expected"].values() if e["lesion"] == lesion]) > 1 for lesion in splits_of_lesion)
    assert len(manifest["splits"]) > 1


def test_ham10000_maps_dx_to_five_classes_and_masks_an_unknown_dx(converted):
    raw, _, samples, _ = converted("ham10000")
    other = {"bkl", "df", "vasc"}
    for sample_id, sample in samples.items():
        dx = raw["expected"][sample_id]["dx"]
        label = sample["meta"]["labels"]["skin_lesion"]
        if dx == "unknown":
            assert label is None and not sample["meta"]["label_mask"]["skin_lesion"] and sample["meta"]["dx"] == "unknown"
        else:
            assert SKIN.classes[label] == ("OTHER" if dx in other else dx.upper())


def test_ham10000_pixels_are_the_rgb_jpg_resized_with_padding(converted):
    raw, _, samples, _ = converted("ham10000")
    sample_id, sample = next(iter(samples.items()))
    path = next(Path(raw["root"]).rglob(f"{sample_id}.jpg"))
    np.testing.assert_array_equal(sample["image"], rgb_reference(path))


def test_ham10000_unlisted_jpg_is_excluded(corpus):
    raw = corpus("ham10000")
    record = next(r for r in ham10000.discover(raw["root"], {}) if r.sample_id == raw["excluded"][0])
    with pytest.raises(Excluded):
        ham10000.read(record, {})


# ------------------------------------------------------------------------------------------- APTOS


def test_aptos_counts_and_grades(converted):
    raw, manifest, samples, _ = converted("aptos")
    assert manifest["counts"] == {"discovered": len(raw["expected"]) + 2, "written": len(raw["expected"]),
                                  "quarantined": 1, "excluded": 1}
    for sample_id, sample in samples.items():
        assert sample["meta"]["labels"]["dr_grade"] == raw["expected"][sample_id]["diagnosis"]
    assert manifest["tasks"]["dr_grade"]["classes"][4] == "Proliferative DR"


def test_aptos_pixels_are_the_rgb_png_resized_with_padding(converted):
    raw, _, samples, _ = converted("aptos")
    for sample_id, sample in samples.items():
        np.testing.assert_array_equal(sample["image"], rgb_reference(f"{raw['root']}/train_images/{sample_id}.png"))


def test_aptos_does_not_read_the_unlabelled_test_images(corpus):
    raw = corpus("aptos")
    assert not any("test_images" in r.paths[0] for r in aptos.discover(raw["root"], {}))


def test_aptos_native_size_keeps_the_png(corpus):
    raw = corpus("aptos")
    record = next(r for r in aptos.discover(raw["root"], {}) if r.sample_id in raw["expected"])
    image = aptos.read(record, {"size": None}).arrays["image"]
    np.testing.assert_array_equal(image, cv2.cvtColor(cv2.imread(record.paths[0]), cv2.COLOR_BGR2RGB))


# --------------------------------------------------------------------------------------- CBIS-DDSM


def test_cbis_counts_and_official_splits(converted):
    raw, manifest, samples, quarantine = converted("cbis-ddsm")
    assert manifest["counts"] == {"discovered": len(raw["expected"]) + 3, "written": len(raw["expected"]),
                                  "quarantined": 2, "excluded": 1}
    for sample_id, sample in samples.items():
        assert sample["meta"]["split"] == raw["expected"][sample_id]["split"]
    messages = " | ".join(row["message"] for _, row in quarantine)
    assert "DICOM file has no pixel data" in messages and "no full mammogram series" in messages


def test_cbis_roi_mask_series_are_not_samples(corpus):
    raw = corpus("cbis-ddsm")
    ids = {r.sample_id for r in cbis_ddsm.discover(raw["root"], {})}
    assert not any(i.endswith("_1") for i in ids)


def test_cbis_labels_aggregate_the_images_abnormalities(converted):
    raw, _, samples, _ = converted("cbis-ddsm")
    pathology, birads = get_task("breast_pathology"), get_task("breast_birads")
    for sample_id, sample in samples.items():
        findings = raw["expected"][sample_id]["findings"]
        labels = sample["meta"]["labels"]
        malignant = any(p == "MALIGNANT" for _, p in findings)
        assert pathology.classes[labels["breast_pathology"]] == ("malignant" if malignant else "benign")
        grades = [int(a) for a, _ in findings if a != "0"]
        assert labels["breast_birads"] == (max(grades) - 1 if grades else None)
        assert sample["meta"]["num_abnormalities"] == len(findings)


def test_cbis_images_of_one_woman_share_her_subject(converted):
    raw, _, samples, _ = converted("cbis-ddsm")
    by_patient: dict[str, set] = {}
    for sample_id, sample in samples.items():
        by_patient.setdefault(raw["expected"][sample_id]["patient"], set()).add(sample["meta"]["subject_id"])
    assert len(by_patient["P_00001"]) == 1 and len(samples) > len(by_patient)


def test_cbis_pixels_are_pydicoms_read_min_max_scaled(converted):
    raw, _, samples, _ = converted("cbis-ddsm")
    for sample_id, sample in samples.items():
        path = next(p for p in Path(raw["root"], "CBIS-DDSM", sample_id).rglob("*.dcm"))
        reference = resize_pad(quantize(minmax(pydicom.dcmread(path).pixel_array)), 224)[0]
        np.testing.assert_array_equal(sample["image"], reference)
        assert sample["meta"]["image"]["voi"]["kind"] == "minmax"


def test_aptos_clahe_option_equalizes_before_resizing(corpus):
    from climb.transforms.image import clahe

    raw = corpus("aptos")
    record = next(r for r in aptos.discover(raw["root"], {}) if r.sample_id in raw["expected"])
    image = aptos.read(record, {"clahe": 2.0}).arrays["image"]
    rgb = cv2.cvtColor(cv2.imread(record.paths[0]), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, resize_pad(clahe(rgb, 2.0), 224)[0])


def test_reconverting_gives_byte_identical_shards(converted, tmp_path):
    raw, manifest, _, _ = converted("aptos")
    again = convert_demo("aptos", raw["root"], tmp_path)
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in manifest["shards"]]
