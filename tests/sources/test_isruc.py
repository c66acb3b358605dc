"""The isruc source: ISRUC-Sleep subgroup I PSGs cut into 30-s epochs labelled by scorer 1 or both."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyedflib
import pytest
from scipy.signal import resample_poly

from climb.pipelines.sources import Excluded, isruc
from climb.schemas.manifest import validate_manifest
from tests.helpers import as_quarantined, read_samples

from .conftest import quarantine_entries, sample_key, splits_by

# Hand-checked ISRUC code -> sleep_stage index (W, N1, N2, N3, REM); 5 is REM, other codes masked.
STAGE = {"0": 0, "1": 1, "2": 2, "3": 3, "5": 4}


@pytest.fixture(scope="module")
def isruc_run(converted):
    root, description, manifest, dataset = converted("isruc")
    return root, description, manifest, dataset, read_samples(dataset)


def test_counts_add_up_and_unscorable_epochs_are_quarantined_with_reasons(isruc_run):
    raw, description, manifest, dataset, _ = isruc_run
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == description["counts"]
    entries = quarantine_entries(dataset, raw)
    assert Counter(path for path, _ in entries) == {p: n for p, (n, _) in description["quarantined"].items()}
    for path, entry in entries:
        assert entry["message"].startswith(as_quarantined(description["quarantined"][path][1], path, "isruc")), entry["message"]


def test_labels_are_scorer_one_and_both_scorers_are_kept(isruc_run):
    _, description, _, _, samples = isruc_run
    for sample_id, (first, second) in description["epochs"].items():
        meta = samples[sample_key("isruc", sample_id)]["meta"]
        assert meta["labels"]["sleep_stage"] == STAGE.get(first), sample_id
        assert meta["scorers"] == {"1": first, "2": second}


def test_epochs_are_c3_and_c4_resampled_from_200_to_125_hz(isruc_run):
    """Documented transform: pyedflib physical values (uV) of C3-A2 and C4-A1 -> resample_poly 5/8
    over the whole night -> 3750-sample epochs (read with 5 s of context only): max abs error
    measured 3.7e-6 uV (float32 rounding)."""
    root, description, _, _, samples = isruc_run
    for sample_id in description["epochs"]:
        rel, n = sample_id.split("#")
        with pyedflib.EdfReader(str(root / rel)) as reader:
            labels = reader.getSignalLabels()
            night = np.stack([reader.readSignal(labels.index(name)) for name in ("C3-A2", "C4-A1")])
        expected = resample_poly(night, 5, 8, axis=1)[:, int(n) * 3750:(int(n) + 1) * 3750]
        sample = samples[sample_key("isruc", sample_id)]
        assert sample["signal"].shape == (2, 3750)
        assert np.abs(sample["signal"] - expected).max() < 1e-4
        assert sample["meta"]["signal"]["channels"] == ["C3", "C4"]


def test_agreement_rule_masks_epochs_the_scorers_disagree_on(corpus):
    root, description = corpus("isruc")
    records = {r.sample_id: r for r in isruc.discover(str(root), {})}
    for sample_id, (first, second) in description["epochs"].items():
        sample = isruc.read(records[sample_id], {"scorer": "agreement"})
        agreed = STAGE.get(first) if STAGE.get(first) == STAGE.get(second) else None
        assert sample.labels["sleep_stage"] == agreed, sample_id
    second = isruc.read(records["1/1.rec#00001"], {"scorer": "2"})
    assert second.labels["sleep_stage"] == STAGE["2"]


def test_excluded_subjects_are_counted_not_converted(corpus):
    root, description = corpus("isruc")
    (record,) = [r for r in isruc.discover(str(root), {}) if r.sample_id in description["excluded"]]
    with pytest.raises(Excluded, match="subject 8 is in exclude_subjects"):
        isruc.read(record, {})
    kept = [r for r in isruc.discover(str(root), {"exclude_subjects": ""}) if r.subject_id == "8"]
    assert len(kept) == 2
    for given in (1, [1, 8], "1"):  # --option values arrive JSON-parsed
        assert not [r for r in isruc.discover(str(root), {"exclude_subjects": given}) if r.subject_id == "1" and "excluded" not in r.label_row]


def test_subjects_never_span_two_splits(isruc_run):
    assert all(len(s) == 1 for s in splits_by(isruc_run[4], "subject_id").values())
