"""Corpora for the spec sources: "a folder of files plus a label sheet", each in its real layout.

Pixels are real files that ship inside installed packages: pydicom-data's chest radiograph (RG1),
pydicom's CT_small and MR_small slices, pydicom-data's ultrasound cine (frames, and MP4 clips written
with OpenCV), and scikit-image's bundled fundus (retina), histology (immunohistochemistry) and
photographs (chelsea, coffee: stand-ins for skin photos, as scikit-image's skin image is not bundled).
Sheets carry the real column names and value spellings. Every corpus holds the awkward
cases its release has or could have: a row whose file is missing, a file no row lists, a file that
does not decode, a value the label map does not know, files that are not samples (masks).

Each writer returns what a correct conversion must find:
    expected     raw sample id (the file's path relative to the root) -> {"labels": {task: value},
                 "split": the official split or None, "group": the raw id that must keep one split}
    quarantined  message fragments, one per sample that must be quarantined
    excluded     reason fragments, one per sample that must be excluded
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from climb.corpora.imaging2d import _write_image, chest_display, chest_radiograph, variant, write_dicom
from climb.corpora.imaging3d import ct_small_hu, pydicom_file
from climb.corpora.video import cine_frames, write_video_file

MISSING = "no file matches"
UNLISTED = "not in label sheet"
BROKEN = "not a PNG/JPEG image"


# ------------------------------------------------------------------------------------ pixel sources


def _small(img: np.ndarray, width: int) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (width, max(8, round(h * width / w))), interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=None)
def _base(kind: str) -> np.ndarray:
    """One real picture per kind, shrunk once: chest, ct, ultrasound (grayscale); fundus, skin, histology, photo (RGB)."""
    from skimage import data

    if kind == "chest":
        return _small(chest_display(8), 96)
    if kind == "ct":
        hu = ct_small_hu()[0].astype(np.float32)
        return np.clip((hu - 0.0) / 80.0 * 255.0, 0, 255).astype(np.uint8)  # brain window 40/80
    if kind == "ultrasound":
        return cv2.cvtColor(cine_frames(10, 1, (72, 96))[0], cv2.COLOR_RGB2GRAY)
    if kind == "brain":
        import pydicom

        slice_ = pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array.astype(np.float32)
        return (255 * slice_ / slice_.max()).astype(np.uint8)
    picture = {"fundus": data.retina, "skin": data.chelsea, "histology": data.immunohistochemistry, "photo": data.coffee}[kind]()
    return _small(picture, 96)


def picture(kind: str, index: int) -> np.ndarray:
    """A distinct view (crop, flip) of the kind's real picture, so every sample has its own bytes."""
    return variant(_base(kind), index)


def _broken(path: Path) -> None:
    """A file with an image extension that holds no image (a truncated download)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n truncated")


def _csv(path: Path, header: list[str], rows: list[dict[str, Any]], delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})


def _result(root: Path, expected: dict, quarantined: list[str], excluded: list[str]) -> dict[str, Any]:
    return {"root": str(root), "expected": expected, "quarantined": quarantined, "excluded": excluded}


def _sample(labels: dict[str, Any], group: str, split: str | None = None) -> dict[str, Any]:
    return {"labels": labels, "split": split, "group": group}


# ------------------------------------------------------------------------------------ chest X-ray


def write_covid19_cxr_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """TrainData/ and ValData/ with Normal, BacterialPneumonia, ViralPneumonia, COVID-19 folders, and a stray class."""
    root = Path(root)
    classes = {"Normal": 0, "BacterialPneumonia": 1, "ViralPneumonia": 2, "COVID-19": 3, "Unsure": None}
    expected = {}
    for i, (folder, cls) in enumerate((f, c) for f in ("TrainData", "ValData") for c in classes):
        for k in range(2 if folder == "TrainData" else 1):
            rel = f"{folder}/{cls}/{cls.lower()}-{i}{k}.png"
            _write_image(root / rel, picture("chest", 3 * i + k))
            expected[rel] = _sample({"cxr_pneumonia": classes[cls]}, rel, "test" if folder == "ValData" else None)
    _broken(root / "TrainData/Normal/normal-broken.png")
    return _result(root, expected, [BROKEN], [])


def write_coronahack_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Chest_xray_Corona_Metadata.csv (Label, Label_1/2_Virus_category, Dataset_type) + nested train/ and test/."""
    root = Path(root)
    base = "Coronahack-Chest-XRay-Dataset/Coronahack-Chest-XRay-Dataset"
    cases = [("Normal", "", "", 0), ("Pnemonia", "bacteria", "", 1), ("Pnemonia", "bacteria", "Streptococcus", 1),
             ("Pnemonia", "Virus", "", 2), ("Pnemonia", "Virus", "COVID-19", 3), ("Pnemonia", "Stress-Smoking", "ARDS", None)]
    rows, expected = [], {}
    for i, (label, cat1, cat2, value) in enumerate(cases * 2):
        kind = "TEST" if i % 4 == 3 else "TRAIN"
        name = f"person{i}_{cat1 or 'normal'}_{i}.jpeg"
        rel = f"{base}/{kind.lower()}/{name}"
        _write_image(root / rel, picture("chest", i))
        rows.append({"": str(i), "X_ray_image_name": name, "Label": label, "Dataset_type": kind,
                     "Label_2_Virus_category": cat2, "Label_1_Virus_category": cat1})
        expected[rel] = _sample({"cxr_pneumonia": value}, rel, "test" if kind == "TEST" else None)
    rows.append({"": "99", "X_ray_image_name": "person99_virus_99.jpeg", "Label": "Pnemonia", "Dataset_type": "TRAIN",
                 "Label_1_Virus_category": "Virus"})
    _write_image(root / f"{base}/train/unlisted.jpeg", picture("chest", 40))
    _csv(root / "Chest_xray_Corona_Metadata.csv",
         ["", "X_ray_image_name", "Label", "Dataset_type", "Label_2_Virus_category", "Label_1_Virus_category"], rows)
    return _result(root, expected, [MISSING], [UNLISTED])


def write_brixia_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """dicom_clean/<Filename>.dcm (MONOCHROME1 CRs) + ';'-separated metadata_global_v2.csv; subjects with several studies."""
    root = Path(root)
    header = ["Filename", "StudyDate", "Sex", "AgeAtStudyDateFiveYear", "Manufacturer", "ManufacturerModelName",
              "PhotometricInterpretation", "Modality", "ConsensusTestset", "Subject", "Study", "BrixiaScore",
              "BrixiaScoreGlobal"]
    stored = _small(chest_radiograph(8), 96)
    rows, expected = [], {}
    for i in range(9):
        subject, test = f"{1000 + i // 2}", i in (4, 5)
        name = f"{7000000 + i * 13}.dcm"
        write_dicom(root / "dicom_clean" / name, variant(stored, i), photometric="MONOCHROME1", bits_stored=15,
                    modality="CR", patient=f"BRX{subject}")
        score = ["7", "0", "18", "12", "3", "", "25", "9", "11"][i]
        rows.append({"Filename": name, "StudyDate": "20200312", "Sex": "M", "AgeAtStudyDateFiveYear": "60",
                     "ConsensusTestset": "1" if test else "0", "Subject": subject, "Study": str(i),
                     "BrixiaScore": "012201", "BrixiaScoreGlobal": score, "Modality": "CR"})
        value = float(score) if score and 0 <= float(score) <= 18 else None
        expected[f"dicom_clean/{name}"] = _sample({"brixia_score": value}, subject, "test" if test else None)
    rows.append({"Filename": "7999999.dcm", "ConsensusTestset": "0", "Subject": "1099", "BrixiaScoreGlobal": "4"})
    _csv(root / "metadata_global_v2.csv", header, rows, delimiter=";")
    return _result(root, expected, [MISSING], [])


NIH_COLUMNS = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
               "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]"]


def write_chestx_ray8_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """images_00N/images/*.png + Data_Entry_2017.csv + test_list.txt (patient-disjoint), follow-ups per patient."""
    root = Path(root)
    findings = ["No Finding", "Atelectasis|Effusion", "Cardiomegaly", "Infiltration|Mass|Nodule", "Pneumonia",
                "Hernia", "Pleural_Thickening|Fibrosis", "Effusion|Fibrosi"]
    from climb.schemas.task_defs.folder_sets import NIH_FINDINGS

    rows, expected, test_list = [], {}, []
    for i, labels in enumerate(findings):
        patient = f"{i // 2 + 1:08d}"
        name = f"{patient}_{i % 2:03d}.png"
        rel = f"images_{1 + i // 4:03d}/images/{name}"
        _write_image(root / rel, picture("chest", i))
        rows.append({"Image Index": name, "Finding Labels": labels, "Follow-up #": str(i % 2), "Patient ID": str(int(patient)),
                     "Patient Age": "58", "Patient Gender": "M", "View Position": "PA"})
        test = patient == "00000002"
        if test:
            test_list.append(name)
        codes = labels.split("|")  # "Fibrosi" is a misspelling no map knows: masked alone, ignored beside a finding
        vector = [1 if c in codes else 0 for c in NIH_FINDINGS] if any(c in NIH_FINDINGS for c in codes) else None
        expected[rel] = _sample({"nih_cxr_findings": vector}, str(int(patient)), "test" if test else None)
    (root / "test_list.txt").write_text("".join(f"{n}\n" for n in test_list))
    _broken(root / "images_001/images/00000009_000.png")
    rows.append({"Image Index": "00000009_000.png", "Finding Labels": "Edema", "Patient ID": "9"})
    _csv(root / "Data_Entry_2017.csv", NIH_COLUMNS, rows)
    return _result(root, expected, [BROKEN], [])


# ------------------------------------------------------------------------------------ skin, eye


ISIC2019_CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
SKIN = {"MEL": 0, "NV": 1, "BCC": 2, "AKIEC": 3, "OTHER": 4}


def write_isic2019_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """ISIC_2019_Training_Input/*.jpg + GroundTruth (one-hot) + Metadata (lesion_id, sometimes blank)."""
    root = Path(root)
    to_skin = {"MEL": "MEL", "NV": "NV", "BCC": "BCC", "AK": "AKIEC", "SCC": "AKIEC", "BKL": "OTHER", "DF": "OTHER", "VASC": "OTHER"}
    truth, meta, expected = [], [], {}
    for i, cls in enumerate(ISIC2019_CLASSES + ["NV", "MEL"]):
        image = f"ISIC_{i:07d}"
        lesion = f"BCN_{i // 3:07d}" if i < 9 else ""
        rel = f"ISIC_2019_Training_Input/{image}.jpg"
        _write_image(root / rel, picture("skin", i))
        truth.append({"image": image, **{c: "1.0" if c == cls else "0.0" for c in ISIC2019_CLASSES}})
        meta.append({"image": image, "age_approx": "55.0", "anatom_site_general": "anterior torso", "lesion_id": lesion, "sex": "male"})
        expected[rel] = _sample({"skin_lesion": SKIN.get(to_skin.get(cls, ""))}, lesion or rel)
    truth.append({"image": "ISIC_0000099", **{c: "1.0" if c == "NV" else "0.0" for c in ISIC2019_CLASSES}})
    _write_image(root / "ISIC_2019_Training_Input/ISIC_0000100.jpg", picture("skin", 50))
    _csv(root / "ISIC_2019_Training_GroundTruth.csv", ["image", *ISIC2019_CLASSES], truth)
    _csv(root / "ISIC_2019_Training_Metadata.csv", ["image", "age_approx", "anatom_site_general", "lesion_id", "sex"], meta)
    return _result(root, expected, [MISSING], [UNLISTED])


def write_isic2020_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """train/*.jpg + ISIC_2020_Training_GroundTruth.csv; patients with several lesions and images."""
    root = Path(root)
    header = ["image_name", "patient_id", "lesion_id", "sex", "age_approx", "anatom_site_general_challenge",
              "diagnosis", "benign_malignant", "target"]
    diagnoses = [("nevus", None, "NV"), ("melanoma", 1, "MEL"), ("seborrheic keratosis", 0, "OTHER"),
                 ("unknown", 0, None), ("lentigo NOS", 0, "OTHER"), ("cafe-au-lait macule", 0, None), ("nevus", 0, "NV")]
    rows, expected = [], {}
    for i, (dx, target, cls) in enumerate(diagnoses):
        image, patient = f"ISIC_{2637011 + i}", f"IP_{7279968 + i // 3}"
        rel = f"train/{image}.jpg"
        _write_image(root / rel, picture("skin", i))
        rows.append({"image_name": image, "patient_id": patient, "lesion_id": f"IL_{i // 2}", "sex": "male",
                     "age_approx": "45.0", "anatom_site_general_challenge": "torso", "diagnosis": dx,
                     "benign_malignant": "malignant" if target else "benign", "target": "" if target is None else str(target)})
        expected[rel] = _sample({"skin_malignancy": target, "skin_lesion": SKIN.get(cls)}, patient)
    _broken(root / "train/ISIC_2637099.jpg")
    rows.append({"image_name": "ISIC_2637099", "patient_id": "IP_7279999", "diagnosis": "nevus", "target": "0"})
    _csv(root / "ISIC_2020_Training_GroundTruth.csv", header, rows)
    return _result(root, expected, [BROKEN], [])


def write_pad_ufes_20_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """images/imgs_part_N/PAT_<patient>_<lesion>_<n>.png + metadata.csv (diagnostic ACK/BCC/MEL/NEV/SCC/SEK)."""
    root = Path(root)
    header = ["patient_id", "lesion_id", "smoke", "drink", "age", "gender", "region", "diagnostic", "biopsed", "img_id"]
    mapping = {"ACK": "AKIEC", "SCC": "AKIEC", "SEK": "OTHER", "NEV": "NV", "BCC": "BCC", "MEL": "MEL"}
    rows, expected = [], {}
    for i, dx in enumerate(["ACK", "BCC", "MEL", "NEV", "SCC", "SEK", "BCC", "XYZ"]):
        patient, lesion = f"PAT_{1516 + i // 3}", 1765 + i // 2
        name = f"{patient}_{lesion}_{530 + i}.png"
        rel = f"images/imgs_part_{1 + i % 2}/{name}"
        _write_image(root / rel, picture("photo", i))
        rows.append({"patient_id": patient, "lesion_id": str(lesion), "age": "8", "region": "ARM", "diagnostic": dx,
                     "biopsed": "True", "img_id": name})
        expected[rel] = _sample({"skin_lesion": SKIN.get(mapping.get(dx, ""))}, patient)
    rows.append({"patient_id": "PAT_9", "lesion_id": "9", "diagnostic": "NEV", "img_id": "PAT_9_9_9.png"})
    _write_image(root / "images/imgs_part_1/PAT_8_8_8.png", picture("photo", 30))
    _csv(root / "metadata.csv", header, rows)
    return _result(root, expected, [MISSING], [UNLISTED])


def write_messidor_2_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """IMAGES/* (PNG and JPG) + messidor_data.csv; an ungradable image has blank grades."""
    root = Path(root)
    rows, expected = [], {}
    for i, (dr, dme) in enumerate([("0", "0"), ("1", "0"), ("2", "1"), ("3", "1"), ("4", "0"), ("", ""), ("2.0", "0.0")]):
        name = f"20051020_{43808 + i}_0100_PP.png" if i % 2 else f"IM{2385 + i:06d}.JPG"
        rel = f"IMAGES/{name}"
        _write_image(root / rel, picture("fundus", i))
        rows.append({"image_id": name, "adjudicated_dr_grade": dr, "adjudicated_dme": dme,
                     "adjudicated_gradable": "0" if dr == "" else "1"})
        expected[rel] = _sample({"dr_grade": int(float(dr)) if dr else None, "dme": int(float(dme)) if dme else None}, rel)
    rows.append({"image_id": "IM009999.JPG", "adjudicated_dr_grade": "0", "adjudicated_dme": "0", "adjudicated_gradable": "1"})
    _csv(root / "messidor_data.csv", ["image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable"], rows)
    return _result(root, expected, [MISSING], [])


def write_jichi_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """images/*.jpg + list.csv (Image, Davis_grading_of_concatenated_figures, Davis_grading_of_one_figure)."""
    root = Path(root)
    rows, expected = [], {}
    for i, grade in enumerate(["ndr", "sdr", "ppdr", "pdr", "ndr", "SDR", "unknown"]):
        name = f"{i + 1}.jpg"
        rel = f"images/{name}"
        _write_image(root / rel, picture("fundus", i))
        rows.append({"Image": name, "Davis_grading_of_concatenated_figures": grade, "Davis_grading_of_one_figure": grade})
        expected[rel] = _sample({"dr_davis": {"ndr": 0, "sdr": 1, "ppdr": 2, "pdr": 3}.get(grade.lower())}, rel)
    _write_image(root / "images/99.jpg", picture("fundus", 30))
    _csv(root / "list.csv", ["Image", "Davis_grading_of_concatenated_figures", "Davis_grading_of_one_figure"], rows)
    return _result(root, expected, [], [UNLISTED])


# ------------------------------------------------------------------------------------ ultrasound


def write_busi_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Dataset_BUSI_with_GT/{normal,benign,malignant}/<class> (n).png with _mask.png / _mask_1.png beside them."""
    root = Path(root)
    expected = {}
    for c, cls in enumerate(("normal", "benign", "malignant")):
        for n in range(1, 3):
            rel = f"Dataset_BUSI_with_GT/{cls}/{cls} ({n}).png"
            img = picture("ultrasound", 3 * c + n)
            _write_image(root / rel, img)
            _write_image(root / f"Dataset_BUSI_with_GT/{cls}/{cls} ({n})_mask.png", (img > 128).astype(np.uint8) * 255)
            expected[rel] = _sample({"breast_us_finding": c}, rel)
    _write_image(root / "Dataset_BUSI_with_GT/benign/benign (2)_mask_1.png", np.zeros((8, 8), np.uint8))
    return _result(root, expected, [], [])


def _clip(path: Path, start: int) -> None:
    write_video_file(path, cine_frames(start, 6, (48, 64)), 30.0)


def write_covid_blues_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """lus_videos/<site>_<patient>_<zone>.mp4, several clips per patient + clinical_variables.csv (per patient)."""
    root = Path(root)
    expected = {}
    rows = [{"patient_id": str(p), "cov_test": str(t), "pat_age": "60"} for p, t in ((3, 1), (7, 0), (12, 1), (15, 0))]
    rows.append({"patient_id": "20", "cov_test": "", "pat_age": "70"})  # a patient without clips
    for i, (patient, test) in enumerate([(3, 1), (3, 1), (7, 0), (12, 1), (12, 1), (15, 0)]):
        rel = f"lus_videos/lus_{patient}_zone{i}.mp4"
        _clip(root / rel, 4 * i)
        expected[rel] = _sample({"covid_test": test}, str(patient))
    _clip(root / "lus_videos/lus_99_zone1.mp4", 40)
    _csv(root / "clinical_variables.csv", ["patient_id", "cov_test", "pat_age"], rows)
    return _result(root, expected, [], [UNLISTED])


def write_covid_us_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """videos/<id>_<source>_<label>.mp4 with covid, pneumonia, normal and other clips, and a broken one."""
    root = Path(root)
    expected = {}
    for i, (source, label) in enumerate([("grepmed", "covid"), ("butterfly", "pneumonia"), ("litfl", "normal"),
                                         ("pocusatlas", "covid"), ("grep_med", "normal")]):
        rel = f"videos/{i + 1}_{source}_{label}.mp4"
        _clip(root / rel, 5 * i)
        expected[rel] = _sample({"lung_us_finding": ("covid", "pneumonia", "normal").index(label)}, rel)
    _clip(root / "videos/9_butterfly_other.mp4", 30)
    (root / "videos/10_litfl_covid.mp4").write_bytes(b"not a video")
    return _result(root, expected, ["OpenCV"], ["'other' is excluded"])


# ------------------------------------------------------------------------------------ CT / MRI / histology


ICH_COLUMNS = ["PatientNumber", "SliceNumber", "Intraventricular", "Intraparenchymal", "Subarachnoid", "Epidural",
               "Subdural", "No_Hemorrhage", "Fracture_Yes_No"]


def write_ct_ich_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Patients_CT/NNN/{brain,bone}/<slice>.jpg (+ *_HGE_Seg.jpg masks) + hemorrhage_diagnosis.csv (unpadded numbers)."""
    root = Path(root)
    rows, expected = [], {}
    for i, (patient, slice_, subtypes, fracture) in enumerate([
        (49, 1, (), 0), (49, 2, ("Intraparenchymal",), 1), (50, 1, ("Subdural", "Epidural"), 0),
        (50, 2, (), 0), (66, 1, ("Intraventricular",), 0), (71, 3, ("Subarachnoid",), 1),
    ]):
        folder = root / f"Patients_CT/{patient:03d}"
        _write_image(folder / f"brain/{slice_}.jpg", picture("ct", i))
        _write_image(folder / f"bone/{slice_}.jpg", picture("ct", i + 20))
        row = {"PatientNumber": str(patient), "SliceNumber": str(slice_), "Fracture_Yes_No": str(fracture),
               "No_Hemorrhage": "0" if subtypes else "1", **{c: "1" if c in subtypes else "0" for c in ICH_COLUMNS[2:7]}}
        rows.append(row)
        expected[f"Patients_CT/{patient:03d}/brain/{slice_}.jpg"] = _sample({
            "intracranial_hemorrhage": 1 if subtypes else 0,
            "ich_subtypes": [1 if c in subtypes else 0 for c in ICH_COLUMNS[2:7]],
            "skull_fracture": fracture,
        }, str(patient))
    _write_image(root / "Patients_CT/049/brain/2_HGE_Seg.jpg", np.zeros((16, 16), np.uint8))
    rows.append({"PatientNumber": "71", "SliceNumber": "9", "No_Hemorrhage": "1", "Fracture_Yes_No": "0"})
    _csv(root / "hemorrhage_diagnosis.csv", ICH_COLUMNS, rows)
    return _result(root, expected, [MISSING], [])


def write_brain_tumor_mri_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """Training/ and Testing/ with glioma, meningioma, notumor, pituitary (and an old-style pituitary_tumor folder)."""
    root = Path(root)
    kinds = {"glioma": (0, 1), "meningioma": (1, 1), "pituitary_tumor": (2, 1), "notumor": (3, 0)}
    expected = {}
    for i, (split, cls) in enumerate((s, c) for s in ("Training", "Testing") for c in kinds):
        rel = f"{split}/{cls}/Tr-{cls[:2]}_{i:04d}.jpg"
        _write_image(root / rel, picture("brain", i))
        kind, present = kinds[cls]
        expected[rel] = _sample({"brain_tumor_type": kind, "brain_tumor_present": present}, rel,
                                "test" if split == "Testing" else None)
    _broken(root / "Training/glioma/Tr-gl_broken.jpg")
    return _result(root, expected, [BROKEN], [])


def write_brain_mri_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """yes/ and no/ folders of brain MRI slices (JPG and PNG, as the release mixes them)."""
    root = Path(root)
    expected = {}
    for i in range(8):
        folder = "yes" if i % 2 else "no"
        rel = f"{folder}/{'Y' if i % 2 else 'N'}{i}.{'jpg' if i % 3 else 'png'}"
        _write_image(root / rel, picture("brain", i))
        expected[rel] = _sample({"brain_tumor_present": i % 2}, rel)
    return _result(root, expected, [], [])


def write_lc25000_corpus(root: str | os.PathLike) -> dict[str, Any]:
    """lung_colon_image_set/{lung,colon}_image_sets/<class>/<class><n>.jpeg, two tiles per class."""
    root = Path(root)
    classes = ["lung_aca", "lung_n", "lung_scc", "colon_aca", "colon_n"]
    expected = {}
    for c, cls in enumerate(classes):
        for n in range(1, 3):
            rel = f"lung_colon_image_set/{cls.split('_')[0]}_image_sets/{cls}/{cls.replace('_', '')}{n}.jpeg"
            _write_image(root / rel, picture("histology", 2 * c + n))
            expected[rel] = _sample({"histology_lung_colon": c}, rel)
    return _result(root, expected, [], [])


WRITERS: dict[str, Callable[[str | os.PathLike], dict[str, Any]]] = {
    "covid19-cxr": write_covid19_cxr_corpus,
    "coronahack": write_coronahack_corpus,
    "brixia": write_brixia_corpus,
    "chestx-ray8": write_chestx_ray8_corpus,
    "isic2019": write_isic2019_corpus,
    "isic2020": write_isic2020_corpus,
    "pad-ufes-20": write_pad_ufes_20_corpus,
    "messidor-2": write_messidor_2_corpus,
    "jichi": write_jichi_corpus,
    "busi": write_busi_corpus,
    "covid-blues": write_covid_blues_corpus,
    "covid-us": write_covid_us_corpus,
    "ct-ich": write_ct_ich_corpus,
    "brain-tumor-mri": write_brain_tumor_mri_corpus,
    "brain-mri": write_brain_mri_corpus,
    "lc25000": write_lc25000_corpus,
}
