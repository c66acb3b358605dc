"""Mammography corpora in their real layouts: VinDr-Mammo (PhysioNet) and CMMD (TCIA + xlsx sheet).

Pixels are scikit-image pictures stored as 12-bit mammogram DICOMs (climb.corpora.imaging2d), with
the laterality and view tags real files carry. Each writer plants the awkward inputs a conversion
must handle and returns what a correct conversion finds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from climb.corpora.imaging2d import _mammogram, _write_csv, write_dicom

VINDR_MAMMO_HEADER = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
                      "breast_birads", "breast_density", "split"]
# (study, split, [(laterality, view, birads, density)])
_VINDR_STUDIES = (
    ("a1b2c3d4", "training", (("L", "CC", "BI-RADS 1", "DENSITY C"), ("L", "MLO", "BI-RADS 1", "DENSITY C"),
                              ("R", "CC", "BI-RADS 4", "DENSITY C"), ("R", "MLO", "BI-RADS 4", "DENSITY C"))),
    ("b2c3d4e5", "training", (("L", "CC", "BI-RADS 2", "DENSITY B"), ("R", "MLO", "BI-RADS 3", "DENSITY B"))),
    ("c3d4e5f6", "test", (("L", "CC", "BI-RADS 5", "DENSITY D"), ("R", "CC", "BI-RADS 6", "DENSITY A"))),
    ("d4e5f6a7", "test", (("L", "MLO", "BI-RADS 1", "DENSITY E"),)),
)


def write_vindr_mammo_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """images/<study_id>/<image_id>.dicom + breast-level_annotations.csv + finding_annotations.csv.

    Also: a sheet row whose image file is missing, one whose file is truncated, and an image file
    no row lists. "BI-RADS 6" and "DENSITY E" are not categories of the tasks (masked).

    Returns:
        `expected` {sample id: {"study", "split", "birads", "density", "laterality", "view"}},
        `quarantined` {sample id: message start}, `excluded` sample ids, counts.
    """
    root = Path(root)
    rows, expected = [], {}
    index = 0
    for study, split, images in _VINDR_STUDIES:
        for laterality, view, birads, density in images:
            image_id = f"{study}{index:04d}img"
            rel = f"images/{study}/{image_id}.dicom"
            write_dicom(root / rel, _mammogram(index), bits_stored=12, modality="MG", patient=study,
                        extra={"ImageLaterality": laterality, "ViewPosition": view})
            rows.append({"study_id": study, "series_id": f"{study}s", "image_id": image_id, "laterality": laterality,
                         "view_position": view, "height": "160", "width": "96", "breast_birads": birads,
                         "breast_density": density, "split": split})
            expected[rel] = {"study": study, "split": "train" if split == "training" else "test", "birads": birads,
                             "density": density, "laterality": laterality, "view": view}
            index += 1
    missing = "images/e5f6a7b8/e5f6a7b80000img.dicom"
    truncated = "images/b2c3d4e5/b2c3d4e5trunc.dicom"
    write_dicom(root / truncated, _mammogram(9), bits_stored=12, modality="MG", patient="b2c3d4e5")
    (root / truncated).write_bytes((root / truncated).read_bytes()[:-4000])
    for rel in (missing, truncated):
        study, image_id = rel.split("/")[1], rel.split("/")[2][: -len(".dicom")]
        rows.append({"study_id": study, "series_id": f"{study}s", "image_id": image_id, "laterality": "R",
                     "view_position": "CC", "breast_birads": "BI-RADS 2", "breast_density": "DENSITY B", "split": "training"})
    unlisted = "images/a1b2c3d4/a1b2c3d4extra.dicom"
    write_dicom(root / unlisted, _mammogram(11), bits_stored=12, modality="MG", patient="a1b2c3d4")
    _write_csv(root / "breast-level_annotations.csv", VINDR_MAMMO_HEADER, rows)
    _write_csv(root / "finding_annotations.csv", ["study_id", "series_id", "image_id", "laterality", "view_position",
                                                  "breast_birads", "breast_density", "finding_categories",
                                                  "finding_birads", "xmin", "ymin", "xmax", "ymax", "split"], [])
    quarantined = {missing: "image file listed in the label sheet is missing", truncated: "The number of bytes of pixel data is less than expected"}
    counts = {"discovered": len(expected) + 3, "written": len(expected), "quarantined": 2, "excluded": 1}
    return {"root": str(root), "expected": expected, "quarantined": quarantined, "excluded": [unlisted], "counts": counts}


CMMD_HEADER = ["ID1", "LeftRight", "Age", "number", "abnormality", "classification", "subtype"]
# patient -> sheet rows (side, abnormality, classification, subtype) and images (side, view)
_CMMD_PATIENTS = {
    "D1-0001": ((("R", "calcification", "Benign", ""),), (("R", "CC"), ("R", "MLO"), ("L", "CC"), ("L", "MLO"))),
    "D1-0002": ((("L", "mass", "Malignant", "Luminal A"), ("R", "both", "Benign", "")),
                (("L", "CC"), ("L", "MLO"), ("R", "CC"))),
    "D2-0001": ((("L", "mass", "Malignant", "HER2-enriched"),), (("L", "CC"), ("L", "MLO"))),
    "D2-0002": ((("R", "mass", "Uncertain", ""),), (("R", "MLO"),)),
}


def write_cmmd_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """CMMD_clinicaldata_revision.xlsx (openpyxl) + CMMD/<ID1>/<study>/<series>/1-N.dcm.

    D1-0001 has lesion rows for the right breast only, so its left images are excluded (the
    reference code labelled them with the right breast's diagnosis). Also: an image without
    ImageLaterality (quarantined), a sheet patient without images (quarantined), a patient folder
    the sheet does not list (excluded), and a classification outside the map (masked).

    Returns:
        `expected` {sample id: {"patient", "side", "classification", "abnormality", "subtype"}},
        `quarantined` {source path: message start}, `excluded` sample ids, counts.
    """
    from openpyxl import Workbook

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(CMMD_HEADER)
    expected: dict[str, dict[str, Any]] = {}
    excluded: list[str] = []
    index = 0

    def series(patient: str, images: tuple[tuple[str, str], ...], laterality_tag: bool = True) -> list[str]:
        nonlocal index
        rels = []
        for k, (side, view) in enumerate(images, start=1):
            rel = f"CMMD/{patient}/07-18-2010-NA-NA-{index:05d}/1.000000-NA-{index:05d}/1-{k}.dcm"
            extra = {"ViewPosition": view, "BodyPartExamined": "BREAST"}
            if laterality_tag:
                extra["ImageLaterality"] = side
            write_dicom(root / rel, _mammogram(index + k), bits_stored=12, modality="MG", patient=patient, extra=extra)
            rels.append(rel)
        index += 1
        return rels

    for age, (patient, (rows, images)) in enumerate(_CMMD_PATIENTS.items(), start=40):
        for side, abnormality, classification, subtype in rows:
            sheet.append([patient, side, age, 1, abnormality, classification, subtype or None])
        by_side = {side: (abnormality, classification, subtype) for side, abnormality, classification, subtype in rows}
        for rel, (side, _) in zip(series(patient, images), images):
            if side in by_side:
                abnormality, classification, subtype = by_side[side]
                expected[rel] = {"patient": patient, "side": side, "classification": classification,
                                 "abnormality": abnormality, "subtype": subtype or None}
            else:
                excluded.append(rel)
    sheet.append(["D1-0003", "L", 55, 1, "mass", "Malignant", "Luminal B"])
    sheet.append(["D1-0004", "R", 61, 1, "mass", "Benign", None])
    (untagged,) = series("D1-0004", (("R", "CC"),), laterality_tag=False)
    excluded += series("D9-9999", (("L", "CC"),))
    book.save(root / "CMMD_clinicaldata_revision.xlsx")
    quarantined = {"CMMD_clinicaldata_revision.xlsx#D1-0003": "CMMD_clinicaldata_revision.xlsx lists D1-0003 but no DICOM",
                   untagged: "the DICOM has no ImageLaterality"}
    counts = {"discovered": len(expected) + len(excluded) + 2, "written": len(expected), "quarantined": 2,
              "excluded": len(excluded)}
    return {"root": str(root), "expected": expected, "quarantined": quarantined, "excluded": excluded, "counts": counts}
