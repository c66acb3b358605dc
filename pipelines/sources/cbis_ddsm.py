"""CBIS-DDSM (TCIA): full-field mammogram DICOMs with per-abnormality pathology and BI-RADS rows.

Layout (RAW_URL is the folder the NBIA Data Retriever wrote):

    metadata.csv   Series UID, Subject ID, Study UID, Series Description, ..., File Location
    CBIS-DDSM/<Subject ID>/<study folder>/<series folder>/1-1.dcm
    {mass,calc}_case_description_{train,test}_set.csv (in the root or csv/):
        patient_id, breast density (or breast_density), left or right breast, image view,
        abnormality id, abnormality type, ..., assessment, pathology, subtlety, image file path, ...

A sample is one full mammogram: the Subject ID that starts `image file path`
(Mass-Training_P_00001_LEFT_CC), found in metadata.csv as its "full mammogram images" series;
the cropped and ROI-mask series are not samples. The UIDs inside `image file path` are not used:
the Retriever names folders by date and description, not by UID.

Labels, over all abnormality rows of the image: breast_pathology is malignant if any row is
MALIGNANT, benign if every row is BENIGN or BENIGN_WITHOUT_CALLBACK, else masked; breast_birads is
the highest assessment 1-5 (assessment 0, "incomplete", is no category and is ignored).

Splits: the official train/test of the sheet names. Subjects are `patient_id` (P_00001), the
woman, not TCIA's per-view Subject ID. The official split is drawn per case sheet, so nothing
makes it patient-disjoint across the mass and calc sheets; where a patient is in both, the
pipeline keeps all her images in one split (pipelines/records.py) and records the move. Full
mammogram series that no sheet references are counted as excluded.

Pixels: 16-bit MONOCHROME2; VOI from the file if any, else min-max (CLIMB scaled by the maximum).
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceError, SourceInfo
from climb.pipelines.sources.image2d import DICOM_DEFAULTS, RawTree, read_dicom
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task, norm_code

SHEETS = {
    f"{kind}_case_description_{split}_set.csv": split
    for kind in ("mass", "calc")
    for split in ("train", "test")
}
SHEET_FOLDERS = ("", "csv")
FULL_SERIES = "full mammogram images"
ROW_FIELDS = {
    "pathology": ("pathology",),
    "assessment": ("assessment",),
    "laterality": ("left or right breast",),
    "view": ("image view",),
    "density": ("breast density", "breast_density"),
    "abnormality": ("abnormality type",),
}


def _field(row: dict[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        if name in row:
            return row[name]
    raise SourceError(f"case sheet has none of the columns {list(names)}")


def _series_folders(tree: RawTree) -> dict[str, str]:
    """Subject ID -> folder (relative to the root) of its full mammogram series, from metadata.csv."""
    _, rows = tree.sheet(tree.require("metadata.csv"))
    folders = {}
    for row in rows:
        if row.get("Series Description", "").strip().lower() == FULL_SERIES:
            location = row["File Location"].replace("\\", "/").strip()
            folders[row["Subject ID"]] = location[2:] if location.startswith("./") else location.lstrip("/")
    return folders


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    tree = RawTree(raw_url, options)
    folders = _series_folders(tree)
    dicoms: dict[str, list[str]] = {}
    for rel in tree.files("", (".dcm",)):
        dicoms.setdefault(rel.rsplit("/", 1)[0], []).append(rel)
    images: dict[str, dict[str, Any]] = {}
    for sheet, split in SHEETS.items():
        for row in tree.sheet(tree.require(sheet, SHEET_FOLDERS))[1]:
            subject_id = row["image file path"].replace("\\", "/").split("/", 1)[0].strip()
            image = images.setdefault(subject_id, {"patient": row["patient_id"], "split": split, "sheet": sheet, "rows": []})
            image["rows"].append({key: _field(row, names) for key, names in ROW_FIELDS.items()})
    for subject_id, image in sorted(images.items()):
        folder = folders.get(subject_id)
        yield Record(
            source="cbis-ddsm",
            sample_id=subject_id,
            subject_id=image["patient"],
            paths=tuple(tree.url(rel) for rel in dicoms.get(folder, [])) if folder else (),
            label_row={"sheet": image["sheet"], "rows": image["rows"], "series_listed": folder is not None},
            official_split=image["split"],
        )
    for subject_id, folder in sorted(folders.items()):
        if subject_id not in images:
            yield Record(source="cbis-ddsm", sample_id=subject_id, subject_id=subject_id,
                         paths=tuple(tree.url(rel) for rel in dicoms.get(folder, [])), label_row={"sheet": None})


def breast_labels(rows: list[dict[str, str]]) -> dict[str, int | None]:
    """breast_pathology (any malignant) and breast_birads (highest 1-5) over an image's abnormality rows."""
    pathology_task, birads_task = get_task("breast_pathology"), get_task("breast_birads")
    pathologies = [pathology_task.lookup("cbis-ddsm").get(norm_code(r["pathology"])) for r in rows]
    if any(p == ("malignant",) for p in pathologies):
        pathology: int | None = pathology_task.class_index("malignant")
    elif all(p == ("benign",) for p in pathologies):
        pathology = pathology_task.class_index("benign")
    else:
        pathology = None
    birads_table = birads_task.lookup("cbis-ddsm")
    grades = [birads_task.class_index(birads_table[norm_code(r["assessment"])][0])
              for r in rows if norm_code(r["assessment"]) in birads_table]
    return {"breast_pathology": pathology, "breast_birads": max(grades) if grades else None}


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("sheet") is None:
        raise Excluded("not in label sheet")
    if not row["series_listed"]:
        raise SourceError(f"{record.sample_id} is in {row['sheet']} but metadata.csv has no full mammogram series for it")
    if len(record.paths) != 1:
        raise SourceError(f"expected one DICOM in the full mammogram series of {record.sample_id}, found {len(record.paths)}")
    image, image_meta, tags = read_dicom(record.paths[0], options)
    rows = row["rows"]
    density = rows[0]["density"]
    return Sample(
        arrays={"image": image},
        meta={
            "image": image_meta,
            "dicom": tags,
            "laterality": rows[0]["laterality"] or None,
            "view": rows[0]["view"] or None,
            "breast_density": int(density) if density.isdigit() else None,
            "abnormality_types": sorted({r["abnormality"] for r in rows}),
            "num_abnormalities": len(rows),
        },
        labels=breast_labels(rows),
    )


SOURCE = SourceInfo(
    name="cbis-ddsm",
    description="CBIS-DDSM mammogram DICOMs (TCIA tree) + mass/calc case sheets: pathology and BI-RADS",
    modalities=("image",),
    tasks=("breast_pathology", "breast_birads"),
    discover=discover,
    read=read,
    defaults=dict(DICOM_DEFAULTS),
)
