"""A MIMIC-IV-shaped multimodal corpus: hosp tables, notes, MIMIC-CXR-JPG images, MIMIC-IV-ECG records.

Tables and columns carry the real MIMIC-IV names (hosp/patients, admissions, labevents, d_labitems,
diagnoses_icd as .csv.gz; note/discharge and note/radiology; cxr/ with the MIMIC-CXR-JPG record list,
metadata and files/pXX/p<subject>/s<study>/<dicom_id>.jpg; ecg/ with MIMIC-IV-ECG's record_list.csv
and WFDB records files/pNNNN/p<subject>/s<study>/<study>.{hea,dat}). Dates are in MIMIC's shifted
years (2100-2200).

Every subject has several admissions (one has six), so a split by admission would leak patients.
Identifiers are PLANTED wherever a real extract could leak them, to prove a conversion never writes
them: extra identifier columns in patients.csv.gz (name, mrn, dob, phone, address, as a local
extract might carry), free-text lab comments, the notes themselves (beside MIMIC's ``___``
placeholders), WFDB header comments and the JPEG comment segment. `planted_identifiers()` lists
them. Boundary lab events sit exactly at the window edges and one second outside them.

ECG waveforms come from pydicom's real 12-lead test ECG (1000 Hz, uV), decimated to MIMIC-IV-ECG's
500 Hz / 10 s in mV and written in its lead order (aVF before aVL); each record has its own ADC gain,
so its values identify it. CXR pixels come from
scikit-image's bundled camera image.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

LAB_ITEMS = {  # itemid: (label, fluid, category, unit, typical value)
    50912: ("Creatinine", "Blood", "Chemistry", "mg/dL", 1.1),
    50971: ("Potassium", "Blood", "Chemistry", "mEq/L", 4.2),
    50983: ("Sodium", "Blood", "Chemistry", "mEq/L", 139.0),
    51222: ("Hemoglobin", "Blood", "Hematology", "g/dL", 12.5),
    51301: ("White Blood Cells", "Blood", "Hematology", "K/uL", 8.0),
    50813: ("Lactate", "Blood", "Blood Gas", "mmol/L", 1.6),
    51237: ("INR(PT)", "Blood", "Hematology", None, 1.1),
}
MIMIC_ECG_LEADS = ("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")
ADMISSIONS_PER_SUBJECT = (1, 6, 2, 3, 1, 4, 2, 5, 1, 3)
FIRST_NAMES = ("Ottoline", "Cassius", "Perpetua", "Thaddeus", "Wilhelmina", "Barnaby", "Griselda", "Ignatius", "Philippa", "Leopold")
LAST_NAMES = ("Brackwater", "Fennimore", "Quillfeather", "Ashgrove", "Pendleworth", "Marchbanks", "Thistlewood", "Ravensong", "Holloway", "Druscombe")
STREETS = ("Larkspur Lane", "Juniper Court", "Hawthorn Road", "Wexford Street", "Bramble Way")
ADMISSION_TYPES = ("EW EMER.", "URGENT", "ELECTIVE", "OBSERVATION ADMIT", "DIRECT EMER.")
ICD_CODES = (("4280", 9), ("I509", 10), ("5849", 9), ("N179", 10), ("J189", 10), ("E119", 10), ("V4581", 9), ("Z87891", 10), ("41401", 9))


@dataclass
class Patient:
    subject_id: int
    name: str
    mrn: str
    dob: str
    phone: str
    address: str
    gender: str
    anchor_age: int
    anchor_year: int
    admissions: list[dict[str, Any]] = field(default_factory=list)


def planted_identifiers(patients: list[Patient]) -> list[str]:
    """Every planted identifier string, in the forms it was planted (and its parts)."""
    out: list[str] = []
    for p in patients:
        first, last = p.name.split()
        dob = datetime.strptime(p.dob, "%Y-%m-%d")
        out += [p.name, first, last, p.mrn, p.dob, dob.strftime("%m/%d/%Y"), p.phone, p.address, p.address.split(",")[0]]
    return out


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _write_csv_gz(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    data = text.getvalue().encode("utf-8")
    if path.suffix == ".gz":
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _jpeg_with_comment(pixels: np.ndarray, comment: str) -> bytes:
    """A baseline JPEG whose COM segment carries `comment` (right after the SOI marker)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    data = buf.tobytes()
    payload = comment.encode("latin-1")
    segment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + segment + data[2:]


def _ecg_source() -> np.ndarray:
    """pydicom's real 12-lead ECG as [T, 12] mV at 500 Hz in MIMIC-IV-ECG's lead order."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    standard = ds.waveform_array(0)[::2] / 1000.0  # 1000 Hz uV -> 500 Hz mV, 5000 samples, I..V6
    return standard[:, [0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11]]  # MIMIC order: aVF before aVL


class _WfdbWriter:
    """Writes MIMIC-IV-ECG records fast: wfdb.wrsamp (about 0.15 s a record) runs once for a template
    in a temporary folder; every record then shares the template's .dat bytes and gets its own
    header, whose ADC gain makes its physical values distinct (mV = digital / gain), with its own
    date, time and comments."""

    def __init__(self):
        import tempfile

        import wfdb

        self.gain = 200.0
        with tempfile.TemporaryDirectory(prefix="climb-ecg-") as tmp:
            wfdb.wrsamp("template", fs=500, units=["mV"] * 12, sig_name=list(MIMIC_ECG_LEADS), p_signal=_ecg_source(),
                        fmt=["16"] * 12, adc_gain=[self.gain] * 12, baseline=[0] * 12, write_dir=tmp)
            self.dat = (Path(tmp) / "template.dat").read_bytes()
            lines = (Path(tmp) / "template.hea").read_text().splitlines()
        self.signal_lines = [line for line in lines[1:] if line and not line.startswith("#")]
        self.samples = len(self.dat) // (2 * 12)

    def write(self, folder: Path, name: str, when: datetime, gain: float, comments: list[str]) -> None:
        """Write <folder>/<name>.{hea,dat}."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.dat").write_bytes(self.dat)
        head = f"{name} 12 500 {self.samples} {when:%H:%M:%S} {when:%d/%m/%Y}"
        signals = [line.replace("template.dat", f"{name}.dat").replace(f"{self.gain}(0)/mV", f"{gain}(0)/mV") for line in self.signal_lines]
        (folder / f"{name}.hea").write_text("\n".join([head, *signals, *(f"# {c}" for c in comments)]) + "\n")


def _discharge_note(p: Patient, adm: dict[str, Any]) -> str:
    admit, disch = adm["admittime"], adm["dischtime"]
    return (
        " \nName:  ___                     Unit No:   ___\n \n"
        "Admission Date:  ___              Discharge Date:   ___\n \n"
        "Date of Birth:  ___             Sex:   " + p.gender + "\n \n"
        f"Patient {p.name} (MRN {p.mrn}, DOB {datetime.strptime(p.dob, '%Y-%m-%d'):%m/%d/%Y}) was admitted on "
        f"{admit:%Y-%m-%d} with shortness of breath.\n"
        f"Lives at {p.address}; daughter reachable at {p.phone}.\n"
        "Brief Hospital Course: diuresed, creatinine peaked at 1.9, improved.\n"
        f"Discharged {disch:%B %d, %Y} to home with services. Follow up with Dr. ___ in 2 weeks.\n"
    )


def _radiology_note(p: Patient, when: datetime) -> str:
    return (
        "EXAMINATION:  CHEST (PA AND LAT)\n \n"
        "INDICATION:  ___ year old woman with cough  // eval for pneumonia\n \n"
        f"COMPARISON:  {when - timedelta(days=30):%m/%d/%Y}\n \n"
        "FINDINGS:  Mild pulmonary vascular congestion. No focal consolidation.\n \n"
        f"IMPRESSION:  Mild congestion. Findings discussed with {p.name} by phone {p.phone} "
        f"at {when:%H:%M} on {when:%Y-%m-%d}.\n"
    )


class _Corpus:
    """Accumulates the rows of every table while admissions are made up, then writes them."""

    def __init__(self, root: Path, seed: int):
        import skimage.data

        self.root = root
        self.rng = np.random.default_rng(seed)
        self.ecg_writer = _WfdbWriter()
        self.camera = skimage.data.camera()
        self.rows: dict[str, list[list[Any]]] = defaultdict(list)
        self.hadm, self.cxr_study, self.ecg_study, self.labevent_id, self.note_seq = 20000000, 50000000, 40000000, 1, 1
        self.boundary: dict[str, Any] = {}
        self.missing_cxr: int | None = None

    def lab(self, subject: int, hadm: int | None, itemid: int, t: datetime, value: float, priority: str, comment: str | None) -> None:
        self.rows["labevents"].append([self.labevent_id, subject, hadm, 100000 + self.labevent_id, itemid, None, _time(t), _time(t),
                                       f"{value}", value, LAB_ITEMS[itemid][3], None, None, None, priority, comment])
        self.labevent_id += 1

    def labs(self, p: Patient, adm: dict[str, Any], skip: tuple[int, ...]) -> None:
        """Per item: one before the 24 h lookback, one inside it, two in the stay before 48 h, one after."""
        for itemid, (_, _, _, _, typical) in LAB_ITEMS.items():
            if itemid in skip:
                continue
            for offset_h in (-30, -2, 6, 40, 50):
                t = adm["admittime"] + timedelta(hours=offset_h, minutes=int(self.rng.integers(0, 50)))
                value = round(typical * float(self.rng.uniform(0.7, 1.3)), 2)
                comment = f"Called to {p.name} at {p.phone}" if offset_h == 6 else None
                self.lab(p.subject_id, adm["hadm_id"] if offset_h > 0 else None, itemid, t, value, "ROUTINE", comment)

    def boundary_labs(self, p: Patient, adm: dict[str, Any]) -> None:
        """Events at the window edges and one second outside them (lookback 24 h, index 48 h)."""
        index, start = adm["admittime"] + timedelta(hours=48), adm["admittime"] - timedelta(hours=24)
        for itemid, t, value in ((50813, start - timedelta(seconds=1), 9.1), (51237, start, 1.3),
                                 (50971, index, 4.4), (50971, index + timedelta(seconds=1), 9.9)):
            self.lab(p.subject_id, adm["hadm_id"], itemid, t, value, "STAT", None)
        self.boundary = {"hadm_id": adm["hadm_id"], "subject_id": p.subject_id, "items": {50813: None, 51237: 1.3, 50971: 4.4, 51301: None}}

    def notes(self, p: Patient, adm: dict[str, Any]) -> None:
        """A radiology report signed 2 h after its +5 h study; a discharge summary charted at the
        discharge day's midnight and signed 3 h after discharge."""
        subject, hadm = p.subject_id, adm["hadm_id"]
        rad = adm["admittime"] + timedelta(hours=5)
        self.rows["radiology"].append([f"{subject}-RR-{self.note_seq}", subject, hadm, "RR", self.note_seq, _time(rad),
                                       _time(rad + timedelta(hours=2)), _radiology_note(p, rad)])
        disch = adm["dischtime"]
        self.rows["discharge"].append([f"{subject}-DS-{self.note_seq + 1}", subject, hadm, "DS", self.note_seq + 1,
                                       _time(disch.replace(hour=0, minute=0, second=0)), _time(disch + timedelta(hours=3)), _discharge_note(p, adm)])
        self.note_seq += 2

    def cxr_studies(self, p: Patient, adm: dict[str, Any], a: int, lose_pa: bool) -> None:
        """Studies at +5 h (PA + lateral) and +60 h (AP); with `lose_pa` the first PA file is not written."""
        import cv2

        subject = p.subject_id
        for offset_h, views in ((5, ("PA", "LATERAL")), (60, ("AP",))):
            self.cxr_study += 1 + int(self.rng.integers(0, 9))
            t = adm["admittime"] + timedelta(hours=offset_h)
            for v, view in enumerate(views):
                dicom_id = f"{self.rng.integers(0, 2**32):08x}-{self.rng.integers(0, 2**32):08x}-{v}"
                rel = f"files/p{str(subject)[:2]}/p{subject}/s{self.cxr_study}/{dicom_id}"
                crop = self.camera[8 * (a % 8): 8 * (a % 8) + 448, 8 * v: 8 * v + 384]
                path = self.root / "cxr" / (rel + ".jpg")
                path.parent.mkdir(parents=True, exist_ok=True)
                if lose_pa and (offset_h, view) == (5, "PA"):
                    self.missing_cxr = adm["hadm_id"]
                else:
                    pixels = cv2.resize(crop, (48, 56), interpolation=cv2.INTER_AREA)
                    path.write_bytes(_jpeg_with_comment(pixels, f"{p.name} MRN {p.mrn} DOB {p.dob}"))
                self.rows["cxr-record-list"].append([subject, self.cxr_study, dicom_id, rel + ".dcm"])
                self.rows["cxr-metadata"].append([dicom_id, subject, self.cxr_study, "CHEST (PA AND LAT)", view, 56, 48, t.strftime("%Y%m%d"),
                                                  f"{int(t.strftime('%H%M%S'))}.{t.microsecond // 1000:03d}", "CHEST (PA AND LAT)", view, "Erect"])

    def ecgs(self, p: Patient, adm: dict[str, Any]) -> None:
        """ECGs at +1 h and +50 h, each with its own ADC gain and identifiers in its header comments."""
        subject = p.subject_id
        for offset_h in (1, 50):
            self.ecg_study += 1 + int(self.rng.integers(0, 9))
            t = adm["admittime"] + timedelta(hours=offset_h)
            rel = f"files/p{str(subject)[:4]}/p{subject}/s{self.ecg_study}/{self.ecg_study}"
            self.ecg_writer.write(self.root / "ecg" / rel.rsplit("/", 1)[0], str(self.ecg_study), t, 150.0 + len(self.rows["ecg"]),
                                  [f"Name: {p.name}", f"MRN: {p.mrn}", f"Phone: {p.phone}"])
            self.rows["ecg"].append([subject, self.ecg_study, self.ecg_study, _time(t), rel])

    def admission(self, p: Patient, i: int, a: int, after: datetime) -> dict[str, Any]:
        self.hadm += 1 + int(self.rng.integers(0, 50))
        admit = after + timedelta(days=int(self.rng.integers(20, 120)), minutes=int(self.rng.integers(0, 600)))
        stay = timedelta(hours=30 if (i + a) % 4 == 3 else int(self.rng.integers(60, 144)))
        at_boundary = (i, a) == (1, 1)
        if at_boundary:
            # 08:00 + 54 h: the discharge summary's midnight charttime (40 h) falls before the 48 h index
            admit, stay = admit.replace(hour=8, minute=0), timedelta(hours=54)
        n_codes = 0 if i == 4 else 1 + (i + a) % 3  # subject 4's stays have no coded diagnosis: icd_chapter masked
        icd = [ICD_CODES[int(k)] for k in self.rng.choice(len(ICD_CODES), size=n_codes, replace=False)]
        adm = {"hadm_id": self.hadm, "admittime": admit, "dischtime": admit + stay, "died": False,
               "icd": icd, "admission_type": ADMISSION_TYPES[(i + a) % len(ADMISSION_TYPES)]}
        self.rows["diagnoses_icd"] += [[p.subject_id, self.hadm, seq, code, version] for seq, (code, version) in enumerate(icd, 1)]
        self.labs(p, adm, skip=(51237, 50813, 50971, 51301) if at_boundary else (51237,))  # INR only at the boundary
        if at_boundary:
            self.boundary_labs(p, adm)
        self.notes(p, adm)
        self.cxr_studies(p, adm, a, lose_pa=(i, a) == (2, 0))
        self.ecgs(p, adm)
        return adm

    def write(self, patients: list[Patient], broken: list[Any]) -> None:
        root, hosp = self.root, self.root / "hosp"
        _write_csv_gz(hosp / "patients.csv.gz",
                      ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod", "name", "mrn", "dob", "phone", "address"],
                      [[p.subject_id, p.gender, p.anchor_age, p.anchor_year, "2017 - 2019",
                        next((_time(a["dischtime"])[:10] for a in p.admissions if a["died"]), None), p.name, p.mrn, p.dob, p.phone, p.address]
                       for p in patients])
        _write_csv_gz(hosp / "admissions.csv.gz",
                      ["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type", "admit_provider_id", "admission_location",
                       "discharge_location", "insurance", "language", "marital_status", "race", "edregtime", "edouttime", "hospital_expire_flag"],
                      [[p.subject_id, a["hadm_id"], _time(a["admittime"]), _time(a["dischtime"]), _time(a["dischtime"]) if a["died"] else None,
                        a["admission_type"], "P00XYZ", "EMERGENCY ROOM", "DIED" if a["died"] else "HOME", "Medicare", "ENGLISH", "MARRIED", "WHITE",
                        _time(a["admittime"] - timedelta(hours=3)), _time(a["admittime"]), int(a["died"])]
                       for p in patients for a in p.admissions] + [broken])
        _write_csv_gz(hosp / "labevents.csv.gz",
                      ["labevent_id", "subject_id", "hadm_id", "specimen_id", "itemid", "order_provider_id", "charttime", "storetime", "value",
                       "valuenum", "valueuom", "ref_range_lower", "ref_range_upper", "flag", "priority", "comments"], self.rows["labevents"])
        _write_csv_gz(hosp / "d_labitems.csv.gz", ["itemid", "label", "fluid", "category"], [[k, v[0], v[1], v[2]] for k, v in LAB_ITEMS.items()])
        _write_csv_gz(hosp / "diagnoses_icd.csv.gz", ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"], self.rows["diagnoses_icd"])
        note_header = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
        _write_csv_gz(root / "note" / "discharge.csv.gz", note_header, self.rows["discharge"])
        _write_csv_gz(root / "note" / "radiology.csv.gz", note_header, self.rows["radiology"])
        _write_csv_gz(root / "cxr" / "cxr-record-list.csv.gz", ["subject_id", "study_id", "dicom_id", "path"], self.rows["cxr-record-list"])
        _write_csv_gz(root / "cxr" / "mimic-cxr-2.0.0-metadata.csv.gz",
                      ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns", "StudyDate",
                       "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"],
                      self.rows["cxr-metadata"])
        _write_csv_gz(root / "ecg" / "record_list.csv", ["subject_id", "study_id", "file_name", "ecg_time", "path"], self.rows["ecg"])


def write_mimic_iv_corpus(root: str | os.PathLike, *, seed: int = 0) -> dict[str, Any]:
    """Write the corpus under `root` (see the module docstring).

    Admissions last 30 h to 6 days; those shorter than 48 h exist on purpose (a 48 h index time
    excludes them). Each admission gets labs before, inside and after its window, a radiology
    note and a CXR study some hours after admission (and one after 48 h), an ECG an hour after
    admission (and one after 48 h), and a discharge note stored after discharge whose charttime
    is the discharge day's midnight (MIMIC-IV-Note's habit), which a 48 h index must still exclude.

    Returns:
        `patients` (Patient list with admissions: hadm_id, admittime, dischtime, died, icd),
        `boundary` {"hadm_id", items: {itemid: expected last value or None}} for the admission
        carrying the window-edge events, `identifiers` (planted_identifiers()) and `quarantined`
        {hadm_id: start of the reason}: one admission whose CXR file is missing, one admission row
        without a discharge time.
    """
    corpus = _Corpus(Path(root), seed)
    patients: list[Patient] = []
    for i, n_adm in enumerate(ADMISSIONS_PER_SUBJECT):
        anchor_year = 2110 + 7 * i
        p = Patient(
            subject_id=10000001 + i * 1117, name=f"{FIRST_NAMES[i]} {LAST_NAMES[i]}", mrn=f"{4829301 + 7919 * i}",
            dob=f"{anchor_year - 60 - i}-{1 + i % 12:02d}-{10 + i:02d}", phone=f"(617) 555-{101 + i:04d}",
            address=f"{12 + 3 * i} {STREETS[i % len(STREETS)]}, Quincy, MA 021{70 + i}",
            gender="F" if i % 2 == 0 else "M", anchor_age=60 + i, anchor_year=anchor_year,
        )
        after = datetime(anchor_year, 1 + i % 12, 3, 8, 15, 0)
        for a in range(n_adm):
            p.admissions.append(corpus.admission(p, i, a, after))
            after = p.admissions[-1]["dischtime"]
        p.admissions[-1]["died"] = i in (1, 5)  # the last stays of subjects 1 and 5 end in death
        patients.append(p)
    broken_hadm = corpus.hadm + 1  # an admission row with no discharge time: quarantined
    broken = [patients[3].subject_id, broken_hadm, _time(patients[3].admissions[-1]["dischtime"] + timedelta(days=40)), None, None,
              "URGENT", "P00XYZ", "EMERGENCY ROOM", None, "Medicare", "ENGLISH", "SINGLE", "WHITE", None, None, 0]
    corpus.write(patients, broken)
    return {"patients": patients, "boundary": corpus.boundary, "identifiers": planted_identifiers(patients),
            "quarantined": {corpus.missing_cxr: "image file listed in the label sheet is missing", broken_hadm: "admittime/dischtime missing"}}
