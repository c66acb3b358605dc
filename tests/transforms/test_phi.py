"""Pseudonymization is stable and keyed; DICOM metadata keeps only allow-listed tags."""

from __future__ import annotations

import hashlib
import json

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from climb.transforms.phi import (
    DEMO_KEY,
    DICOM_ALLOWED_TAGS,
    KEY_ENV,
    MissingKeyError,
    dicom_allowed_tags,
    key_id,
    load_key,
    pseudonymize,
)

KEY = b"0123456789abcdef-site-key-for-tests"
OTHER_KEY = b"fedcba9876543210-another-site-key"
# Realistic identifiers; each holds characters that are not hex digits, so it cannot appear in a hex hash by chance.
IDS = ["MRN-0012345", "patient_00042", "CheXpert/patient64541", "Ppid 1CT1", "ØRHUS-77"]


def test_same_id_and_key_give_the_same_pseudonym():
    assert pseudonymize("MRN-0012345", KEY) == pseudonymize("MRN-0012345", KEY)


def test_pseudonym_is_24_hex_characters_by_default():
    out = pseudonymize("MRN-0012345", KEY)
    assert len(out) == 24
    int(out, 16)


def test_different_key_gives_a_different_pseudonym():
    assert all(pseudonymize(i, KEY) != pseudonymize(i, OTHER_KEY) for i in IDS)


@pytest.mark.parametrize("original", IDS)
def test_original_id_does_not_appear_in_the_output(original):
    out = pseudonymize(original, KEY)
    assert original not in out
    assert original.lower() not in out


def test_original_id_cannot_be_recovered_by_hashing_candidates_without_the_key():
    """An attacker who enumerates MRNs and hashes them (plain or with a guessed key) finds no match."""
    target = pseudonymize("MRN-0012345", KEY)
    candidates = [f"MRN-{n:07d}" for n in range(12_000, 12_500)]
    assert "MRN-0012345" in candidates
    guesses = set()
    for c in candidates:
        guesses.add(hashlib.sha256(c.encode()).hexdigest()[:24])
        guesses.add(hashlib.sha256(f"subject\x1f{c}".encode()).hexdigest()[:24])
        guesses.add(pseudonymize(c, DEMO_KEY))
        guesses.add(pseudonymize(c, OTHER_KEY))
    assert target not in guesses


def test_namespaces_are_separate():
    assert pseudonymize("12345", KEY, namespace="subject") != pseudonymize("12345", KEY, namespace="study")


@settings(max_examples=200, deadline=None)
@given(a=st.text(min_size=1, max_size=30), b=st.text(min_size=1, max_size=30))
def test_distinct_ids_get_distinct_pseudonyms(a, b):
    if a != b:
        assert pseudonymize(a, KEY) != pseudonymize(b, KEY)


def test_empty_id_is_refused():
    with pytest.raises(ValueError, match="empty study id"):
        pseudonymize("", KEY, namespace="study")


def test_key_id_is_a_short_fingerprint_that_does_not_reveal_the_key():
    fingerprint = key_id(KEY)
    assert len(fingerprint) == 16
    assert fingerprint != key_id(OTHER_KEY)
    assert KEY.decode() not in fingerprint


def test_missing_key_is_an_error_that_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(MissingKeyError) as info:
        load_key()
    message = str(info.value)
    assert KEY_ENV in message
    assert "--hmac-key-file" in message


def test_demo_key_is_used_only_when_allowed(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert load_key(allow_demo=True) == DEMO_KEY
    with pytest.raises(MissingKeyError):
        load_key(allow_demo=False)


def test_demo_key_is_labelled_as_not_for_patient_data():
    assert b"NOT-FOR-REAL-PATIENT-DATA" in DEMO_KEY


def test_key_from_environment_wins_over_the_demo_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    assert load_key(allow_demo=True) == KEY


def test_key_file_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    key_file = tmp_path / "climb.key"
    key_file.write_bytes(OTHER_KEY + b"\n")
    assert load_key(str(key_file)) == OTHER_KEY


@pytest.mark.parametrize("where", ["env", "file"])
def test_short_keys_are_refused(monkeypatch, tmp_path, where):
    monkeypatch.delenv(KEY_ENV, raising=False)
    if where == "env":
        monkeypatch.setenv(KEY_ENV, "short")
        call = lambda: load_key()  # noqa: E731
    else:
        (tmp_path / "k").write_text("short\n")
        call = lambda: load_key(str(tmp_path / "k"))  # noqa: E731
    with pytest.raises(MissingKeyError, match="shorter than 16"):
        call()


@pytest.fixture(scope="module")
def ct_small() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def test_dicom_allow_list_keeps_only_allowed_tags(ct_small):
    kept = dicom_allowed_tags(ct_small)
    assert kept
    assert set(kept) <= set(DICOM_ALLOWED_TAGS)


def test_dicom_allow_list_keeps_what_decoding_and_geometry_need(ct_small):
    kept = dicom_allowed_tags(ct_small)
    assert kept["Modality"] == "CT"
    assert (kept["Rows"], kept["Columns"]) == (128, 128)
    assert kept["PixelSpacing"] == [pytest.approx(0.661468)] * 2
    assert kept["RescaleIntercept"] == -1024.0
    assert kept["TransferSyntaxUID"] == str(ct_small.file_meta.TransferSyntaxUID)


def test_dicom_allow_list_drops_names_ids_dates_and_uids(ct_small):
    assert ct_small.PatientName and ct_small.PatientID and ct_small.StudyDate  # the file does carry PHI
    kept = dicom_allowed_tags(ct_small)
    for tag in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "SeriesDate", "StudyInstanceUID",
                "SOPInstanceUID", "AccessionNumber", "InstitutionName", "ReferringPhysicianName"):
        assert tag not in kept
    text = json.dumps(kept)
    for value in (str(ct_small.PatientName), ct_small.PatientID, ct_small.StudyDate, ct_small.StudyInstanceUID):
        assert value not in text


def test_dicom_allow_list_output_is_plain_json(ct_small):
    kept = dicom_allowed_tags(ct_small)
    assert json.loads(json.dumps(kept, allow_nan=False)) == kept


def _testdata_datasets() -> list:
    """Every DICOM file shipped with pydicom that it can parse: explicit and implicit VR, big endian,
    deferred-free and odd files (empty number tags, UN elements, empty character set, bad VRs)."""
    import warnings
    from pathlib import Path

    from pydicom.data import data_manager

    roots = [Path(data_manager.DATA_ROOT) / "test_files"]
    roots += [Path(store.data_path) for store in data_manager.external_data_sources().values()]
    paths = sorted(str(p) for root in roots for p in root.rglob("*.dcm"))
    datasets = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            try:
                datasets.append((path.rsplit("/", 1)[-1], pydicom.dcmread(path, force=True)))
            except Exception:  # noqa: BLE001 - truncated/corrupt test files are not this test's subject
                continue
    return datasets


def test_dicom_allow_list_values_are_what_pydicom_element_access_gives():
    import warnings

    from climb.transforms.phi import _is_plain, _jsonable

    datasets = _testdata_datasets()
    assert len(datasets) > 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, ds in datasets:
            reference = pydicom.dcmread(ds.filename, force=True)
            expected = {}
            for keyword in (k for k in DICOM_ALLOWED_TAGS if k != "TransferSyntaxUID"):  # that one is file meta
                value = reference[keyword].value if keyword in reference else None
                if value is not None and value != "" and _is_plain(value):
                    expected[keyword] = _jsonable(value)
            syntax = reference.file_meta.get("TransferSyntaxUID") if hasattr(reference, "file_meta") else None
            if syntax:
                expected["TransferSyntaxUID"] = str(syntax)
            kept = dicom_allowed_tags(ds)
            assert json.dumps(kept, sort_keys=True) == json.dumps(expected, sort_keys=True), name  # values and JSON types
            assert list(kept) == [k for k in DICOM_ALLOWED_TAGS if k in kept], name


def test_an_allow_listed_keyword_holding_a_sequence_or_bytes_is_dropped(tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    nested = Dataset()
    nested.PatientName = "Doe^Jane"
    nested.PatientID = "MRN-0042"
    ds.add_new("BodyPartExamined", "SQ", Sequence([nested]))
    ds.add_new("Manufacturer", "OB", b"MRN-0042 Doe^Jane")
    ds.save_as(tmp_path / "odd.dcm")
    kept = dicom_allowed_tags(pydicom.dcmread(tmp_path / "odd.dcm"))
    assert "BodyPartExamined" not in kept and "Manufacturer" not in kept
    assert kept["Modality"] == "CT"
    text = json.dumps(kept)
    assert "Doe" not in text and "MRN-0042" not in text
