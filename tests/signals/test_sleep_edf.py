"""The sleep-edf source: PSG EDFs cut into 30-s epochs labelled by their EDF+ hypnograms."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyedflib
import pytest

from climb.pipelines.sources import Excluded, sleep_edf
from climb.schemas.manifest import validate_manifest
from tests.helpers import located, read_samples

from .conftest import sample_key

# Hand-checked R&K annotation -> AASM stage index (W, N1, N2, N3, REM); unscored epochs are masked.
STAGE = {"Sleep stage W": 0, "Sleep stage 1": 1, "Sleep stage 2": 2, "Sleep stage 3": 3, "Sleep stage 4": 3,
         "Sleep stage R": 4, "Sleep stage ?": None, "Movement time": None}


@pytest.fixture(scope="module")
def shards(sleep_converted):
    return read_samples(sleep_converted[0])


def epoch(shards: dict, psg: str, start: float) -> dict:
    return shards[sample_key("sleep-edf", f"{psg}#{int(start // 30):05d}")]


def test_counts_add_up_and_bad_epochs_are_quarantined_with_reasons(sleep_corpus, sleep_converted):
    dataset, manifest = sleep_converted
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == sleep_corpus[1]["counts"]
    entries = located(dataset, sleep_corpus[0])
    assert Counter(path for path, _ in entries) == {p: n for p, (n, _) in sleep_corpus[1]["quarantined"].items()}
    messages = sorted(e["message"] for _, e in entries)
    assert "annotation 'Sleep stage W' at 180-210 s lies outside the recording (0-180 s)" in messages
    assert "annotation 'Sleep stage W' at 210-240 s lies outside the recording (0-180 s)" in messages
    assert messages.count("broken EDF header: the file is not EDF(+) or BDF(+) compliant (Number of Datarecords)") == 2


def test_every_epoch_carries_its_hypnogram_stage(sleep_corpus, shards):
    stages = sleep_corpus[1]["stages"]
    assert len(stages) == 24
    for (psg, start), text in stages.items():
        sample = epoch(shards, psg, start)
        assert sample["meta"]["labels"]["sleep_stage"] == STAGE[text], (psg, start, text)
        assert sample["meta"]["label_mask"]["sleep_stage"] is (STAGE[text] is not None)
        assert sample["meta"]["signal"]["epoch"] == {"start_s": start, "length_s": 30.0}


def test_epochs_equal_the_pyedflib_eeg_samples(sleep_corpus, shards):
    """Documented transform at the native 100 Hz: the two EEG derivations, cast to float32.

    Max abs error: float32 rounding only (measured 3.8e-6 uV on +-200 uV signals).
    """
    for (psg, start), _ in sleep_corpus[1]["stages"].items():
        with pyedflib.EdfReader(str(sleep_corpus[0] / psg)) as reader:
            labels = reader.getSignalLabels()
            expected = np.stack([reader.readSignal(labels.index(name), start=int(start * 100), n=3000)
                                 for name in ("EEG Fpz-Cz", "EEG Pz-Oz")])
        sample = epoch(shards, psg, start)
        assert sample["signal"].shape == (2, 3000)
        assert np.abs(sample["signal"] - expected).max() < 1e-4
        assert sample["meta"]["signal"]["channels"] == ["Fpz-Cz", "Pz-Oz"]


def test_both_nights_of_a_subject_share_a_split(shards):
    splits: dict[str, set] = {}
    for sample in shards.values():
        splits.setdefault(sample["meta"]["subject_id"], set()).add(sample["split"])
    assert len(splits) == 2 and all(len(s) == 1 for s in splits.values())


def test_a_psg_without_hypnogram_is_excluded(sleep_corpus):
    record = next(r for r in sleep_edf.discover(str(sleep_corpus[0]), {}) if "SC4031" in r.sample_id)
    with pytest.raises(Excluded, match="no hypnogram for SC4031"):
        sleep_edf.read(record, {})


def test_channels_and_rate_are_options(sleep_corpus):
    record = next(r for r in sleep_edf.discover(str(sleep_corpus[0]), {}) if r.sample_id.endswith("SC4001E0-PSG.edf#00007"))
    sample = sleep_edf.read(record, {"channels": "Pz-Oz", "sampling_rate": "50", "bandpass_hz": "0.3,20"})
    assert sample.arrays["signal"].shape == (1, 1500)
    assert sample.meta["signal"]["bandpass_hz"] == [0.3, 20.0]
    # N3 epoch: the 1.5 Hz delta wave (60 uV) survives filtering and resampling
    assert np.ptp(sample.arrays["signal"]) > 100
