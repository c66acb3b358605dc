"""The vindr-mammo and cmmd sources: mammogram DICOMs labelled per breast from their sheets."""

from __future__ import annotations

import pytest

from climb.pipelines.sources import Excluded, cmmd, vindr_mammo
from climb.schemas.manifest import validate_manifest
from tests.helpers import as_quarantined, read_samples

from .conftest import quarantine_entries, sample_key, splits_by

# Hand-written: VinDr "BI-RADS k" -> breast_birads index k-1; density letter -> index; others masked.
BIRADS = {f"BI-RADS {k}": k - 1 for k in range(1, 6)}
DENSITY = {"DENSITY A": 0, "DENSITY B": 1, "DENSITY C": 2, "DENSITY D": 3}
PATHOLOGY = {"Benign": 0, "Malignant": 1}
SUBTYPE = {"Luminal A": 0, "Luminal B": 1, "HER2-enriched": 2, "triple negative": 3}


@pytest.fixture(scope="module")
def vindr(converted):
    root, description, manifest, dataset = converted("vindr-mammo")
    return description, manifest, dataset, read_samples(dataset)


@pytest.fixture(scope="module")
def cmmd_run(converted):
    root, description, manifest, dataset = converted("cmmd")
    return description, manifest, dataset, read_samples(dataset)


@pytest.mark.parametrize("name", ["vindr-mammo", "cmmd"])
def test_counts_add_up_and_bad_rows_are_quarantined_with_reasons(converted, name):
    raw, description, manifest, dataset = converted(name)
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == description["counts"]
    entries = {path: e["message"] for path, e in quarantine_entries(dataset, raw)}
    assert set(entries) == set(description["quarantined"])
    for path, start in description["quarantined"].items():
        # sheet rows are named file#row: the row's id is a raw id too
        assert entries[path].startswith(as_quarantined(start, path, name, (path.rsplit("#", 1)[-1],))), entries[path]


def test_vindr_labels_match_the_breast_level_sheet(vindr):
    description, _, _, samples = vindr
    for sample_id, row in description["expected"].items():
        meta = samples[sample_key("vindr-mammo", sample_id)]["meta"]
        assert meta["labels"]["breast_birads"] == BIRADS.get(row["birads"]), sample_id
        assert meta["labels"]["breast_density"] == DENSITY.get(row["density"]), sample_id
        assert (meta["laterality"], meta["view"]) == (row["laterality"], row["view"])


def test_vindr_official_split_is_honoured_and_studies_stay_together(vindr):
    description, _, _, samples = vindr
    for sample_id, row in description["expected"].items():
        assert samples[sample_key("vindr-mammo", sample_id)]["split"] == row["split"]
    assert all(len(s) == 1 for s in splits_by(samples, "subject_id").values())


def test_vindr_images_no_row_lists_are_excluded(corpus):
    root, description = corpus("vindr-mammo")
    (record,) = [r for r in vindr_mammo.discover(str(root), {}) if r.sample_id in description["excluded"]]
    with pytest.raises(Excluded, match="not in breast-level_annotations.csv"):
        vindr_mammo.read(record, {})


def test_cmmd_images_take_the_row_of_their_own_breast(cmmd_run):
    description, _, _, samples = cmmd_run
    for sample_id, row in description["expected"].items():
        meta = samples[sample_key("cmmd", sample_id)]["meta"]
        assert meta["labels"]["breast_pathology"] == PATHOLOGY.get(row["classification"]), sample_id
        assert meta["labels"]["breast_cancer_subtype"] == SUBTYPE.get(row["subtype"]), sample_id
        assert meta["laterality"] == row["side"]
        assert (meta["abnormality"], meta["subtype"]) == (row["abnormality"], row["subtype"])


def test_cmmd_images_of_a_breast_without_a_row_are_excluded_not_mislabelled(corpus):
    root, description = corpus("cmmd")
    records = {r.sample_id: r for r in cmmd.discover(str(root), {})}
    left = [sid for sid in description["excluded"] if sid.startswith("CMMD/D1-0001/")]
    assert len(left) == 2
    for sample_id in left:
        with pytest.raises(Excluded, match="no row for this patient's left breast"):
            cmmd.read(records[sample_id], {})
    (unlisted,) = [sid for sid in description["excluded"] if "D9-9999" in sid]
    with pytest.raises(Excluded, match="patient folder not in"):
        cmmd.read(records[unlisted], {})


def test_cmmd_splits_are_grouped_by_patient(cmmd_run):
    description, _, _, samples = cmmd_run
    by_patient: dict[str, set[str]] = {}
    for sample_id, row in description["expected"].items():
        by_patient.setdefault(row["patient"], set()).add(samples[sample_key("cmmd", sample_id)]["split"])
    assert len(by_patient) == 4 and all(len(s) == 1 for s in by_patient.values())


def test_cmmd_sheet_without_its_label_column_is_refused(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["ID1", "LeftRight", "Age"])
    book.save(tmp_path / "sheet.xlsx")
    with pytest.raises(ValueError, match=r"lacks the columns \['classification'\]"):
        cmmd.read_sheet((tmp_path / "sheet.xlsx").read_bytes())
