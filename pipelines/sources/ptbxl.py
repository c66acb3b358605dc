"""PTB-XL (PhysioNet, v1.0.x): 12-lead 10-s ECGs as WFDB records with a label sheet.

Layout: ``ptbxl_database.csv`` (one row per ECG: ecg_id, patient_id, scp_codes as a dict string
{statement: likelihood}, strat_fold 1-10, filename_lr / filename_hr, ...), ``scp_statements.csv``
(statement -> diagnostic_class), ``records500/NN000/NNNNN_hr.{hea,dat}`` (500 Hz) and
``records100/NN000/NNNNN_lr.{hea,dat}`` (100 Hz). RAW_URL is the folder holding
``ptbxl_database.csv`` or the folder directly above it (where PhysioNet's zip unpacks).

One sample per ECG: float32 [12, T] in mV, leads I, II, III, aVR, aVL, aVF, V1-V6. The official
split wins: strat_fold 1-8 train, 9 val, 10 test (the folds are patient-disjoint and 9/10 were
validated by a cardiologist); subjects are patient_id, so a patient's ECGs share a split.

Labels (all statements count whatever their likelihood, as in PTB-XL's own example code, unless
`min_likelihood` says otherwise): `ecg_superclass` from scp_statements.csv's diagnostic_class (the
registry holds that map; discover() refuses a scp_statements.csv that disagrees with it, not one
that lists only some statements), masked when a record has no diagnostic statement;
`ecg_harmonized` through CLIMB's SCP lists. Statements that map nowhere are listed in
meta["unmapped_codes"].

Options: sampling_rate 500 | 100 (which tree to read), length_s (crop/pad; default 10), quality
quarantine | mask (flat, NaN or clipped leads), bandpass_hz "low,high" and notch_hz (off by default),
min_likelihood.
"""

from __future__ import annotations

import ast
import io
import math
from typing import Any, Iterator

import pandas as pd

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources import physio
from climb.pipelines.sources.rawroot import dataset_folder
from climb.pipelines.sources.wfdb_ecg import read_ecg
from climb.schemas.sample import Record, Sample
from climb.schemas.task_defs.ecg import PTBXL_SCP_TO_SUPERCLASS
from climb.schemas.tasks import get_task
from climb.storage import filesystem
from climb.transforms.signal import ECG_LEADS

NAME = "ptbxl"
TASKS = ("ecg_superclass", "ecg_harmonized")
DEFAULTS: dict[str, Any] = {
    "sampling_rate": 500, "length_s": 10.0, "align": "start", "quality": "quarantine",
    "bandpass_hz": None, "notch_hz": None, "min_likelihood": 0.0,
}
PARSERS = {**physio.STANDARDIZE_PARSERS, "sampling_rate": physio.choice("500", "100"), "min_likelihood": float}
FLAT_PTP_MV = 0.01  # a lead whose peak-to-peak is under 10 uV records no ECG


def fold_split(fold: int) -> str:
    """PTB-XL's recommended split: folds 1-8 train, 9 validation, 10 test."""
    if not 1 <= fold <= 10:
        raise ValueError(f"strat_fold must be 1-10, got {fold}")
    return "train" if fold <= 8 else ("val" if fold == 9 else "test")


def check_statements(text: str) -> None:
    """Refuse a scp_statements.csv that disagrees with the registry's superclass map.

    It disagrees when it gives a statement another diagnostic class, or lists a diagnostic
    statement the map lacks (its records would lose that label silently). A sheet listing only
    some of the statements (a trimmed release, a subset) agrees on those it lists and is accepted.
    """
    table = pd.read_csv(io.StringIO(text), index_col=0)
    diagnostic = table[table["diagnostic"] == 1]
    found = {str(code).strip(): str(cls).strip() for code, cls in diagnostic["diagnostic_class"].items()}
    differ = sorted((code, cls, PTBXL_SCP_TO_SUPERCLASS.get(code)) for code, cls in found.items()
                    if PTBXL_SCP_TO_SUPERCLASS.get(code) != cls)
    if differ:
        shown = "; ".join(f"{code}: sheet {cls}, climb {ours or 'no class'}" for code, cls, ours in differ[:5])
        raise ValueError(f"scp_statements.csv disagrees with climb's PTB-XL superclass map on {len(differ)} "
                         f"statement(s) ({shown}); update schemas/task_defs/ecg.py for this PTB-XL version")


def scp_codes(cell: Any) -> dict[str, float] | str:
    """The {statement: likelihood} dict of an scp_codes cell, or the reason it is not one.

    A malformed cell fails only its own record (read() quarantines it), not the whole discovery.
    """
    try:
        codes = ast.literal_eval(str(cell))
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as exc:
        return f"scp_codes cell is not a Python dict literal ({type(exc).__name__})"
    if not isinstance(codes, dict):
        return f"scp_codes cell is a {type(codes).__name__}, not a {{statement: likelihood}} dict"
    return codes


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    opts = physio.settings(options, PARSERS, DEFAULTS)
    fs, root = filesystem(raw_url, options.get("storage_options"))
    prefix = raw_url.split("://", 1)[0] + "://" if "://" in raw_url else ""
    root = dataset_folder(fs, root, "ptbxl_database.csv", raw_url)
    sheet = f"{root}/ptbxl_database.csv"
    if fs.exists(f"{root}/scp_statements.csv"):
        check_statements(fs.cat_file(f"{root}/scp_statements.csv").decode("utf-8"))
    table = pd.read_csv(io.BytesIO(fs.cat_file(sheet)), dtype={"filename_lr": str, "filename_hr": str})
    column = "filename_hr" if opts["sampling_rate"] == "500" else "filename_lr"
    listed = set()
    for row in table.itertuples(index=False):
        stem = str(getattr(row, column)).strip()
        listed.add(stem)
        patient = getattr(row, "patient_id")
        yield Record(
            source=NAME,
            sample_id=str(int(row.ecg_id)),
            subject_id=f"ecg:{int(row.ecg_id)}" if pd.isna(patient) else str(int(float(patient))),
            paths=(f"{prefix}{root}/{stem}.hea", f"{prefix}{root}/{stem}.dat"),
            label_row={"scp_codes": scp_codes(row.scp_codes), "strat_fold": int(row.strat_fold),
                       "age": None if pd.isna(row.age) else float(row.age),
                       "sex": None if pd.isna(row.sex) else int(row.sex)},
            official_split=fold_split(int(row.strat_fold)),
        )
    tree = f"{root}/records{opts['sampling_rate']}"
    for hea in sorted(fs.glob(f"{tree}/*/*.hea")):
        stem = hea[len(root) + 1: -len(".hea")]
        if stem not in listed:
            yield Record(source=NAME, sample_id=f"unlisted:{stem}", subject_id=f"unlisted:{stem}",
                         paths=(prefix + hea,), label_row={"unlisted": True})


def _age(value: float | None) -> int | None:
    """PTB-XL codes ages over 89 as 300; report them as 90 (HIPAA's top-coded '90 or older')."""
    if value is None or math.isnan(value):
        return None
    return min(int(value), 90)


def read(record: Record, options: dict[str, Any]) -> Sample:
    if record.label_row.get("unlisted"):
        raise Excluded("record not in ptbxl_database.csv")
    if isinstance(record.label_row["scp_codes"], str):
        raise SourceError(record.label_row["scp_codes"])
    opts = physio.settings(options, PARSERS, DEFAULTS)
    fs_in = float(opts["sampling_rate"])
    ecg = read_ecg(record.paths[0], record.paths[1:], options, expected_fs=fs_in)
    x, quality = physio.check_quality(ecg.signal, ECG_LEADS, opts["quality"], flat_ptp=FLAT_PTP_MV, clip_limits=ecg.clip_limits)
    x, conditioning = physio.condition(x, ecg.fs, fs_in, **physio.conditioning(opts))
    codes = {str(k).strip(): float(v) for k, v in record.label_row["scp_codes"].items()}
    kept = [c for c, likelihood in codes.items() if likelihood >= opts["min_likelihood"]]
    labels, unmapped = {}, {}
    for task in TASKS:
        labels[task], missed = get_task(task).map_codes(NAME, kept)
        unmapped[task] = missed
    meta = {
        "signal": {**quality, **conditioning, "units": "mV"},
        "scp_codes": codes,
        "unmapped_codes": unmapped,
        "strat_fold": record.label_row["strat_fold"],
        "age": _age(record.label_row.get("age")),
        "sex": {0: "male", 1: "female"}.get(record.label_row.get("sex")),
    }
    return Sample(arrays={"signal": x}, meta=meta, labels=labels)


SOURCE = SourceInfo(
    name=NAME,
    description="PTB-XL 12-lead ECG (WFDB records500/records100 + ptbxl_database.csv), official strat_fold split",
    modalities=("signal",),
    tasks=TASKS,
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
