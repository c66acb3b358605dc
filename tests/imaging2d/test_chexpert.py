"""chexpert and mimic-cxr: JPG trees + CheXpert label sheets, labels by column name, uncertainty policy."""

import cv2
import numpy as np
import pytest

from climb.pipelines.sources import Excluded, SourceError
from climb.pipelines.sources import chexpert, mimic_cxr
from climb.schemas.tasks import get_task
from climb.transforms.image import resize_pad

CLASSES = get_task("cxr_findings").classes
MASKED = {"1.0": 1, "0.0": 0, "-1.0": None, "": None}


def expected_labels(values, policy=MASKED):
    return [policy[values[name]] for name in CLASSES]


def test_chexpert_counts_every_row_and_every_file(converted):
    raw, manifest, samples, _ = converted("chexpert")
    assert manifest["counts"] == {"discovered": len(raw["expected"]) + 3, "written": len(raw["expected"]),
                                  "quarantined": 2, "excluded": 1}
    assert {k: v["num_samples"] for k, v in manifest["splits"].items()} == raw["splits"]


def test_chexpert_valid_csv_is_the_official_val_split(converted):
    raw, _, samples, _ = converted("chexpert")
    for sample_id, sample in samples.items():
        assert sample["meta"]["split"] == raw["expected"][sample_id]["split"]


def test_chexpert_masks_uncertain_and_blank_by_default(converted):
    raw, _, samples, _ = converted("chexpert")
    for sample_id, sample in samples.items():
        assert sample["meta"]["labels"]["cxr_findings"] == expected_labels(raw["expected"][sample_id]["values"])
    masks = [s["meta"]["label_mask"]["cxr_findings"] for s in samples.values()]
    assert any(not all(m) for m in masks) and any(any(m) for m in masks)


def test_chexpert_images_of_one_patient_share_a_subject(converted):
    raw, _, samples, _ = converted("chexpert")
    subjects = {}
    for sample_id, sample in samples.items():
        subjects.setdefault(raw["expected"][sample_id]["subject"], set()).add(sample["meta"]["subject_id"])
    assert all(len(hashed) == 1 for hashed in subjects.values())
    assert len({next(iter(h)) for h in subjects.values()}) == len(subjects)


def test_chexpert_pixels_are_the_jpg_resized_with_padding(converted):
    raw, _, samples, _ = converted("chexpert")
    sample_id, sample = next(iter(samples.items()))
    jpg = cv2.imread(f"{raw['root']}/{sample_id}", cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(sample["image"], resize_pad(jpg, 224)[0])
    assert sample["meta"]["image"]["original_shape"] == list(jpg.shape)


def test_chexpert_quarantines_a_missing_and_an_undecodable_jpg(converted):
    raw, _, _, quarantine = converted("chexpert")
    reasons = {path: row["message"] for path, row in quarantine}
    for path, reason in raw["quarantined"].items():
        assert reason in reasons[path]


def test_chexpert_uncertain_policies(corpus):
    raw = corpus("chexpert")
    records = [r for r in chexpert.discover(raw["root"], {}) if r.sample_id in raw["expected"]]
    record = next(r for r in records if "-1.0" in r.label_row.values() and "" in r.label_row.values())
    values = raw["expected"][record.sample_id]["values"]
    zeros = chexpert.read(record, {"uncertain": "zeros", "blank": "zeros", "size": 32}).labels["cxr_findings"]
    ones = chexpert.read(record, {"uncertain": "ones", "size": 32}).labels["cxr_findings"]
    assert zeros == expected_labels(values, {"1.0": 1, "0.0": 0, "-1.0": 0, "": 0})
    assert ones == expected_labels(values, {"1.0": 1, "0.0": 0, "-1.0": 1, "": None})


def test_chexpert_refuses_an_unknown_policy(corpus):
    with pytest.raises(SourceError, match="uncertain"):
        list(chexpert.discover(corpus("chexpert")["root"], {"uncertain": "random"}))


def test_chexpert_given_the_folder_above_the_dataset_lists_the_same_records(tmp_path):
    from climb.corpora.imaging2d import write_chexpert_corpus

    inner = tmp_path / "download" / "CheXpert-v1.0-small"
    write_chexpert_corpus(inner)
    above = [(r.sample_id, r.paths, r.official_split) for r in chexpert.discover(str(inner.parent), {})]
    assert above and above == [(r.sample_id, r.paths, r.official_split) for r in chexpert.discover(str(inner), {})]


def test_chexpert_given_a_folder_above_two_copies_names_both(tmp_path):
    from climb.corpora.imaging2d import write_chexpert_corpus

    for name in ("CheXpert-v1.0", "CheXpert-v1.0-small"):
        write_chexpert_corpus(tmp_path / name, patients=1)
    with pytest.raises(SourceError, match=rf"train.csv is not in {tmp_path} but in 2 of its subfolders "
                                          rf"\({tmp_path}/CheXpert-v1.0, {tmp_path}/CheXpert-v1.0-small\)"):
        list(chexpert.discover(str(tmp_path), {}))


def test_finding_columns_are_found_by_name_not_position():
    header = ["Path", "Sex", *reversed(CLASSES), "Age"]
    columns = chexpert.finding_columns("chexpert", header)
    row = {name: "1.0" if name == "Cardiomegaly" else "0.0" for name in CLASSES}
    labels = chexpert.finding_labels(row, columns, "masked", "masked")
    assert labels[CLASSES.index("Cardiomegaly")] == 1 and sum(labels) == 1


def test_a_sheet_without_a_finding_column_is_refused():
    with pytest.raises(SourceError, match="No Finding"):
        chexpert.finding_columns("chexpert", ["Path", *CLASSES[1:]])


def test_an_unlisted_jpg_is_excluded(corpus):
    raw = corpus("chexpert")
    record = next(r for r in chexpert.discover(raw["root"], {}) if r.sample_id == raw["excluded"][0])
    with pytest.raises(Excluded, match="not in label sheet"):
        chexpert.read(record, {})


# ---------------------------------------------------------------------------------------- MIMIC-CXR


def test_mimic_counts_and_official_patient_disjoint_splits(converted):
    raw, manifest, samples, _ = converted("mimic-cxr")
    assert manifest["counts"] == {"discovered": len(raw["expected"]) + 2, "written": len(raw["expected"]),
                                  "quarantined": 1, "excluded": 1}
    assert {k: v["num_samples"] for k, v in manifest["splits"].items()} == raw["splits"]
    for sample_id, sample in samples.items():
        assert sample["meta"]["split"] == raw["expected"][sample_id]["split"]


def test_mimic_labels_are_per_study_and_a_study_without_labels_is_masked(converted):
    raw, _, samples, _ = converted("mimic-cxr")
    unlabelled = 0
    for sample_id, sample in samples.items():
        values = raw["expected"][sample_id]["values"]
        if values is None:
            unlabelled += 1
            assert sample["meta"]["label_mask"]["cxr_findings"] == [False] * len(CLASSES)
        else:
            assert sample["meta"]["labels"]["cxr_findings"] == expected_labels(values)
    assert unlabelled == 1


def test_mimic_keeps_the_view_position(converted):
    _, _, samples, _ = converted("mimic-cxr")
    assert {s["meta"]["view"] for s in samples.values()} == {"PA", "LATERAL"}


def test_mimic_image_path_follows_the_files_tree():
    assert mimic_cxr.image_path("10000032", "50414267", "abc") == "files/p10/p10000032/s50414267/abc.jpg"
