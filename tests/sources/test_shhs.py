"""The shhs source: SHHS EDFs with profusion XML stages -> 30-s epochs of C3/C4."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyedflib
import pytest

from climb.pipelines.sources import SourceError, shhs
from climb.schemas.manifest import validate_manifest
from tests.helpers import as_quarantined, read_samples

from .conftest import quarantine_entries, sample_key, splits_by

# Hand-checked SHHS code -> sleep_stage index: R&K 3 and 4 are N3, 5 REM; 6 (movement) and 9 masked.
STAGE = {"0": 0, "1": 1, "2": 2, "3": 3, "4": 3, "5": 4}


@pytest.fixture(scope="module")
def shhs_run(converted):
    root, description, manifest, dataset = converted("shhs")
    return root, description, manifest, dataset, read_samples(dataset)


def test_counts_add_up_and_unscorable_recordings_are_quarantined_with_reasons(shhs_run):
    raw, description, manifest, dataset, _ = shhs_run
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == description["counts"]
    entries = quarantine_entries(dataset, raw)
    assert Counter(path for path, _ in entries) == {p: n for p, (n, _) in description["quarantined"].items()}
    for path, entry in entries:
        assert entry["message"].startswith(as_quarantined(description["quarantined"][path][1], path, "shhs")), entry["message"]


def test_labels_follow_the_profusion_stages(shhs_run):
    _, description, _, _, samples = shhs_run
    for sample_id, code in description["stages"].items():
        meta = samples[sample_key("shhs", sample_id)]["meta"]
        assert meta["labels"]["sleep_stage"] == STAGE.get(code), sample_id
        assert meta["label_mask"]["sleep_stage"] is (code in STAGE)
        assert meta["stage_code"] == code


def test_epochs_are_eeg_sec_as_c3_and_eeg_as_c4_at_125_hz(shhs_run):
    root, description, _, _, samples = shhs_run
    for sample_id in description["stages"]:
        rel, n = sample_id.split("#")
        with pyedflib.EdfReader(str(root / rel)) as reader:
            labels = reader.getSignalLabels()
            expected = np.stack([reader.readSignal(labels.index(name), start=int(n) * 3750, n=3750)
                                 for name in ("EEG(sec)", "EEG")])
        sample = samples[sample_key("shhs", sample_id)]
        assert sample["signal"].shape == (2, 3750)
        assert np.abs(sample["signal"] - expected).max() < 1e-4
        assert sample["meta"]["signal"]["channels"] == ["C3", "C4"]


def test_both_visits_of_a_participant_share_a_split(shhs_run):
    samples = shhs_run[4]
    subjects = splits_by(samples, "subject_id")
    assert len(subjects) == 2 and all(len(s) == 1 for s in subjects.values())


@pytest.mark.parametrize(("xml", "reason"), [
    (b"<CMPStudyConfig><SleepStages>", "does not parse"),
    (b"<CMPStudyConfig><SleepStages></SleepStages></CMPStudyConfig>", "lists no SleepStages"),
])
def test_unusable_profusion_files_carry_their_reason(xml, reason):
    with pytest.raises(SourceError, match=reason):
        shhs.profusion_stages(xml)


def test_shhs_channel_names():
    assert [shhs.shhs_channel(n) for n in ("EEG", "EEG(sec)", "EEG 2", "EOG(L)", "C3-A2")] == ["C4", "C3", "C3", None, "C3"]
