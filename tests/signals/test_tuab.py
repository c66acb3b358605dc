"""The tuab source: TUH Abnormal EEG folders cut into 10-s windows of the bipolar TCP montage."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyedflib
import pytest
from scipy.signal import resample_poly

from climb.corpora.eeg import TUAB_FILES
from climb.pipelines.sources import tuab
from climb.schemas.manifest import validate_manifest
from tests.helpers import located, read_samples

from .conftest import sample_key

# BIOT's TUAB montage in the file's own (old 10-20) electrode names, written out by hand.
TCP_TUH = ("FP1-F7", "F7-T3", "T3-T5", "T5-O1", "FP2-F8", "F8-T4", "T4-T6", "T6-O2",
           "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4", "P4-O2")


@pytest.fixture(scope="module")
def shards(tuab_converted):
    return read_samples(tuab_converted[0])


def test_counts_add_up_and_bad_recordings_are_quarantined_per_window(tuab_corpus, tuab_converted):
    dataset, manifest = tuab_converted
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == tuab_corpus[1]["counts"]
    entries = located(dataset, tuab_corpus[0])
    assert Counter(path for path, _ in entries) == {path: n for path, (n, _) in tuab_corpus[1]["quarantined"].items()}
    for path, entry in entries:
        assert entry["message"].startswith(tuab_corpus[1]["quarantined"][path][1]), entry["message"]


def test_windows_equal_the_pyedflib_recording_in_tcp_montage_resampled_to_200_hz(tuab_corpus, shards):
    """Documented transform: pyedflib physical values (uV) -> TCP differences -> resample_poly to 200 Hz
    -> 2000-sample windows. Windows are resampled with 1 s of context, not the whole recording:
    max abs error measured 6.9e-6 uV (float32 rounding; the FIR reaches far less than 1 s)."""
    worst = 0.0
    for rel, fs, seconds, reference in TUAB_FILES:
        with pyedflib.EdfReader(str(tuab_corpus[0] / rel)) as reader:
            labels = reader.getSignalLabels()
            data = {label: reader.readSignal(i) for i, label in enumerate(labels)}
        ref = {label.split(" ")[1].split("-")[0]: values for label, values in data.items() if label.startswith("EEG ")}
        montage = np.stack([ref[a] - ref[b] for a, b in (p.split("-") for p in TCP_TUH)])
        resampled = resample_poly(montage, 200, fs, axis=1)
        for w in range(int(seconds // 10)):
            sample = shards[sample_key("tuab", f"{rel}#{w:05d}")]
            assert sample["signal"].shape == (16, 2000) and sample["signal"].dtype == np.float32
            worst = max(worst, float(np.abs(sample["signal"] - resampled[:, w * 2000:(w + 1) * 2000]).max()))
    assert worst < 1e-4


def test_metadata_names_the_montage_rate_units_and_window(shards):
    meta = shards[sample_key("tuab", f"{TUAB_FILES[2][0]}#00001")]["meta"]
    assert meta["signal"]["channels"] == list(tuab.TCP)
    assert (meta["signal"]["sampling_rate"], meta["signal"]["source_sampling_rate"]) == (200.0, 256.0)
    assert meta["signal"]["units"] == "uV" and meta["signal"]["montage"] == "tcp"
    assert meta["signal"]["window"] == {"index": 1, "start_s": 10.0, "length_s": 10.0}


def test_labels_come_from_the_folder_and_eval_is_the_test_split(shards):
    for rel, *_ in TUAB_FILES:
        sample = shards[sample_key("tuab", f"{rel}#00000")]
        assert sample["meta"]["labels"]["eeg_abnormal"] == (1 if "/abnormal/" in rel else 0)
        assert sample["split"] == ("train" if rel.startswith("edf/train/") else "test")


def test_subjects_are_file_name_prefixes_and_never_span_two_splits(tuab_corpus, shards):
    records = [r for r in tuab.discover(str(tuab_corpus[0]), {}) if "excluded" not in r.label_row]
    assert {r.subject_id for r in records} == {"aaaaaaaa", "aaaaaaab", "aaaaaaac", "aaaaaaad", "aaaaaaae", "aaaaaaaf", "aaaaaaag"}
    splits: dict[str, set] = {}
    for sample in shards.values():
        splits.setdefault(sample["meta"]["subject_id"], set()).add(sample["split"])
    assert all(len(s) == 1 for s in splits.values())


def test_referential_montage_gives_the_19_electrodes(tuab_corpus):
    record = next(r for r in tuab.discover(str(tuab_corpus[0]), {}) if r.sample_id == f"{TUAB_FILES[4][0]}#00000")
    sample = tuab.read(record, {"montage": "referential", "sampling_rate": "250"})
    assert sample.meta["signal"]["channels"] == list(tuab.REFERENTIAL)
    with pyedflib.EdfReader(str(tuab_corpus[0] / TUAB_FILES[4][0])) as reader:
        t7 = reader.readSignal(reader.getSignalLabels().index("EEG T3-LE"), start=0, n=2500)
    assert np.abs(sample.arrays["signal"][tuab.REFERENTIAL.index("T7")] - t7).max() < 1e-4


def test_a_flat_electrode_masks_every_derivation_that_uses_it(tuab_corpus):
    record = next(r for r in tuab.discover(str(tuab_corpus[0]), {}) if "aaaaaaag" in r.sample_id)
    sample = tuab.read(record, {"quality": "mask"})
    meta = sample.meta["signal"]
    assert meta["masked_channels"] == {"C3": "flat line (peak-to-peak 0 <= 1)"}
    assert [c for c, keep in zip(meta["channels"], meta["channel_mask"]) if not keep] == ["F3-C3", "C3-P3"]
