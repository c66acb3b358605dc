"""3D corpora: KiTS23 (NIfTI), LNDb (MetaImage) and RSPECT (DICOM series) in their real layouts.

Built from real files that ship inside installed packages: nibabel's test volumes (anatomical.nii,
example4d.nii.gz, functional.nii) and pydicom's CT slices (CT_small.dcm, 128x128; 693_UNCI.dcm,
512x512 from pydicom-data). Series are stacked from one real slice by moving ImagePositionPatient
and rolling the pixels so every slice differs; file names are SOPInstanceUIDs and InstanceNumbers
are shuffled, as in the wild. Each writer adds the awkward cases a real release has (a case the
sheet does not list, a sheet row without files, broken files) and returns what a correct
conversion must find.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
RSPECT_COLUMNS = (
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "pe_present_on_image", "negative_exam_for_pe",
    "qa_motion", "qa_contrast", "flow_artifact", "rv_lv_ratio_gte_1", "rv_lv_ratio_lt_1", "leftsided_pe",
    "chronic_pe", "true_filling_defect_not_pe", "rightsided_pe", "acute_and_chronic_pe", "central_pe",
    "indeterminate",
)
LNDB_COLUMNS = ("LNDbID", "RadID", "RadFindingID", "FindingID", "x", "y", "z", "Nodule", "Volume", "AgrLevel")


def nibabel_file(name: str) -> Path:
    from nibabel.testing import data_path

    return Path(data_path) / name


def pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {name} is not installed (pydicom-data provides it)")
    return Path(path)


def uid(*parts: str) -> str:
    """A deterministic DICOM UID from text (the same corpus gets the same UIDs every run)."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["climb-corpus", *parts])


# ----------------------------------------------------------------------------------------- KiTS


def write_kits_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Write a KiTS23 layout: ``dataset/case_NNNNN/imaging.nii.gz`` + ``dataset/kits23.json``.

    case_00000: anatomical.nii (LAS, big-endian int16); case_00001: example4d's first volume
    (oblique affine, 2.2 mm slices); case_00002: functional.nii's first volume with its
    scl_slope/scl_inter; case_00003: example4d as shipped (4D: quarantined); case_00004: listed,
    no folder (quarantined); case_00005: a folder kits23.json does not list (excluded).

    Returns:
        counts, `labels` {case_id: kidney_tumor_malignancy value}, `sources` {case_id: path of
        the written NIfTI} for the cases that convert.
    """
    import nibabel as nib

    dataset = Path(root) / "dataset"

    def case_dir(case_id: str) -> Path:
        folder = dataset / case_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    anatomical = nibabel_file("anatomical.nii").read_bytes()
    (case_dir("case_00000") / "imaging.nii.gz").write_bytes(gzip.compress(anatomical, mtime=0))
    example = nib.load(nibabel_file("example4d.nii.gz"))
    first = np.asanyarray(example.dataobj)[..., 0]
    nib.save(nib.Nifti1Image(first, example.affine), case_dir("case_00001") / "imaging.nii.gz")
    functional = nib.load(nibabel_file("functional.nii"))
    scaled = nib.Nifti1Image(np.asanyarray(functional.dataobj.get_unscaled())[..., 0], functional.affine)
    scaled.header.set_slope_inter(functional.dataobj.slope, functional.dataobj.inter)
    nib.save(scaled, case_dir("case_00002") / "imaging.nii.gz")
    shutil.copy(nibabel_file("example4d.nii.gz"), case_dir("case_00003") / "imaging.nii.gz")
    (case_dir("case_00005") / "imaging.nii.gz").write_bytes(gzip.compress(anatomical, mtime=0))
    malignant = {"case_00000": True, "case_00001": False, "case_00002": None, "case_00003": True, "case_00004": False}
    cases = [
        {"case_id": case_id, "age_at_nephrectomy": 50 + i, "malignant": value, "tumor_histologic_subtype": "clear_cell_rcc" if value else "oncocytoma"}
        for i, (case_id, value) in enumerate(malignant.items())
    ]
    (dataset / "kits23.json").write_text(json.dumps(cases, indent=1))
    good = ("case_00000", "case_00001", "case_00002")
    return {
        "counts": {"discovered": 6, "written": 3, "quarantined": 2, "excluded": 1},
        "labels": {c: None if malignant[c] is None else int(malignant[c]) for c in good},
        "sources": {c: str(dataset / c / "imaging.nii.gz") for c in good},
    }


# ----------------------------------------------------------------------------------------- LNDb


def ct_small_hu() -> tuple[np.ndarray, Any]:
    """CT_small.dcm's pixels in HU (int16 [128, 128]) and its dataset."""
    import pydicom

    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    return hu.astype(np.int16), ds


def write_metaimage(
    mhd: str | os.PathLike,
    volume_zyx: np.ndarray,
    spacing_xyz: Sequence[float],
    offset: Sequence[float] = (0.0, 0.0, 0.0),
    matrix: Sequence[float] = (1, 0, 0, 0, 1, 0, 0, 0, 1),
    compressed: bool = False,
) -> Path:
    """Write a .mhd header + .raw data block the way ITK does (x fastest, little endian)."""
    mhd = Path(mhd)
    raw = mhd.with_suffix(".zraw" if compressed else ".raw")
    data = np.ascontiguousarray(volume_zyx, dtype="<i2").tobytes()
    if compressed:
        data = zlib.compress(data, 6)
    raw.write_bytes(data)
    z, y, x = volume_zyx.shape
    lines = [
        "ObjectType = Image",
        "NDims = 3",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        f"CompressedData = {compressed}",
        *([f"CompressedDataSize = {len(data)}"] if compressed else []),
        "TransformMatrix = " + " ".join(f"{v:g}" for v in matrix),
        "Offset = " + " ".join(f"{v:g}" for v in offset),
        "CenterOfRotation = 0 0 0",
        "AnatomicalOrientation = RAI",
        "ElementSpacing = " + " ".join(f"{v:g}" for v in spacing_xyz),
        f"DimSize = {x} {y} {z}",
        "ElementType = MET_SHORT",
        f"ElementDataFile = {raw.name}",
    ]
    mhd.write_text("\n".join(lines) + "\n")
    return mhd


def stacked_ct(n_slices: int) -> np.ndarray:
    """A [Z, 128, 128] int16 HU volume: CT_small's slice rolled 7 rows further on each slice."""
    hu, _ = ct_small_hu()
    return np.stack([np.roll(hu, 7 * k, axis=0) for k in range(n_slices)])


def write_lndb_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Write an LNDb layout: ``data/LNDb-NNNN.{mhd,raw}`` + ``trainNodules_gt.csv``.

    LNDb-0001: plain .raw, identity directions; LNDb-0002: zlib-compressed with the y axis
    flipped in TransformMatrix; LNDb-0003: .raw cut short (quarantined); LNDb-0004: no sheet
    rows (excluded); LNDbID 5: sheet rows, no scan (quarantined).

    Returns:
        counts, `labels` {name: lung_nodule_size}, `volumes` {name: ([z,y,x] int16 as written,
        spacing xyz, TransformMatrix)} for the scans that convert.
    """
    data = Path(root) / "data"
    data.mkdir(parents=True, exist_ok=True)
    _, ds = ct_small_hu()
    origin = [float(v) for v in ds.ImagePositionPatient]
    spacing = (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]), 2.5)
    flip_y = (1, 0, 0, 0, -1, 0, 0, 0, 1)
    volumes = {
        "LNDb-0001": (stacked_ct(6), spacing, (1, 0, 0, 0, 1, 0, 0, 0, 1)),
        "LNDb-0002": (stacked_ct(5)[:, ::-1].copy(), spacing, flip_y),
    }
    for name, (vol, sp, matrix) in volumes.items():
        write_metaimage(data / f"{name}.mhd", vol, sp, origin, matrix, compressed=name == "LNDb-0002")
    write_metaimage(data / "LNDb-0003.mhd", stacked_ct(4), spacing, origin)
    raw = data / "LNDb-0003.raw"
    raw.write_bytes(raw.read_bytes()[:-1000])
    write_metaimage(data / "LNDb-0004.mhd", stacked_ct(3), spacing, origin)
    rows = [
        # LNDbID, RadID, RadFindingID, FindingID, x, y, z, Nodule, Volume (mm^3), AgrLevel
        (1, "1,2", "1,1", 1, -120.5, -150.2, -70.1, 1, 523.6, 2),  # d = 10 mm
        (2, "1", "1", 1, -110.0, -140.0, -72.0, 1, 10.0, 1),  # d = 2.7 mm
        (2, "2", "1", 2, -100.0, -130.0, -71.0, 0, 0.0, 1),  # a non-nodule: ignored
        (3, "1", "1", 1, -100.0, -130.0, -71.0, 1, 100.0, 1),
        (5, "1", "1", 1, -100.0, -130.0, -71.0, 1, 100.0, 1),
    ]
    with open(Path(root) / "trainNodules_gt.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(LNDB_COLUMNS)
        writer.writerows(rows)
    return {
        "counts": {"discovered": 5, "written": 2, "quarantined": 2, "excluded": 1},
        "labels": {"LNDb-0001": [0, 1], "LNDb-0002": [1, 0]},
        "volumes": volumes,
    }


# --------------------------------------------------------------------------------------- RSPECT


def write_ct_series(
    folder: str | os.PathLike,
    template: str | os.PathLike,
    positions: Sequence[Sequence[float]],
    *,
    study: str,
    series: str,
    orientation: Sequence[float] = AXIAL,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Write one DICOM CT series from a real single-slice template, one file per position.

    Slice i gets ImagePositionPatient positions[i] and the template's pixels rolled 7*i rows; its
    file is named after its SOPInstanceUID and its InstanceNumber is a seeded shuffle, so neither
    tells the slice order.

    Returns:
        per slice (in `positions` order): sop, file, position, instance_number.
    """
    import pydicom

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(template)
    base = ds.pixel_array
    numbers = np.random.default_rng(seed).permutation(len(positions)) + 1
    written = []
    for i, position in enumerate(positions):
        sop = uid(series, str(i))
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.InstanceNumber = int(numbers[i])
        ds.PixelData = np.roll(base, 7 * i, axis=0).astype(base.dtype).tobytes()
        path = folder / f"{sop}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append({"sop": sop, "file": str(path), "position": list(position), "instance_number": int(numbers[i])})
    return written


def _rspect_row(study: str, series: str, sop: str, pe_on_image: int, **flags: int) -> dict[str, Any]:
    row = {c: 0 for c in RSPECT_COLUMNS}
    row.update(StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=sop, pe_present_on_image=pe_on_image, **flags)
    return row


def write_rspect_corpus(root: str | os.PathLike, n_slices: int = 6) -> dict[str, Any]:
    """Write an RSPECT layout: ``train/<Study>/<Series>/<SOP>.dcm`` + ``train.csv``.

    Studies (slices from CT_small.dcm): `good` (acute left+central PE), `oblique` (negative exam,
    tilted 20 degrees about x), `missing` (one slice never exported), `duplicate` (a slice
    exported twice), `uneven` (one gap 40% too long), `unlisted` (no sheet rows: excluded) and
    `nofolder` (sheet rows, no files): four quarantined.

    Returns:
        counts, `series` {study name: (study uid, series uid, slices as written)}, `labels`
        {study name: {task: value}} for the studies that convert.
    """
    _, ds = ct_small_hu()
    x0, y0, z0 = (float(v) for v in ds.ImagePositionPatient)
    template = pydicom_file("CT_small.dcm")
    train = Path(root) / "train"
    step = 2.5

    def axial(zs: Sequence[float]) -> list[list[float]]:
        return [[x0, y0, z0 + z] for z in zs]

    angle = np.deg2rad(20.0)
    tilted = (1.0, 0.0, 0.0, 0.0, float(np.cos(angle)), float(np.sin(angle)))
    normal = np.cross(tilted[:3], tilted[3:])
    regular = [k * step for k in range(n_slices)]
    plans = {
        "good": axial(regular),
        "oblique": [list(np.array([x0, y0, z0]) + k * step * normal) for k in range(n_slices)],
        "missing": axial([z for k, z in enumerate(regular) if k != n_slices // 2]),
        "duplicate": axial(regular + [regular[2]]),
        "uneven": axial([z + (1.0 if k >= n_slices // 2 else 0.0) for k, z in enumerate(regular)]),
        "unlisted": axial(regular),
    }
    series_info, rows = {}, []
    for i, (name, positions) in enumerate(plans.items()):
        study, series = uid("rspect-study", name), uid("rspect-series", name)
        slices = write_ct_series(train / study / series, template, positions, study=study, series=series,
                                 orientation=tilted if name == "oblique" else AXIAL, seed=i)
        series_info[name] = (study, series, slices)
        if name == "unlisted":
            continue
        for k, s in enumerate(slices):
            if name == "good":
                rows.append(_rspect_row(study, series, s["sop"], int(k in (2, 3)), leftsided_pe=1, central_pe=1))
            elif name == "oblique":
                rows.append(_rspect_row(study, series, s["sop"], 0, negative_exam_for_pe=1))
            else:
                rows.append(_rspect_row(study, series, s["sop"], 0, indeterminate=1))
    nofolder_study, nofolder_series = uid("rspect-study", "nofolder"), uid("rspect-series", "nofolder")
    rows += [_rspect_row(nofolder_study, nofolder_series, uid("nofolder", str(k)), 0, negative_exam_for_pe=1) for k in range(3)]
    with open(Path(root) / "train.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RSPECT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return {
        "counts": {"discovered": 7, "written": 2, "quarantined": 4, "excluded": 1},
        "series": series_info,
        "labels": {
            "good": {"pe_study": 1, "pe_location": [1, 0, 1]},
            "oblique": {"pe_study": 0, "pe_location": [0, 0, 0]},
        },
    }


def write_large_rspect_corpus(root: str | os.PathLike, n_slices: int = 300, spacing: float = 1.0) -> dict[str, Any]:
    """An RSPECT layout with one 512 x 512 x n_slices CT series (for memory and speed measurements).

    Slices come from pydicom-data's real 512x512 CT slice (693_UNCI.dcm).

    Returns:
        counts and `volume_bytes`, the size of the int16 volume a conversion must hold.
    """
    template = pydicom_file("693_UNCI.dcm")
    study, series = uid("large-study", str(n_slices)), uid("large-series", str(n_slices))
    positions = [[-122.5, -112.4, 47.0 + k * spacing] for k in range(n_slices)]
    slices = write_ct_series(Path(root) / "train" / study / series, template, positions, study=study, series=series)
    with open(Path(root) / "train.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RSPECT_COLUMNS)
        writer.writeheader()
        writer.writerows(_rspect_row(study, series, s["sop"], 0, negative_exam_for_pe=1) for s in slices)
    return {"counts": {"discovered": 1, "written": 1, "quarantined": 0, "excluded": 0}, "volume_bytes": 512 * 512 * n_slices * 2}
