"""EEG corpora in their real raw layouts, written with pyedflib: TUAB (EDF) and Sleep-EDF (EDF + EDF+ hypnograms).

Signals are synthetic but shaped like EEG: an alpha rhythm over brown noise for TUAB; for Sleep-EDF
each 30-s epoch carries its stage's signature (alpha in W, theta in N1/REM, spindles in N2, high
delta waves in N3), so a model trained on the demo has something to learn. Channel labels are the
ones the real files use ("EEG FP1-REF", "EEG T3-LE", "EEG Fpz-Cz", plus EKG, photic and 1-Hz
channels that a source must ignore).

The awkward inputs: a broken EDF header, a recording without an electrode the montage needs, a flat
(disconnected) electrode, a recording shorter than one window, a hypnogram that runs past the end of
its recording, a PSG without hypnogram. Each writer returns what a correct conversion must find.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.signal import lfilter

TUH_ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T3", "T4", "T5", "T6",
                  "A1", "A2", "FZ", "CZ", "PZ")
# (relative path, rate Hz, seconds, reference suffix)
TUAB_FILES = (
    ("edf/train/normal/01_tcp_ar/aaaaaaaa_s001_t000.edf", 250, 25, "REF"),
    ("edf/train/normal/01_tcp_ar/aaaaaaaa_s002_t000.edf", 250, 20, "REF"),
    ("edf/train/abnormal/01_tcp_ar/aaaaaaab_s001_t000.edf", 256, 30, "REF"),
    ("edf/eval/normal/01_tcp_ar/aaaaaaac_s001_t001.edf", 250, 20, "REF"),
    ("edf/eval/abnormal/02_tcp_le/aaaaaaad_s003_t000.edf", 250, 20, "LE"),
)
TUAB_BAD = {
    "edf/train/abnormal/01_tcp_ar/aaaaaaae_s001_t000.edf": (1, "broken EDF header: the file is not EDF(+) or BDF(+) compliant (Number of Datarecords)"),
    "edf/train/normal/01_tcp_ar/aaaaaaaf_s001_t000.edf": (2, "missing channels ['O2']"),
    "edf/eval/normal/01_tcp_ar/aaaaaaag_s001_t000.edf": (1, "bad channels: C3: flat line"),
}
TUAB_SHORT = "edf/train/normal/01_tcp_ar/aaaaaaah_s001_t000.edf"

SLEEP_CHANNELS = (("EEG Fpz-Cz", 100, "uV"), ("EEG Pz-Oz", 100, "uV"), ("EOG horizontal", 100, "uV"),
                  ("Resp oro-nasal", 1, ""), ("EMG submental", 1, "uV"), ("Temp rectal", 1, "DegC"), ("Event marker", 1, ""))
# PSG name, hypnogram name, recording seconds, annotations (onset s, duration s, text)
SLEEP_NIGHTS = (
    ("SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf", 300,
     ((0, 60, "Sleep stage W"), (60, 60, "Sleep stage 1"), (120, 90, "Sleep stage 2"), (210, 30, "Sleep stage 3"),
      (240, 30, "Sleep stage 4"), (270, 30, "Sleep stage R"))),
    ("SC4002E0-PSG.edf", "SC4002EC-Hypnogram.edf", 240,
     ((0, 30, "Sleep stage W"), (30, 120, "Sleep stage 2"), (150, 60, "Sleep stage R"), (210, 30, "Sleep stage ?"))),
    ("SC4011E0-PSG.edf", "SC4011EH-Hypnogram.edf", 180,
     ((0, 90, "Sleep stage W"), (90, 30, "Movement time"), (120, 60, "Sleep stage 2"), (180, 60, "Sleep stage W"))),
)
SLEEP_BROKEN = ("SC4021E0-PSG.edf", "SC4021EC-Hypnogram.edf", 60, ((0, 60, "Sleep stage W"),))
SLEEP_UNSCORED = "SC4031E0-PSG.edf"
_START = datetime.datetime(1989, 4, 24, 16, 13, 0)


def write_edf(path: Path, signals: Sequence[np.ndarray], labels: Sequence[str], rates: Sequence[int],
              units: Sequence[str], physical: tuple[float, float] = (-1000.0, 1000.0)) -> None:
    """An EDF file (1-s data records, 16-bit) with one signal per label; each signal spans the same seconds."""
    import pyedflib

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=pyedflib.FILETYPE_EDF)
    try:
        writer.setSignalHeaders([
            {"label": label, "dimension": unit, "sample_frequency": rate, "physical_min": physical[0],
             "physical_max": physical[1], "digital_min": -32768, "digital_max": 32767, "transducer": "", "prefilter": ""}
            for label, rate, unit in zip(labels, rates, units)
        ])
        writer.setStartdatetime(_START)
        writer.writeSamples([np.asarray(s, dtype=np.float64) for s in signals])
    finally:
        writer.close()


def write_hypnogram(path: Path, annotations: Sequence[tuple[float, float, str]]) -> None:
    """An EDF+ file holding only annotations, as Sleep-EDF's *-Hypnogram.edf."""
    import pyedflib

    writer = pyedflib.EdfWriter(str(path), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setStartdatetime(_START)
        for onset, duration, text in annotations:
            writer.writeAnnotation(onset, duration, text)
    finally:
        writer.close()


def synthetic_eeg(seed: int, n_channels: int, fs: float, seconds: float) -> np.ndarray:
    """[C, T] microvolts: an alpha rhythm of varying strength over brown noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    alpha = np.sin(2 * np.pi * rng.uniform(8.5, 11.5) * t[None] + rng.uniform(0, 2 * np.pi, (n_channels, 1)))
    alpha *= rng.uniform(5, 25, (n_channels, 1)) * (1 + 0.3 * np.sin(2 * np.pi * 0.1 * t))
    return alpha + lfilter([1.0], [1.0, -0.97], rng.normal(0, 4, (n_channels, t.size)), axis=1)


def _tuab_file(path: Path, fs: int, seconds: float, reference: str, seed: int, *, drop: str = "", flat: str = "") -> np.ndarray:
    electrodes = [e for e in TUH_ELECTRODES if e != drop]
    eeg = synthetic_eeg(seed, len(electrodes), fs, seconds)
    if flat:
        eeg[electrodes.index(flat)] = 0.0
    extra = np.stack([np.zeros(eeg.shape[1]), np.zeros(eeg.shape[1]), np.zeros(eeg.shape[1])])
    labels = [f"EEG {e}-{reference}" for e in electrodes] + [f"EEG EKG1-{reference}", f"PHOTIC-{reference}", "IBI"]
    write_edf(path, list(eeg) + list(extra), labels, [fs] * len(labels), ["uV"] * len(labels))
    return eeg


def write_tuab_corpus(root: str | os.PathLike, *, include_bad: bool = True) -> dict[str, Any]:
    """Write a TUAB v3 tree: edf/{train,eval}/{normal,abnormal}/<montage>/<subject>_sNNN_tNNN.edf.

    Returns:
        counts {discovered, written, quarantined, excluded} with 10-s windows, `quarantined`
        {relative path: (number of windows, message start)}, `windows` {relative path: count}.
    """
    root = Path(root)
    windows = {}
    for seed, (rel, fs, seconds, reference) in enumerate(TUAB_FILES):
        _tuab_file(root / rel, fs, seconds, reference, seed)
        windows[rel] = int(seconds // 10)
    quarantined: dict[str, tuple[int, str]] = {}
    if include_bad:
        broken, missing, flat = TUAB_BAD
        _tuab_file(root / broken, 250, 20, "REF", 11)
        data = bytearray((root / broken).read_bytes())
        data[236:244] = b"xx      "
        (root / broken).write_bytes(bytes(data))
        _tuab_file(root / missing, 250, 20, "REF", 12, drop="O2")
        _tuab_file(root / flat, 250, 10, "REF", 13, flat="C3")
        _tuab_file(root / TUAB_SHORT, 250, 5, "REF", 14)
        quarantined = dict(TUAB_BAD)
    n_bad = sum(n for n, _ in quarantined.values())
    counts = {"discovered": sum(windows.values()) + n_bad + int(include_bad), "written": sum(windows.values()),
              "quarantined": n_bad, "excluded": int(include_bad)}
    return {"counts": counts, "quarantined": quarantined, "windows": windows}


_STAGE_WAVES = {  # stage -> (frequency Hz, amplitude uV) of its dominant rhythm
    "Sleep stage W": (10.0, 15.0), "Sleep stage 1": (6.0, 20.0), "Sleep stage 2": (13.0, 25.0),
    "Sleep stage 3": (1.5, 60.0), "Sleep stage 4": (1.0, 75.0), "Sleep stage R": (6.0, 15.0),
}


def _night(seed: int, seconds: int, annotations: Sequence[tuple[float, float, str]]) -> list[np.ndarray]:
    """Sleep-EDF channels for one night: EEG/EOG at 100 Hz following the hypnogram, 1-Hz channels flat-ish."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * 100) / 100
    eeg = lfilter([1.0], [1.0, -0.95], rng.normal(0, 3, (3, t.size)), axis=1)
    for onset, duration, text in annotations:
        freq, amp = _STAGE_WAVES.get(text, (3.0, 5.0))
        span = (t >= onset) & (t < min(onset + duration, seconds))
        eeg[:2, span] += amp * np.sin(2 * np.pi * freq * t[span] + rng.uniform(0, 2 * np.pi, (2, 1)))
    slow = [rng.normal(0, 1, seconds) for _ in range(4)]
    return list(eeg) + slow


def write_sleep_edf_corpus(root: str | os.PathLike, *, include_bad: bool = True) -> dict[str, Any]:
    """Write a Sleep-EDF Expanded tree: sleep-cassette/SC4ssNE0-PSG.edf + SC4ssNE?-Hypnogram.edf.

    Returns:
        counts with 30-s epochs, `quarantined` {relative path: (epochs, message start)}, `stages`
        {(relative PSG path, epoch start s): annotation text} of the epochs inside their recording.
    """
    folder = Path(root) / "sleep-cassette"
    stages: dict[tuple[str, float], str] = {}
    labels, rates, units = zip(*SLEEP_CHANNELS)
    quarantined: dict[str, tuple[int, str]] = {}
    nights = SLEEP_NIGHTS + ((SLEEP_BROKEN,) if include_bad else ())
    for seed, (psg, hyp, seconds, annotations) in enumerate(nights):
        write_edf(folder / psg, _night(seed, seconds, annotations), labels, rates, units, physical=(-200.0, 200.0))
        write_hypnogram(folder / hyp, annotations)
        for onset, duration, text in annotations:
            for k in range(int(duration // 30)):
                if onset + 30 * (k + 1) <= seconds:
                    stages[(f"sleep-cassette/{psg}", onset + 30.0 * k)] = text
                else:
                    count, message = quarantined.get(f"sleep-cassette/{psg}", (0, f"annotation {text!r} at {onset + 30 * k:g}-"))
                    quarantined[f"sleep-cassette/{psg}"] = (count + 1, message)
    if include_bad:
        broken = f"sleep-cassette/{SLEEP_BROKEN[0]}"
        data = bytearray((Path(root) / broken).read_bytes())
        data[236:244] = b"xx      "
        (Path(root) / broken).write_bytes(bytes(data))
        quarantined[broken] = (2, "broken EDF header")
        stages = {key: text for key, text in stages.items() if key[0] != broken}
        write_edf(folder / SLEEP_UNSCORED, _night(99, 60, ()), labels, rates, units, physical=(-200.0, 200.0))
    n_bad = sum(n for n, _ in quarantined.values())
    counts = {"discovered": len(stages) + n_bad + int(include_bad), "written": len(stages), "quarantined": n_bad,
              "excluded": int(include_bad)}
    return {"counts": counts, "quarantined": quarantined, "stages": stages}
