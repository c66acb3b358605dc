"""EEG corpora with event or scorer annotations beside the EDF: TUEV, ISRUC-Sleep subgroup I, SHHS1.

Signals are synthetic EEG (climb.corpora.eeg.synthetic_eeg) written with pyedflib in each dataset's
real channel labels and folder layout; the annotation files are written in their real formats
(TUEV `.rec` CSV lines, ISRUC scorer `.txt` columns, SHHS NSRR profusion XML). Each writer returns
what a correct conversion must find, including its awkward inputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from climb.corpora.eeg import TUH_ELECTRODES, synthetic_eeg, write_edf

# (relative stem, rate Hz, seconds, [(channel, start s, stop s, label code)])
TUEV_FILES = (
    ("edf/train/aaaaaaaa/aaaaaaaa_00000001", 250, 12,
     ((0, 1.0, 2.0, "6"), (14, 5.0, 6.0, "1"), (15, 5.0, 6.0, "1"), (3, 10.0, 11.0, "4"))),
    ("edf/train/aaaaaaab/aaaaaaab_00000001", 256, 10, ((2, 4.0, 5.0, "3"), (21, 8.0, 9.0, "5"))),
    ("edf/eval/aaaaaaac/aaaaaaac_00000002", 250, 8, ((10, 3.0, 4.0, "2"), (9, 6.0, 7.0, "6"))),
)
TUEV_BAD_LINES = "edf/train/aaaaaaad/aaaaaaad_00000001"  # one good event, a malformed line, an unknown code
TUEV_NO_REC = "edf/eval/aaaaaaae/aaaaaaae_00000001"
TUEV_SHORT = "edf/train/aaaaaaaf/aaaaaaaf_00000001"  # 4-s recording: no 5-s window fits


def _tuh_edf(path: Path, fs: int, seconds: float, seed: int) -> None:
    eeg = synthetic_eeg(seed, len(TUH_ELECTRODES), fs, seconds)
    labels = [f"EEG {e}-REF" for e in TUH_ELECTRODES] + ["EEG EKG1-REF"]
    write_edf(path, list(eeg) + [np.zeros(eeg.shape[1])], labels, [fs] * len(labels), ["uV"] * len(labels))


def _rec(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


def write_tuev_corpus(root: str | os.PathLike, *, include_bad: bool = True) -> dict[str, Any]:
    """Write a TUEV v2 tree: edf/{train,eval}/<subject>/<subject>_<n>.edf with its .rec event file.

    Returns:
        counts {discovered, written, quarantined, excluded}; `events` {sample id: (label code,
        channel index, start s, stop s, recording seconds)} of the written samples; `masked`
        sample ids whose code is unknown; `quarantined` {source path: message start}; `splits`
        {subject: official split}.
    """
    root = Path(root)
    events: dict[str, tuple[str, int, float, float, float]] = {}
    for seed, (stem, fs, seconds, rows) in enumerate(TUEV_FILES):
        _tuh_edf(root / f"{stem}.edf", fs, seconds, seed)
        _rec(root / f"{stem}.rec", [f"{c},{a:.4f},{b:.4f},{code}" for c, a, b, code in rows])
        for n, (channel, start, stop, code) in enumerate(rows, start=1):
            events[f"{stem}.edf#{n:05d}"] = (code, channel, start, stop, float(seconds))
    quarantined: dict[str, str] = {}
    masked: list[str] = []
    n_bad = 0
    if include_bad:
        _tuh_edf(root / f"{TUEV_BAD_LINES}.edf", 250, 10, 21)
        _rec(root / f"{TUEV_BAD_LINES}.rec", ["1,2.0000,3.0000,6", "5,4.0", "", "7,6.0000,7.0000,9"])
        events[f"{TUEV_BAD_LINES}.edf#00001"] = ("6", 1, 2.0, 3.0, 10.0)
        events[f"{TUEV_BAD_LINES}.edf#00004"] = ("9", 7, 6.0, 7.0, 10.0)
        masked.append(f"{TUEV_BAD_LINES}.edf#00004")
        _tuh_edf(root / f"{TUEV_NO_REC}.edf", 250, 10, 22)
        _tuh_edf(root / f"{TUEV_SHORT}.edf", 250, 4, 23)
        _rec(root / f"{TUEV_SHORT}.rec", ["0,1.0000,2.0000,6"])
        quarantined = {
            f"{TUEV_BAD_LINES}.edf": ".rec line 2 ('5,4.0'): 2 fields",
            f"{TUEV_NO_REC}.edf": "no .rec event file beside aaaaaaae_00000001",
            f"{TUEV_SHORT}.edf": "a 5-s event window is longer than the recording (4 s)",
        }
        n_bad = len(quarantined)
    splits = {stem.split("/")[2]: ("train" if stem.split("/")[1] == "train" else "test") for stem, *_ in TUEV_FILES}
    counts = {"discovered": len(events) + n_bad, "written": len(events), "quarantined": n_bad, "excluded": 0}
    return {"counts": counts, "events": events, "masked": masked, "quarantined": quarantined, "splits": splits}
