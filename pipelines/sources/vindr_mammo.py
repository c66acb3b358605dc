"""VinDr-Mammo (PhysioNet): full-field digital mammograms with breast-level BI-RADS and density.

Layout:

    breast-level_annotations.csv   study_id, series_id, image_id, laterality (L/R), view_position
                                   (CC/MLO), height, width, breast_birads ("BI-RADS 1".."BI-RADS 5"),
                                   breast_density ("DENSITY A".."DENSITY D"), split (training/test)
    finding_annotations.csv        per-lesion boxes (not needed for the breast-level labels)
    images/<study_id>/<image_id>.dicom

A sample is one image (one row of the breast-level sheet). Labels: breast_birads and
breast_density through the registry (CLIMB's "BI-RADS k" -> k-1 is the same class order); an
unknown value is masked. Split: the sheet's official `split` (training -> train, test -> test).
Group: the study, which is one woman's exam (VinDr-Mammo has one study per patient), so both
breasts and both views stay together. Image files the sheet does not list are excluded; rows whose
file is missing or unreadable are quarantined. Pixels: as the other DICOM sources (VOI from the
file, MONOCHROME1 inverted), long side 224 by default.
"""

from __future__ import annotations

from typing import Any, Iterator

from climb.pipelines.sources import Excluded, SourceInfo
from climb.pipelines.sources.image2d import DICOM_DEFAULTS, RawTree, read_dicom
from climb.schemas.sample import Record, Sample
from climb.schemas.tasks import get_task

NAME = "vindr-mammo"
SHEET = "breast-level_annotations.csv"
SPLITS = {"training": "train", "test": "test"}
REQUIRED = ("study_id", "image_id", "laterality", "view_position", "breast_birads", "breast_density", "split")


def discover(raw_url: str, options: dict[str, Any]) -> Iterator[Record]:
    tree = RawTree(raw_url, options)
    header, rows = tree.sheet(tree.require(SHEET))
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValueError(f"{SHEET} lacks the columns {missing}")
    listed: set[str] = set()
    for row in rows:
        rel = f"images/{row['study_id']}/{row['image_id']}.dicom"
        listed.add(rel)
        yield Record(source=NAME, sample_id=rel, subject_id=row["study_id"], study_id=row["study_id"], paths=(tree.url(rel),),
                     label_row={k: row[k] for k in REQUIRED if k not in ("study_id", "image_id")},
                     official_split=SPLITS.get(row["split"].strip().lower()))
    for rel in tree.files("images", (".dicom", ".dcm")):
        if rel not in listed:
            study = rel.split("/")[1] if rel.count("/") >= 2 else rel
            yield Record(source=NAME, sample_id=rel, subject_id=study, paths=(tree.url(rel),), label_row={"unlisted": True})


def read(record: Record, options: dict[str, Any]) -> Sample:
    row = record.label_row
    if row.get("unlisted"):
        raise Excluded(f"not in {SHEET}")
    image, image_meta, tags = read_dicom(record.paths[0], options)
    birads, _ = get_task("breast_birads").map_codes(NAME, [row["breast_birads"]])
    density, _ = get_task("breast_density").map_codes(NAME, [row["breast_density"]])
    return Sample(
        arrays={"image": image},
        meta={"image": image_meta, "dicom": tags, "laterality": row["laterality"] or None, "view": row["view_position"] or None},
        labels={"breast_birads": birads, "breast_density": density},
    )


SOURCE = SourceInfo(
    name=NAME,
    description="VinDr-Mammo DICOMs + breast-level sheet: BI-RADS 1-5 and density A-D, official split, grouped by study",
    modalities=("image",),
    tasks=("breast_birads", "breast_density"),
    discover=discover,
    read=read,
    defaults=dict(DICOM_DEFAULTS),
)
