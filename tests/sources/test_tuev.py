"""The tuev source: TUEV EDFs with .rec event files -> one 5-s TCP window per event line."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyedflib
import pytest
from scipy.signal import resample_poly

from climb.pipelines.sources import SourceError, tuev
from climb.schemas.manifest import validate_manifest
from tests.helpers import as_quarantined, read_samples

from .conftest import quarantine_entries, sample_key, splits_by

# Hand-written: .rec code -> class index of eeg_event (SPSW, GPED, PLED, EYEM, ARTF, BCKG).
CODE = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5}
TCP_TUH = ("FP1-F7", "F7-T3", "T3-T5", "T5-O1", "FP2-F8", "F8-T4", "T4-T6", "T6-O2",
           "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4", "P4-O2")


@pytest.fixture(scope="module")
def tuev_run(converted):
    root, description, manifest, dataset = converted("tuev")
    return root, description, manifest, dataset, read_samples(dataset)


def test_counts_add_up_and_bad_events_are_quarantined_with_reasons(tuev_run):
    raw, description, manifest, dataset, _ = tuev_run
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == description["counts"]
    entries = quarantine_entries(dataset, raw)
    assert Counter(path for path, _ in entries) == Counter(list(description["quarantined"]))
    for path, entry in entries:
        assert entry["message"].startswith(as_quarantined(description["quarantined"][path], path, "tuev")), entry["message"]


def test_every_event_line_is_a_sample_labelled_by_its_code(tuev_run):
    _, description, _, _, samples = tuev_run
    for sample_id, (code, channel, start, stop, _) in description["events"].items():
        meta = samples[sample_key("tuev", sample_id)]["meta"]
        assert meta["labels"]["eeg_event"] == CODE.get(code), sample_id
        assert meta["label_mask"]["eeg_event"] is (sample_id not in description["masked"])
        assert meta["event"]["channel"] == tuev.EVENT_CHANNELS[channel]
        assert meta["event"]["code"] == code and meta["event"]["length_s"] == stop - start


def test_windows_are_the_event_plus_two_seconds_slid_inside_the_recording(tuev_run):
    """Documented transform: pyedflib physical values (uV) -> TCP differences -> resample_poly to
    200 Hz over the whole recording -> the 5-s window [start - 2, stop + 2] s moved inside the
    recording. Windows are resampled with 1 s of context only; the FIR reaches far less: max abs
    error measured 3.8e-6 uV (float32 rounding)."""
    root, description, _, _, samples = tuev_run
    for sample_id, (code, channel, start, stop, seconds) in description["events"].items():
        path = root / sample_id.split("#")[0]
        with pyedflib.EdfReader(str(path)) as reader:
            labels = reader.getSignalLabels()
            fs = reader.getSampleFrequency(0)
            ref = {label.split(" ")[1].split("-")[0]: reader.readSignal(i) for i, label in enumerate(labels)}
        montage = resample_poly(np.stack([ref[a] - ref[b] for a, b in (p.split("-") for p in TCP_TUH)]), 200, int(fs), axis=1)
        begin = min(max(start - 2.0, 0.0), seconds - 5.0)
        sample = samples[sample_key("tuev", sample_id)]
        assert sample["signal"].shape == (16, 1000) and sample["signal"].dtype == np.float32
        first = int(round(begin * 200))
        assert np.abs(sample["signal"] - montage[:, first:first + 1000]).max() < 1e-4, sample_id
        assert sample["meta"]["event"]["offset_s"] == pytest.approx(start - begin)
        assert sample["meta"]["signal"]["window"] == {"start_s": begin, "length_s": 5.0}


def test_eval_is_the_official_test_split_and_subjects_stay_in_one_split(tuev_run):
    _, description, _, _, samples = tuev_run
    for sample_id in description["events"]:
        subject = sample_id.split("/")[2]
        if subject in description["splits"]:
            assert samples[sample_key("tuev", sample_id)]["split"] == description["splits"][subject]
    assert all(len(s) == 1 for s in splits_by(samples, "subject_id").values())


@pytest.mark.parametrize(("line", "reason"), [
    ("3,1.0,2.0", "3 fields"),
    ("22,1.0,2.0,6", "channel 22 is not one of the 22 TCP channels"),
    ("0,2.0,2.0,6", "event span 2-2 s is empty or negative"),
    ("x,1.0,2.0,6", "invalid literal"),
])
def test_malformed_rec_lines_carry_their_reason(line, reason):
    (event,) = tuev.parse_rec(line + "\n")
    assert event["line"] == 1 and reason in event["error"]


def test_an_event_window_longer_than_the_recording_is_refused():
    assert tuev.event_window(0.5, 1.5, 2.0, 12.0) == (0.0, 5.0)
    assert tuev.event_window(10.0, 11.0, 2.0, 12.0) == (7.0, 5.0)
    with pytest.raises(SourceError, match="longer than the recording"):
        tuev.event_window(1.0, 2.0, 2.0, 4.0)
