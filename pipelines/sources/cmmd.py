"""CMMD, the Chinese Mammography Database (TCIA): mammogram DICOMs + a clinical xlsx sheet per breast.

Layout (RAW_URL is the folder the NBIA Data Retriever wrote, with the sheet beside it):

    CMMD_clinicaldata_revision.xlsx   ID1, LeftRight (L/R), Age, number, abnormality,
                                      classification (Benign/Malignant), subtype
    CMMD/<ID1>/<study folder>/<series folder>/1-1.dcm, 1-2.dcm, ...

A sample is one mammogram. The sheet has one row per breast with a lesion, so an image takes the
row of its own breast: the DICOM's ImageLaterality (0020,0062), read with the pixels. The reference
cmmd.py gave every breast row all of the patient's images, labelling the healthy breast with the
other breast's diagnosis; here an image of a breast the sheet has no row for is excluded (no label
exists for it), and an image without a laterality tag is quarantined.

Labels: breast_pathology (Benign/Malignant) and breast_cancer_subtype (the `subtype` column, blank
and so masked for benign breasts) through the registry; the abnormality type is kept in metadata. Splits: no official split; the pipeline's grouped hash by patient
(ID1), where CLIMB took the first 75% of rows. Patient folders the sheet does not list are
excluded; sheet patients without any image are quarantined.
"""

from __future__ import annotations

import io
from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import DICOM_DEFAULTS, RawTree, read_bytes, read_dicom
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task

NAME = "cmmd"
SHEET = "CMMD_clinicaldata_revision.xlsx"
COLUMNS = ("ID1", "LeftRight", "Age", "number", "abnormality", "classification", "subtype")
LATERALITY = {"L": "L", "R": "R", "LEFT": "L", "RIGHT": "R"}


def read_sheet(data: bytes) -> list[dict[str, str]]:
    """The clinical sheet's rows as strings (first worksheet, header in row 1), blank rows skipped."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        missing = [c for c in ("ID1", "LeftRight", "classification") if c not in header]
        if missing:
            raise ValueError(f"{SHEET} lacks the columns {missing}")
        out = []
        for values in rows:
            row = {h: ("" if v is None else str(v).strip()) for h, v in zip(header, values) if h}
            if row.get("ID1"):
                out.append(row)
        return out
    finally:
        book.close()


def patient_folder(rel: str) -> str:
    """The ID1 folder of a DICOM path: the component below CMMD/ (or the first one without it)."""
    parts = rel.split("/")
    return parts[1] if parts[0] == "CMMD" and len(parts) > 2 else parts[0]


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    tree = RawTree(raw_url, options)
    rows = read_sheet(read_bytes(tree.url(tree.require(SHEET)), options))
    breasts: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        side = LATERALITY.get(row["LeftRight"].upper(), row["LeftRight"])
        breasts.setdefault(row["ID1"], {})[side] = {k: row.get(k, "") for k in COLUMNS if k != "ID1"}
    images: dict[str, list[str]] = {}
    for rel in tree.files("", (".dcm",)):
        images.setdefault(patient_folder(rel), []).append(rel)
    for patient, files in sorted(images.items()):
        for rel in files:
            yield Record(source=NAME, sample_id=rel, subject_id=patient, paths=(tree.url(rel),),
                         label_row={"breasts": breasts.get(patient)})
    for patient in sorted(set(breasts) - set(images)):
        yield Record(source=NAME, sample_id=f"{SHEET}#{patient}", subject_id=patient, paths=(),
                     label_row={"error": f"{SHEET} lists {patient} but no DICOM image of that patient was found"})


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if "error" in row:
        raise SourceError(row["error"])
    if row["breasts"] is None:
        raise Excluded(f"patient folder not in {SHEET}")
    image, image_meta, tags = read_dicom(record.paths[0], options)
    side = LATERALITY.get(str(tags.get("ImageLaterality") or tags.get("Laterality") or "").upper())
    if side is None:
        raise SourceError("the DICOM has no ImageLaterality (0020,0062), so its breast's clinical row cannot be chosen")
    breast = row["breasts"].get(side)
    if breast is None:
        raise Excluded(f"{SHEET} has no row for this patient's {'left' if side == 'L' else 'right'} breast")
    label, _ = get_task("breast_pathology").map_codes(NAME, [breast["classification"]])
    subtype, _ = get_task("breast_cancer_subtype").map_codes(NAME, [breast["subtype"]])
    return Sample(
        arrays={"image": image},
        meta={"image": image_meta, "dicom": tags, "laterality": side, "abnormality": breast["abnormality"] or None,
              "subtype": breast["subtype"] or None},
        labels={"breast_pathology": label, "breast_cancer_subtype": subtype},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="CMMD mammogram DICOMs (TCIA tree) + clinical xlsx: benign/malignant and subtype per breast, matched by ImageLaterality",
    modalities=("image",),
    tasks=("breast_pathology", "breast_cancer_subtype"),
    discover=discover,
    read=read,
    defaults=dict(DICOM_DEFAULTS),
)
