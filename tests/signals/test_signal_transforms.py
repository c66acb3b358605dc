"""transforms/signal.py: channel aliases, resampling, filters, crop/pad and the per-lead quality check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from climb.transforms import signal as sig


@pytest.mark.parametrize(
    "raw, lead",
    [("MLII", "II"), ("V1 ", "V1"), ("avr", "aVR"), ("AVL", "aVL"), ("ECG I", "I"), ("Lead I (Einthoven)", "I"),
     ("lead aVF", "aVF"), ("EKG V6", "V6"), ("ii", "II"), ("MLIII", "III")],
)
def test_ecg_aliases_land_on_the_standard_lead_names(raw, lead):
    assert sig.canonical_ecg_lead(raw) == lead


@pytest.mark.parametrize("raw", ["V7", "X", "-aVR", "Lead", "", "I II"])
def test_names_that_are_not_one_of_the_12_leads_are_unknown(raw):
    assert sig.canonical_ecg_lead(raw) is None


@pytest.mark.parametrize(
    "raw, channel",
    [("EEG FP1-REF", "Fp1"), ("EEG T3-LE", "T7"), ("EEG T6-REF", "P8"), ("C3-A2", "C3"), ("C4-M1", "C4"),
     ("EEG Fpz-Cz", "Fpz-Cz"), ("EEG Pz-Oz", "Pz-Oz"), ("eeg cz-ref", "Cz"), ("O2", "O2"), ("EEG A1-REF", "A1")],
)
def test_eeg_names_lose_references_and_take_modern_10_20_spelling(raw, channel):
    assert sig.canonical_eeg_channel(raw) == channel


@pytest.mark.parametrize("raw", ["EEG EKG1-REF", "PHOTIC-REF", "IBI", "EOG horizontal", "EMG submental"])
def test_non_eeg_channels_are_unknown(raw):
    assert sig.canonical_eeg_channel(raw) is None


def test_pick_channels_reorders_rows_to_the_standard_order():
    names = ["V6", "AVR", "I", "II", "III", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5"]
    x = np.arange(12, dtype=float)[:, None] * np.ones((12, 3))
    out = sig.pick_channels(x, names, sig.ECG_LEADS, sig.canonical_ecg_lead, strict=True)
    assert [names[int(v)] for v in out[:, 0]] == ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def test_strict_picking_names_unknown_missing_and_duplicate_leads():
    base = list(sig.ECG_LEADS)
    x = np.zeros((12, 4))
    with pytest.raises(sig.ChannelError, match=r"unknown lead names \['V7'\]"):
        sig.pick_channels(x, base[:-1] + ["V7"], sig.ECG_LEADS, sig.canonical_ecg_lead, strict=True)
    with pytest.raises(sig.ChannelError, match=r"missing channels \['V6'\]"):
        sig.pick_channels(x[:11], base[:-1], sig.ECG_LEADS, sig.canonical_ecg_lead, strict=True)
    with pytest.raises(sig.ChannelError, match=r"\['V5'\] appear more than once"):
        sig.pick_channels(x, base[:-1] + ["v5"], sig.ECG_LEADS, sig.canonical_ecg_lead, strict=True)


def test_lenient_picking_ignores_unknown_and_extra_channels():
    names = ["EEG FP1-REF", "EEG EKG1-REF", "EEG C3-REF", "PHOTIC-REF", "EEG O1-REF"]
    x = np.arange(5, dtype=float)[:, None]
    out = sig.pick_channels(x, names, ("O1", "Fp1"), sig.canonical_eeg_channel, strict=False)
    assert out[:, 0].tolist() == [4.0, 0.0]


def test_bipolar_derivation_is_the_difference_of_its_electrodes():
    x = np.array([[3.0, 5.0], [1.0, 1.0], [0.5, 2.0]])
    out = sig.bipolar(x, ["Fp1", "F7", "T7"], ["Fp1-F7", "F7-T7"])
    assert out.tolist() == [[2.0, 4.0], [0.5, -1.0]]
    with pytest.raises(sig.ChannelError, match="needs T7 and O1"):
        sig.bipolar(x, ["Fp1", "F7", "T7"], ["T7-O1"])


def test_unit_scale_converts_between_voltage_units():
    assert sig.unit_scale("uV", "mV") == pytest.approx(1e-3)
    assert sig.unit_scale("mV", "µV") == pytest.approx(1e3)
    assert sig.unit_scale("V", "uV") == pytest.approx(1e6)
    with pytest.raises(ValueError, match="cannot convert"):
        sig.unit_scale("degC", "mV")


def test_resampling_is_polyphase_with_the_exact_ratio():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2570))
    out = sig.resample(x, 257, 500)
    assert out.shape == (2, 5000)
    np.testing.assert_array_equal(out, resample_poly(x, 500, 257, axis=-1))


def test_resampling_keeps_a_slow_sine_and_returns_a_copy_at_the_same_rate():
    t = np.arange(1000) / 250
    x = np.sin(2 * np.pi * 5 * t)[None]
    out = sig.resample(x, 250, 200)
    t_out = np.arange(800) / 200
    assert np.abs(out[0, 50:-50] - np.sin(2 * np.pi * 5 * t_out[50:-50])).max() < 1e-3
    same = sig.resample(x, 250, 250)
    assert same is not x and np.array_equal(same, x)


def test_bandpass_removes_baseline_wander_and_keeps_the_passband():
    fs = 500
    t = np.arange(5000) / fs
    inband = np.sin(2 * np.pi * 10 * t)
    x = (inband + 2.0 * np.sin(2 * np.pi * 0.1 * t) + 0.5 * np.sin(2 * np.pi * 100 * t))[None]
    out = sig.bandpass(x, fs, 0.5, 45)
    assert np.abs(out[0, 500:-500] - inband[500:-500]).max() < 0.05
    with pytest.raises(ValueError, match="Nyquist"):
        sig.bandpass(x, 100, 0.5, 60)


def test_notch_removes_mains_hum():
    fs = 500
    t = np.arange(5000) / fs
    clean = np.sin(2 * np.pi * 7 * t)
    out = sig.notch((clean + 0.5 * np.sin(2 * np.pi * 50 * t))[None], fs, 50)
    assert np.abs(out[0, 500:-500] - clean[500:-500]).max() < 0.02


def test_fix_length_crops_or_pads_and_records_the_policy():
    x = np.arange(10, dtype=float)[None]
    cropped, policy = sig.fix_length(x, 6)
    assert cropped[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert policy == {"align": "start", "pad_value": 0.0, "original_samples": 10, "cropped_samples": 4, "padded_samples": 0}
    padded, policy = sig.fix_length(x, 13, "center")
    assert padded[0].tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0] and policy["padded_samples"] == 3
    centre, _ = sig.fix_length(x, 4, "center")
    assert centre[0].tolist() == [3, 4, 5, 6]


def test_quality_check_names_nan_flat_and_clipped_leads():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.3, (4, 1000))
    x[0] = np.nan
    x[1] = 0.25
    x[2, :100] = 5.0
    x[3, 3] = np.nan
    problems = sig.lead_quality(x, ["I", "II", "III", "aVR"], flat_ptp=0.01, clip_limits=[(-5.0, 5.0)] * 4)
    assert problems == {
        "I": "all samples are NaN",
        "II": "flat line (peak-to-peak 0 <= 0.01)",
        "III": "clipped (100 of 1000 samples at the recording limits)",
        "aVR": "1 of 1000 samples are NaN",
    }


def test_clipping_without_known_limits_counts_plateaus_at_the_extremes():
    t = np.linspace(0, 20 * np.pi, 2000)
    clean = np.sin(t)[None]
    assert sig.lead_quality(clean, ["x"], flat_ptp=0.01) == {}
    assert "clipped" in sig.lead_quality(np.clip(clean, -0.8, 0.8), ["x"], flat_ptp=0.01)["x"]


def test_masking_zeroes_bad_rows_and_reports_the_mask():
    x = np.ones((3, 4))
    out, mask = sig.mask_channels(x, ["a", "b", "c"], ["b"])
    assert mask == [1, 0, 1]
    assert out[1].tolist() == [0, 0, 0, 0] and x[1].tolist() == [1, 1, 1, 1]
