"""2D imaging corpora: CheXpert, MIMIC-CXR-JPG, VinDr-CXR, HAM10000, APTOS and CBIS-DDSM layouts.

Pixels are real: the chest radiograph that ships with pydicom-data (RG1, a MONOCHROME1 CR of a
thorax, and its JPEG 2000 version), scikit-image's bundled photographs and fundus image, and
DICOMs written with pydicom from those arrays (MONOCHROME1 and MONOCHROME2, uncompressed, RLE and
JPEG-LS). Images are small crops and flips so a corpus converts in seconds. Label sheets carry the
real column names. Each corpus also holds the awkward cases a real release has: a sheet row whose
file is missing, a file no sheet lists, a file that does not decode, a DICOM without pixel data.

Each writer returns what a correct conversion must find: per-sample expectations keyed by the raw
sample id, the sample ids that must be quarantined or excluded, and the expected split counts.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from climb.schemas.task_defs.imaging import CHEXPERT_FINDINGS, VINDR_GLOBAL, VINDR_LOCAL

RG1 = "RG1_UNCI.dcm"
RG1_J2K = "RG1_J2KI.dcm"
RG1_WINDOW = (15000.0, 30000.0)


# ------------------------------------------------------------------------------------ pixel sources


def chest_radiograph(factor: int = 4) -> np.ndarray:
    """pydicom-data's RG1 chest CR, stored values (uint16, 15 bits, MONOCHROME1), shrunk by `factor`."""
    import pydicom
    from pydicom.data import get_testdata_file

    stored = pydicom.dcmread(get_testdata_file(RG1)).pixel_array
    h, w = stored.shape
    return cv2.resize(stored, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def chest_display(factor: int = 4) -> np.ndarray:
    """The RG1 radiograph as an 8-bit MONOCHROME2 picture, as a JPG distribution would hold it."""
    from climb.transforms.image import dicom_to_image

    meta = {"PhotometricInterpretation": "MONOCHROME1", "BitsStored": 15,
            "WindowCenter": RG1_WINDOW[0], "WindowWidth": RG1_WINDOW[1]}
    return dicom_to_image(chest_radiograph(factor), meta)[0]


def variant(img: np.ndarray, index: int) -> np.ndarray:
    """A distinct view of an image: crop by index, flip every other one (distinct bytes per sample)."""
    h, w = img.shape[:2]
    dy, dx = (index * 7) % max(1, h // 8), (index * 11) % max(1, w // 8)
    out = img[dy:h - (h // 8 - dy), dx:w - (w // 8 - dx)]
    return np.ascontiguousarray(out[:, ::-1] if index % 2 else out)


def _hex_id(*parts: Any, length: int = 32) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:length]


def _write_image(path: Path, img: np.ndarray) -> None:
    """Write RGB or grayscale pixels as JPG/PNG by extension (OpenCV wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(path.suffix, data, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {path.name}")
    path.write_bytes(encoded.tobytes())


def _write_csv(path: Path, header: list[str], rows: Iterable[dict[str, Any]], gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in header})
    data = buf.getvalue().encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def write_dicom(
    path: Path,
    pixels: np.ndarray | None,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    modality: str = "DX",
    window: tuple[float, float] | None = None,
    spacing: tuple[float, float] | None = None,
    syntax: str = "1.2.840.10008.1.2.1",
    patient: str = "ANON",
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a single-frame DICOM image with pydicom (no pixel data when `pixels` is None).

    The UIDs derive from the file name so a corpus is byte-identical run to run. `syntax` is a
    transfer syntax UID; compressed ones (RLE, JPEG-LS lossless) are encoded by pydicom's plugins.
    A fake PatientName/PatientID stand in for the identifiers a real file carries, so tests can
    check that none reaches the output.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, UID, generate_uid

    sop_class = {"MG": "1.2.840.10008.5.1.4.1.1.1.2", "CR": "1.2.840.10008.5.1.4.1.1.1"}.get(
        modality, "1.2.840.10008.5.1.4.1.1.1.1")
    instance = generate_uid(entropy_srcs=[path.name, "sop"])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = instance
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, instance
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[patient, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[path.name, "series"])
    ds.PatientName, ds.PatientID = f"Doe^{patient}", patient
    ds.Modality = modality
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    if pixels is not None:
        color = pixels.ndim == 3
        ds.Rows, ds.Columns = pixels.shape[:2]
        ds.SamplesPerPixel = 3 if color else 1
        if color:
            ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = 8 * pixels.dtype.itemsize
        ds.BitsStored = bits_stored or ds.BitsAllocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = window
        if spacing is not None:
            ds.PixelSpacing = list(spacing)
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
        if UID(syntax) != ExplicitVRLittleEndian:
            ds.compress(UID(syntax), np.ascontiguousarray(pixels))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


# ------------------------------------------------------------------------------------------ CheXpert

CHEXPERT_META = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"]
_FINDING_VALUES = ("1.0", "0.0", "-1.0", "")


def _chexpert_values(index: int) -> dict[str, str]:
    """A spread of 1/0/-1/blank over the 14 findings, different for every image."""
    return {name: _FINDING_VALUES[(index + j * (index % 3 + 1)) % 4] for j, name in enumerate(CHEXPERT_FINDINGS)}


def write_chexpert_corpus(root: str | os.PathLike, *, patients: int = 6) -> dict[str, Any]:
    """Write a CheXpert-v1.0-small layout: train.csv, valid.csv, train/ and valid/ JPG trees.

    Train has `patients` patients with one or two studies (frontal + lateral for the first study);
    valid has two patients with one frontal each. Also: a train row whose JPG is missing, a JPG
    no sheet lists, and a listed "JPG" that is not an image.
    """
    root = Path(root)
    chest = chest_display()
    rows: dict[str, list[dict[str, str]]] = {"train": [], "valid": []}
    expected: dict[str, dict[str, Any]] = {}
    counter = 0

    def add(split: str, patient: str, study: int, view: int, lateral: bool, write: bool = True) -> str:
        nonlocal counter
        rel = f"{split}/{patient}/study{study}/view{view}_{'lateral' if lateral else 'frontal'}.jpg"
        values = _chexpert_values(counter)
        rows[split].append({"Path": f"CheXpert-v1.0-small/{rel}", "Sex": "Female" if counter % 2 else "Male",
                            "Age": str(40 + counter), "Frontal/Lateral": "Lateral" if lateral else "Frontal",
                            "AP/PA": "" if lateral else ("AP" if counter % 2 else "PA"), **values})
        if write:
            _write_image(root / rel, variant(chest, counter))
            expected[rel] = {"values": values, "split": "val" if split == "valid" else "train", "subject": patient}
        counter += 1
        return rel

    for p in range(1, patients + 1):
        patient = f"patient{p:05d}"
        add("train", patient, 1, 1, False)
        add("train", patient, 1, 2, True)
        if p % 2:
            add("train", patient, 2, 1, False)
    missing = add("train", f"patient{patients + 1:05d}", 1, 1, False, write=False)
    broken = add("train", f"patient{patients + 2:05d}", 1, 1, False, write=False)
    (root / broken).parent.mkdir(parents=True, exist_ok=True)
    (root / broken).write_bytes(b"this is not a JPG file")
    for p in range(64541, 64543):
        add("valid", f"patient{p:05d}", 1, 1, False)
    unlisted = f"train/patient{patients + 3:05d}/study1/view1_frontal.jpg"
    _write_image(root / unlisted, variant(chest, 99))
    header = CHEXPERT_META + list(CHEXPERT_FINDINGS)
    _write_csv(root / "train.csv", header, rows["train"])
    _write_csv(root / "valid.csv", header, rows["valid"])
    return {
        "root": str(root),
        "expected": expected,
        "quarantined": {missing: "missing", broken: "image"},
        "excluded": [unlisted],
        "splits": {"train": sum(1 for e in expected.values() if e["split"] == "train"),
                   "val": sum(1 for e in expected.values() if e["split"] == "val")},
    }


# -------------------------------------------------------------------------------------- MIMIC-CXR


def write_mimic_cxr_corpus(root: str | os.PathLike, *, subjects: int = 4) -> dict[str, Any]:
    """Write a MIMIC-CXR-JPG 2.0.0 layout: files/pXX/p<subject>/s<study>/<dicom_id>.jpg + gzipped sheets.

    Each subject has two studies of one or two images; subjects are split train/validate/test as
    in the official sheet (patient-disjoint). The last study has no CheXpert label row. Also: a
    split row whose JPG is missing and a JPG the split sheet does not list.
    """
    root = Path(root)
    chest = chest_display()
    official = ("train", "train", "validate", "test")
    split_rows, label_rows, meta_rows = [], [], []
    expected: dict[str, dict[str, Any]] = {}
    index = 0
    for s in range(subjects):
        subject = str(10000032 + s * 1111)
        for k in range(2):
            study = str(50414267 + s * 100 + k)
            unlabelled = s == subjects - 1 and k == 1
            values = _chexpert_values(index)
            if not unlabelled:
                label_rows.append({"subject_id": subject, "study_id": study, **values})
            for v in range(1 + (k == 0)):
                dicom_id = "-".join(_hex_id(subject, study, v, n, length=8) for n in range(5))
                split_rows.append({"dicom_id": dicom_id, "study_id": study, "subject_id": subject,
                                   "split": official[s % len(official)]})
                meta_rows.append({"dicom_id": dicom_id, "subject_id": subject, "study_id": study,
                                  "ViewPosition": "LATERAL" if v else "PA"})
                _write_image(root / f"files/p{subject[:2]}/p{subject}/s{study}/{dicom_id}.jpg", variant(chest, index))
                expected[dicom_id] = {"values": None if unlabelled else values, "subject": subject,
                                      "split": {"validate": "val"}.get(official[s % 4], official[s % 4])}
                index += 1
    missing = "-".join(_hex_id("missing", n, length=8) for n in range(5))
    split_rows.append({"dicom_id": missing, "study_id": "50414267", "subject_id": "10000032", "split": "train"})
    unlisted = f"files/p10/p10000032/s50414267/{_hex_id('unlisted', length=8)}.jpg"
    _write_image(root / unlisted, variant(chest, 77))
    _write_csv(root / "mimic-cxr-2.0.0-split.csv.gz", ["dicom_id", "study_id", "subject_id", "split"], split_rows, gz=True)
    _write_csv(root / "mimic-cxr-2.0.0-chexpert.csv.gz", ["subject_id", "study_id", *sorted(CHEXPERT_FINDINGS)],
               label_rows, gz=True)
    _write_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", ["dicom_id", "subject_id", "study_id", "ViewPosition"],
               meta_rows, gz=True)
    splits: dict[str, int] = {}
    for e in expected.values():
        splits[e["split"]] = splits.get(e["split"], 0) + 1
    return {"root": str(root), "expected": expected, "quarantined": {missing: "missing"}, "excluded": [unlisted],
            "splits": splits}


# -------------------------------------------------------------------------------------- VinDr-CXR

VINDR_COLUMNS = list(VINDR_LOCAL) + list(VINDR_GLOBAL)


def _vindr_votes(index: int, readers: int) -> list[dict[str, str]]:
    """Reader rows for one image: findings chosen per image, with one dissenting reader on some."""
    rows = []
    positives = set() if index % 4 == 3 else {VINDR_COLUMNS[(index * 5) % 22], VINDR_COLUMNS[22 + index % 5]}
    for r in range(readers):
        votes = {c: "1" if c in positives else "0" for c in VINDR_COLUMNS}
        if r == 0 and readers > 1:
            dissent = VINDR_COLUMNS[(index * 3 + 1) % 22]
            votes[dissent] = "1" if votes[dissent] == "0" else "0"
        if not any(v == "1" for c, v in votes.items() if c != "No finding"):
            votes["No finding"] = "1"
        rows.append(votes)
    return rows


def write_vindr_cxr_corpus(root: str | os.PathLike, *, train: int = 6, test: int = 2) -> dict[str, Any]:
    """Write a VinDr-CXR layout: train/ and test/ *.dicom + annotations/image_labels_{train,test}.csv.

    Train images have three reader rows each (one reader dissents on one finding), test images one
    consensus row, and the test sheet spells "Other disease" as the real one does. Pixels: the
    first train image is pydicom-data's real JPEG 2000 chest CR (MONOCHROME1); the others are
    DICOMs written from the same radiograph: MONOCHROME1 with its window, JPEG-LS and RLE
    compressed, and MONOCHROME2 inverted copies. Also: a DICOM without pixel data, a sheet row
    whose DICOM is missing, and a DICOM that no sheet lists.
    """
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

    root = Path(root)
    stored = chest_radiograph()
    expected: dict[str, dict[str, Any]] = {}
    sheets: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
    mono1_syntaxes = {"mono1": ExplicitVRLittleEndian, "jpeg-ls": JPEGLSLossless, "rle": RLELossless}
    kinds = (*mono1_syntaxes, "mono2")
    for split, count, readers in (("train", train, 3), ("test", test, 1)):
        for i in range(count):
            index = len(expected)
            image_id = _hex_id("vindr", split, i)
            path = root / split / f"{image_id}.dicom"
            kind = "real-j2k" if index == 0 else kinds[(index - 1) % len(kinds)]
            pixels = variant(stored, index)
            if kind == "real-j2k":
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(get_testdata_file(RG1_J2K), path)
            elif kind == "mono2":
                write_dicom(path, (32767 - pixels).astype(np.uint16), bits_stored=15, window=(17767.0, 30000.0),
                            spacing=(0.56, 0.56), patient=image_id)
            else:
                write_dicom(path, pixels, photometric="MONOCHROME1", bits_stored=15, window=RG1_WINDOW,
                            modality="CR", spacing=(0.56, 0.56), patient=image_id,
                            syntax=mono1_syntaxes[kind])
            votes = _vindr_votes(index, readers)
            for r, row in enumerate(votes):
                sheets[split].append({"image_id": image_id, "rad_id": f"R{8 + r}", **row})
            expected[f"{split}/{image_id}"] = {"votes": votes, "split": split, "file": f"{split}/{image_id}.dicom",
                                               "kind": kind, "index": index}
    no_pixels = _hex_id("vindr", "no-pixels")
    write_dicom(root / "train" / f"{no_pixels}.dicom", None, patient=no_pixels)
    missing = _hex_id("vindr", "missing")
    unlisted = _hex_id("vindr", "unlisted")
    write_dicom(root / "train" / f"{unlisted}.dicom", variant(stored, 50), photometric="MONOCHROME1", bits_stored=15)
    for image_id in (no_pixels, missing):
        for r, row in enumerate(_vindr_votes(0, 3)):
            sheets["train"].append({"image_id": image_id, "rad_id": f"R{8 + r}", **row})
    _write_csv(root / "annotations/image_labels_train.csv", ["image_id", "rad_id", *VINDR_COLUMNS], sheets["train"])
    test_columns = [("Other disease" if c == "Other diseases" else c) for c in VINDR_COLUMNS]
    _write_csv(root / "annotations/image_labels_test.csv", ["image_id", *test_columns],
               ({("Other disease" if k == "Other diseases" else k): v for k, v in row.items() if k != "rad_id"}
                for row in sheets["test"]))
    return {
        "root": str(root),
        "expected": expected,
        "quarantined": {f"train/{no_pixels}": "no pixel data", f"train/{missing}": "missing"},
        "excluded": [f"train/{unlisted}.dicom"],
        "splits": {"train": train, "test": test},
    }


# --------------------------------------------------------------------------------------- HAM10000

HAM_DX = ("nv", "mel", "bkl", "bcc", "akiec", "df", "vasc")


def _photographs() -> list[np.ndarray]:
    """scikit-image's bundled colour photographs (RGB uint8)."""
    from skimage import data

    return [data.chelsea(), data.coffee(), data.astronaut(), data.immunohistochemistry(), data.rocket()]


def write_ham10000_corpus(root: str | os.PathLike, *, lesions: int = 8) -> dict[str, Any]:
    """Write a HAM10000 layout: HAM10000_metadata.csv + HAM10000_images_part_{1,2}/ISIC_*.jpg.

    Lesions have one to three images (so lesion grouping matters), every dx code occurs, and one
    row carries a dx outside the label map (its label must be masked). Also: a row whose JPG is
    missing and a JPG the sheet does not list.
    """
    root = Path(root)
    photos = _photographs()
    rows, expected = [], {}
    number = 24306
    for lesion_index in range(lesions):
        lesion = f"HAM_{lesion_index * 37 + 118:07d}"
        dx = HAM_DX[lesion_index % len(HAM_DX)] if lesion_index < lesions - 1 else "unknown"
        for k in range(1 + lesion_index % 3):
            image_id = f"ISIC_{number:07d}"
            part = 1 if number % 2 else 2
            small = cv2.resize(photos[(lesion_index + k) % len(photos)], (120, 90), interpolation=cv2.INTER_AREA)
            _write_image(root / f"HAM10000_images_part_{part}/{image_id}.jpg", variant(small, number))
            rows.append({"lesion_id": lesion, "image_id": image_id, "dx": dx, "dx_type": "histo",
                         "age": f"{30 + 5 * lesion_index}.0", "sex": "male" if k % 2 else "female",
                         "localization": "back"})
            expected[image_id] = {"dx": dx, "lesion": lesion}
            number += 1
    missing = f"ISIC_{number:07d}"
    rows.append({"lesion_id": "HAM_0009999", "image_id": missing, "dx": "nv", "dx_type": "follow_up", "age": "",
                 "sex": "unknown", "localization": "unknown"})
    unlisted = f"ISIC_{number + 1:07d}"
    _write_image(root / f"HAM10000_images_part_2/{unlisted}.jpg", cv2.resize(photos[0], (120, 90)))
    _write_csv(root / "HAM10000_metadata.csv", ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"],
               rows)
    return {"root": str(root), "expected": expected, "quarantined": {missing: "no file"}, "excluded": [unlisted]}


# ------------------------------------------------------------------------------------------ APTOS


def write_aptos_corpus(root: str | os.PathLike, *, images: int = 10) -> dict[str, Any]:
    """Write an APTOS 2019 layout: train.csv (id_code, diagnosis) + train_images/*.png + test_images/.

    Pixels are scikit-image's fundus photograph (retina), shrunk, cropped and flipped per image;
    grades 0-4 all occur. Also: a row whose PNG is missing, a PNG train.csv does not list, and an
    unlabelled test_images/ PNG with its test.csv (not read by the source).
    """
    from skimage.data import retina

    root = Path(root)
    fundus = cv2.resize(retina(), (160, 160), interpolation=cv2.INTER_AREA)
    rows, expected = [], {}
    for i in range(images):
        id_code = _hex_id("aptos", i, length=12)
        _write_image(root / f"train_images/{id_code}.png", variant(fundus, i))
        rows.append({"id_code": id_code, "diagnosis": str(i % 5)})
        expected[id_code] = {"diagnosis": i % 5}
    missing = _hex_id("aptos", "missing", length=12)
    rows.append({"id_code": missing, "diagnosis": "2"})
    unlisted = _hex_id("aptos", "unlisted", length=12)
    _write_image(root / f"train_images/{unlisted}.png", variant(fundus, 42))
    test_id = _hex_id("aptos", "test", length=12)
    _write_image(root / f"test_images/{test_id}.png", variant(fundus, 43))
    _write_csv(root / "train.csv", ["id_code", "diagnosis"], rows)
    _write_csv(root / "test.csv", ["id_code"], [{"id_code": test_id}])
    return {"root": str(root), "expected": expected, "quarantined": {missing: "missing"}, "excluded": [unlisted]}


# -------------------------------------------------------------------------------------- CBIS-DDSM

CBIS_MASS_HEADER = ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
                    "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
                    "image file path", "cropped image file path", "ROI mask file path"]
CBIS_CALC_HEADER = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id",
                    "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
                    "image file path", "cropped image file path", "ROI mask file path"]
METADATA_HEADER = ["Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID",
                   "Study UID", "Study Description", "Study Date", "Series Description", "Manufacturer", "Modality",
                   "SOP Class Name", "SOP Class UID", "Number of Images", "File Size", "File Location",
                   "Download Timestamp"]

# (kind, split, patient, side, view, [(assessment, pathology), ...] per abnormality)
_CBIS_CASES = (
    ("Mass", "Training", "P_00001", "LEFT", "CC", [("4", "MALIGNANT")]),
    ("Mass", "Training", "P_00001", "LEFT", "MLO", [("3", "BENIGN"), ("4", "MALIGNANT")]),
    ("Mass", "Training", "P_00004", "RIGHT", "CC", [("0", "BENIGN_WITHOUT_CALLBACK")]),
    ("Calc", "Training", "P_00005", "RIGHT", "MLO", [("2", "BENIGN"), ("0", "BENIGN")]),
    ("Calc", "Test", "P_00038", "LEFT", "CC", [("5", "MALIGNANT")]),
    ("Mass", "Test", "P_00016", "LEFT", "MLO", [("3", "BENIGN")]),
)


def _mammogram(index: int) -> np.ndarray:
    """A tall 16-bit grayscale picture from scikit-image (camera, moon, coins), 12 bits stored."""
    from skimage import data

    base = (data.camera(), data.moon(), data.coins())[index % 3]
    tall = cv2.resize(base, (96, 160), interpolation=cv2.INTER_AREA).astype(np.uint16) * 16
    return variant(tall, index)


def write_cbis_ddsm_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Write a CBIS-DDSM layout as the NBIA Data Retriever leaves it, with the four case sheets.

    DICOM tree: CBIS-DDSM/<Subject ID>/<date>-DDSM-NA-<n>/1.000000-full mammogram images-<n>/1-1.dcm,
    plus an ROI-mask series (<Subject ID>_1/...) that must not become a sample; metadata.csv lists
    every series. Also: a case whose full mammogram has no pixel data, a case row whose Subject ID
    metadata.csv lacks (image missing), and a full mammogram no case sheet references.
    """
    root = Path(root)
    sheets: dict[str, list[dict[str, str]]] = {}
    metadata, expected = [], {}

    def series(subject: str, description: str, pixels: np.ndarray | None, files: int = 1) -> None:
        n = int(_hex_id(subject, description, length=5), 16) % 100000
        location = f"./CBIS-DDSM/{subject}/07-20-2016-DDSM-NA-{n:05d}/1.000000-{description}-{n:05d}"
        for f in range(files):
            write_dicom(root / location / f"1-{f + 1}.dcm", pixels, bits_stored=12, modality="MG",
                        patient=subject, extra={"BodyPartExamined": "BREAST"})
        metadata.append({"Series UID": f"1.3.6.1.4.1.9590.100.1.2.{n}", "Collection": "CBIS-DDSM",
                         "Subject ID": subject, "Study UID": f"1.3.6.1.4.1.9590.100.1.2.{n}1",
                         "Series Description": description, "Modality": "MG", "Number of Images": str(files),
                         "File Location": location})

    for index, (kind, split, patient, side, view, findings) in enumerate(_CBIS_CASES):
        subject = f"{kind}-{split}_{patient}_{side}_{view}"
        no_pixels = index == len(_CBIS_CASES) - 1
        series(subject, "full mammogram images", None if no_pixels else _mammogram(index))
        series(f"{subject}_1", "ROI mask images", (_mammogram(index) > 2000).astype(np.uint16) * 4095, files=2)
        sheet = f"{kind.lower()}_case_description_{'train' if split == 'Training' else 'test'}_set.csv"
        for k, (assessment, pathology) in enumerate(findings):
            sheets.setdefault(sheet, []).append({
                "patient_id": patient, "breast_density": "3", "breast density": "2", "left or right breast": side,
                "image view": view, "abnormality id": str(k + 1),
                "abnormality type": "mass" if kind == "Mass" else "calcification", "assessment": assessment,
                "pathology": pathology, "subtlety": "4",
                "image file path": f"{subject}/1.3.6.1.4.1.9590.100.1.2.{index}1/1.3.6.1.4.1.9590.100.1.2.{index}2/000000.dcm",
            })
        if not no_pixels:
            expected[subject] = {"patient": patient, "split": "train" if split == "Training" else "test",
                                 "findings": findings, "index": index}
    missing = "Mass-Test_P_00099_RIGHT_CC"
    sheets["mass_case_description_test_set.csv"].append({
        "patient_id": "P_00099", "breast_density": "1", "left or right breast": "RIGHT", "image view": "CC",
        "abnormality id": "1", "abnormality type": "mass", "assessment": "4", "pathology": "MALIGNANT",
        "image file path": f"{missing}/1.2/1.3/000000.dcm"})
    unlisted = "Calc-Training_P_00200_LEFT_MLO"
    series(unlisted, "full mammogram images", _mammogram(7))
    for sheet in ("mass_case_description_train_set.csv", "mass_case_description_test_set.csv",
                  "calc_case_description_train_set.csv", "calc_case_description_test_set.csv"):
        header = CBIS_MASS_HEADER if sheet.startswith("mass") else CBIS_CALC_HEADER
        _write_csv(root / sheet, header, sheets.get(sheet, []))
    _write_csv(root / "metadata.csv", METADATA_HEADER, metadata)
    no_pixel_subject = "{}-{}_{}_{}_{}".format(*_CBIS_CASES[-1][:5])
    return {
        "root": str(root),
        "expected": expected,
        "quarantined": {no_pixel_subject: "no pixel data", missing: "no full mammogram series"},
        "excluded": [unlisted],
    }
