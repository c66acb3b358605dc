"""MIMIC-IV multimodal admissions: hosp tables + notes + MIMIC-CXR-JPG + MIMIC-IV-ECG -> one sample each.

Raw layout (RAW_URL holds the PhysioNet modules side by side; only hosp/ is required)::

    hosp/patients.csv.gz  admissions.csv.gz  labevents.csv.gz  diagnoses_icd.csv.gz  [d_labitems.csv.gz]
    note/discharge.csv.gz  note/radiology.csv.gz                                     (MIMIC-IV-Note)
    cxr/cxr-record-list.csv.gz  cxr/mimic-cxr-2.0.0-metadata.csv.gz  cxr/files/pXX/p<subject>/s<study>/<dicom_id>.jpg
    ecg/record_list.csv  ecg/files/pNNNN/p<subject>/s<study>/<study>.{hea,dat}        (MIMIC-IV-ECG)

One sample per admission (hadm_id), or with ``sample_unit: cxr_study`` one per CXR study taken
during a stay (index time = the study time; its image is that study; labels are its stay's; studies
outside any stay are excluded). The subject is subject_id, so every split keeps a patient's
samples together (CLIMB's reference code split by admission and leaked patients across splits).

Inputs come only from the window [admittime - lookback_hours, index time], both ends included, with
index time = admittime + index_hours (default 48 h). Admissions that ended before their index time
are excluded: their outcome is known before the prediction would be made. ``index_hours: null`` is
the retrospective mode for tasks such as coding from the discharge summary: the index time is the
discharge time and the admission's own notes (matched by hadm_id) count even when signed after it;
mortality and length of stay are then trivially known from the inputs. Within the window:

- tabular: age at admission, sex, admission type (one-hot over MIMIC-IV's types) and the last
  ``valuenum`` of each item of ``lab_items`` by charttime (None when there is none), joined by
  subject and time, not hadm_id, so emergency-department labs charted before admission count.
- image: the latest CXR study; its PA view, else AP, else the first image by dicom_id; standardized
  like the 2D image sources (option ``size``).
- signal: the latest ECG, 12 standard leads in mV at 500 Hz (wfdb_ecg.read_ecg checks it).
- text: the notes of ``note_tables`` available in the window, in time order, each cleaned by
  transforms.text.clean_note. A note counts as available at its storetime (when signed), else its
  charttime: MIMIC-IV-Note discharge charttimes are often the discharge day's midnight, hours
  before the discharge itself, and would leak the summary into a 48 h prediction.
- meta["present"] says which of the four modalities the sample has; absent ones are left out.

Labels (task registry): in_hospital_mortality from this admission's hospital_expire_flag (1 = died;
the reference code took it from the patient's last admission and inverted 48_ihm),
length_of_stay in days, icd_chapter from this admission's diagnoses_icd rows (every row, first
occurrences included). Never read as inputs: deathtime, discharge_location, dod, lab comments,
WFDB header comments, image metadata beyond the view.

Privacy: no absolute date or time is written; metadata carries hours relative to admission.
Known identifiers of each patient (``identifier_columns`` of patients.csv.gz, present in local
extracts that still carry them) are removed from notes besides the pattern-based cleaning. The
relational join runs once, in discover (labevents streamed), so each record already holds relative
times, cleaned text and its linked files; read() only decodes the image and the ECG.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

import numpy as np

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import IMAGE_DEFAULTS, RawTree, read_image
from climb.schemas.sample import Record, Sample
from climb.schemas.task_defs.ehr import icd_chapter
from climb.schemas.tasks import get_task
from climb.transforms.ehr import LastValues, Window, admission_window, age_at, parse_dicom_datetime, parse_time
from climb.transforms.signal import ECG_LEADS
from climb.transforms.text import clean_note, known_terms

NAME = "mimic-iv"
TASKS = ("in_hospital_mortality", "length_of_stay", "icd_chapter")
# Common labs (MIMIC-IV d_labitems): creatinine, potassium, sodium, chloride, bicarbonate, urea
# nitrogen, glucose, hemoglobin, hematocrit, WBC, platelets, lactate, magnesium, calcium, phosphate,
# INR, total bilirubin, albumin.
LAB_ITEMS = (50912, 50971, 50983, 50902, 50882, 51006, 50931, 51222, 51221, 51301, 51265, 50813, 50960, 50893, 50970, 51237, 50885, 50862)
ADMISSION_TYPES = (
    "AMBULATORY OBSERVATION", "DIRECT EMER.", "DIRECT OBSERVATION", "ELECTIVE", "EU OBSERVATION", "EW EMER.",
    "OBSERVATION ADMIT", "SURGICAL SAME DAY ADMISSION", "URGENT",
)
IDENTIFIER_COLUMNS = ("name", "first_name", "last_name", "mrn", "dob", "phone", "address")
VIEW_PREFERENCE = ("PA", "AP")
ECG_RATE = 500.0

csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # discharge summaries exceed the 128 KB default


def _rows(tree: RawTree, rel: str) -> Iterator[dict[str, str]]:
    """Stream a (gzipped) CSV table row by row: labevents and notes do not fit in memory."""
    with tree.fs.open(f"{tree.root}/{rel}", "rb", compression="infer") as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
            yield {k: (v or "").strip() if k != "text" else (v or "") for k, v in row.items() if k is not None}


@dataclass(frozen=True)
class _Stay:
    """An admission's own facts: they give every unit built on it its labels and its clock."""

    subject: str
    hadm: str
    admit: datetime
    disch: datetime
    row: dict[str, str]


@dataclass
class _Unit:
    """One future sample while discover joins the tables: a stay and the input window around it.

    `study` is set for per-study samples: then the image is that CXR study, not the latest in the
    window."""

    sample_id: str
    stay: _Stay
    window: Window
    labs: LastValues
    study: str | None = None
    notes: list[tuple[datetime, str, str, str]] = field(default_factory=list)  # time, note_id, type, cleaned text
    cxr: list[tuple[datetime, str, str, str, str]] = field(default_factory=list)  # time, study, dicom_id, view, path
    ecg: list[tuple[datetime, str, str]] = field(default_factory=list)  # time, study, record path

    def hours(self, t: datetime) -> float:
        return round((t - self.stay.admit).total_seconds() / 3600.0, 4)


def _cxr_choice(images: list[tuple[datetime, str, str, str, str]]) -> tuple[datetime, str, str, str, str]:
    """The latest study's preferred view: PA, else AP, else the first dicom_id."""
    latest = max(images)[0:2]
    rank = {v: n for n, v in enumerate(VIEW_PREFERENCE)}
    return min((i for i in images if i[0:2] == latest), key=lambda i: (rank.get(i[3].upper(), len(rank)), i[2]))


def _stays(tree: RawTree) -> tuple[dict[str, _Stay], dict[str, tuple[str, str]]]:
    """(hadm_id -> stay, hadm_id -> (subject, problem) for rows that cannot make a sample)."""
    stays, problems = {}, {}
    for r in _rows(tree, "hosp/admissions.csv.gz"):
        admit, disch = parse_time(r["admittime"]), parse_time(r["dischtime"])
        if admit is None or disch is None or disch < admit:
            problems[r["hadm_id"]] = (r["subject_id"], "admittime/dischtime missing or discharge before admission")
        else:
            stays[r["hadm_id"]] = _Stay(r["subject_id"], r["hadm_id"], admit, disch, r)
    return stays, problems


def _cxr_images(tree: RawTree) -> list[tuple[str, datetime | None, str, str, str, str]]:
    """Every CXR image: (subject, study time, study_id, dicom_id, view, JPG path under the raw root)."""
    if not tree.find("cxr/mimic-cxr-2.0.0-metadata.csv.gz"):
        return []
    paths = {}
    if tree.find("cxr/cxr-record-list.csv.gz"):
        paths = {r["dicom_id"]: r["path"].rsplit(".", 1)[0] + ".jpg" for r in _rows(tree, "cxr/cxr-record-list.csv.gz")}
    out = []
    for r in _rows(tree, "cxr/mimic-cxr-2.0.0-metadata.csv.gz"):
        s, study, dicom = r["subject_id"], r["study_id"], r["dicom_id"]
        rel = "cxr/" + paths.get(dicom, f"files/p{s[:2]}/p{s}/s{study}/{dicom}.jpg")
        out.append((s, parse_dicom_datetime(r["StudyDate"], r["StudyTime"]), study, dicom, r.get("ViewPosition", ""), rel))
    return out


def _admission_units(stays: dict[str, _Stay], index_hours: float | None, lookback: float) -> list[_Unit]:
    units = []
    for stay in stays.values():
        window = admission_window(stay.admit, stay.disch, index_hours, lookback)
        units.append(_Unit(stay.hadm, stay, window, LastValues(window)))
    return units


def _study_units(stays: dict[str, _Stay], images: list, lookback: float) -> tuple[list[_Unit], list[tuple[str, str]]]:
    """One unit per CXR study taken during a stay (from `lookback` hours before admission to
    discharge): its window ends at the study time. Returns (units, (study, subject) outside stays)."""
    by_subject: dict[str, list[_Stay]] = defaultdict(list)
    for stay in stays.values():
        by_subject[stay.subject].append(stay)
    studies: dict[str, list] = defaultdict(list)
    for image in images:
        studies[image[2]].append(image)
    units, outside = [], []
    for study, rows in sorted(studies.items()):
        subject, t = rows[0][0], rows[0][1]
        during = [s for s in by_subject.get(subject, ()) if t is not None and s.admit - timedelta(hours=lookback) <= t <= s.disch]
        if not during:
            outside.append((study, subject))
            continue
        window = Window(t - timedelta(hours=lookback), t)
        unit = _Unit(study, max(during, key=lambda s: s.admit), window, LastValues(window), study=study)
        unit.cxr = [(t, study, dicom, view, rel) for _, _, _, dicom, view, rel in rows]
        units.append(unit)
    return units, outside


class _Units:
    """The units of each subject, to find those whose window holds an event time."""

    def __init__(self, units: list[_Unit]):
        self.by_subject: dict[str, list[_Unit]] = defaultdict(list)
        for unit in units:
            self.by_subject[unit.stay.subject].append(unit)

    def holding(self, subject: str, t: datetime | None) -> list[_Unit]:
        return [u for u in self.by_subject.get(subject, ()) if u.window.contains(t)]


def _join_labs(tree: RawTree, units: _Units, lab_items: set[str]) -> None:
    if not tree.find("hosp/labevents.csv.gz"):
        return
    for r in _rows(tree, "hosp/labevents.csv.gz"):
        if r["itemid"] not in lab_items or not r["valuenum"] or r["subject_id"] not in units.by_subject:
            continue
        t = parse_time(r["charttime"])
        for unit in units.holding(r["subject_id"], t):
            unit.labs.add(r["itemid"], t, int(r["labevent_id"] or 0), (float(r["valuenum"]), r["valueuom"] or None))


def _join_notes(tree: RawTree, units: _Units, tables: list[str], known: dict[str, list[str]], own_stay: bool) -> None:
    """Attach cleaned notes available in each window; with `own_stay` (retrospective mode) a
    stay's own notes count also when signed after discharge."""
    for table in tables:
        if not tree.find(f"note/{table}.csv.gz"):
            continue
        for r in _rows(tree, f"note/{table}.csv.gz"):
            t = parse_time(r.get("storetime")) or parse_time(r.get("charttime"))
            targets = {id(u): u for u in units.holding(r["subject_id"], t)}
            if own_stay:
                targets.update({id(u): u for u in units.by_subject.get(r["subject_id"], ()) if u.stay.hadm == r.get("hadm_id")})
            if targets:
                text = clean_note(r["text"], known.get(r["subject_id"], ()))
                for unit in targets.values():
                    unit.notes.append((t, r.get("note_id", ""), r.get("note_type", table), text))


def _join_ecgs(tree: RawTree, units: _Units) -> None:
    if not tree.find("ecg/record_list.csv"):
        return
    for r in _rows(tree, "ecg/record_list.csv"):
        t = parse_time(r["ecg_time"])
        for unit in units.holding(r["subject_id"], t):
            unit.ecg.append((t, r["study_id"], "ecg/" + r["path"]))


def _diagnoses(tree: RawTree) -> dict[str, list[tuple[str, str]]]:
    icd: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if tree.find("hosp/diagnoses_icd.csv.gz"):
        for r in _rows(tree, "hosp/diagnoses_icd.csv.gz"):
            icd[r["hadm_id"]].append((r["icd_code"], r["icd_version"]))
    return icd


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    tree = RawTree(raw_url, options)
    for name in ("patients.csv.gz", "admissions.csv.gz"):
        tree.require(name, ("hosp",))
    sample_unit = options.get("sample_unit", "admission")
    if sample_unit not in ("admission", "cxr_study"):
        raise SourceError(f"sample_unit must be admission or cxr_study, got {sample_unit!r}")
    per_study = sample_unit == "cxr_study"
    index_hours = None if per_study else options.get("index_hours", 48)
    lookback = float(options.get("lookback_hours", 24))
    lab_items = {str(int(i)) for i in options.get("lab_items", LAB_ITEMS)}

    patients = {r["subject_id"]: r for r in _rows(tree, "hosp/patients.csv.gz")}
    known = {s: known_terms(r.get(c) for c in options.get("identifier_columns", IDENTIFIER_COLUMNS)) for s, r in patients.items()}
    stays, problems = _stays(tree)
    images = _cxr_images(tree)
    outside: list[tuple[str, str]] = []
    if per_study:
        unit_list, outside = _study_units(stays, images, lookback)
    else:
        unit_list = _admission_units(stays, index_hours, lookback)
    units = _Units(unit_list)
    _join_labs(tree, units, lab_items)
    _join_notes(tree, units, list(options.get("note_tables", ("discharge", "radiology"))), known, own_stay=index_hours is None and not per_study)
    if not per_study:
        for subject, t, study, dicom, view, rel in images:
            for unit in units.holding(subject, t):
                unit.cxr.append((t, study, dicom, view, rel))
    _join_ecgs(tree, units)
    icd = _diagnoses(tree)
    d_labitems = {}
    if tree.find("hosp/d_labitems.csv.gz"):
        d_labitems = {r["itemid"]: f"{r['label']} ({r['fluid']})" for r in _rows(tree, "hosp/d_labitems.csv.gz") if r["itemid"] in lab_items}

    for hadm, (subject, problem) in sorted(problems.items()):
        yield Record(source=NAME, sample_id=hadm, subject_id=subject, study_id=hadm, paths=(), label_row={"problem": problem})
    for study, subject in outside:
        yield Record(source=NAME, sample_id=study, subject_id=subject, study_id=study, paths=(), label_row={"outside_stays": True})
    for unit in sorted(unit_list, key=lambda u: u.sample_id):
        yield _record(tree, unit, patients.get(unit.stay.subject, {}), icd.get(unit.stay.hadm, []), d_labitems, index_hours, lookback)


def _record(tree: RawTree, unit: _Unit, patient: dict[str, str], icd: list[tuple[str, str]], d_labitems: dict[str, str],
            index_hours: float | None, lookback: float) -> Record:
    """Freeze a joined unit into a Record holding only relative times and cleaned text."""
    stay = unit.stay
    paths: list[str] = []
    cxr = ecg = None
    if unit.cxr:
        t, _, _, view, rel = _cxr_choice(unit.cxr)
        cxr = {"view": view or None, "hours_from_admission": unit.hours(t), "studies_in_window": len({c[1] for c in unit.cxr})}
        paths.append(tree.url(rel))
    if unit.ecg:
        t, _, rel = max(unit.ecg)
        ecg = {"hours_from_admission": unit.hours(t), "ecgs_in_window": len(unit.ecg)}
        paths += [tree.url(rel + ".hea"), tree.url(rel + ".dat")]
    age = None
    if patient.get("anchor_age") and patient.get("anchor_year"):
        age = age_at(float(patient["anchor_age"]), int(patient["anchor_year"]), stay.admit)
    labs = unit.labs.values()
    window = {"index_hours": unit.hours(unit.window.end) if unit.study else index_hours, "lookback_hours": lookback}
    label_row = {
        "hospital_expire_flag": stay.row.get("hospital_expire_flag", ""),
        "length_of_stay_days": round((stay.disch - stay.admit).total_seconds() / 86400.0, 6),
        "ended_before_index": stay.disch < unit.window.end,
        "window": window,
        "icd": sorted(set(icd)),
        "demographics": {"age": age, "gender": patient.get("gender") or None, "admission_type": stay.row.get("admission_type") or None},
        "labs": {item: list(labs[item]) for item in sorted(labs)},
        "lab_labels": d_labitems,
        "notes": [{"type": kind, "hours_from_admission": unit.hours(t), "text": text} for t, _, kind, text in sorted(unit.notes) if text],
        "cxr": cxr,
        "ecg": ecg,
    }
    return Record(source=NAME, sample_id=unit.sample_id, subject_id=stay.subject, study_id=unit.study or stay.hadm,
                  paths=tuple(paths), label_row=label_row)


def tabular_features(row: dict[str, Any], lab_items: tuple[int, ...]) -> dict[str, float | None]:
    """The fixed-length tabular vector of an admission: demographics, admission type, last labs."""
    demo = row["demographics"]
    gender = (demo["gender"] or "").upper()
    out: dict[str, float | None] = {"age": demo["age"], "sex_female": {"F": 1.0, "M": 0.0}.get(gender)}
    kind = (demo["admission_type"] or "").upper()
    for t in ADMISSION_TYPES:
        out[f"admission_type={t}"] = float(kind == t) if kind else None
    for item in lab_items:
        value = row["labs"].get(str(item))
        out[f"lab_{item}"] = None if value is None else float(value[0])
    return out


def tabular_fields(options: dict[str, Any]) -> tuple[str, ...]:
    """The names of tabular_features' entries under these options, in order."""
    lab_items = tuple(int(i) for i in options.get("lab_items", LAB_ITEMS))
    return ("age", "sex_female", *(f"admission_type={t}" for t in ADMISSION_TYPES), *(f"lab_{i}" for i in lab_items))


def read(record: Record, options: dict[str, Any]) -> Sample:
    from climb.pipelines.sources.wfdb_ecg import read_ecg

    row = record.label_row
    if "problem" in row:
        raise SourceError(row["problem"])
    if row.get("outside_stays"):
        raise Excluded("the CXR study was not taken during a hospital stay")
    if row["ended_before_index"]:
        raise Excluded(f"the stay ended before the index time ({row['window']['index_hours']} h after admission)")
    lab_items = tuple(int(i) for i in options.get("lab_items", LAB_ITEMS))
    arrays: dict[str, Any] = {"tabular": tabular_features(row, lab_items)}
    meta: dict[str, Any] = {
        "tabular": {
            "window": row["window"],
            "lab_units": {f"lab_{k}": v[1] for k, v in row["labs"].items()},
            "lab_labels": {f"lab_{k}": v for k, v in row["lab_labels"].items()},
        }
    }
    urls = iter(record.paths)
    if row["cxr"]:
        image, image_meta = read_image(next(urls), options, color=False)
        arrays["image"] = image
        meta["image"] = {**image_meta, **row["cxr"]}
    if row["ecg"]:
        ecg = read_ecg(next(urls), [next(urls)], options, expected_fs=ECG_RATE)
        if not np.isfinite(ecg.signal).all():
            raise SourceError("the linked ECG has missing (NaN) samples")
        arrays["signal"] = ecg.signal.astype(np.float32)
        meta["signal"] = {"sampling_rate": ECG_RATE, "channels": list(ECG_LEADS), "units": "mV", **row["ecg"]}
    if row["notes"]:
        arrays["text"] = "\n\n".join(n["text"] for n in row["notes"])
        meta["text"] = {"notes": [{"type": n["type"], "hours_from_admission": n["hours_from_admission"]} for n in row["notes"]]}
    meta["present"] = {m: m in arrays for m in ("tabular", "image", "signal", "text")}
    chapters = [icd_chapter(code, version) for code, version in row["icd"]]
    labels = {
        "in_hospital_mortality": get_task("in_hospital_mortality").map_codes(NAME, [row["hospital_expire_flag"]])[0],
        "length_of_stay": row["length_of_stay_days"],
        "icd_chapter": get_task("icd_chapter").map_codes(NAME, [c for c in chapters if c])[0],
    }
    return Sample(arrays=arrays, meta=meta, labels=labels)


SOURCE = SourceInfo(
    name=NAME,
    description="MIMIC-IV admissions linked to CXR, ECG and notes inside a pre-index window -> multimodal samples",
    modalities=("tabular", "image", "signal", "text"),
    tasks=TASKS,
    discover=discover,
    read=read,
    tabular_fields=tabular_fields,
    defaults={
        **IMAGE_DEFAULTS,
        "index_hours": 48,
        "lookback_hours": 24,
        "lab_items": list(LAB_ITEMS),
        "note_tables": ["discharge", "radiology"],
        "identifier_columns": list(IDENTIFIER_COLUMNS),
        "sample_unit": "admission",
    },
)
