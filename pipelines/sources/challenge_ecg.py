"""PhysioNet/CinC Challenge 2020/2021 12-lead ECG folders: <record>.mat (MATLAB v4, `val`) + <record>.hea.

Layouts: 2020 ``WFDB_<database>/<record>.{mat,hea}`` and 2021 ``training/<database>/g<n>/<record>.{mat,hea}``.
Header comments carry the labels: ``#Dx: <SNOMED-CT codes, comma-separated>``, ``#Age:``, ``#Sex:``.
The files are read with wfdb (the headers describe the .mat as format 16 at byte offset 24).

Each database names conditions in its own dictionary, so the SNOMED -> harmonized map is chosen per
record by its database folder (WFDB_PTBXL/ptb-xl -> ptbxl-challenge, WFDB_Ga/georgia -> georgia,
WFDB_CPSC2018/cpsc_2018 -> cpsc, WFDB_ChapmanShaoxing/chapman_shaoxing -> chapman; see
schemas/task_defs/ecg.py), or forced with the `dx_map` option. Records of other databases (Ningbo,
INCART, PTB, CPSC-Extra) have no CLIMB map: their codes are kept in meta["unmapped_codes"] and the
label is masked. Records are resampled to 500 Hz and cropped/zero-padded to 10 s (CLIMB keeps the
first 5000 samples; `length_s` changes it, "none" keeps every sample).

Subjects: Georgia, CPSC and Chapman publish no patient ids (Chapman has about one ECG per patient),
so each record is its own subject, named "<map>:<record>" so that `chapman` and `challenge-ecg` give
a record the same pseudonymized subject. For the PTB-XL copy (HR<ecg_id>), pass `ptbxl_database` (the
URL of PTB-XL's ptbxl_database.csv) to group by patient_id and use strat_fold as the official split;
without it PTB-XL patients with several ECGs can land in different splits.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Iterator

import pandas as pd

from climb.pipelines.sources import SourceInfo
from climb.pipelines.sources import physio
from climb.pipelines.sources.ptbxl import fold_split
from climb.pipelines.sources.wfdb_ecg import read_ecg
from climb.schemas.sample import Record, Sample
from climb.schemas.task_defs.ecg import SNOMED_VOCABULARIES
from climb.schemas.tasks import get_task
from climb.storage import filesystem
from climb.transforms.signal import ECG_LEADS

TASKS = ("ecg_harmonized",)
TARGET_FS = 500.0
FLAT_PTP_MV = 0.01
FOLDER_VOCABULARY = {
    "wfdb_ptbxl": "ptbxl-challenge", "ptb-xl": "ptbxl-challenge",
    "wfdb_ga": "georgia", "georgia": "georgia",
    "wfdb_cpsc2018": "cpsc", "cpsc_2018": "cpsc",
    "wfdb_chapmanshaoxing": "chapman", "chapman_shaoxing": "chapman",
}
DEFAULTS: dict[str, Any] = {
    "length_s": 10.0, "align": "start", "quality": "quarantine", "bandpass_hz": None, "notch_hz": None,
    "dx_map": None, "ptbxl_database": None,
}


def _vocabulary(value: Any) -> str | None:
    if value is None or str(value).strip().lower() in ("", "none", "auto"):
        return None
    return physio.choice(*SNOMED_VOCABULARIES)(value)


PARSERS: dict[str, Callable[[Any], Any]] = {
    **physio.STANDARDIZE_PARSERS, "dx_map": _vocabulary, "ptbxl_database": lambda v: None if v in (None, "") else str(v),
}


def folder_vocabulary(rel_path: str) -> str | None:
    """The SNOMED vocabulary of a record from the nearest database folder in its path."""
    for part in reversed(rel_path.split("/")[:-1]):
        if part.lower() in FOLDER_VOCABULARY:
            return FOLDER_VOCABULARY[part.lower()]
    return None


def _ptbxl_patients(url: str, options: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """ecg_id -> (patient_id, strat_fold) from PTB-XL's ptbxl_database.csv."""
    fs, path = filesystem(url, options.get("storage_options"))
    table = pd.read_csv(io.BytesIO(fs.cat_file(path)), usecols=["ecg_id", "patient_id", "strat_fold"])
    return {int(r.ecg_id): (str(int(r.patient_id)), int(r.strat_fold)) for r in table.itertuples(index=False)}


def parse_comments(comments: list[str]) -> dict[str, Any]:
    """Dx codes, age and sex from Challenge header comments ('Dx: 1,2', 'Age: 85', 'Sex: Male')."""
    fields = {}
    for line in comments:
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    dx = [c.strip() for c in fields.get("dx", "").split(",") if c.strip()]
    try:
        age = min(int(float(fields.get("age", ""))), 90)
    except ValueError:
        age = None
    sex = {"male": "male", "m": "male", "female": "female", "f": "female"}.get(fields.get("sex", "").lower())
    return {"dx": dx, "age": age, "sex": sex}


def make_discover(name: str, vocabulary: str | None) -> Callable[[str, dict[str, Any]], Iterator[Record]]:
    def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
        opts = physio.settings(options, PARSERS, DEFAULTS)
        fs, root = filesystem(raw_url, options.get("storage_options"))
        if not fs.isdir(root):
            raise FileNotFoundError(f"{raw_url} is not a folder of Challenge records")
        prefix = raw_url.split("://", 1)[0] + "://" if "://" in raw_url else ""
        root = root.rstrip("/")
        patients = _ptbxl_patients(opts["ptbxl_database"], options) if opts["ptbxl_database"] else {}
        for hea in sorted(p for p in fs.find(root) if p.endswith(".hea")):
            rel = hea[len(root) + 1: -len(".hea")]
            vocab = vocabulary or opts["dx_map"] or folder_vocabulary(rel)
            record_name = rel.rsplit("/", 1)[-1]
            subject, split = f"{vocab or 'challenge'}:{record_name}", None
            if vocab == "ptbxl-challenge" and record_name.upper().startswith("HR") and record_name[2:].isdigit():
                patient = patients.get(int(record_name[2:]))
                if patient:
                    subject, split = patient[0], fold_split(patient[1])
            yield Record(source=name, sample_id=rel, subject_id=subject, official_split=split,
                         paths=(prefix + hea, prefix + hea[: -len(".hea")] + ".mat"), label_row={"dx_map": vocab})

    return discover


def read(record: Record, options: dict[str, Any]) -> Sample:
    opts = physio.settings(options, PARSERS, DEFAULTS)
    ecg = read_ecg(record.paths[0], record.paths[1:], options)
    x, quality = physio.check_quality(ecg.signal, ECG_LEADS, opts["quality"], flat_ptp=FLAT_PTP_MV, clip_limits=ecg.clip_limits)
    x, conditioning = physio.condition(x, ecg.fs, TARGET_FS, **physio.conditioning(opts))
    header = parse_comments(ecg.comments)
    vocab = record.label_row["dx_map"]
    task = get_task("ecg_harmonized")
    if vocab is None:
        label, unmapped = [None] * len(task.classes), list(header["dx"])
    else:
        label, unmapped = task.map_codes(vocab, header["dx"])
    meta = {
        "signal": {**quality, **conditioning, "units": "mV"},
        "dx_codes": header["dx"],
        "dx_map": vocab,
        "unmapped_codes": {"ecg_harmonized": unmapped},
        "age": header["age"],
        "sex": header["sex"],
    }
    return Sample(arrays={"signal": x}, meta=meta, labels={"ecg_harmonized": label})


def source_info(name: str, description: str, vocabulary: str | None) -> SourceInfo:
    """A Challenge-layout source; `vocabulary` fixes the SNOMED map (None: chosen by folder)."""
    return SourceInfo(name=name, description=description, modalities=("signal",), tasks=TASKS,
                      discover=make_discover(name, vocabulary), read=read, defaults=DEFAULTS)


SOURCE = source_info(
    "challenge-ecg",
    "PhysioNet Challenge 2020/2021 12-lead ECG folders (.mat + .hea, #Dx SNOMED-CT), map chosen per database folder",
    None,
)
