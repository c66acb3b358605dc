"""The ptbxl source: PTB-XL's WFDB trees and label sheet through the conversion engine."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import wfdb

from climb.corpora.ecg import PTBXL_RECORDS, real_ecg
from climb.pipelines.sources import ptbxl
from climb.schemas.manifest import validate_manifest
from climb.transforms.signal import ECG_LEADS
from tests.helpers import read_samples, without_file_names

from .conftest import quarantine, sample_key

# Hand-checked: scp_codes -> (ecg_superclass NORM/MI/STTC/CD/HYP, ecg_harmonized
# normal/cd/mi/sttc/other/afib/hyp). SR and the other sinus rhythms count as normal (CLIMB's lists);
# form and rhythm statements have no superclass; INJIN is diagnostic (MI) but in no CLIMB list.
M = [None] * 5
EXPECTED_LABELS = {
    1: ([1, 0, 0, 0, 0], [1, 0, 0, 0, 1, 0, 0]),   # NORM, LVOLT (other), SR
    2: ([1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]),   # NORM, SBRAD
    3: ([0, 1, 0, 0, 0], [1, 0, 1, 0, 1, 0, 0]),   # IMI, ABQRS (other), SR
    4: ([0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 0, 0]),   # LAFB, IRBBB, SR
    5: ([0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 1]),   # AFIB (rhythm), LVH
    6: ([0, 0, 1, 0, 0], [1, 0, 0, 1, 0, 0, 0]),   # ISC_, STACH
    7: ([0, 1, 0, 0, 0], [None] * 7),              # INJIN only
    8: ([0, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0, 0]),   # NDT, PVC (other), SR
    9: ([0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0]),   # CLBBB
    10: (M, [0, 0, 0, 0, 1, 0, 0]),                # PACE only: no diagnostic statement
    11: ([0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 1]),  # RAO/RAE, SEHYP, SR
    12: ([0, 0, 0, 1, 0], [0, 1, 0, 1, 0, 0, 0]),  # WPW, STD_ (form -> sttc)
    13: ([0, 1, 1, 0, 0], [1, 0, 1, 1, 0, 0, 0]),  # ASMI, ISCAL, SARRH
    14: ([0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1, 0]),  # 3AVB, AFLT
}


@pytest.fixture(scope="module")
def shards(ptbxl_converted):
    return read_samples(ptbxl_converted[0])


def by_ecg_id(shards: dict) -> dict[int, dict]:
    return {ecg_id: shards[sample_key("ptbxl", str(ecg_id))] for ecg_id, *_ in PTBXL_RECORDS}


def test_counts_add_up_and_the_manifest_is_valid(ptbxl_corpus, ptbxl_converted):
    _, manifest = ptbxl_converted
    assert validate_manifest(manifest) == []
    assert manifest["counts"] == ptbxl_corpus[1]["counts"]


def test_every_bad_record_is_quarantined_with_its_reason(ptbxl_corpus, ptbxl_converted):
    entries = quarantine(ptbxl_converted[0], ptbxl_corpus[0])
    expected = ptbxl_corpus[1]["quarantined"]
    assert set(entries) == set(expected)
    for path, message in expected.items():
        assert entries[path]["stage"] == "read"
        # the corpus's expected reason, less the raw file names quarantine.jsonl never carries
        assert entries[path]["message"].startswith(without_file_names(message)), entries[path]["message"]


def test_signals_equal_wfdb_reads_in_standard_lead_order(ptbxl_corpus, shards):
    """Documented transform at 500 Hz: wfdb physical values (mV), leads reordered, cast to float32.

    Max abs error: float32 rounding only (measured 5.9e-8 mV on these records).
    """
    root = ptbxl_corpus[0]
    worst = 0.0
    for ecg_id, sample in by_ecg_id(shards).items():
        record = wfdb.rdrecord(str(root / f"records500/00000/{ecg_id:05d}_hr"))
        header_leads = [n.upper() for n in record.sig_name]  # PTB-XL spells AVR, AVL, AVF
        expected = record.p_signal.T[[header_leads.index(n.upper()) for n in ECG_LEADS]]
        assert sample["signal"].dtype == np.float32 and sample["signal"].shape == (12, 5000)
        worst = max(worst, float(np.abs(sample["signal"] - expected).max()))
        meta = sample["meta"]["signal"]
        assert meta["channels"] == list(ECG_LEADS) and meta["units"] == "mV" and meta["sampling_rate"] == 500
    assert worst < 2e-6


def test_the_real_pydicom_ecg_survives_wfdb_and_conversion(shards):
    """Record 1 is waveform_ecg.dcm at 500 Hz; WFDB's 1 uV quantization is the only change (<= 0.5 uV)."""
    signal = by_ecg_id(shards)[1]["signal"]
    assert np.abs(signal - real_ecg(500)).max() <= 0.0005 + 1e-6


def test_labels_match_the_hand_checked_scp_codes(shards):
    for ecg_id, sample in by_ecg_id(shards).items():
        superclass, harmonized = EXPECTED_LABELS[ecg_id]
        assert sample["meta"]["labels"] == {"ecg_superclass": superclass, "ecg_harmonized": harmonized}, ecg_id


def test_unmapped_codes_are_kept_and_masked(shards):
    sample = by_ecg_id(shards)[7]
    assert sample["meta"]["unmapped_codes"]["ecg_harmonized"] == ["INJIN"]
    assert sample["meta"]["label_mask"]["ecg_harmonized"] == [False] * 7
    assert sample["meta"]["label_mask"]["ecg_superclass"] == [True] * 5


def test_strat_folds_give_the_split_and_patients_never_span_two(shards):
    records = by_ecg_id(shards)
    splits_of_subject: dict[str, set] = {}
    for ecg_id, _, fold, _ in PTBXL_RECORDS:
        sample = records[ecg_id]
        assert sample["split"] == ("train" if fold <= 8 else "val" if fold == 9 else "test")
        splits_of_subject.setdefault(sample["meta"]["subject_id"], set()).add(sample["split"])
    assert all(len(s) == 1 for s in splits_of_subject.values())
    assert len(splits_of_subject) == len({p for _, p, _, _ in PTBXL_RECORDS})


def test_no_report_date_or_original_id_reaches_the_shards(ptbxl_converted, shards):
    blobs = b"".join(b for s in shards.values() for b in s["raw"].values())
    for needle in (b"patient name", b"1984-11", b"15709", b"00001_hr", b"CS-12"):
        assert needle not in blobs
    assert b"records500" not in (ptbxl_converted[0] / "manifest.json").read_bytes()


def test_the_100_hz_tree_is_read_when_asked(ptbxl_corpus):
    root = ptbxl_corpus[0]
    record = next(r for r in ptbxl.discover(str(root), {"sampling_rate": "100"}) if r.sample_id == "3")
    sample = ptbxl.read(record, {"sampling_rate": "100"})
    expected = wfdb.rdrecord(str(root / "records100/00000/00003_lr")).p_signal.T
    assert sample.arrays["signal"].shape == (12, 1000)
    assert np.abs(sample.arrays["signal"] - expected).max() < 2e-6
    assert sample.meta["signal"]["sampling_rate"] == 100


def test_a_nan_lead_is_masked_instead_of_quarantined_when_asked(ptbxl_corpus):
    record = next(r for r in ptbxl.discover(str(ptbxl_corpus[0]), {}) if r.sample_id == "105")
    sample = ptbxl.read(record, {"quality": "mask"})
    signal, meta = sample.arrays["signal"], sample.meta["signal"]
    assert meta["channel_mask"] == [1] * 8 + [0] + [1] * 3
    assert meta["masked_channels"] == {"V3": "all samples are NaN"}
    assert np.all(signal[8] == 0) and np.isfinite(signal).all()


def test_band_pass_and_notch_options_are_applied_and_recorded(ptbxl_corpus):
    record = next(r for r in ptbxl.discover(str(ptbxl_corpus[0]), {}) if r.sample_id == "2")
    plain = ptbxl.read(record, {}).arrays["signal"]
    sample = ptbxl.read(record, {"bandpass_hz": "0.5,45", "notch_hz": "50"})
    assert sample.meta["signal"]["bandpass_hz"] == [0.5, 45.0] and sample.meta["signal"]["notch_hz"] == 50.0
    # the synthetic record's 0.2 Hz baseline wander is gone: the lead means drop towards zero
    assert np.abs(sample.arrays["signal"].mean(axis=1)).max() < np.abs(plain.mean(axis=1)).max()


def test_a_scp_statements_sheet_that_disagrees_with_the_registry_is_refused(ptbxl_corpus, tmp_path):
    root = tmp_path / "ptbxl"
    shutil.copytree(ptbxl_corpus[0], root)
    path = root / "scp_statements.csv"
    path.write_text(path.read_text().replace("IMI,inferior myocardial infarction,1.0,,,MI", "IMI,inferior myocardial infarction,1.0,,,CD"))
    with pytest.raises(ValueError, match="disagrees"):
        list(ptbxl.discover(str(root), {}))


def test_a_scp_statements_sheet_listing_only_some_statements_that_agree_is_accepted(ptbxl_corpus, tmp_path):
    root = tmp_path / "ptbxl"
    shutil.copytree(ptbxl_corpus[0], root)
    path = root / "scp_statements.csv"
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *(row for row in rows if not row.startswith(("IMI,", "LVH,", "NDT,")))]) + "\n")
    assert {r.sample_id for r in ptbxl.discover(str(root), {})} == {r.sample_id for r in ptbxl.discover(str(ptbxl_corpus[0]), {})}


def test_a_diagnostic_statement_the_registry_lacks_is_a_disagreement(ptbxl_corpus, tmp_path):
    root = tmp_path / "ptbxl"
    shutil.copytree(ptbxl_corpus[0], root)
    with (root / "scp_statements.csv").open("a") as f:
        f.write("XMI,a statement climb does not know,1.0,,,MI,XMI\n")
    with pytest.raises(ValueError, match=r"1 statement\(s\) \(XMI: sheet MI, climb no class\)"):
        list(ptbxl.discover(str(root), {}))


def test_the_folder_above_the_dataset_lists_the_same_records(ptbxl_corpus, tmp_path):
    inner = tmp_path / "download" / "ptb-xl-1.0.3"
    shutil.copytree(ptbxl_corpus[0], inner)
    above = [(r.sample_id, r.paths) for r in ptbxl.discover(str(inner.parent), {})]
    assert above == [(r.sample_id, r.paths) for r in ptbxl.discover(str(inner), {})]
    assert len(above) == ptbxl_corpus[1]["counts"]["discovered"]
