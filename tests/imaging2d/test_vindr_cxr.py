"""vindr-cxr: DICOMs (real J2K CR, MONOCHROME1, JPEG-LS, RLE) + multi-reader label sheets."""

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_voi_lut

from climb.corpora.imaging2d import RG1_WINDOW, chest_radiograph, variant
from climb.pipelines.sources import SourceError
from climb.pipelines.sources import vindr_cxr
from climb.schemas.task_defs.imaging import VINDR_GLOBAL, VINDR_LOCAL, VINDR_TO_CHEXPERT
from climb.schemas.tasks import get_task
from climb.transforms.image import dicom_to_image, quantize, resize_pad

COLUMNS = list(VINDR_LOCAL) + list(VINDR_GLOBAL)


def majority_by_hand(votes):
    """Strict majority of reader rows per column; a tie is None."""
    out = {}
    for column in COLUMNS:
        ones = sum(int(v[column]) for v in votes)
        out[column] = None if ones * 2 == len(votes) else int(ones * 2 > len(votes))
    return out


def pydicom_reference(path, size=224):
    """The documented transform built from pydicom's own VOI: window, invert MONOCHROME1, 8 bits, pad."""
    ds = pydicom.dcmread(path)
    voi = apply_voi_lut(ds.pixel_array, ds).astype(np.float64)
    unit = voi / (2 ** ds.BitsStored - 1)  # pydicom's LINEAR window spans the unsigned stored range
    if ds.PhotometricInterpretation == "MONOCHROME1":
        unit = 1 - unit
    return resize_pad(quantize(unit), size)[0]


def test_counts_splits_and_bad_inputs(converted):
    raw, manifest, _, quarantine = converted("vindr-cxr")
    assert manifest["counts"] == {"discovered": 11, "written": 8, "quarantined": 2, "excluded": 1}
    assert {k: v["num_samples"] for k, v in manifest["splits"].items()} == raw["splits"]
    messages = {path.split(".")[0]: row["message"] for path, row in quarantine}
    assert "DICOM file has no pixel data" in messages[next(k for k, v in raw["quarantined"].items() if v == "no pixel data")]
    assert "missing" in messages[next(k for k, v in raw["quarantined"].items() if v == "missing")]


def test_labels_are_the_majority_of_the_images_readers(converted):
    raw, _, samples, _ = converted("vindr-cxr")
    for sample_id, sample in samples.items():
        agreed = majority_by_hand(raw["expected"][sample_id]["votes"])
        labels = sample["meta"]["labels"]
        assert labels["vindr_cxr_local"] == [agreed[c] for c in VINDR_LOCAL]
        assert labels["vindr_cxr_global"] == [agreed[c] for c in VINDR_GLOBAL]


def test_a_dissenting_reader_is_outvoted(converted):
    raw, _, samples, _ = converted("vindr-cxr")
    dissent = 0
    for sample_id, sample in samples.items():
        votes = raw["expected"][sample_id]["votes"]
        for i, column in enumerate(VINDR_LOCAL):
            if len({v[column] for v in votes}) > 1:
                dissent += 1
                assert sample["meta"]["labels"]["vindr_cxr_local"][i] == int(votes[1][column])
    assert dissent >= 5


def test_cxr_findings_follow_the_qa_export_map(converted):
    raw, _, samples, _ = converted("vindr-cxr")
    classes = get_task("cxr_findings").classes
    for sample_id, sample in samples.items():
        agreed = majority_by_hand(raw["expected"][sample_id]["votes"])
        findings = sample["meta"]["labels"]["cxr_findings"]
        assert findings[classes.index("Support Devices")] is None
        lesion = [agreed[c] for c, target in VINDR_TO_CHEXPERT.items() if target == "Lung Lesion"]
        assert findings[classes.index("Lung Lesion")] == (1 if 1 in lesion else 0)


def test_every_file_matches_pydicoms_read_after_the_documented_transform(converted):
    raw, _, samples, _ = converted("vindr-cxr")
    kinds = set()
    for sample_id, sample in samples.items():
        expected = raw["expected"][sample_id]
        reference = pydicom_reference(f"{raw['root']}/{expected['file']}")
        assert np.abs(sample["image"].astype(int) - reference.astype(int)).max() <= 1, expected["kind"]
        kinds.add(expected["kind"])
    assert kinds == {"real-j2k", "mono1", "jpeg-ls", "rle", "mono2"}


def test_monochrome1_is_inverted_so_lungs_are_dark(converted):
    raw, _, samples, _ = converted("vindr-cxr")
    for kind in ("mono1", "real-j2k"):
        sample = next(s for sid, s in samples.items() if raw["expected"][sid]["kind"] == kind)
        assert sample["meta"]["image"]["inverted"] is True
        assert sample["meta"]["image"]["photometric"] == "MONOCHROME1"
        # air has high stored values in MONOCHROME1; displayed, both lung fields are darker than the mediastinum
        image = sample["image"].astype(float)
        mediastinum = image[60:150, 100:124].mean()
        assert image[60:150, 30:80].mean() < mediastinum - 30
        assert image[60:150, 144:194].mean() < mediastinum - 30


def test_compressed_cxr_decodes_losslessly_and_converts_like_its_stored_pixels(corpus):
    raw = corpus("vindr-cxr")
    stored = chest_radiograph()
    records = {r.sample_id: r for r in vindr_cxr.discover(raw["root"], {})}
    meta = {"PhotometricInterpretation": "MONOCHROME1", "BitsStored": 15, "WindowCenter": RG1_WINDOW[0],
            "WindowWidth": RG1_WINDOW[1]}
    checked = set()
    for sample_id, expected in raw["expected"].items():
        if expected["kind"] not in ("jpeg-ls", "rle"):
            continue
        ds = pydicom.dcmread(f"{raw['root']}/{expected['file']}")
        assert ds.file_meta.TransferSyntaxUID.is_compressed
        original = variant(stored, expected["index"])
        np.testing.assert_array_equal(ds.pixel_array, original)
        image = vindr_cxr.read(records[sample_id], {"size": None}).arrays["image"]
        np.testing.assert_array_equal(image, dicom_to_image(original, meta)[0])
        checked.add(expected["kind"])
    assert checked == {"jpeg-ls", "rle"}


def test_spacing_is_rescaled_with_the_image(converted):
    raw, _, samples, _ = converted("vindr-cxr")
    sample = next(s for sid, s in samples.items() if raw["expected"][sid]["kind"] == "mono1")
    scale = sample["meta"]["image"]["scale"]
    assert sample["meta"]["image"]["spacing"] == pytest.approx([0.56 / scale[0], 0.56 / scale[1]])


def test_no_patient_name_or_id_reaches_the_output(converted):
    _, _, samples, _ = converted("vindr-cxr")
    for sample in samples.values():
        assert all(b"Doe^" not in member for member in sample["raw"].values())
        assert "PatientID" not in sample["meta"]["dicom"]


def test_label_columns_are_read_from_the_header_in_any_order():
    shuffled = ["rad_id", *reversed(COLUMNS), "image_id"]
    assert vindr_cxr.label_columns(shuffled) == list(reversed(COLUMNS))
    votes = [{c: "1" if c == "Cardiomegaly" else "0" for c in COLUMNS}] * 3
    labels = vindr_cxr.task_labels(vindr_cxr.majority(votes, list(reversed(COLUMNS))))
    assert labels["vindr_cxr_local"] == [1 if c == "Cardiomegaly" else 0 for c in VINDR_LOCAL]


def test_the_test_sheets_spelling_of_other_disease_is_accepted():
    header = ["image_id", *[("Other disease" if c == "Other diseases" else c) for c in COLUMNS]]
    assert "Other disease" in vindr_cxr.label_columns(header)


def test_an_unknown_or_missing_label_column_stops_discovery():
    with pytest.raises(SourceError, match="no VinDr task knows"):
        vindr_cxr.label_columns(["image_id", *COLUMNS, "Mystery finding"])
    with pytest.raises(SourceError, match="lacks columns"):
        vindr_cxr.label_columns(["image_id", *COLUMNS[1:]])


def test_majority_of_two_readers_that_disagree_is_masked():
    rows = [{"COPD": "1"}, {"COPD": "0"}]
    assert vindr_cxr.majority(rows, ["COPD"]) == {"COPD": None}
    assert vindr_cxr.majority(rows + [{"COPD": "1"}], ["COPD"]) == {"COPD": 1}
    assert vindr_cxr.majority([{"COPD": "0"}], ["COPD"]) == {"COPD": 0}
