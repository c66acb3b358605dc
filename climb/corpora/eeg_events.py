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


# ------------------------------------------------------------------------------------- ISRUC-Sleep

ISRUC_CHANNELS = ("F3-A2", "C3-A2", "O1-A2", "F4-A1", "C4-A1", "O2-A1", "LOC-A2", "ROC-A1", "X1", "X2")
# pid -> (seconds recorded, scorer 1 codes, scorer 2 codes); the last subject's files list one
# epoch more than its recording holds.
ISRUC_SUBJECTS = {
    "1": (150, ("0", "1", "2", "2", "5"), ("0", "2", "2", "2", "5")),
    "2": (120, ("0", "3", "3", "5"), ("0", "3", "3", "5")),
    "3": (90, ("2", "7", "0", "0"), ("2", "3", "0", "0")),
}
ISRUC_EXCLUDED = "8"
ISRUC_ONE_SCORER = "4"


def _isruc_subject(root: Path, pid: str, seconds: int, scorers: tuple[tuple[str, ...], ...], seed: int) -> None:
    folder = root / pid
    eeg = synthetic_eeg(seed, len(ISRUC_CHANNELS), 200, seconds)
    write_edf(folder / f"{pid}.edf", list(eeg), ISRUC_CHANNELS, [200] * len(ISRUC_CHANNELS), ["uV"] * len(ISRUC_CHANNELS))
    (folder / f"{pid}.edf").rename(folder / f"{pid}.rec")
    for k, codes in enumerate(scorers, start=1):
        (folder / f"{pid}_{k}.txt").write_text("".join(f"{c}\n" for c in codes) + "\n")


def write_isruc_corpus(root: str | os.PathLike, *, include_bad: bool = True) -> dict[str, Any]:
    """Write ISRUC-Sleep subgroup I folders: <pid>/<pid>.rec (EDF) + <pid>_1.txt + <pid>_2.txt.

    Returns:
        counts; `epochs` {sample id: (scorer 1 code, scorer 2 code)} of the epochs inside their
        recording; `quarantined` {source path: (epochs, message start)}; `excluded` source paths.
    """
    root = Path(root)
    epochs: dict[str, tuple[str, str]] = {}
    quarantined: dict[str, tuple[int, str]] = {}
    for seed, (pid, (seconds, first, second)) in enumerate(ISRUC_SUBJECTS.items()):
        _isruc_subject(root, pid, seconds, (first, second), 30 + seed)
        for n, codes in enumerate(zip(first, second)):
            if (n + 1) * 30 <= seconds:
                epochs[f"{pid}/{pid}.rec#{n:05d}"] = codes
            else:
                count, _ = quarantined.get(f"{pid}/{pid}.rec", (0, ""))
                quarantined[f"{pid}/{pid}.rec"] = (count + 1, f"scored epoch {n} ({n * 30}-{n * 30 + 30} s) lies outside the recording")
    excluded: list[str] = []
    if include_bad:
        _isruc_subject(root, ISRUC_EXCLUDED, 60, (("0", "0"), ("0", "0")), 40)
        excluded.append(f"{ISRUC_EXCLUDED}/{ISRUC_EXCLUDED}.rec")
        _isruc_subject(root, ISRUC_ONE_SCORER, 60, (("0", "1"), ("0", "1")), 41)
        (root / ISRUC_ONE_SCORER / f"{ISRUC_ONE_SCORER}_2.txt").unlink()
        quarantined[f"{ISRUC_ONE_SCORER}/{ISRUC_ONE_SCORER}.rec"] = (1, f"scorer file {ISRUC_ONE_SCORER}_2.txt is missing")
    n_bad = sum(n for n, _ in quarantined.values())
    counts = {"discovered": len(epochs) + n_bad + len(excluded), "written": len(epochs), "quarantined": n_bad,
              "excluded": len(excluded)}
    return {"counts": counts, "epochs": epochs, "quarantined": quarantined, "excluded": excluded}


# -------------------------------------------------------------------------------------------- SHHS

# (label, rate Hz); "EEG(sec)" is C3-A2 and "EEG" is C4-A1, as in the SHHS1 EDFs.
SHHS_CHANNELS = (("SaO2", 1), ("H.R.", 1), ("EEG(sec)", 125), ("ECG", 250), ("EMG", 125), ("EOG(L)", 50),
                 ("EOG(R)", 50), ("EEG", 125), ("THOR RES", 10))
# (visit, nsrrid, seconds recorded, stage codes); shhs2-200001 is the same participant's second visit,
# shhs1-200002 lists one epoch more than it recorded.
SHHS_NIGHTS = (
    ("shhs1", "200001", 150, ("0", "1", "2", "3", "4")),
    ("shhs1", "200002", 90, ("0", "5", "9", "5")),
    ("shhs2", "200001", 90, ("0", "6", "2")),
)
SHHS_NO_XML = ("shhs1", "200003")
SHHS_BROKEN_XML = ("shhs1", "200004")


def profusion_xml(stages: tuple[str, ...]) -> str:
    """A Compumedics profusion XML as NSRR distributes it (events omitted, stages kept)."""
    body = "".join(f"<SleepStage>{code}</SleepStage>" for code in stages)
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n<CMPStudyConfig><EpochLength>30</EpochLength>'
            f"<ScoredEvents></ScoredEvents><SleepStages>{body}</SleepStages></CMPStudyConfig>\n")


def _shhs_edf(path: Path, seconds: int, seed: int) -> None:
    """An SHHS-like EDF: C3 ("EEG(sec)") and C4 ("EEG") synthetic EEG, the other channels noise."""
    rng = np.random.default_rng(seed)
    c3, c4 = synthetic_eeg(seed, 2, 125, seconds)
    eeg = {"EEG(sec)": c3, "EEG": c4}
    labels, rates = zip(*SHHS_CHANNELS)
    signals = [eeg[label] if label in eeg else rng.normal(0, 20, rate * seconds) for label, rate in SHHS_CHANNELS]
    units = ["uV" if label.startswith(("EEG", "EOG", "EMG", "ECG")) else "" for label in labels]
    write_edf(path, signals, labels, rates, units, physical=(-250.0, 250.0))


def write_shhs_corpus(root: str | os.PathLike, *, include_bad: bool = True) -> dict[str, Any]:
    """Write the NSRR layout: polysomnography/edfs/<visit>/<visit>-<id>.edf and
    polysomnography/annotations-events-profusion/<visit>/<visit>-<id>-profusion.xml.

    Returns:
        counts; `stages` {sample id: stage code} of the epochs inside their recording;
        `quarantined` {source path: (epochs, message start)}.
    """
    root = Path(root)
    edfs, xmls = root / "polysomnography" / "edfs", root / "polysomnography" / "annotations-events-profusion"
    stages: dict[str, str] = {}
    quarantined: dict[str, tuple[int, str]] = {}
    for seed, (visit, nsrrid, seconds, codes) in enumerate(SHHS_NIGHTS):
        rel = f"polysomnography/edfs/{visit}/{visit}-{nsrrid}.edf"
        _shhs_edf(root / rel, seconds, 50 + seed)
        (xmls / visit).mkdir(parents=True, exist_ok=True)
        (xmls / visit / f"{visit}-{nsrrid}-profusion.xml").write_text(profusion_xml(codes))
        for n, code in enumerate(codes):
            if (n + 1) * 30 <= seconds:
                stages[f"{rel}#{n:05d}"] = code
            else:
                count, _ = quarantined.get(rel, (0, ""))
                quarantined[rel] = (count + 1, f"scored epoch {n} ({n * 30}-{n * 30 + 30} s) lies outside the recording")
    if include_bad:
        visit, nsrrid = SHHS_NO_XML
        _shhs_edf(edfs / visit / f"{visit}-{nsrrid}.edf", 60, 60)
        quarantined[f"polysomnography/edfs/{visit}/{visit}-{nsrrid}.edf"] = (1, f"no profusion XML for {visit}-{nsrrid}")
        visit, nsrrid = SHHS_BROKEN_XML
        _shhs_edf(edfs / visit / f"{visit}-{nsrrid}.edf", 60, 61)
        (xmls / visit / f"{visit}-{nsrrid}-profusion.xml").write_text(profusion_xml(("0", "0"))[:120])
        quarantined[f"polysomnography/edfs/{visit}/{visit}-{nsrrid}.edf"] = (1, "profusion XML does not parse")
    n_bad = sum(n for n, _ in quarantined.values())
    counts = {"discovered": len(stages) + n_bad, "written": len(stages), "quarantined": n_bad, "excluded": 0}
    return {"counts": counts, "stages": stages, "quarantined": quarantined}
