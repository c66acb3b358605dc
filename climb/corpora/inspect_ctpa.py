"""An INSPECT corpus in its released layout: CTPA NIfTI volumes, impressions, PE labels, cohort split.

Volumes are nibabel's shipped test images (climb.corpora.imaging3d.nibabel_file), saved with the
storage orders real CTPAs come in: anatomical.nii as shipped (LAS), and the same voxels stored
(X, Y, Z) with an identity-like affine and transposed to (Z, Y, X) with a permuted affine, so a
reader that trusts the stored axis order gets different arrays while one that reorients gets the
same. Impressions carry a date and a name-like string the text cleaner must drop.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from climb.corpora.imaging3d import nibabel_file

LABEL_COLUMNS = ["impression_id", "pe_positive", "pe_acute", "pe_subsegmentalonly", "pe_chronic"]
# impression -> (patient, cohort split, pe_positive, pe_acute, pe_subsegmentalonly)
_STUDIES = {
    "imp0001": ("pat01", "train", "0", "0", "0"),
    "imp0002": ("pat01", "train", "1", "1", "1"),
    "imp0003": ("pat02", "valid", "1", "1", "0"),
    "imp0004": ("pat03", "test", "1", "0", "1"),
    "imp0005": ("pat04", "train", "1.0", "0.0", "0.0"),
    "imp0006": ("pat05", "test", "1", "", "0"),
}
# CLIMB's classes, hand-derived from the flags above (None: pe_acute blank -> masked).
EXPECTED_CLASS = {"imp0001": 0, "imp0002": 1, "imp0003": 2, "imp0004": 3, "imp0005": 4, "imp0006": None}
SPLIT = {"train": "train", "valid": "val", "test": "test"}


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue())


def _volumes() -> list[Any]:
    """Three storage orders of anatomical.nii's voxels (see module docstring)."""
    import nibabel as nib

    img = nib.load(nibabel_file("anatomical.nii"))
    data = np.asanyarray(img.dataobj).astype(np.int16)
    xyz = nib.Nifti1Image(data, img.affine)
    # the same voxels stored (Z, Y, X): voxel (k, j, i) of the file is voxel (i, j, k) of `data`
    swap = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    zyx = nib.Nifti1Image(np.ascontiguousarray(np.transpose(data, (2, 1, 0))), img.affine @ swap)
    return [img, xyz, zyx]


def write_inspect_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """CTPA/<impression_id>.nii.gz, Final_Impressions_labels.csv, Final_impressions.csv, cohort_0.2.0_master_file_anon.csv.

    Also: a label row whose volume is missing (quarantined), a truncated volume (quarantined), a
    volume no label row lists (excluded), and a patient the cohort file puts in two splits.

    Returns:
        `expected` {impression: {"patient", "split", "class"}} of written samples, `quarantined`
        {source path: message start}, `excluded`, `impressions` {impression: raw text}, counts.
    """
    import nibabel as nib

    root = Path(root)
    (root / "CTPA").mkdir(parents=True, exist_ok=True)
    volumes = _volumes()
    impressions: dict[str, str] = {}
    for k, impression in enumerate(_STUDIES):
        nib.save(volumes[k % len(volumes)], root / "CTPA" / f"{impression}.nii.gz")
        impressions[impression] = (f"1. Study dated 03/14/2019 read by Dr. Smith. Finding {k}: "
                                   f"{'no pulmonary embolism' if k == 0 else 'filling defect in the pulmonary arteries'}.")
    truncated = "imp0007"
    data = gzip.compress(volumes[0].to_bytes(), mtime=0)
    (root / "CTPA" / f"{truncated}.nii.gz").write_bytes(data[: len(data) // 2])
    unlisted = "imp0099"
    nib.save(volumes[1], root / "CTPA" / f"{unlisted}.nii.gz")
    missing = "imp0008"
    rows = [[i, *flags[2:], "0"] for i, flags in _STUDIES.items()] + [[truncated, "0", "0", "0", "0"], [missing, "1", "1", "0", "0"]]
    _csv(root / "Final_Impressions_labels.csv", LABEL_COLUMNS, rows)
    _csv(root / "Final_impressions.csv", ["impression_id", "impressions"], [[i, t] for i, t in impressions.items()])
    cohort = [[i, patient, split, f"2019-0{n + 1}-01 10:00:00"] for n, (i, (patient, split, *_)) in enumerate(_STUDIES.items())]
    cohort += [[truncated, "pat06", "train", ""], [missing, "pat07", "test", ""]]
    cohort[1][2] = "test"  # pat01's second study: the cohort file disagrees with itself
    _csv(root / "cohort_0.2.0_master_file_anon.csv", ["impression_id", "person_id", "split", "procedure_DATETIME"], cohort)
    expected = {i: {"patient": patient, "split": SPLIT[split], "class": EXPECTED_CLASS[i]}
                for i, (patient, split, *_) in _STUDIES.items()}
    quarantined = {f"CTPA/{truncated}.nii.gz": "voxel data cannot be read",
                   missing: f"the label sheet lists impression {missing} but its CTPA volume is missing"}
    counts = {"discovered": len(expected) + 3, "written": len(expected), "quarantined": 2, "excluded": 1}
    return {"expected": expected, "quarantined": quarantined, "excluded": [unlisted], "impressions": impressions,
            "counts": counts, "storage_orders": len(volumes)}
