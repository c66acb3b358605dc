"""INSPECT (Stanford AIMI): CT pulmonary angiograms as NIfTI, report impressions, PE labels, cohort split.

Layout (file names are options, defaults as released):

    CTPA/<impression_id>.nii.gz        one CTPA per impression
    Final_Impressions_labels.csv       impression_id, pe_positive, pe_acute, pe_subsegmentalonly, ...
    Final_impressions.csv              impression_id, impressions (the report's impression text)
    cohort*.csv                        impression_id, the patient (PatientID / person_id /
                                       patient_id), split (train / valid / test)

A sample is one study: the CTPA volume (int16 HU, reoriented to RAS and stored [Z, Y, X], so axis
0 is always axial whatever the NIfTI's storage order; the reference inspect.py took frames along
the stored axis 0, which is sagittal for (X, Y, Z) files) plus the impression as text (through
transforms.text.clean_note, which removes dates and other identifier-shaped strings). Label:
ctpa_pe in CLIMB's five classes from the label sheet (a blank or non-0/1 flag that the class
depends on masks it). Split: the cohort file's official split, grouped by patient (the reference
split by row order, ignoring both); a patient the cohort puts in two splits is kept in one by the
pipeline, which records the move.

Impressions without a volume are quarantined; volumes that no label row lists are excluded; a
label row without a cohort row keeps its label and takes the pipeline's grouped hash split with
the impression as its own group.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import RawTree
from climb.pipelines.sources.kits import read_nifti_hu
from climb.pipelines.sources.nifti import MAX_VOXELS
from climb.pipelines.sources.volumes import VOLUME_DEFAULTS, finish_volume
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task
from climb.storage import local_copy
from climb.transforms.text import clean_note

NAME = "inspect"
PATIENT_COLUMNS = ("PatientID", "person_id", "patient_id", "anon_person_id")
SPLITS = {"train": "train", "valid": "val", "val": "val", "validation": "val", "test": "test"}
FLAGS = ("pe_positive", "pe_acute", "pe_subsegmentalonly")
DEFAULTS: dict[str, Any] = {**VOLUME_DEFAULTS, "labels": "Final_Impressions_labels.csv",
                            "impressions": "Final_impressions.csv", "cohort": "cohort*.csv", "volumes": "CTPA"}


def _flag(value: str) -> int | None:
    """A 0/1 flag as the sheets write it ("1", "1.0", "0"); anything else is unknown."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number in (0.0, 1.0) else None


def ctpa_class(row: dict[str, str]) -> int | None:
    """CLIMB's five classes: negative; acute + subsegmental-only; acute; subsegmental-only; chronic (else).

    Returns:
        the ctpa_pe class index, or None when a flag it depends on is unknown.
    """
    classes = get_task("ctpa_pe").classes
    positive = _flag(row.get("pe_positive", ""))
    if positive is None:
        return None
    if positive == 0:
        return classes.index("negative")
    acute, subsegmental = _flag(row.get("pe_acute", "")), _flag(row.get("pe_subsegmentalonly", ""))
    if acute is None or subsegmental is None:
        return None
    name = {(1, 1): "acute subsegmental-only", (1, 0): "acute", (0, 1): "subsegmental-only", (0, 0): "chronic"}[(acute, subsegmental)]
    return classes.index(name)


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    opts = {**DEFAULTS, **options}
    tree = RawTree(raw_url, options)
    _, labels = tree.sheet(tree.require(opts["labels"]))
    impressions_sheet = tree.find(opts["impressions"])
    texts = {r["impression_id"]: r.get("impressions", "") for r in tree.sheet(impressions_sheet)[1]} if impressions_sheet else {}
    cohort_sheet = tree.find(opts["cohort"])
    cohort: dict[str, dict[str, str]] = {}
    if cohort_sheet:
        header, rows = tree.sheet(cohort_sheet)
        patient = next((c for c in PATIENT_COLUMNS if c in header), None)
        if patient is None or "split" not in header:
            raise ValueError(f"{cohort_sheet} needs a patient column (one of {list(PATIENT_COLUMNS)}) and a split column")
        cohort = {r["impression_id"]: {"patient": r[patient], "split": r["split"]} for r in rows}
    volumes = {rel.rsplit("/", 1)[-1].split(".nii")[0]: rel for rel in tree.files(opts["volumes"], (".nii.gz", ".nii"))}
    listed = set()
    for row in labels:
        impression = row["impression_id"]
        listed.add(impression)
        member = cohort.get(impression, {})
        rel = volumes.get(impression)
        yield Record(
            source=NAME, sample_id=impression, subject_id=member.get("patient") or impression, study_id=impression,
            paths=(tree.url(rel),) if rel else (),
            label_row={**{f: row.get(f, "") for f in FLAGS}, "impression": texts.get(impression), "volume_listed": rel is not None},
            official_split=SPLITS.get(member.get("split", "").strip().lower()),
        )
    for impression, rel in sorted(volumes.items()):
        if impression not in listed:
            yield Record(source=NAME, sample_id=impression, subject_id=impression, paths=(tree.url(rel),), label_row={"unlisted": True})


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("unlisted"):
        raise Excluded("no row in the label sheet")
    if not row["volume_listed"]:
        raise SourceError(f"the label sheet lists impression {record.sample_id} but its CTPA volume is missing")
    url = record.paths[0]
    with local_copy(url, options.get("storage_options"), suffix=".nii.gz" if url.endswith(".gz") else ".nii") as path:
        volume, layout = read_nifti_hu(path, int(options.get("max_voxels", MAX_VOXELS)))
    volume, meta = finish_volume(volume, layout, ct=True, options=options, window="climb")
    arrays: dict[str, Any] = {"volume": volume}
    if row.get("impression"):
        arrays["text"] = clean_note(row["impression"])
    return Sample(arrays=arrays, meta={"volume": meta, "pe_flags": {f: _flag(row[f]) for f in FLAGS}},
                  labels={"ctpa_pe": ctpa_class(row)})


SOURCE = SourceInfo(
    name=NAME,
    description="INSPECT CTPA (NIfTI + impressions + PE labels + cohort split): int16 HU volumes in RAS, 5-class PE",
    modalities=("volume", "text"),
    tasks=("ctpa_pe",),
    discover=discover,
    read=read,
    defaults=DEFAULTS,
)
