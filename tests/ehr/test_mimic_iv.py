"""mimic-iv source: admissions -> multimodal samples, pre-index windows, subject splits, no identifiers out."""

import csv
import gzip
import re
import tarfile
from collections import defaultdict
from datetime import timedelta

import cv2
import numpy as np
import pytest
import wfdb

from climb.schemas.task_defs.ehr import ICD_CHAPTERS, icd_chapter
from climb.transforms.image import resize_pad
from climb.transforms.signal import ECG_LEADS
from tests.helpers import convert_demo

INDEX = timedelta(hours=48)


def admissions(corpus):
    return {a["hadm_id"]: (p, a) for p in corpus["patients"] for a in p.admissions}


def test_counts_are_exact(mimic_corpus, mimic_converted):
    _, corpus = mimic_corpus
    manifest, _, samples = mimic_converted
    adms = admissions(corpus)
    short = {h for h, (_, a) in adms.items() if a["dischtime"] - a["admittime"] < INDEX}
    quarantined = set(corpus["quarantined"])
    assert not short & quarantined
    c = manifest["counts"]
    assert c["discovered"] == len(adms) + 1  # + the admission row without a discharge time
    assert c["excluded"] == len(short) == 8
    assert c["quarantined"] == 2
    assert c["written"] == len(samples) == len(adms) - len(short) - 1 == 19


def test_no_subject_is_in_two_splits_and_many_admissions_stay_together(mimic_corpus, mimic_converted, key_of):
    _, corpus = mimic_corpus
    _, _, samples = mimic_converted
    splits_of = defaultdict(set)
    for s in samples.values():
        splits_of[s["meta"]["subject_id"]].add(s["split"])
    assert all(len(v) == 1 for v in splits_of.values())
    assert len({s["split"] for s in samples.values()}) == 3
    busiest = max(corpus["patients"], key=lambda p: len(p.admissions))
    written = [samples[key_of(a["hadm_id"])] for a in busiest.admissions if key_of(a["hadm_id"]) in samples]
    assert len(written) >= 4 and len({s["split"] for s in written}) == 1
    assert len({s["meta"]["subject_id"] for s in written}) == 1


def test_lab_window_edges_one_second_outside_are_excluded(mimic_corpus, mimic_converted, key_of):
    _, corpus = mimic_corpus
    _, _, samples = mimic_converted
    boundary = corpus["boundary"]
    tabular = samples[key_of(boundary["hadm_id"])]["tabular"]
    # lactate only at start - 1 s; INR only at start; potassium at index and index + 1 s; no WBC
    assert {f"lab_{k}": tabular[f"lab_{k}"] for k in boundary["items"]} == {f"lab_{k}": v for k, v in boundary["items"].items()}


def test_a_discharge_note_charted_at_midnight_but_signed_after_the_index_is_left_out(mimic_corpus, mimic_converted, key_of):
    _, corpus = mimic_corpus
    _, _, samples = mimic_converted
    _, adm = admissions(corpus)[corpus["boundary"]["hadm_id"]]
    midnight = adm["dischtime"].replace(hour=0, minute=0)
    assert adm["admittime"] < midnight < adm["admittime"] + INDEX < adm["dischtime"]
    meta = samples[key_of(adm["hadm_id"])]["meta"]
    assert [n["type"] for n in meta["text"]["notes"]] == ["RR"]
    assert all(n["type"] == "RR" for s in samples.values() if s["meta"]["text"] for n in s["meta"]["text"]["notes"])


def _table(path):
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as f:
        return list(csv.DictReader(f))


def test_linked_cxr_and_ecg_are_the_ones_taken_before_the_index(mimic_corpus, mimic_converted, key_of):
    root, corpus = mimic_corpus
    _, _, samples = mimic_converted
    ecgs = _table(root / "ecg/record_list.csv")
    checked = 0
    for hadm, (patient, adm) in admissions(corpus).items():
        sample = samples.get(key_of(hadm))
        if sample is None:
            continue
        meta = sample["meta"]
        # CXR studies at +5 h (PA + lateral) and +60 h; ECGs at +1 h and +50 h: only the first of each is before 48 h
        assert (meta["image"]["hours_from_admission"], meta["image"]["view"]) == (5.0, "PA")
        assert meta["signal"]["hours_from_admission"] == 1.0
        taken = (adm["admittime"] + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
        (row,) = [r for r in ecgs if r["subject_id"] == str(patient.subject_id) and r["ecg_time"] == taken]
        record = wfdb.rdrecord(str(root / "ecg" / row["path"]))
        order = [record.sig_name.index(lead) for lead in ECG_LEADS]
        np.testing.assert_array_equal(sample["signal"], record.p_signal.T[order].astype(np.float32))
        assert meta["signal"]["channels"] == list(ECG_LEADS) and meta["signal"]["sampling_rate"] == 500
        checked += 1
    assert checked == 19


def test_the_cxr_pixels_are_the_pa_jpg_resized(mimic_corpus, mimic_converted, key_of):
    root, corpus = mimic_corpus
    _, _, samples = mimic_converted
    hadm = corpus["boundary"]["hadm_id"]
    patient, adm = admissions(corpus)[hadm]
    rows = [r for r in _table(root / "cxr/mimic-cxr-2.0.0-metadata.csv.gz") if r["subject_id"] == str(patient.subject_id) and r["ViewPosition"] == "PA"]
    taken = adm["admittime"] + timedelta(hours=5)
    (row,) = [r for r in rows if r["StudyDate"] == taken.strftime("%Y%m%d") and r["StudyTime"].startswith(str(int(taken.strftime("%H%M%S"))))]
    jpg = next((root / "cxr").glob(f"files/*/p{patient.subject_id}/s{row['study_id']}/{row['dicom_id']}.jpg"))
    expected, _ = resize_pad(cv2.imread(str(jpg), cv2.IMREAD_GRAYSCALE), 224)
    np.testing.assert_array_equal(samples[key_of(hadm)]["image"], expected)


def test_labels_are_this_admissions_own(mimic_corpus, mimic_converted, key_of):
    _, corpus = mimic_corpus
    _, _, samples = mimic_converted
    died = 0
    for hadm, (_, adm) in admissions(corpus).items():
        sample = samples.get(key_of(hadm))
        if sample is None:
            continue
        labels = sample["meta"]["labels"]
        assert labels["in_hospital_mortality"] == int(adm["died"])
        died += adm["died"]
        assert labels["length_of_stay"] == pytest.approx((adm["dischtime"] - adm["admittime"]).total_seconds() / 86400)
        chapters = {icd_chapter(code, version) for code, version in adm["icd"]}
        expected = [int(c in chapters) for c in ICD_CHAPTERS] if chapters else [None] * len(ICD_CHAPTERS)
        assert labels["icd_chapter"] == expected
    assert died == 2


def test_every_sample_says_which_modalities_it_has(mimic_converted):
    _, _, samples = mimic_converted
    for s in samples.values():
        assert s["meta"]["present"] == {m: m in s for m in ("tabular", "image", "signal", "text")}
        assert s["meta"]["present"]["tabular"]


def test_quarantine_names_the_reason(mimic_corpus, mimic_converted):
    _, corpus = mimic_corpus
    _, dataset, _ = mimic_converted
    messages = sorted(line for line in (dataset / "quarantine.jsonl").read_text().splitlines())
    assert len(messages) == 2
    for reason in corpus["quarantined"].values():
        assert sum(reason in m for m in messages) == 1


def _output_files(dataset):
    return [p for p in sorted(dataset.rglob("*")) if p.is_file()]


@pytest.mark.parametrize("conversion", ["mimic_converted", "mimic_retrospective", "mimic_per_study"])
def test_no_planted_identifier_or_absolute_date_reaches_any_output_file(mimic_corpus, conversion, request):
    _, corpus = mimic_corpus
    _, dataset, _ = request.getfixturevalue(conversion)
    files = _output_files(dataset)
    assert {p.name for p in files} >= {"manifest.json", "quarantine.jsonl", "croissant.json"}
    needles = sorted({i.lower().encode() for i in corpus["identifiers"]})
    # MIMIC's shifted years are 2100-2299: ISO, US and DICOM (YYYYMMDD) forms
    dates = re.compile(rb"\b2[12]\d\d-\d\d-\d\d\b|\b\d\d/\d\d/2[12]\d\d\b|\b2[12]\d\d[01]\d[0-3]\d\b")
    for path in files:
        data = path.read_bytes().lower()
        leaked = [n.decode() for n in needles if n in data]
        assert not leaked, f"{path.name} holds planted identifiers {leaked}"
        if path.suffix in (".json", ".jsonl", ".idx"):
            assert not dates.search(data), f"{path.name} holds an absolute date"
    for path in (p for p in files if p.suffix == ".tar"):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name.endswith((".json", ".txt")):
                    text = tar.extractfile(member).read()
                    assert not dates.search(text), f"{member.name} holds an absolute date"


def test_raw_subject_and_admission_ids_stay_out_of_shards_and_manifest(mimic_corpus, mimic_converted):
    _, corpus = mimic_corpus
    _, dataset, _ = mimic_converted
    raw_ids = {str(p.subject_id).encode() for p in corpus["patients"]} | {str(h).encode() for h in admissions(corpus)}
    for path in _output_files(dataset):
        if path.name == "quarantine.jsonl":
            continue  # names the raw file or row a human must look at
        data = path.read_bytes()
        assert not [i for i in raw_ids if i in data], path.name


def test_retrospective_mode_keeps_every_complete_stay_and_its_cleaned_discharge_summary(mimic_corpus, mimic_retrospective, key_of):
    _, corpus = mimic_corpus
    manifest, _, samples = mimic_retrospective
    c = manifest["counts"]
    assert c["excluded"] == 0 and c["discovered"] == len(admissions(corpus)) + 1
    assert c["written"] + c["quarantined"] == c["discovered"] == len(samples) + c["quarantined"]
    for s in samples.values():
        assert "DS" in [n["type"] for n in s["meta"]["text"]["notes"]]
        text = s["text"]
        assert "Brief Hospital Course: diuresed" in text and "___" not in text


def test_per_study_samples_use_only_what_preceded_each_study(mimic_corpus, mimic_per_study):
    _, corpus = mimic_corpus
    manifest, _, samples = mimic_per_study
    adms = admissions(corpus)
    # every stay has studies at +5 h and +60 h; a +60 h study after a shorter stay is outside it
    outside = sum(1 for _, a in adms.values() if a["dischtime"] < a["admittime"] + timedelta(hours=60))
    c = manifest["counts"]
    assert (c["discovered"], c["excluded"], c["quarantined"]) == (2 * len(adms) + 1, outside, 2)
    assert c["written"] == len(samples) == 2 * len(adms) - outside - 1
    for s in samples.values():
        meta = s["meta"]
        taken = meta["image"]["hours_from_admission"]
        assert taken == meta["tabular"]["window"]["index_hours"] in (5.0, 60.0)
        assert meta["signal"]["hours_from_admission"] == {5.0: 1.0, 60.0: 50.0}[taken]
        # the study's own report is signed 2 h after it; the summary after discharge (no text: null metadata)
        assert meta["text"] is None and "text" not in meta["modalities"]
    splits_of = defaultdict(set)
    for s in samples.values():
        splits_of[s["meta"]["subject_id"]].add(s["split"])
    assert all(len(v) == 1 for v in splits_of.values())



def test_a_second_conversion_is_byte_identical(mimic_corpus, mimic_converted, tmp_path):
    root, _ = mimic_corpus
    first, dataset, _ = mimic_converted
    options = {**first["config"]["options"], "split_fractions": first["config"]["split_fractions"]}
    again = convert_demo("mimic-iv", root, tmp_path, options=options)
    assert [(s["path"], s["sha256"]) for s in again["shards"]] == [(s["path"], s["sha256"]) for s in first["shards"]]
    assert (tmp_path / "mimic-iv" / "quarantine.jsonl").read_bytes() == (dataset / "quarantine.jsonl").read_bytes()
