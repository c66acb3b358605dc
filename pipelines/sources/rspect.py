"""RSPECT (RSNA STR pulmonary embolism CT): DICOM series with study-level PE labels.

Layout: ``train/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` and ``train.csv``
(one row per slice: StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, pe_present_on_image,
negative_exam_for_pe, indeterminate, chronic_pe, acute_and_chronic_pe, central_pe, leftsided_pe,
rightsided_pe, rv_lv_ratio_gte_1, ... ; every column but pe_present_on_image is per study).

One sample per series: the slices are stacked by position along the slice normal
(pipelines/sources/dicom_series.py), and a series with duplicate or missing slices, or uneven
spacing beyond `spacing_tolerance`, is quarantined with the reason. Labels are study-level
(`pe_study`, `pe_location`); CLIMB's per-slice labels with a random slice-level split put one
study's slices in train and test, so here the study is the split unit (subject).

Series folders missing from train.csv are counted as excluded; a series whose folder holds a
different number of slices than train.csv lists is quarantined.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterator

from climb.pipelines.limits import limit
from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.dicom_series import read_series
from climb.pipelines.sources.volumes import VOLUME_DEFAULTS, finish_volume
from climb.schemas.sample import Record, Sample
from climb.storage import filesystem, join

NAME = "rspect"
SHEET = "train.csv"
ID_COLUMNS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
STUDY_COLUMNS = (
    "negative_exam_for_pe", "indeterminate", "chronic_pe", "acute_and_chronic_pe",
    "central_pe", "leftsided_pe", "rightsided_pe",
)
NOT_IN_SHEET = "not in label sheet"


def _flag(value: str) -> int:
    return 1 if value.strip() in ("1", "1.0", "True", "true") else 0


def _read_sheet(fs, root: str, raw_url: str) -> dict[tuple[str, str], dict[str, Any]]:
    path = f"{root}/{SHEET}"
    if not fs.exists(path):
        raise FileNotFoundError(f"{SHEET} not found under {raw_url}; is this an RSPECT folder?")
    series: dict[tuple[str, str], dict[str, Any]] = {}
    with fs.open(path, "rb") as f:
        reader = csv.DictReader(io.TextIOWrapper(f, encoding="utf-8-sig"))
        missing = [c for c in (*ID_COLUMNS, "pe_present_on_image", *STUDY_COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{SHEET} has no column(s) {missing}")
        for row in reader:
            key = (row["StudyInstanceUID"], row["SeriesInstanceUID"])
            entry = series.setdefault(key, {"num_slices": 0, "pe_slices": 0, **{c: _flag(row[c]) for c in STUDY_COLUMNS}})
            entry["num_slices"] += 1
            entry["pe_slices"] += _flag(row["pe_present_on_image"])
    return series


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    fs, root = filesystem(raw_url, options.get("storage_options"))
    sheet = _read_sheet(fs, root, raw_url)
    base = root.rstrip("/")
    folders: dict[tuple[str, str], list[str]] = {}
    for path in sorted(fs.find(f"{base}/train")):
        parts = path[len(base) + 1:].split("/")
        if len(parts) == 4 and parts[3].endswith(".dcm"):
            folders.setdefault((parts[1], parts[2]), []).append(join(raw_url, *parts))
    for study, series in sorted(set(sheet) | set(folders)):
        key = (study, series)
        record = dict(source=NAME, sample_id=f"{study}/{series}", subject_id=study, study_id=study,
                      paths=tuple(folders.get(key, ())))
        if key not in sheet:
            yield Record(**record, options={"exclude": NOT_IN_SHEET})
        else:
            yield Record(**record, label_row=sheet[key])


def study_labels(row: dict[str, Any]) -> dict[str, Any]:
    """pe_study and pe_location from the study-level flags; contradictory or indeterminate rows are masked."""
    if row["indeterminate"]:
        return {"pe_study": None, "pe_location": None}
    if row["negative_exam_for_pe"]:
        if row["pe_slices"]:
            return {"pe_study": None, "pe_location": None}
        return {"pe_study": 0, "pe_location": [0, 0, 0]}
    if not row["pe_slices"]:
        return {"pe_study": None, "pe_location": None}
    kind = 3 if row["acute_and_chronic_pe"] else 2 if row["chronic_pe"] else 1
    return {"pe_study": kind, "pe_location": [row["leftsided_pe"], row["rightsided_pe"], row["central_pe"]]}


def read(record: Record, options: dict[str, Any]) -> Sample:
    if record.options.get("exclude"):
        raise Excluded(record.options["exclude"])
    listed = record.label_row["num_slices"]
    if not record.paths:
        raise SourceError(f"series folder train/{record.sample_id} is missing ({listed} slices listed)")
    if len(record.paths) != listed:
        raise SourceError(f"{SHEET} lists {listed} slices for this series, its folder holds {len(record.paths)}")
    volume, layout, modality = read_series(
        record.paths, options.get("storage_options"), float(options.get("spacing_tolerance", 0.02)), limit(options, "max_voxels")
    )
    if modality != "CT":
        raise SourceError(f"expected a CT series, got Modality {modality!r}")
    volume, meta = finish_volume(volume, layout, ct=True, options=options, window="mediastinum")
    return Sample(arrays={"volume": volume}, meta={"volume": meta}, labels=study_labels(record.label_row))


SOURCE = SourceInfo(
    name=NAME,
    description="RSPECT pulmonary embolism CT (DICOM series + train.csv): int16 HU volumes in RAS, study-level PE labels",
    modalities=("volume",),
    tasks=("pe_study", "pe_location"),
    discover=discover,
    read=read,
    defaults={**VOLUME_DEFAULTS, "spacing_tolerance": 0.02},
)
