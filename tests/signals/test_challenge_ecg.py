"""The challenge-ecg and chapman sources: PhysioNet Challenge .mat/.hea folders with SNOMED-CT #Dx labels."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from climb.corpora.ecg import CHALLENGE_RECORDS
from climb.pipelines.sources import challenge_ecg, chapman
from climb.schemas.manifest import validate_manifest
from tests.helpers import convert_demo, read_samples, without_file_names

from .conftest import quarantine, sample_key

# Hand-checked #Dx -> ecg_harmonized (normal, cd, mi, sttc, other, afib, hyp) and unmapped codes,
# each through its own database's dictionary (schemas/task_defs/ecg.py).
MASKED = [None] * 7
EXPECTED = {
    # Chapman: AF, RBBB ('nonspecific BBB': capitalisation fixed -> cd), T wave abnormal
    "WFDB_ChapmanShaoxing/JS00001": ([0, 1, 0, 1, 0, 1, 0], []),
    "WFDB_ChapmanShaoxing/JS00002": ([1, 0, 0, 1, 0, 0, 0], []),          # sinus bradycardia, TWA
    "WFDB_ChapmanShaoxing/JS00004": ([1, 0, 0, 0, 0, 0, 0], []),          # sinus rhythm (real ECG)
    "WFDB_ChapmanShaoxing/JS00005": (MASKED, ["251199005"]),              # CCW rotation: in no list
    "WFDB_ChapmanShaoxing/JS00006": ([0, 0, 0, 1, 0, 1, 0], ["67751000119106"]),  # AFL, ST depression, RAHV
    "WFDB_ChapmanShaoxing/JS00007": ([0, 1, 0, 0, 0, 0, 0], []),          # 251146004 is 'PRWP' (cd) in Chapman
    "WFDB_Ga/E00001": ([0, 0, 0, 0, 0, 1, 0], []),                        # AF: capitalisation fixed -> afib
    "WFDB_Ga/E00002": ([1, 0, 0, 0, 0, 0, 0], ["54329005"]),              # SR + anterior MI (in no list)
    "WFDB_Ga/E00003": ([0, 0, 0, 1, 1, 0, 0], []),                        # PVC (other), T inversion (sttc)
    "WFDB_Ga/E00004": ([1, 0, 0, 0, 0, 0, 0], []),                        # 'bradycardia' -> normal (fixed)
    "WFDB_CPSC2018/A0001": ([0, 1, 0, 0, 0, 0, 0], []),                   # LBBB -> cd (fixed)
    "WFDB_CPSC2018/A0002": ([0, 0, 0, 0, 0, 1, 0], []),                   # AF -> afib only (fixed)
    "WFDB_CPSC2018/A0003": ([0, 1, 0, 0, 0, 0, 0], []),                   # 'ventricular ectopics' -> cd
    "WFDB_PTBXL/HR00001": ([1, 0, 0, 0, 1, 0, 0], []),                    # LVOLT (other), SR
    "WFDB_PTBXL/HR00002": (MASKED, ["233917008"]),                        # '_AVB' is in no list
    "WFDB_StPetersburg/I0001": (MASKED, ["426783006"]),                   # INCART: no CLIMB map
}


@pytest.fixture(scope="module")
def shards(challenge_converted):
    return read_samples(challenge_converted[0])


def test_counts_add_up_and_bad_records_are_quarantined_with_reasons(challenge_corpus, challenge_converted):
    dataset, manifest = challenge_converted
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == challenge_corpus[1]["counts"]
    entries = quarantine(dataset, challenge_corpus[0])
    assert set(entries) == set(challenge_corpus[1]["quarantined"])
    for path, message in challenge_corpus[1]["quarantined"].items():
        # the corpus's expected reason, less the raw file names quarantine.jsonl never carries
        assert entries[path]["message"].startswith(without_file_names(message)), entries[path]["message"]


def test_labels_match_the_hand_checked_snomed_codes(shards):
    for rel, (label, unmapped) in EXPECTED.items():
        meta = shards[sample_key("challenge-ecg", rel)]["meta"]
        assert meta["labels"]["ecg_harmonized"] == label, rel
        assert meta["unmapped_codes"]["ecg_harmonized"] == unmapped, rel
        assert meta["label_mask"]["ecg_harmonized"] == [v is not None for v in label]


def test_signals_equal_wfdb_reads_after_resampling_to_500_hz_and_10_s(challenge_corpus, shards):
    """Documented transform: wfdb physical values (mV) -> resample_poly to 500 Hz -> first 10 s, zero-padded.

    Max abs error: float32 rounding only (measured 5.9e-8 mV), including the 257 Hz INCART record.
    """
    root = challenge_corpus[0]
    for folder, name, _, fs, seconds, _ in CHALLENGE_RECORDS:
        sample = shards[sample_key("challenge-ecg", f"{folder}/{name}")]
        x = wfdb.rdrecord(str(root / folder / name)).p_signal.T
        x = resample_poly(x, 500, fs, axis=1) if fs != 500 else x
        expected = np.zeros((12, 5000))
        expected[:, : min(5000, x.shape[1])] = x[:, :5000]
        assert sample["signal"].shape == (12, 5000)
        assert np.abs(sample["signal"] - expected).max() < 2e-6, name
        length = sample["meta"]["signal"]["length"]
        assert length["original_samples"] == round(seconds * 500)
        assert length["cropped_samples"] == max(0, round(seconds * 500) - 5000)
        assert length["padded_samples"] == max(0, 5000 - round(seconds * 500))


def test_age_and_sex_come_from_the_header_comments(shards):
    meta = shards[sample_key("challenge-ecg", "WFDB_Ga/E00001")]["meta"]
    assert (meta["age"], meta["sex"]) == (56, "female")
    assert meta["dx_codes"] == ["164889003"] and meta["dx_map"] == "georgia"


def test_parse_comments_tops_ages_at_90_and_tolerates_unknowns():
    assert challenge_ecg.parse_comments(["Age: 95", "Sex: M", "Dx: 1, 2"]) == {"dx": ["1", "2"], "age": 90, "sex": "male"}
    assert challenge_ecg.parse_comments(["Age: NaN", "Sex: Unknown"]) == {"dx": [], "age": None, "sex": None}


@pytest.mark.parametrize(
    "path, vocabulary",
    [("WFDB_Ga/E00001", "georgia"), ("training/chapman_shaoxing/g1/JS00001", "chapman"),
     ("training/ptb-xl/g1/HR00001", "ptbxl-challenge"), ("WFDB_CPSC2018/A0001", "cpsc"),
     ("training/ningbo/g1/JS10001", None), ("A0001", None)],
)
def test_the_snomed_map_follows_the_database_folder(path, vocabulary):
    assert challenge_ecg.folder_vocabulary(path) == vocabulary


def test_chapman_source_reads_its_folder_with_the_chapman_map(challenge_corpus, tmp_path):
    manifest = convert_demo("chapman", challenge_corpus[0] / "WFDB_ChapmanShaoxing", tmp_path)
    assert manifest["counts"] == {"discovered": 6, "written": 6, "quarantined": 0, "excluded": 0}
    shards = read_samples(tmp_path / "chapman")
    assert shards[sample_key("chapman", "JS00001")]["meta"]["labels"]["ecg_harmonized"] == [0, 1, 0, 1, 0, 1, 0]


def test_chapman_and_challenge_sources_give_a_record_the_same_subject(challenge_corpus):
    one = next(r for r in chapman.SOURCE.discover(str(challenge_corpus[0] / "WFDB_ChapmanShaoxing"), {}) if r.sample_id == "JS00001")
    two = next(r for r in challenge_ecg.SOURCE.discover(str(challenge_corpus[0]), {}) if r.sample_id.endswith("JS00001"))
    assert one.subject_id == two.subject_id == "chapman:JS00001"


def test_ptbxl_database_groups_the_challenge_copy_by_patient_and_fold(challenge_corpus, ptbxl_corpus):
    records = challenge_ecg.SOURCE.discover(str(challenge_corpus[0]), {"ptbxl_database": str(ptbxl_corpus[0] / "ptbxl_database.csv")})
    hr1 = next(r for r in records if r.sample_id == "WFDB_PTBXL/HR00001")
    assert (hr1.subject_id, hr1.official_split) == ("15709", "train")  # ecg_id 1: patient 15709, fold 3


def test_dx_map_option_forces_a_vocabulary(challenge_corpus):
    record = next(r for r in challenge_ecg.SOURCE.discover(str(challenge_corpus[0]), {"dx_map": "georgia"})
                  if r.sample_id == "WFDB_StPetersburg/I0001")
    sample = challenge_ecg.read(record, {})
    assert sample.labels["ecg_harmonized"] == [1, 0, 0, 0, 0, 0, 0]
